//! The main job (`recurrent` with no arguments): a character-level LSTM trained for about a
//! minute on the embedded corpus, with samples before and after, a checkpoint and a plot.

use super::{corpus, train as train_lm};
use crate::common::{install_interrupt, Progress};
use anyhow::Result;
use recurrent::decode::generate::generate;
use recurrent::nn::{Sampler, SamplerConfig};
use recurrent::train::Limits;
use recurrent::train::TrainRequest;
use recurrent::{CellKind, Rng};
use recurrent_tasks::lm::train::{load_lm, train_lm, LmTrainConfig};

/// Seconds of training in the main job.
const BUDGET_S: f64 = 60.0;

/// The main job, into a new `runs/demo-<timestamp>`, or continuing the one in `resume`.
pub fn run(resume: Option<&std::path::Path>) -> Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    recurrent::kernels::set_threads(threads);
    let mut cfg = LmTrainConfig {
        cell: CellKind::Lstm,
        hidden: 256,
        layers: 1,
        embed: 32,
        dropout: 0.0,
        seq_len: 64,
        batch: 32,
        eval_every: recurrent::train::EvalEvery::Seconds(20.0),
        val_frac: 0.05,
        ..LmTrainConfig::default()
    };
    cfg.optim.lr = 3e-3;
    let out = resume.map(|p| p.to_path_buf()).unwrap_or_else(|| {
        std::path::PathBuf::from(format!(
            "runs/demo-{}",
            recurrent::calendar::utc_timestamp()
        ))
    });
    say!("recurrent {}: the main job", env!("CARGO_PKG_VERSION"));
    say!(
        "a character-level {} ({} x {}) learns this project's own source code ({} characters, embedded) for {BUDGET_S:.0} s on {threads} thread(s)\n",
        cfg.cell,
        cfg.layers,
        cfg.hidden,
        corpus::EMBEDDED.chars().count()
    );
    let mut req = TrainRequest::new(&out);
    req.resume = resume.is_some();
    req.resume_with = Some(format!("recurrent --resume {}", out.display()));
    req.limits = Limits {
        time_budget: Some(BUDGET_S),
        steps: None,
        epochs: None,
    };
    // Sample from the untrained model: one step of training with lr ~ 0 is not needed; a
    // fresh model is what `train_lm` starts from, so sample after a zero-step run instead.
    let mut progress = Progress::new(install_interrupt());
    let summary = train_lm(&cfg, corpus::EMBEDDED, &req, &mut progress)?;
    progress.finish();
    let plot = crate::plot::draw_loss_plot(&out).ok();
    if !summary.already_complete {
        crate::common::finish_tensorboard(&out);
    }

    let (model, meta) = load_lm(&out.join("best.safetensors"))?;
    let untrained = recurrent::model::LanguageModel::<f32>::new(
        meta.model.clone(),
        &cfg.init.parse()?,
        &mut Rng::new(cfg.seed),
    )?;
    let show = |m: &recurrent::model::LanguageModel<f32>, title: &str| -> Result<()> {
        let mut text = String::new();
        let sampler = Sampler::new(SamplerConfig {
            temperature: 0.7,
            ..Default::default()
        })?;
        generate(
            m,
            &meta.vocab,
            Some("pub fn "),
            300,
            sampler,
            &mut Rng::new(1),
            &mut |t| {
                text.push_str(t);
                Ok(())
            },
        )?;
        say!("--- {title} ---\npub fn {text}\n");
        Ok(())
    };
    say!();
    show(&untrained, "sample before training")?;
    show(
        &model,
        &format!(
            "sample after {} steps ({:.0} s)",
            summary.steps, summary.train_s
        ),
    )?;
    train_lm::report(&summary, plot.as_deref(), false)?;
    say!(
        "\nnext: `recurrent sample --checkpoint {}` or `recurrent train lm --data FILE`",
        out.display()
    );
    Ok(())
}
