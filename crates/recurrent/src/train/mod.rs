//! The generic training loop every application runs ([`runner`]): limits, evaluation,
//! checkpoints of the whole training state and bit-exact resume, the run directory
//! ([`run`]), what a run reports to its caller ([`observe`]) and classification metrics
//! several applications report ([`metrics`]), the TensorBoard log ([`tensorboard`]),
//! data-parallel training over several processes ([`dist`]) and the averaged weights that
//! are evaluated ([`ema`]). It knows tasks only through [`Task`].

pub mod dist;
pub mod ema;
mod lr;
pub mod metrics;
pub mod observe;
pub mod run;
pub mod runner;
pub mod task;
pub mod tensorboard;

pub use dist::{Collective, Group, Shard, StepLoss};
pub use observe::{EvalInfo, Limits, Observer, OnNan, Quiet, StepInfo};
pub use runner::{EvalEvery, Evaluation, RunSummary, Task, TrainRequest, Trainer};
