//! Sorted, non-overlapping address ranges with a value each: binary search per lookup, no
//! allocation. Built from ip-location-db's CSV range files or by painting prefixes.
use core::net::IpAddr;
use std::collections::BTreeMap;

/// An address as a number of its family's width.
pub trait Key: Copy + Ord + std::fmt::Debug {
    const MAX: Self;
    fn succ(self) -> Self;
    fn pred(self) -> Self;
}

impl Key for u32 {
    const MAX: Self = u32::MAX;
    fn succ(self) -> Self {
        self + 1
    }
    fn pred(self) -> Self {
        self - 1
    }
}

impl Key for u128 {
    const MAX: Self = u128::MAX;
    fn succ(self) -> Self {
        self + 1
    }
    fn pred(self) -> Self {
        self - 1
    }
}

/// Ranges `[start, end]` sorted by start, never overlapping.
#[derive(Debug, Clone)]
pub struct RangeTable<K, V> {
    starts: Vec<K>,
    ends: Vec<K>,
    values: Vec<V>,
}

impl<K: Key, V: Copy> Default for RangeTable<K, V> {
    fn default() -> Self {
        RangeTable { starts: Vec::new(), ends: Vec::new(), values: Vec::new() }
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
            // Widest first, so narrower ranges paint over them.
            ranges.sort_by(|a, b| (b.1 - b.0).cmp(&(a.1 - a.0)).then(a.0.cmp(&b.0)));
            return Ok(Self::painted(ranges));
        }
        let mut t = RangeTable::default();
        for (s, e, v) in ranges {
            t.starts.push(s);
            t.ends.push(e);
            t.values.push(v);
        }
        t.shrink();
        Ok(t)
    }

    /// From possibly nested prefixes: later ranges paint over earlier ones where they overlap,
    /// so callers pass the least specific first.
    pub fn painted(ranges: impl IntoIterator<Item = (K, K, V)>) -> Self {
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
        let mut t = RangeTable::default();
        for (s, (e, v)) in map {
            t.starts.push(s);
            t.ends.push(e);
            t.values.push(v);
        }
        t.shrink();
        t
    }

    fn shrink(&mut self) {
        self.starts.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.values.shrink_to_fit();
    }

    pub fn get(&self, k: K) -> Option<V> {
        let i = self.starts.partition_point(|&s| s <= k).checked_sub(1)?;
        (self.ends[i] >= k).then(|| self.values[i])
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.starts.capacity() * size_of::<K>() * 2 + self.values.capacity() * size_of::<V>()
    }
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
}
