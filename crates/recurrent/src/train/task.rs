//! What the training loop trains: a [`Task`] supplies its batches, its loss, its
//! evaluation and its carried state; [`super::runner`] does everything else.

use super::dist::{Shard, StepLoss};
use crate::error::Result;
use crate::param::Module;
use crate::rng::Rng;
use crate::tensor::Tensor;
use std::collections::BTreeMap;

/// A validation result.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// The number that picks the best checkpoint.
    pub metric: f64,
    /// Whether a larger metric is better (accuracy) or a smaller one (loss).
    pub higher_is_better: bool,
    /// Everything else worth logging (`val_loss`, `val_accuracy`, ...), merged into the
    /// metrics line.
    pub fields: serde_json::Value,
}

/// What the loop trains. The task owns its data and its position in it.
pub trait Task {
    type Model: Module<f32>;
    /// Metadata stored with every checkpoint (`model`, `vocab`, ...): what rebuilds the model.
    fn metadata(&self) -> BTreeMap<String, String>;
    /// Batches in one pass over the training data.
    fn batches_per_epoch(&self) -> u64;
    /// Forward, loss and backward on the next batch, accumulating into the (zeroed)
    /// gradients. Returns the batch's mean loss, how many tokens or examples it held, and
    /// how many terms the mean is over.
    ///
    /// In a data-parallel run every rank composes the same global batch (from the task's
    /// position and `rng`, which are the same everywhere) and trains only on
    /// `shard.rows(batch)`; what is random per row is drawn from `shard.rng(rng)`. On one
    /// process the shard is the whole batch and `shard.rng(rng)` is `rng`.
    fn train_step(
        &mut self,
        model: &mut Self::Model,
        rng: &mut Rng,
        shard: &mut Shard,
    ) -> Result<StepLoss>;
    /// Validation, or None without validation data.
    fn evaluate(&mut self, model: &Self::Model) -> Result<Option<Evaluation>>;
    /// Whether the task asks training to end now (early stopping on validation), checked
    /// before every step. A run that ends this way is complete, as one that reached its
    /// limit; the task's state must remember the decision, so a resume ends at once.
    fn should_stop(&self) -> bool {
        false
    }
    /// Text to show beside an evaluation's numbers, as (tag, text): what a generative model
    /// writes now. Asked for only when the run keeps a TensorBoard log.
    fn samples(&self, _model: &Self::Model) -> Result<Vec<(String, String)>> {
        Ok(Vec::new())
    }
    /// For a carried tensor of [`Task::state`], the axis that runs over the batch's rows: a
    /// data-parallel run gathers it from every rank into one checkpoint, and gives each rank
    /// its own rows back on resume, whatever the number of ranks that wrote it. None (the
    /// default): the tensor is the same on every rank.
    fn row_axis(&self, _name: &str) -> Option<usize> {
        None
    }
    /// The task's position (JSON) and carried tensors, for checkpoints.
    fn state(&self) -> (serde_json::Value, Vec<(String, Tensor<f32>)>);
    /// Restores what [`Task::state`] saved.
    fn load_state(
        &mut self,
        json: &serde_json::Value,
        tensors: BTreeMap<String, Tensor<f32>>,
    ) -> Result<()>;
}
