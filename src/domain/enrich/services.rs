//! Service names of well-known destination ports: a curated subset of the IANA Service Name and
//! Transport Protocol Port Number Registry (IANA's service names, lower case as registered).

const TCP: u8 = 1;
const UDP: u8 = 2;
const BOTH: u8 = TCP | UDP;

/// (port, transports, IANA service name), sorted by port for binary search.
const SERVICES: &[(u16, u8, &str)] = &[
    (20, TCP, "ftp-data"),
    (21, TCP, "ftp"),
    (22, TCP, "ssh"),
    (23, TCP, "telnet"),
    (25, TCP, "smtp"),
    (53, BOTH, "domain"),
    (67, UDP, "bootps"),
    (68, UDP, "bootpc"),
    (69, UDP, "tftp"),
    (80, TCP, "http"),
    (88, BOTH, "kerberos"),
    (110, TCP, "pop3"),
    (111, BOTH, "sunrpc"),
    (123, UDP, "ntp"),
    (135, TCP, "epmap"),
    (137, UDP, "netbios-ns"),
    (138, UDP, "netbios-dgm"),
    (139, TCP, "netbios-ssn"),
    (143, TCP, "imap"),
    (161, UDP, "snmp"),
    (162, UDP, "snmptrap"),
    (179, TCP, "bgp"),
    (389, BOTH, "ldap"),
    (443, BOTH, "https"),
    (445, TCP, "microsoft-ds"),
    (464, BOTH, "kpasswd"),
    (465, TCP, "submissions"),
    (500, UDP, "isakmp"),
    (514, UDP, "syslog"),
    (587, TCP, "submission"),
    (636, TCP, "ldaps"),
    (853, TCP, "domain-s"),
    (873, TCP, "rsync"),
    (993, TCP, "imaps"),
    (995, TCP, "pop3s"),
    (1433, TCP, "ms-sql-s"),
    (1434, UDP, "ms-sql-m"),
    (1723, TCP, "pptp"),
    (1812, UDP, "radius"),
    (1813, UDP, "radius-acct"),
    (1900, UDP, "ssdp"),
    (2049, BOTH, "nfs"),
    (2375, TCP, "docker"),
    (2376, TCP, "docker-s"),
    (3268, TCP, "msft-gc"),
    (3269, TCP, "msft-gc-ssl"),
    (3306, TCP, "mysql"),
    (3389, BOTH, "ms-wbt-server"),
    (4500, UDP, "ipsec-nat-t"),
    (5060, BOTH, "sip"),
    (5061, TCP, "sips"),
    (5432, TCP, "postgresql"),
    (5671, TCP, "amqps"),
    (5672, TCP, "amqp"),
    (5900, TCP, "rfb"),
    (5985, TCP, "wsman"),
    (5986, TCP, "wsmans"),
    (6379, TCP, "redis"),
    (8080, TCP, "http-alt"),
    (8443, TCP, "pcsync-https"),
    (11211, BOTH, "memcache"),
    (27017, TCP, "mongodb"),
];

/// The service registered for `port` over IANA protocol `protocol` (TCP 6, UDP 17).
pub fn service_name(protocol: u8, port: u16) -> Option<&'static str> {
    let transport = match protocol {
        6 => TCP,
        17 => UDP,
        _ => return None,
    };
    let i = SERVICES.binary_search_by_key(&port, |s| s.0).ok()?;
    let (_, t, name) = SERVICES[i];
    (t & transport != 0).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_without_duplicates() {
        assert!(SERVICES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    /// The NDJSON writer copies names into JSON strings as they are.
    #[test]
    fn names_need_no_json_escaping() {
        let plain = |n: &str| n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        assert!(SERVICES.iter().all(|s| plain(s.2)), "{:?}", SERVICES.iter().find(|s| !plain(s.2)));
    }

    #[test]
    fn by_port_and_transport() {
        assert_eq!(service_name(6, 443), Some("https"));
        assert_eq!(service_name(17, 53), Some("domain"));
        assert_eq!(service_name(6, 3389), Some("ms-wbt-server"));
        assert_eq!(service_name(17, 123), Some("ntp"));
        assert_eq!(service_name(6, 123), None, "NTP is UDP only here");
        assert_eq!(service_name(1, 0), None, "ICMP has no ports");
        assert_eq!(service_name(6, 40000), None);
    }
}
