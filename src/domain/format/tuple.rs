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
}

impl FlowState {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowState::Begin => "begin",
            FlowState::Continuing => "continuing",
            FlowState::End => "end",
            FlowState::Denied => "denied",
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
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: Protocol,
    pub direction: Direction,
    pub decision: Decision,
    pub state: Option<FlowState>,
    pub encryption: Option<&'a str>,
    /// packets src→dst, bytes src→dst, packets dst→src, bytes dst→src; `None` when absent.
    pub counters: [Option<u64>; 4],
}

/// Timestamps below this are seconds, at or above it milliseconds: 1e11 s is the year 5138,
/// 1e11 ms is March 1973, so no real flow time is ambiguous.
const MS_THRESHOLD: u64 = 100_000_000_000;

const COUNTER_NAMES: [&str; 4] = ["packets_src_to_dst", "bytes_src_to_dst", "packets_dst_to_src", "bytes_dst_to_src"];

/// Parses one tuple of the given layout.
pub fn parse_tuple<'a>(layout: Layout, text: &'a str, ordinal: u32) -> Result<Tuple<'a>, R> {
    let mut fields = [""; 13];
    let mut n = 0;
    for field in text.split(',') {
        if n == fields.len() {
            return Err(R::FieldCount { expected: layout.tuple_fields(), found: text.split(',').count() });
        }
        fields[n] = field;
        n += 1;
    }
    if n != layout.tuple_fields() {
        return Err(R::FieldCount { expected: layout.tuple_fields(), found: n });
    }
    let time_ms = parse_time(fields[0])?;
    let src_ip = ip(fields[1], "src_ip")?;
    let dst_ip = ip(fields[2], "dst_ip")?;
    let src_port = port(fields[3], "src_port")?;
    let dst_port = port(fields[4], "dst_port")?;
    let direction = match fields[6] {
        "I" => Direction::Inbound,
        "O" => Direction::Outbound,
        _ => return Err(R::Direction),
    };
    let mut tuple = Tuple {
        ordinal,
        time_ms,
        src_ip,
        dst_ip,
        src_port,
        dst_port,
        protocol: Protocol::TCP,
        direction,
        decision: Decision::Allow,
        state: None,
        encryption: None,
        counters: [None; 4],
    };
    match layout {
        Layout::NsgV1 | Layout::NsgV2 => {
            tuple.protocol = match fields[5] {
                "T" => Protocol::TCP,
                "U" => Protocol::UDP,
                _ => return Err(R::Protocol),
            };
            tuple.decision = match fields[7] {
                "A" => Decision::Allow,
                "D" => Decision::Deny,
                _ => return Err(R::Decision),
            };
            if layout == Layout::NsgV2 {
                tuple.state = Some(match fields[8] {
                    "B" => FlowState::Begin,
                    "C" => FlowState::Continuing,
                    "E" => FlowState::End,
                    _ => return Err(R::State),
                });
                tuple.counters = counters(&fields[9..13])?;
            }
        }
        Layout::VnetV4 => {
            tuple.protocol = Protocol { number: fields[5].parse().map_err(|_| R::Protocol)? };
            let state = match fields[7] {
                "B" => FlowState::Begin,
                "C" => FlowState::Continuing,
                "E" => FlowState::End,
                "D" => FlowState::Denied,
                _ => return Err(R::State),
            };
            tuple.state = Some(state);
            tuple.decision = if state == FlowState::Denied { Decision::Deny } else { Decision::Allow };
            let enc = fields[8];
            if !ENCRYPTION_VALUES.contains(&enc) {
                return Err(R::Encryption);
            }
            tuple.encryption = Some(enc);
            tuple.counters = counters(&fields[9..13])?;
        }
    }
    Ok(tuple)
}

fn parse_time(field: &str) -> Result<i64, R> {
    let v = digits(field).ok_or(R::Timestamp)?;
    let ms = if v < MS_THRESHOLD { v * 1000 } else { v };
    if ms == 0 || ms > MAX_MS as u64 {
        return Err(R::Timestamp);
    }
    Ok(ms as i64)
}

fn ip<'a>(field: &'a str, name: &'static str) -> Result<&'a str, R> {
    field.parse::<IpAddr>().map(|_| field).map_err(|_| R::Ip(name))
}

fn port(field: &str, name: &'static str) -> Result<u16, R> {
    digits(field).and_then(|v| u16::try_from(v).ok()).ok_or(R::Port(name))
}

fn counters(fields: &[&str]) -> Result<[Option<u64>; 4], R> {
    let mut out = [None; 4];
    for (i, f) in fields.iter().enumerate() {
        if !f.is_empty() {
            out[i] = Some(digits(f).ok_or(R::Counter(COUNTER_NAMES[i]))?);
        }
    }
    Ok(out)
}

/// Unsigned decimal without sign, spaces or overflow (`str::parse` would accept a leading `+`).
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
#[path = "tuple_tests.rs"]
mod tests;
