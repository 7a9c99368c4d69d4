//! The distinct records of one kind of enrichment data (ASN, geography, service tag), each with
//! its fields rendered once as the JSON a row carries, for the source and for the destination.
//!
//! A row's database fields are then a copy of up to three rendered pieces: no string is
//! escaped, no coordinate formatted and no record decoded per address.

/// Records and their rendered pieces. The piece at byte `at` of the arena is its record's
/// number (`u32::MAX` for the piece of "no data", always at 0), the length of one rendering,
/// and the rendering with the `src_` keys, then with the `dst_` keys (as long: both prefixes
/// have three letters).
#[derive(Debug)]
pub(super) struct Catalog<R> {
    records: Vec<R>,
    arena: Vec<u8>,
}

/// The piece of "no data": every field of the kind null.
pub(super) const NULL: u32 = 0;

impl<R> Catalog<R> {
    /// Renders every record (`render(None, ..)` is the no-data piece); returns the catalog and
    /// each record's piece.
    pub(super) fn new(records: Vec<R>, render: impl Fn(Option<&R>, &str, &mut Vec<u8>)) -> (Self, Vec<u32>) {
        let mut arena = Vec::new();
        let mut add = |n: u32, r: Option<&R>| {
            let at = u32::try_from(arena.len()).expect("pieces under 4 GiB");
            arena.extend_from_slice(&n.to_le_bytes());
            arena.extend_from_slice(&[0; 4]);
            let start = arena.len();
            render(r, "src", &mut arena);
            let len = arena.len() - start;
            render(r, "dst", &mut arena);
            debug_assert_eq!(arena.len() - start, 2 * len, "src_ and dst_ renderings are as long");
            arena[start - 4..start].copy_from_slice(&(len as u32).to_le_bytes());
            at
        };
        add(u32::MAX, None);
        let pieces = records.iter().enumerate().map(|(n, r)| add(n as u32, Some(r))).collect();
        arena.shrink_to_fit();
        (Catalog { records, arena }, pieces)
    }

    /// The piece at `at` with the source's keys, and with the destination's.
    #[inline]
    pub(super) fn piece(&self, at: u32) -> (&[u8], &[u8]) {
        let at = at as usize + 8;
        let len = u32::from_le_bytes(self.arena[at - 4..at].try_into().expect("4 bytes")) as usize;
        (&self.arena[at..at + len], &self.arena[at + len..at + 2 * len])
    }

    /// Asks the core to load the start of the piece at `at`.
    #[inline]
    pub(super) fn prefetch(&self, at: u32) {
        super::partition::prefetch(&self.arena[at as usize]);
    }

    /// The record whose piece is at `at` (`None` for no data).
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
        let (c, pieces) = Catalog::new(vec!["a", "bc"], render);
        assert_eq!(c.piece(NULL), (&b",\"src_x\":null"[..], &b",\"dst_x\":null"[..]));
        assert_eq!(c.piece(pieces[1]), (&b",\"src_x\":\"bc\""[..], &b",\"dst_x\":\"bc\""[..]));
        assert_eq!((c.record(NULL), c.record(pieces[0]), c.record(pieces[1])), (None, Some(&"a"), Some(&"bc")));
        assert_eq!(c.len(), 2);
    }
}
