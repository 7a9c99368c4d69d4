//! Allocation-free text writers for the generator's hot loop: integers, IP addresses, UTC timestamps.
//!
//! `format!` per field would dominate the cost of a tuple; these push ASCII straight into a reused String.

/// Appends `n` in decimal.
pub fn push_u64(buf: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        buf.push(char::from(d));
    }
}

/// Appends `n` as exactly `width` zero-padded decimal digits (`n` must fit).
pub fn push_padded(buf: &mut String, n: u64, width: u32) {
    let mut div = 10u64.pow(width - 1);
    while div > 0 {
        buf.push(char::from(b'0' + ((n / div) % 10) as u8));
        div /= 10;
    }
}

/// Appends `n` in lowercase hexadecimal without leading zeros, as IPv6 groups are written.
pub fn push_hex(buf: &mut String, n: u16) {
    let mut started = false;
    for shift in [12u16, 8, 4, 0] {
        let nibble = (n >> shift) & 0xF;
        if nibble != 0 || started || shift == 0 {
            started = true;
            buf.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
        }
    }
}

/// An address as the generator models it: IPv4, or an IPv6 `2001:db8:<net>::<host>` in the documentation
/// prefix (RFC 3849), which is all the variety flow-log consumers need to exercise their IPv6 paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ip {
    V4(u32),
    V6 {
        net: u16,
        host: u16,
    },
    /// Any IPv6 address (the public ones of `--addresses realistic|unique`).
    V6Global(u128),
}

/// Appends the address in its canonical text form.
pub fn push_ip(buf: &mut String, ip: Ip) {
    match ip {
        Ip::V4(a) => {
            for (i, shift) in [24u32, 16, 8, 0].into_iter().enumerate() {
                if i > 0 {
                    buf.push('.');
                }
                push_u64(buf, u64::from((a >> shift) & 0xFF));
            }
        }
        Ip::V6 { net, host } => {
            buf.push_str("2001:db8:");
            push_hex(buf, net);
            buf.push_str("::");
            push_hex(buf, host);
        }
        Ip::V6Global(a) => {
            use std::fmt::Write;
            let _ = write!(buf, "{}", core::net::Ipv6Addr::from(a));
        }
    }
}

/// A UTC calendar date and time, enough for blob paths and record `time` fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Utc {
    /// Splits Unix seconds into civil UTC (proleptic Gregorian), using Howard Hinnant's
    /// `civil_from_days`: exact for every date, no table, no dependency on a time zone database.
    pub fn from_unix(secs: i64) -> Utc {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Utc { year, month, day, hour: rem / 3600, minute: rem / 60 % 60, second: rem % 60 }
    }
}

/// Appends `secs` plus `ticks` (100 ns units, < 10^7) as `YYYY-MM-DDTHH:MM:SS.fffffffZ`, the seven
/// fractional digits Azure writes in flow-log `time` fields.
pub fn push_time(buf: &mut String, secs: i64, ticks: u32) {
    let t = Utc::from_unix(secs);
    push_padded(buf, t.year as u64, 4);
    buf.push('-');
    push_padded(buf, u64::from(t.month), 2);
    buf.push('-');
    push_padded(buf, u64::from(t.day), 2);
    buf.push('T');
    push_padded(buf, u64::from(t.hour), 2);
    buf.push(':');
    push_padded(buf, u64::from(t.minute), 2);
    buf.push(':');
    push_padded(buf, u64::from(t.second), 2);
    buf.push('.');
    push_padded(buf, u64::from(ticks), 7);
    buf.push('Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_numbers_and_addresses() {
        let mut s = String::new();
        push_u64(&mut s, 0);
        s.push(' ');
        push_u64(&mut s, u64::MAX);
        s.push(' ');
        push_padded(&mut s, 7, 2);
        s.push(' ');
        push_ip(&mut s, Ip::V4(0xC000_02B4));
        s.push(' ');
        push_ip(&mut s, Ip::V6 { net: 0x0a0b, host: 0 });
        assert_eq!(s, "0 18446744073709551615 07 192.0.2.180 2001:db8:a0b::0");
    }

    #[test]
    fn civil_time_matches_known_instants() {
        let mut s = String::new();
        push_time(&mut s, 1_767_225_600, 0);
        assert_eq!(s, "2026-01-01T00:00:00.0000000Z");
        s.clear();
        // The record time of Microsoft's VNet sample.
        push_time(&mut s, 1_663_146_052, 5_625_085);
        assert_eq!(s, "2022-09-14T09:00:52.5625085Z");
        assert_eq!(Utc::from_unix(951_782_400).day, 29); // 2000-02-29
        assert_eq!(Utc::from_unix(-1).year, 1969);
    }
}
