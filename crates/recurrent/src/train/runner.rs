//! The training loop every task shares: the steps, the optimizer with clipping and its
//! schedule, NaN handling, evaluation and the best checkpoint, resumable checkpoints, limits
//! and Ctrl-C. A task ([`Task`]) supplies only its batches, its loss and its evaluation:
//!
//! ```text
//! loop: task.train_step (forward, loss, backward)  ->  non-finite check  ->  clip
//!       ->  optimizer step at schedule.lr_at(step)  ->  metrics, evaluation, checkpoint
//! ```
//!
//! Determinism: everything random is drawn from one stream (`Rng`, forked from the seed) that
//! the task receives in `train_step`; the stream's position, the optimizer's buffers, the
//! task's own position and carried tensors, and the step are saved in every checkpoint, so a
//! resumed run continues bit for bit. Evaluation draws nothing and changes nothing.

use super::dist::{self, Group, Shard};
use super::ema::Ema;
use super::lr::{LrPlan, PLATEAU_EVALS};
pub use super::observe::EvalEvery;
use super::observe::{EvalInfo, Limits, Observer, OnNan, Quiet, StepInfo};
use super::run::{named_params, RunDir};
pub use super::task::{Evaluation, Task};
use crate::checkpoint::{self, Checkpoint};
use crate::error::{Error, Result};
use crate::optim::clip;
use crate::optim::schedule::PlateauState;
use crate::optim::{OptimSettings, OptimState, Optimizer};
use crate::param::Module;
use crate::rng::{Rng, RngState};
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Name prefix of the optimizer's buffers in a checkpoint.
pub const OPTIM_PREFIX: &str = "train_state.optim.";
/// Name prefix of the task's carried tensors in a checkpoint.
pub const TASK_PREFIX: &str = "train_state.task.";
/// Name prefix of the averaged weights (`--ema`) in a checkpoint.
pub const EMA_PREFIX: &str = "train_state.ema.";

/// Where and how long to train.
#[derive(Clone, Debug)]
pub struct TrainRequest {
    pub out: PathBuf,
    pub resume: bool,
    pub limits: Limits,
    /// Save a checkpoint every this many steps (and at the end).
    pub save_every: Option<u64>,
    /// Checkpoints kept.
    pub keep: usize,
    pub on_nan: OnNan,
    /// Early stopping: stop after this many evaluations in a row without a better metric.
    pub patience: Option<u64>,
    /// How the run was started, written to `DIR/command.json` when it starts or continues
    /// (the CLI stores its arguments and its input files' fingerprints there, so that
    /// `--resume DIR` alone can continue it).
    pub command: Option<serde_json::Value>,
    /// The command that continues the run, printed when it stops early [default:
    /// `--resume DIR`].
    pub resume_with: Option<String>,
    /// Writes TensorBoard event files into `DIR/tensorboard/` (default true).
    pub tensorboard: bool,
    /// The ranks that train together ([`super::dist`]); one process by default. Only rank 0
    /// writes the run directory and reports.
    pub group: Group,
}

impl TrainRequest {
    /// A fresh run into `out`, no limits yet (see [`TrainRequest::steps`]).
    pub fn new(out: impl Into<PathBuf>) -> Self {
        TrainRequest {
            out: out.into(),
            resume: false,
            limits: Limits::default(),
            save_every: None,
            keep: 2,
            on_nan: OnNan::Stop,
            patience: None,
            command: None,
            resume_with: None,
            tensorboard: true,
            group: Group::default(),
        }
    }
    /// Stops after `n` steps.
    pub fn steps(mut self, n: u64) -> Self {
        self.limits.steps = Some(n);
        self
    }
    /// Writes a finished run's summary to `DIR/results.json` (pretty JSON, atomically), on
    /// rank 0 alone. A run that was already complete when started wrote it then, and is
    /// left as it is.
    pub fn write_results<S: Serialize>(&self, summary: &S, already_complete: bool) -> Result<()> {
        if already_complete || !self.group.is_primary() {
            return Ok(());
        }
        let json =
            serde_json::to_string_pretty(summary).map_err(|e| Error::Config(e.to_string()))?;
        checkpoint::write_file_atomic(self.out.join("results.json"), json.as_bytes())
    }
}

/// What a run reports.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub out: PathBuf,
    pub steps: u64,
    pub train_s: f64,
    /// Tokens (or examples) trained on.
    pub tokens: u64,
    pub tokens_per_s: f64,
    pub train_loss: Option<f64>,
    /// The last evaluation's fields.
    pub last_eval: Option<serde_json::Value>,
    /// The best validation metric.
    pub best_metric: Option<f64>,
    pub params: usize,
    pub nan_skips: u64,
    /// True if a limit was reached; false if stopped early (Ctrl-C or early stopping).
    pub finished: bool,
    /// The run was already complete: nothing was done.
    pub already_complete: bool,
}

/// The loop's position, saved in each checkpoint's metadata (`train_state`).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct LoopState {
    step: u64,
    trained_s: f64,
    tokens: u64,
    rng: RngState,
    best: Option<f64>,
    next_eval: f64,
    nan_skips: u64,
    finished: bool,
    optim: Option<OptimState>,
    last_loss: Option<f64>,
    last_eval: Option<serde_json::Value>,
    /// Evaluations in a row without improvement (early stopping).
    #[serde(default)]
    stale_evals: u64,
    /// Seconds spent summing gradients over the ranks (data-parallel runs).
    #[serde(default)]
    comm_s: f64,
    /// Updates of the averaged weights (`--ema`) so far.
    #[serde(default)]
    ema_updates: u64,
    /// Decay on plateau (`--lr-schedule plateau`): where it stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plateau: Option<PlateauState>,
    task: serde_json::Value,
}

/// One training run: a task, its model and where the run goes, built with
/// [`Trainer::new`] and the setters below, then [`Trainer::run`] once.
///
/// ```text
/// Trainer::new(&mut task, &mut model, &req).optim(&settings).eval_every(e)
///     .config(&config_json).seed(seed).run(&mut observer)
/// ```
pub struct Trainer<'a, T: Task> {
    task: &'a mut T,
    model: &'a mut T::Model,
    req: &'a TrainRequest,
    optim: OptimSettings,
    eval_every: EvalEvery,
    config: serde_json::Value,
    seed: u64,
}

impl<'a, T: Task> Trainer<'a, T> {
    /// Trains `model` on `task` into `req.out` (or resumes there): Adam at 1e-3 without
    /// clipping, an evaluation at the end only, seed 0, until the setters say otherwise.
    pub fn new(task: &'a mut T, model: &'a mut T::Model, req: &'a TrainRequest) -> Self {
        Trainer {
            task,
            model,
            req,
            optim: OptimSettings::default(),
            eval_every: EvalEvery::Steps(u64::MAX),
            config: serde_json::Value::Null,
            seed: 0,
        }
    }
    /// The optimizer, clipping and schedule.
    pub fn optim(mut self, optim: &OptimSettings) -> Self {
        self.optim = optim.clone();
        self
    }
    /// When to evaluate (and at the end, always).
    pub fn eval_every(mut self, every: EvalEvery) -> Self {
        self.eval_every = every;
        self
    }
    /// The run's configuration as stored in `config.json`; on resume every key of it must
    /// agree with the stored one (the error names the flag).
    pub fn config(mut self, config: &serde_json::Value) -> Self {
        self.config = config.clone();
        self
    }
    /// Seeds the training stream (everything random the task draws).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Runs the loop to a limit, an early stop or an interrupt, checkpointing as it goes.
    pub fn run(self, obs: &mut dyn Observer) -> Result<RunSummary> {
        let Trainer {
            task,
            model,
            req,
            optim,
            eval_every,
            config,
            seed,
        } = self;
        optim.validate()?;
        let per_epoch = task.batches_per_epoch().max(1) as f64;
        let plan = LrPlan::new(&optim, &req.limits, per_epoch)?;
        let opt = optim.build()?;
        let group = req.group.clone();
        // Only rank 0 touches the run directory and reports; the others follow its decisions.
        let mut quiet = Quiet;
        let obs: &mut dyn Observer = if group.is_primary() { obs } else { &mut quiet };
        let run = match group.is_primary() {
            true => Some(RunDir::open(&req.out, req.resume)?),
            false => None,
        };
        let first_eval = match eval_every {
            EvalEvery::Seconds(s) => s,
            EvalEvery::Steps(n) => n as f64,
        };
        let ema = optim.ema.map(|d| Ema::new(d, &*model));
        let mut l = Loop {
            ema,
            plan,
            metadata: task.metadata(),
            per_epoch,
            task,
            model,
            req,
            run,
            opt,
            st: LoopState::start(seed, first_eval),
            shard: Shard::of(group.rank(), group.ranks()),
            group,
            grad_buf: Vec::new(),
        };
        if l.resume(&config, obs)? {
            return Ok(summary(&req.out, &l.st, l.model, true, true));
        }
        let mut rng =
            Rng::from_state(&l.st.rng).ok_or_else(|| Error::Config("bad RNG state".into()))?;
        if let Some(run) = &mut l.run {
            if req.tensorboard {
                run.open_tensorboard((l.st.step > 0).then_some(l.st.step))?;
            }
            run.write_file("config.json", &pretty(&config)?)?;
            if let Some(c) = &req.command {
                run.write_file("command.json", &pretty(c)?)?;
            }
        }
        let mut interrupted = false;
        loop {
            let epoch = l.st.step as f64 / l.per_epoch;
            // Rank 0's early stop and interrupt decide for every rank, so ranks stop at one
            // step even if a rank's thread count moved an evaluation's last bits.
            let flag = |b: bool| f64::from(u8::from(b));
            let mut stop = [flag(l.task.should_stop()), flag(obs.should_stop())];
            l.group.agree(&mut stop)?;
            if stop[0] != 0.0 || req.limits.reached(l.st.step, l.st.trained_s, epoch) {
                break;
            }
            if stop[1] != 0.0 {
                interrupted = true;
                break;
            }
            if !l.step(&optim, &mut rng, obs)? {
                continue;
            }
            let epoch = l.st.step as f64 / l.per_epoch;
            let limit_hit = req.limits.reached(l.st.step, l.st.trained_s, epoch);
            let clock = match eval_every {
                EvalEvery::Seconds(_) => l.st.trained_s,
                EvalEvery::Steps(_) => l.st.step as f64,
            };
            if clock >= l.st.next_eval && !limit_hit {
                while l.st.next_eval <= clock {
                    l.st.next_eval += first_eval;
                }
                l.evaluate(obs)?;
            }
            if req
                .save_every
                .is_some_and(|k| k > 0 && l.st.step.is_multiple_of(k))
                && !limit_hit
            {
                l.save(&rng)?;
            }
        }
        if !interrupted {
            l.evaluate(obs)?;
            l.st.finished = true;
        } else {
            let again = req
                .resume_with
                .clone()
                .unwrap_or_else(|| format!("--resume {}", req.out.display()));
            obs.message(&format!(
                "stopped at step {}: checkpoint saved; continue with `{again}`",
                l.st.step
            ));
        }
        l.save(&rng)?;
        if l.run
            .as_ref()
            .is_some_and(|r| !r.path().join("best.safetensors").exists())
        {
            l.with_kept_weights(|l| l.save_best())?;
        }
        // What follows a run reads its files (the best weights): the other ranks wait here
        // until rank 0 has written them.
        l.group.agree(&mut [0.0])?;
        Ok(summary(&req.out, &l.st, l.model, !interrupted, false))
    }
}

impl LoopState {
    /// Step 0 of a new run.
    fn start(seed: u64, first_eval: f64) -> Self {
        LoopState {
            step: 0,
            trained_s: 0.0,
            tokens: 0,
            rng: Rng::new(seed).fork("train").state(),
            best: None,
            next_eval: first_eval,
            nan_skips: 0,
            finished: false,
            optim: None,
            last_loss: None,
            last_eval: None,
            stale_evals: 0,
            comm_s: 0.0,
            ema_updates: 0,
            plateau: None,
            task: serde_json::Value::Null,
        }
    }
}

/// A run in progress: what each of its steps, evaluations and checkpoints touches.
struct Loop<'a, T: Task> {
    task: &'a mut T,
    model: &'a mut T::Model,
    req: &'a TrainRequest,
    /// The run directory, on rank 0 only.
    run: Option<RunDir>,
    opt: Box<dyn Optimizer<f32>>,
    metadata: BTreeMap<String, String>,
    per_epoch: f64,
    st: LoopState,
    group: Group,
    shard: Shard,
    /// The flat buffer of the per-step gradient sum (data-parallel runs), reused.
    grad_buf: Vec<f32>,
    /// The averaged weights that are evaluated (`--ema`).
    ema: Option<Ema>,
    /// The learning rate of each step.
    plan: LrPlan,
}

impl<T: Task> Loop<'_, T> {
    /// Picks up the run already in the directory, if any. True when it is complete and
    /// there is nothing to do.
    fn resume(&mut self, config: &serde_json::Value, obs: &mut dyn Observer) -> Result<bool> {
        let req = self.req;
        let found = match &self.run {
            Some(run) => run.resume_point(config, req.resume, &mut |m| obs.message(m))?,
            None => None,
        };
        let Some((path, ck)) = dist::share_checkpoint(&self.group, found)? else {
            return Ok(false);
        };
        self.st = restore(
            &ck,
            &path,
            self.model,
            self.opt.as_mut(),
            self.task,
            &self.shard,
            self.ema.as_mut(),
        )?;
        self.plan.load_state(self.st.plateau);
        let st = &mut self.st;
        if st.finished
            && (self.task.should_stop()
                || req.patience.is_some_and(|p| st.stale_evals >= p)
                || req
                    .limits
                    .reached(st.step, st.trained_s, st.step as f64 / self.per_epoch))
        {
            obs.message(&format!(
                "the run in {} is complete (step {}): nothing to do",
                req.out.display(),
                st.step
            ));
            return Ok(true);
        }
        // A finished run given a larger limit goes on from where it stopped.
        st.finished = false;
        if let Some(run) = &self.run {
            run.truncate_metrics_after(st.step)?;
        }
        obs.message(&format!(
            "resuming {} from step {} ({})",
            req.out.display(),
            st.step,
            path.display()
        ));
        Ok(false)
    }

    /// One optimizer step: forward, loss and backward by the task, the non-finite check,
    /// clipping, the update at the schedule's rate, metrics. False when the batch was
    /// skipped for a non-finite value (`--on-nan skip`).
    fn step(
        &mut self,
        optim: &OptimSettings,
        rng: &mut Rng,
        obs: &mut dyn Observer,
    ) -> Result<bool> {
        let (req, st) = (self.req, &mut self.st);
        let t0 = Instant::now();
        self.model.zero_grad();
        self.shard.next_step(rng);
        let out = self.task.train_step(self.model, rng, &mut self.shard)?;
        let (loss, tokens) = match self.group.collective() {
            Some(c) => {
                let t = Instant::now();
                let summed = dist::sum_step(c, self.model, out, &mut self.grad_buf)?;
                st.comm_s += t.elapsed().as_secs_f64();
                summed
            }
            None => (out.loss, out.tokens),
        };
        // One pass over the gradients: a finite global norm means every gradient is finite
        // (and then so are the weights the step makes from them); only a non-finite one
        // pays for the search that names the first bad value or gradient.
        let grad_norm = if loss.is_finite() {
            clip::grad_norm(self.model)
        } else {
            f64::NAN
        };
        let bad = if !loss.is_finite() {
            Some(format!("the loss ({loss})"))
        } else if !grad_norm.is_finite() {
            Some(clip::first_non_finite(self.model).map_or_else(
                || format!("the gradient norm ({grad_norm})"),
                |nf| nf.to_string(),
            ))
        } else {
            None
        };
        if let Some(what) = bad {
            match req.on_nan {
                OnNan::Stop => {
                    return Err(Error::Numerical(format!(
                        "step {}: {what} became NaN or infinite; the last good checkpoint in {} is kept. \
                         Lower --lr, set or lower --clip, or pass --on-nan skip",
                        st.step + 1,
                        req.out.display()
                    )))
                }
                OnNan::Skip => {
                    st.nan_skips += 1;
                    obs.message(&format!("step {}: {what} is not finite: batch skipped ({} so far)", st.step + 1, st.nan_skips));
                    st.step += 1;
                    return Ok(false);
                }
            }
        }
        if optim.clip > 0.0 {
            clip::scale_to_norm(self.model, grad_norm, optim.clip)?;
        }
        self.opt.set_lr(self.plan.lr(st.step, st.trained_s));
        self.opt.step(self.model)?;
        if let Some(ema) = &mut self.ema {
            ema.update(self.model);
        }
        // Every rank counts rank 0's time, so limits in seconds end all ranks at one step.
        let mut took = [t0.elapsed().as_secs_f64()];
        self.group.agree(&mut took)?;
        st.step += 1;
        st.tokens += tokens as u64;
        st.trained_s += took[0];
        st.last_loss = Some(loss);
        let epoch = st.step as f64 / self.per_epoch;
        let info = StepInfo {
            step: st.step,
            loss,
            grad_norm,
            lr: self.opt.lr(),
            trained_s: st.trained_s,
            tokens_per_s: st.tokens as f64 / st.trained_s.max(1e-9),
            epoch,
            progress: req.limits.progress(st.step, st.trained_s, epoch),
        };
        obs.on_step(&info);
        if let Some(run) = self
            .run
            .as_mut()
            .filter(|_| st.step.is_multiple_of(10) || st.step == 1)
        {
            let mut line = serde_json::json!({"event": "train", "step": st.step, "train_s": st.trained_s, "loss": loss,
                "grad_norm": grad_norm, "lr": info.lr, "tokens_per_s": info.tokens_per_s, "epoch": epoch});
            if self.group.is_parallel() {
                // Rank 0's seconds in the gradient sum: the transfer and the wait for the
                // slowest rank.
                line["ranks"] = self.group.ranks().into();
                line["comm_s"] = st.comm_s.into();
            }
            run.append_metric(&line)?;
        }
        Ok(true)
    }

    /// Validation of the weights the run keeps (the average with `--ema`, which is put in
    /// the model for the evaluation and its best checkpoint, then taken out again).
    fn evaluate(&mut self, obs: &mut dyn Observer) -> Result<()> {
        self.with_kept_weights(|l| l.evaluate_now(obs))
    }

    /// Runs `f` with the weights the run keeps in the model: the average with `--ema`
    /// (exchanged with the raw weights, which come back afterwards, error or not).
    fn with_kept_weights<R>(&mut self, f: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        let swap = |l: &mut Self| {
            if let Some(ema) = &mut l.ema {
                ema.swap(l.model);
            }
        };
        swap(self);
        let r = f(self);
        swap(self);
        r
    }

    /// Validation: logs it, keeps the best checkpoint, counts evaluations without progress.
    fn evaluate_now(&mut self, obs: &mut dyn Observer) -> Result<()> {
        let Some(mut ev) = self.task.evaluate(self.model)? else {
            return Ok(());
        };
        // Which evaluation is the best is rank 0's call (see the loop's stop flags).
        let mut metric = [ev.metric];
        self.group.agree(&mut metric)?;
        ev.metric = metric[0];
        let st = &mut self.st;
        let better = st.best.is_none_or(|b| {
            if ev.higher_is_better {
                ev.metric > b
            } else {
                ev.metric < b
            }
        });
        let mut line = serde_json::json!({"event": "eval", "step": st.step, "train_s": st.trained_s, "metric": ev.metric, "best": better});
        if let (Some(o), Some(f)) = (line.as_object_mut(), ev.fields.as_object()) {
            o.extend(f.clone());
        }
        st.last_eval = Some(line.clone());
        if let Some(f) = self.plan.observe(ev.metric, ev.higher_is_better) {
            obs.message(&format!(
                "step {}: no better validation metric in {PLATEAU_EVALS} evaluations: \
                 learning rate x{f}",
                st.step
            ));
        }
        if better {
            st.best = Some(ev.metric);
            st.stale_evals = 0;
            self.save_best()?;
        } else {
            self.st.stale_evals += 1;
        }
        if let Some(run) = &mut self.run {
            run.append_metric(&line)?;
            if run.keeps_tensorboard() {
                let samples = self.task.samples(self.model)?;
                run.log_samples(self.st.step, &samples)?;
            }
        }
        obs.on_eval(&EvalInfo {
            step: self.st.step,
            trained_s: self.st.trained_s,
            val_loss: ev.metric,
            best: better,
        });
        Ok(())
    }

    /// The resumable checkpoint: weights, optimizer buffers, the task's carried tensors and
    /// the loop's position with the stream `rng`.
    fn save(&self, rng: &Rng) -> Result<()> {
        let mut st = self.st.clone();
        st.optim = Some(self.opt.state());
        st.plateau = self.plan.state();
        st.rng = rng.state();
        let (task_json, task_tensors) = self.task.state();
        let task_tensors = self.gather_rows(task_tensors)?;
        let Some(run) = &self.run else {
            return Ok(());
        };
        st.task = task_json;
        let mut tensors = named_params(self.model);
        tensors.extend(
            self.opt
                .state_tensors()
                .into_iter()
                .map(|(n, t)| (format!("{OPTIM_PREFIX}{n}"), t)),
        );
        tensors.extend(
            task_tensors
                .into_iter()
                .map(|(n, t)| (format!("{TASK_PREFIX}{n}"), t)),
        );
        if let Some(ema) = &self.ema {
            st.ema_updates = ema.updates();
            tensors.extend(
                ema.tensors(self.model)
                    .into_iter()
                    .map(|(n, t)| (format!("{EMA_PREFIX}{n}"), t)),
            );
        }
        let mut md = self.metadata.clone();
        md.insert(
            "train_state".to_string(),
            serde_json::to_string(&st).map_err(|e| Error::Config(e.to_string()))?,
        );
        let refs: Vec<(String, &Tensor<f32>)> =
            tensors.iter().map(|(n, t)| (n.clone(), t)).collect();
        run.save_checkpoint(st.step, &refs, &md, self.req.keep)?;
        Ok(())
    }

    /// The task's carried tensors as one process would hold them: those kept per row are
    /// joined from every rank on rank 0 (all ranks take part).
    fn gather_rows(
        &self,
        tensors: Vec<(String, Tensor<f32>)>,
    ) -> Result<Vec<(String, Tensor<f32>)>> {
        let Some(c) = self.group.collective() else {
            return Ok(tensors);
        };
        let (mut same, mut rows) = (Vec::new(), Vec::new());
        for (name, t) in tensors {
            match self.task.row_axis(&name) {
                Some(axis) => rows.push((name, t, axis)),
                None => same.push((name, t)),
            }
        }
        same.extend(dist::gather_rows(c, &rows)?);
        Ok(same)
    }

    /// `best.safetensors`: the weights alone, with the step and the evaluation.
    fn save_best(&self) -> Result<()> {
        let Some(run) = &self.run else {
            return Ok(());
        };
        let tensors = named_params(self.model);
        let refs: Vec<(String, &Tensor<f32>)> =
            tensors.iter().map(|(n, t)| (n.clone(), t)).collect();
        let mut md = self.metadata.clone();
        md.insert("step".to_string(), self.st.step.to_string());
        if let Some(e) = &self.st.last_eval {
            md.insert("eval".to_string(), e.to_string());
        }
        checkpoint::write(run.path().join("best.safetensors"), &refs, &md)
    }
}

fn summary<M: Module<f32>>(
    out: &Path,
    st: &LoopState,
    model: &M,
    finished: bool,
    already_complete: bool,
) -> RunSummary {
    RunSummary {
        out: out.to_path_buf(),
        steps: st.step,
        train_s: st.trained_s,
        tokens: st.tokens,
        tokens_per_s: st.tokens as f64 / st.trained_s.max(1e-9),
        train_loss: st.last_loss,
        last_eval: st.last_eval.clone(),
        best_metric: st.best,
        params: model.num_params(),
        nan_skips: st.nan_skips,
        finished,
        already_complete,
    }
}

/// Restores model, optimizer, task and loop position from a checkpoint.
fn restore<T: Task>(
    ck: &Checkpoint,
    path: &Path,
    model: &mut T::Model,
    opt: &mut dyn Optimizer<f32>,
    task: &mut T,
    shard: &Shard,
    ema: Option<&mut Ema>,
) -> Result<LoopState> {
    checkpoint::load_into(model, &ck.weights_only())?;
    let st: LoopState = ck
        .metadata
        .get("train_state")
        .ok_or_else(|| {
            Error::format(
                path,
                "no training state in the metadata: not a resumable checkpoint",
            )
        })
        .and_then(|s| {
            serde_json::from_str(s).map_err(|e| Error::format(path, format!("training state: {e}")))
        })?;
    let (mut opt_tensors, mut task_tensors, mut ema_tensors) =
        (Vec::new(), BTreeMap::new(), BTreeMap::new());
    for (name, t) in &ck.tensors {
        if let Some(n) = name.strip_prefix(EMA_PREFIX) {
            ema_tensors.insert(n.to_string(), t.to_tensor::<f32>()?);
        } else if let Some(n) = name.strip_prefix(OPTIM_PREFIX) {
            opt_tensors.push((n.to_string(), t.to_tensor::<f32>()?));
        } else if let Some(n) = name.strip_prefix(TASK_PREFIX) {
            let mut t = t.to_tensor::<f32>()?;
            // Stored as one process holds it: this rank keeps its rows.
            if let Some(axis) = task.row_axis(n).filter(|_| shard.ranks() > 1) {
                let len = t.shape().get(axis).copied().unwrap_or(0);
                t = dist::take_rows(&t, axis, shard.rows(len))?;
            }
            task_tensors.insert(n.to_string(), t);
        }
    }
    if let Some(os) = &st.optim {
        opt.load_state(model, os, opt_tensors)?;
    }
    task.load_state(&st.task, task_tensors)?;
    if let Some(ema) = ema {
        ema.load(&*model, ema_tensors, st.ema_updates)
            .map_err(|e| Error::format(path, e.to_string()))?;
    }
    Ok(st)
}

/// `v` as indented JSON bytes.
fn pretty(v: &serde_json::Value) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(|e| Error::Config(e.to_string()))
}
