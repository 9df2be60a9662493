//! The forecaster a user gets by default: the recurrent model and the classical methods,
//! each on the values, their logarithm or a Box-Cox power, chosen or combined by rolling-origin validation
//! inside the training rows (never the test rows).
//!
//! ## Selection
//! At up to [`MAX_ORIGINS`] validation origins o (the recurrent model's validation origins,
//! evenly thinned), every member forecasts rows o+1.. from rows [0, o] only: the classical
//! methods are refit at each origin, the recurrent model is the held-out run's best
//! checkpoint, which never trained on a validation target. A candidate's score is its mean
//! absolute error over all those points divided by the in-sample seasonal-naive MAE of the
//! fit rows (MASE). The members: each classical method with the transform (none, log, or
//! Box-Cox with Guerrero's power from the rows before the first origin)
//! that validated better, and the recurrent model. The forecaster is the median of the
//! [`TOP`] members that validated best, less those more than [`MAX_RATIO`] times worse
//! than the best (the mean of two, or one alone, when so few remain).
//!
//! Why the top three and not the single best: with a dozen origins a single member's lead
//! is mostly noise, and combinations are what won the M3 and M4 competitions on average;
//! why not all members: the naive rules and a method that cannot follow the season pull a
//! median of everything towards them. On the 20 shared series (scripts/forecast_protocol.py,
//! docs/results.md) the geometric-mean MASE against ETS's was 0.97 (8 origins), 0.94 (12)
//! and 0.95 (24) with the top three; 0.99-1.02 choosing the best single member unless the
//! median of RNN, ETS, MSTL and Theta was within 10%; 0.97 with the top two, 1.01 with the
//! top five. Leaving out members twice as bad as the best: 0.94 (0.93 at 1.5 and at 3
//! times), and it keeps airline's seasonal naive (4.5 times worse in validation) out of
//! its median.
//!
//! ## Intervals
//! The chosen forecaster's validation errors give sigma_s, the RMS error s steps ahead,
//! shrunk towards the in-sample error of the naive rules when there are few validation
//! points (see `sigmas`), for s = 1..=H; past H it grows as sqrt(s). Intervals are
//! f +- q_s sigma_s, with q_s the quantile of Student's t with as many degrees of freedom
//! as the validation has independent s-step paths (see `paths`), at least 2: a scale
//! estimated from a dozen origins that overlap is itself uncertain, the more so the
//! further ahead (validation origins one row apart share s - 1 of their s steps). A
//! normal quantile (1.28 for 80%) took the dozen as a dozen: on the 20 shared series the
//! 80% interval held 52% of the test points and the 95% one 74%; with t, 63% and 89%.

use crate::forecast::classical::{self, Method, Transform};
use serde::{Deserialize, Serialize};

/// Validation origins at most: each classical method is refit once per origin.
pub const MAX_ORIGINS: usize = 12;

/// The members the default forecaster takes the median of, at most.
pub const TOP: usize = 3;

/// A member that validates more than this many times worse than the best is left out of
/// the median even when it is among the [`TOP`].
pub const MAX_RATIO: f64 = 2.0;

/// The central coverage of the two intervals every forecast carries.
pub const L80: f64 = 0.80;
pub const L95: f64 = 0.95;

/// The fewest degrees of freedom an interval's t quantile takes: one path would make the
/// 95% interval 12.7 sigma wide; below two a t has no finite variance to speak of.
const MIN_DF: f64 = 2.0;

/// The two-sided `level` quantile of the standard normal (1.2816 at 80%).
pub fn normal_quantile(level: f64) -> f64 {
    distrs::Normal::ppf(0.5 + level / 2.0, 0.0, 1.0)
}

/// One forecaster inside a combination.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Member {
    /// The recurrent network of the checkpoint.
    Rnn,
    /// A classical method refit on the history given.
    Classical {
        method: Method,
        transform: Transform,
    },
}

impl Member {
    /// The name in tables and on stderr (`mstl(log)`).
    pub fn name(&self) -> String {
        match self {
            Member::Rnn => "rnn".into(),
            Member::Classical { method, transform } => {
                format!("{}{}", method.name(), transform.suffix())
            }
        }
    }
}

/// The stored default forecaster: the median of its members' forecasts (the mean for
/// two), and the interval widths its validation errors gave.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Combination {
    pub members: Vec<Member>,
    /// The seasonal periods the classical methods use (the main one first).
    pub periods: Vec<usize>,
    /// RMS validation error s steps ahead, s = 1..; empty: no intervals.
    pub sigma: Vec<f64>,
    /// Degrees of freedom of the t quantile s steps ahead, s = 1..; empty (a checkpoint
    /// from before they were stored): normal quantiles.
    #[serde(default)]
    pub df: Vec<f64>,
    /// Validation MASE of the chosen candidate.
    /// (JSON has no infinity: one is written as null, and read back from it.)
    #[serde(deserialize_with = "null_is_infinite")]
    pub val_mase: f64,
}

fn null_is_infinite<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

/// The median of the values (the mean of the middle two for an even count).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Combines member forecasts (each of `h` values) point by point.
pub fn combine(forecasts: &[Vec<f64>], h: usize) -> Vec<f64> {
    (0..h)
        .map(|s| {
            let mut v: Vec<f64> = forecasts.iter().map(|f| f[s]).collect();
            median(&mut v)
        })
        .collect()
}

impl Combination {
    /// The half-widths of the central `level` interval (0.8 for 80%) for `steps` steps
    /// ahead, never narrower further ahead (None without sigma).
    pub fn half_widths(&self, steps: usize, level: f64) -> Option<Vec<f64>> {
        let k = self.sigma.len();
        if k == 0 {
            return None;
        }
        let z = normal_quantile(level);
        let mut widest: f64 = 0.0;
        Some(
            (1..=steps)
                .map(|s| {
                    let sg = if s <= k {
                        self.sigma[s - 1]
                    } else {
                        self.sigma[k - 1] * (s as f64 / k as f64).sqrt()
                    };
                    let q = match self.df.get(s.min(k) - 1) {
                        Some(&df) => distrs::StudentsT::ppf(0.5 + level / 2.0, df.max(MIN_DF)),
                        None => z,
                    };
                    widest = widest.max(q * sg);
                    widest
                })
                .collect(),
        )
    }

    /// The classical members' forecasts of `h` values after `y`, in member order, with
    /// `rnn` standing in for the recurrent member. None if a member cannot forecast.
    pub fn member_forecasts(
        &self,
        y: &[f64],
        h: usize,
        rnn: Option<&[f64]>,
    ) -> Option<Vec<Vec<f64>>> {
        self.members
            .iter()
            .map(|m| match m {
                Member::Rnn => rnn.map(|r| r[..h].to_vec()),
                Member::Classical { method, transform } => {
                    classical::forecast(*method, *transform, y, h, &self.periods)
                }
            })
            .collect()
    }
}

/// The validation points: origins with the steps each forecasts.
pub type Origins = [(usize, usize)];

/// Thins `origins` to at most [`MAX_ORIGINS`], evenly spaced, keeping the last.
pub fn thin(origins: &Origins) -> Vec<(usize, usize)> {
    let n = origins.len();
    if n <= MAX_ORIGINS {
        return origins.to_vec();
    }
    (0..MAX_ORIGINS)
        .map(|k| origins[n - 1 - k * (n - 1) / (MAX_ORIGINS - 1)])
        .rev()
        .collect()
}

/// What the selection tried and what it chose.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Selection {
    pub chosen: Combination,
    /// Each candidate's name and validation MASE, best first.
    pub candidates: Vec<(String, f64)>,
    /// Why: one line for stderr.
    pub reason: String,
}

/// Forecasts of one member at every origin: [origin][step], or None if it failed anywhere.
type Track = Option<Vec<Vec<f64>>>;

/// `method`'s forecasts on `transform`ed values at every origin of `y`, each fit on the
/// rows up to its origin: [origin][step], None where it cannot run at one of them.
fn track(
    method: Method,
    transform: Transform,
    y: &[f64],
    origins: &Origins,
    periods: &[usize],
) -> Track {
    par_map(origins, |&(o, steps)| {
        classical::forecast(method, transform, &y[..=o], steps, periods)
    })
    .into_iter()
    .collect()
}

/// `f` of every item, in order, computed on up to `recurrent::threads()` threads. The
/// origins of a track are independent fits (AutoETS on a 4,000-row series takes a few
/// tenths of a second each), so they split across the cores the training uses.
pub(crate) fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = recurrent::kernels::threads().min(items.len());
    if workers <= 1 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        mine.push((i, f(item)));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    done.sort_unstable_by_key(|d| d.0);
    done.into_iter().map(|d| d.1).collect()
}

/// The validation MASE of `method` on `transform`ed values over `origins` of `y`, or None
/// where the method cannot run.
pub fn validate(
    method: Method,
    transform: Transform,
    y: &[f64],
    origins: &Origins,
    periods: &[usize],
    scale: f64,
) -> Option<f64> {
    let t = track(method, transform, y, origins, periods)?;
    Some(mase_of(&t, y, origins, scale))
}

/// Mean absolute error of the forecasts `t` at `origins` over `scale`.
fn mase_of(t: &[Vec<f64>], y: &[f64], origins: &Origins, scale: f64) -> f64 {
    let (mut e, mut k) = (0.0, 0usize);
    for (f, &(o, steps)) in t.iter().zip(origins) {
        for (s, v) in f.iter().enumerate().take(steps) {
            e += (y[o + 1 + s] - v).abs();
            k += 1;
        }
    }
    if k == 0 || scale <= 0.0 {
        f64::INFINITY
    } else {
        e / k as f64 / scale
    }
}

/// Chooses the default forecaster (see the module docs). `y` holds the rows before the
/// test rows; `horizon` the steps intervals are wanted for; `rnn[i]` the recurrent model's
/// forecasts at `origins[i]` (None: no network); `scale` the MASE denominator.
pub fn select(
    y: &[f64],
    horizon: usize,
    origins: &Origins,
    rnn: Option<&[Vec<f64>]>,
    periods: &[usize],
    scale: f64,
) -> Selection {
    let score = |t: &[Vec<f64>]| -> f64 { mase_of(t, y, origins, scale) };
    // Each classical method with its better transform, then the network.
    // Guerrero's power from the rows before the first origin: no validation target
    // decides a transform that validation then scores.
    let first = origins.first().map_or(y.len(), |o| o.0 + 1);
    let transforms = classical::candidate_transforms(&y[..first], periods.first().copied());
    let mut members: Vec<(Member, Vec<Vec<f64>>, f64)> = Vec::new();
    for m in Method::ALL {
        let mut best: Option<(Member, Vec<Vec<f64>>, f64)> = None;
        for &t in &transforms {
            if let Some(tr) = track(m, t, y, origins, periods) {
                let sc = score(&tr);
                if best.as_ref().is_none_or(|b| sc < b.2) {
                    best = Some((
                        Member::Classical {
                            method: m,
                            transform: t,
                        },
                        tr,
                        sc,
                    ));
                }
            }
        }
        members.extend(best);
    }
    if let Some(r) = rnn {
        members.push((Member::Rnn, r.to_vec(), score(r)));
    }
    // A stable sort: ties keep the order above (classical methods before the network).
    members.sort_by(|a, b| a.2.total_cmp(&b.2));
    let candidates: Vec<(String, f64)> = members.iter().map(|(m, _, s)| (m.name(), *s)).collect();
    if members.is_empty() || origins.is_empty() {
        return Selection {
            chosen: Combination {
                members: vec![Member::Rnn],
                periods: periods.to_vec(),
                sigma: Vec::new(),
                df: Vec::new(),
                val_mase: f64::INFINITY,
            },
            candidates,
            reason: "no validation origins: the network alone".into(),
        };
    }
    let best = members[0].2;
    let k = members
        .iter()
        .take(TOP)
        .filter(|m| m.2 <= MAX_RATIO * best)
        .count()
        .max(1);
    let top = &members[..k];
    let t: Vec<Vec<f64>> = origins
        .iter()
        .enumerate()
        .map(|(i, &(_, steps))| {
            let f: Vec<Vec<f64>> = top.iter().map(|m| m.1[i].clone()).collect();
            combine(&f, steps)
        })
        .collect();
    let val_mase = score(&t);
    let chosen: Vec<Member> = top.iter().map(|m| m.0).collect();
    Selection {
        reason: format!(
            "the median of the {} best of {} forecasters over {} validation origin(s): MASE {val_mase:.3}",
            chosen.len(),
            members.len(),
            origins.len()
        ),
        chosen: Combination {
            sigma: sigmas(&t, origins, y, horizon, periods.first().copied()),
            df: paths(origins, horizon),
            members: chosen,
            periods: periods.to_vec(),
            val_mase,
        },
        candidates,
    }
}

/// Validation points a step's own errors must outweigh before they set its width alone.
pub const PRIOR_POINTS: f64 = 8.0;

/// The interval scale s steps ahead, s = 1..=h: the RMS validation error of the chosen
/// forecaster, shrunk towards a prior as a variance with [`PRIOR_POINTS`] points of
/// weight, then made non-decreasing in s:
///   sigma_s^2 = (k_s v_s^2 + K0 p_s^2) / (k_s + K0)
/// with k_s the validation points s steps ahead, v_s their RMS error, and p_s the smaller
/// in-sample RMS s-step error of the naive and seasonal naive rules on `y` (rows before
/// the test). A few validation origins, or none that reach s, then give the width of a
/// rule that is known to hold on this series instead of an accident of those points.
fn sigmas(
    t: &[Vec<f64>],
    origins: &Origins,
    y: &[f64],
    h: usize,
    season: Option<usize>,
) -> Vec<f64> {
    let mut out = Vec::with_capacity(h);
    let mut prev: f64 = 0.0;
    for s in 0..h {
        let (mut se, mut k) = (0.0, 0usize);
        for (f, &(o, steps)) in t.iter().zip(origins) {
            if s < steps {
                se += (y[o + 1 + s] - f[s]).powi(2);
                k += 1;
            }
        }
        let p2 = prior_variance(y, s + 1, season);
        let v = match p2 {
            Some(p2) => ((se + PRIOR_POINTS * p2) / (k as f64 + PRIOR_POINTS)).sqrt(),
            None if k > 0 => (se / k as f64).sqrt(),
            None => prev,
        };
        prev = prev.max(v);
        out.push(prev);
    }
    out
}

/// The independent s-step paths among the validation origins, s = 1..=h: k_s, the origins
/// that reach s steps ahead, or (span_s / s) + 1 when fewer (span_s: the rows between the
/// first and the last of them), since errors s steps ahead from origins closer than s rows
/// share steps. Past the steps any origin reaches it keeps the last value (at least 1).
fn paths(origins: &Origins, h: usize) -> Vec<f64> {
    let mut last = 1.0;
    (1..=h)
        .map(|s| {
            let reach: Vec<usize> = origins.iter().filter(|o| o.1 >= s).map(|o| o.0).collect();
            if let (Some(first), Some(end)) = (reach.first(), reach.last()) {
                let span = end.abs_diff(*first) as f64;
                last = (reach.len() as f64).min(span / s as f64 + 1.0);
            }
            last
        })
        .collect()
}

/// The smaller mean squared in-sample error, `s` steps ahead, of the naive rule
/// (y_{t+s} - y_t) and the seasonal naive rule (y_{t+s} - y_{t+s-m ceil(s/m)}).
fn prior_variance(y: &[f64], s: usize, season: Option<usize>) -> Option<f64> {
    let mse = |lag: usize| -> Option<f64> {
        (lag > 0 && y.len() > lag + 1).then(|| {
            let n = y.len() - lag;
            y[lag..]
                .iter()
                .zip(y)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                / n as f64
        })
    };
    let naive = mse(s);
    let seasonal = season
        .filter(|m| *m > 1)
        .and_then(|m| mse(m * s.div_ceil(m)));
    match (naive, seasonal) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_combine_take_the_middle() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0]), 2.5);
        let f = combine(&[vec![1.0, 10.0], vec![2.0, 20.0], vec![9.0, 0.0]], 2);
        assert_eq!(f, vec![2.0, 10.0]);
    }

    #[test]
    fn a_combination_without_a_finite_score_survives_its_checkpoint() {
        let c = Combination {
            members: vec![Member::Rnn],
            periods: vec![12],
            sigma: vec![],
            df: vec![],
            val_mase: f64::INFINITY,
        };
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"val_mase\":null"), "{json}");
        let back: Combination = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn thinning_keeps_the_last_origin_and_spreads_the_rest() {
        let o: Vec<(usize, usize)> = (0..30).map(|i| (i, 3)).collect();
        let t = thin(&o);
        assert_eq!(t.len(), MAX_ORIGINS);
        assert_eq!(t.last(), Some(&(29, 3)));
        assert_eq!(t[0], (0, 3));
        assert_eq!(thin(&o[..5]), o[..5].to_vec());
    }

    #[test]
    fn intervals_grow_with_the_horizon_beyond_the_validated_steps() {
        let mut c = Combination {
            members: vec![Member::Rnn],
            periods: vec![],
            sigma: vec![1.0, 2.0],
            df: vec![],
            val_mase: 1.0,
        };
        // Without degrees of freedom (an older checkpoint): normal quantiles.
        let z = normal_quantile(L80);
        assert!((z - 1.281_551_565_5).abs() < 1e-9, "{z}");
        let w = c.half_widths(8, L80).unwrap();
        assert!((w[0] - z).abs() < 1e-12 && (w[1] - 2.0 * z).abs() < 1e-12);
        assert!((w[7] - z * 2.0 * 2.0f64.sqrt() * 2.0f64.sqrt()).abs() < 1e-12);
        // With them: Student's t quantiles (scipy.stats.t.ppf), never below MIN_DF.
        c.df = vec![12.0, 0.5];
        let w = c.half_widths(3, L80).unwrap();
        assert!((w[0] - 1.356_217_334_023_205).abs() < 1e-6, "{w:?}");
        assert!((w[1] - 2.0 * 1.885_618_083_164_126_7).abs() < 1e-6, "{w:?}");
        let w95 = c.half_widths(1, L95).unwrap();
        assert!((w95[0] - 2.178_812_829_667_228_4).abs() < 1e-6, "{w95:?}");
        // One validation point of error 3 against a prior of naive errors: shrunk towards it.
        let y = [0.0, 3.0, 1.0, 2.0, 0.0];
        let sg = sigmas(&[vec![0.0]], &[(0, 1)], &y, 2, None);
        let p1 = prior_variance(&y, 1, None).unwrap();
        assert!((p1 - (9.0 + 4.0 + 1.0 + 4.0) / 4.0).abs() < 1e-12);
        assert!((sg[0] - ((9.0 + PRIOR_POINTS * p1) / (1.0 + PRIOR_POINTS)).sqrt()).abs() < 1e-12);
        // Step 2 has no validation point: the prior alone, never below step 1.
        let p2 = prior_variance(&y, 2, None).unwrap();
        assert!((sg[1] - p2.sqrt().max(sg[0])).abs() < 1e-12);
    }

    #[test]
    fn validation_paths_count_origins_whose_steps_do_not_overlap() {
        // Twelve origins one row apart, each forecasting 4 steps (the last ones fewer).
        let o: Vec<(usize, usize)> = (0..12).map(|i| (i, 4.min(12 - i))).collect();
        let p = paths(&o, 6);
        // One step ahead every origin is its own path; four ahead, origins 0..=8 span 8
        // rows, so 8 / 4 + 1 = 3 independent paths; past 4 the last count stays.
        assert_eq!(p[0], 12.0);
        assert!((p[1] - (10.0f64).min(10.0 / 2.0 + 1.0)).abs() < 1e-12);
        assert!((p[3] - 3.0).abs() < 1e-12, "{p:?}");
        assert_eq!(p[4], p[3]);
        assert_eq!(p[5], p[3]);
    }

    #[test]
    fn a_seasonal_series_selects_a_seasonal_forecaster_from_its_own_rows() {
        let y: Vec<f64> = (0..96)
            .map(|t| 50.0 + 0.3 * t as f64 + 8.0 * (std::f64::consts::PI * t as f64 / 6.0).sin())
            .collect();
        let origins: Vec<(usize, usize)> = (70..90).map(|o| (o, 6.min(95 - o))).collect();
        let sel = select(&y, 6, &thin(&origins), None, &[12], 8.0);
        let ms: Vec<Member> = sel.chosen.members.clone();
        assert!(
            !ms.contains(&Member::Classical {
                method: Method::Naive,
                transform: Transform::None
            }),
            "{sel:?}"
        );
        assert!(sel.chosen.val_mase < 0.5, "{sel:?}");
        assert!(!sel.chosen.sigma.is_empty());
    }

    #[test]
    fn intervals_cover_their_share_of_a_series_with_known_noise() {
        // A fixed season plus N(0, 1) noise: the forecast errors are the noise, so the
        // 80% and 95% intervals should hold about 80% and 95% of the later points.
        let mut rng = recurrent::rng::Rng::new(11);
        let y: Vec<f64> = (0..600)
            .map(|t| 100.0 + 10.0 * (std::f64::consts::PI * t as f64 / 6.0).sin() + rng.normal())
            .collect();
        let h = 6;
        let origins: Vec<(usize, usize)> = (200..260).map(|o| (o, h)).collect();
        let sel = select(&y[..267], h, &thin(&origins), None, &[12], 1.0);
        let c = &sel.chosen;
        let (w80, w95) = (
            c.half_widths(h, L80).unwrap(),
            c.half_widths(h, L95).unwrap(),
        );
        let (mut in80, mut in95, mut n) = (0, 0, 0);
        for o in (300..590).step_by(h) {
            let f = combine(&c.member_forecasts(&y[..=o], h, None).unwrap(), h);
            for s in 0..h {
                let e = (y[o + 1 + s] - f[s]).abs();
                in80 += usize::from(e <= w80[s]);
                in95 += usize::from(e <= w95[s]);
                n += 1;
            }
        }
        // On this series the widths lean wide (88% and 98% with normal quantiles, 90% and
        // 99.3% with t): the seasonal-naive prior's error is sqrt(2) times the noise. Real
        // series lean the other way (see the module docs), so the bounds allow the lean.
        let (c80, c95) = (in80 as f64 / n as f64, in95 as f64 / n as f64);
        assert!(
            (0.7..=0.92).contains(&c80),
            "80% interval holds {c80} ({sel:?})"
        );
        assert!((0.88..=0.995).contains(&c95), "95% interval holds {c95}");
    }
}
