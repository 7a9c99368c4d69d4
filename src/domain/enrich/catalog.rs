//! The distinct records of one kind of enrichment data (ASN, geography, service tag), each with
//! its fields rendered once as the JSON a row carries, for the source and for the destination.
//!
//! A row's database fields are then a copy of up to three rendered pieces: no string is
//! escaped, no coordinate formatted and no record decoded per address.

/// Records and their rendered pieces. The piece at byte `at` of the arena is its record's
/// number (`u32::MAX` for the piece of "no data", always at 0), the rendering's length, how many
/// keys it has and where each starts, then the rendering with the `src_` keys; the destination's
/// is the same bytes with `dst` written over each key's prefix (both have three letters).
#[derive(Debug)]
pub(super) struct Catalog<R> {
    records: Vec<R>,
    arena: Vec<u8>,
}

/// The piece of "no data": no field at all (a field with no answer is left out of the row).
pub(super) const NULL: u32 = 0;

impl<R> Catalog<R> {
    /// Renders every record (`render(None, ..)` is the no-data piece); returns the catalog and
    /// each record's piece. Only records `keep` accepts are kept ([`Self::record`]); the others
    /// are read back from their pieces.
    pub(super) fn new(
        records: Vec<R>,
        render: impl Fn(Option<&R>, &str, &mut Vec<u8>),
        keep: impl Fn(&R) -> bool,
    ) -> (Self, Vec<u32>) {
        let mut arena = Vec::new();
        let mut kept = Vec::new();
        let mut text = Vec::new();
        let mut add = |n: u32, r: Option<&R>| {
            let at = u32::try_from(arena.len()).expect("pieces under 4 GiB");
            text.clear();
            render(r, "src", &mut text);
            // Every key starts with `,"src_`; rendered values never hold `,"` (a quote inside a
            // string is escaped).
            let keys: Vec<u32> =
                (0..text.len()).filter(|&i| text[i..].starts_with(b",\"src_")).map(|i| i as u32 + 2).collect();
            for x in [n, text.len() as u32, keys.len() as u32].into_iter().chain(keys) {
                arena.extend_from_slice(&x.to_le_bytes());
            }
            arena.extend_from_slice(&text);
            at
        };
        add(u32::MAX, None);
        let mut pieces = Vec::with_capacity(records.len());
        for r in records {
            if keep(&r) {
                pieces.push(add(kept.len() as u32, Some(&r)));
                kept.push(r);
            } else {
                pieces.push(add(u32::MAX, Some(&r)));
            }
        }
        arena.shrink_to_fit();
        kept.shrink_to_fit();
        (Catalog { records: kept, arena }, pieces)
    }

    fn word(&self, at: usize) -> usize {
        u32::from_le_bytes(self.arena[at..at + 4].try_into().expect("4 bytes")) as usize
    }

    /// The piece at `at` with the source's keys.
    #[inline]
    pub(super) fn piece(&self, at: u32) -> &[u8] {
        let at = at as usize;
        let (len, keys) = (self.word(at + 4), self.word(at + 8));
        let start = at + 12 + 4 * keys;
        &self.arena[start..start + len]
    }

    /// Appends the piece at `at` with the destination's keys.
    #[inline]
    pub(super) fn write_dst(&self, at: u32, out: &mut Vec<u8>) {
        let base = out.len();
        out.extend_from_slice(self.piece(at));
        let keys = self.word(at as usize + 8);
        for k in 0..keys {
            let key = base + self.word(at as usize + 12 + 4 * k);
            out[key..key + 3].copy_from_slice(b"dst");
        }
    }

    /// Asks the core to load the start of the piece at `at`.
    #[inline]
    pub(super) fn prefetch(&self, at: u32) {
        super::partition::prefetch(&self.arena[at as usize]);
    }

    /// The record whose piece is at `at` (`None` for no data, or a record not kept).
    pub(super) fn record(&self, at: u32) -> Option<&R> {
        let n = u32::from_le_bytes(self.arena[at as usize..at as usize + 4].try_into().expect("4 bytes"));
        self.records.get(n as usize)
    }

    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// Heap bytes, with `each` the heap bytes a record holds beyond itself.
    pub(super) fn heap_bytes(&self, each: impl Fn(&R) -> usize) -> usize {
        self.arena.capacity() + self.records.capacity() * size_of::<R>() + self.records.iter().map(each).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_hold_both_sides_and_find_their_record() {
        let render = |r: Option<&&str>, prefix: &str, out: &mut Vec<u8>| {
            out.extend_from_slice(
                format!(",\"{prefix}_x\":{}", r.map_or("null".into(), |r| format!("\"{r}\""))).as_bytes(),
            )
        };
        let (c, pieces) = Catalog::new(vec!["a", "bc"], render, |_| true);
        let dst = |at: u32| {
            let mut out = b"x".to_vec();
            c.write_dst(at, &mut out);
            out
        };
        assert_eq!((c.piece(NULL), &dst(NULL)[..]), (&b",\"src_x\":null"[..], &b"x,\"dst_x\":null"[..]));
        assert_eq!((c.piece(pieces[1]), &dst(pieces[1])[..]), (&b",\"src_x\":\"bc\""[..], &b"x,\"dst_x\":\"bc\""[..]));
        assert_eq!((c.record(NULL), c.record(pieces[0]), c.record(pieces[1])), (None, Some(&"a"), Some(&"bc")));
        assert_eq!(c.len(), 2);
    }
}
