//! The forecaster a user gets by default: the recurrent model and the classical methods,
//! each on the values or their logarithm, chosen or combined by rolling-origin validation
//! inside the training rows (never the test rows).
//!
//! ## Selection
//! At up to [`MAX_ORIGINS`] validation origins o (the recurrent model's validation origins,
//! evenly thinned), every member forecasts rows o+1.. from rows [0, o] only: the classical
//! methods are refit at each origin, the recurrent model is the held-out run's best
//! checkpoint, which never trained on a validation target. A candidate's score is its mean
//! absolute error over all those points divided by the in-sample seasonal-naive MAE of the
//! fit rows (MASE). The candidates:
//! - each classical method with the transform (none or log) that validated better;
//! - the recurrent model;
//! - the median of the recurrent model, ETS, MSTL and Theta (each with its transform):
//!   combinations are what won the M3 and M4 competitions on average;
//! - the mean of the recurrent model and the best classical method.
//!
//! A single member replaces the median combination only when it validates at least
//! [`SINGLE_MARGIN`] better: with a few origins a single method's lead is mostly noise,
//! while a median rarely does badly.
//!
//! ## Intervals
//! The chosen forecaster's validation errors give sigma_s, the RMS error s steps ahead
//! (made non-decreasing in s; beyond the steps validated it grows as sqrt(s)). Intervals
//! are f +- z sigma_s with z = 1.2816 (80%) and 1.96 (95%).

use crate::forecast::classical::{self, Method, Transform};
use serde::{Deserialize, Serialize};

/// Validation origins at most: each classical method is refit once per origin.
pub const MAX_ORIGINS: usize = 12;

/// How much better (relative) a single member must validate than the median combination.
pub const SINGLE_MARGIN: f64 = 0.10;

/// z of the two-sided 80% and 95% normal intervals.
pub const Z80: f64 = 1.281_551_565_5;
pub const Z95: f64 = 1.959_963_985;

/// One forecaster inside a combination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
            Member::Classical {
                method,
                transform: Transform::None,
            } => method.name().into(),
            Member::Classical { method, .. } => format!("{}(log)", method.name()),
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
    /// Validation MASE of the chosen candidate.
    pub val_mase: f64,
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
    /// The half-width of the interval at `z` for `steps` steps ahead (None without sigma).
    pub fn half_widths(&self, steps: usize, z: f64) -> Option<Vec<f64>> {
        let k = self.sigma.len();
        if k == 0 {
            return None;
        }
        Some(
            (1..=steps)
                .map(|s| {
                    let sg = if s <= k {
                        self.sigma[s - 1]
                    } else {
                        self.sigma[k - 1] * (s as f64 / k as f64).sqrt()
                    };
                    z * sg
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

/// Chooses the default forecaster (see the module docs). `y` holds the rows before the
/// test rows; `rnn[i]` the recurrent model's forecasts at `origins[i]` (None: no network);
/// `scale` the MASE denominator.
pub fn select(
    y: &[f64],
    origins: &Origins,
    rnn: Option<&[Vec<f64>]>,
    periods: &[usize],
    scale: f64,
) -> Selection {
    let actual = |o: usize, s: usize| y[o + 1 + s];
    let score = |t: &[Vec<f64>]| -> f64 {
        let (mut e, mut k) = (0.0, 0usize);
        for (f, &(o, steps)) in t.iter().zip(origins) {
            for (s, v) in f.iter().enumerate().take(steps) {
                e += (actual(o, s) - v).abs();
                k += 1;
            }
        }
        if k == 0 || scale <= 0.0 {
            f64::INFINITY
        } else {
            e / k as f64 / scale
        }
    };
    let track = |m: Method, t: Transform| -> Track {
        origins
            .iter()
            .map(|&(o, steps)| classical::forecast(m, t, &y[..=o], steps, periods))
            .collect()
    };
    // Each classical method with its better transform.
    let mut members: Vec<(Member, Vec<Vec<f64>>, f64)> = Vec::new();
    for m in Method::ALL {
        let mut best: Option<(Member, Vec<Vec<f64>>, f64)> = None;
        for t in [Transform::None, Transform::Log] {
            if let Some(tr) = track(m, t) {
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
    let mut candidates: Vec<(Vec<Member>, Vec<Vec<f64>>, f64)> = members
        .iter()
        .map(|(m, t, s)| (vec![*m], t.clone(), *s))
        .collect();
    let core: Vec<&(Member, Vec<Vec<f64>>, f64)> = members
        .iter()
        .filter(|(m, _, _)| {
            matches!(
                m,
                Member::Rnn
                    | Member::Classical {
                        method: Method::Ets | Method::Mstl | Method::Theta,
                        ..
                    }
            )
        })
        .collect();
    let blend = |set: &[&(Member, Vec<Vec<f64>>, f64)]| -> (Vec<Member>, Vec<Vec<f64>>, f64) {
        let t: Vec<Vec<f64>> = origins
            .iter()
            .enumerate()
            .map(|(i, &(_, steps))| {
                let f: Vec<Vec<f64>> = set.iter().map(|m| m.1[i].clone()).collect();
                combine(&f, steps)
            })
            .collect();
        let s = score(&t);
        (set.iter().map(|m| m.0).collect(), t, s)
    };
    let mut median_score = f64::INFINITY;
    if core.len() >= 2 {
        let c = blend(&core);
        median_score = c.2;
        candidates.push(c);
    }
    let best_classical = members
        .iter()
        .filter(|m| m.0 != Member::Rnn)
        .min_by(|a, b| a.2.total_cmp(&b.2));
    if let (Some(r), Some(b)) = (members.iter().find(|m| m.0 == Member::Rnn), best_classical) {
        candidates.push(blend(&[r, b]));
    }
    candidates.sort_by(|a, b| a.2.total_cmp(&b.2));
    let names: Vec<(String, f64)> = candidates.iter().map(|(m, _, s)| (label(m), *s)).collect();
    let best = candidates
        .iter()
        .find(|c| c.0.len() > 1 || c.2 < (1.0 - SINGLE_MARGIN) * median_score)
        .or(candidates.first());
    let (chosen, reason) = match best {
        Some((m, t, s)) => {
            let why = if m.len() == core.len() && m.len() > 1 {
                format!("the median of {} validated best or within {:.0}% of the best single forecaster", label(m), 100.0 * SINGLE_MARGIN)
            } else {
                format!("{} validated best (MASE {s:.3})", label(m))
            };
            (
                Combination {
                    members: m.clone(),
                    periods: periods.to_vec(),
                    sigma: sigmas(t, origins, y),
                    val_mase: *s,
                },
                why,
            )
        }
        None => (
            Combination {
                members: vec![Member::Rnn],
                periods: periods.to_vec(),
                sigma: Vec::new(),
                val_mase: f64::INFINITY,
            },
            "no validation origins: the network alone".into(),
        ),
    };
    Selection {
        chosen,
        candidates: names,
        reason: format!("{reason}, over {} validation origins", origins.len()),
    }
}

fn label(m: &[Member]) -> String {
    let names: Vec<String> = m.iter().map(|m| m.name()).collect();
    if names.len() == 1 {
        names[0].clone()
    } else {
        format!("[{}]", names.join(", "))
    }
}

/// RMS error s steps ahead over the origins that reach s, made non-decreasing in s.
fn sigmas(t: &[Vec<f64>], origins: &Origins, y: &[f64]) -> Vec<f64> {
    let h = origins.iter().map(|o| o.1).max().unwrap_or(0);
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
        let v = if k > 0 { (se / k as f64).sqrt() } else { prev };
        prev = prev.max(v);
        out.push(prev);
    }
    out
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
        let c = Combination {
            members: vec![Member::Rnn],
            periods: vec![],
            sigma: vec![1.0, 2.0],
            val_mase: 1.0,
        };
        let w = c.half_widths(8, 1.0).unwrap();
        assert_eq!(&w[..2], &[1.0, 2.0]);
        assert!((w[7] - 2.0 * 2.0f64.sqrt() * 2.0f64.sqrt()).abs() < 1e-12);
        assert!(sigmas(&[vec![0.0, 0.0]], &[(0, 2)], &[0.0, 3.0, 1.0]) == vec![3.0, 3.0]);
    }

    #[test]
    fn a_seasonal_series_selects_a_seasonal_forecaster_from_its_own_rows() {
        let y: Vec<f64> = (0..96)
            .map(|t| 50.0 + 0.3 * t as f64 + 8.0 * (std::f64::consts::PI * t as f64 / 6.0).sin())
            .collect();
        let origins: Vec<(usize, usize)> = (70..90).map(|o| (o, 6.min(95 - o))).collect();
        let sel = select(&y, &thin(&origins), None, &[12], 8.0);
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
        let sel = select(&y[..267], &thin(&origins), None, &[12], 1.0);
        let c = &sel.chosen;
        let (w80, w95) = (
            c.half_widths(h, Z80).unwrap(),
            c.half_widths(h, Z95).unwrap(),
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
        let (c80, c95) = (in80 as f64 / n as f64, in95 as f64 / n as f64);
        assert!(
            (0.7..=0.9).contains(&c80),
            "80% interval holds {c80} ({sel:?})"
        );
        assert!((0.88..=0.99).contains(&c95), "95% interval holds {c95}");
    }
}
