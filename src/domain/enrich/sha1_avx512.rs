//! Sixteen one-block SHA-1 hashes at once, one per 32-bit lane of AVX-512 registers.
//!
//! SHA-1 is a chain of 80 dependent rounds: one hash at a time (even with the SHA extensions,
//! about 35 ns a block here with two interleaved) spends most of its time waiting. Sixteen
//! independent hashes, round by round in the lanes of one register, cost about 15 ns each.
//! The rounds are FIPS 180-4's; `sha1_lanes`' test checks every lane against the `sha1` crate.
#![cfg(target_arch = "x86_64")]

use core::arch::x86_64::*;

use super::sha1_lanes::IV;

/// Whether this CPU runs [`sixteen`].
pub fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bw")
}

/// The SHA-1 states after compressing one padded block each, from the initial state.
///
/// # Safety
/// The CPU must have AVX-512 F and BW ([`available`]).
#[target_feature(enable = "avx512f,avx512bw")]
pub unsafe fn sixteen(blocks: &[[u8; 64]; 16]) -> [[u32; 5]; 16] {
    // Word t of every block into one register: lane l reads the 4 bytes at 64 l + 4 t, and
    // the bytes are swapped because SHA-1 words are big-endian.
    let lanes = _mm512_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240);
    let big_endian = _mm512_set4_epi32(0x0c0d_0e0f, 0x0809_0a0b, 0x0405_0607, 0x0001_0203);
    let base = blocks.as_ptr().cast::<i32>();
    let mut w = [_mm512_setzero_si512(); 16];
    for (t, wt) in w.iter_mut().enumerate() {
        // SAFETY: every lane reads 4 bytes at 64 l + 4 t with l, t < 16: inside `blocks`.
        let gathered = unsafe { _mm512_i32gather_epi32::<4>(lanes, base.add(t)) };
        *wt = _mm512_shuffle_epi8(gathered, big_endian);
    }
    let [mut a, mut b, mut c, mut d, mut e] = IV.map(|v| _mm512_set1_epi32(v as i32));
    // Twenty rounds with one boolean function (a ternary-logic truth table) and constant.
    macro_rules! rounds {
        ($from:expr, $f:expr, $k:expr) => {
            let k = _mm512_set1_epi32($k as i32);
            for t in $from..$from + 20 {
                let wt = if t < 16 {
                    w[t]
                } else {
                    // W[t] = rotl1(W[t-3] ^ W[t-8] ^ W[t-14] ^ W[t-16]), in a ring of 16.
                    let x = _mm512_ternarylogic_epi32::<0x96>(w[(t - 3) & 15], w[(t - 8) & 15], w[(t - 14) & 15]);
                    let x = _mm512_rol_epi32::<1>(_mm512_xor_si512(x, w[t & 15]));
                    w[t & 15] = x;
                    x
                };
                let f = _mm512_ternarylogic_epi32::<$f>(b, c, d);
                let sum = _mm512_add_epi32(
                    _mm512_add_epi32(_mm512_rol_epi32::<5>(a), f),
                    _mm512_add_epi32(e, _mm512_add_epi32(wt, k)),
                );
                (e, d, c, b, a) = (d, c, _mm512_rol_epi32::<30>(b), a, sum);
            }
        };
    }
    rounds!(0, 0xca, 0x5a82_7999u32); // choose: b ? c : d
    rounds!(20, 0x96, 0x6ed9_eba1u32); // parity: b ^ c ^ d
    rounds!(40, 0xe8, 0x8f1b_bcdcu32); // majority of b, c, d
    rounds!(60, 0x96, 0xca62_c1d6u32);
    let mut states = [[0u32; 5]; 16];
    for (j, (reg, iv)) in [a, b, c, d, e].into_iter().zip(IV).enumerate() {
        let mut words = [0u32; 16];
        // SAFETY: `words` is 64 bytes, the width of one unaligned store.
        unsafe { _mm512_storeu_si512(words.as_mut_ptr().cast(), _mm512_add_epi32(reg, _mm512_set1_epi32(iv as i32))) };
        for (state, word) in states.iter_mut().zip(words) {
            state[j] = word;
        }
    }
    states
}
