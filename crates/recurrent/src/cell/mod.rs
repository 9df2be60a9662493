//! The recurrent cells and the loop that runs one of them over a sequence.
//!
//! Each cell file holds the cell's fused element-wise kernels, forward and backward side by
//! side, with the equations above the code that computes them. [`sequence`] holds what the
//! cells share: the input projection of all steps at once, the time loop with its one
//! recurrent product per step, and after the backward loop the weight and input gradients as
//! large products over all steps (the fast path cuDNN and oneDNN take; ARCHITECTURE.md).
//!
//! The minimal cells ([`minimal`]: minGRU, minLSTM) have no recurrent product at all: their
//! gates read x_t alone, so a layer is one input product over all steps and a linear scan.

pub mod gru;
pub mod lstm;
pub mod minimal;
pub mod norm;
pub mod rnn;
pub mod sequence;
pub mod stream;
pub mod zoneout;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which recurrence a layer computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellKind {
    /// Elman RNN, h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).
    RnnTanh,
    /// Elman RNN with ReLU.
    RnnRelu,
    /// LSTM, gate rows i, f, g, o.
    Lstm,
    /// GRU, gate rows r, z, n (see [`GruForm`] for the two forms).
    Gru,
    /// minGRU (Feng et al. 2024), gate rows z, h~: h_t = (1 - z) h_{t-1} + z h~, with z and
    /// h~ functions of x_t alone ([`minimal`]).
    #[serde(rename = "mingru")]
    MinGru,
    /// minLSTM (Feng et al. 2024), gate rows f, i, h~: h_t = f' h_{t-1} + i' h~ with f', i'
    /// the gates normalised to sum to one ([`minimal`]).
    #[serde(rename = "minlstm")]
    MinLstm,
    /// Layer-normalised LSTM (Ba et al. 2016), gate rows i, f, g, o: the x- and h-terms
    /// each normalised over their 4H values, and the cell state before its tanh ([`norm`]).
    LstmLn,
    /// Layer-normalised GRU, gate rows r, z, n: PyTorch's GRU on the normalised x- and
    /// h-terms ([`norm`]).
    GruLn,
}

impl CellKind {
    /// Gate blocks per hidden unit: G = 1, 4, 3.
    pub fn gates(self) -> usize {
        match self {
            CellKind::RnnTanh | CellKind::RnnRelu => 1,
            CellKind::Lstm | CellKind::LstmLn => 4,
            CellKind::Gru | CellKind::GruLn => 3,
            CellKind::MinGru => 2,
            CellKind::MinLstm => 3,
        }
    }
    /// Whether the gates read x_t alone: no recurrent weights (`weight_hh`, `bias_hh`), and
    /// the layer runs as a scan over time instead of a loop of products.
    pub fn is_minimal(self) -> bool {
        matches!(self, CellKind::MinGru | CellKind::MinLstm)
    }
    /// Whether the gate pre-activations and the cell state are layer-normalised: the layer
    /// runs [`norm`]'s time loop and carries the gains `ln_*` besides PyTorch's weights.
    pub fn is_normalized(self) -> bool {
        matches!(self, CellKind::LstmLn | CellKind::GruLn)
    }
    /// The canonical name (`rnn_tanh`, `rnn_relu`, `lstm`, `gru`, `mingru`, `minlstm`,
    /// `lstm_ln`, `gru_ln`).
    pub fn name(self) -> &'static str {
        match self {
            CellKind::RnnTanh => "rnn_tanh",
            CellKind::RnnRelu => "rnn_relu",
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
            CellKind::MinGru => "mingru",
            CellKind::MinLstm => "minlstm",
            CellKind::LstmLn => "lstm_ln",
            CellKind::GruLn => "gru_ln",
        }
    }
    /// Whether the cell carries a cell state `c` besides `h`.
    pub fn has_cell_state(self) -> bool {
        matches!(self, CellKind::Lstm | CellKind::LstmLn)
    }
}

impl fmt::Display for CellKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CellKind {
    type Err = Error;
    /// Accepts the canonical names, `rnn` (= `rnn_tanh`), and `-` for `_`. (`irnn` is
    /// `rnn_relu` with identity recurrent weights: an initialisation, see [`crate::init`].)
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "rnn" | "rnn_tanh" | "tanh" => Ok(CellKind::RnnTanh),
            "rnn_relu" | "relu" | "irnn" => Ok(CellKind::RnnRelu),
            "lstm" => Ok(CellKind::Lstm),
            "gru" => Ok(CellKind::Gru),
            "mingru" | "min_gru" => Ok(CellKind::MinGru),
            "minlstm" | "min_lstm" => Ok(CellKind::MinLstm),
            "lstm_ln" | "ln_lstm" => Ok(CellKind::LstmLn),
            "gru_ln" | "ln_gru" => Ok(CellKind::GruLn),
            other => Err(Error::Config(format!(
                "unknown cell `{other}`: use rnn_tanh (rnn), rnn_relu, irnn, lstm, gru, \
                 mingru, minlstm, lstm_ln or gru_ln"
            ))),
        }
    }
}

/// The two ways of writing a GRU. Both use the same parameters (rows r, z, n).
///
/// - `Pytorch` (default, cuDNN's too): n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),
///   h' = (1 - z) * n + z * h.
/// - `Seeds` (Cho et al. 2014, as the seeds write it): h~ = tanh(W_in x + b_in +
///   W_hn (r * h) + b_hn), h' = (1 - z) * h + z * h~. The reset gate acts before the
///   product, so each step needs a second, dependent matrix product.
///
/// The seeds' z is PyTorch's 1 - z: since sigmoid(-a) = 1 - sigmoid(a), negating the z rows
/// of `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh` turns one z into the other. Only the
/// place of the reset gate truly differs between the two forms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GruForm {
    #[default]
    Pytorch,
    Seeds,
}

impl FromStr for GruForm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pytorch" | "torch" | "cudnn" => Ok(GruForm::Pytorch),
            "seeds" | "cho" | "original" => Ok(GruForm::Seeds),
            other => Err(Error::Config(format!(
                "unknown GRU form `{other}`: use pytorch or seeds"
            ))),
        }
    }
}
