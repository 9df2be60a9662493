//! Drawing the next token from logits: temperature, top-k and top-p (nucleus) sampling.
//!
//! p_i = softmax(z_i / temperature); top-k keeps the k most probable tokens; top-p keeps the
//! smallest set of most probable tokens whose probability sums to at least p; what is kept is
//! renormalised and one token drawn. Temperature 0 is greedy (argmax).

use crate::error::{Error, Result};
use crate::float::Float;
use crate::rng::Rng;

/// Sampling settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplerConfig {
    /// Softmax temperature; 0 means argmax.
    pub temperature: f64,
    /// Keep only the k most probable tokens (0: all).
    pub top_k: usize,
    /// Keep the smallest most-probable set with mass >= p (1.0: all).
    pub top_p: f64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
        }
    }
}

impl SamplerConfig {
    /// Checks ranges; the error names the flag.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(Error::Config(format!(
                "--temperature must be >= 0, got {}",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::Config(format!(
                "--top-p must be in (0, 1], got {}",
                self.top_p
            )));
        }
        Ok(())
    }
}

/// A sampler with its scratch space (no allocation per token after the first).
#[derive(Clone, Debug)]
pub struct Sampler {
    pub config: SamplerConfig,
    probs: Vec<(f64, u32)>,
}

impl Sampler {
    pub fn new(config: SamplerConfig) -> Result<Self> {
        config.validate()?;
        Ok(Sampler {
            config,
            probs: Vec::new(),
        })
    }

    /// Draws a token id from `logits` [V].
    pub fn sample<F: Float>(&mut self, logits: &[F], rng: &mut Rng) -> u32 {
        let c = self.config;
        if c.temperature == 0.0 {
            return argmax(logits);
        }
        let max = logits
            .iter()
            .fold(f64::NEG_INFINITY, |m, v| m.max(v.to64()));
        self.probs.clear();
        self.probs.extend(
            logits
                .iter()
                .enumerate()
                .map(|(i, v)| (((v.to64() - max) / c.temperature).exp(), i as u32)),
        );
        if c.top_k > 0 || c.top_p < 1.0 {
            // Most probable first; ties by index so the result is deterministic.
            self.probs
                .sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            if c.top_k > 0 {
                self.probs.truncate(c.top_k);
            }
            if c.top_p < 1.0 {
                let total: f64 = self.probs.iter().map(|p| p.0).sum();
                let mut acc = 0.0;
                let mut keep = self.probs.len();
                for (i, p) in self.probs.iter().enumerate() {
                    acc += p.0 / total;
                    if acc >= c.top_p {
                        keep = i + 1;
                        break;
                    }
                }
                self.probs.truncate(keep);
            }
        }
        let total: f64 = self.probs.iter().map(|p| p.0).sum();
        let mut u = rng.uniform() * total;
        for &(p, i) in &self.probs {
            if u < p {
                return i;
            }
            u -= p;
        }
        self.probs.last().map_or(0, |p| p.1)
    }
}

/// The index of the largest value (the first on ties).
pub fn argmax<F: Float>(v: &[F]) -> u32 {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best as u32
}

/// log softmax of `z` into `out` (same length).
pub fn log_softmax<F: Float>(z: &[F], out: &mut [f64]) {
    let max = z.iter().fold(f64::NEG_INFINITY, |m, v| m.max(v.to64()));
    let lse = z.iter().map(|v| (v.to64() - max).exp()).sum::<f64>().ln() + max;
    out.iter_mut().zip(z).for_each(|(o, v)| *o = v.to64() - lse);
}

/// Class probabilities [B, K] from logits [B, K] (softmax per row, computed in f64).
pub fn softmax_rows(logits: &[f32], k: usize) -> Vec<f64> {
    let mut p = vec![0.0f64; logits.len()];
    for (row, out) in logits.chunks(k).zip(p.chunks_mut(k)) {
        let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        let mut sum = 0.0;
        for (o, &x) in out.iter_mut().zip(row) {
            *o = (x as f64 - m).exp();
            sum += *o;
        }
        out.iter_mut().for_each(|o| *o /= sum);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_topk_topp() {
        let logits = [0.0f64, 3.0, 1.0, 2.9];
        let mut rng = Rng::new(1);
        let mut s = Sampler::new(SamplerConfig {
            temperature: 0.0,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.sample(&logits, &mut rng), 1);
        let mut s = Sampler::new(SamplerConfig {
            top_k: 2,
            ..Default::default()
        })
        .unwrap();
        for _ in 0..200 {
            let t = s.sample(&logits, &mut rng);
            assert!(t == 1 || t == 3);
        }
        // top-p 0.5: token 1 alone has ~47% mass here, so 1 and 3 are kept.
        let mut s = Sampler::new(SamplerConfig {
            top_p: 0.5,
            ..Default::default()
        })
        .unwrap();
        let mut seen = [0; 4];
        for _ in 0..400 {
            seen[s.sample(&logits, &mut rng) as usize] += 1;
        }
        assert_eq!(seen[0] + seen[2], 0);
        assert!(seen[1] > 100 && seen[3] > 100);
        // Frequencies follow the softmax at temperature 1.
        let mut s = Sampler::new(SamplerConfig::default()).unwrap();
        let mut seen = [0usize; 4];
        let n = 20000;
        for _ in 0..n {
            seen[s.sample(&logits, &mut rng) as usize] += 1;
        }
        let z: f64 = logits.iter().map(|v| v.exp()).sum();
        for i in 0..4 {
            let p = logits[i].exp() / z;
            assert!((seen[i] as f64 / n as f64 - p).abs() < 0.015, "token {i}");
        }
        assert!(Sampler::new(SamplerConfig {
            top_p: 0.0,
            ..Default::default()
        })
        .is_err());
        assert!(Sampler::new(SamplerConfig {
            temperature: -1.0,
            ..Default::default()
        })
        .is_err());
    }
}
