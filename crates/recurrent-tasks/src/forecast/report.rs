//! The test report: the default forecaster's forecasts on the held-out rows beside the
//! recurrent model's alone and every classical method's, and their metrics.

use super::model::*;
use super::plan::*;
use crate::forecast::classical::{self, Method};
use crate::forecast::combine::{combine, Combination, L80, L95};
use crate::forecast::eval::{mase_scale, metrics, Metrics};
use crate::forecast::series::Series;
use recurrent::error::Result;
use serde::Serialize;

/// One row of the metrics table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NamedMetrics {
    /// `model` (what `forecast` gives), `rnn`, then the classical methods' names.
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
    /// The default forecaster (the chosen combination; the network alone without one).
    pub model: f64,
    /// Its 80% interval, when it has one.
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    /// Its 95% interval.
    pub lower_95: Option<f64>,
    pub upper_95: Option<f64>,
    /// The recurrent network alone.
    pub rnn: f64,
    /// Classical forecasts, in [`Method::ALL`] order, on the values as they are (None
    /// where undefined).
    pub baselines: Vec<Option<f64>>,
}

/// The test evaluation of a forecaster: every test point and the metrics table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TestReport {
    pub points: Vec<TestPoint>,
    pub table: Vec<NamedMetrics>,
    /// The MASE denominator (in-sample seasonal naive MAE on the rows before the test).
    pub mase_scale: Option<f64>,
    /// The share of test points inside the 80% interval (None without intervals).
    pub coverage_80: Option<f64>,
    /// ... and inside the 95% interval.
    pub coverage_95: Option<f64>,
    /// Each forecaster's metrics origin by origin, as mean and spread (with two test
    /// origins or more: `--backtest K`, or `--test` longer than `--stride`).
    pub spread: Vec<Spread>,
}

/// The mean and the sample standard deviation of one forecaster's metrics over the test
/// origins (each origin's metrics over its own steps).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Spread {
    pub name: String,
    pub origins: usize,
    pub rmse: (f64, f64),
    pub mae: (f64, f64),
    pub smape: (f64, f64),
    /// None without a MASE scale.
    pub mase: Option<(f64, f64)>,
}

/// Mean and sample standard deviation (0 for one value).
fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (m, var.sqrt())
}

/// [`Spread`] for each forecaster column (its name and its value at each point).
fn spreads(
    points: &[TestPoint],
    columns: &[(String, Vec<f64>)],
    scale: Option<f64>,
) -> Vec<Spread> {
    let mut origins: Vec<usize> = points.iter().map(|p| p.row - p.step).collect();
    origins.dedup();
    if origins.len() < 2 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (name, values) in columns {
        let per: Option<Vec<Metrics>> = origins
            .iter()
            .map(|&o| {
                let at: Vec<usize> = (0..points.len())
                    .filter(|&i| points[i].row - points[i].step == o)
                    .collect();
                let a: Vec<f64> = at.iter().map(|&i| points[i].actual).collect();
                let f: Vec<f64> = at.iter().map(|&i| values[i]).collect();
                metrics(&a, &f, scale)
            })
            .collect();
        let Some(per) = per else { continue };
        let col = |g: &dyn Fn(&Metrics) -> f64| mean_sd(&per.iter().map(g).collect::<Vec<_>>());
        let mase: Option<Vec<f64>> = per.iter().map(|m| m.mase).collect();
        out.push(Spread {
            name: name.clone(),
            origins: per.len(),
            rmse: col(&|m| m.rmse),
            mae: col(&|m| m.mae),
            smape: col(&|m| m.smape),
            mase: mase.map(|v| mean_sd(&v)),
        });
    }
    out
}

/// The shares of `points` inside their 80% and their 95% interval (each None unless every
/// point has that interval).
pub fn coverage<'a>(
    points: impl IntoIterator<Item = &'a TestPoint> + Clone,
) -> (Option<f64>, Option<f64>) {
    let share = |band: fn(&TestPoint) -> Option<(f64, f64)>| -> Option<f64> {
        let inside: Option<Vec<bool>> = points
            .clone()
            .into_iter()
            .map(|p| band(p).map(|(lo, hi)| lo <= p.actual && p.actual <= hi))
            .collect();
        inside
            .filter(|v| !v.is_empty())
            .map(|v| v.iter().filter(|b| **b).count() as f64 / v.len() as f64)
    };
    (
        share(|p| Some((p.lower?, p.upper?))),
        share(|p| Some((p.lower_95?, p.upper_95?))),
    )
}

/// Forecasts every test origin of `plan` with `f` (combined as `comb` says, if given) and
/// with the classical methods; the metrics in the series' units. Classical methods and the
/// MASE scale see only rows up to each origin.
pub fn test_report(
    f: &Forecaster,
    comb: Option<&Combination>,
    series: &Series,
    plan: &Plan,
) -> Result<TestReport> {
    let y = series.target();
    let z = f.meta.scaler.scale_all(&series.values, &series.columns)?;
    let mut points = Vec::new();
    let h = plan.horizon;
    let origins: Vec<usize> = plan.test_origins.iter().map(|o| o.0).collect();
    let preds = f.forecast(&z, &origins, h)?;
    let periods: Vec<usize> = match comb {
        Some(c) => c.periods.clone(),
        None => plan.season.into_iter().collect(),
    };
    for (i, &(o, steps)) in plan.test_origins.iter().enumerate() {
        let hist = &y[..=o];
        let rnn = &preds[i * h..i * h + steps];
        let base = classical::baselines(hist, steps, &periods);
        let model = comb
            .and_then(|c| c.member_forecasts(hist, steps, Some(rnn)))
            .map(|fs| combine(&fs, steps));
        let half = comb.and_then(|c| c.half_widths(steps, L80));
        let half95 = comb.and_then(|c| c.half_widths(steps, L95));
        for s in 0..steps {
            let row = o + 1 + s;
            let m = model.as_ref().map_or(rnn[s], |v| v[s]);
            points.push(TestPoint {
                row,
                date: series.dates.as_ref().map(|d| d[row].to_string()),
                step: s + 1,
                actual: y[row],
                model: m,
                lower: half.as_ref().map(|w| m - w[s]),
                upper: half.as_ref().map(|w| m + w[s]),
                lower_95: half95.as_ref().map(|w| m - w[s]),
                upper_95: half95.as_ref().map(|w| m + w[s]),
                rnn: rnn[s],
                baselines: base.iter().map(|b| b.as_ref().map(|v| v[s])).collect(),
            });
        }
    }
    let scale = mase_scale(&y[..plan.split.val_end], plan.season.unwrap_or(1));
    let actual: Vec<f64> = points.iter().map(|p| p.actual).collect();
    // Every forecaster's value at every point, those undefined somewhere left out.
    let mut columns: Vec<(String, Vec<f64>)> = vec![
        ("model".into(), points.iter().map(|p| p.model).collect()),
        ("rnn".into(), points.iter().map(|p| p.rnn).collect()),
    ];
    for (k, m) in Method::ALL.iter().enumerate() {
        if let Some(v) = points.iter().map(|p| p.baselines[k]).collect() {
            columns.push((m.name().into(), v));
        }
    }
    let table: Vec<NamedMetrics> = columns
        .iter()
        .filter_map(|(name, v)| {
            Some(NamedMetrics {
                name: name.clone(),
                metrics: metrics(&actual, v, scale)?,
            })
        })
        .collect();
    let (coverage_80, coverage_95) = coverage(&points);
    Ok(TestReport {
        spread: spreads(&points, &columns, scale),
        points,
        table,
        mase_scale: scale,
        coverage_80,
        coverage_95,
    })
}
