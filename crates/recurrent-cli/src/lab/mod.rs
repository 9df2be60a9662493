//! `recurrent lab`: experiments that show vanishing and exploding gradients.
//!
//! - `lab long-range`: trains every cell x length combination on a long-range task with the
//!   same budget, each into its own run directory (checkpoints, metrics, resumable: running
//!   the same command again skips finished runs), and writes the table (markdown and JSON)
//!   and plots.
//! - `lab clipping`: a vanilla RNN with large recurrent weights, trained with and without
//!   gradient clipping; both loss curves and the pre-clip gradient norm of every step.

pub mod diagnose;

use crate::common::{install_interrupt, parse_cell, print_json, Progress};
use crate::plot;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use recurrent::optim::{OptimSettings, OptimizerKind};
use recurrent::train::run::read_metrics;
use recurrent::train::{EvalInfo, Observer, OnNan, StepInfo, TrainRequest};
use recurrent_tasks::lab::longrange::{train_long_range, LongRangeConfig, LongRangeKind};
use recurrent_tasks::lab::tasks::{read_digits, Digits};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum LabCmd {
    /// Train each cell x length on a long-range task with the same budget; table and plots
    LongRange(LongRangeArgs),
    /// A vanilla RNN with large recurrent weights, with and without gradient clipping
    Clipping(ClippingArgs),
}

/// The model and optimizer flags both experiments share.
#[derive(Args, Debug, Clone)]
pub struct ModelFlags {
    /// adding, copy or digits
    #[arg(long, default_value = "adding")]
    pub task: String,
    /// The digits file (../shared/data/digits/digits.csv) for --task digits
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Hidden units per layer
    #[arg(long, default_value_t = 128)]
    pub hidden: usize,
    /// Stacked layers
    #[arg(long, default_value_t = 1)]
    pub layers: usize,
    /// pytorch, orthogonal, identity, recommended (irnn implies identity)
    #[arg(long, default_value = "pytorch")]
    pub init: String,
    /// Sequences per training batch
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// adam, adamw, sgd, rmsprop, adagrad
    #[arg(long, default_value = "adam")]
    pub optimizer: OptimizerKind,
    /// Learning rate
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Optimizer steps per run (the budget every combination gets)
    #[arg(long, default_value_t = 2000)]
    pub steps: u64,
    /// Evaluate on the test set every this many steps
    #[arg(long, default_value_t = 100)]
    pub eval_every: u64,
    /// Test sequences of the generated tasks
    #[arg(long, default_value_t = 1000)]
    pub test_size: usize,
    /// Seed of the initialisation, the batches and the test set
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Threads for matrix products, 1 to 256 [default: all cores]
    #[arg(long, value_parser = crate::common::threads_flag)]
    pub threads: Option<usize>,
    /// Print one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct LongRangeArgs {
    /// Sequence lengths (adding) or delays (copy), comma-separated
    #[arg(long, value_delimiter = ',', default_value = "50,100,200,400")]
    pub lengths: Vec<usize>,
    /// Cells, comma-separated: rnn_tanh (rnn), rnn_relu, irnn, lstm, gru, mingru, minlstm, lstm_ln, gru_ln (`-` for `_` is read too)
    #[arg(long, value_delimiter = ',', default_value = "rnn_tanh,irnn,lstm,gru")]
    pub cells: Vec<String>,
    /// Clip the global gradient norm (0: off)
    #[arg(long, default_value_t = 1.0)]
    pub clip: f64,
    /// Directory of the runs, the table and the plots
    #[arg(long, default_value = "runs/lab-long-range")]
    pub out: PathBuf,
    #[command(flatten)]
    pub m: ModelFlags,
}

#[derive(Args, Debug)]
pub struct ClippingArgs {
    /// The cell (a vanilla RNN shows it best)
    #[arg(long, default_value = "rnn_tanh")]
    pub cell: String,
    /// Sequence length (adding) or delay (copy)
    #[arg(long, default_value_t = 50)]
    pub length: usize,
    /// Multiply the recurrent weights by this after initialisation
    #[arg(long, default_value_t = 4.0)]
    pub recurrent_scale: f64,
    /// The clipped run's maximum global gradient norm
    #[arg(long, default_value_t = 1.0)]
    pub clip: f64,
    /// Directory of both runs and the plots
    #[arg(long, default_value = "runs/lab-clipping")]
    pub out: PathBuf,
    #[command(flatten)]
    pub m: ModelFlags,
}

pub fn run(cmd: &LabCmd) -> Result<()> {
    match cmd {
        LabCmd::LongRange(a) => long_range(a),
        LabCmd::Clipping(a) => clipping(a),
    }
}

fn base_config(m: &ModelFlags, cell: &str, length: usize, clip: f64) -> Result<LongRangeConfig> {
    let (kind, init) = parse_cell(cell, &m.init)?;
    let task: LongRangeKind = m.task.parse()?;
    let mut cfg = LongRangeConfig::new(task, length, kind);
    cfg.hidden = m.hidden;
    cfg.layers = m.layers;
    cfg.init = init;
    cfg.batch = m.batch;
    cfg.optim = OptimSettings {
        optimizer: m.optimizer,
        lr: m.lr,
        clip,
        ..OptimSettings::default()
    };
    cfg.eval_every = m.eval_every;
    cfg.test_size = m.test_size;
    cfg.seed = m.seed;
    cfg.validate()?;
    Ok(cfg)
}

fn load_digits(m: &ModelFlags) -> Result<Option<Digits>> {
    match (m.task.parse::<LongRangeKind>()?, &m.data) {
        (LongRangeKind::Digits, Some(p)) => Ok(Some(read_digits(p)?)),
        (LongRangeKind::Digits, None) => {
            bail!("--task digits needs --data FILE (../shared/data/digits/digits.csv)")
        }
        _ => Ok(None),
    }
}

/// Records every step's loss and pre-clip gradient norm, and shows progress.
struct Recorder {
    inner: Progress,
    steps: Vec<(u64, f64, f64)>,
    prefix: String,
}

impl Observer for Recorder {
    fn on_step(&mut self, s: &StepInfo) {
        self.steps.push((s.step, s.loss, s.grad_norm));
        self.inner.on_step(s);
    }
    fn on_eval(&mut self, e: &EvalInfo) {
        self.inner.message(&format!(
            "{}eval at step {}: test metric {:.4}",
            self.prefix, e.step, e.val_loss
        ));
    }
    fn message(&mut self, msg: &str) {
        self.inner.message(&format!("{}{msg}", self.prefix));
    }
    fn should_stop(&self) -> bool {
        self.inner.should_stop()
    }
}

/// One finished combination.
#[derive(serde::Serialize)]
struct Row {
    cell: String,
    length: usize,
    out: String,
    steps: u64,
    train_s: f64,
    metric: Option<f64>,
    accuracy: Option<f64>,
    solved_at: Option<u64>,
    curve: Vec<(f64, f64)>,
}

fn long_range(a: &LongRangeArgs) -> Result<()> {
    let threads = crate::common::apply_threads(a.m.threads);
    let task: LongRangeKind = a.m.task.parse()?;
    let digits = load_digits(&a.m)?;
    let lengths = if task == LongRangeKind::Digits {
        vec![64]
    } else {
        a.lengths.clone()
    };
    if lengths.is_empty() || a.cells.is_empty() {
        bail!("--lengths and --cells need at least one value each");
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let stop = install_interrupt();
    let mut rows = Vec::new();
    for &len in &lengths {
        for cell in &a.cells {
            let cfg = base_config(&a.m, cell, len, a.clip)?;
            let dir = a
                .out
                .join(format!("{}-T{len}-{}", task.name(), cell.replace('_', "-")));
            let mut req = TrainRequest::new(&dir).steps(a.m.steps);
            // Running the lab again continues unfinished runs and skips finished ones.
            req.resume = true;
            req.save_every = Some(500);
            let mut obs = Recorder {
                inner: Progress::new(stop.clone()),
                steps: Vec::new(),
                prefix: format!("[{cell} T={len}] "),
            };
            say!(
                "training {cell} on {} T={len}: {} steps, {threads} thread(s), into {}",
                task.name(),
                a.m.steps,
                dir.display()
            );
            let s = train_long_range(&cfg, digits.as_ref(), &req, &mut obs)?;
            obs.inner.finish();
            if !s.finished {
                bail!("interrupted: run the same command again to continue");
            }
            rows.push(row_of(cell, len, &dir, task, s.steps, s.train_s));
        }
    }
    write_table(a, task, &rows, &lengths, threads)
}

fn row_of(
    cell: &str,
    len: usize,
    dir: &Path,
    task: LongRangeKind,
    steps: u64,
    train_s: f64,
) -> Row {
    let m = read_metrics(dir);
    let evals: Vec<&serde_json::Value> = m.iter().filter(|r| r["event"] == "eval").collect();
    let key = task.metric();
    let last = evals.last();
    Row {
        cell: cell.to_string(),
        length: len,
        out: dir.display().to_string(),
        steps,
        train_s: m
            .iter()
            .rev()
            .find_map(|r| r["train_s"].as_f64())
            .unwrap_or(train_s),
        metric: last.and_then(|r| r[key].as_f64()),
        accuracy: last.and_then(|r| r["test_accuracy"].as_f64()),
        solved_at: evals
            .iter()
            .find(|r| r["solved"].as_bool() == Some(true))
            .and_then(|r| r["step"].as_u64()),
        curve: evals
            .iter()
            .filter_map(|r| Some((r["step"].as_f64()?, r[key].as_f64()?)))
            .collect(),
    }
}

fn write_table(
    a: &LongRangeArgs,
    task: LongRangeKind,
    rows: &[Row],
    lengths: &[usize],
    threads: usize,
) -> Result<()> {
    let command = command_line();
    let mut md = String::new();
    let _ = writeln!(md, "Command: `{}`\n", command);
    let _ = writeln!(
        md,
        "Task {}, {} steps per run, batch {}, hidden {}, {} at lr {}, clip {}, seed {}, {threads} thread(s). Solved: {}. Trivial baseline: {}.\n",
        task.name(),
        a.m.steps,
        a.m.batch,
        a.m.hidden,
        a.m.optimizer,
        a.m.lr,
        a.clip,
        a.m.seed,
        task.solved_rule(),
        lengths
            .iter()
            .map(|&t| format!("{:.4} at T={t}", task.baseline(t)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        md,
        "| cell | T | final {} | steps to solve | training time (s) |",
        task.metric()
    );
    let _ = writeln!(md, "|---|---|---|---|---|");
    for r in rows {
        let metric = r.metric.map_or("-".into(), |v| format!("{v:.4}"));
        let metric = match (task, r.accuracy) {
            (LongRangeKind::Copy, Some(acc)) => format!("{metric} (recall {:.1}%)", acc * 100.0),
            _ => metric,
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.0} |",
            r.cell,
            r.length,
            metric,
            r.solved_at.map_or("not solved".into(), |s| s.to_string()),
            r.train_s
        );
    }
    std::fs::write(a.out.join("table.md"), &md)
        .with_context(|| format!("writing {}", a.out.join("table.md").display()))?;
    let json = serde_json::json!({"task": task.name(), "command": command, "rows": rows});
    std::fs::write(
        a.out.join("results.json"),
        serde_json::to_string_pretty(&json).context("results")?,
    )
    .context("writing results.json")?;
    // Final metric against length, one line per cell.
    let cells: Vec<&String> = a.cells.iter().collect();
    let series: Vec<plot::Series> = cells
        .iter()
        .map(|c| plot::Series {
            name: c.to_string(),
            points: rows
                .iter()
                .filter(|r| &&r.cell == c)
                .filter_map(|r| Some((r.length as f64, r.metric?)))
                .collect(),
        })
        .collect();
    let log_y = task != LongRangeKind::Digits;
    let title = format!(
        "{}: final {} after {} steps",
        task.name(),
        task.metric(),
        a.m.steps
    );
    if lengths.len() > 1 {
        plot::line_chart(
            &a.out.join(format!("{}.png", task.name())),
            &plot::Chart {
                title: &title,
                x_label: "T",
                y_label: task.metric(),
                log_y,
                x_names: None,
            },
            &series,
        )?;
    }
    for &len in lengths {
        let series: Vec<plot::Series> = rows
            .iter()
            .filter(|r| r.length == len)
            .map(|r| plot::Series {
                name: r.cell.clone(),
                points: r.curve.clone(),
            })
            .collect();
        let title = format!("{} T={len}: {} during training", task.name(), task.metric());
        plot::line_chart(
            &a.out.join(format!("curves-T{len}.png")),
            &plot::Chart {
                title: &title,
                x_label: "step",
                y_label: task.metric(),
                log_y,
                x_names: None,
            },
            &series,
        )?;
    }
    if a.m.json {
        print_json(&json);
    } else {
        crate::common::write_stdout(&md);
        say!("table, results and plots in {}", a.out.display());
    }
    Ok(())
}

fn clipping(a: &ClippingArgs) -> Result<()> {
    let threads = crate::common::apply_threads(a.m.threads);
    if a.clip.is_nan() || a.clip <= 0.0 {
        bail!("--clip must be positive, got {}", a.clip);
    }
    let digits = load_digits(&a.m)?;
    let stop = install_interrupt();
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let mut runs = Vec::new();
    for clip in [0.0, a.clip] {
        let mut cfg = base_config(&a.m, &a.cell, a.length, clip)?;
        cfg.recurrent_scale = a.recurrent_scale;
        let name = if clip > 0.0 {
            format!("clip-{clip}")
        } else {
            "no-clip".to_string()
        };
        let dir = a.out.join(&name);
        let mut req = TrainRequest::new(&dir).steps(a.m.steps);
        // A fresh run each time: the per-step record is the point, so old runs are replaced.
        if dir.exists() {
            if !dir.join("config.json").exists() {
                bail!(
                    "{} exists and is not a run of this lab: choose another --out",
                    dir.display()
                );
            }
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        // Without clipping the loss may overflow: skip such batches and count them.
        req.on_nan = OnNan::Skip;
        let mut obs = Recorder {
            inner: Progress::new(stop.clone()),
            steps: Vec::new(),
            prefix: format!("[{name}] "),
        };
        say!(
            "training {} (recurrent weights x{}) on {} T={}, {name}, {} steps, {threads} thread(s)",
            a.cell,
            a.recurrent_scale,
            a.m.task,
            a.length,
            a.m.steps
        );
        let s = train_long_range(&cfg, digits.as_ref(), &req, &mut obs)?;
        obs.inner.finish();
        let last_eval = s.last_eval.clone();
        runs.push((name, obs.steps, s, last_eval));
    }
    let series = |pick: &dyn Fn(&(u64, f64, f64)) -> f64| -> Vec<plot::Series> {
        runs.iter()
            .map(|(name, steps, _, _)| plot::Series {
                name: name.clone(),
                points: steps.iter().map(|s| (s.0 as f64, pick(s))).collect(),
            })
            .collect()
    };
    let loss_png = a.out.join("clipping-loss.png");
    plot::line_chart(
        &loss_png,
        &plot::Chart {
            title: "training loss per step, with and without clipping",
            x_label: "step",
            y_label: "loss (log)",
            log_y: true,
            x_names: None,
        },
        &series(&|s| s.1),
    )?;
    let norm_png = a.out.join("clipping-grad-norm.png");
    plot::line_chart(
        &norm_png,
        &plot::Chart {
            title: "global gradient norm before clipping, per step",
            x_label: "step",
            y_label: "||g|| (log)",
            log_y: true,
            x_names: None,
        },
        &series(&|s| s.2),
    )?;
    let command = command_line();
    let summary: Vec<serde_json::Value> = runs
        .iter()
        .map(|(name, steps, s, ev)| {
            let norms: Vec<f64> = steps.iter().map(|x| x.2).filter(|v| v.is_finite()).collect();
            let max = norms.iter().copied().fold(0.0, f64::max);
            let mut sorted = norms.clone();
            sorted.sort_by(|a, b| a.total_cmp(b));
            let median = sorted.get(sorted.len() / 2).copied();
            serde_json::json!({
                "run": name, "steps": s.steps, "train_s": s.train_s, "final_train_loss": s.train_loss,
                "test": ev, "nan_skips": s.nan_skips, "max_grad_norm": max, "median_grad_norm": median,
                "per_step": steps.iter().map(|x| serde_json::json!([x.0, x.1, x.2])).collect::<Vec<_>>(),
            })
        })
        .collect();
    let json = serde_json::json!({"command": command, "runs": summary,
        "plots": [loss_png.display().to_string(), norm_png.display().to_string()]});
    std::fs::write(
        a.out.join("clipping.json"),
        serde_json::to_string(&json).context("clipping.json")?,
    )
    .context("writing clipping.json")?;
    if a.m.json {
        print_json(&json);
        return Ok(());
    }
    out!("Command: `{}`\n", command);
    out!("| run | final train loss | test {} | max pre-clip grad norm | median | NaN steps skipped | training time (s) |", a.m.task);
    out!("|---|---|---|---|---|---|---|");
    for v in &summary {
        let metric = v["test"]["metric"]
            .as_f64()
            .map_or("-".into(), |m| format!("{m:.4}"));
        out!(
            "| {} | {} | {metric} | {:.3e} | {:.3e} | {} | {:.0} |",
            v["run"].as_str().unwrap_or(""),
            v["final_train_loss"]
                .as_f64()
                .map_or("-".into(), |l| if l.abs() >= 1e4 {
                    format!("{l:.3e}")
                } else {
                    format!("{l:.4}")
                }),
            v["max_grad_norm"].as_f64().unwrap_or(f64::NAN),
            v["median_grad_norm"].as_f64().unwrap_or(f64::NAN),
            v["nan_skips"],
            v["train_s"].as_f64().unwrap_or(0.0)
        );
    }
    out!("\nplots: {}, {}", loss_png.display(), norm_png.display());
    Ok(())
}

/// The command as typed, with the program named `recurrent` whatever its path.
fn command_line() -> String {
    std::iter::once("recurrent".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ")
}
