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
