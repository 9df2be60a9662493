//! The seeded random number generator behind initialisation, dropout, shuffling and sampling.
//!
//! ChaCha8 (the `rand_chacha` crate): fast, portable (the same stream on every machine), and
//! its position can be saved and restored exactly, which resumable training needs.

use rand::{Rng as _, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A seeded, checkpointable random stream.
#[derive(Clone, Debug)]
pub struct Rng {
    inner: ChaCha8Rng,
    seed: u64,
}

/// The saved position of an [`Rng`]: its seed and how many 32-bit words it has produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    pub seed: u64,
    /// ChaCha's word position, as a decimal string (it is a u128, beyond JSON numbers).
    pub word_pos: String,
}

impl Rng {
    /// A stream for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng {
            inner: ChaCha8Rng::seed_from_u64(seed),
            seed,
        }
    }
    /// An independent stream derived from this one's seed and a label (e.g. "dropout").
    pub fn fork(&self, label: &str) -> Self {
        // FNV-1a over the label, mixed with the seed: stable across platforms and versions.
        let mut h: u64 = 0xcbf29ce484222325 ^ self.seed.wrapping_mul(0x9e3779b97f4a7c15);
        for b in label.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        Rng::new(h)
    }
    /// The position to save.
    pub fn state(&self) -> RngState {
        RngState {
            seed: self.seed,
            word_pos: self.inner.get_word_pos().to_string(),
        }
    }
    /// Restores a saved position.
    pub fn from_state(s: &RngState) -> Option<Self> {
        let pos: u128 = s.word_pos.parse().ok()?;
        let mut r = Rng::new(s.seed);
        r.inner.set_word_pos(pos);
        Some(r)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        // 53 random bits: exactly representable, never 1.0.
        (self.inner.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    /// Uniform in [lo, hi).
    pub fn uniform_in(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }
    /// Standard normal (Box-Muller; one of the pair is discarded so the stream position
    /// depends only on the number of calls).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
    /// Uniform integer in [0, n). `n` must be > 0.
    pub fn below(&mut self, n: usize) -> usize {
        self.inner.random_range(0..n.max(1))
    }
    /// A raw 64-bit word.
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }
    /// Shuffles a slice in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}
