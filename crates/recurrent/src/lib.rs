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
//!
//! ```
//! use recurrent::init::Init;
//! use recurrent::optim::{Adam, AdamConfig, Optimizer};
//! use recurrent::{CellKind, Module, Rng, Rnn, RnnConfig, Tensor};
//!
//! // A 2-layer bidirectional LSTM with PyTorch's default initialisation.
//! let cfg = RnnConfig::new(CellKind::Lstm, 16, 32).layers(2).bidirectional(true);
//! let mut lstm: Rnn<f32> = Rnn::new(cfg, &Init::default(), &mut Rng::new(0))?;
//! let x = Tensor::zeros(&[50, 8, 16]); // [T, B, I]
//! let (out, cache) = lstm.forward(&x, None, None, None)?;
//! assert_eq!(out.output.shape(), &[50, 8, 64]);
//! // Loss = sum(output): dL/d(output) is all ones. Backward through time:
//! let d_out = Tensor::from_vec(out.output.shape(), vec![1.0; out.output.len()])?;
//! let grads = lstm.backward(&cache, &d_out, None, None)?;
//! assert_eq!(grads.d_input.shape(), &[50, 8, 16]);
//! let mut adam = Adam::new(AdamConfig { lr: 1e-3, ..Default::default() })?;
//! adam.step(&mut lstm)?;
//! lstm.visit(&mut |p| println!("{} {:?}", p.name, p.shape()));
//! # Ok::<(), recurrent::Error>(())
//! ```

pub mod calendar;
pub mod cell;
pub mod checkpoint;
pub mod decode;
pub mod error;
pub mod float;
pub mod gradcheck;
pub mod init;
pub mod kernels;
pub mod layer;
pub mod model;
pub mod nn;
pub mod omit;
pub mod onnx;
pub mod optim;
pub mod param;
pub mod rng;
pub mod tensor;
pub mod text;
pub mod train;

pub use cell::CellKind;
pub use error::{Error, Result};
pub use float::Float;
pub use kernels::quant::Precision;
pub use layer::{Quantize, Rnn, RnnCache, RnnConfig, RnnOutput, RnnState, StepScratch};
pub use param::{Module, Param};
pub use rng::Rng;
pub use tensor::Tensor;
