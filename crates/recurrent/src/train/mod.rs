//! Training: optimizers, learning-rate schedules and early stopping, gradient clipping and
//! non-finite detection (all through [`crate::Module`]); the BPTT loops of each task, run
//! directories and checkpoints, and what a run reports.

pub mod bleu;
pub mod classify;
pub mod clip;
pub mod connected_speech;
pub mod ctc;
pub mod forecast;
pub mod forecast_eval;
pub mod lm;
pub mod longrange;
pub mod metrics;
pub mod music;
pub mod observe;
pub mod optim;
pub mod run;
pub mod runner;
pub mod schedule;
pub mod speech;
pub mod tag;
pub mod transcription;
pub mod translate;

pub use clip::{clip_grad_norm, clip_grad_value, first_non_finite, grad_norm, NonFinite};
pub use observe::{EvalInfo, Limits, Observer, OnNan, Quiet, StepInfo};
pub use optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, AdamWConfig, OptimConfig, OptimState, Optimizer,
    RmsProp, RmsPropConfig, Sgd, SgdConfig,
};
pub use runner::{EvalEvery, Evaluation, OptimSettings, RunSummary, Task, TrainRequest};
pub use schedule::{
    EarlyStopping, EarlyStoppingState, LrSchedule, Mode, PlateauConfig, PlateauState,
    ReduceLrOnPlateau, Schedule, ThresholdMode, Verdict,
};
