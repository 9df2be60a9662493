//! What a task config holds about optimisation: which optimizer at which learning rate,
//! weight decay, clipping, and the schedule. Parsed once at the edge (the enums implement
//! `FromStr` with the names configs and flags spell), stored flattened in each task's
//! config (so its JSON keys are `optimizer`, `lr`, ... as they always were), and turned
//! into an [`Optimizer`] and a [`Schedule`] by the training loop.

use super::schedule::Schedule;
use super::{OptimConfig, Optimizer};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which optimizer (PyTorch's update rules).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd,
    #[default]
    Adam,
    AdamW,
    RmsProp,
    Adagrad,
}

impl OptimizerKind {
    /// Every kind, in the order `--help` lists them.
    pub const ALL: [OptimizerKind; 5] = [
        OptimizerKind::Adam,
        OptimizerKind::AdamW,
        OptimizerKind::Sgd,
        OptimizerKind::RmsProp,
        OptimizerKind::Adagrad,
    ];
    /// The name configs and flags spell.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adam => "adam",
            OptimizerKind::AdamW => "adamw",
            OptimizerKind::RmsProp => "rmsprop",
            OptimizerKind::Adagrad => "adagrad",
        }
    }
}

impl FromStr for OptimizerKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown optimizer `{s}`: use one of {}",
                    OptimConfig::NAMES.join(", ")
                ))
            })
    }
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the learning rate moves over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// The same rate throughout (after any warm-up).
    #[default]
    Constant,
    /// Cosine annealing to 0 over the run's `--steps`.
    Cosine,
    /// The rate halved after two evaluations in a row without a better validation metric
    /// (PyTorch's `ReduceLROnPlateau`, factor 0.5, patience 1; [`crate::train`]'s plan).
    Plateau,
}

impl FromStr for ScheduleKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "constant" => Ok(ScheduleKind::Constant),
            "cosine" => Ok(ScheduleKind::Cosine),
            "plateau" => Ok(ScheduleKind::Plateau),
            _ => Err(Error::Config(format!(
                "--lr-schedule must be constant, cosine or plateau, got `{s}`"
            ))),
        }
    }
}

impl fmt::Display for ScheduleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScheduleKind::Constant => "constant",
            ScheduleKind::Cosine => "cosine",
            ScheduleKind::Plateau => "plateau",
        })
    }
}

/// Optimizer, clipping and learning-rate schedule. `Default` is Adam at 1e-3 without
/// clipping; each task's config sets its own recipe in its own `Default`. A constant
/// schedule without warm-up is left out of the stored JSON, so configs written before these
/// keys existed compare equal on resume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OptimSettings {
    pub optimizer: OptimizerKind,
    pub lr: f64,
    /// None: the optimizer's PyTorch default (AdamW 0.01, others 0).
    pub weight_decay: Option<f64>,
    /// Clip the global gradient norm to this (0: off).
    pub clip: f64,
    /// Constant, cosine (annealed to 0 over the run's `--steps`), or halved on plateau.
    #[serde(skip_serializing_if = "crate::omit::is_default")]
    pub lr_schedule: ScheduleKind,
    /// Linear warm-up steps.
    #[serde(skip_serializing_if = "crate::omit::is_default")]
    pub warmup: u64,
    /// Evaluate (and keep as best) an exponential moving average of the weights with this
    /// decay ([`crate::train::ema`]); None: the raw weights.
    #[serde(skip_serializing_if = "crate::omit::is_default")]
    pub ema: Option<f64>,
}

impl Default for OptimSettings {
    fn default() -> Self {
        OptimSettings::adam(1e-3, 0.0)
    }
}

impl OptimSettings {
    /// Adam at `lr`, clipping at `clip`, constant rate.
    pub fn adam(lr: f64, clip: f64) -> Self {
        OptimSettings {
            optimizer: OptimizerKind::Adam,
            lr,
            weight_decay: None,
            clip,
            lr_schedule: ScheduleKind::Constant,
            warmup: 0,
            ema: None,
        }
    }
    /// Checks ranges; errors name the flag.
    pub fn validate(&self) -> Result<()> {
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::Config(format!(
                "--lr must be positive, got {}",
                self.lr
            )));
        }
        if self.clip.is_nan() || self.clip < 0.0 {
            return Err(Error::Config(format!(
                "--clip must be >= 0, got {}",
                self.clip
            )));
        }
        if let Some(d) = self.ema {
            if !(d > 0.0 && d < 1.0) {
                return Err(Error::Config(format!(
                    "--ema must be a decay in (0, 1), such as 0.999, got {d}"
                )));
            }
        }
        if let Some(wd) = self.weight_decay {
            if !(wd >= 0.0 && wd.is_finite()) {
                return Err(Error::Config(format!(
                    "--weight-decay must be >= 0, got {wd}"
                )));
            }
        }
        Ok(())
    }
    /// The optimizer's configuration: PyTorch's defaults, this rate and decay.
    pub fn optim_config(&self) -> OptimConfig {
        let mut c = OptimConfig::of(self.optimizer, self.lr);
        if let Some(wd) = self.weight_decay {
            match &mut c {
                OptimConfig::Sgd(c) => c.weight_decay = wd,
                OptimConfig::Adam(c) => c.weight_decay = wd,
                OptimConfig::AdamW(c) => c.weight_decay = wd,
                OptimConfig::RmsProp(c) => c.weight_decay = wd,
                OptimConfig::Adagrad(c) => c.weight_decay = wd,
            }
        }
        c
    }
    /// The optimizer.
    pub fn build(&self) -> Result<Box<dyn Optimizer<f32>>> {
        self.optim_config().build()
    }
    /// The learning rate as a function of the step. Cosine anneals over `steps`; the trainer
    /// derives them from `--epochs`, and anneals over the budget's share
    /// ([`Schedule::lr_at_fraction`]) when only `--time-budget` bounds the run.
    pub fn schedule(&self, steps: Option<u64>) -> Result<Schedule> {
        let mut s = match self.lr_schedule {
            ScheduleKind::Cosine => {
                let total = steps.ok_or_else(|| {
                    Error::Config(
                        "--lr-schedule cosine needs --steps, --epochs or --time-budget (it anneals over the run)"
                            .into(),
                    )
                })?;
                Schedule::cosine(self.lr, total.saturating_sub(self.warmup).max(1), 0.0)
            }
            // Plateau decay scales this constant rate as evaluations come in.
            ScheduleKind::Constant | ScheduleKind::Plateau => Schedule::constant(self.lr),
        };
        s.warmup = self.warmup;
        s.validate()?;
        Ok(s)
    }
}
