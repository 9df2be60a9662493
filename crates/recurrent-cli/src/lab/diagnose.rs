//! `recurrent diagnose`: where the gradient goes. For a trained long-range model
//! (`--checkpoint`, repeatable) or freshly initialised ones (`--cell`, a list), on a batch of
//! the task: |dL/dh_t| at every step and layer, |dL/dx_t|, the largest singular value of
//! every recurrent matrix, the gradient norm of every layer, a verdict per layer, and a PNG
//! of the gradient norm against the distance from the loss on a log scale.

use crate::common::parse_cell;
use crate::common::print_json;
use crate::plot;
use anyhow::{bail, Context, Result};
use clap::Args;
use recurrent::text::read_text;
use recurrent::train::run::resolve_checkpoint;
use recurrent::Rng;
use recurrent_tasks::lab::diagnose::diagnose_lm;
use recurrent_tasks::lab::diagnose::explain;
use recurrent_tasks::lab::longrange::{
    diagnose_model, draw, load_long_range, Diagnosis, LongRangeConfig, LongRangeKind,
    LongRangeModel,
};
use recurrent_tasks::lab::tasks::read_digits;
use recurrent_tasks::lm::train::{load_lm, LmMeta};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct DiagnoseArgs {
    /// A checkpoint of `recurrent lab long-range` or of a language model (`train lm`, with
    /// `--data` the text to diagnose it on), a run DIR (its best checkpoint) or a file; repeat
    /// to compare models in one picture
    #[arg(long)]
    pub checkpoint: Vec<PathBuf>,
    /// The digits file (../shared/data/digits/digits.csv) for the digits task, or the text a
    /// language model is diagnosed on (windows of --length characters, the loss on the
    /// prediction after each window)
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Fresh models: cells, comma-separated (rnn_tanh, rnn_relu, irnn, lstm, gru, mingru, minlstm, lstm_ln, gru_ln)
    #[arg(long, value_delimiter = ',')]
    pub cell: Vec<String>,
    /// Fresh models: adding, copy or digits
    #[arg(long, default_value = "adding")]
    pub task: String,
    /// Sequence length T (adding) or delay (copy) [default: the checkpoint's, else 200]
    #[arg(long)]
    pub length: Option<usize>,
    /// Fresh models: hidden units
    #[arg(long, default_value_t = 128)]
    pub hidden: usize,
    /// Fresh models: stacked layers
    #[arg(long, default_value_t = 1)]
    pub layers: usize,
    /// Fresh models: pytorch, orthogonal, identity, recommended
    #[arg(long, default_value = "pytorch")]
    pub init: String,
    /// Fresh models: multiply the recurrent weights by this after initialisation
    #[arg(long, default_value_t = 1.0)]
    pub recurrent_scale: f64,
    /// Sequences in the batch the norms are averaged over
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Seed of the fresh models and of the batch
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The PNG to write
    #[arg(long, default_value = "diagnose.png")]
    pub out: PathBuf,
    /// Print one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

/// One diagnosed model.
struct Entry {
    label: String,
    task: String,
    cell: String,
    length: usize,
    diag: Diagnosis,
}

pub fn run(a: &DiagnoseArgs) -> Result<()> {
    if a.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let mut models: Vec<(String, LongRangeModel, LongRangeConfig)> = Vec::new();
    let mut entries = Vec::new();
    for c in &a.checkpoint {
        let path = resolve_checkpoint(c)?;
        let (m, mut cfg) = match load_long_range(&path) {
            Ok(v) => v,
            Err(long_range_err) => match load_lm(&path) {
                Ok((mut m, meta)) => {
                    entries.push(diagnose_language_model(a, c, &mut m, &meta)?);
                    continue;
                }
                Err(lm_err) => bail!(
                    "{}: neither a long-range checkpoint ({long_range_err}) nor a language model ({lm_err})",
                    path.display()
                ),
            },
        };
        if let Some(t) = a.length {
            cfg.length = t;
        }
        let label = format!("{} ({})", cfg.cell, short(c));
        models.push((label, m, cfg));
    }
    let cells = if a.cell.is_empty() && a.checkpoint.is_empty() {
        vec!["lstm".to_string()]
    } else {
        a.cell.clone()
    };
    for name in &cells {
        let (cell, init) = parse_cell(name, &a.init)?;
        let task: LongRangeKind = a.task.parse()?;
        let mut cfg = LongRangeConfig::new(task, a.length.unwrap_or(200), cell);
        cfg.hidden = a.hidden;
        cfg.layers = a.layers;
        cfg.init = init;
        cfg.recurrent_scale = a.recurrent_scale;
        cfg.seed = a.seed;
        let m = LongRangeModel::new(&cfg)?;
        models.push((format!("{name} (fresh, {})", cfg.init), m, cfg));
    }
    let needs_digits = models
        .iter()
        .any(|(_, _, c)| c.task == LongRangeKind::Digits);
    let digits = match &a.data {
        Some(p) if needs_digits => Some(read_digits(p)?),
        _ => None,
    };
    for (label, mut m, cfg) in models {
        let split = match (&digits, cfg.task) {
            (Some(d), LongRangeKind::Digits) => Some((d, d.split(0.2, cfg.seed)?.1)),
            (None, LongRangeKind::Digits) => bail!("the digits task needs --data FILE"),
            _ => None,
        };
        let mut rng = Rng::new(a.seed).fork("diagnose");
        let sample = draw(
            &cfg,
            a.batch,
            &mut rng,
            split.as_ref().map(|(d, te)| (*d, &te[..])),
        )?;
        let diag = diagnose_model(&mut m, cfg.task, &sample)
            .with_context(|| format!("diagnosing {label}"))?;
        entries.push(Entry {
            label,
            task: cfg.task.name().to_string(),
            cell: cfg.cell.name().to_string(),
            length: cfg.length,
            diag,
        });
    }
    draw_plot(&a.out, &entries)?;
    if a.json {
        let v: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "model": e.label,
                    "task": e.task,
                    "cell": e.cell,
                    "length": e.length,
                    "steps": e.diag.flow.steps,
                    "batch": e.diag.flow.batch,
                    "loss": e.diag.flow.loss,
                    "dh": e.diag.flow.dh,
                    "dx": e.diag.flow.dx,
                    "verdicts": e.diag.verdicts,
                    "spectra": e.diag.spectra,
                    "param_norms": e.diag.param_norms,
                })
            })
            .collect();
        print_json(&serde_json::json!({"models": v, "plot": a.out.display().to_string()}));
        return Ok(());
    }
    for e in &entries {
        let f = &e.diag.flow;
        out!(
            "== {}: {} T={} ({} steps), batch {}, loss {:.4}",
            e.label,
            e.task,
            e.length,
            f.steps,
            f.batch,
            f.loss
        );
        for v in &e.diag.verdicts {
            out!("  {}", explain(v, f.steps));
        }
        if let (Some(first), Some(last)) = (f.dx.first(), f.dx.last()) {
            out!("  |dL/dx|: {last:.3e} at the last step, {first:.3e} at the first");
        }
        for s in &e.diag.spectra {
            let gates: Vec<String> = s.gates.iter().map(|(g, v)| format!("{g} {v:.3}")).collect();
            out!(
                "  largest singular value of {}: {:.3} (whole matrix); per gate block: {}",
                s.name,
                s.whole,
                gates.join(", ")
            );
        }
        let groups: Vec<String> = e
            .diag
            .param_norms
            .groups
            .iter()
            .map(|(g, v)| format!("{g} {v:.3e}"))
            .collect();
        out!(
            "  gradient norms: {} (total {:.3e})",
            groups.join(", "),
            e.diag.param_norms.total
        );
    }
    out!("plot: {}", a.out.display());
    Ok(())
}

/// A language model on windows of the text given by --data.
fn diagnose_language_model(
    a: &DiagnoseArgs,
    c: &std::path::Path,
    m: &mut recurrent::model::lm::LanguageModel<f32>,
    meta: &LmMeta,
) -> Result<Entry> {
    let Some(data) = &a.data else {
        bail!(
            "{} is a language model: give the text to diagnose it on with --data FILE",
            c.display()
        );
    };
    let text = read_text(data)?;
    let ids = meta
        .vocab
        .encode(&text)
        .with_context(|| format!("{}: encoding with the model's vocabulary", data.display()))?;
    let t = a.length.unwrap_or(200);
    let diag =
        diagnose_lm(m, &ids, t, a.batch).with_context(|| format!("diagnosing {}", c.display()))?;
    Ok(Entry {
        label: format!("{} LM ({})", meta.model.cell.name(), short(c)),
        task: "lm".into(),
        cell: meta.model.cell.name().to_string(),
        length: t,
        diag,
    })
}

/// The last two components of a path, for legends.
fn short(p: &std::path::Path) -> String {
    // A checkpoint inside a run's `checkpoints/` is named by its run and its step.
    let take = if p.parent().and_then(|d| d.file_name()) == Some("checkpoints".as_ref()) {
        3
    } else {
        2
    };
    let parts: Vec<String> = p
        .with_extension("")
        .components()
        .rev()
        .take(take)
        .filter(|c| c.as_os_str() != "checkpoints")
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.into_iter().rev().collect::<Vec<_>>().join("/")
}

fn draw_plot(path: &std::path::Path, entries: &[Entry]) -> Result<()> {
    let mut series = Vec::new();
    for e in entries {
        let n = e.diag.flow.dh.len();
        for (k, d) in e.diag.flow.dh.iter().enumerate() {
            let t = d.len();
            series.push(plot::Series {
                name: if n > 1 {
                    format!("{} layer {k}", e.label)
                } else {
                    e.label.clone()
                },
                points: d
                    .iter()
                    .enumerate()
                    .map(|(ti, v)| ((t - 1 - ti) as f64, *v))
                    .collect(),
            });
        }
    }
    plot::line_chart(
        path,
        &plot::Chart {
            title: "|dL/dh_t| per sequence, against distance from the last step",
            x_label: "steps back from the last step (T-1-t)",
            y_label: "|dL/dh_t| (log)",
            log_y: true,
            x_names: None,
        },
        &series,
    )
}
