//! Full-length performatives, as the service sends them.
//!
//! Why: AMQP lets a peer omit a performative's trailing null (or default) fields, and fe2o3's
//! encoder does (an `open` goes out with 4 of its 10 fields, a `transfer` with 6 of 11).
//! Microsoft's service always sends every field, and the Python SDK's own AMQP stack (pyamqp)
//! indexes the fields by position without bounds checks: a short `open` fails its connection
//! with `IndexError: list index out of range` (surfacing as `EventHubError: list index out of
//! range` on the first management call or send), a short `attach` detaches the link right after
//! its attach, and a short `transfer` shifts where it looks for the payload. So every outgoing
//! performative is padded with nulls to its full field count, which changes nothing for a
//! conforming peer (null is every field's default).
//!
//! Padding adds at most 14 bytes to a frame, so the client's `open` is rewritten on the way in
//! to announce a `max-frame-size` smaller by [`FRAME_ROOM`]: fe2o3 then leaves that much room in
//! every frame it fills.

use fe2o3_types::performatives::Open;

/// Bytes fe2o3 must leave free in each frame for padding (at most 14 nulls plus the longer list
/// header: 14 + 9 - 1 < 32).
pub(crate) const FRAME_ROOM: u32 = 32;

/// Largest max-frame-size passed on to fe2o3: the write shim inspects frames up to 64 KiB.
const MAX_FRAME: u32 = 64 * 1024 - FRAME_ROOM;

/// The number of fields of an AMQP performative (frame type 0) or SASL frame (type 1) by its
/// descriptor code, per the AMQP 1.0 specification.
fn full_field_count(frame_type: u8, code: u8) -> Option<usize> {
    Some(match (frame_type, code) {
        (0, 0x10) => 10,                        // open
        (0, 0x11) => 8,                         // begin
        (0, 0x12) => 14,                        // attach
        (0, 0x13) => 11,                        // flow
        (0, 0x14) => 11,                        // transfer
        (0, 0x15) => 6,                         // disposition
        (0, 0x16) => 3,                         // detach
        (0, 0x17) | (0, 0x18) => 1,             // end, close
        (1, 0x40) | (1, 0x42) | (1, 0x43) => 1, // sasl-mechanisms, -challenge, -response
        (1, 0x41) => 3,                         // sasl-init
        (1, 0x44) => 2,                         // sasl-outcome
        _ => return None,
    })
}

/// (header length, encoded length, field count) of the list at the start of `bytes`.
fn list_header(bytes: &[u8]) -> Option<(usize, usize, usize)> {
    match bytes.first()? {
        0x45 => Some((1, 1, 0)),
        0xc0 => Some((3, 2 + *bytes.get(1)? as usize, *bytes.get(2)? as usize)),
        0xd0 => {
            let size = u32::from_be_bytes(bytes.get(1..5)?.try_into().ok()?) as usize;
            let count = u32::from_be_bytes(bytes.get(5..9)?.try_into().ok()?) as usize;
            Some((9, 5 + size, count))
        }
        _ => None,
    }
}

/// The frame with its performative padded to full length, or `None` when it already is full
/// length or is not a frame this understands (it then goes out unchanged).
pub(crate) fn pad(frame: &[u8]) -> Option<Vec<u8>> {
    let (doff, frame_type) = (*frame.get(4)? as usize * 4, *frame.get(5)?);
    if doff < 8 || frame.get(doff..doff + 2)? != [0x00, 0x53] {
        return None;
    }
    let full = full_field_count(frame_type, *frame.get(doff + 2)?)?;
    let list_at = doff + 3;
    let (header, encoded, count) = list_header(frame.get(list_at..)?)?;
    if count >= full || frame.len() < list_at + encoded {
        return None;
    }
    let fields = &frame[list_at + header..list_at + encoded];
    let body_len = fields.len() + (full - count);
    let mut out = Vec::with_capacity(frame.len() + 32);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&frame[4..list_at]);
    out.push(0xd0);
    out.extend_from_slice(&((body_len + 4) as u32).to_be_bytes());
    out.extend_from_slice(&(full as u32).to_be_bytes());
    out.extend_from_slice(fields);
    out.resize(out.len() + (full - count), 0x40);
    out.extend_from_slice(&frame[list_at + encoded..]);
    let size = out.len() as u32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Some(out)
}

/// The client's `open` frame with a `max-frame-size` that leaves [`FRAME_ROOM`] bytes for
/// padding (and stays within what the write shim inspects); `None` for any other frame.
pub(crate) fn shrink_client_open(frame: &[u8]) -> Option<Vec<u8>> {
    let (doff, frame_type) = (*frame.get(4)? as usize * 4, *frame.get(5)?);
    if frame_type != 0 || doff < 8 || frame.get(doff..doff + 3)? != [0x00, 0x53, 0x10] {
        return None;
    }
    let mut open: Open = serde_amqp::from_slice(&frame[doff..]).ok()?;
    let announced = u32::from(open.max_frame_size);
    open.max_frame_size = announced.saturating_sub(FRAME_ROOM).clamp(512, MAX_FRAME).into();
    let body = serde_amqp::to_vec(&open).ok()?;
    let mut out = Vec::with_capacity(doff + body.len());
    out.extend_from_slice(&((doff + body.len()) as u32).to_be_bytes());
    out.extend_from_slice(&frame[4..doff]);
    out.extend_from_slice(&body);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(frame_type: u8, performative: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut f = ((8 + performative.len() + payload.len()) as u32).to_be_bytes().to_vec();
        f.extend_from_slice(&[2, frame_type, 0, 0]);
        f.extend_from_slice(performative);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn short_performatives_get_every_field_and_keep_their_payload() {
        // transfer(handle=0, delivery-id=0) + payload "xy": list8 with 2 fields.
        let short = frame(0, &[0x00, 0x53, 0x14, 0xc0, 0x03, 0x02, 0x43, 0x43], b"xy");
        let padded = pad(&short).unwrap();
        assert_eq!(u32::from_be_bytes(padded[..4].try_into().unwrap()) as usize, padded.len());
        let (header, encoded, count) = list_header(&padded[11..]).unwrap();
        assert_eq!((header, count), (9, 11));
        assert_eq!(&padded[11 + header..11 + header + 2], &[0x43, 0x43]);
        assert!(padded[11 + header + 2..11 + encoded].iter().all(|b| *b == 0x40));
        assert_eq!(&padded[11 + encoded..], b"xy");
        // An empty close (list0) becomes close(null).
        let close = pad(&frame(0, &[0x00, 0x53, 0x18, 0x45], b"")).unwrap();
        assert_eq!(&close[8..], &[0x00, 0x53, 0x18, 0xd0, 0, 0, 0, 5, 0, 0, 0, 1, 0x40]);
    }

    #[test]
    fn full_and_unknown_frames_are_left_alone() {
        let full_end = frame(0, &[0x00, 0x53, 0x17, 0xc0, 0x02, 0x01, 0x40], b"");
        assert!(pad(&full_end).is_none());
        assert!(pad(&frame(0, &[0x00, 0x53, 0x77, 0x45], b"")).is_none());
        assert!(pad(b"AMQP\x00\x01\x00\x00").is_none());
    }

    #[test]
    fn the_client_open_announces_room_for_padding() {
        let open = Open {
            container_id: "client".into(),
            hostname: None,
            max_frame_size: 65_536.into(),
            channel_max: 16.into(),
            idle_time_out: None,
            outgoing_locales: None,
            incoming_locales: None,
            offered_capabilities: None,
            desired_capabilities: None,
            properties: None,
        };
        let shrunk = shrink_client_open(&frame(0, &serde_amqp::to_vec(&open).unwrap(), b"")).unwrap();
        let decoded: Open = serde_amqp::from_slice(&shrunk[8..]).unwrap();
        assert_eq!(u32::from(decoded.max_frame_size), 65_536 - FRAME_ROOM);
        assert_eq!(decoded.container_id, "client");
    }
}
