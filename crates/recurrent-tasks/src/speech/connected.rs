//! Connected spoken digits (many-to-many, not aligned): FSDD recordings of one speaker
//! joined into digit strings ([`crate::speech::connected_data`]), log-mel frames, a CTC model
//! trained by [`crate::speech::ctc::train_ctc`].
//!
//! Splits keep recordings apart, not only utterances: training utterances are joined only
//! from training recordings (index 8-49 by default), validation utterances only from the
//! validation indices (5-7), test utterances only from the test indices (0-4) — a test digit
//! is never a recording the model heard. Utterances are built per speaker from that
//! speaker's recordings, each set from its own seed stream, so the same folder and seed always
//! give the same utterances. Each recording is read once; an utterance's features are
//! computed once from its joined samples (no augmentation), so building a few thousand
//! utterances takes seconds.
//!
//! The feature settings and the utterance settings are stored in the checkpoint (the CTC
//! data's `extra`), so `transcribe` turns a new WAV into the same frames.

use crate::speech::audio::digits::{list_recordings, speakers};
use crate::speech::audio::voicing::heard;
use crate::speech::audio::{read_wav_at, FeatureConfig, MelExtractor};
use crate::speech::connected_data::{connect, ConnectConfig};
use crate::speech::ctc::{
    load_ctc, train_ctc, CtcData, CtcExample, CtcMeta, CtcSummary, CtcTrainConfig,
};
use crate::speech::ctc_model::{pad_frames, CtcModel, CtcStream};
use recurrent::error::{Error, Result};
use recurrent::optim::{OptimSettings, ScheduleKind};
use recurrent::rng::Rng;
use recurrent::train::observe::Observer;
use recurrent::train::runner::TrainRequest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Everything that decides the utterances and the trained weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectedSpeechConfig {
    /// How audio becomes frames (as the isolated task).
    pub features: FeatureConfig,
    /// How recordings are joined.
    pub connect: ConnectConfig,
    /// Training utterances per speaker.
    pub train_per_speaker: usize,
    /// Validation utterances per speaker.
    pub valid_per_speaker: usize,
    /// Test utterances per speaker.
    pub test_per_speaker: usize,
    /// Recording indices (inclusive) of the validation recordings.
    pub val_indices: (usize, usize),
    /// Recording indices (inclusive) of the test recordings.
    pub test_indices: (usize, usize),
    /// The CTC model and its training.
    pub ctc: CtcTrainConfig,
}

impl Default for ConnectedSpeechConfig {
    fn default() -> Self {
        ConnectedSpeechConfig {
            features: FeatureConfig::default(),
            connect: ConnectConfig::default(),
            train_per_speaker: 600,
            valid_per_speaker: 30,
            test_per_speaker: 100,
            val_indices: (5, 7),
            test_indices: (0, 4),
            ctc: CtcTrainConfig {
                cell: recurrent::cell::CellKind::Gru,
                stack: 3,
                dropout: 0.1,
                val_frac: 0.0,
                beam: 8,
                // Annealed over the run's steps (--epochs are converted to steps).
                optim: OptimSettings {
                    lr_schedule: ScheduleKind::Cosine,
                    ..CtcTrainConfig::default().optim
                },
                ..Default::default()
            },
        }
    }
}

/// What a CTC speech checkpoint stores beside the model (the CTC data's `extra`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConnectedExtra {
    /// `connected_speech`.
    pub kind: String,
    /// How audio becomes frames.
    pub features: FeatureConfig,
    /// How the training utterances were joined.
    pub connect: ConnectConfig,
}

/// The utterances of one split.
#[derive(Clone, Debug, Default)]
pub struct ConnectedSets {
    pub train: Vec<CtcExample>,
    pub valid: Vec<CtcExample>,
    pub test: Vec<CtcExample>,
}

fn seed_for(seed: u64, split: &str, speaker: &str) -> u64 {
    Rng::new(seed)
        .fork(&format!("connected-{split}-{speaker}"))
        .next_u64()
}

/// Builds the training, validation and test utterances of an FSDD-named folder.
pub fn build_sets(dir: &Path, cfg: &ConnectedSpeechConfig) -> Result<ConnectedSets> {
    cfg.connect.validate()?;
    if cfg.features.trim_db.is_some() {
        return Err(Error::Config(
            "--trim-db trims one word per file: connected utterances keep their frames".into(),
        ));
    }
    let recs = list_recordings(dir)?;
    let ex = MelExtractor::new(&cfg.features)?;
    let rate = cfg.features.sample_rate;
    let within = |i: usize, r: (usize, usize)| r.0 <= i && i <= r.1;
    let mut sets = ConnectedSets::default();
    for sp in speakers(&recs) {
        // (samples, digit) per split of this speaker, each recording read once.
        let mut parts: BTreeMap<&str, Vec<(Vec<f32>, usize)>> = BTreeMap::new();
        for r in recs.iter().filter(|r| r.speaker == sp) {
            let split = if within(r.index, cfg.test_indices) {
                "test"
            } else if within(r.index, cfg.val_indices) {
                "valid"
            } else {
                "train"
            };
            parts
                .entry(split)
                .or_default()
                .push((read_wav_at(&r.path, rate)?, r.digit));
        }
        for (split, count) in [
            ("train", cfg.train_per_speaker),
            ("valid", cfg.valid_per_speaker),
            ("test", cfg.test_per_speaker),
        ] {
            let Some(p) = parts.get(split) else { continue };
            if count == 0 {
                continue;
            }
            let refs: Vec<(&[f32], usize)> = p.iter().map(|(s, d)| (s.as_slice(), *d)).collect();
            let utts = connect(
                &refs,
                rate,
                count,
                &cfg.connect,
                seed_for(cfg.ctc.seed, split, &sp),
            )
            .map_err(|e| Error::Input(format!("{} (speaker {sp}): {e}", dir.display())))?;
            let out = match split {
                "train" => &mut sets.train,
                "valid" => &mut sets.valid,
                _ => &mut sets.test,
            };
            out.extend(utts.into_iter().map(|u| CtcExample {
                frames: ex.features(&u.samples),
                labels: u.labels,
            }));
        }
    }
    if sets.train.is_empty() {
        return Err(Error::Input(format!(
            "{}: no training recordings left after the split",
            dir.display()
        )));
    }
    Ok(sets)
}

/// Builds the utterances of `data` and trains a CTC model on them; the summary's test
/// scores are digit error rate and whole-utterance accuracy, greedy and by beam search.
pub fn train_connected(
    cfg: &ConnectedSpeechConfig,
    data: &Path,
    req: &TrainRequest,
    obs: &mut dyn Observer,
) -> Result<CtcSummary> {
    let t0 = std::time::Instant::now();
    let sets = build_sets(data, cfg)?;
    let frames: usize = sets.train.iter().map(|e| e.len(cfg.features.dim())).sum();
    obs.message(&format!(
        "{}: {} training, {} validation, {} test utterances ({:.0} s of training audio), built in {:.1} s",
        data.display(),
        sets.train.len(),
        sets.valid.len(),
        sets.test.len(),
        frames as f64 * cfg.features.hop_ms / 1000.0,
        t0.elapsed().as_secs_f64()
    ));
    let extra = ConnectedExtra {
        kind: "connected_speech".into(),
        features: cfg.features.clone(),
        connect: cfg.connect.clone(),
    };
    let data = CtcData {
        dim: cfg.features.dim(),
        symbols: (0..10).map(|d| d.to_string()).collect(),
        train: sets.train,
        valid: (!sets.valid.is_empty()).then_some(sets.valid),
        test: (!sets.test.is_empty()).then_some(sets.test),
        extra: serde_json::to_value(&extra).map_err(|e| Error::Config(e.to_string()))?,
    };
    train_ctc(&cfg.ctc, data, req, obs)
}

/// Loads a connected-digits CTC model, its description and its feature settings.
pub fn load_connected(path: &Path) -> Result<(CtcModel<f32>, CtcMeta, ConnectedExtra)> {
    let (model, meta) = load_ctc(path)?;
    let extra: ConnectedExtra = serde_json::from_value(meta.extra.clone()).map_err(|e| {
        Error::format(
            path,
            format!("not a speech CTC model (no feature settings): {e}"),
        )
    })?;
    extra
        .features
        .validate()
        .map_err(|e| Error::format(path, format!("feature config: {e}")))?;
    if extra.features.dim() != model.config.input {
        return Err(Error::format(
            path,
            format!(
                "the model reads {} features, the feature settings give {}",
                model.config.input,
                extra.features.dim()
            ),
        ));
    }
    Ok((model, meta, extra))
}

/// One utterance's transcription by a CTC model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CtcTranscript {
    /// The digits heard, as a string.
    pub digits: String,
    /// The probability of the best path (greedy) or of the best labelling's beam score.
    pub confidence: f64,
    /// Why the audio is not speech (silence, a tone, a steady sound); the confidence is
    /// then 0.
    pub non_speech: Option<&'static str>,
}

impl CtcTranscript {
    /// The transcript of `x` (at `rate`): confidence exp(`log_prob`), or 0 when `x` is not
    /// speech.
    fn heard(digits: String, log_prob: f64, x: &[f32], rate: u32) -> Self {
        let (confidence, non_speech) = heard(log_prob.exp(), x, rate);
        CtcTranscript {
            digits,
            confidence,
            non_speech,
        }
    }
}

fn spell(meta: &CtcMeta, labels: &[usize]) -> String {
    labels.iter().map(|&l| meta.symbols[l].as_str()).collect()
}

/// Transcribes mono samples at the model's rate (greedy with `beam` <= 1, else prefix beam
/// search).
pub fn transcribe_ctc_samples(
    model: &CtcModel<f32>,
    meta: &CtcMeta,
    extra: &ConnectedExtra,
    x: &[f32],
    beam: usize,
) -> Result<CtcTranscript> {
    let ex = MelExtractor::new(&extra.features)?;
    let f = ex.features(x);
    let batch = pad_frames(&[f.as_slice()], extra.features.dim())?;
    let h = model
        .decode(&batch, beam)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Input("no frames".into()))?;
    Ok(CtcTranscript::heard(
        spell(meta, &h.labels),
        h.log_prob,
        x,
        extra.features.sample_rate,
    ))
}

/// Transcribes a WAV file (resampled to the model's rate).
pub fn transcribe_ctc_file(
    model: &CtcModel<f32>,
    meta: &CtcMeta,
    extra: &ConnectedExtra,
    path: &Path,
    beam: usize,
) -> Result<CtcTranscript> {
    let x = read_wav_at(path, extra.features.sample_rate)?;
    transcribe_ctc_samples(model, meta, extra, &x, beam)
}

/// One chunk of a streamed transcription.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StreamChunk {
    /// Seconds of audio read so far.
    pub audio_s: f64,
    /// Digits emitted by this chunk.
    pub digits: String,
    /// Wall-clock seconds this chunk took (features and model).
    pub compute_s: f64,
}

/// Streams `x` (mono samples at the model's rate) through a unidirectional model in chunks
/// of `chunk_s` seconds, calling `on_chunk` as each chunk's digits are emitted; returns the
/// whole transcript. Each chunk's frames are the log-mel frames whose windows the audio so
/// far completes, normalised with running statistics (mean and variance of the frames so
/// far), so nothing waits for the end of the utterance; only the first `warmup_s` seconds
/// wait, because statistics of a few frames are noise (the model was trained on statistics
/// of whole utterances).
pub fn stream_samples(
    model: &CtcModel<f32>,
    meta: &CtcMeta,
    extra: &ConnectedExtra,
    x: &[f32],
    chunk_s: f64,
    warmup_s: f64,
    mut on_chunk: impl FnMut(&StreamChunk),
) -> Result<CtcTranscript> {
    let ex = MelExtractor::new(&extra.features)?;
    let n = extra.features.dim();
    let rate = extra.features.sample_rate as f64;
    let chunk = ((chunk_s * rate).round() as usize).max(1);
    let (hop, half) = (extra.features.hop(), extra.features.fft_len() / 2);
    let mut stream = CtcStream::new(model)?;
    let mut done_frames = 0usize;
    let (mut sum, mut sq, mut count) = (vec![0.0f64; n], vec![0.0f64; n], 0usize);
    let mut labels = Vec::new();
    let mut end = 0;
    let mut log_prob = 0.0;
    let mut held = Vec::new();
    let warmup = ((warmup_s * rate / hop as f64).round() as usize).max(1);
    while end < x.len() {
        let t0 = std::time::Instant::now();
        end = (end + chunk).min(x.len());
        let last = end == x.len();
        // Frames whose window lies inside the audio read so far (all of them at the end).
        let total = ex.frames(end);
        let ready = if last {
            total
        } else {
            (0..total).take_while(|&t| t * hop + half <= end).count()
        };
        let mut out = Vec::new();
        if ready > done_frames {
            // Only the new frames: from a hop-aligned start early enough that their windows
            // see real samples, not the zero padding of a slice's left edge.
            let back = half.div_ceil(hop);
            let first = done_frames.saturating_sub(back);
            let raw = ex.cepstra(ex.log_mel_raw(&x[first * hop..end]));
            let new = &raw[(done_frames - first) * n..(ready - first) * n];
            held.extend_from_slice(new);
            done_frames = ready;
        }
        // Statistics of a few frames are noise: the first frames wait until `warmup`
        // frames are in (or the audio ends).
        if !held.is_empty() && (done_frames >= warmup || last) {
            let mut f = std::mem::take(&mut held);
            if extra.features.normalize {
                for row in f.chunks_exact(n) {
                    for j in 0..n {
                        sum[j] += row[j] as f64;
                        sq[j] += (row[j] as f64).powi(2);
                    }
                }
                count += f.len() / n;
                for row in f.chunks_exact_mut(n) {
                    for j in 0..n {
                        let m = sum[j] / count as f64;
                        let sd = (sq[j] / count as f64 - m * m).max(0.0).sqrt().max(1e-3);
                        row[j] = ((row[j] as f64 - m) / sd) as f32;
                    }
                }
            }
            out = stream.push(&f)?;
        }
        if last {
            let (rest, lp) = stream.finish()?;
            out.extend(rest);
            log_prob = lp;
        }
        labels.extend_from_slice(&out);
        on_chunk(&StreamChunk {
            audio_s: end as f64 / rate,
            digits: spell(meta, &out),
            compute_s: t0.elapsed().as_secs_f64(),
        });
    }
    Ok(CtcTranscript::heard(
        spell(meta, &labels),
        log_prob,
        x,
        extra.features.sample_rate,
    ))
}

/// Whether the checkpoint file holds a CTC model (else, for speech, an isolated-digit one).
pub fn is_ctc_checkpoint(path: &Path) -> Result<bool> {
    let ck = recurrent::checkpoint::read(path)?;
    let v: serde_json::Value = ck
        .metadata
        .get("model")
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    Ok(v["task"] == "ctc")
}

/// The default limits of `train speech --task connected`: 15 epochs (about 6 minutes of
/// training on 2 cores), cut at 11 minutes on a loaded machine (a default run may take 15 in all).
pub const DEFAULT_LIMITS: recurrent::train::Limits = recurrent::train::Limits {
    time_budget: Some(660.0),
    steps: None,
    epochs: Some(15.0),
};
