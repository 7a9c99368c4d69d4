//! Partition logs: sequence numbers, offsets and enqueued times assigned the way Event Hubs does,
//! kept in memory and optionally mirrored to an append-only file per partition.

use crate::persist::PartitionFile;
use bytes::Bytes;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// One event as stored: the publisher's encoded AMQP message plus the service-assigned position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Starts at 0 in every partition and grows by 1.
    pub sequence_number: i64,
    /// Byte position of the event in the partition (what Azure's offsets were); handed to
    /// clients as a decimal string.
    pub offset: u64,
    /// Server UTC time of acceptance, milliseconds since the Unix epoch.
    pub enqueued_ms: i64,
    /// The `x-opt-partition-key` annotation, when the publisher set one.
    pub partition_key: Option<String>,
    /// The message exactly as published (a batch is stored as its inner messages).
    pub message: Bytes,
}

#[derive(Debug, Default)]
struct Log {
    events: Vec<Arc<StoredEvent>>,
    next_offset: u64,
    last_enqueued_ms: i64,
}

/// One partition of one hub.
#[derive(Debug)]
pub struct Partition {
    /// Partition id (`"0"`, `"1"`, ...).
    pub id: String,
    log: Mutex<Log>,
    file: Option<Mutex<PartitionFile>>,
    /// Number of stored events; receivers wait on it for new events.
    len: watch::Sender<usize>,
}

/// What the `$management` partition READ reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSummary {
    /// First available sequence number (0: nothing expires in the emulator).
    pub begin_sequence_number: i64,
    /// -1 when empty.
    pub last_sequence_number: i64,
    /// "-1" when empty.
    pub last_offset: String,
    /// 0 (the epoch) when empty.
    pub last_enqueued_ms: i64,
    /// No events at all.
    pub is_empty: bool,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Partition {
    /// An in-memory partition, or one backed by (and reloaded from) `dir/<id>.log`.
    pub fn open(id: String, dir: Option<&Path>) -> std::io::Result<Self> {
        let mut log = Log::default();
        let file = match dir {
            Some(dir) => {
                let (file, events) = PartitionFile::open(&dir.join(format!("{id}.log")))?;
                for event in events {
                    log.next_offset = event.offset + event.message.len() as u64;
                    log.last_enqueued_ms = event.enqueued_ms;
                    log.events.push(Arc::new(event));
                }
                Some(Mutex::new(file))
            }
            None => None,
        };
        let len = watch::channel(log.events.len()).0;
        Ok(Self { id, log: Mutex::new(log), file, len })
    }

    /// Appends events (one transfer: a single message or the contents of a batch) atomically;
    /// they share one enqueued time, as on the service. Returns the stored events.
    pub fn append(&self, messages: Vec<(Bytes, Option<String>)>) -> std::io::Result<Vec<Arc<StoredEvent>>> {
        let mut log = self.log.lock().unwrap();
        // Enqueued times never go backwards within a partition, even if the clock does.
        let enqueued_ms = now_ms().max(log.last_enqueued_ms);
        let mut stored = Vec::with_capacity(messages.len());
        for (message, partition_key) in messages {
            let event = StoredEvent {
                sequence_number: (log.events.len() + stored.len()) as i64,
                offset: log.next_offset,
                enqueued_ms,
                partition_key,
                message,
            };
            log.next_offset += event.message.len() as u64;
            stored.push(Arc::new(event));
        }
        if let Some(file) = &self.file {
            // Write before publishing in memory: an event a client saw acknowledged survives a
            // restart (the OS keeps the bytes even if the emulator is killed).
            file.lock().unwrap().append(&stored)?;
        }
        log.last_enqueued_ms = enqueued_ms;
        log.events.extend(stored.iter().cloned());
        let len = log.events.len();
        drop(log);
        self.len.send_replace(len);
        Ok(stored)
    }

    /// The event with this sequence number, if stored.
    pub fn get(&self, sequence_number: usize) -> Option<Arc<StoredEvent>> {
        self.log.lock().unwrap().events.get(sequence_number).cloned()
    }

    /// Number of stored events (= the next sequence number).
    pub fn len(&self) -> usize {
        self.log.lock().unwrap().events.len()
    }

    /// Watches the number of stored events.
    pub fn subscribe(&self) -> watch::Receiver<usize> {
        self.len.subscribe()
    }

    /// First index whose event satisfies `pred`, or `len()` when none does (events are ordered
    /// by sequence number, offset and enqueued time alike, so a binary search is valid).
    pub fn first_index(&self, pred: impl Fn(&StoredEvent) -> bool) -> usize {
        let log = self.log.lock().unwrap();
        log.events.partition_point(|e| !pred(e))
    }

    /// Figures for the `$management` partition READ.
    pub fn summary(&self) -> PartitionSummary {
        let log = self.log.lock().unwrap();
        match log.events.last() {
            Some(last) => PartitionSummary {
                begin_sequence_number: 0,
                last_sequence_number: last.sequence_number,
                last_offset: last.offset.to_string(),
                last_enqueued_ms: last.enqueued_ms,
                is_empty: false,
            },
            None => PartitionSummary {
                begin_sequence_number: 0,
                last_sequence_number: -1,
                last_offset: "-1".to_string(),
                last_enqueued_ms: 0,
                is_empty: true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(s: &str) -> (Bytes, Option<String>) {
        (Bytes::copy_from_slice(s.as_bytes()), None)
    }

    #[test]
    fn assigns_sequence_numbers_and_byte_offsets() {
        let p = Partition::open("0".into(), None).unwrap();
        assert!(p.summary().is_empty);
        p.append(vec![msg("aaa"), msg("bb")]).unwrap();
        p.append(vec![msg("c")]).unwrap();
        let offsets: Vec<_> = (0..3).map(|i| p.get(i).unwrap().offset).collect();
        assert_eq!(offsets, vec![0, 3, 5]);
        assert_eq!(p.summary().last_sequence_number, 2);
        assert_eq!(p.summary().last_offset, "5");
        assert_eq!(p.first_index(|e| e.offset > 3), 2);
        assert_eq!(p.first_index(|e| e.sequence_number >= 9), 3);
    }

    #[test]
    fn reloads_from_disk_with_same_positions() {
        let dir = tempfile::tempdir().unwrap();
        {
            let p = Partition::open("1".into(), Some(dir.path())).unwrap();
            p.append(vec![msg("hello"), (Bytes::from_static(b"x"), Some("k".into()))]).unwrap();
        }
        let p = Partition::open("1".into(), Some(dir.path())).unwrap();
        assert_eq!(p.len(), 2);
        let e = p.get(1).unwrap();
        assert_eq!((e.sequence_number, e.offset), (1, 5));
        assert_eq!(e.partition_key.as_deref(), Some("k"));
        p.append(vec![msg("z")]).unwrap();
        assert_eq!(p.get(2).unwrap().offset, 6);
    }
}
