//! An address family cut into runs, each with one value (gaps hold a "none" value), searched
//! through a first-level table by the address's top bits.
//!
//! Unlike [`super::ranges::RangeTable`], a run has no end to check (the next run's start ends
//! it) and its start and value sit side by side: the search's last probe has already read the
//! value's cache line. The merged enrichment index is one of these per family, so a new address
//! costs one search whatever the number of databases.
use super::ranges::Key;

/// A key with its first-level table: 18 bits for IPv4 (1 MiB; a real ASN or country file has a
/// run or two per slot, one cache line), 16 for IPv6 (whose runs cluster in a few slots).
pub(super) trait SlotKey: Key {
    const SLOT_BITS: u32;
    fn slot(self) -> usize;
    /// The first key of slot `h`.
    fn slot_start(h: usize) -> Self;
}

/// `SlotKey` for an unsigned integer type with a first-level table of `$bits` bits.
macro_rules! slot_key {
    ($($t:ty: $bits:expr),*) => {$(
        impl SlotKey for $t {
            const SLOT_BITS: u32 = $bits;
            fn slot(self) -> usize {
                (self >> (<$t>::BITS - Self::SLOT_BITS)) as usize
            }
            fn slot_start(h: usize) -> Self {
                (h as $t) << (<$t>::BITS - Self::SLOT_BITS)
            }
        }
    )*};
}

// IPv4 gets 18 bits (a 1 MiB table of run indices): hundreds of thousands of runs share its
// 2^32 addresses, so 16 bits would leave longer searches per slot.
slot_key!(u32: 18, u64: 16, u128: 16);

/// "No value" in the lists [`zip`] merges.
pub(super) const NONE: u32 = u32::MAX;

/// Runs `(start, value)` sorted by start, the first starting at zero.
#[derive(Debug, Clone)]
pub(super) struct Partition<K, V> {
    runs: Vec<(K, V)>,
    /// `first[h]`: the run holding slot `h`'s first key; one more entry for the last run (empty
    /// when there is one run).
    first: Vec<u32>,
}

impl<K: SlotKey, V: Copy> Partition<K, V> {
    /// From runs sorted by start, the first at [`Key::ZERO`].
    pub(super) fn new(mut runs: Vec<(K, V)>) -> Self {
        assert!(runs.first().is_some_and(|r| r.0 == K::ZERO), "runs cover the family from its first address");
        assert!(runs.len() < u32::MAX as usize, "fewer than 2^32 runs");
        runs.shrink_to_fit();
        if runs.len() == 1 {
            // No data (flowlog without databases): no table to search.
            return Partition { runs, first: Vec::new() };
        }
        let slots = 1usize << K::SLOT_BITS;
        let mut first = Vec::with_capacity(slots + 1);
        let mut i = 0;
        for h in 0..slots {
            let slot = K::slot_start(h);
            while i + 1 < runs.len() && runs[i + 1].0 <= slot {
                i += 1;
            }
            first.push(i as u32);
        }
        first.push((runs.len() - 1) as u32);
        Partition { runs, first }
    }

    #[inline]
    pub(super) fn get(&self, k: K) -> V {
        if self.first.is_empty() {
            return self.runs[0].1;
        }
        let h = k.slot();
        let (lo, hi) = (self.first[h] as usize, self.first[h + 1] as usize);
        let i = lo + self.runs[lo + 1..=hi].partition_point(|r| r.0 <= k);
        self.runs[i].1
    }

    /// Asks the core to load the lines a [`Self::get`] of `k` reads first (its first-level slot
    /// and the middle of its runs), so that the misses of several lookups overlap.
    #[inline]
    pub(super) fn prefetch(&self, k: K) {
        if self.first.is_empty() {
            return;
        }
        let h = k.slot();
        let (lo, hi) = (self.first[h] as usize, self.first[h + 1] as usize);
        prefetch(&self.runs[(lo + hi) / 2]);
    }

    pub(super) fn runs(&self) -> &[(K, V)] {
        &self.runs
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.runs.capacity() * size_of::<(K, V)>() + self.first.capacity() * size_of::<u32>()
    }
}

#[inline(always)]
pub(super) fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it reads nothing and `p` is a valid reference anyway.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>((p as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Merges lists of sorted, non-overlapping ranges `(start, end, value)` into runs covering the
/// family: each run holds every list's value there ([`NONE`] where a list has none), and
/// neighbouring runs differ.
pub(super) fn zip<K: Key, const N: usize>(lists: [&[(K, K, u32)]; N]) -> Vec<(K, [u32; N])> {
    let mut at = [0usize; N];
    let mut out: Vec<(K, [u32; N])> = Vec::with_capacity(lists.iter().map(|l| 2 * l.len() + 1).max().unwrap_or(1));
    let mut pos = K::ZERO;
    loop {
        let mut values = [NONE; N];
        let mut next: Option<K> = None;
        for (j, list) in lists.iter().enumerate() {
            while at[j] < list.len() && list[at[j]].1 < pos {
                at[j] += 1;
            }
            let Some(&(s, e, v)) = list.get(at[j]) else { continue };
            let boundary = if s <= pos {
                values[j] = v;
                (e != K::MAX).then(|| e.succ())
            } else {
                Some(s)
            };
            if let Some(b) = boundary {
                next = Some(next.map_or(b, |n: K| n.min(b)));
            }
        }
        if out.last().is_none_or(|l| l.1 != values) {
            out.push((pos, values));
        }
        match next {
            Some(n) => pos = n,
            None => return out,
        }
    }
}

/// The ranges of runs with a value, as `(start, end, value)`.
pub(super) fn ranges<K: Key>(runs: &[(K, u32)]) -> Vec<(K, K, u32)> {
    let mut out = Vec::with_capacity(runs.len());
    for (i, &(s, v)) in runs.iter().enumerate() {
        if v != NONE {
            let end = runs.get(i + 1).map_or(K::MAX, |n| n.0.pred());
            out.push((s, end, v));
        }
    }
    out
}

/// Lists of ranges as one: where several have a value, the earliest list's wins (the first
/// database that knows an address answers for it). Of several lists, neighbouring ranges with
/// the same value come out as one.
pub(super) fn first_hit<K: Key>(lists: Vec<Vec<(K, K, u32)>>) -> Vec<(K, K, u32)> {
    if lists.len() < 2 {
        return lists.into_iter().next().unwrap_or_default();
    }
    // Empty lists are left out: a file of IPv4 ranges has no IPv6 ones and the other way round,
    // and laying an empty list over a full one copied the full one twice (time and peak memory
    // at load).
    let mut lists = lists.into_iter().filter(|l| !l.is_empty());
    let mut acc = lists.next().unwrap_or_default();
    let mut laid = false;
    for next in lists {
        let mut runs: Vec<(K, u32)> =
            zip([&acc[..], &next[..]]).into_iter().map(|(s, [a, b])| (s, if a != NONE { a } else { b })).collect();
        runs.dedup_by_key(|r| r.1);
        acc = ranges(&runs);
        laid = true;
    }
    if !laid {
        // What laying one list over an empty one gave: touching ranges of one value joined.
        acc.dedup_by(|next, prev| {
            let touch = prev.2 == next.2 && prev.1 != K::MAX && prev.1.succ() == next.0;
            if touch {
                prev.1 = next.1;
            }
            touch
        });
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_cuts_at_every_edge_and_first_hit_prefers_earlier_lists() {
        let a: &[(u32, u32, u32)] = &[(10, 19, 1), (30, u32::MAX, 2)];
        let b: &[(u32, u32, u32)] = &[(0, 14, 7), (15, 15, 8)];
        let runs = zip([a, b]);
        let want = [(0, [NONE, 7]), (10, [1, 7]), (15, [1, 8]), (16, [1, NONE]), (20, [NONE, NONE]), (30, [2, NONE])];
        assert_eq!(runs, want);
        let merged = first_hit(vec![b.to_vec(), a.to_vec()]);
        assert_eq!(merged, [(0, 14, 7), (15, 15, 8), (16, 19, 1), (30, u32::MAX, 2)]);
    }

    /// Empty lists left out give what laying every list over the others gave (the zip of each
    /// pair, touching ranges of one value joined), whatever their place.
    #[test]
    fn first_hit_without_empty_lists_equals_laying_every_list() {
        let laid_every = |lists: Vec<Vec<(u32, u32, u32)>>| {
            let mut lists = lists.into_iter();
            let mut acc = lists.next().unwrap_or_default();
            for next in lists {
                let mut runs: Vec<(u32, u32)> = zip([&acc[..], &next[..]])
                    .into_iter()
                    .map(|(s, [a, b])| (s, if a != NONE { a } else { b }))
                    .collect();
                runs.dedup_by_key(|r| r.1);
                acc = ranges(&runs);
            }
            acc
        };
        let a = vec![(0, 9, 1), (10, 19, 1), (20, 29, 2), (31, 40, 2), (41, u32::MAX - 1, 3), (u32::MAX, u32::MAX, 3)];
        let b = vec![(5, 35, 4), (50, 60, 5)];
        for lists in [
            vec![a.clone(), vec![]],
            vec![vec![], a.clone()],
            vec![vec![], a.clone(), vec![]],
            vec![a.clone(), vec![], b.clone()],
            vec![vec![], b.clone(), a.clone()],
            vec![vec![], vec![]],
        ] {
            assert_eq!(first_hit(lists.clone()), laid_every(lists.clone()), "{lists:?}");
        }
        assert_eq!(first_hit(vec![a.clone(), vec![]])[..2], [(0, 19, 1), (20, 29, 2)]);
    }

    /// Lookups agree with a scan of the runs at run edges, at slot edges and in empty slots.
    #[test]
    fn lookups_agree_with_a_scan() {
        let starts = [0u32, 5, 0x0001_0000, 0x0001_ffff, 0x0003_0001, 0x0100_0000, 0xffff_0000, 0xffff_fffe];
        let runs: Vec<(u32, u32)> = starts.iter().enumerate().map(|(i, &s)| (s, i as u32)).collect();
        let p = Partition::new(runs.clone());
        let scan = |k: u32| runs.iter().rev().find(|r| r.0 <= k).unwrap().1;
        let probes = starts.iter().flat_map(|&s| [s.wrapping_sub(1), s, s.wrapping_add(1)]);
        for k in probes.chain([0x0002_0000, 0x0002_ffff, 0x0080_0000, u32::MAX]) {
            assert_eq!(p.get(k), scan(k), "{k:#x}");
            p.prefetch(k);
        }
        let one = Partition::new(vec![(0u128, 'x')]);
        assert_eq!((one.get(0), one.get(u128::MAX)), ('x', 'x'));
    }
}
