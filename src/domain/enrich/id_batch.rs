//! Community IDs written later, many at once: a row gets a placeholder of the ID's fixed length,
//! and the placeholders are filled when sixteen are waiting (hashed together in the lanes of
//! vector registers where the CPU can, see `sha1_lanes`) or before anyone reads the rows.
//!
//! The placeholders are positions in the encoder's buffer, so the buffer may only grow while
//! IDs wait: whoever reads, cuts or truncates it fills them first. The NDJSON encoder keeps its
//! buffer private and fills on every access, which holds that rule for all its callers.
use super::community_id::{LEN, encode};
use super::sha1_lanes::{MANY, hash_many};

/// Placeholder bytes: NUL, which no row holds, so an ID left unfilled is plain to see.
const UNFILLED: [u8; LEN] = [0; LEN];

pub struct IdBatch {
    blocks: Box<[[u8; 64]; MANY]>,
    /// Where each waiting ID goes in the buffer.
    at: [usize; MANY],
    waiting: usize,
}

impl Default for IdBatch {
    fn default() -> Self {
        IdBatch { blocks: Box::new([[0; 64]; MANY]), at: [0; MANY], waiting: 0 }
    }
}

impl IdBatch {
    /// Appends a placeholder for the Community ID of `message` to `out`; fills every waiting ID
    /// when the batch is full.
    pub fn push(&mut self, message: [u8; 64], out: &mut Vec<u8>) {
        self.blocks[self.waiting] = message;
        self.at[self.waiting] = out.len();
        out.extend_from_slice(&UNFILLED);
        self.waiting += 1;
        if self.waiting == MANY {
            self.fill(out);
        }
    }

    /// Writes every waiting ID into its placeholder in `out`, the buffer `push` appended to
    /// (grown since, never cut).
    pub fn fill(&mut self, out: &mut [u8]) {
        let n = std::mem::take(&mut self.waiting);
        if n == 0 {
            return;
        }
        let mut states = [[0u32; 5]; MANY];
        hash_many(&self.blocks[..n], &mut states[..n]);
        for (&at, state) in self.at[..n].iter().zip(states) {
            out[at..at + LEN].copy_from_slice(&encode(state));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.waiting == 0
    }
}

#[cfg(test)]
mod tests {
    use super::super::community_id::{community_id, message};
    use super::*;

    /// Filled at any count, the placeholders hold each message's own ID, in the rows around them.
    #[test]
    fn placeholders_hold_their_own_ids_whenever_filled() {
        let flow = |i: u32| {
            let (s, d) = (core::net::Ipv4Addr::from(0x0a00_0000 + i), core::net::Ipv4Addr::from(0xc633_6400 ^ i));
            (s.into(), d.into(), [6, 17, 1][i as usize % 3], (i * 7) as u16, 443)
        };
        for count in [0, 1, 15, 16, 17, 40] {
            let (mut batch, mut out, mut want) = (IdBatch::default(), Vec::new(), Vec::new());
            for i in 0..count {
                let (s, d, proto, sp, dp) = flow(i);
                for buf in [&mut out, &mut want] {
                    buf.extend_from_slice(format!("row {i}: ").as_bytes());
                }
                batch.push(message(s, d, proto, sp, dp), &mut out);
                want.extend_from_slice(&community_id(s, d, proto, sp, dp));
                out.push(b'\n');
                want.push(b'\n');
            }
            assert_eq!(batch.is_empty(), count % MANY as u32 == 0, "{count}");
            batch.fill(&mut out);
            assert!(batch.is_empty());
            assert_eq!(String::from_utf8(out).unwrap(), String::from_utf8(want).unwrap(), "{count} rows");
        }
    }
}
