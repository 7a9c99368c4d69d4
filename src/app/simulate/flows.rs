//! The traffic model: the rules a NIC is evaluated against, what a flow through each rule looks like,
//! and how one flow tuple is written in each format.
use super::addresses::{Addresses, Peer};
use super::layout::Layout;
use super::random::SplitMix64;
use super::text::{Ip, push_ip, push_u64};

/// The kind of traffic a rule matches, which decides endpoints, ports, protocol and allow/deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Traffic {
    InternetOut,
    VnetOut,
    VnetIn,
    WebIn,
    ScanIn,
    MgmtIn,
    SmtpOut,
}

/// One security rule; `acl` indexes the VNet `aclID` (NSG or Virtual Network Manager config) owning it.
pub struct RuleSpec {
    pub name: &'static str,
    pub acl: usize,
    pub traffic: Traffic,
}

/// Every series uses this rule set; ordered by `acl` so VNet records can group rules under their ACL.
pub const RULES: [RuleSpec; 7] = [
    RuleSpec { name: "DefaultRule_DenyAllInBound", acl: 0, traffic: Traffic::ScanIn },
    RuleSpec { name: "DefaultRule_AllowInternetOutBound", acl: 0, traffic: Traffic::InternetOut },
    RuleSpec { name: "UserRule_AllowHttpsInBound", acl: 0, traffic: Traffic::WebIn },
    RuleSpec { name: "DefaultRule_AllowVnetInBound", acl: 1, traffic: Traffic::VnetIn },
    RuleSpec { name: "DefaultRule_AllowVnetOutBound", acl: 1, traffic: Traffic::VnetOut },
    RuleSpec { name: "UserRule_DenyMgmtFromInternet", acl: 1, traffic: Traffic::MgmtIn },
    RuleSpec { name: "UserRule_DenySmtpOutBound", acl: 2, traffic: Traffic::SmtpOut },
];

/// Rules that begin allowed flows, and how often each is chosen.
pub const ALLOW_RULES: [usize; 4] = [1, 2, 3, 4];
pub const ALLOW_WEIGHTS: [u32; 4] = [40, 20, 15, 25];
/// Rules that deny single packets (mostly internet scanning), and how often each is chosen.
pub const DENY_RULES: [usize; 3] = [0, 5, 6];
pub const DENY_WEIGHTS: [u32; 3] = [75, 20, 5];

/// VNet encryption states (the parser's list, so the two cannot drift) and, below, their
/// frequency between VMs: unencrypted (`NX`, index 1) dominates, as on most real networks.
pub use crate::domain::format::tuple::ENCRYPTION_VALUES as ENCRYPTION;
const ENCRYPTION_WEIGHTS: [u32; 8] = [8, 85, 2, 1, 1, 1, 1, 1];
const _: () = assert!(ENCRYPTION.len() == ENCRYPTION_WEIGHTS.len());

/// The addresses of the NIC a series logs for.
#[derive(Clone, Copy, Debug)]
pub struct Host {
    pub v4: u32,
    pub v6: Ip,
    /// NSG flow logs only know TCP and UDP (`T`/`U`); ICMP appears only in VNet flow logs.
    pub icmp: bool,
}

impl Host {
    /// Private `10.<hi>.<lo>.4|5` and `2001:db8:<resource>::4|5`, unique per (resource, NIC).
    pub fn new(resource: u32, nic: u32, icmp: bool) -> Self {
        let v4 = 0x0A00_0000 | ((resource & 0xFFFF) << 8) | (4 + nic);
        Host { v4, v6: Ip::V6 { net: resource as u16, host: 4 + nic as u16 }, icmp }
    }
}

/// One connection (or denied packet) identified by its 5-tuple.
#[derive(Clone, Copy, Debug)]
pub struct Flow {
    pub rule: u8,
    pub proto: u8,
    pub src: Ip,
    pub dst: Ip,
    pub sport: u16,
    pub dport: u16,
    pub outbound: bool,
    pub encryption: u8,
    /// Continuing (`C`) tuples still to come before the end (`E`) tuple.
    pub updates_left: u8,
    /// The simulated minute of the flow's latest tuple, so sequences spread over minutes.
    pub last_minute: u32,
    /// Typical packets per update, which sizes the delta counters.
    pub scale: u16,
}

/// The state written in a tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TupleState {
    Begin,
    Continuing,
    End,
    Denied,
}

const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

/// A new flow matching rule `rule` for `host`, first seen in `minute`.
pub fn new_flow(rule: usize, host: &Host, minute: u32, rng: &mut SplitMix64, addrs: &mut Addresses) -> Flow {
    let traffic = RULES[rule].traffic;
    let vm = Ip::V4(host.v4);
    let peer = addrs.vnet_peer(Ip::V4((host.v4 & 0xFFFF_FF00) | rng.range(6, 250) as u32));
    let ephemeral = rng.range(32_768, 65_535) as u16;
    let client_port = rng.range(1024, 65_535) as u16;
    let roll = rng.below(100);
    let icmp = host.icmp && roll < 5;
    let v6 = rng.percent(10);
    // (proto, src, dst, sport, dport, outbound)
    let (proto, src, dst, sport, dport, outbound) = match traffic {
        Traffic::InternetOut => {
            let (vm, remote) = if v6 {
                (host.v6, addrs.internet(rng, true, Peer::Service))
            } else {
                (vm, addrs.internet(rng, false, Peer::Service))
            };
            match roll {
                _ if icmp => (PROTO_ICMP, vm, remote, 0, 0, true),
                5..10 => (PROTO_UDP, vm, remote, ephemeral, 123, true),
                10..30 => (PROTO_TCP, vm, remote, ephemeral, 80, true),
                _ => (PROTO_TCP, vm, remote, ephemeral, 443, true),
            }
        }
        Traffic::VnetOut => match roll {
            _ if host.icmp && roll < 10 => (PROTO_ICMP, vm, peer, 0, 0, true),
            0..55 => (PROTO_UDP, vm, Ip::V4((host.v4 & 0xFFFF_0000) | 4), ephemeral, 53, true),
            _ => (PROTO_TCP, vm, peer, ephemeral, *rng.pick(&[443, 1433, 5432, 6379, 445]), true),
        },
        Traffic::VnetIn => (PROTO_TCP, peer, vm, ephemeral, *rng.pick(&[22, 3389, 443, 8080, 5985]), false),
        Traffic::WebIn => {
            let (remote, vm) = if v6 {
                (addrs.internet(rng, true, Peer::Client), host.v6)
            } else {
                (addrs.internet(rng, false, Peer::Client), vm)
            };
            (PROTO_TCP, remote, vm, client_port, if roll < 80 { 443 } else { 80 }, false)
        }
        Traffic::ScanIn => {
            let remote = addrs.internet(rng, false, Peer::Scanner);
            match roll {
                _ if icmp => (PROTO_ICMP, remote, vm, 0, 0, false),
                5..12 => (PROTO_UDP, remote, vm, client_port, *rng.pick(&[161, 1900, 5060, 123]), false),
                12..30 => (PROTO_TCP, remote, vm, client_port, rng.range(1, 65_535) as u16, false),
                _ => {
                    let port = *rng.pick(&[23, 445, 1433, 3306, 5900, 8080, 8443, 6379, 2375]);
                    (PROTO_TCP, remote, vm, client_port, port, false)
                }
            }
        }
        Traffic::MgmtIn => (
            PROTO_TCP,
            addrs.internet(rng, false, Peer::Scanner),
            vm,
            client_port,
            if roll < 60 { 22 } else { 3389 },
            false,
        ),
        Traffic::SmtpOut => (PROTO_TCP, vm, addrs.internet(rng, false, Peer::Service), ephemeral, 25, true),
    };
    let tcp = proto == PROTO_TCP;
    Flow {
        rule: rule as u8,
        proto,
        src,
        dst,
        sport,
        dport,
        outbound,
        // Virtual network encryption only applies between VMs; internet traffic is always `NX`.
        encryption: if matches!(traffic, Traffic::VnetIn | Traffic::VnetOut) {
            rng.weighted(&ENCRYPTION_WEIGHTS) as u8
        } else {
            1
        },
        updates_left: if tcp { rng.below(4) as u8 } else { 0 },
        last_minute: minute,
        scale: if tcp { rng.range(2, 400) as u16 } else { 2 },
    }
}

/// Delta counters `[packets s→d, bytes s→d, packets d→s, bytes d→s]` for one `C` or `E` tuple.
pub fn counters(flow: &Flow, rng: &mut SplitMix64) -> [u64; 4] {
    match flow.proto {
        PROTO_TCP => {
            let scale = u64::from(flow.scale);
            let p1 = 1 + rng.below(scale);
            let p2 = 1 + rng.below(scale * 2);
            [p1, p1 * rng.range(54, 600), p2, p2 * rng.range(54, 1460)]
        }
        PROTO_UDP => {
            let p = 1 + rng.below(2);
            [p, p * rng.range(60, 120), p, p * rng.range(80, 500)]
        }
        _ => {
            let p = rng.range(1, 4);
            [p, p * 84, p, p * 84]
        }
    }
}

/// Appends one quoted tuple plus a trailing `,` (the record writer drops the last one).
/// `ts_ms` is written as seconds for NSG formats and milliseconds for VNet, as Azure does.
pub fn write_tuple(buf: &mut String, format: Layout, ts_ms: u64, flow: &Flow, state: TupleState, counts: [u64; 4]) {
    buf.push('"');
    push_u64(buf, if format == Layout::VnetV4 { ts_ms } else { ts_ms / 1000 });
    buf.push(',');
    push_ip(buf, flow.src);
    buf.push(',');
    push_ip(buf, flow.dst);
    buf.push(',');
    push_u64(buf, u64::from(flow.sport));
    buf.push(',');
    push_u64(buf, u64::from(flow.dport));
    buf.push(',');
    let has_counts = matches!(state, TupleState::Continuing | TupleState::End);
    if format == Layout::VnetV4 {
        push_u64(buf, u64::from(flow.proto));
        buf.push_str(if flow.outbound { ",O," } else { ",I," });
        buf.push(match state {
            TupleState::Begin => 'B',
            TupleState::Continuing => 'C',
            TupleState::End => 'E',
            TupleState::Denied => 'D',
        });
        buf.push(',');
        buf.push_str(ENCRYPTION[usize::from(flow.encryption)]);
        if !has_counts {
            // Microsoft's VNet sample writes zeros, not empty fields, on B tuples.
            buf.push_str(",0,0,0,0");
        }
    } else {
        buf.push(if flow.proto == PROTO_UDP { 'U' } else { 'T' });
        buf.push_str(if flow.outbound { ",O," } else { ",I," });
        buf.push(if state == TupleState::Denied { 'D' } else { 'A' });
        if format == Layout::NsgV2 {
            // NSG v2 logs denied packets as `B` with no statistics, like the first tuple of a flow.
            buf.push_str(match state {
                TupleState::Begin | TupleState::Denied => ",B,,,,",
                TupleState::Continuing => ",C",
                TupleState::End => ",E",
            });
        }
    }
    if has_counts && format != Layout::NsgV1 {
        for n in counts {
            buf.push(',');
            push_u64(buf, n);
        }
    }
    buf.push_str("\",");
}
