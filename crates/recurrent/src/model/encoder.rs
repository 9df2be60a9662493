//! The recurrent encoder that the classifier and the taggers share: which cell, how wide,
//! how deep, in which directions, and the dropout between its layers. One struct, embedded
//! (flattened, so a checkpoint's JSON keeps its flat keys) in each model's config.

use crate::cell::CellKind;
use crate::layer::RnnConfig;
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
    /// DropConnect on the recurrent weights in training ([`RnnConfig::weight_drop`]).
    #[serde(default, skip_serializing_if = "crate::omit::is_default")]
    pub weight_drop: f64,
    /// One dropout mask for all steps between layers ([`RnnConfig::variational`]).
    #[serde(default, skip_serializing_if = "crate::omit::is_default")]
    pub variational: bool,
}

impl EncoderConfig {
    /// The recurrent layer over inputs of width `input`.
    pub fn rnn(&self, input: usize) -> RnnConfig {
        RnnConfig::new(self.cell, input, self.hidden)
            .layers(self.layers)
            .bidirectional(self.bidirectional)
            .dropout(if self.layers > 1 { self.dropout } else { 0.0 })
            .weight_drop(self.weight_drop)
            .variational(self.variational)
    }
}
