//! A dense row-major tensor: a shape and a flat `Vec`. Deliberately small: the engine
//! indexes the flat data itself, with the shape letters of each layer's doc comment.

use crate::error::{Error, Result};
use crate::float::Float;

/// A dense, row-major, owned tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor<F> {
    shape: Vec<usize>,
    data: Vec<F>,
}

impl<F: Float> Tensor<F> {
    /// All zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Tensor {
            shape: shape.to_vec(),
            data: vec![F::zero(); shape.iter().product()],
        }
    }
    /// From a shape and data; errors if the element count differs.
    pub fn from_vec(shape: &[usize], data: Vec<F>) -> Result<Self> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(Error::Input(format!(
                "shape {shape:?} needs {n} elements, got {}",
                data.len()
            )));
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            data,
        })
    }
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn data(&self) -> &[F] {
        &self.data
    }
    pub fn data_mut(&mut self) -> &mut [F] {
        &mut self.data
    }
    pub fn into_vec(self) -> Vec<F> {
        self.data
    }
    pub fn len(&self) -> usize {
        self.data.len()
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// Sets every element to zero.
    pub fn fill_zero(&mut self) {
        self.data.iter_mut().for_each(|v| *v = F::zero());
    }
    /// Converts to another float type.
    pub fn cast<G: Float>(&self) -> Tensor<G> {
        Tensor {
            shape: self.shape.clone(),
            data: self.data.iter().map(|v| G::of(v.to64())).collect(),
        }
    }
    /// Same data, new shape with the same element count.
    pub fn reshape(mut self, shape: &[usize]) -> Result<Self> {
        let n: usize = shape.iter().product();
        if n != self.data.len() {
            return Err(Error::Input(format!(
                "cannot reshape {:?} into {shape:?}",
                self.shape
            )));
        }
        self.shape = shape.to_vec();
        Ok(self)
    }
    /// The sub-tensor at index `i` of the first axis (a copy).
    pub fn index0(&self, i: usize) -> Tensor<F> {
        let inner: usize = self.shape[1..].iter().product();
        Tensor {
            shape: self.shape[1..].to_vec(),
            data: self.data[i * inner..(i + 1) * inner].to_vec(),
        }
    }
    /// Swaps the first two axes ([A, B, ...] -> [B, A, ...]): batch-first <-> time-first.
    pub fn swap01(&self) -> Tensor<F> {
        let (a, b) = (self.shape[0], self.shape[1]);
        let inner: usize = self.shape[2..].iter().product();
        let mut out = Vec::with_capacity(self.data.len());
        for j in 0..b {
            for i in 0..a {
                let s = (i * b + j) * inner;
                out.extend_from_slice(&self.data[s..s + inner]);
            }
        }
        let mut shape = self.shape.clone();
        shape.swap(0, 1);
        Tensor { shape, data: out }
    }
    /// Largest |x|.
    pub fn max_abs(&self) -> F {
        self.data.iter().fold(F::zero(), |m, v| m.max(v.abs()))
    }
    /// Euclidean norm, accumulated in f64.
    pub fn norm(&self) -> f64 {
        self.data
            .iter()
            .map(|v| v.to64() * v.to64())
            .sum::<f64>()
            .sqrt()
    }
}
