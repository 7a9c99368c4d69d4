//! Sixteen one-block SHA-1 hashes at once, one per 32-bit lane of two groups of 256-bit
//! registers, with AVX-512's rotate and ternary-logic instructions.
//!
//! SHA-1 is a chain of 80 dependent rounds: one hash at a time (even with the SHA extensions,
//! about 35 ns a block here with two interleaved) spends most of its time waiting. Sixteen
//! independent hashes, round by round in the lanes of the registers, cost about 16 ns each.
//! 512-bit registers were 1 ns faster here, but Intel's first AVX-512 server cores (Skylake-SP,
//! Cascade Lake) lower their clock for a while after 512-bit work, which would slow the rest of
//! the flatten; 256-bit integer work does not. The rounds are FIPS 180-4's; `sha1_lanes`' test
//! checks every lane against the `sha1` crate.
#![cfg(target_arch = "x86_64")]

use core::arch::x86_64::*;

use super::sha1_lanes::IV;

/// Whether this CPU runs [`sixteen`].
pub fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
}

/// The SHA-1 states after compressing one padded block each, from the initial state.
///
/// # Safety
/// The CPU must have AVX2 and AVX-512 F and VL ([`available`]).
#[target_feature(enable = "avx2,avx512f,avx512vl")]
pub unsafe fn sixteen(blocks: &[[u8; 64]; 16]) -> [[u32; 5]; 16] {
    // Word t of eight blocks into one register: lane l reads the 4 bytes at 64 l + 4 t, and
    // the bytes are swapped because SHA-1 words are big-endian.
    let lanes = _mm256_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112);
    let big_endian = _mm256_setr_epi8(
        3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12,
    );
    let base = blocks.as_ptr().cast::<i32>();
    let mut w = [[_mm256_setzero_si256(); 16]; 2];
    for (g, w) in w.iter_mut().enumerate() {
        for (t, wt) in w.iter_mut().enumerate() {
            // SAFETY: lane l reads 4 bytes at 64 (8 g + l) + 4 t with g < 2, l < 8, t < 16:
            // inside `blocks`.
            let gathered = unsafe { _mm256_i32gather_epi32::<4>(base.add(128 * g + t), lanes) };
            *wt = _mm256_shuffle_epi8(gathered, big_endian);
        }
    }
    // The working variables a..e of each group of eight.
    let mut v = [IV.map(|x| _mm256_set1_epi32(x as i32)); 2];
    // Twenty rounds with one boolean function (a ternary-logic truth table) and constant, both
    // groups in turn: two independent chains for the core to overlap.
    macro_rules! rounds {
        ($from:expr, $f:expr, $k:expr) => {
            let k = _mm256_set1_epi32($k as i32);
            for t in $from..$from + 20 {
                for (w, v) in w.iter_mut().zip(v.iter_mut()) {
                    let wt = if t < 16 {
                        w[t]
                    } else {
                        // W[t] = rotl1(W[t-3] ^ W[t-8] ^ W[t-14] ^ W[t-16]), in a ring of 16.
                        let x = _mm256_ternarylogic_epi32::<0x96>(w[(t - 3) & 15], w[(t - 8) & 15], w[(t - 14) & 15]);
                        let x = _mm256_rol_epi32::<1>(_mm256_xor_si256(x, w[t & 15]));
                        w[t & 15] = x;
                        x
                    };
                    let [a, b, c, d, e] = *v;
                    let f = _mm256_ternarylogic_epi32::<$f>(b, c, d);
                    let sum = _mm256_add_epi32(
                        _mm256_add_epi32(_mm256_rol_epi32::<5>(a), f),
                        _mm256_add_epi32(e, _mm256_add_epi32(wt, k)),
                    );
                    *v = [sum, a, _mm256_rol_epi32::<30>(b), c, d];
                }
            }
        };
    }
    rounds!(0, 0xca, 0x5a82_7999u32); // choose: b ? c : d
    rounds!(20, 0x96, 0x6ed9_eba1u32); // parity: b ^ c ^ d
    rounds!(40, 0xe8, 0x8f1b_bcdcu32); // majority of b, c, d
    rounds!(60, 0x96, 0xca62_c1d6u32);
    let mut states = [[0u32; 5]; 16];
    for (g, v) in v.iter().enumerate() {
        for (j, (reg, iv)) in v.iter().zip(IV).enumerate() {
            let mut words = [0u32; 8];
            // SAFETY: `words` is 32 bytes, the width of one unaligned store.
            unsafe {
                _mm256_storeu_si256(words.as_mut_ptr().cast(), _mm256_add_epi32(*reg, _mm256_set1_epi32(iv as i32)))
            };
            for (state, word) in states[8 * g..].iter_mut().zip(words) {
                state[j] = word;
            }
        }
    }
    states
}
