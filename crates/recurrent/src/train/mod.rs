//! Training machinery: optimizers, learning-rate schedules and early stopping, gradient
//! clipping and non-finite detection. Everything works through [`crate::Module`].

pub mod clip;
pub mod optim;
pub mod schedule;

pub use clip::{clip_grad_norm, clip_grad_value, first_non_finite, grad_norm, NonFinite};
pub use optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, AdamWConfig, OptimConfig, OptimState, Optimizer,
    RmsProp, RmsPropConfig, Sgd, SgdConfig,
};
pub use schedule::{
    EarlyStopping, EarlyStoppingState, LrSchedule, Mode, PlateauConfig, PlateauState,
    ReduceLrOnPlateau, Schedule, ThresholdMode, Verdict,
};
