//! The test report: the model's forecasts on the held-out rows beside the baselines', and
//! their metrics.

use super::model::*;
use super::plan::*;
use crate::forecast::eval::{mase_scale, metrics, Baseline, Metrics};
use crate::forecast::series::Series;
use recurrent::error::Result;
use serde::Serialize;

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
