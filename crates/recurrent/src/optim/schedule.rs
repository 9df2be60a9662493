//! Learning-rate schedules and early stopping.
//!
//! The step-based schedules ([`Schedule`]: constant, step decay, cosine annealing, each with an
//! optional linear warm-up) are pure functions of the update number, so a resumed run asks
//! [`Schedule::lr_at`] and lands on the very rate an uninterrupted run would use. The
//! metric-driven ones ([`ReduceLrOnPlateau`], [`EarlyStopping`]) carry a small state that
//! serialises with serde for checkpoints.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The decay that follows the warm-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LrSchedule {
    /// lr(s) = lr.
    #[default]
    Constant,
    /// PyTorch's `StepLR`: lr(s) = lr * gamma^floor(s / step_size).
    Step {
        /// Updates between two decays (>= 1).
        step_size: u64,
        /// The factor of each decay, in (0, 1].
        gamma: f64,
    },
    /// PyTorch's `CosineAnnealingLR` (closed form) over `steps` updates, then held at `min_lr`:
    /// lr(s) = min_lr + (lr - min_lr) (1 + cos(pi s / steps)) / 2 for s < steps.
    Cosine {
        /// Updates from `lr` down to `min_lr` (>= 1).
        steps: u64,
        /// The final rate, in [0, lr].
        min_lr: f64,
    },
}

/// A learning rate as a function of the update number `s` (0 for the first update).
///
/// With `warmup = W > 0` the first W updates ramp linearly, lr(s) = lr * (s + 1) / W, and the
/// decay then starts from its own step 0 at s = W: lr(s) = decay(s - W). Cosine's `steps`
/// therefore counts the updates after the warm-up.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// The base (peak) learning rate.
    pub lr: f64,
    /// Warm-up updates W (default 0: none).
    #[serde(default)]
    pub warmup: u64,
    /// What follows the warm-up (default constant).
    #[serde(default)]
    pub decay: LrSchedule,
}

impl Schedule {
    /// A constant rate.
    pub fn constant(lr: f64) -> Self {
        Schedule {
            lr,
            warmup: 0,
            decay: LrSchedule::Constant,
        }
    }
    /// Step decay: multiply by `gamma` every `step_size` updates.
    pub fn step(lr: f64, step_size: u64, gamma: f64) -> Self {
        Schedule {
            decay: LrSchedule::Step { step_size, gamma },
            ..Schedule::constant(lr)
        }
    }
    /// Cosine annealing from `lr` to `min_lr` over `steps` updates.
    pub fn cosine(lr: f64, steps: u64, min_lr: f64) -> Self {
        Schedule {
            decay: LrSchedule::Cosine { steps, min_lr },
            ..Schedule::constant(lr)
        }
    }
    /// Adds a linear warm-up of `steps` updates in front of this schedule.
    pub fn with_warmup(mut self, steps: u64) -> Self {
        self.warmup = steps;
        self
    }

    /// Errors on a negative or non-finite rate, a zero step size or cosine length, or a
    /// gamma outside (0, 1] (checked once, so [`Schedule::lr_at`] need not).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return bad(format!("learning rate must be >= 0, got {}", self.lr));
        }
        match self.decay {
            LrSchedule::Constant => Ok(()),
            LrSchedule::Step { step_size, gamma } => {
                if step_size == 0 {
                    bad("step decay needs step_size >= 1".into())
                } else if !(gamma > 0.0 && gamma <= 1.0) {
                    bad(format!("step decay gamma must be in (0, 1], got {gamma}"))
                } else {
                    Ok(())
                }
            }
            LrSchedule::Cosine { steps, min_lr } => {
                if steps == 0 {
                    bad("cosine schedule needs steps >= 1".into())
                } else if !(min_lr.is_finite() && (0.0..=self.lr).contains(&min_lr)) {
                    bad(format!(
                        "cosine min_lr must be in [0, lr = {}], got {min_lr}",
                        self.lr
                    ))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The rate of update `s` when the decay runs over a time budget: the warm-up still
    /// counts updates, and cosine follows `fraction` (the share of the budget used, 0 to 1)
    /// in place of s / steps. A run bounded only by seconds has no step count to anneal
    /// over; this keeps the curve's shape, at the price of bit-reproducibility, which such
    /// a run has lost anyway.
    pub fn lr_at_fraction(&self, s: u64, fraction: f64) -> f64 {
        match self.decay {
            LrSchedule::Cosine { min_lr, .. } if s >= self.warmup => {
                self.cosine_at(min_lr, std::f64::consts::PI * fraction.clamp(0.0, 1.0))
            }
            _ => self.lr_at(s),
        }
    }

    /// The cosine curve at `phase` (0 at the start, pi at the end) from `lr` to `min_lr`.
    fn cosine_at(&self, min_lr: f64, phase: f64) -> f64 {
        min_lr + (self.lr - min_lr) * (1.0 + phase.cos()) / 2.0
    }

    /// The learning rate of update `s` (0-based).
    pub fn lr_at(&self, s: u64) -> f64 {
        if s < self.warmup {
            return self.lr * (s + 1) as f64 / self.warmup as f64;
        }
        let s = s - self.warmup;
        match self.decay {
            LrSchedule::Constant => self.lr,
            LrSchedule::Step { step_size, gamma } => {
                self.lr * gamma.powf((s / step_size.max(1)) as f64)
            }
            LrSchedule::Cosine { steps, min_lr } => {
                if s >= steps {
                    min_lr
                } else {
                    self.cosine_at(min_lr, std::f64::consts::PI * s as f64 / steps as f64)
                }
            }
        }
    }
}

/// Whether a smaller or a larger metric is better.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Lower is better (losses).
    #[default]
    Min,
    /// Higher is better (accuracy, BLEU).
    Max,
}

/// How [`ReduceLrOnPlateau`] measures an improvement over the best value so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdMode {
    /// Better than best * (1 - threshold) (min) or best * (1 + threshold) (max).
    #[default]
    Rel,
    /// Better than best - threshold (min) or best + threshold (max).
    Abs,
}

/// [`ReduceLrOnPlateau`]'s settings; `Default` is PyTorch's.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlateauConfig {
    /// Whether lower or higher metrics are better.
    pub mode: Mode,
    /// New rate = max(rate * factor, min_lr); factor in (0, 1).
    pub factor: f64,
    /// Evaluations without improvement tolerated before reducing.
    pub patience: u64,
    /// The margin an improvement must beat (see [`ThresholdMode`]).
    pub threshold: f64,
    /// Relative or absolute margin.
    pub threshold_mode: ThresholdMode,
    /// Evaluations after a reduction during which bad ones are not counted.
    pub cooldown: u64,
    /// The rate never drops below this.
    pub min_lr: f64,
    /// Reductions smaller than this are skipped.
    pub eps: f64,
}

impl Default for PlateauConfig {
    fn default() -> Self {
        PlateauConfig {
            mode: Mode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
        }
    }
}

/// What [`ReduceLrOnPlateau`] carries between evaluations (serde, for checkpoints).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlateauState {
    /// The best metric so far; `None` before the first (PyTorch's ±inf, which JSON lacks).
    pub best: Option<f64>,
    /// Evaluations since the last improvement.
    pub num_bad_epochs: u64,
    /// Evaluations left in the current cooldown.
    pub cooldown_counter: u64,
    /// Evaluations seen.
    pub last_epoch: u64,
    /// The current learning rate.
    pub lr: f64,
}

/// PyTorch's `ReduceLROnPlateau`, step for step: after more than `patience` evaluations
/// without improvement, multiply the rate by `factor` (not below `min_lr`), then wait
/// `cooldown` evaluations before counting again.
///
/// To combine it with a [`Schedule`], start it at lr = 1 and use its value as a factor.
#[derive(Clone, Debug, PartialEq)]
pub struct ReduceLrOnPlateau {
    cfg: PlateauConfig,
    state: PlateauState,
}

impl ReduceLrOnPlateau {
    /// Starts at learning rate `lr`. Errors unless 0 < factor < 1, threshold, min_lr and eps
    /// are >= 0.
    pub fn new(cfg: PlateauConfig, lr: f64) -> Result<Self> {
        let ok = cfg.factor > 0.0
            && cfg.factor < 1.0
            && cfg.threshold >= 0.0
            && cfg.min_lr >= 0.0
            && cfg.eps >= 0.0
            && lr.is_finite()
            && lr >= 0.0;
        if !ok {
            return Err(Error::Config(format!(
                "reduce-on-plateau needs 0 < factor < 1 and non-negative threshold, min_lr, eps \
                 and learning rate (lr {lr}): {cfg:?}"
            )));
        }
        Ok(ReduceLrOnPlateau {
            cfg,
            state: PlateauState {
                best: None,
                num_bad_epochs: 0,
                cooldown_counter: 0,
                last_epoch: 0,
                lr,
            },
        })
    }

    /// The current learning rate.
    pub fn lr(&self) -> f64 {
        self.state.lr
    }
    /// The state to checkpoint.
    pub fn state(&self) -> PlateauState {
        self.state
    }
    /// Restores a checkpointed state.
    pub fn load_state(&mut self, state: PlateauState) {
        self.state = state;
    }

    /// PyTorch's `_is_better`. A NaN is never better; anything finite beats "no value yet".
    fn is_better(&self, a: f64) -> bool {
        let c = &self.cfg;
        let Some(best) = self.state.best else {
            return match c.mode {
                Mode::Min => a < f64::INFINITY,
                Mode::Max => a > f64::NEG_INFINITY,
            };
        };
        match (c.mode, c.threshold_mode) {
            (Mode::Min, ThresholdMode::Rel) => a < best * (1.0 - c.threshold),
            (Mode::Min, ThresholdMode::Abs) => a < best - c.threshold,
            (Mode::Max, ThresholdMode::Rel) => a > best * (1.0 + c.threshold),
            (Mode::Max, ThresholdMode::Abs) => a > best + c.threshold,
        }
    }

    /// Records one evaluation's metric and returns the learning rate to use from now on.
    pub fn step(&mut self, metric: f64) -> f64 {
        self.state.last_epoch += 1;
        if self.is_better(metric) {
            self.state.best = Some(metric);
            self.state.num_bad_epochs = 0;
        } else {
            self.state.num_bad_epochs += 1;
        }
        if self.state.cooldown_counter > 0 {
            self.state.cooldown_counter -= 1;
            // Bad evaluations during the cooldown are forgiven.
            self.state.num_bad_epochs = 0;
        }
        if self.state.num_bad_epochs > self.cfg.patience {
            let old = self.state.lr;
            let new = (old * self.cfg.factor).max(self.cfg.min_lr);
            if old - new > self.cfg.eps {
                self.state.lr = new;
            }
            self.state.cooldown_counter = self.cfg.cooldown;
            self.state.num_bad_epochs = 0;
        }
        self.state.lr
    }
}

/// What [`EarlyStopping`] carries between evaluations (serde, for checkpoints).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EarlyStoppingState {
    /// The best metric so far (`None` before the first usable one).
    pub best: Option<f64>,
    /// The evaluation (1-based) that gave it.
    pub best_eval: u64,
    /// Evaluations since the last improvement.
    pub bad_evals: u64,
    /// Evaluations seen.
    pub evals: u64,
}

/// The verdict on one evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// This metric is the new best (save the best checkpoint).
    pub improved: bool,
    /// `patience` evaluations in a row brought no improvement: stop training.
    pub stop: bool,
}

/// Stops training when the validation metric has not improved by more than `min_delta` for
/// `patience` evaluations in a row. A NaN metric never improves.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// Evaluations without improvement before stopping (>= 1).
    pub patience: u64,
    /// The margin an improvement must beat.
    pub min_delta: f64,
    /// Whether lower or higher metrics are better.
    pub mode: Mode,
    #[serde(default)]
    state: EarlyStoppingState,
}

impl EarlyStopping {
    /// Errors on a zero patience or a negative or non-finite `min_delta`.
    pub fn new(patience: u64, min_delta: f64, mode: Mode) -> Result<Self> {
        if patience == 0 || !(min_delta.is_finite() && min_delta >= 0.0) {
            return Err(Error::Config(format!(
                "early stopping needs patience >= 1 and min_delta >= 0, got {patience} and {min_delta}"
            )));
        }
        Ok(EarlyStopping {
            patience,
            min_delta,
            mode,
            state: EarlyStoppingState::default(),
        })
    }
    /// The state to checkpoint.
    pub fn state(&self) -> EarlyStoppingState {
        self.state
    }
    /// Restores a checkpointed state.
    pub fn load_state(&mut self, state: EarlyStoppingState) {
        self.state = state;
    }
    /// The best metric so far.
    pub fn best(&self) -> Option<f64> {
        self.state.best
    }

    /// Records one evaluation. Improvement: metric < best - min_delta (min) or
    /// metric > best + min_delta (max); the first non-NaN metric always improves.
    pub fn update(&mut self, metric: f64) -> Verdict {
        let s = &mut self.state;
        s.evals += 1;
        let improved = !metric.is_nan()
            && match (s.best, self.mode) {
                (None, _) => true,
                (Some(b), Mode::Min) => metric < b - self.min_delta,
                (Some(b), Mode::Max) => metric > b + self.min_delta,
            };
        if improved {
            s.best = Some(metric);
            s.best_eval = s.evals;
            s.bad_evals = 0;
        } else {
            s.bad_evals += 1;
        }
        Verdict {
            improved,
            stop: s.bad_evals >= self.patience,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PyTorch's values, from `scripts/gen_optim_fixtures.py` (schedules section).
    const FIXTURE: &str = include_str!("../../tests/fixtures/optim/schedules.json");

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1e-300)
    }

    #[test]
    fn step_and_cosine_match_pytorch() {
        let fx: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
        let steplr: Vec<f64> = serde_json::from_value(fx["step_lr"].clone()).unwrap();
        let s = Schedule::step(0.1, 3, 0.5);
        s.validate().unwrap();
        for (k, want) in steplr.iter().enumerate() {
            assert!(
                close(s.lr_at(k as u64), *want),
                "step {k}: {} vs {want}",
                s.lr_at(k as u64)
            );
        }
        let cos: Vec<f64> = serde_json::from_value(fx["cosine"].clone()).unwrap();
        let s = Schedule::cosine(0.1, 10, 0.001);
        for (k, want) in cos.iter().enumerate().take(11) {
            assert!(
                close(s.lr_at(k as u64), *want),
                "cosine {k}: {} vs {want}",
                s.lr_at(k as u64)
            );
        }
        // Past the end it holds at min_lr (PyTorch's would climb back up).
        assert_eq!(s.lr_at(11), 0.001);
        assert_eq!(s.lr_at(1000), 0.001);
    }

    #[test]
    fn warmup_ramps_then_hands_over() {
        let s = Schedule::cosine(1.0, 4, 0.0).with_warmup(4);
        let lrs: Vec<f64> = (0..10).map(|k| s.lr_at(k)).collect();
        assert_eq!(&lrs[..5], &[0.25, 0.5, 0.75, 1.0, 1.0]);
        assert!((lrs[5] - (1.0 + (std::f64::consts::PI / 4.0).cos()) / 2.0).abs() < 1e-15);
        assert_eq!(lrs[8], 0.0);
        let s = Schedule::step(1.0, 2, 0.1).with_warmup(2);
        assert_eq!(s.lr_at(1), 1.0);
        assert_eq!(s.lr_at(3), 1.0);
        assert!((s.lr_at(4) - 0.1).abs() < 1e-16);
        let s = Schedule::constant(0.3).with_warmup(3);
        assert!((s.lr_at(0) - 0.1).abs() < 1e-16);
        assert_eq!(s.lr_at(100), 0.3);
    }

    #[test]
    fn a_time_budget_anneals_over_its_share() {
        let s = Schedule::cosine(1.0, 1, 0.1).with_warmup(2);
        // The warm-up still counts updates, whatever the clock says.
        assert_eq!(s.lr_at_fraction(0, 0.9), 0.5);
        assert_eq!(s.lr_at_fraction(2, 0.0), 1.0);
        assert!((s.lr_at_fraction(5, 0.5) - 0.55).abs() < 1e-15);
        assert!((s.lr_at_fraction(9, 1.0) - 0.1).abs() < 1e-15);
        // Past the budget (evaluation may overshoot it) it holds at min_lr.
        assert!((s.lr_at_fraction(9, 1.7) - 0.1).abs() < 1e-15);
        let c = Schedule::constant(0.3);
        assert_eq!(c.lr_at_fraction(7, 0.5), 0.3);
    }

    #[test]
    fn invalid_schedules_are_errors() {
        assert!(Schedule::step(0.1, 0, 0.5).validate().is_err());
        assert!(Schedule::step(0.1, 2, 1.5).validate().is_err());
        assert!(Schedule::cosine(0.1, 0, 0.0).validate().is_err());
        assert!(Schedule::cosine(0.1, 5, 0.2).validate().is_err());
        assert!(Schedule::constant(-1.0).validate().is_err());
        let s: Schedule = serde_json::from_str(
            r#"{"lr": 0.1, "decay": {"kind": "cosine", "steps": 5, "min_lr": 0}}"#,
        )
        .unwrap();
        assert_eq!(s, Schedule::cosine(0.1, 5, 0.0));
    }

    #[test]
    fn plateau_matches_pytorch_sequences() {
        let fx: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
        for case in fx["plateau"].as_array().unwrap() {
            let cfg: PlateauConfig = serde_json::from_value(case["config"].clone()).unwrap();
            // NaN is written as null (JSON has no NaN).
            let metrics: Vec<Option<f64>> =
                serde_json::from_value(case["metrics"].clone()).unwrap();
            let metrics: Vec<f64> = metrics.iter().map(|m| m.unwrap_or(f64::NAN)).collect();
            let want: Vec<f64> = serde_json::from_value(case["lrs"].clone()).unwrap();
            let mut p = ReduceLrOnPlateau::new(cfg, 1.0).unwrap();
            for (k, (m, w)) in metrics.iter().zip(&want).enumerate() {
                // Resume through JSON half-way: the state must carry everything.
                if k == metrics.len() / 2 {
                    let json = serde_json::to_string(&p.state()).unwrap();
                    let mut q = ReduceLrOnPlateau::new(cfg, 123.0).unwrap();
                    q.load_state(serde_json::from_str(&json).unwrap());
                    p = q;
                }
                let lr = p.step(*m);
                assert!(
                    close(lr, *w),
                    "{}: eval {k}: {lr} vs torch {w}",
                    case["name"]
                );
            }
        }
    }

    #[test]
    fn early_stopping_counts_and_resumes() {
        let mut e = EarlyStopping::new(2, 0.1, Mode::Min).unwrap();
        let v: Vec<Verdict> = [1.0, 0.95, 0.5, f64::NAN, 0.45, 0.3]
            .iter()
            .map(|&m| e.update(m))
            .collect();
        let imp: Vec<bool> = v.iter().map(|v| v.improved).collect();
        let stop: Vec<bool> = v.iter().map(|v| v.stop).collect();
        assert_eq!(imp, [true, false, true, false, false, true]);
        assert_eq!(stop, [false, false, false, false, true, false]);
        assert_eq!(e.state().best_eval, 6);
        let json = serde_json::to_string(&e.state()).unwrap();
        let mut f = EarlyStopping::new(2, 0.1, Mode::Min).unwrap();
        f.load_state(serde_json::from_str(&json).unwrap());
        assert_eq!(f, e);
        let mut m = EarlyStopping::new(1, 0.0, Mode::Max).unwrap();
        assert!(m.update(0.5).improved);
        assert!(m.update(0.6).improved);
        assert!(m.update(0.6).stop);
        assert!(EarlyStopping::new(0, 0.0, Mode::Min).is_err());
    }
}
