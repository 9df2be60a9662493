//! Connected utterances built from isolated recordings (speech: spoken digits joined into
//! digit strings for CTC training), as a pure function over sample arrays: no file is read,
//! and the same recordings, settings and seed always give the same utterances.
//!
//! Utterance i joins n recordings (n uniform in `min_parts..=max_parts`, each drawn uniformly,
//! with replacement) with a gap of g seconds between neighbours (g uniform in
//! `[min_gap_s, max_gap_s]`), the gaps filled with quiet Gaussian noise:
//!
//! ```text
//! samples = r_1 | noise(g_1) | r_2 | ... | noise(g_{n-1}) | r_n
//! noise   ~ N(0, (noise_level * rms)^2),  rms = root mean square of r_1 .. r_n together
//! ```
//!
//! Noise relative to the recordings' own level keeps the gaps equally quiet for a loud and a
//! soft speaker. Utterance i draws from its own stream (the seed forked by i), so it does not
//! depend on how many utterances are asked for. Give one speaker's recordings at a time:
//! joining voices would make utterances no speaker could say.

use recurrent::error::{Error, Result};
use recurrent::rng::Rng;
use serde::{Deserialize, Serialize};

/// How utterances are built.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectConfig {
    /// Fewest recordings per utterance.
    pub min_parts: usize,
    /// Most recordings per utterance.
    pub max_parts: usize,
    /// Shortest gap between recordings, seconds.
    pub min_gap_s: f64,
    /// Longest gap, seconds.
    pub max_gap_s: f64,
    /// Noise standard deviation as a fraction of the joined recordings' RMS.
    pub noise_level: f64,
    /// Also put a gap before the first and after the last recording.
    pub edge_gaps: bool,
}

impl Default for ConnectConfig {
    fn default() -> Self {
        ConnectConfig {
            min_parts: 1,
            max_parts: 7,
            min_gap_s: 0.05,
            max_gap_s: 0.3,
            noise_level: 0.01,
            edge_gaps: false,
        }
    }
}

impl ConnectConfig {
    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        if self.min_parts == 0 || self.min_parts > self.max_parts {
            return Err(Error::Config(format!(
                "recordings per utterance: need 1 <= min ({}) <= max ({})",
                self.min_parts, self.max_parts
            )));
        }
        if !(self.min_gap_s >= 0.0
            && self.min_gap_s <= self.max_gap_s
            && self.max_gap_s.is_finite())
        {
            return Err(Error::Config(format!(
                "gap: need 0 <= min ({}) <= max ({}) seconds",
                self.min_gap_s, self.max_gap_s
            )));
        }
        if !(self.noise_level >= 0.0 && self.noise_level.is_finite()) {
            return Err(Error::Config(format!(
                "noise level must be >= 0, got {}",
                self.noise_level
            )));
        }
        Ok(())
    }
}

/// One built utterance.
#[derive(Clone, Debug, PartialEq)]
pub struct Connected {
    /// The joined samples.
    pub samples: Vec<f32>,
    /// The recordings' labels, in order.
    pub labels: Vec<usize>,
    /// Which recordings (indices into the input), in order.
    pub parts: Vec<usize>,
    /// Where each recording lies in `samples`: [start, end) sample ranges.
    pub spans: Vec<(usize, usize)>,
}

/// Builds `count` utterances from `recordings` (samples at `sample_rate` Hz, label) of one
/// speaker. Errors on no recordings, an empty or non-finite recording (naming it), or a bad
/// configuration.
pub fn connect(
    recordings: &[(&[f32], usize)],
    sample_rate: u32,
    count: usize,
    cfg: &ConnectConfig,
    seed: u64,
) -> Result<Vec<Connected>> {
    cfg.validate()?;
    if recordings.is_empty() {
        return Err(Error::Input("no recordings to join".into()));
    }
    if sample_rate == 0 {
        return Err(Error::Config("sample rate must be positive".into()));
    }
    for (i, (s, _)) in recordings.iter().enumerate() {
        if s.is_empty() || s.iter().any(|v| !v.is_finite()) {
            return Err(Error::Input(format!(
                "recording {i} is empty or holds a NaN or infinite sample"
            )));
        }
    }
    let base = Rng::new(seed);
    let gap_samples = |rng: &mut Rng| {
        (rng.uniform_in(cfg.min_gap_s, cfg.max_gap_s.max(cfg.min_gap_s)) * sample_rate as f64)
            .round() as usize
    };
    Ok((0..count)
        .map(|i| {
            let mut rng = base.fork(&format!("connected-{i}"));
            let n = cfg.min_parts + rng.below(cfg.max_parts - cfg.min_parts + 1);
            let parts: Vec<usize> = (0..n).map(|_| rng.below(recordings.len())).collect();
            let (sq, len) = parts.iter().fold((0.0f64, 0usize), |(sq, len), &p| {
                let s = recordings[p].0;
                (
                    sq + s.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>(),
                    len + s.len(),
                )
            });
            let sd = cfg.noise_level * (sq / len as f64).sqrt();
            let mut samples = Vec::new();
            let mut spans = Vec::with_capacity(n);
            let noise = |samples: &mut Vec<f32>, rng: &mut Rng| {
                let g = gap_samples(rng);
                samples.extend((0..g).map(|_| (sd * rng.normal()) as f32));
            };
            for (j, &p) in parts.iter().enumerate() {
                if j > 0 || cfg.edge_gaps {
                    noise(&mut samples, &mut rng);
                }
                let start = samples.len();
                samples.extend_from_slice(recordings[p].0);
                spans.push((start, samples.len()));
            }
            if cfg.edge_gaps {
                noise(&mut samples, &mut rng);
            }
            Connected {
                samples,
                labels: parts.iter().map(|&p| recordings[p].1).collect(),
                parts,
                spans,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recordings() -> Vec<(Vec<f32>, usize)> {
        // Ten "digits": a sine of its own pitch and length, at a level of its own.
        (0..10)
            .map(|d| {
                let n = 800 + 100 * d;
                let amp = 0.1 + 0.05 * d as f32;
                let s = (0..n)
                    .map(|i| amp * (i as f32 * 0.05 * (d + 1) as f32).sin())
                    .collect();
                (s, d)
            })
            .collect()
    }

    #[test]
    fn joins_recordings_with_quiet_gaps() {
        let recs = recordings();
        let refs: Vec<(&[f32], usize)> = recs.iter().map(|(s, l)| (s.as_slice(), *l)).collect();
        let cfg = ConnectConfig::default();
        let rate = 8000;
        let utts = connect(&refs, rate, 200, &cfg, 7).unwrap();
        let mut counts = [0usize; 8];
        for u in &utts {
            let n = u.parts.len();
            assert!((1..=7).contains(&n));
            counts[n] += 1;
            assert_eq!(
                u.labels,
                u.parts.iter().map(|&p| recs[p].1).collect::<Vec<_>>()
            );
            assert_eq!(u.spans.len(), n);
            assert_eq!(u.spans[0].0, 0);
            assert_eq!(u.spans[n - 1].1, u.samples.len());
            for (j, &(a, b)) in u.spans.iter().enumerate() {
                // Each recording is there, sample for sample.
                assert_eq!(&u.samples[a..b], recs[u.parts[j]].0.as_slice());
                if j > 0 {
                    let gap = a - u.spans[j - 1].1;
                    assert!((400..=2400).contains(&gap), "gap of {gap} samples");
                    // Quiet: far below the recordings' level, but not silent.
                    let g = &u.samples[u.spans[j - 1].1..a];
                    let rms = (g.iter().map(|v| v * v).sum::<f32>() / g.len() as f32).sqrt();
                    assert!(rms > 1e-4 && rms < 0.01, "gap rms {rms}");
                }
            }
        }
        // Every length from 1 to 7 occurs.
        assert!(counts[1..].iter().all(|&c| c > 10), "{counts:?}");
    }

    #[test]
    fn deterministic_and_independent_of_count() {
        let recs = recordings();
        let refs: Vec<(&[f32], usize)> = recs.iter().map(|(s, l)| (s.as_slice(), *l)).collect();
        let cfg = ConnectConfig {
            edge_gaps: true,
            ..Default::default()
        };
        let a = connect(&refs, 8000, 20, &cfg, 3).unwrap();
        let b = connect(&refs, 8000, 5, &cfg, 3).unwrap();
        assert_eq!(&a[..5], &b[..]);
        assert_eq!(a, connect(&refs, 8000, 20, &cfg, 3).unwrap());
        let c = connect(&refs, 8000, 20, &cfg, 4).unwrap();
        assert_ne!(a, c);
        // Edge gaps: the first recording does not start at 0.
        assert!(a
            .iter()
            .all(|u| u.spans[0].0 >= 400 && u.spans.last().unwrap().1 + 400 <= u.samples.len()));
    }

    #[test]
    fn rejects_bad_input() {
        let good = [0.1f32; 10];
        let nan = [f32::NAN; 3];
        let cfg = ConnectConfig::default();
        assert!(connect(&[], 8000, 1, &cfg, 0).is_err());
        let err = connect(&[(&good, 1), (&nan, 2)], 8000, 1, &cfg, 0).unwrap_err();
        assert!(err.to_string().contains("recording 1"), "{err}");
        assert!(connect(&[(&good, 1), (&[], 2)], 8000, 1, &cfg, 0).is_err());
        let bad = ConnectConfig {
            min_parts: 3,
            max_parts: 2,
            ..Default::default()
        };
        assert!(connect(&[(&good, 1)], 8000, 1, &bad, 0).is_err());
        let bad = ConnectConfig {
            min_gap_s: 0.5,
            ..Default::default()
        };
        assert!(connect(&[(&good, 1)], 8000, 1, &bad, 0).is_err());
        assert!(connect(&[(&good, 1)], 0, 1, &cfg, 0).is_err());
        assert_eq!(connect(&[(&good, 1)], 8000, 0, &cfg, 0).unwrap(), vec![]);
    }
}
