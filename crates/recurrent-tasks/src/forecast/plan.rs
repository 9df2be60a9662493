//! The chronological split of a series into fit, validation and test rows, and the
//! seasonal periods its calendar implies.

use super::config::*;
use crate::forecast::eval::detect_season;
use crate::forecast::series::{Freq, Series};
use recurrent::error::{Error, Result};
use serde::{Deserialize, Serialize};

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
    freq.map(|f| f.periods()).unwrap_or_default()
}

/// Resolves the split, lookback, season and windows for `series` under `cfg`, with the
/// errors a user can act on when the series is too short. Only rows before the test part
/// are looked at to detect the season.
pub fn plan(cfg: &ForecastTrainConfig, series: &Series) -> Result<Plan> {
    cfg.validate()?;
    let n = series.len();
    let h = cfg.horizon;
    let stride = cfg.stride.unwrap_or(h);
    let test = match (cfg.test, cfg.backtest) {
        (Some(t), _) => t,
        (None, Some(k)) => k.saturating_mul(stride),
        (None, None) => h,
    };
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
    let need = match cfg.strategy {
        Strategy::Direct => h,
        Strategy::Recursive => 1,
    };
    // The default lookback shrinks on a short series so that at least as many training
    // windows remain as a window has rows: a default never refuses a series that a given
    // --lookback could train on.
    let fit_rows = before_test.saturating_sub(val);
    let lookback = cfg.lookback.unwrap_or_else(|| {
        let rule = season.map_or(24, |m| (2 * m).clamp(12, 48));
        rule.min(((fit_rows + 1).saturating_sub(need) / 2).max(1))
    });
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

/// The seasonal periods the classical methods take out of `y` (the rows before the test):
/// the detected `season` first, then each period of the calendar that has two full cycles
/// in `y` and whose autocorrelation of the first differences passes the 90% test (so a
/// trend alone does not count as a season). Half-hourly demand gets both its daily and
/// its weekly cycle this way.
pub fn seasonal_periods(y: &[f64], season: Option<usize>, freq: Option<Freq>) -> Vec<usize> {
    let mut out: Vec<usize> = season.into_iter().filter(|m| *m > 1).collect();
    let d: Vec<f64> = y.windows(2).map(|w| w[1] - w[0]).collect();
    for p in calendar(freq) {
        if p > 1 && 2 * p <= y.len() && !out.contains(&p) && significant_acf(&d, p) {
            out.push(p);
        }
    }
    out
}

/// Whether the autocorrelation of `y` at lag m clears the 90% test
/// |r_m| > 1.645 sqrt((1 + 2 sum_{k<m} r_k^2) / n) (Bartlett's bound).
pub fn significant_acf(y: &[f64], m: usize) -> bool {
    let n = y.len();
    if m == 0 || n <= m + 2 {
        return false;
    }
    let mean = y.iter().sum::<f64>() / n as f64;
    let den: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    if den <= 0.0 {
        return false;
    }
    let r = |k: usize| -> f64 {
        y[..n - k]
            .iter()
            .zip(&y[k..])
            .map(|(a, b)| (a - mean) * (b - mean))
            .sum::<f64>()
            / den
    };
    let s: f64 = (1..m).map(|k| r(k).powi(2)).sum();
    r(m).abs() > 1.645 * ((1.0 + 2.0 * s) / n as f64).sqrt()
}
