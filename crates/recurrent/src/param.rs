//! Trainable parameters under stable names, and the one visitor every consumer uses
//! (optimizers, clipping, checkpoints, the gradient checker).

use crate::float::Float;
use crate::tensor::Tensor;

/// A trainable tensor, its gradient (same shape), and its PyTorch-style name.
#[derive(Clone, Debug)]
pub struct Param<F> {
    pub name: String,
    pub value: Tensor<F>,
    pub grad: Tensor<F>,
}

impl<F: Float> Param<F> {
    /// A parameter with a zero gradient.
    pub fn new(name: impl Into<String>, value: Tensor<F>) -> Self {
        let grad = Tensor::zeros(value.shape());
        Param {
            name: name.into(),
            value,
            grad,
        }
    }
    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }
}

/// Anything that owns parameters. Names are unique within a model; a containing model
/// prefixes its children's names (`rnn.weight_ih_l0`, `head.bias`).
pub trait Module<F: Float> {
    /// Visits every parameter, in a fixed order.
    fn visit(&self, f: &mut dyn FnMut(&Param<F>));
    /// Visits every parameter mutably, in the same order as [`Module::visit`].
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<F>));

    /// Sets every gradient to zero.
    fn zero_grad(&mut self) {
        self.visit_mut(&mut |p| p.grad.fill_zero());
    }
    /// Total number of scalar parameters.
    fn num_params(&self) -> usize {
        let mut n = 0;
        self.visit(&mut |p| n += p.value.len());
        n
    }
    /// `(name, shape)` of every parameter, in visiting order.
    fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut v = Vec::new();
        self.visit(&mut |p| v.push((p.name.clone(), p.shape().to_vec())));
        v
    }
}
