//! IANA protocol numbers and the names rows carry for them.

/// Name used in rows for an IANA protocol number; `None` means "write the number".
pub fn iana_name(number: u8) -> Option<&'static str> {
    Some(match number {
        1 => "icmp",
        2 => "igmp",
        4 => "ipv4",
        6 => "tcp",
        17 => "udp",
        41 => "ipv6",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "ipv6-icmp",
        89 => "ospf",
        103 => "pim",
        112 => "vrrp",
        132 => "sctp",
        _ => return None,
    })
}

/// A tuple's protocol: its IANA number and the text rows carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protocol {
    pub number: u8,
}

impl Protocol {
    pub const TCP: Protocol = Protocol { number: 6 };
    pub const UDP: Protocol = Protocol { number: 17 };

    /// Writes the row's `protocol` text (without quotes): the name, or the number.
    pub fn write_name(self, out: &mut Vec<u8>) {
        match iana_name(self.number) {
            Some(name) => out.extend_from_slice(name.as_bytes()),
            None => out.extend_from_slice(itoa::Buffer::new().format(self.number).as_bytes()),
        }
    }

    pub fn name(self) -> String {
        let mut v = Vec::new();
        self.write_name(&mut v);
        String::from_utf8(v).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_numbers() {
        assert_eq!(Protocol::TCP.name(), "tcp");
        assert_eq!(Protocol::UDP.name(), "udp");
        assert_eq!(Protocol { number: 1 }.name(), "icmp");
        assert_eq!(Protocol { number: 58 }.name(), "ipv6-icmp");
        assert_eq!(Protocol { number: 253 }.name(), "253");
        assert_eq!(Protocol { number: 0 }.name(), "0");
    }
}
