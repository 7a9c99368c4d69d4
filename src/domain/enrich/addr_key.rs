//! The address cache's key: the parsed address as two words, so a probe hashes and compares two
//! integers, and every spelling of an address (`::ffff:1.2.3.4`, `::ffff:102:304`) is one entry.
//! The tuple parser has parsed every address already.
use core::net::IpAddr;

use super::addr_cache::Entry;

/// An address as cache key: IPv4 in the low half of the first word (length 4), IPv6 as its two
/// halves (length 16). Length 0 marks an empty slot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Key {
    pub(crate) words: [u64; 2],
    pub(crate) len: u8,
}

impl Key {
    pub(crate) const EMPTY: Key = Key { words: [0; 2], len: 0 };

    pub(crate) fn of(ip: IpAddr) -> Key {
        match ip {
            IpAddr::V4(v4) => Key { words: [u64::from(u32::from(v4)), 0], len: 4 },
            IpAddr::V6(v6) => {
                let b = u128::from(v6);
                Key { words: [(b >> 64) as u64, b as u64], len: 16 }
            }
        }
    }

    /// Mixed so that the low bits the table indexes by depend on every bit of the address.
    pub(crate) fn hash(self) -> u64 {
        let mut h =
            (self.words[0] ^ self.words[1].rotate_left(32) ^ u64::from(self.len)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 32;
        h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^ (h >> 29)
    }

    #[inline]
    pub(crate) fn matches(self, e: &Entry) -> bool {
        e.key == self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Addresses that differ in one bit, in either family, spread over the table's slots, and
    /// an IPv4 address is never the key of the IPv6 address with the same low bits.
    #[test]
    fn keys_are_distinct_and_spread() {
        let slots =
            |keys: Vec<Key>| keys.iter().map(|k| k.hash() & 4095).collect::<std::collections::HashSet<_>>().len();
        let v4: Vec<Key> = (0..4096u32).map(|n| Key::of(IpAddr::V4((0x0a00_0000 + n).into()))).collect();
        let v6: Vec<Key> =
            (0..4096u128).map(|n| Key::of(IpAddr::V6((0x2001_0db8u128 << 96 | n << 64).into()))).collect();
        assert!(slots(v4) > 2400 && slots(v6) > 2400);
        let four = Key::of("1.2.3.4".parse().unwrap());
        assert_ne!(four, Key::of("::1.2.3.4".parse().unwrap()));
        assert_eq!(Key::of("::ffff:1.2.3.4".parse().unwrap()), Key::of("::ffff:102:304".parse().unwrap()));
    }
}
