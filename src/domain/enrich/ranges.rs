//! Sorted, non-overlapping address ranges with a value each, built from ip-location-db's CSV
//! range files or by painting prefixes; a lookup allocates nothing.
//!
//! A plain binary search over half a million starts (ip-location-db's IPv4 ASN file) misses the
//! cache at nearly every one of its 19 steps when addresses are new each time: about a
//! microsecond a lookup. A first-level table by the key's top 16 bits (256 KiB) narrows the
//! search to the ranges starting in that /16 (for IPv4 a handful, one or two cache lines), and
//! each range's end and value sit together, so a lookup touches about four lines.
use core::net::IpAddr;
use std::collections::BTreeMap;

/// An address as a number of its family's width.
pub trait Key: Copy + Ord + std::fmt::Debug {
    const ZERO: Self;
    const MAX: Self;
    fn succ(self) -> Self;
    fn pred(self) -> Self;
    /// The top 16 bits: the first-level table's slot.
    fn top16(self) -> usize;
}

/// `Key` for an unsigned integer type: its top 16 bits pick the slot.
macro_rules! key {
    ($($t:ty),*) => {$(
        impl Key for $t {
            const ZERO: Self = 0;
            const MAX: Self = <$t>::MAX;
            fn top16(self) -> usize {
                (self >> (<$t>::BITS - 16)) as usize
            }
            fn succ(self) -> Self {
                self + 1
            }
            fn pred(self) -> Self {
                self - 1
            }
        }
    )*};
}

key!(u32, u64, u128);

/// Slots of the first-level table, and one more for the end of the last.
const SLOTS: usize = 1 << 16;

/// Ranges `[start, end]` sorted by start, never overlapping.
#[derive(Debug, Clone)]
pub struct RangeTable<K, V> {
    starts: Vec<K>,
    /// Each range's end and value, side by side: a hit reads one place.
    tails: Vec<(K, V)>,
    /// `first[h]`: the first range starting at or after slot `h`'s first key (`SLOTS + 1`
    /// entries, empty while there are no ranges).
    first: Vec<u32>,
}

impl<K: Key, V: Copy> Default for RangeTable<K, V> {
    fn default() -> Self {
        RangeTable { starts: Vec::new(), tails: Vec::new(), first: Vec::new() }
    }
}

impl<K: Key, V: Copy> RangeTable<K, V> {
    /// From ranges in any order. Where ranges overlap (real files have a few: an allocation
    /// and a more specific one inside or across its end) the narrower range wins. A range that
    /// ends before it starts is an error naming it.
    pub fn from_ranges(mut ranges: Vec<(K, K, V)>) -> Result<Self, (K, K)>
    where
        K: std::ops::Sub<Output = K>,
    {
        if let Some(&(s, e, _)) = ranges.iter().find(|r| r.0 > r.1) {
            return Err((s, e));
        }
        ranges.sort_by_key(|r| r.0);
        if ranges.windows(2).any(|w| w[0].1 >= w[1].0) {
            // Only each run of ranges that overlap one another is painted (widest first, so
            // narrower ranges paint over them); the others, nearly all, are taken as they are.
            let mut flat = Vec::with_capacity(ranges.len());
            let mut i = 0;
            while i < ranges.len() {
                let (mut j, mut end) = (i + 1, ranges[i].1);
                while j < ranges.len() && ranges[j].0 <= end {
                    end = end.max(ranges[j].1);
                    j += 1;
                }
                if j == i + 1 {
                    flat.push(ranges[i]);
                } else {
                    let mut run = ranges[i..j].to_vec();
                    run.sort_by(|a, b| (b.1 - b.0).cmp(&(a.1 - a.0)).then(a.0.cmp(&b.0)));
                    flat.extend(paint(run));
                }
                i = j;
            }
            ranges = flat;
        }
        Ok(Self::sorted(ranges))
    }

    /// From possibly nested prefixes: later ranges paint over earlier ones where they overlap,
    /// so callers pass the least specific first.
    pub fn painted(ranges: impl IntoIterator<Item = (K, K, V)>) -> Self {
        Self::sorted(paint(ranges))
    }

    /// From ranges sorted by start, not overlapping.
    fn sorted(ranges: Vec<(K, K, V)>) -> Self {
        let mut t = RangeTable {
            starts: ranges.iter().map(|r| r.0).collect(),
            tails: ranges.iter().map(|r| (r.1, r.2)).collect(),
            first: Vec::new(),
        };
        t.finish();
        t
    }

    /// Builds the first-level table and trims the vectors.
    fn finish(&mut self) {
        self.starts.shrink_to_fit();
        self.tails.shrink_to_fit();
        self.first = Vec::new();
        if self.starts.is_empty() {
            return;
        }
        assert!(self.starts.len() < u32::MAX as usize, "fewer than 2^32 ranges");
        self.first.reserve_exact(SLOTS + 1);
        let mut i = 0;
        for h in 0..SLOTS {
            while i < self.starts.len() && self.starts[i].top16() < h {
                i += 1;
            }
            self.first.push(i as u32);
        }
        self.first.push(self.starts.len() as u32);
    }

    pub fn get(&self, k: K) -> Option<V> {
        let h = k.top16();
        let (lo, hi) = (*self.first.get(h)? as usize, self.first[h + 1] as usize);
        // The range holding `k` starts in `k`'s slot, or is the last one starting before it.
        let i = (lo + self.starts[lo..hi].partition_point(|&s| s <= k)).checked_sub(1)?;
        let (end, value) = self.tails[i];
        (end >= k).then_some(value)
    }

    /// Every range, `(start, end, value)`, sorted.
    pub(super) fn runs(&self) -> impl Iterator<Item = (K, K, V)> + '_ {
        self.starts.iter().zip(&self.tails).map(|(&s, &(e, v))| (s, e, v))
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.starts.capacity() * size_of::<K>()
            + self.tails.capacity() * size_of::<(K, V)>()
            + self.first.capacity() * size_of::<u32>()
    }
}

/// Ranges painted in order (each over what it overlaps), as sorted non-overlapping ranges.
fn paint<K: Key, V: Copy>(ranges: impl IntoIterator<Item = (K, K, V)>) -> Vec<(K, K, V)> {
    let mut map: BTreeMap<K, (K, V)> = BTreeMap::new();
    for (s, e, v) in ranges {
        let hit: Vec<(K, K, V)> = map
            .range(..=e)
            .rev()
            .take_while(|(_, (end, _))| *end >= s)
            .map(|(&start, &(end, val))| (start, end, val))
            .collect();
        for (start, end, val) in hit {
            map.remove(&start);
            if start < s {
                map.insert(start, (s.pred(), val));
            }
            if end > e {
                map.insert(e.succ(), (end, val));
            }
        }
        map.insert(s, (e, v));
    }
    map.into_iter().map(|(s, (e, v))| (s, e, v)).collect()
}

/// One table per address family.
#[derive(Debug, Clone)]
pub struct IpRanges<V> {
    pub v4: RangeTable<u32, V>,
    pub v6: RangeTable<u128, V>,
}

impl<V: Copy> Default for IpRanges<V> {
    fn default() -> Self {
        IpRanges { v4: RangeTable::default(), v6: RangeTable::default() }
    }
}

impl<V: Copy> IpRanges<V> {
    pub fn get(&self, ip: IpAddr) -> Option<V> {
        match ip {
            IpAddr::V4(v4) => self.v4.get(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => self.v4.get(u32::from(v4)),
                None => self.v6.get(u128::from(v6)),
            },
        }
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes() + self.v6.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_hits_inside_and_misses_gaps_and_edges() {
        let t = RangeTable::from_ranges(vec![(10u32, 19, 'a'), (30, 30, 'b'), (0, 5, 'z')]).unwrap();
        let got: Vec<Option<char>> = [0, 5, 6, 9, 10, 19, 20, 30, 31, u32::MAX].iter().map(|&k| t.get(k)).collect();
        assert_eq!(got, [Some('z'), Some('z'), None, None, Some('a'), Some('a'), None, Some('b'), None, None]);
        assert_eq!(RangeTable::from_ranges(vec![(1u32, 10, 0), (12, 11, 1)]).unwrap_err(), (12, 11));
        // Overlaps as found in real files: the narrower range wins where both apply.
        let t = RangeTable::from_ranges(vec![(0u32, 100, 'w'), (90, 120, 'n'), (40, 49, 'i')]).unwrap();
        let got: Vec<Option<char>> = [0, 39, 40, 49, 50, 89, 90, 120, 121].iter().map(|&k| t.get(k)).collect();
        assert_eq!(got, [Some('w'), Some('w'), Some('i'), Some('i'), Some('w'), Some('w'), Some('n'), Some('n'), None]);
    }

    #[test]
    fn painting_lets_the_more_specific_range_win() {
        // A /8-like range, a nested one, and one nested in that.
        let t = RangeTable::painted([(0u32, 255, 1), (64, 127, 2), (96, 103, 3), (250, 255, 4)]);
        for (k, v) in [(0, 1), (63, 1), (64, 2), (95, 2), (96, 3), (103, 3), (104, 2), (127, 2), (128, 1), (249, 1)] {
            assert_eq!(t.get(k), Some(v), "{k}");
        }
        assert_eq!((t.get(250), t.get(255), t.get(256)), (Some(4), Some(4), None));
        assert_eq!(t.len(), 6);
    }

    /// The first-level table answers exactly as a plain search over the same ranges, at slot
    /// edges, in empty slots, and for ranges spanning many slots.
    #[test]
    fn the_first_level_table_agrees_with_a_linear_scan() {
        let ranges: Vec<(u32, u32, u32)> = vec![
            (0x0001_0000, 0x0001_00ff, 1),
            (0x0001_ffff, 0x0003_0000, 2),
            (0x0005_0001, 0x0005_0001, 3),
            (0x0100_0000, 0x01ff_ffff, 4),
            (0xffff_0000, 0xffff_ffff, 5),
        ];
        let t = RangeTable::from_ranges(ranges.clone()).unwrap();
        let scan = |k: u32| ranges.iter().find(|r| r.0 <= k && k <= r.1).map(|r| r.2);
        let edges = ranges.iter().flat_map(|r| [r.0.wrapping_sub(1), r.0, r.1, r.1.wrapping_add(1)]);
        for k in edges.chain([0, 0x0002_8000, 0x0004_0000, 0x0150_0000, 0x0200_0000, 0xfffe_ffff]) {
            assert_eq!(t.get(k), scan(k), "{k:#x}");
        }
        let wide = RangeTable::from_ranges(vec![(0u128, u128::MAX >> 1, 'a')]).unwrap();
        assert_eq!((wide.get(u128::MAX >> 2), wide.get(u128::MAX)), (Some('a'), None));
        assert_eq!(RangeTable::<u32, u8>::default().get(7), None);
    }
}
