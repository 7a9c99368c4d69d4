//! Append-only partition files: one record per event, so a restarted emulator (or one killed
//! mid-write) reloads every complete event with its original sequence number and offset.
//!
//! Record layout (little endian): `u32 body_len`, then the body: `i64 sequence_number`,
//! `u64 offset`, `i64 enqueued_ms`, `u32 key_len` (`u32::MAX` = no key), key bytes, message bytes.

use crate::store::StoredEvent;
use bytes::Bytes;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

const NO_KEY: u32 = u32::MAX;
const FIXED: usize = 8 + 8 + 8 + 4;

/// An open partition file positioned at its end.
#[derive(Debug)]
pub struct PartitionFile {
    file: File,
}

impl PartitionFile {
    /// Opens (creating if needed) the file and reads every complete record. A torn record at the
    /// end (a crash during a write) is cut off so later appends start on a record boundary.
    pub fn open(path: &Path) -> io::Result<(Self, Vec<StoredEvent>)> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(path)?;
        let mut data = Vec::new();
        file.read_to_end(&mut data)?;
        let (events, valid) = decode_all(&data);
        if valid < data.len() {
            tracing::warn!(path = %path.display(), dropped = data.len() - valid, "cutting torn record");
            file.set_len(valid as u64)?;
        }
        file.seek(SeekFrom::End(0))?;
        Ok((Self { file }, events))
    }

    /// Appends the events in one write.
    pub fn append(&mut self, events: &[Arc<StoredEvent>]) -> io::Result<()> {
        let mut buf = Vec::new();
        for event in events {
            encode(event, &mut buf);
        }
        self.file.write_all(&buf)
    }
}

fn encode(event: &StoredEvent, buf: &mut Vec<u8>) {
    let key = event.partition_key.as_deref().map(str::as_bytes);
    let body_len = FIXED + key.map_or(0, <[u8]>::len) + event.message.len();
    buf.extend_from_slice(&(body_len as u32).to_le_bytes());
    buf.extend_from_slice(&event.sequence_number.to_le_bytes());
    buf.extend_from_slice(&event.offset.to_le_bytes());
    buf.extend_from_slice(&event.enqueued_ms.to_le_bytes());
    match key {
        Some(key) => {
            buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
            buf.extend_from_slice(key);
        }
        None => buf.extend_from_slice(&NO_KEY.to_le_bytes()),
    }
    buf.extend_from_slice(&event.message);
}

/// Decodes complete records; returns them and the number of bytes they span.
fn decode_all(data: &[u8]) -> (Vec<StoredEvent>, usize) {
    let mut events = Vec::new();
    let mut pos = 0;
    while let Some((event, next)) = decode_one(data, pos) {
        events.push(event);
        pos = next;
    }
    (events, pos)
}

fn decode_one(data: &[u8], pos: usize) -> Option<(StoredEvent, usize)> {
    let u32_at = |p: usize| Some(u32::from_le_bytes(data.get(p..p + 4)?.try_into().ok()?));
    let u64_at = |p: usize| Some(u64::from_le_bytes(data.get(p..p + 8)?.try_into().ok()?));
    let body_len = u32_at(pos)? as usize;
    let body = pos + 4;
    let end = body.checked_add(body_len)?;
    if body_len < FIXED || end > data.len() {
        return None;
    }
    let key_len = u32_at(body + 24)?;
    let mut cursor = body + FIXED;
    let partition_key = if key_len == NO_KEY {
        None
    } else {
        let key = data.get(cursor..cursor + key_len as usize)?;
        cursor += key_len as usize;
        Some(String::from_utf8(key.to_vec()).ok()?)
    };
    if cursor > end {
        return None;
    }
    let event = StoredEvent {
        sequence_number: u64_at(body)? as i64,
        offset: u64_at(body + 8)?,
        enqueued_ms: u64_at(body + 16)? as i64,
        partition_key,
        message: Bytes::copy_from_slice(&data[cursor..end]),
    };
    Some((event, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let event = Arc::new(StoredEvent {
            sequence_number: 0,
            offset: 0,
            enqueued_ms: 42,
            partition_key: None,
            message: Bytes::from_static(b"abc"),
        });
        {
            let (mut f, events) = PartitionFile::open(&path).unwrap();
            assert!(events.is_empty());
            f.append(std::slice::from_ref(&event)).unwrap();
        }
        let full = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(&[9, 9, 9]).unwrap();
        let (_, events) = PartitionFile::open(&path).unwrap();
        assert_eq!(events, vec![(*event).clone()]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), full);
    }
}
