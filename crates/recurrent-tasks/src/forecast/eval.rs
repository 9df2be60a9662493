//! Forecast accuracy: the metrics, the classical baselines every model must beat, and the
//! detection of a series' season. Everything here works on plain `f64` slices in the
//! series' own units, so it can be checked by hand.
//!
//! Metrics of forecasts f against actuals a over n points (e = a - f):
//! - RMSE  = sqrt( (1/n) sum e^2 )
//! - MAE   = (1/n) sum |e|
//! - MAPE  = (100/n) sum |e| / |a|               (undefined if some a = 0: reported as None)
//! - sMAPE = (100/n) sum 2 |e| / (|a| + |f|)     (a term with a = f = 0 counts 0)
//! - MASE  = MAE / s,  s = (1/(N-m)) sum_{t >= m} |y_t - y_{t-m}| over the N training values
//!   (Hyndman & Koehler 2006: the in-sample MAE of the seasonal naive forecast, m = 1
//!   without a season). MASE < 1: better than that naive forecast was in sample.

use serde::Serialize;

/// The accuracy of a set of forecasts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Metrics {
    /// Points compared.
    pub n: usize,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Mean absolute percentage error, percent (None when an actual is 0).
    pub mape: Option<f64>,
    /// Symmetric MAPE, percent, in [0, 200].
    pub smape: f64,
    /// Mean absolute scaled error (None without a usable scale).
    pub mase: Option<f64>,
}

/// The metrics of `pred` against `actual` (equal lengths, at least one point); `mase_scale`
/// from [`mase_scale`]. Returns None for empty or mismatched input.
pub fn metrics(actual: &[f64], pred: &[f64], mase_scale: Option<f64>) -> Option<Metrics> {
    if actual.is_empty() || actual.len() != pred.len() {
        return None;
    }
    let n = actual.len() as f64;
    let (mut se, mut ae, mut ape, mut sape) = (0.0, 0.0, 0.0, 0.0);
    let mut mape_ok = true;
    for (&a, &f) in actual.iter().zip(pred) {
        let e = a - f;
        se += e * e;
        ae += e.abs();
        if a == 0.0 {
            mape_ok = false;
        } else {
            ape += e.abs() / a.abs();
        }
        let den = a.abs() + f.abs();
        if den > 0.0 {
            sape += 2.0 * e.abs() / den;
        }
    }
    let mae = ae / n;
    Some(Metrics {
        n: actual.len(),
        rmse: (se / n).sqrt(),
        mae,
        mape: mape_ok.then_some(100.0 * ape / n),
        smape: 100.0 * sape / n,
        mase: mase_scale.filter(|s| *s > 0.0).map(|s| mae / s),
    })
}

/// The MASE denominator: the mean absolute difference between training values `m` steps
/// apart (the in-sample seasonal naive error; m = 1: the naive one). None if there are not
/// more than `m` values.
pub fn mase_scale(train: &[f64], m: usize) -> Option<f64> {
    let m = m.max(1);
    if train.len() <= m {
        return None;
    }
    let s: f64 = train
        .iter()
        .skip(m)
        .zip(train)
        .map(|(a, b)| (a - b).abs())
        .sum();
    Some(s / (train.len() - m) as f64)
}

/// The baselines, each a rule on the history up to the forecast origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// y^_{o+h} = y_o: the last value.
    Naive,
    /// y^_{o+h} = y_{o+h-m*k}, k = ceil(h/m): the value one season before (the last season
    /// repeated).
    SeasonalNaive,
    /// y^_{o+h} = y_o + h (y_o - y_0) / o: the line through the first and last values.
    Drift,
}

impl Baseline {
    /// All three, in table order.
    pub const ALL: [Baseline; 3] = [Baseline::Naive, Baseline::SeasonalNaive, Baseline::Drift];

    /// The name in tables and JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Baseline::Naive => "naive",
            Baseline::SeasonalNaive => "seasonal_naive",
            Baseline::Drift => "drift",
        }
    }

    /// Forecasts of the `h` steps after `history` (its last value is the origin y_o).
    /// `season` is m for the seasonal naive forecast. None where the rule needs more
    /// history than there is.
    pub fn forecast(&self, history: &[f64], h: usize, season: Option<usize>) -> Option<Vec<f64>> {
        let o = history.len().checked_sub(1)?;
        let last = history[o];
        match self {
            Baseline::Naive => Some(vec![last; h]),
            Baseline::SeasonalNaive => {
                let m = season?.max(1);
                (1..=h)
                    .map(|s| {
                        let back = m * s.div_ceil(m);
                        (o + s).checked_sub(back).map(|i| history[i])
                    })
                    .collect()
            }
            Baseline::Drift => {
                if o == 0 {
                    return None;
                }
                let slope = (last - history[0]) / o as f64;
                Some((1..=h).map(|s| last + s as f64 * slope).collect())
            }
        }
    }
}

/// The season of a series: the lag of the highest autocorrelation after the
/// autocorrelation first turns negative, on the series with its least-squares line removed
/// (so a trend does not hide the season). With a known frequency the lag is snapped to a
/// calendar period within 2% (7 or 365 days, 12 months, 4 quarters). None for series
/// shorter than 8 points or when that autocorrelation is below 0.25 (no clear season).
///
/// r_k = sum_{t} (x_t - mean)(x_{t+k} - mean) / sum_t (x_t - mean)^2,  k = 0..n/2
pub fn detect_season(y: &[f64], calendar: &[usize]) -> Option<usize> {
    let n = y.len();
    if n < 8 {
        return None;
    }
    // Least-squares line: slope = cov(t, y) / var(t).
    let tm = (n as f64 - 1.0) / 2.0;
    let ym = y.iter().sum::<f64>() / n as f64;
    let (mut sty, mut stt) = (0.0, 0.0);
    for (t, v) in y.iter().enumerate() {
        let dt = t as f64 - tm;
        sty += dt * (v - ym);
        stt += dt * dt;
    }
    let slope = if stt > 0.0 { sty / stt } else { 0.0 };
    let r: Vec<f64> = y
        .iter()
        .enumerate()
        .map(|(t, v)| v - ym - slope * (t as f64 - tm))
        .collect();
    let rm = r.iter().sum::<f64>() / n as f64;
    let r: Vec<f64> = r.iter().map(|v| v - rm).collect();
    let den: f64 = r.iter().map(|v| v * v).sum();
    if den <= 0.0 {
        return None;
    }
    let acf = |k: usize| -> f64 {
        r[..n - k]
            .iter()
            .zip(&r[k..])
            .map(|(a, b)| a * b)
            .sum::<f64>()
            / den
    };
    let max_lag = n / 2;
    let zero = (1..=max_lag).find(|&k| acf(k) < 0.0)?;
    let (mut best, mut best_r) = (0, f64::MIN);
    for k in zero..=max_lag {
        let v = acf(k);
        if v > best_r {
            best = k;
            best_r = v;
        }
    }
    if best < 2 || best_r < 0.25 {
        return None;
    }
    for &c in calendar {
        let tol = (c as f64 * 0.02).max(1.0);
        if (best as f64 - c as f64).abs() <= tol && c < n {
            return Some(c);
        }
    }
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_hand_computed_values() {
        // a = [2, 4, 5], f = [1, 5, 5]: e = [1, -1, 0]
        let m = metrics(&[2.0, 4.0, 5.0], &[1.0, 5.0, 5.0], Some(0.5)).unwrap();
        assert_eq!(m.n, 3);
        assert!((m.rmse - (2.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert!((m.mae - 2.0 / 3.0).abs() < 1e-15);
        // MAPE = 100/3 (1/2 + 1/4 + 0) = 25
        assert!((m.mape.unwrap() - 25.0).abs() < 1e-12);
        // sMAPE = 100/3 (2/3 + 2/9 + 0) = 100/3 * 8/9
        assert!((m.smape - 100.0 / 3.0 * 8.0 / 9.0).abs() < 1e-12);
        // MASE = (2/3) / 0.5
        assert!((m.mase.unwrap() - 4.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn mape_is_undefined_with_a_zero_actual_and_smape_counts_zero_zero_as_zero() {
        let m = metrics(&[0.0, 2.0], &[0.0, 1.0], None).unwrap();
        assert_eq!(m.mape, None);
        // sMAPE = 100/2 (0 + 2*1/3)
        assert!((m.smape - 100.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.mase, None);
        assert!(metrics(&[], &[], None).is_none());
        assert!(metrics(&[1.0], &[1.0, 2.0], None).is_none());
    }

    #[test]
    fn mase_scale_is_the_in_sample_seasonal_naive_mae() {
        // |3-1| + |2-5| + |7-3| over 3 = 3 (m = 2 on [1, 5, 3, 2, 7])
        assert_eq!(mase_scale(&[1.0, 5.0, 3.0, 2.0, 7.0], 2), Some(3.0));
        // m = 1: (4 + 2 + 1 + 5) / 4
        assert_eq!(mase_scale(&[1.0, 5.0, 3.0, 2.0, 7.0], 1), Some(3.0));
        assert_eq!(mase_scale(&[1.0, 2.0], 2), None);
    }

    #[test]
    fn baselines_follow_their_rules() {
        let h = [1.0, 2.0, 3.0, 10.0, 20.0, 30.0, 40.0];
        assert_eq!(
            Baseline::Naive.forecast(&h, 2, None),
            Some(vec![40.0, 40.0])
        );
        // m = 3, o = 6: h=1 -> y_4, h=2 -> y_5, h=3 -> y_6, h=4 -> y_4 (the last season repeated)
        assert_eq!(
            Baseline::SeasonalNaive.forecast(&h, 4, Some(3)),
            Some(vec![20.0, 30.0, 40.0, 20.0])
        );
        assert_eq!(Baseline::SeasonalNaive.forecast(&h, 1, None), None);
        assert_eq!(Baseline::SeasonalNaive.forecast(&h[..2], 1, Some(3)), None);
        // slope (40 - 1) / 6 = 6.5
        assert_eq!(
            Baseline::Drift.forecast(&h, 2, None),
            Some(vec![46.5, 53.0])
        );
        assert_eq!(Baseline::Drift.forecast(&h[..1], 2, None), None);
    }

    #[test]
    fn season_is_found_under_a_trend_and_snapped_to_the_calendar() {
        let y: Vec<f64> = (0..120)
            .map(|t| 0.5 * t as f64 + 10.0 * (2.0 * std::f64::consts::PI * t as f64 / 12.0).sin())
            .collect();
        assert_eq!(detect_season(&y, &[]), Some(12));
        let y: Vec<f64> = (0..400)
            .map(|t| (2.0 * std::f64::consts::PI * t as f64 / 51.0).sin())
            .collect();
        assert_eq!(detect_season(&y, &[52]), Some(52));
        assert_eq!(detect_season(&y, &[]), Some(51));
        // A straight line has no season.
        let y: Vec<f64> = (0..100).map(|t| t as f64).collect();
        assert_eq!(detect_season(&y, &[12]), None);
    }
}
