//! Training-time augmentation that imitates voices and rooms we do not have: speed
//! perturbation (Ko et al. 2015: the recording replayed 0.9-1.1x faster, changing tempo and
//! pitch together), vocal-tract-length perturbation (the filterbank's frequency axis
//! stretched, see [`crate::speech::audio::features::vtlp_warp`]), additive noise at a random SNR, and
//! SpecAugment's time and frequency masks (Park et al. 2019) on the normalised frames.

use recurrent::rng::Rng;
use serde::{Deserialize, Serialize};

/// How much of each augmentation; zeros switch one off. Stored with the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AugmentConfig {
    /// Speed factors drawn uniformly from [1 - speed, 1 + speed].
    pub speed: f64,
    /// VTLP factors drawn uniformly from [1 - vtlp, 1 + vtlp].
    pub vtlp: f64,
    /// Probability of adding white noise; its SNR is drawn from [noise_snr_min, noise_snr_max] dB.
    pub noise_prob: f64,
    pub noise_snr_min: f64,
    pub noise_snr_max: f64,
    /// SpecAugment: this many frequency masks, each up to `freq_mask_width` bands.
    pub freq_masks: usize,
    pub freq_mask_width: usize,
    /// SpecAugment: this many time masks, each up to `time_mask_frac` of the frames.
    pub time_masks: usize,
    pub time_mask_frac: f64,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        AugmentConfig {
            speed: 0.15,
            vtlp: 0.15,
            noise_prob: 0.5,
            noise_snr_min: 10.0,
            noise_snr_max: 40.0,
            freq_masks: 2,
            freq_mask_width: 6,
            time_masks: 2,
            time_mask_frac: 0.1,
        }
    }
}

impl AugmentConfig {
    /// No augmentation at all.
    pub fn none() -> Self {
        AugmentConfig {
            speed: 0.0,
            vtlp: 0.0,
            noise_prob: 0.0,
            noise_snr_min: 0.0,
            noise_snr_max: 0.0,
            freq_masks: 0,
            freq_mask_width: 0,
            time_masks: 0,
            time_mask_frac: 0.0,
        }
    }
    /// Checks ranges; errors name the flag.
    pub fn validate(&self) -> recurrent::Result<()> {
        let bad = |m: String| Err(recurrent::Error::Config(m));
        if !(0.0..0.5).contains(&self.speed) || !(0.0..0.5).contains(&self.vtlp) {
            return bad(format!(
                "--speed-perturb and --vtlp must be in [0, 0.5), got {} and {}",
                self.speed, self.vtlp
            ));
        }
        if !(0.0..=1.0).contains(&self.noise_prob) || self.noise_snr_min > self.noise_snr_max {
            return bad(
                "--noise-prob must be in [0, 1] and --noise-snr-min <= --noise-snr-max".into(),
            );
        }
        if !(0.0..1.0).contains(&self.time_mask_frac) {
            return bad(format!(
                "--time-mask-frac must be in [0, 1), got {}",
                self.time_mask_frac
            ));
        }
        Ok(())
    }
}

/// The recording played `factor` times faster (shorter and higher), at the same rate.
pub fn speed_perturb(x: &[f32], rate: u32, factor: f64) -> Vec<f32> {
    // Integer rates in steps of rate/100 keep the resampler's FFTs small.
    let step = (rate / 100).max(1);
    let from = ((rate as f64 * factor / step as f64).round() as u32).max(1) * step;
    crate::speech::audio::resample::resample(x, from, rate).unwrap_or_else(|_| x.to_vec())
}

/// Adds white Gaussian noise at `snr_db` below the signal's power.
pub fn add_noise(x: &mut [f32], snr_db: f64, rng: &mut Rng) {
    let p = x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64;
    let sigma = (p / 10f64.powf(snr_db / 10.0)).sqrt();
    for v in x.iter_mut() {
        *v += (sigma * rng.normal()) as f32;
    }
}

/// SpecAugment masks on frames [T, n] (normalised, so 0 is the mean), in place.
pub fn spec_augment(frames: &mut [f32], n: usize, cfg: &AugmentConfig, rng: &mut Rng) {
    let t = frames.len() / n.max(1);
    for _ in 0..cfg.freq_masks {
        let w = rng.below(cfg.freq_mask_width.min(n) + 1);
        let f0 = rng.below(n - w + 1);
        for i in 0..t {
            frames[i * n + f0..i * n + f0 + w].fill(0.0);
        }
    }
    let max_w = (cfg.time_mask_frac * t as f64) as usize;
    for _ in 0..cfg.time_masks {
        let w = rng.below(max_w + 1);
        let t0 = rng.below(t - w + 1);
        frames[t0 * n..(t0 + w) * n].fill(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faster_is_shorter() {
        let x = vec![0.1f32; 8000];
        assert_eq!(speed_perturb(&x, 8000, 1.25).len(), 6400);
        assert_eq!(speed_perturb(&x, 8000, 0.8).len(), 10000);
    }

    #[test]
    fn masks_stay_in_bounds() {
        let mut rng = Rng::new(1);
        let cfg = AugmentConfig {
            freq_mask_width: 100,
            time_mask_frac: 0.9,
            ..Default::default()
        };
        for t in 1..20 {
            let mut f = vec![1.0f32; t * 5];
            spec_augment(&mut f, 5, &cfg, &mut rng);
        }
    }
}
