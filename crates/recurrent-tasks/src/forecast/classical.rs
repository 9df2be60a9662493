//! The classical forecasters every recurrent model is reported beside and combined with.
//! Each is refit on the history it is given, so `forecast` conditions them on every row.
//!
//! - `ets`: AutoETS (Hyndman et al. 2002): the error, trend and damping of the best AICc,
//!   without a seasonal state (augurs implements none).
//! - `mstl`: MSTL (Bandara et al. 2021) takes out one seasonal component per period, then
//!   AutoETS forecasts the deseasonalised series and the last cycle of each season is added
//!   back. With no period it is `ets`. This is R forecast's `stlf`.
//! - `theta`: the Theta method (Assimakopoulos & Nikolopoulos 2000, in the form of Hyndman &
//!   Billah 2003), on the series seasonally adjusted by classical multiplicative
//!   decomposition when it is positive and seasonal:
//!   f_{n+h} = SES_n + (b / 2) (h - 1 + 1/alpha - (1 - alpha)^n / alpha),
//!   with b the least-squares slope over time and alpha the SES weight of least squared
//!   one-step error.
//!
//! Each method may run on log y or a Box-Cox power of y (the series must be positive) and
//! is transformed back.
//! Both ETS and MSTL come from `augurs` (Grafana's ports of R forecast and statsforecast).

use crate::forecast::eval::Baseline;
use augurs::ets::trend::AutoETSTrendModel;
use augurs::ets::AutoETS;
use augurs::mstl::MSTLModel;
use augurs::{Fit, Predict};
use serde::{Deserialize, Serialize};

/// A classical forecasting method (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Naive,
    SeasonalNaive,
    Drift,
    Ets,
    Mstl,
    Theta,
}

impl Method {
    /// Every method, in table order.
    pub const ALL: [Method; 6] = [
        Method::Naive,
        Method::SeasonalNaive,
        Method::Drift,
        Method::Ets,
        Method::Mstl,
        Method::Theta,
    ];

    /// The name in tables and JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Method::Naive => "naive",
            Method::SeasonalNaive => "seasonal_naive",
            Method::Drift => "drift",
            Method::Ets => "ets",
            Method::Mstl => "mstl",
            Method::Theta => "theta",
        }
    }
}

/// How a method sees the values: as they are, as their logarithm, or through the Box-Cox
/// transform (Box & Cox 1964) with power `lambda`:
///   w = (y^lambda - 1) / lambda,  y = (lambda w + 1)^(1 / lambda).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    #[default]
    None,
    Log,
    BoxCox {
        lambda: f64,
    },
}

impl Transform {
    /// Whether the transform is defined on every value of `y`.
    pub fn applies(&self, y: &[f64]) -> bool {
        match self {
            Transform::None => true,
            Transform::Log | Transform::BoxCox { .. } => {
                y.iter().all(|v| *v > 0.0 && v.is_finite())
            }
        }
    }
    fn forward(&self, v: f64) -> f64 {
        match *self {
            Transform::None => v,
            Transform::Log => v.ln(),
            Transform::BoxCox { lambda } => (v.powf(lambda) - 1.0) / lambda,
        }
    }
    /// The inverse; NaN where a Box-Cox forecast falls below what any positive value maps
    /// to (the method then cannot forecast).
    fn back(&self, v: f64) -> f64 {
        match *self {
            Transform::None => v,
            Transform::Log => v.exp(),
            Transform::BoxCox { lambda } => {
                let base = lambda * v + 1.0;
                if base > 0.0 {
                    base.powf(1.0 / lambda)
                } else {
                    f64::NAN
                }
            }
        }
    }
    /// The suffix in member names: `(log)`, `(boxcox 0.35)`.
    pub fn suffix(&self) -> String {
        match self {
            Transform::None => String::new(),
            Transform::Log => "(log)".into(),
            Transform::BoxCox { lambda } => format!("(boxcox {lambda:.2})"),
        }
    }
}

/// The transforms the default forecaster tries for `y` (the rows it may look at): the
/// values, their logarithm, and Box-Cox with Guerrero's power when the values are positive
/// and the power is at least [`BOXCOX_APART`] from 0 (the logarithm) and 1 (the values),
/// so that no candidate is another under a second name.
pub fn candidate_transforms(y: &[f64], season: Option<usize>) -> Vec<Transform> {
    let mut out = vec![Transform::None, Transform::Log];
    if let Some(lambda) = guerrero(y, season) {
        if lambda.abs() >= BOXCOX_APART && (lambda - 1.0).abs() >= BOXCOX_APART {
            out.push(Transform::BoxCox { lambda });
        }
    }
    out
}

/// How far Guerrero's power must be from 0 and from 1 to be tried as its own transform.
pub const BOXCOX_APART: f64 = 0.1;

/// Guerrero's (1993) Box-Cox power for positive `y`, searched on [0, 1], between the
/// logarithm and the values (R forecast's `BoxCox.lambda` searches [-1, 2]; a negative
/// power bounds the back-transformed forecast from above and exploded it on the smooth
/// quarterly series, where Guerrero chose -0.45, and the shared series never asked for
/// more than the values): cut the last whole cycles of `y` into subseries of the
/// season's length (2 without one); the power makes sd_i / mean_i^(1 - lambda) as nearly
/// constant across them as it can (the least coefficient of variation), found by
/// golden-section search and rounded to 0.01. None for fewer than two subseries, or a
/// value <= 0.
pub fn guerrero(y: &[f64], season: Option<usize>) -> Option<f64> {
    let m = season.unwrap_or(2).max(2);
    let k = y.len() / m;
    if k < 2 || y.iter().any(|v| *v <= 0.0 || !v.is_finite()) {
        return None;
    }
    let tail = &y[y.len() - k * m..];
    let stats: Vec<(f64, f64)> = tail
        .chunks(m)
        .map(|c| {
            let mean = c.iter().sum::<f64>() / m as f64;
            let var = c.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (m - 1) as f64;
            (mean, var.sqrt())
        })
        .collect();
    let cv = |lambda: f64| -> f64 {
        let r: Vec<f64> = stats
            .iter()
            .map(|(mean, sd)| sd / mean.powf(1.0 - lambda))
            .collect();
        let mu = r.iter().sum::<f64>() / r.len() as f64;
        let sd = (r.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / (r.len() - 1) as f64).sqrt();
        if mu > 0.0 {
            sd / mu
        } else {
            f64::INFINITY
        }
    };
    let (mut a, mut b) = (0.0f64, 1.0f64);
    let g = (5.0f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
    let (mut fc, mut fd) = (cv(c), cv(d));
    while b - a > 1e-4 {
        if fc <= fd {
            (b, d, fd) = (d, c, fc);
            c = b - g * (b - a);
            fc = cv(c);
        } else {
            (a, c, fc) = (c, d, fd);
            d = a + g * (b - a);
            fd = cv(d);
        }
    }
    let lambda = ((a + b) / 2.0 * 100.0).round() / 100.0;
    lambda.is_finite().then_some(lambda)
}

/// The `h` values after `history` by `method` on `transform`ed values, with `periods` the
/// seasonal periods (the first is the main one). None where the method cannot run (too
/// short a history, no season for the seasonal naive forecast, a log of a value <= 0, a
/// fit that failed or a forecast that is not finite).
pub fn forecast(
    method: Method,
    transform: Transform,
    history: &[f64],
    h: usize,
    periods: &[usize],
) -> Option<Vec<f64>> {
    if history.is_empty() || h == 0 || !transform.applies(history) {
        return None;
    }
    let y: Vec<f64> = history.iter().map(|v| transform.forward(*v)).collect();
    let season = periods.first().copied().filter(|m| *m > 1);
    let f = match method {
        Method::Naive => Baseline::Naive.forecast(&y, h, season),
        Method::SeasonalNaive => Baseline::SeasonalNaive.forecast(&y, h, season),
        Method::Drift => Baseline::Drift.forecast(&y, h, season),
        Method::Ets => ets(&y, h),
        Method::Mstl => mstl(&y, h, periods),
        Method::Theta => theta(&y, h, season),
    }?;
    let f: Vec<f64> = f.into_iter().map(|v| transform.back(v)).collect();
    f.iter().all(|v| v.is_finite()).then_some(f)
}

/// Every method of [`Method::ALL`] on the values as they are, in that order: the
/// baselines a test report sets beside the model.
pub fn baselines(history: &[f64], h: usize, periods: &[usize]) -> Vec<Option<Vec<f64>>> {
    Method::ALL
        .iter()
        .map(|m| forecast(*m, Transform::None, history, h, periods))
        .collect()
}

/// AutoETS needs a few more points than it has parameters; below this it is not tried.
const MIN_ETS: usize = 8;

fn ets(y: &[f64], h: usize) -> Option<Vec<f64>> {
    ets_with(y, h, "ZZN")
}

/// AutoETS over the models R's `ets` names by `spec` (`ZZN`: every error and trend, no
/// season; `AAN`: Holt's linear method), the best by AICc; its `h`-step point forecast.
pub fn ets_with(y: &[f64], h: usize, spec: &str) -> Option<Vec<f64>> {
    if y.len() < MIN_ETS {
        return None;
    }
    let fit = AutoETS::new(1, spec).ok()?.fit(y).ok()?;
    Some(fit.predict(h, None).ok()?.point)
}

/// The periods MSTL can take out of `n` values: those with at least two full cycles.
fn usable_periods(periods: &[usize], n: usize) -> Vec<usize> {
    let mut p: Vec<usize> = periods
        .iter()
        .copied()
        .filter(|m| *m > 1 && *m <= n / 2)
        .collect();
    p.sort_unstable();
    p.dedup();
    p
}

fn mstl(y: &[f64], h: usize, periods: &[usize]) -> Option<Vec<f64>> {
    let p = usable_periods(periods, y.len());
    if p.is_empty() {
        return ets(y, h);
    }
    if y.len() < MIN_ETS {
        return None;
    }
    let model = MSTLModel::new(p, AutoETSTrendModel::from(AutoETS::non_seasonal()));
    let fit = model.fit(y).ok()?;
    Some(fit.predict(h, None).ok()?.point)
}

/// Seasonal indices of classical multiplicative decomposition with period m: the mean
/// ratio of y to its centred moving average at each position in the cycle, normalised to
/// average 1. None when y has fewer than 2m values or a value <= 0.
fn seasonal_indices(y: &[f64], m: usize) -> Option<Vec<f64>> {
    let n = y.len();
    if m < 2 || m > n / 2 || y.iter().any(|v| *v <= 0.0) {
        return None;
    }
    // The centred moving average of order m (2 x m when m is even).
    let half = m / 2;
    let mut sums = vec![0.0; m];
    let mut counts = vec![0usize; m];
    for t in half..n - half {
        let ma = if m % 2 == 1 {
            y[t - half..=t + half].iter().sum::<f64>() / m as f64
        } else {
            let inner: f64 = y[t + 1 - half..t + half].iter().sum();
            (inner + 0.5 * (y[t - half] + y[t + half])) / m as f64
        };
        sums[t % m] += y[t] / ma;
        counts[t % m] += 1;
    }
    if counts.contains(&0) {
        return None;
    }
    let mut idx: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(s, c)| s / *c as f64)
        .collect();
    let mean = idx.iter().sum::<f64>() / m as f64;
    idx.iter_mut().for_each(|v| *v /= mean);
    Some(idx)
}

/// The Theta method's test for a season (Assimakopoulos & Nikolopoulos): the
/// autocorrelation at lag m at the 90% level, with three cycles at least.
fn seasonal_by_acf(y: &[f64], m: usize) -> bool {
    m <= y.len() / 3 && crate::forecast::plan::significant_acf(y, m)
}

/// Simple exponential smoothing: the final level and the sum of squared one-step errors
/// for weight `alpha`, started at the first value.
fn ses(y: &[f64], alpha: f64) -> (f64, f64) {
    let mut level = y[0];
    let mut sse = 0.0;
    for v in &y[1..] {
        let e = v - level;
        sse += e * e;
        level += alpha * e;
    }
    (level, sse)
}

fn theta(y: &[f64], h: usize, season: Option<usize>) -> Option<Vec<f64>> {
    let n = y.len();
    if n < 3 {
        return None;
    }
    let idx = season
        .filter(|m| seasonal_by_acf(y, *m))
        .and_then(|m| seasonal_indices(y, m).map(|i| (m, i)));
    let adj: Vec<f64> = match &idx {
        Some((m, i)) => y.iter().enumerate().map(|(t, v)| v / i[t % m]).collect(),
        None => y.to_vec(),
    };
    // The weight of least squared error on a grid, then refined around the best point.
    let mut best = (0.5, f64::INFINITY);
    for k in 1..100 {
        let a = k as f64 / 100.0;
        let (_, sse) = ses(&adj, a);
        if sse < best.1 {
            best = (a, sse);
        }
    }
    for k in -10..=10 {
        let a = (best.0 + k as f64 / 1000.0).clamp(0.001, 0.999);
        let (_, sse) = ses(&adj, a);
        if sse < best.1 {
            best = (a, sse);
        }
    }
    let alpha = best.0;
    let (level, _) = ses(&adj, alpha);
    let tm = (n as f64 - 1.0) / 2.0;
    let ym = adj.iter().sum::<f64>() / n as f64;
    let (mut sty, mut stt) = (0.0, 0.0);
    for (t, v) in adj.iter().enumerate() {
        sty += (t as f64 - tm) * (v - ym);
        stt += (t as f64 - tm).powi(2);
    }
    let b = sty / stt;
    let tail = (1.0 - (1.0 - alpha).powi(n as i32)) / alpha;
    Some(
        (1..=h)
            .map(|s| {
                let f = level + 0.5 * b * (s as f64 - 1.0 + tail);
                match &idx {
                    Some((m, i)) => f * i[(n - 1 + s) % m],
                    None => f,
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seasonal(n: usize, m: usize, noise: f64) -> Vec<f64> {
        let mut rng = recurrent::rng::Rng::new(3);
        (0..n)
            .map(|t| {
                100.0
                    + 0.5 * t as f64
                    + 10.0 * (2.0 * std::f64::consts::PI * t as f64 / m as f64).sin()
                    + noise * rng.normal()
            })
            .collect()
    }

    #[test]
    fn theta_without_a_season_is_ses_plus_half_the_trend() {
        // A straight line: SES with alpha near 1 ends at the last value, and the slope is
        // exact, so the forecast continues the line at half its slope plus the SES lag.
        let y: Vec<f64> = (0..50).map(|t| 2.0 * t as f64).collect();
        let f = theta(&y, 3, None).unwrap();
        assert!(f[1] > f[0] && f[2] > f[1], "{f:?}");
        assert!(
            (f[1] - f[0] - 1.0).abs() < 1e-9,
            "half the slope per step: {f:?}"
        );
        // A constant series forecasts itself.
        let f = theta(&[5.0; 20], 4, Some(4)).unwrap();
        assert!(f.iter().all(|v| (v - 5.0).abs() < 1e-9), "{f:?}");
    }

    #[test]
    fn seasonal_indices_recover_a_multiplicative_season() {
        let pattern = [0.8, 1.0, 1.2, 1.0];
        let y: Vec<f64> = (0..40).map(|t| 50.0 * pattern[t % 4]).collect();
        let i = seasonal_indices(&y, 4).unwrap();
        for (a, b) in i.iter().zip(pattern) {
            assert!((a - b).abs() < 1e-9, "{i:?}");
        }
        assert!(seasonal_by_acf(&y, 4));
        assert!(seasonal_indices(&y[..7], 4).is_none());
    }

    #[test]
    fn every_method_beats_a_flat_line_on_a_trending_season() {
        let y = seasonal(120, 12, 1.0);
        let (hist, test) = y.split_at(108);
        let mae = |f: &[f64]| f.iter().zip(test).map(|(a, b)| (a - b).abs()).sum::<f64>() / 12.0;
        let flat = mae(&[hist[hist.len() - 1]; 12]);
        for m in [Method::Mstl, Method::Theta] {
            for t in [Transform::None, Transform::Log] {
                let f = forecast(m, t, hist, 12, &[12]).unwrap();
                assert!(mae(&f) < 0.6 * flat, "{m:?} {t:?}: {} vs {flat}", mae(&f));
            }
        }
        // MSTL follows the season and the trend within the noise.
        let f = forecast(Method::Mstl, Transform::None, hist, 12, &[12]).unwrap();
        assert!(mae(&f) < 2.0, "{}", mae(&f));
        // ETS has no season, but it tracks the level.
        let f = forecast(Method::Ets, Transform::None, hist, 12, &[12]).unwrap();
        assert!(mae(&f) < 12.0, "{}", mae(&f));
    }

    #[test]
    fn box_cox_round_trips_and_guerrero_finds_how_the_spread_grows() {
        let t = Transform::BoxCox { lambda: 0.5 };
        for v in [0.01, 1.0, 7.5, 1e4] {
            assert!((t.back(t.forward(v)) - v).abs() < 1e-9 * v.max(1.0));
        }
        // 0.5 maps y to 2 (sqrt(y) - 1): y = 9 gives 4.
        assert!((t.forward(9.0) - 4.0).abs() < 1e-12);
        assert!(
            t.back(-2.5).is_nan(),
            "below -1/lambda there is no positive value"
        );
        // Cycles of 12 around a level that steps up each cycle, with a spread that grows as
        // the level (a multiplicative season), not at all (an additive one), or as its
        // square root: the logarithm, the values, and the power one half.
        let season = |t: usize| (std::f64::consts::PI * t as f64 / 6.0).sin();
        let level = |t: usize| 10.0 * ((t / 12 + 1) as f64).powi(2);
        let mult: Vec<f64> = (0..120)
            .map(|t| level(t) * (1.0 + 0.2 * season(t)))
            .collect();
        let add: Vec<f64> = (0..120).map(|t| level(t) + 2.0 * season(t)).collect();
        let sqrt: Vec<f64> = (0..120)
            .map(|t| level(t) + level(t).sqrt() * season(t))
            .collect();
        assert_eq!(guerrero(&mult, Some(12)), Some(0.0));
        assert_eq!(guerrero(&add, Some(12)), Some(1.0));
        let l = guerrero(&sqrt, Some(12)).unwrap();
        assert_eq!(l, 0.5);
        // Only the powers apart from 0 and 1 become their own candidate.
        assert_eq!(candidate_transforms(&mult, Some(12)).len(), 2);
        assert_eq!(
            candidate_transforms(&sqrt, Some(12))[2],
            Transform::BoxCox { lambda: l }
        );
        assert_eq!(guerrero(&[1.0, -2.0, 3.0, 4.0], None), None);
        assert_eq!(guerrero(&[1.0, 2.0, 3.0], Some(12)), None);
    }

    #[test]
    fn methods_refuse_what_they_cannot_run() {
        assert!(forecast(Method::Ets, Transform::Log, &[1.0, -1.0, 2.0], 2, &[]).is_none());
        assert!(forecast(Method::SeasonalNaive, Transform::None, &[1.0; 10], 2, &[]).is_none());
        assert!(forecast(Method::Ets, Transform::None, &[1.0, 2.0], 2, &[]).is_none());
        assert_eq!(usable_periods(&[12, 7, 48, 12], 30), vec![7, 12]);
    }
}
