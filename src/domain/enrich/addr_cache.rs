//! The per-side address cache of [`super::writer::EnrichWriter`]: address text → class and the
//! rendered JSON fragment of its database fields (used when a database is on).
//!
//! Flow logs repeat a few thousand addresses row after row, and the rows' output streams
//! through the core's cache between lookups, so what a row costs is the cache lines its lookups
//! touch. Each entry is half a cache line, kept in an open-addressing table (linear probing, at
//! most half full): a hit reads the entry and its fragment in a dense arena. The key is the
//! parsed address (`addr_key`). The previous entry of each side is tried first:
//! one end of most tuples is the interface's own address. When the table is half full the cache
//! starts over. While most public addresses miss, only some are cached (see [`SPARSE_ADMIT`]).
use core::net::IpAddr;

use super::Enricher;
use super::addr_fill::compute;
pub(crate) use super::addr_key::Key;
use super::class::{AddrClass, classify};
use super::index::Combo;

/// Table slots (entries): 256 KiB.
const TABLE: usize = 8192;
/// Entries before the cache starts over: half the table, so probe chains stay short.
const MAX_ENTRIES: usize = TABLE / 2;
/// Rendered fragments before the cache starts over (they are a few hundred bytes each,
/// but database strings have no set limit): keeps the arena's offsets within `u32`.
const ARENA_BYTES: usize = 64 << 20;

/// What a row needs of one address, in half a cache line: a hit touches a table slot and this.
#[derive(Clone)]
#[repr(C, align(32))]
pub(crate) struct Entry {
    pub(crate) key: Key,
    /// Where the rendered source fragment starts in the arena (after its 4-byte length; the
    /// destination fragment follows, after its own).
    pub(crate) frag: u32,
    pub class: AddrClass,
    pub azure: bool,
}

impl Entry {
    const EMPTY: Entry = Entry { key: Key::EMPTY, frag: 0, class: AddrClass::Reserved, azure: false };
}

/// Which end of the tuple an address is: the fields' prefix, and which entry was used last.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Side {
    Src = 0,
    Dst = 1,
}

impl Side {
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Side::Src => "src",
            Side::Dst => "dst",
        }
    }
}

/// One cache for both ends: a remote host is a source in one row and a destination in the next,
/// and is looked up in the databases once.
pub(crate) struct AddrCache {
    /// Entries by hash, linear probing; an empty key is an empty slot. Allocated on first use.
    table: Vec<Entry>,
    used: usize,
    /// Times the cache started over.
    starts: u64,
    /// The rendered database fields of each public entry, as source then as destination, each
    /// after its 4-byte length.
    arena: Vec<u8>,
    /// Entry of each side's previous lookup, tried first.
    last: [usize; 2],
    /// Addresses of the current [`Self::indexes`] call looked up but not cached, and their
    /// pieces: while most lookups miss, only every [`SPARSE_ADMIT`]-th missed address is cached.
    direct: Vec<(Entry, Combo)>,
    /// Probes and hits of public addresses since the hit rate was last checked, and whether
    /// misses are admitted sparsely.
    window: (u32, u32),
    sparse: bool,
    misses: u32,
}

/// Probes between checks of the hit rate.
const WINDOW: u32 = 1024;
/// While fewer than one probe in [`SPARSE_BELOW`] hits, one missed address in this many is
/// cached: caching an address costs more than looking it up once (copying its pieces, a line of
/// the table written, the arena and table pushed out of the core's cache, starting over every
/// 4,096 addresses), and when addresses are new each time the entry is never read again. An
/// address that does repeat still gets in after a few sightings.
const SPARSE_ADMIT: u32 = 8;
const SPARSE_BELOW: u32 = 4;
/// Index of the first uncached entry of [`AddrCache::direct`].
const DIRECT: usize = usize::MAX / 2;

impl AddrCache {
    pub fn new() -> Self {
        AddrCache {
            table: Vec::new(),
            used: 0,
            starts: 0,
            arena: Vec::new(),
            last: [0; 2],
            direct: Vec::new(),
            window: (0, 0),
            sparse: false,
            misses: 0,
        }
    }

    /// Addresses cached.
    pub fn len(&self) -> usize {
        self.used
    }

    /// The entries of `addrs`, looked up in order, all valid together (for [`Self::entry`] and
    /// [`Self::fragment`] with the same sides).
    ///
    /// The cache is probed for all first; the index searches of the addresses it lacks are then
    /// started together (each is a few dependent cache misses), so that their misses overlap.
    pub fn indexes<const N: usize>(&mut self, enricher: &Enricher, addrs: [(Side, IpAddr); N]) -> [usize; N] {
        let starts = self.starts;
        self.direct.clear();
        let probed = addrs.map(|(side, ip)| self.probe(side, Key::of(ip)));
        let combos = super::addr_fill::look_up(enricher, &addrs, &probed);
        // Public addresses only: the interface's own address, a hit in nearly every row, would
        // hide that every remote address is new.
        for (k, p) in probed.iter().enumerate() {
            match p {
                Some(i) if self.entry(*i).class.is_public() => self.window = (self.window.0 + 1, self.window.1 + 1),
                Some(_) => {}
                None => self.window.0 += u32::from(combos[k].is_some()),
            }
        }
        if self.window.0 >= WINDOW {
            self.sparse = self.window.1 * SPARSE_BELOW < self.window.0;
            self.window = (0, 0);
        }
        let mut n = 0;
        let found = addrs.map(|(side, ip)| {
            let k = n;
            n += 1;
            if let Some(i) = probed[k] {
                return i;
            }
            self.misses = self.misses.wrapping_add(1);
            let direct = self.sparse && !enricher.has_chains() && !self.misses.is_multiple_of(SPARSE_ADMIT);
            if direct {
                let class = classify(ip);
                let c = combos[k].unwrap_or(Combo::NONE);
                let azure = class.is_public() && c.tags != super::catalog::NULL;
                self.direct.push((Entry { class, azure, ..Entry::EMPTY }, c));
                return DIRECT + self.direct.len() - 1;
            }
            self.index(enricher, side, ip, combos[k])
        });
        if self.starts == starts {
            return found;
        }
        // A lookup started the cache over and took the entries found before it along; the cache
        // now holds at most N entries, so looking all up again cannot start it over again.
        addrs.map(|(side, ip)| self.index(enricher, side, ip, None))
    }

    /// The entry holding `key`, if cached.
    fn probe(&mut self, side: Side, key: Key) -> Option<usize> {
        let last = self.last[side as usize];
        if self.table.get(last).is_some_and(|e| key.matches(e)) {
            return Some(last);
        }
        if self.table.is_empty() {
            return None;
        }
        let mut i = key.hash() as usize & (TABLE - 1);
        loop {
            let e = &self.table[i];
            if e.key.len == 0 {
                return None;
            }
            if key.matches(e) {
                self.last[side as usize] = i;
                return Some(i);
            }
            i = (i + 1) & (TABLE - 1);
        }
    }

    /// The number of `ip`'s entry, computed on first sight (with `combo`, the index's answer for
    /// `ip`, when the caller has it); valid until the cache starts over.
    fn index(&mut self, enricher: &Enricher, side: Side, ip: IpAddr, combo: Option<Combo>) -> usize {
        let key = Key::of(ip);
        let last = self.last[side as usize];
        if self.table.get(last).is_some_and(|e| key.matches(e)) {
            return last;
        }
        if self.table.is_empty() {
            self.table = (0..TABLE).map(|_| Entry::EMPTY).collect();
        }
        let mut i = key.hash() as usize & (TABLE - 1);
        loop {
            let e = &self.table[i];
            if e.key.len == 0 {
                break;
            }
            if key.matches(e) {
                self.last[side as usize] = i;
                return i;
            }
            i = (i + 1) & (TABLE - 1);
        }
        if self.used == MAX_ENTRIES || self.arena.len() > ARENA_BYTES {
            self.table.fill(Entry::EMPTY);
            self.used = 0;
            self.starts += 1;
            self.arena.clear();
            i = key.hash() as usize & (TABLE - 1);
        }
        self.table[i] = compute(enricher, ip, key, &mut self.arena, combo);
        self.used += 1;
        self.last[side as usize] = i;
        i
    }

    pub fn entry(&self, i: usize) -> &Entry {
        match i {
            DIRECT.. => &self.direct[i - DIRECT].0,
            _ => &self.table[i],
        }
    }

    /// Appends the entry's database fields for `side`, rendered.
    pub fn write_fragment(&self, enricher: &Enricher, side: Side, i: usize, out: &mut Vec<u8>) {
        if i < DIRECT {
            out.extend_from_slice(self.fragment(side, i));
            return;
        }
        let (e, c) = &self.direct[i - DIRECT];
        if !e.class.is_public() {
            // No lookups for non-public addresses: no database field has an answer.
            return;
        }
        super::addr_fill::write_pieces(enricher, side, c, out);
    }

    fn fragment(&self, side: Side, i: usize) -> &[u8] {
        let e = self.entry(i);
        if !e.class.is_public() {
            return &[];
        }
        let (bytes, at) = (&self.arena[..], e.frag as usize);
        let len = |at: usize| u32::from_le_bytes(bytes[at - 4..at].try_into().expect("4 bytes")) as usize;
        let at = match side {
            Side::Src => at,
            Side::Dst => at + len(at) + 4,
        };
        &bytes[at..at + len(at)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_half_a_cache_line() {
        assert_eq!(size_of::<Entry>(), 32);
    }
}
