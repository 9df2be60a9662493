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

use crate::forecast::eval::{detect_season, mase_scale, metrics, Baseline, Metrics};
use crate::forecast::series::{Date, Fill, Freq, Series};
use recurrent::cell::CellKind;
use recurrent::checkpoint::{self, Checkpoint};
use recurrent::error::{Error, Result};
use recurrent::init::Init;
use recurrent::model::{Classifier, ClassifierConfig, InputKind, Pooling, SeqBatch, Steps};
use recurrent::nn::{Reduction, Regression};
use recurrent::optim::schedule::{EarlyStopping, EarlyStoppingState, Mode};
use recurrent::rng::Rng;
use recurrent::tensor::Tensor;
use recurrent::train::observe::{Limits, Observer};
use recurrent::train::runner::{self, EvalEvery, Evaluation, OptimSettings, Task, TrainRequest};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How an H-step forecast is made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// One step ahead, rolled forward H times.
    Recursive,
    /// H outputs at once.
    #[default]
    Direct,
}

/// How values are normalised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// (y - mean) / std.
    #[default]
    Standard,
    /// (ln y - mean) / std; every value must be positive.
    Log,
}

/// What the network predicts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// The scaled value itself.
    Level,
    /// The scaled value minus the last observed one.
    #[default]
    Delta,
}

macro_rules! from_str_enum {
    ($t:ty, $flag:literal, $($name:literal => $v:expr),+) => {
        impl std::str::FromStr for $t {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($name => Ok($v),)+
                    o => Err(Error::Config(format!(
                        concat!($flag, " must be one of {}, got `{}`"),
                        [$($name),+].join(", "),
                        o
                    ))),
                }
            }
        }
    };
}
from_str_enum!(Strategy, "--strategy", "recursive" => Strategy::Recursive, "direct" => Strategy::Direct);
from_str_enum!(Scale, "--scale", "standard" => Scale::Standard, "log" => Scale::Log);
from_str_enum!(TargetKind, "--target", "level" => TargetKind::Level, "delta" => TargetKind::Delta);

/// Everything that decides the trained weights (stored with the run; a resume must agree).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ForecastTrainConfig {
    /// H: steps forecast from each origin.
    pub horizon: usize,
    /// L: rows each forecast reads. None: clamp(2 * season, 12, 48), 24 without a season.
    pub lookback: Option<usize>,
    /// Rows held out at the end for the reported metrics. None: the horizon. 0: none.
    pub test: Option<usize>,
    /// Validation rows before the test rows. None: 10% of the rows before the test (at least 1).
    pub val: Option<usize>,
    /// Test origins every this many rows. None: the horizon.
    pub stride: Option<usize>,
    /// Season m (seasonal naive, MASE, default lookback). None: detected.
    pub season: Option<usize>,
    pub strategy: Strategy,
    pub scale: Scale,
    pub target: TargetKind,
    pub cell: CellKind,
    pub hidden: usize,
    pub layers: usize,
    pub dropout: f64,
    /// Windows per batch.
    pub batch: usize,
    pub lr: f64,
    /// Clip the global gradient norm to this (0: off).
    pub clip: f64,
    pub optimizer: String,
    pub weight_decay: Option<f64>,
    /// Evaluations without improvement before training stops (0: never stop early).
    pub patience: u64,
    /// Evaluate every this many steps. None: once per epoch, but at most every 10 steps
    /// (so that `patience` means about as much on a short series as on a long one).
    pub eval_every: Option<u64>,
    /// `pytorch`, `orthogonal`, `recommended`, `identity`.
    pub init: String,
    pub seed: u64,
}

impl Default for ForecastTrainConfig {
    fn default() -> Self {
        ForecastTrainConfig {
            horizon: 1,
            lookback: None,
            test: None,
            val: None,
            stride: None,
            season: None,
            strategy: Strategy::Direct,
            scale: Scale::Standard,
            target: TargetKind::Delta,
            cell: CellKind::Lstm,
            hidden: 32,
            layers: 1,
            dropout: 0.0,
            batch: 32,
            lr: 3e-3,
            clip: 1.0,
            optimizer: "adam".into(),
            weight_decay: None,
            patience: 20,
            eval_every: None,
            init: "pytorch".into(),
            seed: 0,
        }
    }
}

impl ForecastTrainConfig {
    /// Checks ranges; errors name the flag.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.horizon == 0 {
            return bad("--horizon must be at least 1".into());
        }
        if self.lookback == Some(0) || self.stride == Some(0) || self.season == Some(0) {
            return bad("--lookback, --stride and --season must be at least 1".into());
        }
        if self.hidden == 0 || self.layers == 0 || self.batch == 0 {
            return bad("--hidden, --layers and --batch must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("--dropout must be in [0, 1), got {}", self.dropout));
        }
        if self.eval_every == Some(0) {
            return bad("--eval-every must be at least 1".into());
        }
        self.init.parse::<Init>()?;
        Ok(())
    }
}

/// A per-column affine map, fitted on the training rows: z = (t(y) - mean) / std, with t the
/// identity or ln.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub kind: Scale,
    /// Per column.
    pub mean: Vec<f64>,
    /// Per column (1 where the column is constant).
    pub std: Vec<f64>,
}

impl Scaler {
    /// Fits on the first `rows` rows of `values` ([rows, width] row-major): mean and
    /// population standard deviation of t(y).
    pub fn fit(
        kind: Scale,
        values: &[f64],
        width: usize,
        rows: usize,
        columns: &[String],
    ) -> Result<Scaler> {
        check_positive(kind, values, width, columns)?;
        let mut mean = vec![0.0; width];
        let mut std = vec![0.0; width];
        if rows == 0 {
            return Err(Error::Input("no training rows to fit the scaler on".into()));
        }
        for j in 0..width {
            let col = || (0..rows).map(|r| t(kind, values[r * width + j]));
            let m = col().sum::<f64>() / rows as f64;
            let v = col().map(|x| (x - m) * (x - m)).sum::<f64>() / rows as f64;
            mean[j] = m;
            std[j] = if v > 0.0 { v.sqrt() } else { 1.0 };
        }
        Ok(Scaler { kind, mean, std })
    }
    /// z for value `y` of column `j`.
    pub fn scale(&self, y: f64, j: usize) -> f64 {
        (t(self.kind, y) - self.mean[j]) / self.std[j]
    }
    /// y for scaled `z` of column `j`.
    pub fn unscale(&self, z: f64, j: usize) -> f64 {
        let v = z * self.std[j] + self.mean[j];
        match self.kind {
            Scale::Standard => v,
            Scale::Log => v.exp(),
        }
    }
    /// Scales every row ([rows, width] row-major) to f32 model inputs.
    pub fn scale_all(&self, values: &[f64], columns: &[String]) -> Result<Vec<f32>> {
        let w = self.mean.len();
        check_positive(self.kind, values, w, columns)?;
        Ok(values
            .iter()
            .enumerate()
            .map(|(i, &y)| self.scale(y, i % w) as f32)
            .collect())
    }
}

fn t(kind: Scale, y: f64) -> f64 {
    match kind {
        Scale::Standard => y,
        Scale::Log => y.ln(),
    }
}

fn check_positive(kind: Scale, values: &[f64], width: usize, columns: &[String]) -> Result<()> {
    if kind == Scale::Log {
        if let Some(i) = values.iter().position(|&v| v <= 0.0) {
            return Err(Error::Input(format!(
                "data row {} (line {} of a CSV with a header), column `{}`: {} is not positive, but --scale log \
                 takes logarithms: use --scale standard",
                i / width + 1,
                i / width + 2,
                columns.get(i % width).map_or("?", |s| s.as_str()),
                values[i]
            )));
        }
    }
    Ok(())
}

/// The chronological split of N rows (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// Rows [0, fit_end) train the model and fit the scaler.
    pub fit_end: usize,
    /// Rows [fit_end, val_end) validate.
    pub val_end: usize,
    /// N.
    pub n: usize,
}

/// Resolved sizes of a run: the split, lookback, season and the window origins.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub split: Split,
    pub lookback: usize,
    pub horizon: usize,
    pub season: Option<usize>,
    pub stride: usize,
    /// Training window origins.
    pub train_origins: Vec<usize>,
    /// Validation origins, with the steps each forecasts.
    pub val_origins: Vec<(usize, usize)>,
    /// Test origins, with the steps each forecasts.
    pub test_origins: Vec<(usize, usize)>,
}

/// Calendar periods a detected season snaps to, by frequency.
fn calendar(freq: Option<Freq>) -> Vec<usize> {
    match freq {
        Some(Freq::Days(1)) => vec![7, 365],
        Some(Freq::Days(7)) => vec![52],
        Some(Freq::Months(1)) => vec![12],
        Some(Freq::Months(3)) => vec![4],
        _ => vec![],
    }
}

/// Resolves the split, lookback, season and windows for `series` under `cfg`, with the
/// errors a user can act on when the series is too short. Only rows before the test part
/// are looked at to detect the season.
pub fn plan(cfg: &ForecastTrainConfig, series: &Series) -> Result<Plan> {
    cfg.validate()?;
    let n = series.len();
    let h = cfg.horizon;
    let test = cfg.test.unwrap_or(h);
    if test >= n {
        return Err(Error::Input(format!(
            "--test {test} holds out every one of the {n} rows: nothing is left to train on"
        )));
    }
    let before_test = n - test;
    let val = cfg.val.unwrap_or((before_test / 10).max(1));
    let season = match cfg.season {
        Some(m) => Some(m),
        None => detect_season(&series.target()[..before_test], &calendar(series.freq)),
    };
    let lookback = cfg
        .lookback
        .unwrap_or_else(|| season.map_or(24, |m| (2 * m).clamp(12, 48)));
    let need = match cfg.strategy {
        Strategy::Direct => h,
        Strategy::Recursive => 1,
    };
    let min_rows = lookback + need + val + test;
    if val >= before_test || n < min_rows {
        return Err(Error::Input(format!(
            "{n} rows are too few: --lookback {lookback} + {need} target row(s) for one training window \
             + --val {val} + --test {test} need at least {min_rows}. Shorten --lookback, --horizon, --val or --test"
        )));
    }
    let fit_end = before_test - val;
    let split = Split {
        fit_end,
        val_end: before_test,
        n,
    };
    let train_origins: Vec<usize> = (lookback - 1..=fit_end - 1 - need).collect();
    let val_origins: Vec<(usize, usize)> = if val == 0 {
        Vec::new()
    } else {
        (fit_end.saturating_sub(1).max(lookback - 1)..=before_test - 2)
            .map(|o| (o, h.min(before_test - 1 - o)))
            .collect()
    };
    let stride = cfg.stride.unwrap_or(h);
    let mut test_origins = Vec::new();
    if test > 0 {
        let mut o = before_test - 1;
        while o + 1 < n {
            test_origins.push((o, h.min(n - 1 - o)));
            o += stride;
        }
    }
    Ok(Plan {
        split,
        lookback,
        horizon: h,
        season,
        stride,
        train_origins,
        val_origins,
        test_origins,
    })
}

/// The stored description of a forecasting checkpoint (metadata `model`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForecastMeta {
    /// `forecast`.
    pub task: String,
    pub model: ClassifierConfig,
    pub train: ForecastTrainConfig,
    /// The scaler, fitted on the training rows: what turns new data into model inputs.
    pub scaler: Scaler,
    pub lookback: usize,
    pub season: Option<usize>,
    /// The value columns, the target first.
    pub columns: Vec<String>,
    pub date_column: Option<String>,
    pub freq: Option<Freq>,
    pub fill: Fill,
}

/// The model shape for `meta`'s data.
fn model_config(cfg: &ForecastTrainConfig, width: usize) -> ClassifierConfig {
    ClassifierConfig {
        input: InputKind::Dense { size: width },
        cell: cfg.cell,
        hidden: cfg.hidden,
        layers: cfg.layers,
        bidirectional: false,
        dropout: cfg.dropout,
        pooling: Pooling::Last,
        outputs: match cfg.strategy {
            Strategy::Direct => cfg.horizon,
            Strategy::Recursive => width,
        },
    }
}

/// A trained forecaster: the model and what it needs to read new data.
pub struct Forecaster {
    pub model: Classifier<f32>,
    pub meta: ForecastMeta,
}

impl Forecaster {
    /// Forecasts, in scaled units of the target column, `steps` rows after each origin in
    /// `origins`, reading the scaled rows `z` ([rows, F] row-major). Origins need
    /// o + 1 >= lookback; direct models forecast at most H steps. Returns [origins, steps].
    pub fn forecast_scaled(&self, z: &[f32], origins: &[usize], steps: usize) -> Result<Vec<f64>> {
        let (l, w) = (self.meta.lookback, self.meta.columns.len());
        let delta = self.meta.train.target == TargetKind::Delta;
        let strategy = self.meta.train.strategy;
        if strategy == Strategy::Direct && steps > self.meta.train.horizon {
            return Err(Error::Config(format!(
                "this direct model forecasts at most {} steps (its --horizon): ask for --horizon {} or less, \
                 or train with --strategy recursive",
                self.meta.train.horizon, self.meta.train.horizon
            )));
        }
        let mut out = vec![0.0; origins.len() * steps];
        for (ci, chunk) in origins.chunks(256).enumerate() {
            let b = chunk.len();
            // Time-major window [L, B, F].
            let mut x = vec![0.0f32; l * b * w];
            for (bi, &o) in chunk.iter().enumerate() {
                if o + 1 < l || (o + 1) * w > z.len() {
                    return Err(Error::Input(format!(
                        "a forecast from row {} needs {l} rows of history (the model's lookback)",
                        o + 1
                    )));
                }
                for ti in 0..l {
                    let src = &z[(o + 1 + ti - l) * w..][..w];
                    x[(ti * b + bi) * w..][..w].copy_from_slice(src);
                }
            }
            let base = ci * 256;
            match strategy {
                Strategy::Direct => {
                    let batch = SeqBatch {
                        steps: Steps::Dense(x),
                        t: l,
                        b,
                        lengths: None,
                    };
                    let (y, _) = self.model.forward(&batch, None)?;
                    let hh = self.meta.train.horizon;
                    for bi in 0..b {
                        let last = if delta { z[chunk[bi] * w] as f64 } else { 0.0 };
                        for s in 0..steps {
                            out[(base + bi) * steps + s] = y[bi * hh + s] as f64 + last;
                        }
                    }
                }
                Strategy::Recursive => {
                    let mut x = x;
                    let mut next = vec![0.0f32; b * w];
                    for s in 0..steps {
                        let batch = SeqBatch {
                            steps: Steps::Dense(x),
                            t: l,
                            b,
                            lengths: None,
                        };
                        let (y, _) = self.model.forward(&batch, None)?;
                        x = take_dense(batch);
                        roll(&mut x, &y, &mut next, b, w, delta);
                        for bi in 0..b {
                            out[(base + bi) * steps + s] = next[bi * w] as f64;
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Forecasts of the target in the series' units (see [`Forecaster::forecast_scaled`]).
    pub fn forecast(&self, z: &[f32], origins: &[usize], steps: usize) -> Result<Vec<f64>> {
        let s = self.forecast_scaled(z, origins, steps)?;
        Ok(s.into_iter()
            .map(|v| self.meta.scaler.unscale(v, 0))
            .collect())
    }

    /// The next `steps` values after the last row of `series` (which must have the
    /// checkpoint's columns), with 95% intervals f +- 1.96 sigma_s where sigma_s is the RMS
    /// error of this model's s-step forecasts over the last (up to) 100 origins of
    /// `series` that have s steps of actuals (None if there are none). Those origins
    /// may lie in the training rows, so the intervals are optimistic there.
    pub fn forecast_future(&self, series: &Series, steps: usize) -> Result<FutureForecast> {
        if series.columns != self.meta.columns {
            return Err(Error::Input(format!(
                "the data has columns {:?}, but the model was trained on {:?}",
                series.columns, self.meta.columns
            )));
        }
        if steps == 0 || steps > MAX_STEPS {
            return Err(Error::Config(format!(
                "--horizon must be between 1 and {MAX_STEPS}, got {steps}"
            )));
        }
        let n = series.len();
        let l = self.meta.lookback;
        if n < l {
            return Err(Error::Input(format!(
                "{n} rows are fewer than the model's lookback ({l}): give at least {l} rows"
            )));
        }
        let z = self
            .meta
            .scaler
            .scale_all(&series.values, &series.columns)?;
        let values = self.forecast(&z, &[n - 1], steps)?;
        // Backtest for intervals: origins o with o >= l - 1 and o + steps <= n - 1.
        let y = series.target();
        let hi = n.checked_sub(1 + steps);
        let mut sigma = None;
        if let Some(hi) = hi.filter(|&hi| hi + 1 >= l) {
            let lo = (l - 1).max(hi.saturating_sub(99));
            let origins: Vec<usize> = (lo..=hi).collect();
            let f = self.forecast(&z, &origins, steps)?;
            let mut se = vec![0.0; steps];
            for (i, &o) in origins.iter().enumerate() {
                for s in 0..steps {
                    let e = y[o + 1 + s] - f[i * steps + s];
                    se[s] += e * e;
                }
            }
            sigma = Some(
                se.iter()
                    .map(|v| (v / origins.len() as f64).sqrt())
                    .collect::<Vec<_>>(),
            );
        }
        let (lower, upper) = match &sigma {
            Some(sg) => (
                Some(values.iter().zip(sg).map(|(v, s)| v - 1.96 * s).collect()),
                Some(values.iter().zip(sg).map(|(v, s)| v + 1.96 * s).collect()),
            ),
            None => (None, None),
        };
        let dates = series
            .dates
            .as_ref()
            .map(|_| {
                (1..=steps)
                    .filter_map(|k| series.date_after(k))
                    .collect::<Vec<Date>>()
            })
            .filter(|d| d.len() == steps);
        Ok(FutureForecast {
            dates,
            values,
            lower,
            upper,
        })
    }
}

/// The longest forecast [`Forecaster::forecast_future`] makes (a bound on memory).
pub const MAX_STEPS: usize = 100_000;

/// Forecasts of the rows after a series.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FutureForecast {
    /// The dates continued at the series' frequency, when it has dates.
    pub dates: Option<Vec<Date>>,
    pub values: Vec<f64>,
    pub lower: Option<Vec<f64>>,
    pub upper: Option<Vec<f64>>,
}

/// Loads a forecaster from a checkpoint file. The shapes its metadata implies are checked
/// against the tensors in the file before the model is allocated.
pub fn load_forecaster(path: &Path) -> Result<Forecaster> {
    let ck = checkpoint::read(path)?;
    forecaster_from_checkpoint(&ck, path)
}

/// The same from a checkpoint already read (`path` names it in messages); what the fuzz
/// target drives.
pub fn forecaster_from_checkpoint(ck: &Checkpoint, path: &Path) -> Result<Forecaster> {
    let s = ck
        .metadata
        .get("model")
        .ok_or_else(|| Error::format(path, "no `model` metadata: not a recurrent checkpoint"))?;
    let meta: ForecastMeta =
        serde_json::from_str(s).map_err(|e| Error::format(path, format!("model metadata: {e}")))?;
    if meta.task != "forecast" {
        return Err(Error::format(
            path,
            format!(
                "this checkpoint is a `{}` model, not a forecaster",
                meta.task
            ),
        ));
    }
    let m = &meta.model;
    let w = meta.columns.len();
    if m.input != (InputKind::Dense { size: w })
        || meta.scaler.mean.len() != w
        || meta.scaler.std.len() != w
        || meta.lookback == 0
        || m.layers == 0
        || m.bidirectional
        || m.outputs
            != match meta.train.strategy {
                Strategy::Direct => meta.train.horizon,
                Strategy::Recursive => w,
            }
    {
        return Err(Error::format(
            path,
            "inconsistent forecaster metadata (columns, scaler, input width)",
        ));
    }
    let g = m.cell.gates();
    let mut want: Vec<(String, Vec<usize>)> = Vec::new();
    for k in 0..m.layers {
        let i = if k == 0 { w } else { m.hidden };
        want.push((format!("rnn.weight_ih_l{k}"), vec![g * m.hidden, i]));
        want.push((format!("rnn.weight_hh_l{k}"), vec![g * m.hidden, m.hidden]));
        want.push((format!("rnn.bias_ih_l{k}"), vec![g * m.hidden]));
        want.push((format!("rnn.bias_hh_l{k}"), vec![g * m.hidden]));
    }
    want.push(("head.weight".into(), vec![m.outputs, m.hidden]));
    want.push(("head.bias".into(), vec![m.outputs]));
    for (name, shape) in &want {
        let t = ck.get(name)?;
        if t.shape() != shape.as_slice() {
            return Err(Error::tensor(
                name,
                format!(
                    "{}: shape {:?}, but the model config implies {shape:?}",
                    path.display(),
                    t.shape()
                ),
            ));
        }
    }
    let mut model = Classifier::new(m.clone(), &Init::default(), &mut Rng::new(0))?;
    checkpoint::load_into(&mut model, &ck.weights_only())?;
    Ok(Forecaster { model, meta })
}

/// Sliding windows over scaled rows: the [`Task`] the shared loop trains.
struct ForecastTask {
    /// Scaled rows [N, F].
    z: Vec<f32>,
    width: usize,
    lookback: usize,
    horizon: usize,
    strategy: Strategy,
    delta: bool,
    batch: usize,
    train_origins: Vec<usize>,
    val_origins: Vec<(usize, usize)>,
    /// This epoch's order of the training windows, and the position in it.
    order: Vec<usize>,
    pos: usize,
    early: Option<EarlyStopping>,
    stop: bool,
    meta_json: String,
    /// Batch buffers, reused.
    yb: Vec<f32>,
}

#[derive(Serialize, Deserialize)]
struct ForecastTaskState {
    order: Vec<usize>,
    pos: usize,
    early: Option<EarlyStoppingState>,
    stop: bool,
}

impl ForecastTask {
    /// The window of origin `o` into time-major slot `bi` of `x` [L, B, F].
    fn fill_window(&self, x: &mut [f32], o: usize, bi: usize, b: usize) {
        let (l, w) = (self.lookback, self.width);
        for ti in 0..l {
            x[(ti * b + bi) * w..][..w].copy_from_slice(&self.z[(o + 1 + ti - l) * w..][..w]);
        }
    }
}

impl Task for ForecastTask {
    type Model = Classifier<f32>;

    fn metadata(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("model".to_string(), self.meta_json.clone())])
    }

    fn batches_per_epoch(&self) -> u64 {
        self.train_origins.len().div_ceil(self.batch) as u64
    }

    fn train_step(&mut self, model: &mut Classifier<f32>, rng: &mut Rng) -> Result<(f64, usize)> {
        if self.pos == 0 || self.pos >= self.order.len() {
            self.order = (0..self.train_origins.len()).collect();
            rng.shuffle(&mut self.order);
            self.pos = 0;
        }
        let end = (self.pos + self.batch).min(self.order.len());
        let b = end - self.pos;
        let (l, w) = (self.lookback, self.width);
        let outs = match self.strategy {
            Strategy::Direct => self.horizon,
            Strategy::Recursive => w,
        };
        let mut x = vec![0.0f32; l * b * w];
        self.yb.clear();
        for bi in 0..b {
            let o = self.train_origins[self.order[self.pos + bi]];
            self.fill_window(&mut x, o, bi, b);
            match self.strategy {
                Strategy::Direct => {
                    let last = if self.delta { self.z[o * w] } else { 0.0 };
                    for s in 1..=self.horizon {
                        self.yb.push(self.z[(o + s) * w] - last);
                    }
                }
                Strategy::Recursive => {
                    for j in 0..w {
                        let last = if self.delta { self.z[o * w + j] } else { 0.0 };
                        self.yb.push(self.z[(o + 1) * w + j] - last);
                    }
                }
            }
        }
        debug_assert_eq!(self.yb.len(), b * outs);
        let batch = SeqBatch {
            steps: Steps::Dense(x),
            t: l,
            b,
            lengths: None,
        };
        let (pred, cache) = model.forward(&batch, Some(rng))?;
        let (loss, grad) = Regression::Mse.loss(&pred, &self.yb, None, Reduction::Mean)?;
        model.backward(&batch, &cache, &grad)?;
        self.pos = end;
        if self.pos >= self.order.len() {
            self.pos = 0;
        }
        Ok((loss, b))
    }

    fn evaluate(&mut self, model: &Classifier<f32>) -> Result<Option<Evaluation>> {
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

/// The feature buffer of a dense batch (given back after a forward pass, to be reused).
fn take_dense(batch: SeqBatch<f32>) -> Vec<f32> {
    match batch.steps {
        Steps::Dense(x) => x,
        Steps::Ids(_) => Vec::new(),
    }
}

/// One step of a recursive forecast: `next` = the prediction `y` [B, F] (plus the newest
/// row for deltas), then the window `x` [L, B, F] drops its oldest row and appends `next`.
fn roll(x: &mut [f32], y: &[f32], next: &mut [f32], b: usize, w: usize, delta: bool) {
    let newest = x.len() - b * w;
    for ((n, &p), &last) in next.iter_mut().zip(y).zip(&x[newest..]) {
        *n = p + if delta { last } else { 0.0 };
    }
    x.copy_within(b * w.., 0);
    x[newest..].copy_from_slice(next);
}

/// Mean squared error (scaled units) of the validation forecasts.
fn val_mse(model: &Classifier<f32>, task: &ForecastTask) -> Result<f64> {
    // A forecaster view of the model without copying metadata around: the same code path
    // as the test forecasts.
    let mut se = 0.0;
    let mut count = 0usize;
    let (l, w) = (task.lookback, task.width);
    let h = task.horizon;
    for chunk in task.val_origins.chunks(256) {
        let b = chunk.len();
        let mut x = vec![0.0f32; l * b * w];
        for (bi, &(o, _)) in chunk.iter().enumerate() {
            task.fill_window(&mut x, o, bi, b);
        }
        let maxs = chunk.iter().map(|c| c.1).max().unwrap_or(0);
        let batch = SeqBatch {
            steps: Steps::Dense(x),
            t: l,
            b,
            lengths: None,
        };
        match task.strategy {
            Strategy::Direct => {
                let (y, _) = model.forward(&batch, None)?;
                for (bi, &(o, steps)) in chunk.iter().enumerate() {
                    let last = if task.delta { task.z[o * w] } else { 0.0 };
                    for s in 0..steps {
                        let e = (y[bi * h + s] + last - task.z[(o + 1 + s) * w]) as f64;
                        se += e * e;
                        count += 1;
                    }
                }
            }
            Strategy::Recursive => {
                let mut next = vec![0.0f32; b * w];
                let mut x = take_dense(batch);
                for s in 0..maxs {
                    let batch = SeqBatch {
                        steps: Steps::Dense(x),
                        t: l,
                        b,
                        lengths: None,
                    };
                    let (y, _) = model.forward(&batch, None)?;
                    x = take_dense(batch);
                    roll(&mut x, &y, &mut next, b, w, task.delta);
                    for (bi, &(o, steps)) in chunk.iter().enumerate() {
                        if s < steps {
                            let e = (next[bi * w] - task.z[(o + 1 + s) * w]) as f64;
                            se += e * e;
                            count += 1;
                        }
                    }
                }
            }
        }
    }
    Ok(se / count.max(1) as f64)
}

/// One row of the metrics table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NamedMetrics {
    /// `model`, `naive`, `seasonal_naive`, `drift`.
    pub name: String,
    pub metrics: Metrics,
}

/// One test forecast point.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TestPoint {
    /// 0-based row of the forecast value.
    pub row: usize,
    /// The row's date, if dated.
    pub date: Option<String>,
    /// Steps ahead of its origin (1..=H).
    pub step: usize,
    pub actual: f64,
    pub model: f64,
    /// Baseline forecasts, in [`Baseline::ALL`] order (None where undefined).
    pub baselines: Vec<Option<f64>>,
}

/// The test evaluation of a forecaster: every test point and the metrics table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TestReport {
    pub points: Vec<TestPoint>,
    pub table: Vec<NamedMetrics>,
    /// The MASE denominator (in-sample seasonal naive MAE on the rows before the test).
    pub mase_scale: Option<f64>,
}

/// Forecasts every test origin of `plan` with `f` and with the baselines; the metrics in
/// the series' units. Baselines and the MASE scale see only rows before each origin (+1).
pub fn test_report(f: &Forecaster, series: &Series, plan: &Plan) -> Result<TestReport> {
    let y = series.target();
    let z = f.meta.scaler.scale_all(&series.values, &series.columns)?;
    let mut points = Vec::new();
    let h = plan.horizon;
    let origins: Vec<usize> = plan.test_origins.iter().map(|o| o.0).collect();
    let preds = f.forecast(&z, &origins, h)?;
    for (i, &(o, steps)) in plan.test_origins.iter().enumerate() {
        let hist = &y[..=o];
        let base: Vec<Option<Vec<f64>>> = Baseline::ALL
            .iter()
            .map(|b| b.forecast(hist, steps, plan.season))
            .collect();
        for s in 0..steps {
            let row = o + 1 + s;
            points.push(TestPoint {
                row,
                date: series.dates.as_ref().map(|d| d[row].to_string()),
                step: s + 1,
                actual: y[row],
                model: preds[i * h + s],
                baselines: base.iter().map(|b| b.as_ref().map(|v| v[s])).collect(),
            });
        }
    }
    let scale = mase_scale(&y[..plan.split.val_end], plan.season.unwrap_or(1));
    let actual: Vec<f64> = points.iter().map(|p| p.actual).collect();
    let mut table = Vec::new();
    let model: Vec<f64> = points.iter().map(|p| p.model).collect();
    if let Some(m) = metrics(&actual, &model, scale) {
        table.push(NamedMetrics {
            name: "model".into(),
            metrics: m,
        });
    }
    for (k, b) in Baseline::ALL.iter().enumerate() {
        let v: Option<Vec<f64>> = points.iter().map(|p| p.baselines[k]).collect();
        if let Some(m) = v.and_then(|v| metrics(&actual, &v, scale)) {
            table.push(NamedMetrics {
                name: b.name().into(),
                metrics: m,
            });
        }
    }
    Ok(TestReport {
        points,
        table,
        mase_scale: scale,
    })
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
}

/// Trains (or resumes) a forecaster on `series` into `req.out`, then evaluates the best
/// checkpoint on the test rows beside the baselines.
pub fn train_forecast(
    cfg: &ForecastTrainConfig,
    series: &Series,
    fill: Fill,
    req: &TrainRequest,
    obs: &mut dyn Observer,
) -> Result<ForecastSummary> {
    let plan = plan(cfg, series)?;
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
    };
    let meta_json = serde_json::to_string(&meta).map_err(|e| Error::Config(e.to_string()))?;
    let init: Init = cfg.init.parse()?;
    let mut model = Classifier::new(model_cfg, &init, &mut Rng::new(cfg.seed))?;
    let early = if cfg.patience > 0 && !plan.val_origins.is_empty() {
        Some(EarlyStopping::new(cfg.patience, 0.0, Mode::Min)?)
    } else {
        None
    };
    let mut task = ForecastTask {
        z,
        width,
        lookback: plan.lookback,
        horizon: cfg.horizon,
        strategy: cfg.strategy,
        delta: cfg.target == TargetKind::Delta,
        batch: cfg.batch,
        train_origins: plan.train_origins.clone(),
        val_origins: plan.val_origins.clone(),
        order: Vec::new(),
        pos: 0,
        early,
        stop: false,
        meta_json,
        yb: Vec::new(),
    };
    let eval_every = cfg
        .eval_every
        .unwrap_or_else(|| task.batches_per_epoch().max(10));
    let config = serde_json::json!({
        "task": "forecast",
        "train": cfg,
        "data": {"columns": series.columns, "date_column": series.date_column, "rows": series.len(), "fill": fill},
    });
    let optim = OptimSettings {
        optimizer: cfg.optimizer.clone(),
        lr: cfg.lr,
        weight_decay: cfg.weight_decay,
        clip: cfg.clip,
        lr_schedule: "constant".into(),
        warmup: 0,
    };
    let s = runner::run(
        &mut task,
        &mut model,
        &optim,
        EvalEvery::Steps(eval_every),
        &config,
        cfg.seed,
        req,
        obs,
    )?;
    let test = if plan.test_origins.is_empty() {
        None
    } else {
        let best = load_forecaster(&req.out.join("best.safetensors"))?;
        Some(test_report(&best, series, &plan)?)
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
    })
}

/// The default limits of `train forecast`: early stopping ends most runs; these bound the
/// rest within CONVENTIONS.md's 4 minutes.
pub const DEFAULT_LIMITS: Limits = Limits {
    time_budget: Some(200.0),
    steps: None,
    epochs: Some(500.0),
};
