//! The trained forecaster: its stored description, the recurrent model behind it, loading
//! it from a checkpoint, and forecasting the rows after a series.

use super::config::*;
use super::scale::*;
use crate::forecast::combine::{combine, Combination, Z80, Z95};
use crate::forecast::series::{Date, Fill, Freq, Series};
use recurrent::checkpoint::{self, Checkpoint};
use recurrent::error::{Error, Result};
use recurrent::init::Init;
use recurrent::model::EncoderConfig;
use recurrent::model::{Classifier, ClassifierConfig, InputKind, Pooling, SeqBatch, Steps};
use recurrent::rng::Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;

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
    /// The default forecaster chosen by validation (None: the network alone, as in
    /// checkpoints from before the combination, or runs with `--test 0`).
    #[serde(default)]
    pub combination: Option<Combination>,
}

/// The model shape for `meta`'s data.
pub(crate) fn model_config(cfg: &ForecastTrainConfig, width: usize) -> ClassifierConfig {
    ClassifierConfig {
        input: InputKind::Dense { size: width },
        encoder: EncoderConfig {
            cell: cfg.cell,
            hidden: cfg.hidden,
            layers: cfg.layers,
            bidirectional: false,
            dropout: cfg.dropout,
        },
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
    /// checkpoint's columns), with 80% and 95% intervals.
    ///
    /// With a stored [`Combination`] the classical members are refit on every row given
    /// and combined with the network's forecast; the intervals are f +- z sigma_s from the
    /// combination's validation errors. Without one the forecast is the network's, and
    /// sigma_s is the RMS error of its s-step forecasts over the last (up to) 100 origins
    /// of `series` that have s steps of actuals: those may lie in the training rows, so
    /// those intervals are optimistic.
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
        let rnn = self.forecast(&z, &[n - 1], steps)?;
        let y = series.target();
        let (values, half80, half95) = match &self.meta.combination {
            Some(c) => {
                let members = c.member_forecasts(&y, steps, Some(&rnn)).ok_or_else(|| {
                    Error::Input(format!(
                        "the forecaster combines {}, and one of them cannot forecast these {n} rows \
                         (too few rows for its season, or a value <= 0 under a log)",
                        c.members.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")
                    ))
                })?;
                (
                    combine(&members, steps),
                    c.half_widths(steps, Z80),
                    c.half_widths(steps, Z95),
                )
            }
            None => {
                let sigma = self.backtest_sigma(&z, &y, steps)?;
                let w = |k: f64| sigma.as_ref().map(|s| s.iter().map(|v| k * v).collect());
                (rnn, w(Z80), w(Z95))
            }
        };
        let band = |w: &Option<Vec<f64>>, sign: f64| -> Option<Vec<f64>> {
            w.as_ref()
                .map(|w| values.iter().zip(w).map(|(v, d)| v + sign * d).collect())
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
            lower: band(&half80, -1.0),
            upper: band(&half80, 1.0),
            lower_95: band(&half95, -1.0),
            upper_95: band(&half95, 1.0),
            values,
        })
    }

    /// RMS error s steps ahead of the network over the last (up to) 100 origins of the
    /// series with s steps of actuals (None if there are none).
    fn backtest_sigma(&self, z: &[f32], y: &[f64], steps: usize) -> Result<Option<Vec<f64>>> {
        let n = y.len();
        let l = self.meta.lookback;
        let Some(hi) = n.checked_sub(1 + steps).filter(|&hi| hi + 1 >= l) else {
            return Ok(None);
        };
        let lo = (l - 1).max(hi.saturating_sub(99));
        let origins: Vec<usize> = (lo..=hi).collect();
        let f = self.forecast(z, &origins, steps)?;
        let mut se = vec![0.0; steps];
        for (i, &o) in origins.iter().enumerate() {
            for s in 0..steps {
                let e = y[o + 1 + s] - f[i * steps + s];
                se[s] += e * e;
            }
        }
        Ok(Some(
            se.iter()
                .map(|v| (v / origins.len() as f64).sqrt())
                .collect(),
        ))
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
    /// The 80% interval.
    pub lower: Option<Vec<f64>>,
    pub upper: Option<Vec<f64>>,
    /// The 95% interval.
    pub lower_95: Option<Vec<f64>>,
    pub upper_95: Option<Vec<f64>>,
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
    let meta: ForecastMeta = recurrent::checkpoint::shapes::read_meta(ck, path, "forecast")?;
    let m = &meta.model;
    let w = meta.columns.len();
    if m.input != (InputKind::Dense { size: w })
        || meta.scaler.mean.len() != w
        || meta.scaler.std.len() != w
        || meta.lookback == 0
        || m.encoder.layers == 0
        || m.encoder.bidirectional
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
    let g = m.encoder.cell.gates();
    let mut want: Vec<(String, Vec<usize>)> = Vec::new();
    for k in 0..m.encoder.layers {
        let i = if k == 0 { w } else { m.encoder.hidden };
        want.push((format!("rnn.weight_ih_l{k}"), vec![g * m.encoder.hidden, i]));
        want.push((
            format!("rnn.weight_hh_l{k}"),
            vec![g * m.encoder.hidden, m.encoder.hidden],
        ));
        want.push((format!("rnn.bias_ih_l{k}"), vec![g * m.encoder.hidden]));
        want.push((format!("rnn.bias_hh_l{k}"), vec![g * m.encoder.hidden]));
    }
    want.push(("head.weight".into(), vec![m.outputs, m.encoder.hidden]));
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

/// The feature buffer of a dense batch (given back after a forward pass, to be reused).
pub(crate) fn take_dense(batch: SeqBatch<f32>) -> Vec<f32> {
    match batch.steps {
        Steps::Dense(x) => x,
        Steps::Ids(_) => Vec::new(),
    }
}

/// One step of a recursive forecast: `next` = the prediction `y` [B, F] (plus the newest
/// row for deltas), then the window `x` [L, B, F] drops its oldest row and appends `next`.
pub(crate) fn roll(x: &mut [f32], y: &[f32], next: &mut [f32], b: usize, w: usize, delta: bool) {
    let newest = x.len() - b * w;
    for ((n, &p), &last) in next.iter_mut().zip(y).zip(&x[newest..]) {
        *n = p + if delta { last } else { 0.0 };
    }
    x.copy_within(b * w.., 0);
    x[newest..].copy_from_slice(next);
}
