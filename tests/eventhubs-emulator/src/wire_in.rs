//! The read half of the transport shim: repairs the SDK's oversize single sends.
//!
//! Why: for a message larger than the link's `max-message-size`, the SDK's fe2o3 0.14 client
//! splits the delivery into link-level chunks of that size, and when there is no middle chunk it
//! sends the last one with the first chunk's delivery tag, so its session assigns it a *new*
//! delivery id. fe2o3 0.18 rightly detaches such a delivery (`amqp:not-allowed`) and the
//! client, waiting for a disposition, hangs. Azure would reject the transfer with
//! `amqp:link:message-size-exceeded`; to let the emulator do the same, continuation transfers
//! of an open delivery are stripped of their (wrong) delivery id, tag and format here, so the
//! whole message arrives and `publish` can reject it.

use crate::cbs_links::CbsLinks;
use fe2o3_types::performatives::Transfer;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Frames up to this size are buffered whole; larger ones (never sent under the negotiated
/// 64 KiB frame size) pass through untouched.
const INSPECT_LIMIT: usize = 1024 * 1024;

/// Incoming byte stream state.
#[derive(Debug, Default)]
pub(crate) struct IncomingFrames {
    /// Bytes read from the socket, not yet framed.
    pub raw: Vec<u8>,
    /// Framed (and possibly repaired) bytes for fe2o3.
    pub ready: Vec<u8>,
    passthrough: usize,
    /// (channel, handle) with a delivery in progress, to the delivery id it started with.
    open: HashMap<(u16, u32), u32>,
    /// The connection's `$cbs` links, told of each frame in the order it arrived.
    pub cbs_links: Arc<Mutex<CbsLinks>>,
}

impl IncomingFrames {
    pub fn new(cbs_links: Arc<Mutex<CbsLinks>>) -> Self {
        Self { cbs_links, ..Self::default() }
    }

    /// Moves complete frames from `raw` to `ready`; `eof` flushes whatever is left.
    pub fn process(&mut self, eof: bool) {
        loop {
            if self.passthrough > 0 {
                let n = self.passthrough.min(self.raw.len());
                self.ready.extend(self.raw.drain(..n));
                self.passthrough -= n;
                if self.raw.is_empty() {
                    return;
                }
                continue;
            }
            if self.raw.starts_with(b"AMQP") && self.raw.len() >= 8 {
                self.ready.extend(self.raw.drain(..8));
                continue;
            }
            if self.raw.len() < 8 {
                break;
            }
            let size = u32::from_be_bytes(self.raw[..4].try_into().unwrap()) as usize;
            if !(8..=INSPECT_LIMIT).contains(&size) {
                self.passthrough = size.max(8);
                continue;
            }
            if self.raw.len() < size {
                break;
            }
            let frame: Vec<u8> = self.raw.drain(..size).collect();
            self.cbs_links.lock().unwrap().observe(&frame);
            let frame = self.repair(&frame).unwrap_or(frame);
            match crate::wire_pad::shrink_client_open(&frame) {
                Some(shrunk) => self.ready.extend(shrunk),
                None => self.ready.extend(frame),
            }
        }
        if eof {
            self.ready.append(&mut self.raw);
        }
    }

    /// Tracks deliveries per link; returns a rewritten frame for a continuation transfer that
    /// carries a different delivery id than the one its delivery started with.
    fn repair(&mut self, frame: &[u8]) -> Option<Vec<u8>> {
        let (doff, frame_type) = (frame[4] as usize * 4, frame[5]);
        if frame_type != 0 || doff < 8 || frame.get(doff..doff + 3) != Some(&[0x00, 0x53, 0x14]) {
            return None;
        }
        let channel = u16::from_be_bytes([frame[6], frame[7]]);
        let end = doff + 3 + list_len(frame.get(doff + 3..)?)?;
        let mut transfer: Transfer = serde_amqp::from_slice(frame.get(doff..end)?).ok()?;
        let key = (channel, transfer.handle.0);
        let started = self.open.get(&key).copied();
        if transfer.aborted || !transfer.more {
            self.open.remove(&key);
        } else if let (None, Some(id)) = (started, transfer.delivery_id) {
            self.open.insert(key, id);
        }
        match (started, transfer.delivery_id) {
            (Some(first), Some(id)) if id != first => {
                tracing::debug!(first, id, "repairing a continuation transfer of an oversize send");
                transfer.delivery_id = None;
                transfer.delivery_tag = None;
                transfer.message_format = None;
            }
            _ => return None,
        }
        let performative = serde_amqp::to_vec(&transfer).ok()?;
        let mut out = Vec::with_capacity(frame.len());
        out.extend_from_slice(&((doff + performative.len() + frame.len() - end) as u32).to_be_bytes());
        out.extend_from_slice(&frame[4..doff]);
        out.extend_from_slice(&performative);
        out.extend_from_slice(&frame[end..]);
        Some(out)
    }
}

/// Encoded length of the AMQP list starting at `bytes[0]` (list0, list8 or list32).
fn list_len(bytes: &[u8]) -> Option<usize> {
    match bytes.first()? {
        0x45 => Some(1),
        0xc0 => Some(2 + *bytes.get(1)? as usize),
        0xd0 => Some(5 + u32::from_be_bytes(bytes.get(1..5)?.try_into().ok()?) as usize),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fe2o3_types::definitions::{DeliveryTag, Handle};

    fn frame(delivery_id: Option<u32>, tag: Option<u8>, more: bool, payload: &[u8]) -> Vec<u8> {
        let transfer = Transfer {
            handle: Handle(3),
            delivery_id,
            delivery_tag: tag.map(|t| DeliveryTag::from(vec![t])),
            message_format: tag.map(|_| 0),
            settled: None,
            more,
            rcv_settle_mode: None,
            state: None,
            resume: false,
            aborted: false,
            batchable: false,
        };
        let body = serde_amqp::to_vec(&transfer).unwrap();
        let mut f = ((8 + body.len() + payload.len()) as u32).to_be_bytes().to_vec();
        f.extend_from_slice(&[2, 0, 0, 5]);
        f.extend(body);
        f.extend_from_slice(payload);
        f
    }

    fn decode(frame: &[u8]) -> (Transfer, Vec<u8>) {
        let end = 8 + 3 + list_len(&frame[11..]).unwrap();
        (serde_amqp::from_slice(&frame[8..end]).unwrap(), frame[end..].to_vec())
    }

    #[test]
    fn restarted_delivery_ids_are_removed_from_continuations() {
        let mut incoming = IncomingFrames::default();
        let first = frame(Some(7), Some(1), true, b"head");
        let middle = frame(None, None, true, b"mid");
        let last = frame(Some(8), Some(1), false, b"tail");
        for f in [&first, &middle, &last] {
            incoming.raw.extend_from_slice(f);
        }
        incoming.process(false);
        let out = incoming.ready;
        assert_eq!(&out[..first.len() + middle.len()], [first.clone(), middle.clone()].concat());
        let (repaired, payload) = decode(&out[first.len() + middle.len()..]);
        assert_eq!((repaired.delivery_id, repaired.delivery_tag, repaired.more), (None, None, false));
        assert_eq!(payload, b"tail");
        // A new delivery afterwards is left alone.
        let mut incoming = IncomingFrames { raw: frame(Some(9), Some(2), false, b"x"), ..Default::default() };
        incoming.process(false);
        assert_eq!(decode(&incoming.ready).0.delivery_id, Some(9));
    }
}
