//! Community ID flow hashing, version 1 (corelight/community-id-spec), so rows join with Zeek,
//! Suricata, Elastic and Sentinel data on the same flow. Seed 0, base64 output: `1:` + 28 chars.
use core::net::IpAddr;

use super::sha1_lanes::hash;

/// `1:` followed by the base64 of a SHA-1 digest.
pub const LEN: usize = 30;

const ICMP: u8 = 1;
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP6: u8 = 58;
const SCTP: u8 = 132;

/// The Community ID of a flow. For ICMP and ICMPv6, `sport` is the message type and `dport` the
/// code, mapped to port equivalents as the spec does; other protocols without ports hash none.
pub fn community_id(src: IpAddr, dst: IpAddr, proto: u8, sport: u16, dport: u16) -> [u8; LEN] {
    encode(hash(&message(src, dst, proto, sport, dport)))
}

/// The padded SHA-1 block a flow's Community ID hashes.
pub fn message(src: IpAddr, dst: IpAddr, proto: u8, sport: u16, dport: u16) -> [u8; 64] {
    let (ports, one_way) = match proto {
        TCP | UDP | SCTP => (Some((sport, dport)), false),
        ICMP | ICMP6 => {
            let (t, c) = (sport as u8, dport);
            match icmp_counterpart(proto, t) {
                Some(other) => (Some((u16::from(t), u16::from(other))), false),
                None => (Some((u16::from(t), c)), true),
            }
        }
        _ => (None, false),
    };
    let (p1, p2) = ports.unwrap_or((0, 0));
    if let (IpAddr::V4(s4), IpAddr::V4(d4)) = (src, dst) {
        let (s4, d4) = (u32::from(s4), u32::from(d4));
        let ordered = one_way || (s4, p1) <= (d4, p2);
        let (a, b, pa, pb) = if ordered { (s4, d4, p1, p2) } else { (d4, s4, p2, p1) };
        return v4_block(a, b, proto, ports.map(|_| (pa, pb)));
    }
    let ordered = one_way || (src, p1) < (dst, p2) || !same_family(src, dst);
    let (a, b, pa, pb) = if ordered || (src, p1) == (dst, p2) { (src, dst, p1, p2) } else { (dst, src, p2, p1) };
    block(a, b, proto, ports.map(|_| (pa, pb)))
}

/// The message (seed 0, addresses, protocol, ports: at most 40 bytes) as one padded SHA-1 block,
/// hashed straight through the compression function (the streaming API's buffering costs more
/// than the block itself).
fn block(a: IpAddr, b: IpAddr, proto: u8, ports: Option<(u16, u16)>) -> [u8; 64] {
    let mut block = [0u8; 64];
    let mut n = 2; // the seed, 0
    let mut put = |bytes: &[u8]| {
        block[n..n + bytes.len()].copy_from_slice(bytes);
        n += bytes.len();
    };
    for ip in [a, b] {
        match ip {
            IpAddr::V4(v4) => put(&v4.octets()),
            IpAddr::V6(v6) => put(&v6.octets()),
        }
    }
    put(&[proto, 0]);
    if let Some((pa, pb)) = ports {
        put(&pa.to_be_bytes());
        put(&pb.to_be_bytes());
    }
    block[n] = 0x80;
    block[56..].copy_from_slice(&(n as u64 * 8).to_be_bytes());
    block
}

/// IPv4 flows, the common case: the whole message (seed, addresses, protocol, ports: at most 16
/// bytes) is assembled in one 128-bit word and stored whole. Storing it byte by byte and loading
/// it in 16-byte words, as the compression function does, stalls on store forwarding.
fn v4_block(a: u32, b: u32, proto: u8, ports: Option<(u16, u16)>) -> [u8; 64] {
    let head = (u128::from(a) << 80) | (u128::from(b) << 48) | (u128::from(proto) << 40);
    let (msg, len) = match ports {
        Some((pa, pb)) => (head | (u128::from(pa) << 16) | u128::from(pb), 16u32),
        None => (head, 12),
    };
    let mut words = [0u128; 4];
    if len == 16 {
        words[0] = msg;
        words[1] = 0x80 << 120;
    } else {
        words[0] = msg | (0x80 << (120 - 8 * len));
    }
    words[3] = u128::from(len * 8);
    let mut block = [0u8; 64];
    for (chunk, w) in block.chunks_exact_mut(16).zip(words) {
        chunk.copy_from_slice(&w.to_be_bytes());
    }
    block
}

/// `1:` and the base64 of a SHA-1 state.
pub(super) fn encode(state: [u32; 5]) -> [u8; LEN] {
    let mut out = [0u8; LEN];
    out[..2].copy_from_slice(b"1:");
    // 20 bytes: six 3-byte groups, then two bytes and one `=`; big-endian words, so the digest
    // is never stored byte by byte to be read back.
    let bits = (u128::from(state[0]) << 96)
        | (u128::from(state[1]) << 64)
        | (u128::from(state[2]) << 32)
        | u128::from(state[3]);
    for i in 0..21 {
        // Characters 0..21 come from the first 126 bits.
        out[2 + i] = B64[((bits >> (122 - 6 * i)) & 63) as usize];
    }
    // Bits 126..160: the last 2 bits of `bits`, then `state[4]`, then 2 zero bits of padding.
    let rest = ((bits & 3) << 32 | u128::from(state[4])) << 2;
    for i in 0..6 {
        out[23 + i] = B64[((rest >> (30 - 6 * i)) & 63) as usize];
    }
    out[29] = b'=';
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Mixed families cannot be a real flow; keep the given order rather than compare across them.
fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// The message type answering `t`, for the request/response pairs the spec lists.
fn icmp_counterpart(proto: u8, t: u8) -> Option<u8> {
    let pairs: &[(u8, u8)] = if proto == ICMP {
        &[(8, 0), (0, 8), (13, 14), (14, 13), (15, 16), (16, 15), (10, 9), (17, 18), (18, 17)]
    } else {
        &[
            (128, 129),
            (129, 128),
            (133, 134),
            (134, 133),
            (135, 136),
            (136, 135),
            (130, 131),
            (131, 130),
            (139, 140),
            (140, 139),
            (144, 145),
            (145, 144),
        ]
    };
    pairs.iter().find(|(a, _)| *a == t).map(|(_, b)| *b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's published baseline for the default seed (baseline/baseline_deflt.json of
    /// corelight/community-id-spec): proto, saddr, daddr, sport, dport, expected.
    const BASELINE: &[(u8, &str, &str, u16, u16, &str)] = &[
        (58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 136, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="),
        (58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 135, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="),
        (58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 135, 136, "1:zavyT/cezQr1fmImYCwYnMXbgck="),
        (58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 136, 135, "1:zavyT/cezQr1fmImYCwYnMXbgck="),
        (58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", 3, 0, "1:2ObVBgIn28oZvibYZhZMBgh7WdQ="),
        (
            58,
            "3ffe:501:410:0:2c0:dfff:fe47:33e",
            "3ffe:507:0:1:200:86ff:fe05:80da",
            1,
            4,
            "1:hLZd0XGWojozrvxqE0dWB1iM6R0=",
        ),
        (58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", 128, 129, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="),
        (58, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", 129, 128, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="),
        (58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 134, "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0="),
        (58, "fe80::260:97ff:fe07:69ea", "ff02::1", 134, 133, "1:pkvHqCL88/tg1k4cPigmZXUtL00="),
        (1, "192.168.0.89", "192.168.0.1", 8, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="),
        (1, "192.168.0.1", "192.168.0.89", 0, 8, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="),
        (1, "10.0.0.1", "10.0.0.2", 11, 0, "1:YHxtAirCG//0OzkcVAukqKQN9xM="),
        (
            6,
            "2001:470:e5bf:dead:4957:2174:e82c:4887",
            "2607:f8b0:400c:c03::1a",
            63943,
            25,
            "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=",
        ),
        (
            6,
            "2607:f8b0:400c:c03::1a",
            "2001:470:e5bf:dead:4957:2174:e82c:4887",
            25,
            63943,
            "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=",
        ),
        (132, "192.168.170.8", "192.168.170.56", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="),
        (132, "192.168.170.56", "192.168.170.8", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="),
        (6, "128.232.110.120", "66.35.250.204", 34855, 80, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="),
        (6, "66.35.250.204", "128.232.110.120", 80, 34855, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="),
        (17, "192.168.1.52", "8.8.8.8", 54585, 53, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="),
        (17, "8.8.8.8", "192.168.1.52", 53, 54585, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="),
        (46, "10.1.12.1", "10.1.12.2", 0, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="),
        (46, "10.1.12.2", "10.1.12.1", 0, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="),
    ];

    /// The IPv4 path's word arithmetic builds the same block as the byte-wise builder.
    #[test]
    fn the_ipv4_block_is_the_generic_block() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..20_000u32 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let (a, b) = ((x >> 32) as u32, x as u32 ^ i);
            let proto = [1, 6, 17, 46, 132, 0, 255][i as usize % 7];
            let ports = (i % 5 != 0).then_some(((x >> 7) as u16, (x >> 23) as u16));
            let want = block(IpAddr::V4(a.into()), IpAddr::V4(b.into()), proto, ports);
            assert_eq!(v4_block(a, b, proto, ports), want, "{a} {b} {proto} {ports:?}");
        }
    }

    #[test]
    fn matches_the_spec_baseline() {
        for &(proto, s, d, sp, dp, want) in BASELINE {
            let got = community_id(s.parse().unwrap(), d.parse().unwrap(), proto, sp, dp);
            assert_eq!(std::str::from_utf8(&got).unwrap(), want, "{proto} {s}:{sp} -> {d}:{dp}");
        }
    }
}
