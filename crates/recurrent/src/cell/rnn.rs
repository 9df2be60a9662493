//! Elman RNN, fused element-wise kernels.
//!
//! Forward:  h_t = act(a_t),  a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
//! Backward: da_t = dh_t * act'(a_t)  (written through h_t: tanh' = 1 - h^2, relu' = [h > 0])
//! The products with W_ih and W_hh live in [`super::sequence`]; here is only what happens to
//! each element. The `*_row` kernels take one batch row and any run of hidden units (see
//! [`super::lstm`] for why); the `*_step` functions apply them to a whole [B, H] buffer.

use crate::float::Float;
use crate::kernels::act;

/// The nonlinearity of an Elman RNN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Tanh,
    Relu,
}

crate::multiversion! {
    /// Forward on one row: h_t = tanh(a_t + bias), in place on `a` (kept for backward) and
    /// copied to `h`.
    pub fn forward_row_tanh<F: Float>(a: &mut [F], bias: &[F], h: &mut [F]) {
        let n = a.len();
        let (bias, h) = (&bias[..n], &mut h[..n]);
        for j in 0..n {
            a[j] = act::tanh(a[j] + bias[j]);
            h[j] = a[j];
        }
    }
}

crate::multiversion! {
    /// Forward on one row: h_t = relu(a_t + bias), in place on `a` and copied to `h`.
    pub fn forward_row_relu<F: Float>(a: &mut [F], bias: &[F], h: &mut [F]) {
        let n = a.len();
        let (bias, h) = (&bias[..n], &mut h[..n]);
        for j in 0..n {
            a[j] = act::relu(a[j] + bias[j]);
            h[j] = a[j];
        }
    }
}

crate::multiversion! {
    /// Backward on one row: da = dh * (1 - y^2), y = h_t = tanh(a_t).
    pub fn backward_row_tanh<F: Float>(y: &[F], dh: &[F], da: &mut [F]) {
        let n = y.len();
        let (dh, da) = (&dh[..n], &mut da[..n]);
        for j in 0..n {
            da[j] = dh[j] * act::dtanh(y[j]);
        }
    }
}

crate::multiversion! {
    /// Backward on one row: da = dh * [y > 0], y = h_t = relu(a_t).
    pub fn backward_row_relu<F: Float>(y: &[F], dh: &[F], da: &mut [F]) {
        let n = y.len();
        let (dh, da) = (&dh[..n], &mut da[..n]);
        for j in 0..n {
            da[j] = dh[j] * act::drelu(y[j]);
        }
    }
}

/// Forward on one row with the given activation: h_t = act(a_t + bias).
pub fn forward_row<F: Float>(act_kind: Activation, a: &mut [F], bias: &[F], h: &mut [F]) {
    match act_kind {
        Activation::Tanh => forward_row_tanh(a, bias, h),
        Activation::Relu => forward_row_relu(a, bias, h),
    }
}

/// Backward on one row with the given activation.
pub fn backward_row<F: Float>(act_kind: Activation, y: &[F], dh: &[F], da: &mut [F]) {
    match act_kind {
        Activation::Tanh => backward_row_tanh(y, dh, da),
        Activation::Relu => backward_row_relu(y, dh, da),
    }
}

/// h_t = act(a_t + bias), in place on the gate buffer `a` ([B, H]; `bias` [H] is
/// b_ih + b_hh); rows with `valid[b] = false` (past their sequence's end) keep h_{t-1}.
pub fn forward_step<F: Float>(
    act_kind: Activation,
    a: &mut [F],
    bias: &[F],
    h_prev: &[F],
    h: &mut [F],
    valid: &[bool],
    hs: usize,
) {
    for (b, &ok) in valid.iter().enumerate() {
        let r = b * hs..(b + 1) * hs;
        if !ok {
            h[r.clone()].copy_from_slice(&h_prev[r]);
            continue;
        }
        forward_row(act_kind, &mut a[r.clone()], bias, &mut h[r]);
    }
}

/// da_t = dh_t * act'(a_t), from the kept h_t (`y`). `dh` is the total gradient reaching
/// h_t (from the output and from step t+1). Rows past their end get da = 0.
pub fn backward_step<F: Float>(
    act_kind: Activation,
    y: &[F],
    dh: &[F],
    da: &mut [F],
    valid: &[bool],
    hs: usize,
) {
    for (b, &ok) in valid.iter().enumerate() {
        let r = b * hs..(b + 1) * hs;
        if !ok {
            da[r].iter_mut().for_each(|v| *v = F::zero());
            continue;
        }
        backward_row(act_kind, &y[r.clone()], &dh[r.clone()], &mut da[r]);
    }
}
