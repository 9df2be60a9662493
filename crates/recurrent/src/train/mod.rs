//! Training: the BPTT loops of each task, run directories and checkpoints, and what they
//! report.

pub mod lm;
pub mod observe;
pub mod run;

pub use observe::{EvalInfo, Limits, Observer, OnNan, Quiet, StepInfo};
