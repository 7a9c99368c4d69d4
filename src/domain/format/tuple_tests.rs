//! Edge cases of tuple parsing for each layout.
use super::*;

#[test]
fn nsg_v1_tuple() {
    let t = parse_tuple(Layout::NsgV1, "1542110377,10.5.16.4,13.67.143.118,59831,443,T,O,A", 3).unwrap();
    assert_eq!(t.time_ms, 1_542_110_377_000);
    assert_eq!((t.src_ip, t.dst_ip, t.src_port, t.dst_port), ("10.5.16.4", "13.67.143.118", 59831, 443));
    assert_eq!((t.protocol, t.direction, t.decision), (Protocol::TCP, Direction::Outbound, Decision::Allow));
    assert_eq!((t.state, t.encryption, t.counters, t.ordinal), (None, None, [None; 4], 3));
}

#[test]
fn nsg_v2_begin_tuple_has_empty_counters() {
    let t = parse_tuple(Layout::NsgV2, "1542110402,94.102.49.190,10.5.16.4,28746,443,U,I,D,B,,,,", 0).unwrap();
    assert_eq!(t.state, Some(FlowState::Begin));
    assert_eq!(t.decision, Decision::Deny);
    assert_eq!(t.protocol, Protocol::UDP);
    assert_eq!(t.counters, [None; 4]);
}

#[test]
fn nsg_v2_end_tuple_has_counters() {
    let t = parse_tuple(Layout::NsgV2, "1542110379,10.5.16.4,13.67.143.117,59932,443,T,O,A,E,1,66,1,66", 0).unwrap();
    assert_eq!(t.state, Some(FlowState::End));
    assert_eq!(t.counters, [Some(1), Some(66), Some(1), Some(66)]);
}

#[test]
fn vnet_tuple_milliseconds_and_encryption() {
    let t =
        parse_tuple(Layout::VnetV4, "1663146003606,10.0.0.6,192.0.2.180,23956,443,6,O,E,NX,3,767,2,1580", 0).unwrap();
    assert_eq!(t.time_ms, 1_663_146_003_606);
    assert_eq!(t.encryption, Some("NX"));
    assert_eq!(t.state, Some(FlowState::End));
    assert_eq!(t.decision, Decision::Allow);
    assert_eq!(t.counters, [Some(3), Some(767), Some(2), Some(1580)]);
}

#[test]
fn vnet_seconds_timestamp_is_detected() {
    let t = parse_tuple(Layout::VnetV4, "1663146003,10.0.0.6,192.0.2.180,1,2,17,I,B,X,0,0,0,0", 0).unwrap();
    assert_eq!(t.time_ms, 1_663_146_003_000);
}

#[test]
fn vnet_denied_state_means_deny() {
    let t = parse_tuple(Layout::VnetV4, "1663146003606,198.51.100.7,10.0.0.6,5000,22,6,I,D,NX,1,60,0,0", 0).unwrap();
    assert_eq!((t.state, t.decision), (Some(FlowState::Denied), Decision::Deny));
}

#[test]
fn every_encryption_value_is_accepted_and_others_are_not() {
    for enc in ENCRYPTION_VALUES {
        let text = format!("1663146003606,10.0.0.6,192.0.2.1,1,2,6,O,C,{enc},0,0,0,0");
        assert_eq!(parse_tuple(Layout::VnetV4, &text, 0).unwrap().encryption, Some(*enc));
    }
    // A status Azure adds later keeps its row, as written, and is flagged for counting.
    let new = "1663146003606,10.0.0.6,192.0.2.1,1,2,6,O,C,NX_NEW_REASON,0,0,0,0";
    let t = parse_tuple(Layout::VnetV4, new, 0).unwrap();
    assert_eq!((t.encryption, t.unknown_encryption), (Some("NX_NEW_REASON"), true));
    let known = parse_tuple(Layout::VnetV4, "1663146003606,10.0.0.6,192.0.2.1,1,2,6,O,C,X,0,0,0,0", 0).unwrap();
    assert!(!known.unknown_encryption);
    // What is not a plain token is still an error, not a new value.
    for bad in ["", "NX NEW", "NX-\u{e9}", "AVERYLONGVALUETHATNOSTATUSCOULDHAVEEVERHAD"] {
        let text = format!("1663146003606,10.0.0.6,192.0.2.1,1,2,6,O,C,{bad},0,0,0,0");
        assert_eq!(parse_tuple(Layout::VnetV4, &text, 0), Err(R::Encryption), "{bad:?}");
    }
    let t = parse_tuple(Layout::VnetV4, "1663146003606,10.0.0.6,192.0.2.1,1,2,6,O,Q,X,0,0,0,0", 0).unwrap();
    assert_eq!((t.state, t.flow_state(), t.decision), (Some(FlowState::Unknown), Some("Q"), Decision::Allow));
}

#[test]
fn unknown_and_icmp_protocol_numbers() {
    let t = parse_tuple(Layout::VnetV4, "1663146003606,10.0.0.6,192.0.2.1,0,0,1,O,C,X,1,84,1,84", 0).unwrap();
    assert_eq!(t.protocol.name(), "icmp");
    let t = parse_tuple(Layout::VnetV4, "1663146003606,10.0.0.6,192.0.2.1,0,0,254,O,C,X,1,84,1,84", 0).unwrap();
    assert_eq!((t.protocol.number, t.protocol.name()), (254, "254".to_string()));
    let bad = "1663146003606,10.0.0.6,192.0.2.1,0,0,256,O,C,X,1,84,1,84";
    assert_eq!(parse_tuple(Layout::VnetV4, bad, 0), Err(R::Protocol));
}

#[test]
fn ipv6_addresses() {
    let t = parse_tuple(Layout::VnetV4, "1663146003606,2001:db8::1,2001:db8:0:1::20,443,51000,6,I,C,X,5,500,4,400", 0)
        .unwrap();
    assert_eq!((t.src_ip, t.dst_ip), ("2001:db8::1", "2001:db8:0:1::20"));
}

#[test]
fn malformed_tuples_are_typed_errors() {
    let cases: &[(Layout, &str, R)] = &[
        (Layout::NsgV1, "1542110377,10.5.16.4,13.67.143.118,59831,443,T,O", R::FieldCount { expected: 8, found: 7 }),
        (Layout::NsgV2, "1542110377,10.5.16.4,13.67.143.118,59831,443,T,O,A", R::FieldCount { expected: 13, found: 8 }),
        (Layout::NsgV1, "1,2,3,4,5,6,7,8,9,10,11,12,13,14", R::FieldCount { expected: 8, found: 14 }),
        (Layout::NsgV1, "x,10.5.16.4,13.67.143.118,1,2,T,O,A", R::Timestamp),
        (Layout::NsgV1, "+15,10.5.16.4,13.67.143.118,1,2,T,O,A", R::Timestamp),
        (Layout::NsgV1, "1542110377,10.5.16,13.67.143.118,1,2,T,O,A", R::Ip("src_ip")),
        (Layout::NsgV1, "1542110377,10.5.16.4,host,1,2,T,O,A", R::Ip("dst_ip")),
        (Layout::NsgV1, "1542110377,10.5.16.4,13.67.143.118,65536,2,T,O,A", R::Port("src_port")),
        (Layout::NsgV1, "1542110377,10.5.16.4,13.67.143.118,1,-2,T,O,A", R::Port("dst_port")),
        (Layout::NsgV1, "1542110377,10.5.16.4,13.67.143.118,1,2,X,O,A", R::Protocol),
        (Layout::NsgV1, "1542110377,10.5.16.4,13.67.143.118,1,2,T,Q,A", R::Direction),
        (Layout::NsgV1, "1542110377,10.5.16.4,13.67.143.118,1,2,T,O,Z", R::Decision),
        (Layout::NsgV2, "1542110377,10.5.16.4,13.67.143.118,1,2,T,O,A,Q,,,,", R::State),
        (Layout::NsgV2, "1542110377,10.5.16.4,13.67.143.118,1,2,T,O,A,C,1,x,1,1", R::Counter("bytes_src_to_dst")),
        (Layout::VnetV4, "1663146003606,10.0.0.6,192.0.2.1,1,2,6,O,A-B,X,0,0,0,0", R::State),
    ];
    for (layout, text, expected) in cases {
        assert_eq!(parse_tuple(*layout, text, 0).as_ref().err(), Some(expected), "{text}");
    }
}

#[test]
fn ipv4_fast_path_agrees_with_the_standard_parser() {
    for s in [
        "0.0.0.0",
        "255.255.255.255",
        "10.0.0.4",
        "256.1.1.1",
        "1.2.3",
        "1.2.3.4.5",
        "01.2.3.4",
        "1.2.3.04",
        "1..2.3",
        "1.2.3.",
        ".1.2.3",
        "1.2.3.4 ",
        "1234.1.1.1",
        "",
        "a.b.c.d",
        "1.2.3.-4",
        "0.00.0.0",
    ] {
        assert_eq!(is_ipv4(s.as_bytes()), s.parse::<std::net::Ipv4Addr>().is_ok(), "{s:?}");
        assert_eq!(ipv4(s.as_bytes()).map(std::net::Ipv4Addr::from), s.parse().ok(), "{s:?}");
    }
}

#[test]
fn digits_reject_signs_and_overflow() {
    assert_eq!(digits(b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(digits(b"18446744073709551616"), None);
    assert_eq!(digits(b"00000000000000000042"), Some(42));
    for bad in ["", "+1", "-1", " 1", "1 ", "1a", "000000000000000000042"] {
        assert_eq!(digits(bad.as_bytes()), None, "{bad:?}");
    }
    assert_eq!((protocol_number(b"+6"), protocol_number(b"256")), (Some(6), None), "as u8::from_str");
}
