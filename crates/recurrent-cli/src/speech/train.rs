//! `recurrent train speech`: a spoken-digit recogniser from a folder of WAVs named
//! `{digit}_{speaker}_{index}.wav` (the Free Spoken Digit Dataset).

use crate::common::AccuracyProgress;
use crate::common::{
    install_interrupt, print_ending, print_json, show_defaults, OptimArgs, Progress, TrainCommon,
};
use crate::plot;
use anyhow::{bail, Context, Result};
use clap::Args;
use recurrent::model::Pooling;
use recurrent::train::observe::{EvalInfo, Observer, StepInfo};
use recurrent_tasks::speech::audio::augment::AugmentConfig;
use recurrent_tasks::speech::audio::FeatureConfig;
use recurrent_tasks::speech::connected::DEFAULT_LIMITS as CONNECTED_LIMITS;
use recurrent_tasks::speech::connected::{train_connected, ConnectedSpeechConfig};
use recurrent_tasks::speech::connected_data::ConnectConfig;
use recurrent_tasks::speech::ctc::{CtcSummary, CtcTrainConfig};
use recurrent_tasks::speech::isolated::DEFAULT_LIMITS;
use recurrent_tasks::speech::isolated::{
    frame_posteriors, load_speech, train_speech, SpeechSummary, SpeechTrainConfig, DEFAULT_TRIM_DB,
};
use recurrent_tasks::speech::score::TranscriptionScore;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
#[command(mut_args(|a| crate::common::show_limits_by(show_defaults(a, &SpeechTrainConfig::default().optim), &[("isolated", &DEFAULT_LIMITS), ("connected", &CONNECTED_LIMITS)])))]
pub struct SpeechArgs {
    /// Folder of WAVs named {digit}_{speaker}_{index}.wav
    #[arg(long, required = true)]
    pub data: PathBuf,
    /// isolated: one digit per file; connected: 1-7 recordings of one speaker joined into a
    /// digit string, recognised by a CTC model
    #[arg(long, default_value = "isolated")]
    pub task: String,
    /// connected: training utterances per speaker (from recordings 8-49)
    #[arg(long, default_value_t = 600)]
    pub train_utterances: usize,
    /// connected: validation utterances per speaker (from the --val-indices recordings)
    #[arg(long, default_value_t = 30)]
    pub valid_utterances: usize,
    /// connected: test utterances per speaker (from recordings 0-4)
    #[arg(long, default_value_t = 100)]
    pub test_utterances: usize,
    /// connected: fewest digits per utterance
    #[arg(long, default_value_t = 1)]
    pub min_digits: usize,
    /// connected: most digits per utterance
    #[arg(long, default_value_t = 7)]
    pub max_digits: usize,
    /// connected: frames concatenated into one recurrent step
    #[arg(long, default_value_t = 3)]
    pub stack: usize,
    /// connected: beam width of the final prefix-beam-search scoring, 1 (greedy only) to 64
    #[arg(long, default_value_t = 8, value_parser = crate::common::beam_flag)]
    pub beam: usize,
    /// Leave this speaker out: all their recordings are the test set
    #[arg(long)]
    pub holdout_speaker: Option<String>,
    /// isolated: a further folder of training recordings ({digit}_{speaker}_{index}.wav),
    /// all used for training, e.g. synthetic voices from scripts/synth_digits.sh (repeatable)
    #[arg(long)]
    pub extra_train: Vec<PathBuf>,
    /// Recording indices kept from training for validation, e.g. 5-7
    #[arg(long, default_value = "5-7")]
    pub val_indices: String,
    /// The model's sample rate (audio at other rates is resampled)
    #[arg(long, default_value_t = 8000)]
    pub sample_rate: u32,
    /// Analysis window, ms
    #[arg(long, default_value_t = 25.0)]
    pub win_ms: f64,
    /// Hop between frames, ms
    #[arg(long, default_value_t = 10.0)]
    pub hop_ms: f64,
    /// Mel bands
    #[arg(long, default_value_t = 40)]
    pub n_mels: usize,
    /// Keep this many cepstral coefficients per frame (MFCCs: the DCT of the log-mel bands)
    /// instead of the bands; 0 keeps the bands
    #[arg(long, default_value_t = 0)]
    pub n_mfcc: usize,
    /// isolated: drop leading and trailing frames more than this many dB below the loudest
    /// [default: 15 (DEFAULT_TRIM_DB); 0: keep every frame]
    #[arg(long)]
    pub trim_db: Option<f64>,
    /// FFT size [default: next power of two >= the window]
    #[arg(long)]
    pub n_fft: Option<usize>,
    /// Lowest mel filter edge, Hz
    #[arg(long, default_value_t = 0.0)]
    pub fmin: f64,
    /// Highest mel filter edge, Hz [default: sample rate / 2]
    #[arg(long)]
    pub fmax: Option<f64>,
    /// Keep the log-mel frames as they are (default: zero mean, unit variance per utterance)
    #[arg(long)]
    pub no_normalize: bool,
    /// Turn on the augmentation we measured (speed 0.15, VTLP 0.15, noise p 0.5 at 10-40 dB,
    /// SpecAugment 2 masks of up to 6 bands and 2 of up to 10% of the frames); the flags
    /// below set each part. Off by default: at our training budgets it cost accuracy
    /// (docs/results.md)
    #[arg(long)]
    pub augment: bool,
    /// Speed perturbation: factors drawn from [1-S, 1+S] (0: off)
    #[arg(long)]
    pub speed_perturb: Option<f64>,
    /// Vocal-tract-length perturbation: warp factors from [1-V, 1+V] (0: off)
    #[arg(long)]
    pub vtlp: Option<f64>,
    /// Probability of adding white noise (SNR from --noise-snr-min to --noise-snr-max dB)
    #[arg(long)]
    pub noise_prob: Option<f64>,
    /// Lowest signal-to-noise ratio of the added noise, dB
    #[arg(long)]
    pub noise_snr_min: Option<f64>,
    /// Highest signal-to-noise ratio of the added noise, dB
    #[arg(long)]
    pub noise_snr_max: Option<f64>,
    /// SpecAugment frequency masks per utterance, each up to --freq-mask-width bands
    #[arg(long)]
    pub freq_masks: Option<usize>,
    /// Widest SpecAugment frequency mask, in mel bands
    #[arg(long)]
    pub freq_mask_width: Option<usize>,
    /// SpecAugment time masks per utterance, each up to --time-mask-frac of the frames
    #[arg(long)]
    pub time_masks: Option<usize>,
    /// Longest SpecAugment time mask, as a fraction of the frames
    #[arg(long)]
    pub time_mask_frac: Option<f64>,
    /// Switch every augmentation off (the default; kept for scripts)
    #[arg(long)]
    pub no_augment: bool,
    /// Cell: rnn_tanh (rnn), rnn_relu, lstm, gru, mingru, minlstm, lstm_ln, gru_ln [default: lstm; connected: gru]
    #[arg(long)]
    pub cell: Option<String>,
    /// Hidden units per layer (per direction when bidirectional)
    #[arg(long, default_value_t = 128)]
    pub hidden: usize,
    /// Stacked recurrent layers
    #[arg(long, default_value_t = 2)]
    pub layers: usize,
    #[command(flatten)]
    pub direction: crate::common::DirectionArgs,
    /// Pooling over frames: last, mean or max
    #[arg(long, default_value = "mean")]
    pub pooling: Pooling,
    /// [default: 0.3; connected: 0.1]
    #[arg(long)]
    pub dropout: Option<f64>,
    #[command(flatten)]
    pub reg: crate::common::RegArgs,
    /// [default: 32; connected: 16]
    #[arg(long)]
    pub batch: Option<usize>,
    /// Initialisation: pytorch, orthogonal, recommended, identity
    #[arg(long, default_value = "pytorch")]
    pub init: String,
    /// Evaluate every N steps, or every S seconds of training with `Ns` (`120s`) [default: once per epoch]
    #[arg(long)]
    pub eval_every: Option<recurrent::train::EvalEvery>,
    #[command(flatten)]
    pub optim: OptimArgs,
    #[command(flatten)]
    pub common: TrainCommon,
}

fn range(s: &str, flag: &str) -> Result<(usize, usize)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    match (a.trim().parse(), b.trim().parse()) {
        (Ok(a), Ok(b)) if a <= b => Ok((a, b)),
        _ => bail!("{flag} must be an index range like 5-7, got `{s}`"),
    }
}

impl SpeechArgs {
    fn config(&self) -> Result<SpeechTrainConfig> {
        let (cell, init) =
            crate::common::parse_cell(self.cell.as_deref().unwrap_or("lstm"), &self.init)?;
        let augment = if self.no_augment {
            AugmentConfig::none()
        } else {
            let base = if self.augment {
                AugmentConfig::default()
            } else {
                AugmentConfig::none()
            };
            AugmentConfig {
                speed: self.speed_perturb.unwrap_or(base.speed),
                vtlp: self.vtlp.unwrap_or(base.vtlp),
                noise_prob: self.noise_prob.unwrap_or(base.noise_prob),
                noise_snr_min: self.noise_snr_min.unwrap_or(base.noise_snr_min),
                noise_snr_max: self.noise_snr_max.unwrap_or(base.noise_snr_max),
                freq_masks: self.freq_masks.unwrap_or(base.freq_masks),
                freq_mask_width: self.freq_mask_width.unwrap_or(base.freq_mask_width),
                time_masks: self.time_masks.unwrap_or(base.time_masks),
                time_mask_frac: self.time_mask_frac.unwrap_or(base.time_mask_frac),
            }
        };
        Ok(SpeechTrainConfig {
            task: self.task.clone(),
            features: self.features(Some(DEFAULT_TRIM_DB)),
            augment,
            cell,
            hidden: self.hidden,
            layers: self.layers,
            bidirectional: self.direction.bidirectional(),
            dropout: self.dropout.unwrap_or(0.3),
            reg: self.reg.over(SpeechTrainConfig::default().reg),
            pooling: self.pooling,
            batch: self.batch.unwrap_or(32),
            optim: self.optim.over(&SpeechTrainConfig::default().optim),
            seed: self.common.seed,
            init,
            eval_every: self.eval_every,
            val_indices: range(&self.val_indices, "--val-indices")?,
            test_indices: (0, 4),
            holdout_speaker: self.holdout_speaker.clone(),
            extra_train: self.extra_train.clone(),
        })
    }
}

impl SpeechArgs {
    /// The feature config; `trim_default` is the task's trimming when --trim-db is not
    /// given (`--trim-db 0` turns it off).
    fn features(&self, trim_default: Option<f64>) -> FeatureConfig {
        FeatureConfig {
            sample_rate: self.sample_rate,
            win_ms: self.win_ms,
            hop_ms: self.hop_ms,
            n_mels: self.n_mels,
            n_mfcc: self.n_mfcc,
            trim_db: match self.trim_db {
                Some(0.0) => None,
                Some(d) => Some(d),
                None => trim_default,
            },
            n_fft: self.n_fft,
            fmin: self.fmin,
            fmax: self.fmax,
            normalize: !self.no_normalize,
            ..Default::default()
        }
    }

    fn connected_config(&self) -> Result<ConnectedSpeechConfig> {
        let (cell, init) =
            crate::common::parse_cell(self.cell.as_deref().unwrap_or("gru"), &self.init)?;
        if self.holdout_speaker.is_some() {
            bail!("--holdout-speaker: only --task isolated holds a speaker out");
        }
        if !self.extra_train.is_empty() {
            bail!("--extra-train: only --task isolated reads extra training folders");
        }
        if self.augment
            || [self.speed_perturb, self.vtlp, self.noise_prob]
                .iter()
                .any(|v| v.is_some())
        {
            bail!("--augment, --speed-perturb, --vtlp, --noise-prob: only --task isolated augments audio (connected: --time-masks, --freq-masks)");
        }
        let base = ConnectedSpeechConfig::default();
        let cfg = ConnectedSpeechConfig {
            features: self.features(None),
            connect: ConnectConfig {
                min_parts: self.min_digits,
                max_parts: self.max_digits,
                ..base.connect
            },
            train_per_speaker: self.train_utterances,
            valid_per_speaker: self.valid_utterances,
            test_per_speaker: self.test_utterances,
            val_indices: range(&self.val_indices, "--val-indices")?,
            test_indices: (0, 4),
            ctc: CtcTrainConfig {
                cell,
                hidden: self.hidden,
                layers: self.layers,
                bidirectional: self.direction.bidirectional(),
                dropout: self.dropout.unwrap_or(base.ctc.dropout),
                reg: self.reg.over(base.ctc.reg),
                stack: self.stack,
                batch: self.batch.unwrap_or(base.ctc.batch),
                optim: self.optim.over(&base.ctc.optim),
                seed: self.common.seed,
                init,
                eval_every: self.eval_every,
                beam: self.beam,
                time_masks: self.time_masks.unwrap_or(0),
                freq_masks: self.freq_masks.unwrap_or(0),
                freq_mask_width: self.freq_mask_width.unwrap_or(base.ctc.freq_mask_width),
                ..base.ctc
            },
        };
        cfg.features.validate()?;
        cfg.connect.validate()?;
        cfg.ctc.validate()?;
        Ok(cfg)
    }
}

/// Prints evaluations as digit error rate (stderr).
struct ErrorRateProgress(Progress);

impl Observer for ErrorRateProgress {
    fn on_step(&mut self, s: &StepInfo) {
        self.0.on_step(s)
    }
    fn on_eval(&mut self, e: &EvalInfo) {
        self.message(&format!(
            "eval at step {} ({:.0} s of training): validation digit error rate {:.4}{}",
            e.step,
            e.trained_s,
            e.val_loss,
            if e.best { " *best*" } else { "" }
        ));
    }
    fn message(&mut self, msg: &str) {
        if std::io::stderr().is_terminal() {
            self.0.message(msg)
        } else {
            say!("{msg}");
        }
    }
    fn should_stop(&self) -> bool {
        self.0.should_stop()
    }
}

fn run_connected(args: &SpeechArgs) -> Result<()> {
    let threads = args.common.apply_threads()?;
    let cfg = args.connected_config()?;
    let out = args.common.out_dir("speech");
    let req = args.common.request(&out, CONNECTED_LIMITS)?;
    let c = &cfg.ctc;
    say!(
        "training a {}{} {}x{} CTC connected-digit recogniser (stack {}), {threads} thread(s), into {}",
        if c.bidirectional { "bidirectional " } else { "" },
        c.cell,
        c.layers,
        c.hidden,
        c.stack,
        out.display()
    );
    let mut progress = ErrorRateProgress(Progress::new(install_interrupt()));
    let s = train_connected(&cfg, &args.data, &req, &mut progress)?;
    // The other ranks of a data-parallel job leave the report and the plots to rank 0.
    if !crate::ranks::is_primary() {
        return Ok(());
    }
    progress.0.finish();
    if !s.already_complete {
        crate::common::finish_tensorboard(&out);
    }
    if args.common.json {
        let mut v = serde_json::to_value(&s).context("summary")?;
        v["task"] = "connected".into();
        for part in ["valid", "test"] {
            for dec in ["greedy", "beam"] {
                if let Some(t) = s_score(&s, part, dec) {
                    v[part][dec]["digit_error_rate"] = t.error_rate().into();
                    v[part][dec]["utterance_accuracy"] = t.utterance_accuracy().into();
                }
            }
        }
        print_json(&v);
        return Ok(());
    }
    print_ending(s.already_complete, s.finished, s.steps, s.epochs, s.train_s);
    say!(
        "best checkpoint (step {}): {}/best.safetensors",
        s.best_step.map_or("-".into(), |v| v.to_string()),
        s.out.display()
    );
    for part in ["valid", "test"] {
        for dec in ["greedy", "beam"] {
            if let Some(t) = s_score(&s, part, dec) {
                say!(
                    "{part} ({} utterances, {} digits), {dec}: digit error rate {:.4}, utterance accuracy {:.4}",
                    t.utterances,
                    t.reference_labels,
                    t.error_rate(),
                    t.utterance_accuracy()
                );
            }
        }
    }
    Ok(())
}

fn s_score<'a>(s: &'a CtcSummary, part: &str, dec: &str) -> Option<&'a TranscriptionScore> {
    let sc = if part == "valid" { &s.valid } else { &s.test };
    let sc = sc.as_ref()?;
    if dec == "greedy" {
        Some(&sc.greedy)
    } else {
        sc.beam.as_ref()
    }
}

pub fn run(args: &SpeechArgs) -> Result<()> {
    match args.task.as_str() {
        "isolated" => {}
        "connected" => return run_connected(args),
        t => bail!("--task {t}: expected isolated or connected"),
    }
    let threads = args.common.apply_threads()?;
    let cfg = args.config()?;
    let out = args.common.out_dir("speech");
    let req = args.common.request(&out, DEFAULT_LIMITS)?;
    say!(
        "training a {}{} {}x{} digit recogniser ({} pooling), {threads} thread(s), into {}",
        if cfg.bidirectional {
            "bidirectional "
        } else {
            ""
        },
        cfg.cell,
        cfg.layers,
        cfg.hidden,
        format!("{:?}", cfg.pooling).to_lowercase(),
        out.display()
    );
    let mut progress = AccuracyProgress(Progress::new(install_interrupt()));
    let summary = train_speech(&cfg, &args.data, &req, &mut progress)?;
    // The other ranks of a data-parallel job leave the report and the plots to rank 0.
    if !crate::ranks::is_primary() {
        return Ok(());
    }
    progress.0.finish();
    let plots = if summary.already_complete {
        Vec::new()
    } else {
        let plots = draw_plots(&out, &args.data, &summary);
        crate::common::finish_tensorboard(&out);
        plots
    };
    report(&summary, &plots, args.common.json)
}

fn report(s: &SpeechSummary, plots: &[PathBuf], json: bool) -> Result<()> {
    if json {
        let mut v = serde_json::to_value(s).context("summary")?;
        v["plots"] = plots
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .into();
        print_json(&v);
        return Ok(());
    }
    print_ending(s.already_complete, s.finished, s.steps, s.epochs, s.train_s);
    say!(
        "best checkpoint (step {}): {}/best.safetensors",
        s.best_step.map_or("-".into(), |v| v.to_string()),
        s.out.display()
    );
    for (name, m) in [("validation", &s.valid), ("test", &s.test)] {
        if let Some(m) = m {
            say!(
                "{name} ({} recordings): accuracy {:.4}, loss {:.4}\n{}",
                m.n,
                m.accuracy,
                m.loss,
                m.confusion_table()
            );
        }
    }
    for (sp, a) in &s.test_by_speaker {
        say!("test accuracy, speaker {sp}: {a:.4}");
    }
    for p in plots {
        say!("plot: {}", p.display());
    }
    Ok(())
}

/// DIR/accuracy.png (curves), DIR/confusion.png (test confusion matrix) and
/// DIR/utterance.png (a test recording's log-mel frames and the model's per-frame output).
fn draw_plots(dir: &Path, data: &Path, s: &SpeechSummary) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(curves) = plot::accuracy_plot(dir) {
        out.push(curves);
    }
    if let Some(t) = &s.test {
        let p = dir.join("confusion.png");
        let title = format!("Test confusion matrix (accuracy {:.4})", t.accuracy);
        if plot::confusion_matrix(&p, &title, &t.labels, &t.confusion).is_ok() {
            out.push(p);
        }
    }
    // The first test recording (by name) of the data folder.
    let example = recurrent_tasks::speech::audio::digits::list_recordings(data)
        .ok()
        .and_then(|recs| {
            recs.into_iter().find(|r| match &s.holdout_speaker {
                Some(h) => &r.speaker == h,
                None => r.index <= 4,
            })
        });
    if let Some(r) = example {
        let p = dir.join("utterance.png");
        if utterance_plot(&dir.join("best.safetensors"), &r.path, &p).is_ok() {
            out.push(p);
        }
    }
    out
}

/// Draws `wav`'s log-mel spectrogram with the model's per-frame digit probabilities beneath.
pub fn utterance_plot(checkpoint: &Path, wav: &Path, png: &Path) -> Result<()> {
    let (model, meta) = load_speech(checkpoint)?;
    let x = recurrent_tasks::speech::audio::read_wav_at(wav, meta.features.sample_rate)?;
    let (mel, post) = frame_posteriors(&model, &meta, &x)?;
    let hop_s = meta.features.hop_ms / 1000.0;
    plot::spectrogram_with_posteriors(
        png,
        &wav.file_name().map_or(wav.display().to_string(), |f| {
            f.to_string_lossy().into_owned()
        }),
        &mel,
        meta.features.n_mels,
        &post,
        &meta.labels,
        hop_s,
    )
}
