//! Weight drop: DropConnect (Wan et al. 2013) on the recurrent weights, as AWD-LSTM
//! (Merity et al. 2017) regularises them. One mask per forward pass, applied to the weight
//! once, before the time loop, so every step runs the ordinary fast path on W_hh ⊙ M; the
//! same units stay dropped for every step of every sequence of the batch.
//!
//! Forward:  M_ij = [u_ij >= p] / (1 - p)  (the rule of [`crate::nn::dropout`]),
//!           W_hh' = W_hh ⊙ M, and the layer runs on W_hh'
//! Backward: the layer's backward on W_hh' gives dL/dW_hh'; then dL/dW_hh = dL/dW_hh' ⊙ M.
//! The other parameters' gradients are unchanged by the substitution.

use crate::cell::sequence::DirParams;
use crate::float::Float;
use crate::nn::dropout::{self, dropout_mask};
use crate::rng::Rng;

/// One mask per layer-direction, drawn in index order (`k*D + d`).
pub(super) fn draw<F: Float>(dirs: &[DirParams<F>], p: f64, rng: &mut Rng) -> Vec<Vec<F>> {
    dirs.iter()
        .map(|d| dropout_mask(d.recurrent().value.data().len(), p, rng))
        .collect()
}

/// Forward: a copy of `p` whose W_hh is W_hh ⊙ `mask`.
pub(super) fn dropped<F: Float>(p: &DirParams<F>, mask: &[F]) -> DirParams<F> {
    let mut q = p.clone();
    if let Some(w) = &mut q.w_hh {
        dropout::apply(w.value.data_mut(), mask);
    }
    q
}

/// Backward: runs `backward` on `p` with W_hh ⊙ `mask` in place of W_hh and a zero W_hh
/// gradient, adds that gradient ⊙ `mask` to W_hh's own, and puts W_hh back as it was (the
/// saved value itself, not a division by the mask).
pub(super) fn backward_through<F: Float, R>(
    p: &mut DirParams<F>,
    mask: &[F],
    backward: impl FnOnce(&mut DirParams<F>) -> R,
) -> R {
    let Some(w) = &mut p.w_hh else {
        return backward(p);
    };
    let value = w.value.clone();
    dropout::apply(w.value.data_mut(), mask);
    let zero = crate::tensor::Tensor::zeros(w.grad.shape());
    let own_grad = std::mem::replace(&mut w.grad, zero);
    let r = backward(p);
    if let Some(w) = &mut p.w_hh {
        let g_dropped = std::mem::replace(&mut w.grad, own_grad);
        w.grad
            .data_mut()
            .iter_mut()
            .zip(g_dropped.data().iter().zip(mask))
            .for_each(|(g, (d, m))| *g += *d * *m);
        w.value = value;
    }
    r
}
