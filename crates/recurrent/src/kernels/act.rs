//! Scalar activations and their derivatives, written once for every cell.
//!
//! The derivatives are expressed through the activation's output (`y`), which is what the
//! forward pass keeps: sigmoid' = y (1 - y), tanh' = 1 - y^2, relu' = [y > 0].

use crate::float::Float;

/// sigmoid(x) = 1 / (1 + e^-x), computed without overflow for large |x|.
#[inline(always)]
pub fn sigmoid<F: Float>(x: F) -> F {
    if x >= F::zero() {
        F::one() / (F::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (F::one() + e)
    }
}

/// tanh(x).
#[inline(always)]
pub fn tanh<F: Float>(x: F) -> F {
    x.tanh()
}

/// relu(x) = max(x, 0).
#[inline(always)]
pub fn relu<F: Float>(x: F) -> F {
    if x > F::zero() {
        x
    } else {
        F::zero()
    }
}

/// d sigmoid / dx from y = sigmoid(x).
#[inline(always)]
pub fn dsigmoid<F: Float>(y: F) -> F {
    y * (F::one() - y)
}

/// d tanh / dx from y = tanh(x).
#[inline(always)]
pub fn dtanh<F: Float>(y: F) -> F {
    F::one() - y * y
}

/// d relu / dx from y = relu(x) (0 at x = 0, as PyTorch).
#[inline(always)]
pub fn drelu<F: Float>(y: F) -> F {
    if y > F::zero() {
        F::one()
    } else {
        F::zero()
    }
}
