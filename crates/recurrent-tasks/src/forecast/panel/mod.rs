//! A global forecaster: one set of networks trained on the windows of many series at once,
//! read from a long-format CSV file (`--id-column`: one row per series and time step).
//!
//! This is where recurrent forecasters beat local methods (the M4 competition's winner,
//! Smyl 2020; DeepAR, Salinas et al. 2020): a series of 150 rows gives a network too few
//! windows to learn a season, but a thousand of them share their shapes. Each series is
//! scaled by its own mean and spread (over its training rows), so the network sees every
//! series in the same units, and predicts changes from the window's last value (the
//! `delta` target of the single-series forecaster): a window's level does not matter, its
//! shape does.
//!
//! ## Split (per series, chronological)
//! Each series of N_i rows holds out its last `test` rows (default H) for the reported
//! metrics and the `val` = H rows before them for early stopping, exactly as one series
//! would ([`super::train`]); the training windows of every series form one set, shuffled
//! across series. A series too short for one training window beside its validation and
//! test rows is left out of training, and said so.
//!
//! ## Intervals
//! The network's s-step errors on the validation rows, in each series' scaled units, pooled
//! over the series: their 2.5, 10, 90 and 97.5% quantiles, stored with the model, give each
//! series' 80% and 95% intervals at step s in its own units. With hundreds of series these
//! are empirical quantiles of hundreds of errors per step, not a normal assumption.
//!
//! ## The checkpoint
//! As for one series: the recipe is scored on the held-out rows, then refit on every row of
//! every series (`DIR/refit`) for the held-out run's best step scaled by the ratio of
//! windows; `forecast --checkpoint DIR --data FILE` forecasts every series in FILE (new ids
//! too: the model is a function of the window alone), one CSV with the id last.

#[cfg(test)]
mod tests;
mod train;

pub use train::*;

use super::classical::{self, Method, Transform};
use super::combine::{median, par_map};
use super::config::*;
use super::eval::mase_scale;
use super::model::{model_config, FutureForecast, MAX_PERIOD, MAX_STEPS};
use super::nets::{load_nets, Nets, Windows};
use super::scale::Scaler;
use super::series::{read_table, read_text, series_from_rows, Series, SeriesSpec};
use super::series::{Date, Fill};
use recurrent::checkpoint::{self, Checkpoint};
use recurrent::error::{Error, Result};
use recurrent::model::ClassifierConfig;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The task name in a panel checkpoint's metadata.
pub const TASK: &str = "forecast_panel";

/// What to read from a long-format file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PanelSpec {
    pub data: PathBuf,
    /// The column naming each row's series.
    pub id_column: String,
    /// The value column. None: the last column that is neither the id nor the date.
    pub column: Option<String>,
    /// The date column. None: the first column but the id whose first cell is a date.
    pub date_column: Option<String>,
    pub fill: Fill,
}

/// Many univariate series, in the order their ids first appear in the file.
#[derive(Clone, Debug)]
pub struct Panel {
    pub ids: Vec<String>,
    pub series: Vec<Series>,
    /// The resolved value and date columns.
    pub column: String,
    pub date_column: Option<String>,
}

/// How many repairs of missing cells a panel names before one line with the count.
const NAMED: usize = 10;

/// Reads a long-format file: rows grouped by `spec.id_column` (each id's rows in time
/// order; they need not be contiguous), each group read as one series with the rules of
/// [`super::series`] (dates, gaps, missing cells), errors naming the file's lines.
pub fn read_panel(spec: &PanelSpec, notice: &mut dyn FnMut(&str)) -> Result<Panel> {
    parse_panel(&read_text(&spec.data)?, spec, notice)
}

/// The same from the file's text (`spec.data` only names it in messages).
pub fn parse_panel(text: &str, spec: &PanelSpec, notice: &mut dyn FnMut(&str)) -> Result<Panel> {
    let path = spec.data.as_path();
    let (header, rows) = read_table(text, path)?;
    let find = |name: &str, flag: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            Error::format(
                path,
                format!(
                    "line 1: no column `{name}` (given by {flag}); the header has: {}",
                    header.join(", ")
                ),
            )
        })
    };
    let id = find(&spec.id_column, "--id-column")?;
    let given = spec
        .column
        .as_deref()
        .and_then(|c| header.iter().position(|h| h == c));
    // A file of only an id and a value has no date column, even when its values look like
    // years.
    let date = match &spec.date_column {
        Some(d) => Some(find(d, "--date-column")?),
        None if header.len() < 3 => None,
        None => (0..header.len())
            .filter(|&j| j != id && Some(j) != given)
            .find(|&j| rows.first().is_some_and(|r| Date::parse(&r.1[j]).is_some())),
    };
    let value = match &spec.column {
        Some(c) => find(c, "--column")?,
        None => (0..header.len())
            .rev()
            .find(|&j| j != id && Some(j) != date)
            .ok_or_else(|| {
                Error::format(
                    path,
                    "line 1: no value column beside the id and date columns",
                )
            })?,
    };
    if value == id || Some(value) == date {
        return Err(Error::Config(format!(
            "column `{}` cannot be both the value and the id or date column",
            header[value]
        )));
    }
    // Each group is read as a file of its own columns: the date (if any) and the value.
    let keep: Vec<usize> = date.into_iter().chain([value]).collect();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut groups: Vec<Vec<(usize, Vec<String>)>> = Vec::new();
    let mut ids = Vec::new();
    for (n, f) in &rows {
        let key = f[id].trim();
        if key.is_empty() {
            return Err(Error::format(
                path,
                format!("line {n}: the id column `{}` is empty", header[id]),
            ));
        }
        let g = *index.entry(key).or_insert_with(|| {
            ids.push(key.to_string());
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push((*n, keep.iter().map(|&j| f[j].clone()).collect()));
    }
    let sub_header: Vec<String> = keep.iter().map(|&j| header[j].clone()).collect();
    let series_spec = SeriesSpec {
        columns: vec![header[value].clone()],
        date_column: date.map(|d| header[d].clone()),
        fill: spec.fill,
    };
    let mut named = 0usize;
    let mut series = Vec::with_capacity(groups.len());
    for (sub, key) in groups.iter().zip(&ids) {
        let mut say = |m: &str| {
            named += 1;
            if named <= NAMED {
                notice(&format!("id `{key}`: {m}"));
            }
        };
        series.push(series_from_rows(
            &sub_header,
            sub,
            path,
            &series_spec,
            &mut say,
        )?);
    }
    if named > NAMED {
        notice(&format!(
            "... and {} more repairs of missing values",
            named - NAMED
        ));
    }
    Ok(Panel {
        ids,
        series,
        column: header[value].clone(),
        date_column: date.map(|d| header[d].clone()),
    })
}

/// The stored description of a panel checkpoint (metadata `model`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PanelMeta {
    /// [`TASK`].
    pub task: String,
    pub model: ClassifierConfig,
    pub train: ForecastTrainConfig,
    pub id_column: String,
    pub column: String,
    pub date_column: Option<String>,
    pub fill: Fill,
    pub lookback: usize,
    pub season: Option<usize>,
    pub members: usize,
    /// Per step: the 2.5, 10, 90 and 97.5% quantiles of the validation errors in scaled
    /// units (see the module docs). None in the held-out run's own checkpoints.
    pub quantiles: Option<Vec<[f64; 4]>>,
    /// The classical methods combined with the network (the median in scaled units), as
    /// validation chose them; empty: the network alone.
    #[serde(default)]
    pub combination: Vec<Method>,
}

/// The classical methods a panel's forecaster may combine with its network: the two that
/// come closest to it on seasonal panels, each fit to one series in milliseconds.
pub const PARTNERS: [Method; 2] = [Method::Mstl, Method::Theta];

/// The transform under which the classical partners fit, matching the network's scaling.
fn transform(kind: Scale) -> Transform {
    match kind {
        Scale::Log => Transform::Log,
        _ => Transform::None,
    }
}

/// Forecasts in scaled units of `steps` rows after row `ends[k] - 1` of each series
/// `series[k]`: the network's (`rnn`, [series, steps]) and each method of `methods`' for
/// each series (None where it cannot forecast).
pub(crate) struct Candidates {
    pub steps: usize,
    pub rnn: Vec<f64>,
    pub methods: Vec<Vec<Option<Vec<f64>>>>,
}

impl Candidates {
    pub(crate) fn new(
        f: &PanelForecaster,
        sc: &Scaled,
        series: &[&Series],
        ends: &[usize],
        steps: usize,
        methods: &[Method],
    ) -> Result<Candidates> {
        let origins: Vec<usize> = sc.start.iter().zip(ends).map(|(s, e)| s + e - 1).collect();
        let rnn = f.windows().forecast(&f.nets, &sc.z, &origins, steps)?;
        let periods: Vec<usize> = f.meta.season.into_iter().collect();
        let t = transform(f.meta.train.scale);
        let jobs: Vec<usize> = (0..series.len()).collect();
        let methods = par_map(&jobs, |&k| {
            let y = series[k].target();
            let hist = &y[..ends[k]];
            methods
                .iter()
                .map(|m| {
                    let v = classical::forecast(*m, t, hist, steps, &periods)?;
                    let z: Vec<f64> = v.iter().map(|v| sc.scalers[k].scale(*v, 0)).collect();
                    z.iter().all(|v| v.is_finite()).then_some(z)
                })
                .collect()
        });
        Ok(Candidates {
            steps,
            rnn,
            methods,
        })
    }

    /// Series k's forecast by the median of the network and the methods `pick` (indices
    /// into the methods this was built with) that could forecast it.
    pub(crate) fn combined(&self, k: usize, pick: &[usize]) -> Vec<f64> {
        let h = self.steps;
        let mut v = Vec::with_capacity(1 + pick.len());
        (0..h)
            .map(|s| {
                v.clear();
                v.push(self.rnn[k * h + s]);
                v.extend(
                    pick.iter()
                        .filter_map(|&j| self.methods[k][j].as_ref().map(|f| f[s])),
                );
                median(&mut v)
            })
            .collect()
    }
}

/// A trained global forecaster.
pub struct PanelForecaster {
    pub nets: Nets,
    pub meta: PanelMeta,
}

impl recurrent::Quantize for PanelForecaster {
    fn set_precision(&mut self, p: recurrent::Precision) {
        self.nets.set_precision(p)
    }
}

/// Whether the checkpoint file at `path` holds a global forecaster (its header alone is read).
pub fn is_panel_checkpoint(path: &Path) -> bool {
    checkpoint::read_metadata(path).is_ok_and(|meta| {
        meta.get("model")
            .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
            .is_some_and(|v| v["task"] == TASK)
    })
}

/// Loads a global forecaster, its shapes checked against the file before allocation.
pub fn load_panel_forecaster(path: &Path) -> Result<PanelForecaster> {
    let ck = checkpoint::read(path)?;
    panel_from_checkpoint(&ck, path)
}

/// The same from a checkpoint already read (`path` names it in messages); what the fuzz
/// target drives.
pub fn panel_from_checkpoint(ck: &Checkpoint, path: &Path) -> Result<PanelForecaster> {
    let meta: PanelMeta = recurrent::checkpoint::shapes::read_meta(ck, path, TASK)?;
    meta.train
        .validate()
        .map_err(|e| Error::format(path, format!("stored configuration: {e}")))?;
    if meta.members != meta.train.ensemble || meta.model != model_config(&meta.train, 1) {
        return Err(Error::format(
            path,
            "the stored model shape does not follow from its configuration",
        ));
    }
    let quantiles_ok = meta
        .quantiles
        .as_ref()
        .is_none_or(|q| q.len() <= MAX_STEPS && q.iter().flatten().all(|v| v.is_finite()));
    if meta.lookback == 0
        || meta.lookback > MAX_STEPS
        || meta.season.is_some_and(|m| m == 0 || m > MAX_PERIOD)
        || meta.train.target == super::TargetKind::Es
        || !quantiles_ok
    {
        return Err(Error::format(
            path,
            "inconsistent forecaster metadata (lookback, season, target or interval quantiles)",
        ));
    }
    let nets = load_nets(ck, &meta.model, meta.members, None)?;
    Ok(PanelForecaster { nets, meta })
}

/// Series scaled one after the other into one buffer: `start[i]` is series i's first row.
pub(crate) struct Scaled {
    pub z: Vec<f32>,
    pub start: Vec<usize>,
    pub scalers: Vec<Scaler>,
}

/// Scales each series of `series` by its mean over its first `fit[i]` rows and its MASE
/// scale there (seasonal naive error with period `season`, else the naive one), after
/// `pad[i]` copies of its first value (so that a series shorter than the lookback still
/// has a window; none in training).
pub(crate) fn scale_panel(
    kind: Scale,
    season: usize,
    series: &[&Series],
    fit: &[usize],
    pad: &[usize],
) -> Result<Scaled> {
    let rows: usize = series.iter().zip(pad).map(|(s, p)| s.len() + p).sum();
    let mut out = Scaled {
        z: Vec::with_capacity(rows),
        start: Vec::with_capacity(series.len()),
        scalers: Vec::with_capacity(series.len()),
    };
    for ((s, &f), &p) in series.iter().zip(fit).zip(pad) {
        let y = s.target();
        let mut sc = Scaler::fit(kind, &y, 1, f, &s.columns)?;
        // In units of the series' own seasonal-naive error (the MASE scale) rather than its
        // spread: a trend inflates the spread, and the loss would weigh that series' errors
        // less than their MASE does.
        // (The MASE scale of the standardised rows is the series' own over its spread.)
        let z_fit: Vec<f64> = y[..f].iter().map(|v| sc.scale(*v, 0)).collect();
        if let Some(m) = [season, 1]
            .into_iter()
            .filter_map(|m| mase_scale(&z_fit, m))
            .find(|v| *v > 0.0 && v.is_finite())
        {
            sc.std[0] *= m;
        }
        let z = sc.scale_all(&y, &s.columns)?;
        out.start.push(out.z.len() + p);
        out.z.extend(std::iter::repeat_n(z[0], p));
        out.z.extend_from_slice(&z);
        out.scalers.push(sc);
    }
    Ok(out)
}

impl PanelForecaster {
    fn windows(&self) -> Windows {
        Windows {
            lookback: self.meta.lookback,
            width: 1,
            horizon: self.meta.train.horizon,
            strategy: self.meta.train.strategy,
            target: self.meta.train.target,
        }
    }

    /// The next `steps` values after every series of `panel`, each scaled by its own rows,
    /// with the stored intervals. A series shorter than the lookback is read as if its
    /// first value came before it as often as needed.
    pub fn forecast_panel(&self, panel: &Panel, steps: usize) -> Result<Vec<FutureForecast>> {
        if steps == 0 || steps > MAX_STEPS {
            return Err(Error::Config(format!(
                "--horizon must be between 1 and {MAX_STEPS}, got {steps}"
            )));
        }
        let l = self.meta.lookback;
        let refs: Vec<&Series> = panel.series.iter().collect();
        let fit: Vec<usize> = refs.iter().map(|s| s.len()).collect();
        let pad: Vec<usize> = fit.iter().map(|&n| l.saturating_sub(n)).collect();
        let m = self.meta.season.unwrap_or(1);
        let sc = scale_panel(self.meta.train.scale, m, &refs, &fit, &pad)?;
        let c = Candidates::new(self, &sc, &refs, &fit, steps, &self.meta.combination)?;
        let pick: Vec<usize> = (0..self.meta.combination.len()).collect();
        let q = self.meta.quantiles.as_ref().filter(|q| q.len() >= steps);
        Ok(refs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let zf = c.combined(i, &pick);
                let un = |k: Option<usize>| -> Vec<f64> {
                    zf.iter()
                        .enumerate()
                        .map(|(j, v)| {
                            let d = match (k, q) {
                                (Some(k), Some(q)) => q[j][k],
                                _ => 0.0,
                            };
                            sc.scalers[i].unscale(v + d, 0)
                        })
                        .collect()
                };
                let band = |k: usize| q.map(|_| un(Some(k)));
                let dates = s
                    .dates
                    .as_ref()
                    .map(|_| {
                        (1..=steps)
                            .filter_map(|k| s.date_after(k))
                            .collect::<Vec<_>>()
                    })
                    .filter(|d| d.len() == steps);
                FutureForecast {
                    dates,
                    values: un(None),
                    lower: band(1),
                    upper: band(2),
                    lower_95: band(0),
                    upper_95: band(3),
                }
            })
            .collect())
    }
}
