//! Address classes: what kind of network an address belongs to, from the IANA special-purpose
//! registries alone (no data files), so `src_class`/`dst_class` are always written.
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrClass {
    /// RFC 1918 and unique-local fc00::/7.
    Private,
    /// Shared address space of carrier-grade NAT, 100.64.0.0/10 (RFC 6598).
    Cgnat,
    /// Azure's virtual public IP of the host (168.63.129.16) and the instance metadata service.
    AzurePlatform,
    Loopback,
    LinkLocal,
    Multicast,
    /// RFC 5737 and 2001:db8::/32 / 3fff::/20: never routed, used in examples and tests.
    Documentation,
    /// Anything else that is not globally routed (this network, benchmarking, future use…).
    Reserved,
    Public,
}

impl AddrClass {
    pub fn as_str(self) -> &'static str {
        match self {
            AddrClass::Private => "private",
            AddrClass::Cgnat => "cgnat",
            AddrClass::AzurePlatform => "azure_platform",
            AddrClass::Loopback => "loopback",
            AddrClass::LinkLocal => "link_local",
            AddrClass::Multicast => "multicast",
            AddrClass::Documentation => "documentation",
            AddrClass::Reserved => "reserved",
            AddrClass::Public => "public",
        }
    }

    pub fn is_public(self) -> bool {
        self == AddrClass::Public
    }
}

pub fn classify(ip: IpAddr) -> AddrClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

const fn net(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

/// (network, prefix length, class), checked in order: the Azure addresses sit inside ranges
/// listed later (169.254.0.0/16), so they come first.
const V4: &[(u32, u32, AddrClass)] = &[
    (net(168, 63, 129, 16), 32, AddrClass::AzurePlatform),
    (net(169, 254, 169, 254), 32, AddrClass::AzurePlatform),
    (net(10, 0, 0, 0), 8, AddrClass::Private),
    (net(172, 16, 0, 0), 12, AddrClass::Private),
    (net(192, 168, 0, 0), 16, AddrClass::Private),
    (net(100, 64, 0, 0), 10, AddrClass::Cgnat),
    (net(127, 0, 0, 0), 8, AddrClass::Loopback),
    (net(169, 254, 0, 0), 16, AddrClass::LinkLocal),
    (net(224, 0, 0, 0), 4, AddrClass::Multicast),
    (net(192, 0, 2, 0), 24, AddrClass::Documentation),
    (net(198, 51, 100, 0), 24, AddrClass::Documentation),
    (net(203, 0, 113, 0), 24, AddrClass::Documentation),
    (net(0, 0, 0, 0), 8, AddrClass::Reserved),
    (net(192, 0, 0, 0), 24, AddrClass::Reserved),
    (net(198, 18, 0, 0), 15, AddrClass::Reserved),
    (net(240, 0, 0, 0), 4, AddrClass::Reserved),
];

/// First octets that some range of `V4` covers: an address with any other first octet is
/// public at once, without the scan (most public addresses of a flow log).
const SPECIAL_FIRST_OCTET: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < V4.len() {
        let (n, len, _) = V4[i];
        let first = (n >> 24) as usize;
        let count = if len >= 8 { 1 } else { 1 << (8 - len) };
        let mut j = 0;
        while j < count {
            t[first + j] = true;
            j += 1;
        }
        i += 1;
    }
    t
};

fn classify_v4(ip: Ipv4Addr) -> AddrClass {
    let a = u32::from(ip);
    if !SPECIAL_FIRST_OCTET[(a >> 24) as usize] {
        return AddrClass::Public;
    }
    for &(n, len, class) in V4 {
        let mask = u32::MAX << (32 - len);
        if a & mask == n {
            return class;
        }
    }
    AddrClass::Public
}

fn classify_v6(ip: Ipv6Addr) -> AddrClass {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let a = u128::from(ip);
    let top = |bits: u32| a >> (128 - bits);
    if ip.is_loopback() {
        AddrClass::Loopback
    } else if top(7) == 0xfc00 >> 9 {
        AddrClass::Private
    } else if top(10) == 0xfe80 >> 6 {
        AddrClass::LinkLocal
    } else if top(8) == 0xff {
        AddrClass::Multicast
    } else if top(32) == 0x2001_0db8 || top(20) == 0x3fff0 {
        AddrClass::Documentation
    } else if top(3) == 0b001 {
        // 2000::/3 is the global unicast space; everything outside it is special or unassigned.
        AddrClass::Public
    } else {
        AddrClass::Reserved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> &'static str {
        classify(s.parse().unwrap()).as_str()
    }

    #[test]
    fn every_class_with_its_edges() {
        for (ip, class) in [
            ("10.0.0.1", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("172.32.0.1", "public"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "cgnat"),
            ("100.127.255.255", "cgnat"),
            ("100.128.0.1", "public"),
            ("168.63.129.16", "azure_platform"),
            ("168.63.129.17", "public"),
            ("169.254.169.254", "azure_platform"),
            ("169.254.1.1", "link_local"),
            ("127.0.0.1", "loopback"),
            ("224.0.0.251", "multicast"),
            ("239.255.255.250", "multicast"),
            ("192.0.2.1", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.254", "documentation"),
            ("0.0.0.0", "reserved"),
            ("255.255.255.255", "reserved"),
            ("198.18.0.1", "reserved"),
            ("8.8.8.8", "public"),
            ("1.1.1.1", "public"),
            ("fd00::1", "private"),
            ("fc00::1", "private"),
            ("fe80::1", "link_local"),
            ("ff02::1", "multicast"),
            ("::1", "loopback"),
            ("::", "reserved"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("2001:4860:4860::8888", "public"),
            ("::ffff:10.1.2.3", "private"),
            ("::ffff:8.8.8.8", "public"),
            ("11.0.0.1", "public"),
            ("9.255.255.255", "public"),
            ("223.255.255.255", "public"),
        ] {
            assert_eq!(c(ip), class, "{ip}");
        }
    }
}
