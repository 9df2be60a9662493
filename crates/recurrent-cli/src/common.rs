//! What every command shares: the flags of every `train <task>`, `--cell` parsing, progress
//! bars, the lines of a file or stdin, and JSON output.

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use recurrent::layer::RecurrentReg;
use recurrent::optim::{OptimSettings, OptimizerKind, ScheduleKind};
use recurrent::text::corpus::decode;
use recurrent::train::{EvalInfo, Limits, Observer, OnNan, StepInfo, TrainRequest};
use recurrent::CellKind;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// The flags of every `train` subcommand.
#[derive(Args, Debug, Clone)]
pub struct TrainCommon {
    /// Directory for everything the run writes [default: runs/<task>-<YYYYmmdd-HHMMSS>]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Random seed (initialisation, dropout, data order)
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Threads for matrix products, 1 to 256 [default: all cores]
    #[arg(long, value_parser = threads_flag)]
    pub threads: Option<usize>,
    /// Seconds of training steps (loading and evaluation not counted)
    #[arg(long)]
    pub time_budget: Option<f64>,
    /// Stop after this many optimizer steps (bit-reproducible: never stops on the clock)
    #[arg(long)]
    pub steps: Option<u64>,
    /// Stop after this many passes over the training data
    #[arg(long)]
    pub epochs: Option<f64>,
    /// Write a checkpoint every K steps (and always at the end)
    #[arg(long)]
    pub save_every: Option<u64>,
    /// Checkpoints to keep in DIR/checkpoints (at least 1: the latest is what --resume
    /// continues from)
    #[arg(long, default_value_t = TrainRequest::new("").keep)]
    pub keep: usize,
    /// Continue the run in DIR (the original command with this flag added)
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// What to do when the loss or a gradient becomes NaN/inf: stop (keep the last
    /// checkpoint) or skip the batch
    #[arg(long, default_value = "stop")]
    pub on_nan: OnNan,
    /// Print one JSON object on stdout (progress and logs go to stderr)
    #[arg(long)]
    pub json: bool,
    /// Write TensorBoard event files into DIR/tensorboard (`tensorboard --logdir runs/`)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub tensorboard: bool,
}

/// The optimisation flags of every `train` subcommand that has them, declared once. Each
/// is unset unless given; [`OptimArgs::over`] fills the rest from the task's own `Default`,
/// which [`show_defaults`] also writes into `--help`.
#[derive(Args, Debug, Clone)]
pub struct OptimArgs {
    /// Optimizer: adam, adamw, sgd, rmsprop, adagrad
    #[arg(long)]
    pub optimizer: Option<OptimizerKind>,
    /// Learning rate
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Weight decay [default: the optimizer's PyTorch default (AdamW: 0.01, others 0)]
    #[arg(long, allow_negative_numbers = true)]
    pub weight_decay: Option<f64>,
    /// Clip the global gradient norm (0: off)
    #[arg(long, allow_negative_numbers = true)]
    pub clip: Option<f64>,
    /// Learning-rate schedule: constant, cosine (annealed to 0 over --steps, --epochs or
    /// --time-budget), or plateau (halved after two evaluations without a better
    /// validation metric)
    #[arg(long)]
    pub lr_schedule: Option<ScheduleKind>,
    /// Linear learning-rate warm-up over this many steps
    #[arg(long)]
    pub warmup: Option<u64>,
    /// Evaluate and keep as best an exponential moving average of the weights with this
    /// decay (0.999: about the last thousand steps) [default: off, the raw weights]
    #[arg(long)]
    pub ema: Option<f64>,
}

/// The recurrent layer's regularisers (`--weight-drop`, `--variational`, `--zoneout`), declared once for
/// every `train` subcommand whose model has a recurrent layer; unset flags keep the task's
/// default ([`RegArgs::over`]).
#[derive(Args, Debug, Clone)]
pub struct RegArgs {
    /// DropConnect on the recurrent weights, one mask per batch (AWD-LSTM's weight drop)
    /// [default: 0]
    #[arg(long)]
    pub weight_drop: Option<f64>,
    /// One dropout mask for all steps of a sequence between recurrent layers (locked):
    /// `--variational` or `--variational false` [default: false]
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub variational: Option<bool>,
    /// Zoneout: each unit keeps its previous state with probability P in training (`P`
    /// for both states, or `H,C`: hidden, LSTM cell; Krueger et al. 2016) [default: 0]
    #[arg(long, value_name = "P|H,C")]
    pub zoneout: Option<recurrent::cell::zoneout::Zoneout>,
}

impl RegArgs {
    /// The task's settings `d` with the flags given in place.
    pub fn over(&self, d: RecurrentReg) -> RecurrentReg {
        RecurrentReg {
            weight_drop: self.weight_drop.unwrap_or(d.weight_drop),
            variational: self.variational.unwrap_or(d.variational),
            zoneout: self.zoneout.unwrap_or(d.zoneout),
        }
    }
}

/// `--bidirectional true|false`, one flag in every command that has a bidirectional
/// encoder; `--unidirectional` is kept as the older spelling of `--bidirectional false`.
#[derive(Args, Debug, Clone)]
pub struct DirectionArgs {
    /// Read each sequence both ways (the final states of both directions are used): true
    /// or false
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    bidirectional: bool,
    /// The older spelling of `--bidirectional false`
    #[arg(long, conflicts_with = "bidirectional")]
    unidirectional: bool,
}

impl DirectionArgs {
    /// Whether the model reads both ways.
    pub fn bidirectional(&self) -> bool {
        self.bidirectional && !self.unidirectional
    }
}

impl OptimArgs {
    /// The task's settings `d` with every flag given on the command line in place.
    pub fn over(&self, d: &OptimSettings) -> OptimSettings {
        OptimSettings {
            optimizer: self.optimizer.unwrap_or(d.optimizer),
            lr: self.lr.unwrap_or(d.lr),
            weight_decay: self.weight_decay.or(d.weight_decay),
            clip: self.clip.unwrap_or(d.clip),
            lr_schedule: self.lr_schedule.unwrap_or(d.lr_schedule),
            warmup: self.warmup.unwrap_or(d.warmup),
            ema: self.ema.or(d.ema),
        }
    }
}

/// Writes the library's defaults `d` into the help of the optimisation flags (an argument
/// of `#[command(mut_args(...))]`), so `--help` shows each task's recipe from its
/// `Default`, the one place it is written.
pub fn show_defaults(arg: clap::Arg, d: &OptimSettings) -> clap::Arg {
    let shown = match arg.get_id().as_str() {
        "optimizer" => d.optimizer.to_string(),
        "lr" => d.lr.to_string(),
        "clip" => d.clip.to_string(),
        "lr_schedule" => d.lr_schedule.to_string(),
        "warmup" => d.warmup.to_string(),
        _ => return arg,
    };
    let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
    arg.help(format!("{help} [default: {shown}]"))
}

/// Writes the task's limits `d` (what a run gets when no limit flag is given) into the
/// help of `--time-budget`, `--steps` and `--epochs`.
pub fn show_limits(arg: clap::Arg, d: &Limits) -> clap::Arg {
    show_limits_by(arg, &[("", d)])
}

/// [`show_limits`] for a command whose limits depend on a mode: each `(mode, limits)` is
/// shown under its name.
pub fn show_limits_by(arg: clap::Arg, cases: &[(&str, &Limits)]) -> clap::Arg {
    if !matches!(arg.get_id().as_str(), "time_budget" | "steps" | "epochs") {
        return arg;
    }
    let shown: Vec<String> = cases
        .iter()
        .map(|(mode, d)| {
            let mut parts = Vec::new();
            if let Some(b) = d.time_budget {
                parts.push(format!("--time-budget {b}"));
            }
            if let Some(s) = d.steps {
                parts.push(format!("--steps {s}"));
            }
            if let Some(e) = d.epochs {
                parts.push(format!("--epochs {e}"));
            }
            let limits = if parts.is_empty() {
                "no limit".to_string()
            } else {
                parts.join(", ")
            };
            if mode.is_empty() {
                limits
            } else {
                format!("{mode}: {limits}")
            }
        })
        .collect();
    let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
    arg.help(format!(
        "{help} [default: none; with no limit flag given, {}]",
        shown.join("; ")
    ))
}

impl TrainCommon {
    /// The limits: those given on the command line replace all the task's defaults.
    pub fn limits(&self, default: Limits) -> Result<Limits> {
        if let Some(b) = self.time_budget {
            if b.is_nan() || b <= 0.0 {
                bail!("--time-budget must be positive, got {b}");
            }
        }
        if self.steps == Some(0) {
            bail!("--steps must be at least 1");
        }
        if let Some(e) = self.epochs {
            if e.is_nan() || e <= 0.0 {
                bail!("--epochs must be positive, got {e}");
            }
        }
        let given = Limits {
            time_budget: self.time_budget,
            steps: self.steps,
            epochs: self.epochs,
        };
        Ok(if given.is_set() { given } else { default })
    }

    /// The request for a run into `out`: `--resume`, the limits (those given, else the
    /// task's `default`), `--save-every`, `--keep`, `--on-nan`.
    pub fn request(&self, out: &Path, default: Limits) -> Result<TrainRequest> {
        let mut req = TrainRequest::new(out);
        req.resume = self.resume.is_some();
        req.limits = self.limits(default)?;
        req.save_every = self.save_every;
        if self.keep == 0 {
            bail!(
                "--keep must be at least 1: the latest checkpoint is what --resume continues from"
            );
        }
        req.keep = self.keep;
        req.on_nan = self.on_nan;
        req.tensorboard = self.tensorboard;
        req.command = crate::resume::record()?;
        req.resume_with = crate::resume::again(out);
        req.group = crate::ranks::group();
        Ok(req)
    }

    /// The run directory: `--resume DIR`, else `--out`, else `runs/<task>-<timestamp>`.
    pub fn out_dir(&self, task: &str) -> PathBuf {
        if let Some(r) = &self.resume {
            return r.clone();
        }
        self.out.clone().unwrap_or_else(|| {
            let own = format!("runs/{task}-{}", recurrent::calendar::utc_timestamp());
            // Ranks read their clocks at different moments: rank 0's name is the run's.
            PathBuf::from(crate::ranks::group().agree_string(&own).unwrap_or(own))
        })
    }

    /// Applies `--threads`.
    pub fn apply_threads(&self) -> Result<usize> {
        Ok(apply_threads(self.threads))
    }
}

/// `--precision` of the inference commands.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct PrecisionArg {
    /// Number format of the recurrent layers' products: f32, bf16 (bf16 weights and
    /// activations, f32 sums) or int8 (int8 weights per output channel, activations per
    /// step); the state and the gates stay in f32 [default: the checkpoint's: f32, or
    /// what `recurrent quantize` stored]
    #[arg(long, value_parser = precision_flag)]
    pub precision: Option<recurrent::Precision>,
}

impl PrecisionArg {
    /// Runs `model`'s recurrent layers at the flag's precision, else at the one stored in
    /// `checkpoint` (none for a model built here); returns it.
    pub fn apply(
        &self,
        model: &mut impl recurrent::Quantize,
        checkpoint: Option<&Path>,
    ) -> Result<recurrent::Precision> {
        let p = match checkpoint {
            Some(c) => recurrent::checkpoint::quantized::precision_for(c, self.precision)?,
            None => self.get(),
        };
        if p != recurrent::Precision::F32 {
            model.set_precision(p);
        }
        Ok(p)
    }
    /// The precision asked for (f32 when none).
    pub fn get(&self) -> recurrent::Precision {
        self.precision.unwrap_or_default()
    }
}

/// Parses `--precision` (f32, bf16, int8).
pub fn precision_flag(s: &str) -> Result<recurrent::kernels::quant::Precision, String> {
    recurrent::kernels::quant::Precision::parse(s)
}

/// Sets the engine's thread count from `--threads` (kept in range by [`threads_flag`]), all
/// cores when it is not given; returns the count in effect.
pub fn apply_threads(threads: Option<usize>) -> usize {
    let n = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    recurrent::kernels::set_threads(n);
    recurrent::kernels::threads()
}

/// A whole number from 1 to `max`, else an error saying the range (`what` names the unit).
fn one_to(s: &str, max: usize, what: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("`{s}`: give {what} from 1 to {max}")),
    }
}

/// Parses `--threads`: 1 to [`recurrent::kernels::pool::MAX_THREADS`].
pub fn threads_flag(s: &str) -> std::result::Result<usize, String> {
    one_to(
        s,
        recurrent::kernels::pool::MAX_THREADS,
        "a whole number of threads",
    )
}

/// Parses `--beam`: 1 to [`recurrent::decode::MAX_BEAM`].
pub fn beam_flag(s: &str) -> std::result::Result<usize, String> {
    one_to(s, recurrent::decode::MAX_BEAM, "a beam width")
}

/// Parses a length flag (`--max-tokens`, `--max-words`): 1 to
/// [`recurrent::text::limit::MAX_LENGTH_FLAG`].
pub fn length_flag(s: &str) -> std::result::Result<usize, String> {
    one_to(
        s,
        recurrent::text::limit::MAX_LENGTH_FLAG,
        "a length in tokens",
    )
}

/// Whether an interrupt (SIGINT, SIGTERM or SIGHUP) stopped this process's work early: it
/// then exits 130 after saving, as shells expect of an interrupted command.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// See [`INTERRUPTED`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Ctrl-C: the first asks the run to checkpoint and stop; the second exits at once.
pub fn install_interrupt() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    // SIGTERM and SIGHUP too (the `termination` feature of ctrlc): what `timeout`, batch
    // schedulers and a closed terminal send must save like Ctrl-C does.
    let count = Arc::new(AtomicUsize::new(0));
    let f = flag.clone();
    // If a handler cannot be installed (already set), Ctrl-C simply kills the process.
    let _ = ctrlc::set_handler(move || {
        if count.fetch_add(1, Ordering::SeqCst) >= 1 {
            say!("\ninterrupted twice: exiting now");
            std::process::exit(130);
        }
        say!("\ninterrupt: saving a checkpoint and stopping (Ctrl-C again to quit at once)");
        INTERRUPTED.store(true, Ordering::SeqCst);
        f.store(true, Ordering::SeqCst);
    });
    flag
}

/// Progress bar on stderr, driven by the training loop's events.
pub struct Progress {
    bar: ProgressBar,
    stop: Arc<AtomicBool>,
    last_val: Option<f64>,
    /// stderr is a terminal: lines go through the bar; otherwise (logs, pipes) the bar is
    /// hidden and lines are printed as they are, so logs keep them.
    tty: bool,
}

impl Progress {
    pub fn new(stop: Arc<AtomicBool>) -> Self {
        let target = match crate::ranks::is_primary() {
            true => indicatif::ProgressDrawTarget::stderr(),
            false => indicatif::ProgressDrawTarget::hidden(),
        };
        let bar = ProgressBar::with_draw_target(Some(1000), target);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30.cyan/blue} {percent:>3}% {msg} [{elapsed_precise} < {eta_precise}]",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
        Progress {
            bar,
            stop,
            last_val: None,
            tty,
        }
    }
    fn line(&self, msg: String) {
        if self.tty {
            self.bar.println(msg);
        } else {
            say!("{msg}");
        }
    }
    pub fn finish(&self) {
        self.bar.finish();
    }
}

impl Observer for Progress {
    fn on_step(&mut self, s: &StepInfo) {
        self.bar.set_position((s.progress * 1000.0) as u64);
        let val = self
            .last_val
            .map_or(String::new(), |v| format!(" val {v:.4}"));
        self.bar.set_message(format!(
            "step {} loss {:.4}{val} | {:.0} tok/s",
            s.step, s.loss, s.tokens_per_s
        ));
    }
    fn on_eval(&mut self, e: &EvalInfo) {
        self.last_val = Some(e.val_loss);
        self.line(format!(
            "eval at step {} ({:.0} s): val loss {:.4} nats ({:.4} bits){}",
            e.step,
            e.trained_s,
            e.val_loss,
            e.val_loss / std::f64::consts::LN_2,
            if e.best { " *best*" } else { "" }
        ));
    }
    fn message(&mut self, msg: &str) {
        self.line(msg.to_string());
    }
    fn should_stop(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// The first line of a training report on stderr: how the run ended, after how many steps,
/// epochs and seconds of training.
pub fn print_ending(already_complete: bool, finished: bool, steps: u64, epochs: f64, train_s: f64) {
    let how = if already_complete {
        "the run was already complete"
    } else if finished {
        "done"
    } else {
        "stopped"
    };
    say!("{how} after {steps} steps ({epochs:.2} epochs, {train_s:.0} s of training)");
}

/// Prints one JSON object on stdout, `null` for non-finite numbers.
/// A failed write to stdout: quiet exit 141 when its reader went away (`| head`), else the
/// error and exit 1.
pub fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(141);
    }
    say!("error: writing to stdout: {e}");
    std::process::exit(1);
}

/// `print!` of `s` with [`stdout_failed`]'s handling of a failed write.
pub fn write_stdout(s: &str) {
    use std::io::Write as _;
    if let Err(e) = std::io::stdout().write_all(s.as_bytes()) {
        stdout_failed(e)
    }
}

pub fn print_json(v: &serde_json::Value) {
    out!("{}", sanitize(v.clone()));
}

fn sanitize(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.as_f64().is_some_and(|f| !f.is_finite()) => Value::Null,
        Value::Array(a) => Value::Array(a.into_iter().map(sanitize).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, sanitize(v))).collect()),
        other => other,
    }
}

/// Loads the checkpoint `path` with `load` for `command`, which takes models of the tasks
/// `needs`. When the file is another task's model the loader's own complaint (a missing
/// metadata field) says nothing a user can act on, so the error then says what the file is
/// and what `command` needs, each with the command that makes it.
pub fn load_for<T>(
    command: &str,
    needs: &[&str],
    path: &Path,
    load: impl FnOnce(&Path) -> recurrent::Result<T>,
) -> Result<T> {
    load(path).map_err(|e| {
        let task = recurrent::checkpoint::read(path).ok().and_then(|ck| {
            let model = ck.metadata.get("model")?;
            let v: serde_json::Value = serde_json::from_str(model).ok()?;
            v["task"].as_str().map(str::to_string)
        });
        match task {
            Some(t) if !needs.contains(&t.as_str()) => {
                let wanted: Vec<String> = needs.iter().map(|n| made_by(n)).collect();
                anyhow::anyhow!(
                    "{}: this checkpoint is {}; `{command}` needs {}",
                    path.display(),
                    made_by(&t),
                    wanted.join(" or ")
                )
            }
            _ => e.into(),
        }
    })
}

/// A task's model and the command that trains it, as a user would type it.
fn made_by(task: &str) -> String {
    let (name, how) = match task {
        "ctc" => (
            "connected-speech",
            "train speech --task connected".to_string(),
        ),
        "long_range" => ("long_range", "lab long-range".to_string()),
        "lm" => return "an `lm` model (from `recurrent train lm`)".into(),
        "speech" | "classify" | "tag" | "forecast" | "translate" | "music" => {
            (task, format!("train {task}"))
        }
        other => return format!("a `{other}` model"),
    };
    format!("a `{name}` model (from `recurrent {how}`)")
}

/// `--cell`, with `irnn` meaning `rnn_relu` initialised with identity recurrent weights.
pub fn parse_cell(cell: &str, init: &str) -> Result<(CellKind, String)> {
    let kind: CellKind = cell.parse()?;
    let irnn = cell.eq_ignore_ascii_case("irnn");
    Ok((
        kind,
        if irnn && init == "pytorch" {
            "identity".to_string()
        } else {
            init.to_string()
        },
    ))
}

/// Prints evaluations as accuracy (stderr, also when it is not a terminal).
pub struct AccuracyProgress(pub Progress);

impl Observer for AccuracyProgress {
    fn on_step(&mut self, s: &StepInfo) {
        self.0.on_step(s)
    }
    fn on_eval(&mut self, e: &EvalInfo) {
        self.message(&format!(
            "eval at step {} ({:.0} s of training): validation accuracy {:.4}{}",
            e.step,
            e.trained_s,
            e.val_loss,
            if e.best { " *best*" } else { "" }
        ));
    }
    fn message(&mut self, msg: &str) {
        // The bar hides its lines when stderr is not a terminal; logs must still show.
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

/// Where an inference command reads its texts, one per line: the same two flags for
/// `classify`, `tag` and `translate`.
#[derive(Args, Debug, Clone)]
pub struct LineInput {
    /// Read the input from this file, one text per line [default: stdin]
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Text encoding of the input: utf-8, windows-1252, latin1, utf-16le [default: utf-8]
    #[arg(long)]
    pub encoding: Option<String>,
}

impl LineInput {
    /// The lines of the input.
    pub fn lines(&self) -> Result<Vec<String>> {
        read_lines(self.input.as_deref(), self.encoding.as_deref())
    }
}

/// The lines of a file or stdin (a final empty line after the last newline is not a text).
fn read_lines(input: Option<&Path>, encoding: Option<&str>) -> Result<Vec<String>> {
    let (bytes, name) = match input {
        Some(p) => (
            std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
            p.to_path_buf(),
        ),
        None => {
            let mut b = Vec::new();
            std::io::stdin()
                .read_to_end(&mut b)
                .context("reading stdin")?;
            (b, PathBuf::from("<stdin>"))
        }
    };
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let text = decode(&bytes, &name, encoding)?;
    let mut lines: Vec<String> = text
        .split('\n')
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect();
    if text.ends_with('\n') {
        lines.pop();
    }
    Ok(lines)
}

/// Adds a finished run's test scores and plots to its TensorBoard log (nothing for a run
/// that keeps none). A failure here loses nothing the run made, so it is a warning.
pub fn finish_tensorboard(out: &Path) {
    if let Err(e) = recurrent::train::run::log_finished_run(out) {
        say!("warning: TensorBoard log of {}: {e}", out.display());
    }
}
