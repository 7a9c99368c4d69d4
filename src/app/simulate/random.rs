//! A tiny hand-written PRNG (SplitMix64), so a seed yields the same flow logs on every platform and version.
//!
//! `rand`'s `StdRng` explicitly reserves the right to change its algorithm between releases, which would
//! silently change every golden file and benchmark input; ten lines of SplitMix64 never change.

/// SplitMix64's finaliser: a good 64-bit hash of an integer (also what keys the address model).
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64 (Steele, Lea and Flood, 2014): one 64-bit state, passes BigCrush, and is cheap enough to
/// call several times per generated tuple.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub const fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.state)
    }

    /// An independent generator for sub-stream `stream` (e.g. one per blob series), so adding a series or
    /// drawing more numbers in one series never shifts the numbers another series sees.
    pub fn fork(&self, stream: u64) -> SplitMix64 {
        let mut mixer = SplitMix64::new(self.state ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        SplitMix64::new(mixer.next_u64())
    }

    /// Uniform in `0..n` (`n > 0`) by multiply-shift (Lemire): no division, and the bias (< n / 2^64) is
    /// far below anything a flow-log consumer could notice.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent / 100`.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An index chosen with the given relative weights (not all zero).
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut roll = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if roll < u64::from(w) {
                return i;
            }
            roll -= u64::from(w);
        }
        weights.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_splitmix64_sequence() {
        // Reference values of the published SplitMix64 for seed 1234567: pins the algorithm itself.
        let mut rng = SplitMix64::new(1_234_567);
        let got: Vec<u64> = (0..5).map(|_| rng.next_u64()).collect();
        assert_eq!(
            got,
            [
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423,
                4_593_380_528_125_082_431,
                16_408_922_859_458_223_821
            ]
        );
    }

    #[test]
    fn below_and_weighted_stay_in_bounds() {
        let mut rng = SplitMix64::new(7);
        for n in 1..50 {
            assert!(rng.below(n) < n);
        }
        for _ in 0..1000 {
            assert!(rng.weighted(&[0, 3, 0, 1]) % 2 == 1);
        }
    }

    #[test]
    fn forks_are_independent_of_the_parent_position() {
        let root = SplitMix64::new(42);
        let mut a = root.fork(1);
        let mut b = root.fork(2);
        assert_ne!(a.next_u64(), b.next_u64());
        assert_eq!(root.fork(1).next_u64(), SplitMix64::new(42).fork(1).next_u64());
    }
}
