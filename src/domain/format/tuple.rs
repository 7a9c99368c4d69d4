//! Parsing of one comma-separated flow tuple (NSG v1, NSG v2, VNet v4) into typed fields.
use std::net::IpAddr;

use super::Layout;
use super::error::TupleErrorReason as R;
use super::protocol::Protocol;
use super::timefmt::MAX_MS;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowState {
    Begin,
    Continuing,
    End,
    Denied,
    /// A state this build does not know (Azure extends the set over time): the row is kept and
    /// carries the value as written ([`Tuple::state_text`]).
    Unknown,
}

impl FlowState {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowState::Begin => "begin",
            FlowState::Continuing => "continuing",
            FlowState::End => "end",
            FlowState::Denied => "denied",
            FlowState::Unknown => "unknown",
        }
    }
}

/// VNet encryption statuses documented by Microsoft; anything else is an error, not a guess.
pub const ENCRYPTION_VALUES: &[&str] = &[
    "X",
    "NX",
    "NX_HW_NOT_SUPPORTED",
    "NX_SW_NOT_READY",
    "NX_NOT_ACCEPTED",
    "NX_NOT_SUPPORTED",
    "NX_LOCAL_DST",
    "NX_FALLBACK",
];

/// One flow tuple, borrowing its text fields from the blob bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tuple<'a> {
    /// Position of the tuple within its record (across all rules/groups), from 0.
    pub ordinal: u32,
    /// Flow time in Unix milliseconds.
    pub time_ms: i64,
    pub src_ip: &'a str,
    pub dst_ip: &'a str,
    /// The addresses parsed, once, by the tuple parser (for classes, lookups, Community ID).
    pub src_addr: IpAddr,
    pub dst_addr: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: Protocol,
    pub direction: Direction,
    pub decision: Decision,
    pub state: Option<FlowState>,
    /// The state as written, when it is [`FlowState::Unknown`].
    pub state_text: Option<&'a str>,
    pub encryption: Option<&'a str>,
    /// The encryption status is not one of [`ENCRYPTION_VALUES`] (kept as written).
    pub unknown_encryption: bool,
    /// packets src→dst, bytes src→dst, packets dst→src, bytes dst→src; `None` when absent.
    pub counters: [Option<u64>; 4],
}

impl<'a> Tuple<'a> {
    /// The flow state as the row carries it: the known name, or an unknown value as written.
    pub fn flow_state(&self) -> Option<&'a str> {
        match self.state {
            Some(FlowState::Unknown) => self.state_text,
            Some(s) => Some(s.as_str()),
            None => None,
        }
    }
}

/// A value Azure may add to an extensible field: short and plain (letters, digits, `_`), so a
/// corrupt field is still an error rather than a new value.
fn new_value(field: &[u8]) -> Option<&str> {
    let plain = (1..=32).contains(&field.len()) && field.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_');
    if plain { std::str::from_utf8(field).ok() } else { None }
}

/// Timestamps below this are seconds, at or above it milliseconds: 1e11 s is the year 5138,
/// 1e11 ms is March 1973, so no real flow time is ambiguous.
const MS_THRESHOLD: u64 = 100_000_000_000;

const COUNTER_NAMES: [&str; 4] = ["packets_src_to_dst", "bytes_src_to_dst", "packets_dst_to_src", "bytes_dst_to_src"];

/// Parses one tuple of the given layout.
pub fn parse_tuple<'a>(layout: Layout, text: &'a str, ordinal: u32) -> Result<Tuple<'a>, R> {
    parse_tuple_bytes(layout, text.as_bytes(), ordinal)
}

/// Parses one tuple from the bytes of its JSON string. Runs once per row: fields are cut at
/// commas in one pass and checked byte by byte, without allocating; every accepted field is
/// ASCII, so the text needs no UTF-8 check of its own.
pub fn parse_tuple_bytes<'a>(layout: Layout, text: &'a [u8], ordinal: u32) -> Result<Tuple<'a>, R> {
    let mut fields: [&[u8]; 13] = [&[]; 13];
    let mut n = 0;
    let mut start = 0;
    for (i, &b) in text.iter().enumerate() {
        if b != b',' {
            continue;
        }
        if n == fields.len() - 1 {
            let found = text.iter().filter(|b| **b == b',').count() + 1;
            return Err(R::FieldCount { expected: layout.tuple_fields(), found });
        }
        fields[n] = &text[start..i];
        n += 1;
        start = i + 1;
    }
    fields[n] = &text[start..];
    n += 1;
    if n != layout.tuple_fields() {
        return Err(R::FieldCount { expected: layout.tuple_fields(), found: n });
    }
    let time_ms = parse_time(fields[0])?;
    let (src_ip, src_addr) = ip(fields[1], "src_ip")?;
    let (dst_ip, dst_addr) = ip(fields[2], "dst_ip")?;
    let src_port = port(fields[3], "src_port")?;
    let dst_port = port(fields[4], "dst_port")?;
    let direction = match fields[6] {
        b"I" => Direction::Inbound,
        b"O" => Direction::Outbound,
        _ => return Err(R::Direction),
    };
    let mut tuple = Tuple {
        ordinal,
        time_ms,
        src_ip,
        dst_ip,
        src_addr,
        dst_addr,
        src_port,
        dst_port,
        protocol: Protocol::TCP,
        direction,
        decision: Decision::Allow,
        state: None,
        state_text: None,
        encryption: None,
        unknown_encryption: false,
        counters: [None; 4],
    };
    match layout {
        Layout::NsgV1 | Layout::NsgV2 => {
            tuple.protocol = match fields[5] {
                b"T" => Protocol::TCP,
                b"U" => Protocol::UDP,
                _ => return Err(R::Protocol),
            };
            tuple.decision = match fields[7] {
                b"A" => Decision::Allow,
                b"D" => Decision::Deny,
                _ => return Err(R::Decision),
            };
            if layout == Layout::NsgV2 {
                tuple.state = Some(match fields[8] {
                    b"B" => FlowState::Begin,
                    b"C" => FlowState::Continuing,
                    b"E" => FlowState::End,
                    _ => return Err(R::State),
                });
                tuple.counters = counters(&fields[9..13])?;
            }
        }
        Layout::VnetV4 => {
            tuple.protocol = Protocol { number: protocol_number(fields[5]).ok_or(R::Protocol)? };
            let state = match fields[7] {
                b"B" => FlowState::Begin,
                b"C" => FlowState::Continuing,
                b"E" => FlowState::End,
                b"D" => FlowState::Denied,
                other => {
                    tuple.state_text = Some(new_value(other).ok_or(R::State)?);
                    FlowState::Unknown
                }
            };
            tuple.state = Some(state);
            tuple.decision = if state == FlowState::Denied { Decision::Deny } else { Decision::Allow };
            tuple.encryption = Some(match ENCRYPTION_VALUES.iter().find(|v| v.as_bytes() == fields[8]) {
                Some(known) => known,
                None => {
                    tuple.unknown_encryption = true;
                    new_value(fields[8]).ok_or(R::Encryption)?
                }
            });
            tuple.counters = counters(&fields[9..13])?;
        }
    }
    Ok(tuple)
}

/// An IANA protocol number as `u8::from_str` reads it (digits, or a `+` and digits).
fn protocol_number(field: &[u8]) -> Option<u8> {
    match digits(field) {
        Some(v) => u8::try_from(v).ok(),
        None => std::str::from_utf8(field).ok()?.parse().ok(),
    }
}

fn parse_time(field: &[u8]) -> Result<i64, R> {
    let v = digits(field).ok_or(R::Timestamp)?;
    let ms = if v < MS_THRESHOLD { v * 1000 } else { v };
    if ms == 0 || ms > MAX_MS as u64 {
        return Err(R::Timestamp);
    }
    Ok(ms as i64)
}

fn ip<'a>(field: &'a [u8], name: &'static str) -> Result<(&'a str, IpAddr), R> {
    // Dotted quads are nearly all addresses: read here; anything else goes to the standard parser.
    let text = std::str::from_utf8(field).map_err(|_| R::Ip(name))?;
    if let Some(v4) = ipv4(field) {
        return Ok((text, IpAddr::V4(v4.into())));
    }
    match field.contains(&b':').then(|| text.parse::<IpAddr>()) {
        Some(Ok(addr)) => Ok((text, addr)),
        _ => Err(R::Ip(name)),
    }
}

/// Whether `s` is an IPv4 address as `Ipv4Addr::from_str` accepts it.
#[cfg(test)]
fn is_ipv4(s: &[u8]) -> bool {
    ipv4(s).is_some()
}

/// Four decimal octets of at most 255, without leading zeros: what `Ipv4Addr::from_str` accepts.
fn ipv4(s: &[u8]) -> Option<u32> {
    let mut octets = 0;
    let mut addr = 0u32;
    let mut i = 0;
    loop {
        let start = i;
        let mut value = 0u32;
        while i < s.len() && s[i].is_ascii_digit() && i - start < 3 {
            value = value * 10 + u32::from(s[i] - b'0');
            i += 1;
        }
        let len = i - start;
        if len == 0 || value > 255 || (len > 1 && s[start] == b'0') {
            return None;
        }
        octets += 1;
        addr = addr << 8 | value;
        if i == s.len() {
            return (octets == 4).then_some(addr);
        }
        if s[i] != b'.' || octets == 4 {
            return None;
        }
        i += 1;
    }
}

fn port(field: &[u8], name: &'static str) -> Result<u16, R> {
    digits(field).and_then(|v| u16::try_from(v).ok()).ok_or(R::Port(name))
}

fn counters(fields: &[&[u8]]) -> Result<[Option<u64>; 4], R> {
    let mut out = [None; 4];
    for (i, f) in fields.iter().enumerate() {
        if !f.is_empty() {
            out[i] = Some(digits(f).ok_or(R::Counter(COUNTER_NAMES[i]))?);
        }
    }
    Ok(out)
}

/// Unsigned decimal without sign, spaces or overflow (`str::parse` would accept a leading `+`).
fn digits(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(v)
}

#[cfg(test)]
#[path = "tuple_tests.rs"]
mod tests;
