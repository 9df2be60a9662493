//! # recurrent
//!
//! Recurrent neural networks (Elman RNN with tanh or ReLU, LSTM, GRU), stacked and
//! bidirectional, with backpropagation through time written out by hand and checked against
//! PyTorch to 1e-9 in f64. Parameters carry PyTorch's names, so weights move both ways.
//!
//! Shape letters used throughout: `T` time steps, `B` batch, `I` input features, `H` hidden
//! size, `P` LSTM projection size (`H_out = P` if `P > 0` else `H`), `G` gates per cell
//! (1 RNN, 4 LSTM, 3 GRU), `D` directions (2 if bidirectional), `L` layers.
//!
//! Data flows one way: data -> model forward (keeping a cache) -> loss -> backward in
//! reverse time -> gradients in each [`Param`] -> optimizer.

pub mod cell;
pub mod error;
pub mod float;
pub mod gradcheck;
pub mod init;
pub mod kernels;
pub mod layer;
pub mod param;
pub mod rng;
pub mod tensor;

pub use cell::CellKind;
pub use error::{Error, Result};
pub use float::Float;
pub use layer::{Rnn, RnnCache, RnnConfig, RnnOutput, RnnState, StepScratch};
pub use param::{Module, Param};
pub use rng::Rng;
pub use tensor::Tensor;
