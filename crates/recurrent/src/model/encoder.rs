//! The recurrent encoder that the classifier and the taggers share: which cell, how wide,
//! how deep, in which directions, and the dropout between its layers. One struct, embedded
//! (flattened, so a checkpoint's JSON keeps its flat keys) in each model's config.

use crate::cell::CellKind;
use crate::layer::{RecurrentReg, RnnConfig};
use serde::{Deserialize, Serialize};

/// The settings of a task model's recurrent layer.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EncoderConfig {
    pub cell: CellKind,
    /// Hidden units per direction.
    pub hidden: usize,
    pub layers: usize,
    pub bidirectional: bool,
    /// Dropout between layers (a single layer has none; the model may apply it elsewhere).
    pub dropout: f64,
    /// Weight drop and locked dropout between layers, in training (stored flat, as the
    /// keys `weight_drop` and `variational`).
    #[serde(flatten)]
    pub reg: RecurrentReg,
}

impl EncoderConfig {
    /// The recurrent layer over inputs of width `input`.
    pub fn rnn(&self, input: usize) -> RnnConfig {
        RnnConfig::new(self.cell, input, self.hidden)
            .layers(self.layers)
            .bidirectional(self.bidirectional)
            .dropout(if self.layers > 1 { self.dropout } else { 0.0 })
            .reg(self.reg)
    }
}
