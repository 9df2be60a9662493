//! The trained forecaster: its stored description, the recurrent model behind it, loading
//! it from a checkpoint, and forecasting the rows after a series.

use super::config::*;
use super::nets::{load_nets, Nets, Windows};
use super::scale::*;
use crate::forecast::combine::{combine, normal_quantile, Combination, L80, L95};
use crate::forecast::series::{Date, Fill, Freq, Series};
use recurrent::checkpoint::{self, Checkpoint};
use recurrent::error::{Error, Result};
use recurrent::model::EncoderConfig;
use recurrent::model::{ClassifierConfig, InputKind, Pooling};
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
    /// Networks in the ensemble (1 in checkpoints from before ensembles).
    #[serde(default = "one")]
    pub members: usize,
}

fn one() -> usize {
    1
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
            reg: cfg.reg,
        },
        pooling: Pooling::Last,
        outputs: match cfg.strategy {
            Strategy::Direct => cfg.horizon,
            Strategy::Recursive => width,
        },
    }
}

/// With `--target es`, the period of the hybrid's season (0: none): the run's season when
/// it has one of at least two rows.
pub(crate) fn es_period(cfg: &ForecastTrainConfig, season: Option<usize>) -> Option<usize> {
    (cfg.target == TargetKind::Es).then(|| season.filter(|&m| m >= 2).unwrap_or(0))
}

/// A trained forecaster: its networks and what it needs to read new data.
pub struct Forecaster {
    pub nets: Nets,
    pub meta: ForecastMeta,
}

impl recurrent::Quantize for Forecaster {
    fn set_precision(&mut self, p: recurrent::Precision) {
        self.nets.set_precision(p)
    }
}

impl Forecaster {
    /// How this forecaster reads windows.
    pub fn windows(&self) -> Windows {
        Windows {
            lookback: self.meta.lookback,
            width: self.meta.columns.len(),
            horizon: self.meta.train.horizon,
            strategy: self.meta.train.strategy,
            target: self.meta.train.target,
        }
    }

    /// Forecasts, in scaled units of the target column, `steps` rows after each origin in
    /// `origins` (see [`Windows::forecast`]). Returns [origins, steps].
    pub fn forecast_scaled(&self, z: &[f32], origins: &[usize], steps: usize) -> Result<Vec<f64>> {
        self.windows().forecast(&self.nets, z, origins, steps)
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
                    c.half_widths(steps, L80),
                    c.half_widths(steps, L95),
                )
            }
            None => {
                let sigma = self.backtest_sigma(&z, &y, steps)?;
                let w = |k: f64| sigma.as_ref().map(|s| s.iter().map(|v| k * v).collect());
                (rnn, w(normal_quantile(L80)), w(normal_quantile(L95)))
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

/// The longest seasonal period a stored combination may name (a week of minutes is
/// 10,080).
pub const MAX_PERIOD: usize = 1_000_000;

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
        || (meta.train.target == TargetKind::Es && meta.train.strategy != Strategy::Direct)
        || meta.season.is_some_and(|p| p > MAX_PERIOD)
    {
        return Err(Error::format(
            path,
            "inconsistent forecaster metadata (columns, scaler, input width)",
        ));
    }
    // The combination is read from the file: bound what the classical methods will be
    // asked to do with it before anything runs.
    if let Some(c) = &meta.combination {
        if c.members.is_empty()
            || c.periods.iter().any(|p| *p == 0 || *p > MAX_PERIOD)
            || c.sigma.len() > MAX_STEPS
            || c.sigma.iter().any(|v| !(v.is_finite() && *v >= 0.0))
        {
            return Err(Error::format(
                path,
                "inconsistent forecaster metadata (combination: members, periods or interval widths)",
            ));
        }
    }
    if meta.members == 0 || meta.members > MAX_MEMBERS {
        return Err(Error::format(
            path,
            format!(
                "{} networks in the ensemble: at most {MAX_MEMBERS}",
                meta.members
            ),
        ));
    }
    let nets = load_nets(ck, m, meta.members, es_period(&meta.train, meta.season))?;
    Ok(Forecaster { nets, meta })
}
