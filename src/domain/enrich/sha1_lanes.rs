//! One-block SHA-1 hashes several at a time, for the Community IDs of many rows.
//!
//! Each hash is a chain of dependent rounds, so hashing one at a time mostly waits. Two at a
//! time with the SHA extensions fills the waits of their round instruction (the `sha1` crate
//! hashes one state at a time: about 55 ns a block here, against 35 ns each for two
//! interleaved); sixteen in the lanes of vector registers (`sha1_avx512`) cost about 16 ns
//! each. Elsewhere, or on a CPU without these features, the crate hashes each block.
use sha1::digest::generic_array::GenericArray;

pub(super) const IV: [u32; 5] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476, 0xc3d2_e1f0];

/// How many blocks [`hash_many`] hashes at once when the CPU can.
pub const MANY: usize = 16;

/// The SHA-1 states of `blocks` (each one padded block, from the initial state), into `states`.
pub fn hash_many(blocks: &[[u8; 64]], states: &mut [[u32; 5]]) {
    debug_assert_eq!(blocks.len(), states.len());
    #[cfg(target_arch = "x86_64")]
    if let (Ok(all), true) = (<&[[u8; 64]; MANY]>::try_from(blocks), super::sha1_avx512::available()) {
        // SAFETY: the CPU has the features `sixteen` is compiled for, checked just above.
        states.copy_from_slice(&unsafe { super::sha1_avx512::sixteen(all) });
        return;
    }
    let mut pairs = blocks.chunks_exact(2);
    let mut out = states.chunks_exact_mut(2);
    for (pair, out) in (&mut pairs).zip(&mut out) {
        (out[0], out[1]) = hash_pair(&pair[0], &pair[1]);
    }
    if let ([last], [state]) = (pairs.remainder(), out.into_remainder()) {
        *state = hash(last);
    }
}

/// The SHA-1 states after compressing one padded block each, from the initial state.
pub fn hash_pair(a: &[u8; 64], b: &[u8; 64]) -> ([u32; 5], [u32; 5]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("sha")
        && std::arch::is_x86_feature_detected!("ssse3")
        && std::arch::is_x86_feature_detected!("sse4.1")
    {
        // SAFETY: the CPU has the features the function is compiled for (SSE2 is part of
        // x86-64), checked just above.
        return unsafe { shani::pair(a, b) };
    }
    (hash(a), hash(b))
}

/// The SHA-1 state after compressing one padded block, from the initial state.
pub fn hash(block: &[u8; 64]) -> [u32; 5] {
    let mut state = IV;
    sha1::compress(&mut state, std::slice::from_ref(GenericArray::from_slice(block)));
    state
}

#[cfg(target_arch = "x86_64")]
mod shani {
    use core::arch::x86_64::*;

    use super::IV;

    /// The `sha1` crate's SHA-NI schedule (itself Intel's), with every step done for both
    /// blocks before the next step: the two dependency chains are independent.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub(super) fn pair(a: &[u8; 64], b: &[u8; 64]) -> ([u32; 5], [u32; 5]) {
        let big_endian = _mm_set_epi64x(0x0001_0203_0405_0607, 0x0809_0a0b_0c0d_0e0f);
        let abcd = _mm_set_epi32(IV[0] as i32, IV[1] as i32, IV[2] as i32, IV[3] as i32);
        let e = _mm_set_epi32(IV[4] as i32, 0, 0, 0);
        let words = |block: &[u8; 64]| -> [__m128i; 5] {
            let mut w = [_mm_setzero_si128(); 5];
            for (i, chunk) in block.chunks_exact(16).enumerate() {
                let v = u128::from_le_bytes(chunk.try_into().expect("16 bytes"));
                w[i] = _mm_shuffle_epi8(_mm_set_epi64x((v >> 64) as i64, v as i64), big_endian);
            }
            w
        };
        let mut w = [words(a), words(b)];
        let mut h0 = [abcd; 2];
        let mut h1 = [_mm_add_epi32(e, w[0][0]), _mm_add_epi32(e, w[1][0])];
        for l in 0..2 {
            h1[l] = _mm_sha1rnds4_epu32(h0[l], h1[l], 0);
        }
        // Four rounds of both lanes with message words `$wi`: `$b` takes the new state.
        macro_rules! rounds {
            ($a:ident, $b:ident, $wi:expr, $k:expr) => {
                for l in 0..2 {
                    $b[l] = _mm_sha1rnds4_epu32($a[l], _mm_sha1nexte_epu32($b[l], w[l][$wi]), $k);
                }
            };
        }
        // The next four message words into `w[$n]`, then their four rounds.
        macro_rules! scheduled {
            ($a:ident, $b:ident, [$w0:expr, $w1:expr, $w2:expr, $w3:expr] => $n:expr, $k:expr) => {
                for l in 0..2 {
                    let x = _mm_xor_si128(_mm_sha1msg1_epu32(w[l][$w0], w[l][$w1]), w[l][$w2]);
                    w[l][$n] = _mm_sha1msg2_epu32(x, w[l][$w3]);
                }
                rounds!($a, $b, $n, $k);
            };
        }
        rounds!(h1, h0, 1, 0);
        rounds!(h0, h1, 2, 0);
        rounds!(h1, h0, 3, 0);
        scheduled!(h0, h1, [0, 1, 2, 3] => 4, 0);
        scheduled!(h1, h0, [1, 2, 3, 4] => 0, 1);
        scheduled!(h0, h1, [2, 3, 4, 0] => 1, 1);
        scheduled!(h1, h0, [3, 4, 0, 1] => 2, 1);
        scheduled!(h0, h1, [4, 0, 1, 2] => 3, 1);
        scheduled!(h1, h0, [0, 1, 2, 3] => 4, 1);
        scheduled!(h0, h1, [1, 2, 3, 4] => 0, 2);
        scheduled!(h1, h0, [2, 3, 4, 0] => 1, 2);
        scheduled!(h0, h1, [3, 4, 0, 1] => 2, 2);
        scheduled!(h1, h0, [4, 0, 1, 2] => 3, 2);
        scheduled!(h0, h1, [0, 1, 2, 3] => 4, 2);
        scheduled!(h1, h0, [1, 2, 3, 4] => 0, 3);
        scheduled!(h0, h1, [2, 3, 4, 0] => 1, 3);
        scheduled!(h1, h0, [3, 4, 0, 1] => 2, 3);
        scheduled!(h0, h1, [4, 0, 1, 2] => 3, 3);
        scheduled!(h1, h0, [0, 1, 2, 3] => 4, 3);
        let state = |l: usize| {
            let (abcd, e) = (_mm_add_epi32(abcd, h0[l]), _mm_sha1nexte_epu32(h1[l], e));
            let word = |v: i32| v as u32;
            [
                word(_mm_extract_epi32(abcd, 3)),
                word(_mm_extract_epi32(abcd, 2)),
                word(_mm_extract_epi32(abcd, 1)),
                word(_mm_extract_epi32(abcd, 0)),
                word(_mm_extract_epi32(e, 3)),
            ]
        };
        (state(0), state(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every lane gives the `sha1` crate's state, whatever the bytes (not only well-padded
    /// messages), including when blocks repeat, two or sixteen at a time or any other count.
    #[test]
    fn each_lane_is_the_crates_hash() {
        let mut many = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..5_000 {
            let mut blocks = [[0u8; 64]; 2];
            for block in &mut blocks {
                // Mostly sparse blocks like the Community ID's, sometimes dense ones.
                let filled = if i % 4 == 0 { 64 } else { 16 };
                for chunk in block[..filled].chunks_exact_mut(8) {
                    chunk.copy_from_slice(&next().to_le_bytes());
                }
            }
            if i % 10 == 0 {
                blocks[1] = blocks[0];
            }
            let [a, b] = &blocks;
            assert_eq!(hash_pair(a, b), (hash(a), hash(b)), "case {i}");
            many.extend(blocks);
        }
        for n in [1, 2, 3, 15, MANY, 17] {
            for chunk in many.chunks_exact(n) {
                let mut states = vec![[0; 5]; n];
                hash_many(chunk, &mut states);
                let want: Vec<_> = chunk.iter().map(hash).collect();
                assert_eq!(states, want, "{n} at a time");
            }
        }
    }
}
