//! Elman RNN, fused element-wise kernels.
//!
//! Forward:  h_t = act(a_t),  a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
//! Backward: da_t = dh_t * act'(a_t)  (written through h_t: tanh' = 1 - h^2, relu' = [h > 0])
//! The products with W_ih and W_hh live in [`super::sequence`]; here is only what happens to
//! each element.

use crate::float::Float;
use crate::kernels::act;

/// The nonlinearity of an Elman RNN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Tanh,
    Relu,
}

/// h_t = act(a_t), in place on the gate buffer `a` ([B, H]); rows with `valid[b] = false`
/// (past their sequence's end) keep h_{t-1}.
pub fn forward_step<F: Float>(
    act_kind: Activation,
    a: &mut [F],
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
        let (ar, hr) = (&mut a[r.clone()], &mut h[r]);
        match act_kind {
            Activation::Tanh => ar.iter_mut().zip(hr).for_each(|(a, h)| {
                *a = act::tanh(*a);
                *h = *a;
            }),
            Activation::Relu => ar.iter_mut().zip(hr).for_each(|(a, h)| {
                *a = act::relu(*a);
                *h = *a;
            }),
        }
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
        let d = act_kind;
        for ((da, &y), &dh) in da[r.clone()]
            .iter_mut()
            .zip(&y[r.clone()])
            .zip(&dh[r.clone()])
        {
            *da = dh
                * match d {
                    Activation::Tanh => act::dtanh(y),
                    Activation::Relu => act::drelu(y),
                };
        }
    }
}
