//! The per-side address cache of [`super::writer::EnrichWriter`]: address text → class and the
//! rendered JSON fragment of its database fields (used when a database is on).
//!
//! Flow logs repeat a few thousand addresses row after row, and the rows' output streams
//! through the core's cache between lookups, so what a row costs is the cache lines its lookups
//! touch. Each entry is one cache line, kept in an open-addressing table (linear probing, at most
//! half full): a hit reads the entry's line and its fragment in a dense arena. (The first version
//! kept 96-byte slots two-way associative, and then dense entries behind a table of indices: a
//! dependent miss more per address.) The key is read from the text a word at a time, never copied
//! byte-wise into a buffer first (a store-forwarding stall per address). The previous entry of
//! each side is tried first: one end of most tuples is the interface's own address. When the
//! table is half full the cache starts over, which bounds memory and costs one miss per address.
use core::net::IpAddr;

use super::class::{AddrClass, classify};
use super::index::Combo;
use super::{Enricher, IpInfo, Settings};

/// Longer than any textual IP address without an embedded IPv4 part (39 characters).
const MAX_KEY: usize = 40;
const WORDS: usize = MAX_KEY / 8;
/// Table slots (entries): 512 KiB.
const TABLE: usize = 8192;
/// Entries before the cache starts over: half the table, so probe chains stay short.
const MAX_ENTRIES: usize = TABLE / 2;
/// Rendered fragments before the cache starts over (they are a few hundred bytes each,
/// but database strings have no set limit): keeps the arena's offsets within `u32`.
const ARENA_BYTES: usize = 64 << 20;

/// Address text, read as zero-padded little-endian words where it lies: hashing and comparing
/// word by word never builds the words in memory first (a store-forwarding stall per address
/// when the first version did).
#[derive(Clone, Copy)]
struct Text<'a>(&'a [u8]);

impl<'a> Text<'a> {
    fn new(b: &'a [u8]) -> Option<Self> {
        (!b.is_empty() && b.len() <= MAX_KEY).then_some(Text(b))
    }

    fn words(self) -> usize {
        self.0.len().div_ceil(8)
    }

    /// Word `i` (< `words()`), zero past the end of the text.
    #[inline(always)]
    fn word(self, i: usize) -> u64 {
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

    fn hash(self) -> u64 {
        let mut h = (self.0.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for i in 0..self.words() {
            h = (h ^ self.word(i)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            h ^= h >> 31;
        }
        h
    }

    /// Whether `e` holds this text (an entry's words past its length are zero).
    fn matches(self, e: &Entry) -> bool {
        usize::from(e.len) == self.0.len() && (0..self.words()).all(|i| e.words[i] == self.word(i))
    }

    fn key(self) -> ([u64; WORDS], u8) {
        let mut words = [0; WORDS];
        for (i, w) in words.iter_mut().enumerate().take(self.words()) {
            *w = self.word(i);
        }
        (words, self.0.len() as u8)
    }
}

/// What a row needs of one address, in one cache line: a hit touches a table slot and this.
#[derive(Clone)]
#[repr(C, align(64))]
pub(crate) struct Entry {
    words: [u64; WORDS],
    /// Where the rendered source fragment starts in the arena (after its 4-byte length; the
    /// destination fragment follows, after its own).
    frag: u32,
    len: u8,
    pub class: AddrClass,
    pub azure: bool,
}

impl Entry {
    const EMPTY: Entry = Entry { words: [0; WORDS], frag: 0, len: 0, class: AddrClass::Reserved, azure: false };
}

/// Which end of the tuple an address is: the fields' prefix, and which entry was used last.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Side {
    Src = 0,
    Dst = 1,
}

impl Side {
    fn prefix(self) -> &'static str {
        match self {
            Side::Src => "src",
            Side::Dst => "dst",
        }
    }
}

/// One cache for both ends: a remote host is a source in one row and a destination in the next,
/// and is looked up in the databases once.
pub(crate) struct AddrCache {
    /// Entries by hash, linear probing; `len == 0` is an empty slot. Allocated on first use.
    table: Vec<Entry>,
    used: usize,
    /// Times the cache started over.
    starts: u64,
    /// The rendered database fields of each public entry, as source then as destination, each
    /// after its 4-byte length.
    arena: Vec<u8>,
    /// The fragment of every non-public address (no lookups, all null), per side: one copy,
    /// kept hot.
    nulls: [Vec<u8>; 2],
    /// Entry of each side's previous lookup, tried first.
    last: [usize; 2],
    /// Per side, the scratch entry for text that is no cacheable address, and its fragments.
    odd: [(Entry, Vec<u8>); 2],
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

/// The index of a side's scratch entry.
const ODD: usize = usize::MAX;

impl AddrCache {
    pub fn new(settings: Settings) -> Self {
        let nulls = [Side::Src, Side::Dst].map(|side| {
            let mut out = Vec::new();
            super::writer::write_side(&mut out, side.prefix(), &IpInfo::bare(AddrClass::Private), settings);
            out
        });
        AddrCache {
            table: Vec::new(),
            used: 0,
            starts: 0,
            arena: Vec::new(),
            nulls,
            last: [0; 2],
            odd: [(Entry::EMPTY, Vec::new()), (Entry::EMPTY, Vec::new())],
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

    /// Whether `text` gets a cached entry (not the side's scratch entry, which the next lookup
    /// of that side replaces).
    pub fn cacheable(text: &str) -> bool {
        Text::new(text.as_bytes()).is_some()
    }

    /// The entries of `texts`, looked up in order, all valid together (for [`Self::entry`] and
    /// [`Self::fragment`] with the same sides). A side's uncacheable text uses that side's one
    /// scratch entry, so each side may hold such a text once.
    ///
    /// The cache is probed for all first; the index searches of the addresses it lacks are then
    /// started together (each is a few dependent cache misses), so that their misses overlap.
    pub fn indexes<const N: usize>(&mut self, enricher: &Enricher, texts: [(Side, &str, IpAddr); N]) -> [usize; N] {
        let starts = self.starts;
        self.direct.clear();
        let probed = texts.map(|(side, text, _)| self.probe(side, text));
        let mut combos = [None; N];
        if probed.iter().any(Option::is_none) {
            let public: [bool; N] = core::array::from_fn(|i| probed[i].is_none() && classify(texts[i].2).is_public());
            if public.iter().filter(|&&p| p).count() > 1 {
                for i in (0..N).filter(|&i| public[i]) {
                    enricher.index.prefetch(texts[i].2);
                }
            }
            for i in (0..N).filter(|&i| public[i]) {
                let c = enricher.index.get(texts[i].2);
                enricher.index.asn.prefetch(c.asn);
                enricher.index.geo.prefetch(c.geo);
                combos[i] = Some(c);
            }
        }
        // Public addresses only: the interface's own address, a hit in nearly every row, would
        // hide that every remote address is new.
        for (k, p) in probed.iter().enumerate() {
            match p {
                Some(i) if self.entry(texts[k].0, *i).class.is_public() => {
                    self.window = (self.window.0 + 1, self.window.1 + 1)
                }
                Some(_) => {}
                None => self.window.0 += u32::from(combos[k].is_some()),
            }
        }
        if self.window.0 >= WINDOW {
            self.sparse = self.window.1 * SPARSE_BELOW < self.window.0;
            self.window = (0, 0);
        }
        let mut n = 0;
        let found = texts.map(|(side, text, ip)| {
            let k = n;
            n += 1;
            if let Some(i) = probed[k] {
                return i;
            }
            self.misses = self.misses.wrapping_add(1);
            if self.sparse && self.misses % SPARSE_ADMIT != 0 && Text::new(text.as_bytes()).is_some() {
                let class = classify(ip);
                let c = combos[k].unwrap_or(Combo::NONE);
                let azure = class.is_public() && c.tags != super::catalog::NULL;
                self.direct.push((Entry { class, azure, ..Entry::EMPTY }, c));
                return DIRECT + self.direct.len() - 1;
            }
            self.index(enricher, side, text, ip, combos[k])
        });
        if self.starts == starts {
            return found;
        }
        // A lookup started the cache over and took the entries found before it along; the cache
        // now holds at most N entries, so looking all up again cannot start it over again.
        texts.map(|(side, text, ip)| self.index(enricher, side, text, ip, None))
    }

    /// The entry holding `text`, if cached.
    fn probe(&mut self, side: Side, text: &str) -> Option<usize> {
        let key = Text::new(text.as_bytes())?;
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
            if e.len == 0 {
                return None;
            }
            if key.matches(e) {
                self.last[side as usize] = i;
                return Some(i);
            }
            i = (i + 1) & (TABLE - 1);
        }
    }

    /// The number of `text`'s entry (`ip` is the text parsed), computed on first sight (with
    /// `combo`, the index's answer for `ip`, when the caller has it); valid until the cache
    /// starts over.
    fn index(&mut self, enricher: &Enricher, side: Side, text: &str, ip: IpAddr, combo: Option<Combo>) -> usize {
        let Some(key) = Text::new(text.as_bytes()) else {
            // Not an address a tuple can hold (or one with an embedded IPv4 part): computed
            // each time into the side's scratch entry, never cached.
            let (entry, frags) = &mut self.odd[side as usize];
            frags.clear();
            *entry = compute(enricher, ip, ([0; WORDS], 0), frags, combo);
            return ODD;
        };
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
            if e.len == 0 {
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
        self.table[i] = compute(enricher, ip, key.key(), &mut self.arena, combo);
        self.used += 1;
        self.last[side as usize] = i;
        i
    }

    pub fn entry(&self, side: Side, i: usize) -> &Entry {
        match i {
            ODD => &self.odd[side as usize].0,
            DIRECT.. => &self.direct[i - DIRECT].0,
            _ => &self.table[i],
        }
    }

    /// Appends the entry's database fields for `side`, rendered.
    pub fn write_fragment(&self, enricher: &Enricher, side: Side, i: usize, out: &mut Vec<u8>) {
        if i < DIRECT || i == ODD {
            out.extend_from_slice(self.fragment(side, i));
            return;
        }
        let (e, c) = &self.direct[i - DIRECT];
        if !e.class.is_public() {
            out.extend_from_slice(&self.nulls[side as usize]);
            return;
        }
        let index = &enricher.index;
        match side {
            Side::Src => {
                for piece in [index.asn.piece(c.asn), index.geo.piece(c.geo), index.tags.piece(c.tags)] {
                    out.extend_from_slice(piece);
                }
            }
            Side::Dst => {
                index.asn.write_dst(c.asn, out);
                index.geo.write_dst(c.geo, out);
                index.tags.write_dst(c.tags, out);
            }
        }
    }

    /// The entry's database fields for `side`, rendered.
    fn fragment(&self, side: Side, i: usize) -> &[u8] {
        let e = self.entry(side, i);
        if !e.class.is_public() {
            return &self.nulls[side as usize];
        }
        let (bytes, at) =
            if i == ODD { (&self.odd[side as usize].1[..], 4) } else { (&self.arena[..], e.frag as usize) };
        let len = |at: usize| u32::from_le_bytes(bytes[at - 4..at].try_into().expect("4 bytes")) as usize;
        let at = match side {
            Side::Src => at,
            Side::Dst => at + len(at) + 4,
        };
        &bytes[at..at + len(at)]
    }
}

/// Looks the address up and copies its fragments (as source, then as destination, each after
/// its length) to the end of `out`: the pieces of the merged index, rendered at load.
fn compute(enricher: &Enricher, ip: IpAddr, key: ([u64; WORDS], u8), out: &mut Vec<u8>, combo: Option<Combo>) -> Entry {
    let class = classify(ip);
    let start = out.len() + 4;
    let mut azure = false;
    if class.is_public() {
        let index = &enricher.index;
        let c = combo.unwrap_or_else(|| index.get(ip));
        azure = c.tags != super::catalog::NULL;
        let (a, g, t) = (index.asn.piece(c.asn), index.geo.piece(c.geo), index.tags.piece(c.tags));
        let len = a.len() + g.len() + t.len();
        out.reserve(8 + 2 * len);
        for side in [Side::Src, Side::Dst] {
            out.extend_from_slice(&(len as u32).to_le_bytes());
            if side == Side::Src {
                out.extend_from_slice(a);
                out.extend_from_slice(g);
                out.extend_from_slice(t);
            } else {
                index.asn.write_dst(c.asn, out);
                index.geo.write_dst(c.geo, out);
                index.tags.write_dst(c.tags, out);
            }
        }
    } else {
        out.extend_from_slice(&[0; 8]);
    }
    Entry { words: key.0, frag: start as u32, len: key.1, class, azure }
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

    #[test]
    fn an_entry_is_one_cache_line() {
        assert_eq!(size_of::<Entry>(), 64);
    }
}
