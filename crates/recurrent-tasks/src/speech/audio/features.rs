//! Log-mel filterbank frames, computed exactly as librosa 0.11 computes
//!
//! ```text
//! S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop,
//!         win_length=win, window="hann", center=True, pad_mode="constant", power=2.0,
//!         n_mels=n_mels, fmin=fmin, fmax=fmax, htk=False, norm="slaney")
//! features = log(max(S, log_floor)).T          # [T, n_mels], natural log
//! ```
//!
//! (checked against values librosa wrote: tests/fixtures/audio, scripts/audio_fixtures.py),
//! then, by default, normalised per utterance: each band minus its mean over the frames,
//! divided by its standard deviation. Loudness is a constant added to every log band, so the
//! mean removes it (speakers here differ by 7x in level).
//!
//! Conventions, spelled out because every toolkit picks differently:
//! - window: periodic Hann of `win` samples (25 ms), centred in an `n_fft`-point frame
//!   (`n_fft` = the next power of two >= `win`: 256 at 8 kHz);
//! - frames every `hop` samples (10 ms); the signal is padded with `n_fft / 2` zeros on both
//!   sides, so frame t is centred on sample `t * hop` and there are `1 + len / hop` frames;
//! - power spectrum |X|^2, no scaling by the window's energy;
//! - mel scale and filter normalisation of Slaney's Auditory Toolbox (librosa's default):
//!   linear below 1 kHz, logarithmic above; each triangle scaled to unit area (2 / width);
//! - samples are in [-1, 1] (16-bit PCM divided by 32768).
//!
//! Optionally (`n_mfcc > 0`) each frame's log-mel vector becomes its first `n_mfcc`
//! cepstral coefficients, the orthonormal DCT-II (MFCCs):
//!
//! ```text
//! c_k = s_k sum_m x_m cos(pi k (2m + 1) / (2M)),   s_0 = sqrt(1/M), s_k = sqrt(2/M)
//! ```
//!
//! librosa.feature.mfcc computes the same from its dB scale (10 log10), a constant factor
//! 10 / ln 10 away from our natural log, which the per-utterance normalisation removes. The
//! low coefficients keep the spectral envelope (the vocal tract: which vowel, which digit)
//! and drop the fine harmonic ripple of the voice's pitch, which at 8 kHz and 25 ms the
//! 40 bands still resolve below 1 kHz and which differs from speaker to speaker.

use realfft::{RealFftPlanner, RealToComplex};
use recurrent::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What turns audio into frames; stored in every speech checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeatureConfig {
    /// The model's sample rate: audio at any other rate is resampled to it.
    pub sample_rate: u32,
    /// Window length, milliseconds.
    pub win_ms: f64,
    /// Hop between frames, milliseconds.
    pub hop_ms: f64,
    /// Mel bands.
    pub n_mels: usize,
    /// FFT size (None: the next power of two >= the window).
    pub n_fft: Option<usize>,
    /// Lowest filter edge, Hz.
    pub fmin: f64,
    /// Highest filter edge, Hz (None: sample_rate / 2).
    pub fmax: Option<f64>,
    /// Power below this becomes this before the log.
    pub log_floor: f64,
    /// Normalise each band per utterance to zero mean and unit variance.
    pub normalize: bool,
    /// Cepstral coefficients kept per frame (MFCCs, see the module doc); 0: the log-mel
    /// bands themselves.
    pub n_mfcc: usize,
    /// Drop the leading and trailing frames whose energy is more than this many dB below
    /// the utterance's loudest frame (one isolated word per file; None: keep every frame).
    pub trim_db: Option<f64>,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            sample_rate: 8000,
            win_ms: 25.0,
            hop_ms: 10.0,
            n_mels: 40,
            n_fft: None,
            fmin: 0.0,
            fmax: None,
            log_floor: 1e-10,
            normalize: true,
            n_mfcc: 0,
            trim_db: None,
        }
    }
}

impl FeatureConfig {
    /// Window length in samples.
    pub fn win_len(&self) -> usize {
        (self.sample_rate as f64 * self.win_ms / 1000.0).round() as usize
    }
    /// Hop in samples.
    pub fn hop(&self) -> usize {
        (self.sample_rate as f64 * self.hop_ms / 1000.0).round() as usize
    }
    /// FFT size.
    pub fn fft_len(&self) -> usize {
        self.n_fft
            .unwrap_or_else(|| self.win_len().max(1).next_power_of_two())
    }
    /// Values per frame the model reads: `n_mfcc`, or `n_mels` without cepstra.
    pub fn dim(&self) -> usize {
        if self.n_mfcc > 0 {
            self.n_mfcc
        } else {
            self.n_mels
        }
    }
    /// Highest filter edge.
    pub fn fmax(&self) -> f64 {
        self.fmax.unwrap_or(self.sample_rate as f64 / 2.0)
    }
    /// Checks ranges; errors name the flag.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.sample_rate < crate::speech::audio::wav::MIN_RATE
            || self.sample_rate > crate::speech::audio::wav::MAX_RATE
        {
            return bad(format!(
                "--sample-rate must be 1000 to {} Hz, got {}",
                crate::speech::audio::wav::MAX_RATE,
                self.sample_rate
            ));
        }
        if self.win_len() < 2 || self.hop() < 1 {
            return bad(format!(
                "--win-ms {} and --hop-ms {} give a window of {} and a hop of {} samples",
                self.win_ms,
                self.hop_ms,
                self.win_len(),
                self.hop()
            ));
        }
        if self.fft_len() < self.win_len() || self.fft_len() > 1 << 16 {
            return bad(format!(
                "--n-fft {} must be at least the window ({} samples) and at most 65536",
                self.fft_len(),
                self.win_len()
            ));
        }
        if self.n_mels == 0 || self.n_mels > 512 {
            return bad(format!("--n-mels must be 1 to 512, got {}", self.n_mels));
        }
        if let Some(db) = self.trim_db {
            if !(db > 0.0 && db.is_finite()) {
                return bad(format!("--trim-db must be positive, got {db}"));
            }
        }
        if self.n_mfcc > self.n_mels {
            return bad(format!(
                "--n-mfcc {} cannot exceed --n-mels {} (the cepstrum of M bands has M coefficients)",
                self.n_mfcc, self.n_mels
            ));
        }
        if !(self.fmin >= 0.0
            && self.fmin < self.fmax()
            && self.fmax() <= self.sample_rate as f64 / 2.0)
        {
            return bad(format!(
                "need 0 <= --fmin < --fmax <= sample_rate / 2, got {} and {}",
                self.fmin,
                self.fmax()
            ));
        }
        if !(self.log_floor > 0.0 && self.log_floor.is_finite()) {
            return bad(format!(
                "--log-floor must be positive, got {}",
                self.log_floor
            ));
        }
        Ok(())
    }
}

/// Slaney's mel scale: linear (3 mels per 200 Hz) below 1 kHz, logarithmic above.
pub fn hz_to_mel(f: f64) -> f64 {
    let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
    let logstep = 6.4f64.ln() / 27.0;
    if f >= min_log_hz {
        min_log_hz / f_sp + (f / min_log_hz).ln() / logstep
    } else {
        f / f_sp
    }
}

/// The inverse of [`hz_to_mel`].
pub fn mel_to_hz(m: f64) -> f64 {
    let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if m >= min_log_mel {
        min_log_hz * (logstep * (m - min_log_mel)).exp()
    } else {
        f_sp * m
    }
}

/// Vocal-tract-length perturbation (Jaitly and Hinton 2013): the frequency axis stretched by
/// `alpha` up to a boundary, then a straight line that keeps the Nyquist frequency fixed,
/// so a shorter or longer vocal tract is imitated without losing the top of the spectrum.
pub fn vtlp_warp(f: f64, alpha: f64, nyquist: f64) -> f64 {
    let boundary = 0.8 * nyquist * alpha.min(1.0) / alpha;
    if f <= boundary {
        f * alpha
    } else {
        let b = boundary * alpha;
        nyquist - (nyquist - b) / (nyquist - boundary) * (nyquist - f)
    }
}

/// The mel filterbank [n_mels, n_fft/2 + 1] (librosa.filters.mel with htk=False,
/// norm="slaney"), with the FFT bins' frequencies warped by `alpha` (1: no warp).
pub fn mel_filterbank(cfg: &FeatureConfig, alpha: f64) -> Vec<f64> {
    let (n_fft, n_mels, sr) = (cfg.fft_len(), cfg.n_mels, cfg.sample_rate as f64);
    let bins = n_fft / 2 + 1;
    let nyq = sr / 2.0;
    let fftfreqs: Vec<f64> = (0..bins)
        .map(|k| {
            let f = k as f64 * sr / n_fft as f64;
            if alpha == 1.0 {
                f
            } else {
                vtlp_warp(f, alpha, nyq)
            }
        })
        .collect();
    let (mlo, mhi) = (hz_to_mel(cfg.fmin), hz_to_mel(cfg.fmax()));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(mlo + (mhi - mlo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut w = vec![0.0; n_mels * bins];
    for i in 0..n_mels {
        let (lo, c, hi) = (mel_f[i], mel_f[i + 1], mel_f[i + 2]);
        let enorm = 2.0 / (hi - lo);
        for (k, &f) in fftfreqs.iter().enumerate() {
            let lower = (f - lo) / (c - lo);
            let upper = (hi - f) / (hi - c);
            w[i * bins + k] = lower.min(upper).max(0.0) * enorm;
        }
    }
    w
}

/// Computes log-mel frames; holds the window, the filterbank and the FFT plan.
pub struct MelExtractor {
    pub cfg: FeatureConfig,
    window: Vec<f64>,
    fb: Vec<f64>,
    /// [n_mfcc, n_mels] the DCT-II rows (empty without cepstra).
    dct: Vec<f64>,
    fft: Arc<dyn RealToComplex<f64>>,
}

impl std::fmt::Debug for MelExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MelExtractor")
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl Clone for MelExtractor {
    fn clone(&self) -> Self {
        MelExtractor {
            cfg: self.cfg.clone(),
            window: self.window.clone(),
            fb: self.fb.clone(),
            dct: self.dct.clone(),
            fft: self.fft.clone(),
        }
    }
}

impl MelExtractor {
    pub fn new(cfg: &FeatureConfig) -> Result<Self> {
        cfg.validate()?;
        let (n_fft, win) = (cfg.fft_len(), cfg.win_len());
        // Periodic Hann (scipy's get_window(fftbins=True)), centred in the FFT frame.
        let mut window = vec![0.0; n_fft];
        let lpad = (n_fft - win) / 2;
        for n in 0..win {
            window[lpad + n] =
                0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / win as f64).cos();
        }
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n_fft);
        Ok(MelExtractor {
            cfg: cfg.clone(),
            window,
            fb: mel_filterbank(cfg, 1.0),
            dct: dct_matrix(cfg.n_mfcc, cfg.n_mels),
            fft,
        })
    }

    /// Log-mel frames [T, n_mels] without the quiet frames at either end, when the config
    /// has a `trim_db`: a frame's energy is log sum_m e^(band m), and the frames kept run
    /// from the first to the last within `trim_db` of the loudest, plus 2 frames each side.
    /// Why: speakers leave different amounts of silence around a word (medians 0.35 to
    /// 0.54 s a recording here), and silence shifts the per-utterance statistics and the
    /// mean over frames that the model pools.
    pub fn trim(&self, raw: Vec<f32>) -> Vec<f32> {
        let (Some(db), m) = (self.cfg.trim_db, self.cfg.n_mels) else {
            return raw;
        };
        let energy: Vec<f64> = raw
            .chunks_exact(m)
            .map(|f| {
                let top = f.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
                top + f.iter().map(|&v| (v as f64 - top).exp()).sum::<f64>().ln()
            })
            .collect();
        let peak = energy.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // dB of power to natural log: 10 log10(P) = db  <=>  ln(P) = db ln(10) / 10.
        let floor = peak - db * std::f64::consts::LN_10 / 10.0;
        let loud = |e: &f64| *e >= floor;
        let (Some(first), Some(last)) =
            (energy.iter().position(loud), energy.iter().rposition(loud))
        else {
            return raw;
        };
        let (a, b) = (first.saturating_sub(2), (last + 3).min(energy.len()));
        raw[a * m..b * m].to_vec()
    }

    /// Log-mel frames [T, n_mels] to the model's frames [T, dim] before normalisation:
    /// their cepstra when the config asks for them (module doc), else unchanged.
    pub fn cepstra(&self, raw: Vec<f32>) -> Vec<f32> {
        let (k, m) = (self.cfg.n_mfcc, self.cfg.n_mels);
        if k == 0 {
            return raw;
        }
        raw.chunks_exact(m)
            .flat_map(|frame| {
                self.dct.chunks_exact(m).map(move |row| {
                    row.iter()
                        .zip(frame)
                        .map(|(c, &x)| c * x as f64)
                        .sum::<f64>() as f32
                })
            })
            .collect()
    }

    /// Frames for `len` samples.
    pub fn frames(&self, len: usize) -> usize {
        1 + len / self.cfg.hop()
    }

    /// log(max(mel power, floor)) frames [T, n_mels] (not normalised).
    pub fn log_mel_raw(&self, x: &[f32]) -> Vec<f32> {
        self.log_mel_with(x, &self.fb)
    }

    /// As [`Self::log_mel_raw`] with the filterbank of VTLP factor `alpha`.
    pub fn log_mel_warped(&self, x: &[f32], alpha: f64) -> Vec<f32> {
        if alpha == 1.0 {
            return self.log_mel_raw(x);
        }
        let fb = mel_filterbank(&self.cfg, alpha);
        self.log_mel_with(x, &fb)
    }

    fn log_mel_with(&self, x: &[f32], fb: &[f64]) -> Vec<f32> {
        let (n_fft, hop, n_mels) = (self.cfg.fft_len(), self.cfg.hop(), self.cfg.n_mels);
        let bins = n_fft / 2 + 1;
        let half = (n_fft / 2) as isize;
        let t = self.frames(x.len());
        let mut out = vec![0.0f32; t * n_mels];
        let mut frame = self.fft.make_input_vec();
        let mut spec = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0.0f64; bins];
        for ti in 0..t {
            let start = (ti * hop) as isize - half;
            for (n, v) in frame.iter_mut().enumerate() {
                let i = start + n as isize;
                let s = if i >= 0 && (i as usize) < x.len() {
                    x[i as usize] as f64
                } else {
                    0.0
                };
                *v = s * self.window[n];
            }
            // Sizes come from make_*_vec, so this cannot fail.
            let _ = self
                .fft
                .process_with_scratch(&mut frame, &mut spec, &mut scratch);
            for (p, c) in power.iter_mut().zip(&spec) {
                *p = c.re * c.re + c.im * c.im;
            }
            for m in 0..n_mels {
                let row = &fb[m * bins..(m + 1) * bins];
                let e: f64 = row.iter().zip(&power).map(|(w, p)| w * p).sum();
                out[ti * n_mels + m] = e.max(self.cfg.log_floor).ln() as f32;
            }
        }
        out
    }

    /// The model's input frames [T, n_mels]: log-mel, normalised per utterance if the
    /// config says so.
    pub fn features(&self, x: &[f32]) -> Vec<f32> {
        self.finish(self.log_mel_raw(x))
    }

    /// Log-mel frames [T, n_mels] (plain or warped) to the model's frames [T', dim]: trimmed,
    /// to cepstra, normalised, each as the config says.
    pub fn finish(&self, raw: Vec<f32>) -> Vec<f32> {
        let mut f = self.cepstra(self.trim(raw));
        if self.cfg.normalize {
            normalize(&mut f, self.cfg.dim());
        }
        f
    }
}

/// The first `k` rows of the orthonormal DCT-II of size `m` ([k, m], row-major).
pub fn dct_matrix(k: usize, m: usize) -> Vec<f64> {
    let mf = m as f64;
    (0..k)
        .flat_map(|ki| {
            let s = if ki == 0 {
                (1.0 / mf).sqrt()
            } else {
                (2.0 / mf).sqrt()
            };
            (0..m).map(move |mi| {
                s * (std::f64::consts::PI * ki as f64 * (2 * mi + 1) as f64 / (2.0 * mf)).cos()
            })
        })
        .collect()
}

/// Per-utterance mean and variance normalisation of frames [T, n] in place:
/// `x_tj <- (x_tj - mean_j) / max(std_j, 1e-3)` (population statistics over t).
pub fn normalize(frames: &mut [f32], n: usize) {
    let t = frames.len() / n.max(1);
    if t == 0 {
        return;
    }
    for j in 0..n {
        let mean = (0..t).map(|i| frames[i * n + j] as f64).sum::<f64>() / t as f64;
        let var = (0..t)
            .map(|i| (frames[i * n + j] as f64 - mean).powi(2))
            .sum::<f64>()
            / t as f64;
        let inv = 1.0 / var.sqrt().max(1e-3);
        for i in 0..t {
            let v = &mut frames[i * n + j];
            *v = ((*v as f64 - mean) * inv) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mel_scale_round_trips() {
        for f in [0.0, 100.0, 999.0, 1000.0, 3999.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(f)) - f).abs() < 1e-9);
        }
    }

    #[test]
    fn a_tone_lights_the_band_around_it() {
        let cfg = FeatureConfig::default();
        let ex = MelExtractor::new(&cfg).unwrap();
        let x: Vec<f32> = (0..8000)
            .map(|i| (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 8000.0).sin() as f32)
            .collect();
        let f = ex.log_mel_raw(&x);
        assert_eq!(f.len(), 101 * 40);
        let row = &f[50 * 40..51 * 40];
        let best = (0..40).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        let lo = mel_to_hz(hz_to_mel(0.0) + (hz_to_mel(4000.0)) * best as f64 / 41.0);
        let hi = mel_to_hz(hz_to_mel(4000.0) * (best + 2) as f64 / 41.0);
        assert!(lo < 1000.0 && 1000.0 < hi, "band {best}: {lo}-{hi} Hz");
    }

    #[test]
    fn the_dct_is_orthonormal_and_its_first_coefficient_is_the_scaled_mean() {
        let m = 40;
        let full = dct_matrix(m, m);
        for a in 0..m {
            for b in 0..m {
                let dot: f64 = (0..m).map(|i| full[a * m + i] * full[b * m + i]).sum();
                let want = if a == b { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-12, "rows {a}, {b}: {dot}");
            }
        }
        let cfg = FeatureConfig {
            n_mfcc: 13,
            ..FeatureConfig::default()
        };
        let ex = MelExtractor::new(&cfg).unwrap();
        let frame: Vec<f32> = (0..m).map(|i| (i as f32 * 0.37).sin()).collect();
        let c = ex.cepstra(frame.clone());
        assert_eq!(c.len(), 13);
        let mean = frame.iter().map(|&v| v as f64).sum::<f64>() / m as f64;
        assert!((c[0] as f64 - mean * (m as f64).sqrt()).abs() < 1e-5);
        // A flat spectrum has no shape: only c_0.
        let flat = ex.cepstra(vec![2.5; m]);
        assert!(flat[1..].iter().all(|v| v.abs() < 1e-5), "{flat:?}");
        let too_many = FeatureConfig {
            n_mfcc: 41,
            ..FeatureConfig::default()
        };
        assert!(MelExtractor::new(&too_many).is_err());
    }

    #[test]
    fn trimming_drops_the_quiet_ends_only() {
        let cfg = FeatureConfig {
            trim_db: Some(30.0),
            ..FeatureConfig::default()
        };
        let ex = MelExtractor::new(&cfg).unwrap();
        // 0.3 s of faint noise, 0.2 s of a tone, 0.3 s of faint noise.
        let x: Vec<f32> = (0..6400)
            .map(|i| {
                if (2400..4000).contains(&i) {
                    (2.0 * std::f64::consts::PI * 500.0 * i as f64 / 8000.0).sin() as f32
                } else {
                    ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 1e-3
                }
            })
            .collect();
        let all = ex.log_mel_raw(&x);
        let kept = ex.trim(all.clone());
        let (t_all, t_kept) = (all.len() / 40, kept.len() / 40);
        // The tone spans frames 240/80 = 30 to 50; the windows reach 2 frames further.
        assert!(
            (19..=27).contains(&t_kept),
            "{t_kept} of {t_all} frames kept"
        );
        // What is kept is a contiguous run of the original frames.
        let start = (0..=t_all - t_kept).find(|&t| all[t * 40..(t + t_kept) * 40] == kept[..]);
        let start = start.expect("the kept frames are a run of the originals");
        assert!((19..=30).contains(&start), "starts at frame {start}");
        // Without trim_db nothing changes.
        let plain = MelExtractor::new(&FeatureConfig::default()).unwrap();
        assert_eq!(plain.trim(all.clone()), all);
        assert!(FeatureConfig {
            trim_db: Some(-1.0),
            ..FeatureConfig::default()
        }
        .validate()
        .is_err());
    }

    #[test]
    fn normalisation_removes_gain() {
        let ex = MelExtractor::new(&FeatureConfig::default()).unwrap();
        let x: Vec<f32> = (0..4000)
            .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.1)
            .collect();
        let y: Vec<f32> = x.iter().map(|v| v * 7.0).collect();
        let (a, b) = (ex.features(&x), ex.features(&y));
        let d = a
            .iter()
            .zip(&b)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f32::max);
        assert!(d < 1e-3, "{d}");
    }
}
