//! The learning rate over a run: the step schedule (warm-up, then constant or cosine, over
//! the run's steps or its time budget) and, with `--lr-schedule plateau`, the factor decay
//! on plateau has come down to. The plateau's state is part of the loop's checkpointed
//! position, so a resumed run continues at the rate it stopped at.

use super::observe::Limits;
use crate::error::Result;
use crate::optim::schedule::{
    Mode, PlateauConfig, PlateauState, ReduceLrOnPlateau, Schedule, ThresholdMode,
};
use crate::optim::{OptimSettings, ScheduleKind};

/// Decay on plateau: the rate halves after two evaluations in a row without a better
/// validation metric (any improvement counts), down to a thousandth of `--lr`. Two, not
/// one: a single evaluation can miss by noise.
const PLATEAU: PlateauConfig = PlateauConfig {
    mode: Mode::Min,
    factor: 0.5,
    patience: 1,
    threshold: 0.0,
    threshold_mode: ThresholdMode::Abs,
    cooldown: 0,
    min_lr: 1e-3,
    eps: 1e-12,
};

/// Evaluations in a row without a better metric that halve the rate (patience + 1).
pub(super) const PLATEAU_EVALS: u64 = PLATEAU.patience + 1;

/// The decay counts steps when the run has a step count (`--steps`, or `--epochs` times
/// the batches of an epoch, so a run bounded by epochs anneals to where it stops); a run
/// bounded only by `--time-budget` anneals over the budget's share used. A cosine run with
/// both anneals towards whichever limit is nearer its end, so the rate reaches its floor
/// where the run stops: by steps (and to the same bits on any machine) while the clock is
/// behind, by the clock on a machine too slow to make the steps in the budget.
pub(super) struct LrPlan {
    schedule: Schedule,
    /// The budget a cosine schedule anneals over (None for other schedules).
    time_budget: Option<f64>,
    /// The run's step count, when it has one.
    steps: Option<u64>,
    /// Decay on plateau, as a factor of the schedule's rate (it starts at 1).
    plateau: Option<ReduceLrOnPlateau>,
}

impl LrPlan {
    pub(super) fn new(optim: &OptimSettings, limits: &Limits, per_epoch: f64) -> Result<Self> {
        let steps = limits
            .steps
            .or_else(|| limits.epochs.map(|e| (e * per_epoch).ceil() as u64));
        let by_time = optim.lr_schedule == ScheduleKind::Cosine;
        let time_budget = limits.time_budget.filter(|_| by_time);
        // Annealing by time alone ignores the schedule's step count: 1 only satisfies
        // validate.
        let schedule = optim.schedule(steps.or(time_budget.map(|_| 1)))?;
        let plateau = match optim.lr_schedule {
            ScheduleKind::Plateau => Some(ReduceLrOnPlateau::new(PLATEAU, 1.0)?),
            _ => None,
        };
        Ok(LrPlan {
            schedule,
            time_budget,
            steps,
            plateau,
        })
    }

    /// The rate of update `step` after `trained_s` seconds of training.
    pub(super) fn lr(&self, step: u64, trained_s: f64) -> f64 {
        let by_time = |b: f64| self.schedule.lr_at_fraction(step, trained_s / b);
        let base = match (self.time_budget, self.steps) {
            (Some(b), None) => by_time(b),
            (Some(b), Some(n)) if trained_s / b > step as f64 / n.max(1) as f64 => by_time(b),
            _ => self.schedule.lr_at(step),
        };
        base * self.plateau.as_ref().map_or(1.0, |p| p.lr())
    }

    /// Records an evaluation's metric (decay on plateau only); returns the new factor when
    /// this evaluation lowered it.
    pub(super) fn observe(&mut self, metric: f64, higher_is_better: bool) -> Option<f64> {
        let p = self.plateau.as_mut()?;
        let before = p.lr();
        let after = p.step(if higher_is_better { -metric } else { metric });
        (after < before).then_some(after)
    }

    /// What a checkpoint keeps of the plan (the plateau's state; the rest is a function of
    /// the step and the time).
    pub(super) fn state(&self) -> Option<PlateauState> {
        self.plateau.as_ref().map(|p| p.state())
    }

    /// Restores [`LrPlan::state`].
    pub(super) fn load_state(&mut self, state: Option<PlateauState>) {
        if let (Some(p), Some(s)) = (self.plateau.as_mut(), state) {
            p.load_state(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(kind: ScheduleKind) -> LrPlan {
        let optim = OptimSettings {
            lr_schedule: kind,
            ..OptimSettings::adam(1e-2, 0.0)
        };
        let limits = Limits {
            time_budget: Some(100.0),
            ..Limits::default()
        };
        LrPlan::new(&optim, &limits, 10.0).unwrap()
    }

    #[test]
    fn plateau_halves_after_two_evaluations_without_progress_and_resumes() {
        let mut p = plan(ScheduleKind::Plateau);
        assert_eq!(p.lr(0, 0.0), 1e-2);
        // Better, better, worse (one bad: kept), worse again (two: halved).
        assert_eq!(p.observe(3.0, false), None);
        assert_eq!(p.observe(2.0, false), None);
        assert_eq!(p.observe(2.5, false), None);
        assert_eq!(
            p.lr(50, 50.0),
            1e-2,
            "the budget does not anneal a plateau rate"
        );
        assert_eq!(p.observe(2.0, false), Some(0.5), "equal is not better");
        assert_eq!(p.lr(60, 60.0), 5e-3);
        // A resumed plan continues where the checkpoint was.
        let mut q = plan(ScheduleKind::Plateau);
        q.load_state(p.state());
        assert_eq!(q.lr(61, 61.0), 5e-3);
        assert_eq!(q.observe(2.1, false), p.observe(2.1, false));
        assert_eq!(q.observe(2.1, false), Some(0.25));
        // Higher-is-better metrics (accuracy) count the other way.
        let mut a = plan(ScheduleKind::Plateau);
        for acc in [0.5, 0.6, 0.7, 0.8] {
            assert_eq!(a.observe(acc, true), None);
        }
        assert_eq!(a.observe(0.8, true), None);
        assert_eq!(a.observe(0.7, true), Some(0.5));
    }

    #[test]
    fn other_schedules_ignore_evaluations() {
        for kind in [ScheduleKind::Constant, ScheduleKind::Cosine] {
            let mut p = plan(kind);
            let before = p.lr(10, 10.0);
            for _ in 0..5 {
                assert_eq!(p.observe(1.0, false), None);
            }
            assert_eq!(p.lr(10, 10.0), before);
            assert!(p.state().is_none());
        }
        // Cosine anneals over the time budget.
        let c = plan(ScheduleKind::Cosine);
        assert!((c.lr(10, 50.0) - 5e-3).abs() < 1e-12);
    }

    #[test]
    fn cosine_with_steps_and_a_budget_follows_the_nearer_end() {
        let optim = OptimSettings {
            lr_schedule: ScheduleKind::Cosine,
            ..OptimSettings::adam(1e-2, 0.0)
        };
        let both = Limits {
            time_budget: Some(100.0),
            epochs: Some(2.0),
            ..Limits::default()
        };
        // 2 epochs of 10 batches: 20 steps.
        let p = LrPlan::new(&optim, &both, 10.0).unwrap();
        let steps_only = LrPlan::new(
            &optim,
            &Limits {
                time_budget: None,
                ..both
            },
            10.0,
        )
        .unwrap();
        // A fast machine: the steps are nearer their end, and the rate is the step
        // schedule's to the bit.
        for s in [0, 5, 10, 19, 20] {
            assert_eq!(p.lr(s, s as f64), steps_only.lr(s, s as f64));
        }
        assert_eq!(p.lr(20, 20.0), 0.0);
        // A slow machine: half the budget gone after 5 of 20 steps; the clock leads.
        assert!((p.lr(5, 50.0) - 5e-3).abs() < 1e-12);
        assert_eq!(p.lr(6, 100.0), 0.0);
    }
}
