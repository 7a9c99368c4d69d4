//! Address text as the address cache's key: read as words where it lies, hashed and compared
//! word by word.
use super::addr_cache::Entry;

/// Longer than any textual IP address without an embedded IPv4 part (39 characters).
pub(crate) const MAX_KEY: usize = 40;
pub(crate) const WORDS: usize = MAX_KEY / 8;
/// Address text, read as zero-padded little-endian words where it lies: hashing and comparing
/// word by word never builds the words in memory first (a store-forwarding stall per address
/// when the first version did).
#[derive(Clone, Copy)]
pub(crate) struct Text<'a>(&'a [u8]);

impl<'a> Text<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Option<Self> {
        (!b.is_empty() && b.len() <= MAX_KEY).then_some(Text(b))
    }

    pub(crate) fn words(self) -> usize {
        self.0.len().div_ceil(8)
    }

    /// Word `i` (< `words()`), zero past the end of the text.
    #[inline(always)]
    pub(crate) fn word(self, i: usize) -> u64 {
        let b = self.0;
        let at = 8 * i;
        if b.len() >= at + 8 {
            return u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        }
        let tail = &b[at..];
        if b.len() >= 8 {
            // The last 8 bytes, shifted so the ones before this word fall off.
            let last = u64::from_le_bytes(b[b.len() - 8..].try_into().expect("8 bytes"));
            last >> (8 * (8 - tail.len()))
        } else if tail.len() >= 4 {
            let lo = u32::from_le_bytes(tail[..4].try_into().expect("4 bytes")) as u64;
            let hi = u32::from_le_bytes(tail[tail.len() - 4..].try_into().expect("4 bytes")) as u64;
            lo | hi << (8 * (tail.len() - 4))
        } else {
            tail.iter().rev().fold(0, |w, &c| w << 8 | u64::from(c))
        }
    }

    pub(crate) fn hash(self) -> u64 {
        let mut h = (self.0.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for i in 0..self.words() {
            h = (h ^ self.word(i)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            h ^= h >> 31;
        }
        h
    }

    /// Whether `e` holds this text (an entry's words past its length are zero).
    pub(crate) fn matches(self, e: &Entry) -> bool {
        usize::from(e.len) == self.0.len() && (0..self.words()).all(|i| e.words[i] == self.word(i))
    }

    pub(crate) fn key(self) -> ([u64; WORDS], u8) {
        let mut words = [0; WORDS];
        for (i, w) in words.iter_mut().enumerate().take(self.words()) {
            *w = self.word(i);
        }
        (words, self.0.len() as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-wise reads (whole words, the shifted last word, the two overlapping halves, the
    /// byte loop) agree with zero-padding the text, at every length.
    #[test]
    fn keys_equal_the_zero_padded_text() {
        let text: Vec<u8> = (0..MAX_KEY as u8).map(|i| b'0' + i % 75).collect();
        for len in 1..=MAX_KEY {
            let b = &text[..len];
            let mut padded = [0u8; MAX_KEY];
            padded[..len].copy_from_slice(b);
            let want: Vec<u64> = padded.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect();
            let (words, n) = Text::new(b).unwrap().key();
            assert_eq!(words.to_vec(), want, "length {len}");
            assert_eq!(n as usize, len);
        }
        assert!(Text::new(b"").is_none());
        assert!(Text::new(&[b'1'; MAX_KEY + 1]).is_none());
    }
}
