//! How a training loop reports to whoever runs it (the CLI draws progress bars from this;
//! a library user may log or ignore it), how it is asked to stop (Ctrl-C), and its limits
//! and evaluation interval.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Limits on a run; the first reached ends training.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Seconds of training steps (loading and evaluation not counted).
    pub time_budget: Option<f64>,
    /// Optimizer steps.
    pub steps: Option<u64>,
    /// Passes over the training data.
    pub epochs: Option<f64>,
}

impl Limits {
    /// Whether any limit is set.
    pub fn is_set(&self) -> bool {
        self.time_budget.is_some() || self.steps.is_some() || self.epochs.is_some()
    }
    /// Fraction of the nearest limit reached, in [0, 1] (for progress bars).
    pub fn progress(&self, step: u64, trained_s: f64, epoch: f64) -> f64 {
        let mut p: f64 = 0.0;
        if let Some(b) = self.time_budget {
            p = p.max(trained_s / b.max(1e-9));
        }
        if let Some(s) = self.steps {
            p = p.max(step as f64 / (s.max(1)) as f64);
        }
        if let Some(e) = self.epochs {
            p = p.max(epoch / e.max(1e-9));
        }
        p.min(1.0)
    }
    /// Whether training must stop.
    pub fn reached(&self, step: u64, trained_s: f64, epoch: f64) -> bool {
        self.time_budget.is_some_and(|b| trained_s >= b)
            || self.steps.is_some_and(|s| step >= s)
            || self.epochs.is_some_and(|e| epoch >= e)
    }
}

/// One optimizer step, as reported.
#[derive(Clone, Debug, Default)]
pub struct StepInfo {
    pub step: u64,
    pub loss: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    pub lr: f64,
    pub trained_s: f64,
    pub tokens_per_s: f64,
    pub epoch: f64,
    /// Fraction of the run done, [0, 1].
    pub progress: f64,
}

/// One evaluation.
#[derive(Clone, Debug, Default)]
pub struct EvalInfo {
    pub step: u64,
    pub trained_s: f64,
    /// The validation metric (loss in nats per token for language models).
    pub val_loss: f64,
    pub best: bool,
}

/// Receives a run's events. Every method has a default that does nothing.
pub trait Observer {
    fn on_step(&mut self, _s: &StepInfo) {}
    fn on_eval(&mut self, _e: &EvalInfo) {}
    /// A line for the log (stderr in the CLI).
    fn message(&mut self, _msg: &str) {}
    /// Polled between steps: true asks the run to save a checkpoint and stop.
    fn should_stop(&self) -> bool {
        false
    }
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

/// What to do when a loss or gradient turns NaN or infinite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnNan {
    /// Stop with an error naming the step and parameter; the last checkpoint stays.
    #[default]
    Stop,
    /// Skip the batch (no update) and count it.
    Skip,
}

impl std::str::FromStr for OnNan {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "stop" | "error" => Ok(OnNan::Stop),
            "skip" => Ok(OnNan::Skip),
            o => Err(crate::Error::Config(format!(
                "--on-nan must be stop or skip, got `{o}`"
            ))),
        }
    }
}

/// When to evaluate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalEvery {
    /// Every this many seconds of training (pytorch_charlm.py's way).
    Seconds(f64),
    /// Every this many steps.
    Steps(u64),
}

impl EvalEvery {
    /// Refuses a zero, negative or non-finite interval, naming `--eval-every`.
    pub fn check(&self) -> Result<()> {
        match *self {
            EvalEvery::Steps(0) => {
                Err(Error::Config("--eval-every must be at least 1 step".into()))
            }
            EvalEvery::Seconds(s) if !(s.is_finite() && s > 0.0) => Err(Error::Config(format!(
                "--eval-every must be a positive number of seconds, got {s}s"
            ))),
            _ => Ok(()),
        }
    }
}

/// `500` is 500 steps, `120s` 120 seconds of training: one flag, one meaning, in every
/// command (a bare number was seconds in `train lm` and `train music`, steps elsewhere).
impl std::str::FromStr for EvalEvery {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        let bad = || {
            Error::Config(format!(
                "--eval-every `{}`: give a number of steps (`500`) or of seconds of training (`120s`)",
                crate::error::quote(s)
            ))
        };
        let e = if let Some(secs) = t.strip_suffix('s').filter(|r| !r.ends_with("step")) {
            EvalEvery::Seconds(secs.trim().parse().map_err(|_| bad())?)
        } else {
            let n = t.strip_suffix("steps").unwrap_or(t).trim();
            EvalEvery::Steps(n.parse().map_err(|_| bad())?)
        };
        e.check()?;
        Ok(e)
    }
}

impl std::fmt::Display for EvalEvery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvalEvery::Seconds(s) => write!(f, "{s}s"),
            EvalEvery::Steps(n) => write!(f, "{n}"),
        }
    }
}
