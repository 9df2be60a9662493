//! Training machinery: optimizers, learning-rate schedules and early stopping, gradient
//! clipping and non-finite detection. Everything works through [`crate::Module`].

pub mod optim;
pub mod schedule;

pub use optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, AdamWConfig, OptimConfig, OptimState, Optimizer,
    RmsProp, RmsPropConfig, Sgd, SgdConfig,
};
pub use schedule::{
    EarlyStopping, LrSchedule, Mode, PlateauConfig, ReduceLrOnPlateau, Schedule, Verdict,
};
