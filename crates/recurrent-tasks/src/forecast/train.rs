//! Time-series forecasting: from a [`Series`] to a trained model, its test metrics beside
//! the baselines', and forecasts of the future.
//!
//! ## Split (chronological, never shuffled across parts)
//! With N rows, `test` rows held out and `val` validation rows:
//! ```text
//! rows [0, fit_end)          fit:  training windows' inputs and targets; the scaler
//! rows [fit_end, val_end)    val:  targets of the validation forecasts (early stopping)
//! rows [val_end, N)          test: targets of the reported forecasts
//! fit_end = N - test - val,  val_end = N - test
//! ```
//! Inputs may look back across a boundary (a validation forecast reads training rows, a test
//! forecast reads everything before its origin, as a forecaster in production would), but no
//! target of a training window and nothing the scaler sees lies beyond `fit_end`.
//!
//! ## Windows
//! A window has an origin o (its last observed row) and reads rows [o - L + 1, o] (L =
//! lookback). Training windows: every o with o - L + 1 >= 0 and o + k <= fit_end - 1, k = H
//! for the direct model, 1 for the recursive one. Validation: every o in [fit_end - 1,
//! val_end - 2] (with o >= L - 1), forecasting min(H, val_end - 1 - o) steps. Test: o =
//! val_end - 1 + j * stride, forecasting min(H, N - 1 - o) steps.
//!
//! ## Models (a [`Classifier`] over dense inputs: the many-to-one block)
//! - `recursive`: outputs = the F columns one step ahead; an H-step forecast feeds each
//!   prediction back as the newest input row, H times.
//! - `direct`: outputs = H values of the target column at once.
//!
//! With `target = delta` the model predicts z_{o+s} - z_o (scaled units) and the forecast
//! is z_o plus that: a series that leaves its training range (a trend) then asks the
//! network for changes it has seen, not levels it has not.
//!
//! ## Scaling (fitted on rows [0, fit_end) only)
//! `standard`: z = (y - mean) / std per column; `log`: z = (ln y - mean) / std, for series
//! whose seasonal swings grow with their level (airline passengers).

use super::config::*;
use super::model::*;
use super::nets::{fill_window, take_dense, target_column, Nets, Windows};
use super::plan::*;
use super::report::*;
use super::scale::*;
use super::smoothing::Smoothing;
use crate::forecast::classical::{Method, Transform};
use crate::forecast::combine::{select, thin, validate, Combination, Selection};
use crate::forecast::eval::mase_scale;
use crate::forecast::series::{Fill, Series};
use recurrent::error::{Error, Result};
use recurrent::init::Init;
use recurrent::model::{SeqBatch, Steps};
use recurrent::nn::{Reduction, Regression};
use recurrent::optim::schedule::{EarlyStopping, EarlyStoppingState, Mode};
use recurrent::rng::Rng;
use recurrent::tensor::Tensor;
use recurrent::train::observe::{Limits, Observer};
use recurrent::train::runner::{EvalEvery, Evaluation, Task, TrainRequest, Trainer};
use recurrent::train::{Shard, StepLoss};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Sliding windows over scaled rows: the [`Task`] the shared loop trains. The rows may
/// hold several series one after the other (a panel): every origin's window and targets
/// then lie inside its own series.
pub(crate) struct ForecastTask {
    /// Scaled rows [N, F].
    z: Vec<f32>,
    width: usize,
    lookback: usize,
    horizon: usize,
    strategy: Strategy,
    target: TargetKind,
    batch: usize,
    train_origins: Vec<usize>,
    val_origins: Vec<(usize, usize)>,
    /// This epoch's order of the training windows, and the position in it.
    order: Vec<usize>,
    pos: usize,
    early: Option<EarlyStopping>,
    stop: bool,
    meta_json: String,
    /// The training loss (MSE for one series; see the panel's for the other).
    pub(crate) loss: Regression,
    /// Batch buffers, reused.
    yb: Vec<f32>,
    /// With `--target es`: the target column of the rows the training windows read, which
    /// the hybrid's smoothing runs over at every step. Validation and test rows are left
    /// out, so they cannot reach the gradient even as a NaN times zero.
    es_z: Option<Vec<f64>>,
}

#[derive(Serialize, Deserialize)]
struct ForecastTaskState {
    order: Vec<usize>,
    pos: usize,
    early: Option<EarlyStoppingState>,
    stop: bool,
}

impl Task for ForecastTask {
    type Model = Nets;

    fn metadata(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("model".to_string(), self.meta_json.clone())])
    }

    fn batches_per_epoch(&self) -> u64 {
        self.train_origins.len().div_ceil(self.batch) as u64
    }

    fn train_step(
        &mut self,
        model: &mut Nets,
        rng: &mut Rng,
        shard: &mut Shard,
    ) -> Result<StepLoss> {
        if self.pos == 0 || self.pos >= self.order.len() {
            self.order = (0..self.train_origins.len()).collect();
            // The batch's windows come from the shared stream: the same on every rank.
            rng.shuffle(&mut self.order);
            self.pos = 0;
        }
        let end = (self.pos + self.batch).min(self.order.len());
        let rows = shard.rows(end - self.pos);
        let (first, b) = (self.pos + rows.start, rows.len());
        let next = if end >= self.order.len() { 0 } else { end };
        if b == 0 {
            self.pos = next;
            return Ok(StepLoss::default());
        }
        let (l, w) = (self.lookback, self.width);
        let outs = match self.strategy {
            Strategy::Direct => self.horizon,
            Strategy::Recursive => w,
        };
        // The hybrid's level and season under this step's smoothing coefficients.
        let states = match (&self.es_z, &model.es) {
            (Some(zc), Some(es)) => Some(es.states(zc)),
            (Some(_), None) => {
                return Err(Error::Config(
                    "--target es: the forecaster has no smoothing to learn".into(),
                ))
            }
            _ => None,
        };
        let origins: Vec<usize> = (0..b)
            .map(|bi| self.train_origins[self.order[first + bi]])
            .collect();
        let delta = self.target == TargetKind::Delta;
        let mut x = vec![0.0f32; l * b * w];
        self.yb.clear();
        for (bi, &o) in origins.iter().enumerate() {
            fill_window(&mut x, &self.z, l, w, o, bi, b);
            match self.strategy {
                Strategy::Direct => {
                    for s in 1..=self.horizon {
                        let from = match &states {
                            Some(st) => st.offset(o, o + s) as f32,
                            None if delta => self.z[o * w],
                            None => 0.0,
                        };
                        self.yb.push(self.z[(o + s) * w] - from);
                    }
                }
                Strategy::Recursive => {
                    for j in 0..w {
                        let last = if delta { self.z[o * w + j] } else { 0.0 };
                        self.yb.push(self.z[(o + 1) * w + j] - last);
                    }
                }
            }
        }
        if let Some(st) = &states {
            st.normalise(&mut x, &origins, l, w);
        }
        debug_assert_eq!(self.yb.len(), b * outs);
        // Every member learns from the same windows; they differ by their initialisation.
        let mut batch = SeqBatch {
            steps: Steps::Dense(x),
            t: l,
            b,
            lengths: None,
        };
        let mut loss = 0.0;
        let mut grads = states.as_ref().map(|st| st.zero_grads());
        for m in model.members.iter_mut() {
            let (pred, cache) = m.forward(&batch, Some(shard.rng(rng)))?;
            let (li, grad) = self.loss.loss(&pred, &self.yb, None, Reduction::Mean)?;
            match (&states, &mut grads) {
                (Some(st), Some(g)) => {
                    let dx = m.backward_input(&batch, &cache, &grad)?;
                    st.gather(g, &origins, (l, w), &dx, &grad);
                }
                _ => m.backward(&batch, &cache, &grad)?,
            }
            loss += li;
            batch = SeqBatch {
                steps: Steps::Dense(take_dense(batch)),
                t: l,
                b,
                lengths: None,
            };
        }
        if let (Some(zc), Some(st), Some(g), Some(es)) = (&self.es_z, &states, grads, &mut model.es)
        {
            es.backward(zc, st, g);
        }
        let loss = loss / model.members.len() as f64;
        self.pos = next;
        Ok(StepLoss {
            loss,
            tokens: b,
            count: b,
        })
    }

    fn evaluate(&mut self, model: &Nets) -> Result<Option<Evaluation>> {
        if self.val_origins.is_empty() {
            return Ok(None);
        }
        let mse = val_mse(model, self)?;
        if let Some(es) = &mut self.early {
            if es.update(mse).stop {
                self.stop = true;
            }
        }
        Ok(Some(Evaluation {
            metric: mse,
            higher_is_better: false,
            fields: serde_json::json!({"val_mse": mse}),
        }))
    }

    fn should_stop(&self) -> bool {
        self.stop
    }

    fn state(&self) -> (serde_json::Value, Vec<(String, Tensor<f32>)>) {
        let st = ForecastTaskState {
            order: self.order.clone(),
            pos: self.pos,
            early: self.early.as_ref().map(|e| e.state()),
            stop: self.stop,
        };
        (
            serde_json::to_value(&st).unwrap_or(serde_json::Value::Null),
            Vec::new(),
        )
    }

    fn load_state(
        &mut self,
        json: &serde_json::Value,
        _t: BTreeMap<String, Tensor<f32>>,
    ) -> Result<()> {
        let st: ForecastTaskState = serde_json::from_value(json.clone())
            .map_err(|e| Error::Config(format!("forecasting state: {e}")))?;
        if st.order.iter().any(|&i| i >= self.train_origins.len()) {
            return Err(Error::Config(
                "forecasting state: window index out of range".into(),
            ));
        }
        self.order = st.order;
        self.pos = st.pos;
        self.stop = st.stop;
        if let (Some(e), Some(s)) = (&mut self.early, st.early) {
            e.load_state(s);
        }
        Ok(())
    }
}

/// Mean squared error (scaled units) of the ensemble's validation forecasts: the same
/// code path as every later forecast.
fn val_mse(model: &Nets, task: &ForecastTask) -> Result<f64> {
    let w = task.width;
    let origins: Vec<usize> = task.val_origins.iter().map(|o| o.0).collect();
    let steps = task.val_origins.iter().map(|o| o.1).max().unwrap_or(0);
    if steps == 0 {
        return Ok(0.0);
    }
    let windows = Windows {
        lookback: task.lookback,
        width: w,
        horizon: task.horizon,
        strategy: task.strategy,
        target: task.target,
    };
    let f = windows.forecast(model, &task.z, &origins, steps)?;
    let (mut se, mut count) = (0.0, 0usize);
    for (i, &(o, k)) in task.val_origins.iter().enumerate() {
        for s in 0..k {
            let e = f[i * steps + s] - task.z[(o + 1 + s) * w] as f64;
            se += e * e;
            count += 1;
        }
    }
    Ok(se / count.max(1) as f64)
}

/// What a finished (or stopped) forecasting run reports.
#[derive(Clone, Debug, Serialize)]
pub struct ForecastSummary {
    pub out: PathBuf,
    pub steps: u64,
    pub train_s: f64,
    pub epochs: f64,
    pub params: usize,
    pub rows: usize,
    pub train_rows: usize,
    pub val_rows: usize,
    pub test_rows: usize,
    pub train_windows: usize,
    pub lookback: usize,
    pub horizon: usize,
    pub season: Option<usize>,
    pub best_val_mse: Option<f64>,
    /// Training ended because validation stopped improving.
    pub early_stopped: bool,
    pub finished: bool,
    pub already_complete: bool,
    /// The best checkpoint's test evaluation (None with `--test 0`).
    pub test: Option<TestReport>,
    /// The refit on every row that `forecast` uses (None with `--test 0`).
    pub refit: Option<RefitSummary>,
    /// How the default forecaster was chosen (None with `--test 0` or no validation rows).
    pub selection: Option<Selection>,
}

/// What the refit on every row did (see [`train_forecast`]).
#[derive(Clone, Debug, Serialize)]
pub struct RefitSummary {
    /// Its run directory (`DIR/refit`), whose `best.safetensors` `forecast` uses.
    pub out: PathBuf,
    /// Steps trained: the held-out run's best step, scaled to the windows of every row.
    pub steps: u64,
    pub train_s: f64,
    pub train_windows: usize,
    pub finished: bool,
}

/// One training run of `cfg` on `series` into `req.out`: the scaler fitted on the plan's
/// fit rows, a fresh model from `cfg.seed`, the shared loop.
fn train_once(
    cfg: &ForecastTrainConfig,
    plan: &Plan,
    combination: Option<Combination>,
    series: &Series,
    fill: Fill,
    req: &TrainRequest,
    obs: &mut dyn Observer,
) -> Result<(recurrent::train::runner::RunSummary, ForecastTask)> {
    let width = series.width();
    let scaler = Scaler::fit(
        cfg.scale,
        &series.values,
        width,
        plan.split.fit_end,
        &series.columns,
    )?;
    let z = scaler.scale_all(&series.values, &series.columns)?;
    let model_cfg = model_config(cfg, width);
    let meta = ForecastMeta {
        task: "forecast".into(),
        model: model_cfg.clone(),
        train: cfg.clone(),
        scaler,
        lookback: plan.lookback,
        season: plan.season,
        columns: series.columns.clone(),
        date_column: series.date_column.clone(),
        freq: series.freq,
        fill,
        combination,
        members: cfg.ensemble,
    };
    let meta_json = serde_json::to_string(&meta).map_err(|e| Error::Config(e.to_string()))?;
    // The hybrid's starting season is read off the rows it trains on.
    let es = es_period(cfg, plan.season)
        .map(|p| Smoothing::new(&target_column(&z[..plan.split.fit_end * width], width), p));
    let task = ForecastTask::new(
        cfg,
        z,
        width,
        plan.lookback,
        plan.train_origins.clone(),
        plan.val_origins.clone(),
        meta_json,
    )?;
    let config = serde_json::json!({
        "task": "forecast",
        "train": cfg,
        "data": {"columns": series.columns, "date_column": series.date_column, "rows": series.len(), "fill": fill},
    });
    run_task(cfg, task, &model_cfg, es, &config, req, obs)
}

impl ForecastTask {
    /// The windows of `cfg` over the scaled rows `z` ([rows, width]), with early stopping
    /// when `cfg.patience` is set and there are validation origins.
    pub(crate) fn new(
        cfg: &ForecastTrainConfig,
        z: Vec<f32>,
        width: usize,
        lookback: usize,
        train_origins: Vec<usize>,
        val_origins: Vec<(usize, usize)>,
        meta_json: String,
    ) -> Result<ForecastTask> {
        let es_z = (cfg.target == TargetKind::Es).then(|| {
            let rows = train_origins
                .iter()
                .max()
                .map_or(0, |o| o + cfg.horizon + 1);
            target_column(&z[..(rows * width).min(z.len())], width)
        });
        let early = if cfg.patience > 0 && !val_origins.is_empty() {
            Some(EarlyStopping::new(cfg.patience, 0.0, Mode::Min)?)
        } else {
            None
        };
        Ok(ForecastTask {
            z,
            width,
            lookback,
            horizon: cfg.horizon,
            strategy: cfg.strategy,
            target: cfg.target,
            batch: cfg.batch,
            train_origins,
            val_origins,
            order: Vec::new(),
            pos: 0,
            early,
            stop: false,
            meta_json,
            loss: Regression::Mse,
            yb: Vec::new(),
            es_z,
        })
    }

    /// Whether training ended because validation stopped improving.
    pub(crate) fn early_stopped(&self) -> bool {
        self.stop
    }
}

/// Trains a fresh ensemble of shape `model_cfg`, seeded by `cfg.seed`, with the hybrid's
/// smoothing `es` when there is one, on `task` with the shared loop; `config` is the run's
/// stored `config.json`.
pub(crate) fn run_task(
    cfg: &ForecastTrainConfig,
    mut task: ForecastTask,
    model_cfg: &recurrent::model::ClassifierConfig,
    es: Option<Smoothing<f32>>,
    config: &serde_json::Value,
    req: &TrainRequest,
    obs: &mut dyn Observer,
) -> Result<(recurrent::train::runner::RunSummary, ForecastTask)> {
    let init: Init = cfg.init.parse()?;
    let mut model = Nets::new(model_cfg, cfg.ensemble, &init, &mut Rng::new(cfg.seed))?;
    model.es = es;
    let eval_every = cfg
        .eval_every
        .unwrap_or_else(|| EvalEvery::Steps(task.batches_per_epoch().max(10)));
    let s = Trainer::new(&mut task, &mut model, req)
        .optim(&cfg.optim)
        .eval_every(eval_every)
        .config(config)
        .seed(cfg.seed)
        .run(obs)?;
    Ok((s, task))
}

/// The step a run's `best.safetensors` was saved at (from its header alone).
fn best_step(path: &std::path::Path) -> Result<u64> {
    recurrent::checkpoint::read_metadata(path)?
        .get("step")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::format(path, "no `step` in the metadata of the best checkpoint"))
}

/// The recipe of a held-out run as it resolved it (its lookback and season), with no rows
/// held out: what the refit on every row trains.
pub(crate) fn refit_config(
    cfg: &ForecastTrainConfig,
    lookback: usize,
    season: Option<usize>,
) -> ForecastTrainConfig {
    ForecastTrainConfig {
        test: Some(0),
        val: Some(0),
        lookback: Some(lookback),
        season,
        ..cfg.clone()
    }
}

/// The refit's request, into `req.out/refit`: the held-out run's best step scaled by the
/// ratio of training windows (`windows` held out, `all_windows` on every row), so that it
/// trains as many epochs; resumed when it was begun; a `--resume` of it names the parent.
pub(crate) fn refit_request(
    req: &TrainRequest,
    windows: usize,
    all_windows: usize,
) -> Result<TrainRequest> {
    let ratio = all_windows as f64 / windows.max(1) as f64;
    let best = best_step(&req.out.join("best.safetensors"))?;
    let out = req.out.join("refit");
    Ok(TrainRequest {
        out: out.clone(),
        resume: out.is_dir(),
        limits: Limits {
            steps: Some(((best.max(1) as f64) * ratio).ceil() as u64),
            time_budget: req.limits.time_budget,
            epochs: None,
        },
        command: None,
        resume_with: Some(format!("--resume {}", req.out.display())),
        ..req.clone()
    })
}

/// The checkpoint `forecast` uses from a forecasting run directory: the refit on every row
/// (`DIR/refit/best.safetensors`) when the run made one, else the run's own best.
pub fn forecast_checkpoint(path: &std::path::Path) -> Result<PathBuf> {
    let refit = path.join("refit").join("best.safetensors");
    if path.is_dir() && refit.is_file() {
        return Ok(refit);
    }
    recurrent::train::run::resolve_checkpoint(path)
}

/// Trains (or resumes) a forecaster on `series` into `req.out`, evaluates the best
/// checkpoint on the test rows beside the baselines, then (with test rows) refits the same
/// recipe on every row into `req.out/refit`: a fresh model from the same seed, the scaler
/// fitted on all rows, no validation, trained for the held-out run's best step scaled by
/// the ratio of training windows (the same number of epochs). That is the model
/// `forecast` uses, so the rows held out to score the recipe still train the forecaster.
pub fn train_forecast(
    cfg: &ForecastTrainConfig,
    series: &Series,
    fill: Fill,
    req: &TrainRequest,
    obs: &mut dyn Observer,
) -> Result<ForecastSummary> {
    let plan = plan(cfg, series)?;
    let resolved = resolve_scale(cfg, series, &plan, obs);
    let cfg = &resolved;
    let (s, task) = train_once(cfg, &plan, None, series, fill, req, obs)?;
    // A run stopped by Ctrl-C is continued by --resume, refit included.
    let interrupted = !s.finished && !task.stop;
    let (test, refit, selection) = if plan.test_origins.is_empty() || interrupted {
        (None, None, None)
    } else {
        let best_path = req.out.join("best.safetensors");
        let best = load_forecaster(&best_path)?;
        if let Some(es) = &best.nets.es {
            let (alpha, gamma) = es.coefficients();
            obs.message(&format!(
                "hybrid: level smoothed with alpha = {alpha:.3}{}",
                if es.period() > 0 {
                    format!(", a season of {} rows with gamma = {gamma:.3}", es.period())
                } else {
                    String::new()
                }
            ));
        }
        let selection = select_forecaster(&best, series, &plan)?;
        if let Some(sel) = &selection {
            obs.message(&format!(
                "forecaster: {} ({}); each alone: {}",
                sel.chosen
                    .members
                    .iter()
                    .map(|m| m.name())
                    .collect::<Vec<_>>()
                    .join(" + "),
                sel.reason,
                sel.candidates
                    .iter()
                    .map(|(n, v)| format!("{n} {v:.3}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let chosen = selection.as_ref().map(|s| s.chosen.clone());
        let test = test_report(&best, chosen.as_ref(), series, &plan)?;
        let all = refit_config(cfg, plan.lookback, plan.season);
        let all_plan = super::plan::plan(&all, series)?;
        let refit_req = refit_request(req, plan.train_origins.len(), all_plan.train_origins.len())?;
        obs.message(&format!(
            "refit on all {} rows for {} steps (the held-out run's best, scaled to {} windows)",
            series.len(),
            refit_req.limits.steps.unwrap_or(0),
            all_plan.train_origins.len()
        ));
        let (r, _) = train_once(&all, &all_plan, chosen, series, fill, &refit_req, obs)?;
        let refit = RefitSummary {
            out: refit_req.out,
            steps: r.steps,
            train_s: r.train_s,
            train_windows: all_plan.train_origins.len(),
            finished: r.finished,
        };
        (Some(test), Some(refit), selection)
    };
    Ok(ForecastSummary {
        out: s.out,
        steps: s.steps,
        train_s: s.train_s,
        epochs: s.steps as f64 / task.batches_per_epoch().max(1) as f64,
        params: s.params,
        rows: series.len(),
        train_rows: plan.split.fit_end,
        val_rows: plan.split.val_end - plan.split.fit_end,
        test_rows: plan.split.n - plan.split.val_end,
        train_windows: plan.train_origins.len(),
        lookback: plan.lookback,
        horizon: plan.horizon,
        season: plan.season,
        best_val_mse: s.best_metric,
        early_stopped: task.stop,
        finished: s.finished,
        already_complete: s.already_complete,
        test,
        refit,
        selection,
    })
}

/// `cfg` with `--scale auto` resolved (see [`Scale::Auto`]): logs when every value is
/// positive and MSTL on the logarithms validates better than on the values, on the
/// validation origins of `plan` (rows before the test rows only).
fn resolve_scale(
    cfg: &ForecastTrainConfig,
    series: &Series,
    plan: &Plan,
    obs: &mut dyn Observer,
) -> ForecastTrainConfig {
    if cfg.scale != Scale::Auto {
        return cfg.clone();
    }
    let positive = series.values.iter().all(|v| *v > 0.0);
    let scores = validation_set(series, plan).filter(|_| positive).map(|v| {
        let known = &v.y[..plan.split.val_end];
        let score = |t| validate(Method::Mstl, t, known, &v.origins, &v.periods, v.scale);
        (score(Transform::None), score(Transform::Log))
    });
    let scale = match scores {
        Some((Some(plain), Some(log))) if log < plain => {
            obs.message(&format!(
                "scale: log (MSTL validates at MASE {log:.3} on the logarithms, {plain:.3} on the values)"
            ));
            Scale::Log
        }
        Some((Some(plain), Some(log))) => {
            obs.message(&format!(
                "scale: standard (MSTL validates at MASE {plain:.3} on the values, {log:.3} on the logarithms)"
            ));
            Scale::Standard
        }
        _ => Scale::Standard,
    };
    ForecastTrainConfig {
        scale,
        ..cfg.clone()
    }
}

/// Chooses the default forecaster on the validation origins of `plan` (see
/// [`super::combine`]): the held-out run's best network `best` beside the classical
/// methods, all scored on rows before the test rows. None without validation origins.
fn select_forecaster(best: &Forecaster, series: &Series, plan: &Plan) -> Result<Option<Selection>> {
    let Some(v) = validation_set(series, plan) else {
        return Ok(None);
    };
    let z = best
        .meta
        .scaler
        .scale_all(&series.values, &series.columns)?;
    let ids: Vec<usize> = v.origins.iter().map(|o| o.0).collect();
    let h = plan.horizon;
    let f = best.forecast(&z, &ids, h)?;
    let rnn: Vec<Vec<f64>> = v
        .origins
        .iter()
        .enumerate()
        .map(|(i, &(_, steps))| f[i * h..i * h + steps].to_vec())
        .collect();
    let known = &v.y[..plan.split.val_end];
    Ok(Some(select(
        known,
        h,
        &v.origins,
        Some(&rnn),
        &v.periods,
        v.scale,
    )))
}

/// What every choice made by validation reads: the target, the (thinned) validation
/// origins, the MASE scale of the fit rows and the seasonal periods found in them. None
/// without validation origins or a usable scale.
struct ValidationSet {
    y: Vec<f64>,
    origins: Vec<(usize, usize)>,
    scale: f64,
    periods: Vec<usize>,
}

fn validation_set(series: &Series, plan: &Plan) -> Option<ValidationSet> {
    let origins = thin(&plan.val_origins);
    if origins.is_empty() {
        return None;
    }
    let y = series.target();
    let fit = &y[..plan.split.fit_end];
    // A series that repeats its season exactly has no seasonal-naive error to divide by;
    // the ranking only needs some positive scale (every candidate is divided by the same),
    // so the naive rule's error stands in, else 1.
    let scale = mase_scale(fit, plan.season.unwrap_or(1))?;
    let scale = [scale, mase_scale(fit, 1).unwrap_or(0.0), 1.0]
        .into_iter()
        .find(|s| *s > 0.0 && s.is_finite())
        .unwrap_or(1.0);
    let periods = seasonal_periods(fit, plan.season, series.freq);
    Some(ValidationSet {
        y,
        origins,
        scale,
        periods,
    })
}
