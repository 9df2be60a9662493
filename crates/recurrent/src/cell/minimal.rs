//! minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"), fused element-wise
//! kernels, forward beside backward.
//!
//! Both drop the previous state from the gates, so each step is the linear recurrence
//!   h_t = a_t * h_{t-1} + b_t
//! with a_t, b_t functions of x_t alone. The pre-activations of all steps come from one
//! product X W_ih^T + b_ih before any step runs; what is left is a scan ([`super::sequence`]
//! runs it, split over the hidden units).
//!
//! minGRU, gate rows z, h~:
//!   z = sigmoid(a_z), h~ = a_h
//!   h_t = (1 - z) h_{t-1} + z h~
//! Backward, from dh (the whole gradient reaching h_t):
//!   da_z = dh (h~ - h_{t-1}) z (1 - z),  da_h = dh z,  dh_{t-1} = dh (1 - z)
//!
//! minLSTM, gate rows f, i, h~ (the paper's length-independent form):
//!   f = sigmoid(a_f), i = sigmoid(a_i), h~ = a_h, s = f + i
//!   h_t = (f / s) h_{t-1} + (i / s) h~
//! Backward: with e = dh (h_{t-1} - h~) / s^2 (the gradient of f/s, less that of i/s, per
//! unit of f's share),
//!   da_f = e i f (1 - f),  da_i = -e f i (1 - i),  da_h = dh i / s,  dh_{t-1} = dh f / s
//!
//! The candidate h~ is linear, as in the paper's sequential form: h_t is a convex
//! combination of h_{t-1} and h~, so it stays within the range of the candidates. The
//! paper's g(x) (x + 0.5 or sigmoid) keeps h~ positive for its log-space scan; the scan
//! here never divides by a running product of the a_t (see [`super::sequence`]), so it needs
//! neither logarithms nor positive candidates.
//!
//! Each `*_row` kernel works on one batch row and any run of hidden units, every gate's
//! slice of the same units an argument of its own, so that threads can split the units and
//! the loops vectorise.

use super::CellKind;
use crate::float::Float;
use crate::kernels::act;

/// One forward step of either minimal cell on one row and run of units: `gate(q)` is gate
/// block q's slice (pre-activations in, activations out), `bias(q)` its biases. What the
/// sequence's walk and the streaming step both call.
pub fn forward_units<'a, F: Float>(
    kind: CellKind,
    gate: impl Fn(usize) -> &'a mut [F],
    bias: impl Fn(usize) -> &'a [F],
    h_prev: &[F],
    h: &mut [F],
) {
    if kind == CellKind::MinGru {
        gru_forward_row(gate(0), gate(1), bias(0), bias(1), h_prev, h);
    } else {
        lstm_forward_row(
            gate(0),
            gate(1),
            gate(2),
            bias(0),
            bias(1),
            bias(2),
            h_prev,
            h,
        );
    }
}

crate::multiversion! {
    /// minGRU forward on one row: `az`, `ah` hold the pre-activations without bias and are
    /// overwritten by z and h~ (what backward needs); `bz`, `bh` the biases of the same
    /// units; writes h_t into `h`.
    pub fn gru_forward_row<F: Float>(
        az: &mut [F],
        ah: &mut [F],
        bz: &[F],
        bh: &[F],
        h_prev: &[F],
        h: &mut [F],
    ) {
        let n = az.len();
        let (ah, bz, bh, h_prev, h) = (&mut ah[..n], &bz[..n], &bh[..n], &h_prev[..n], &mut h[..n]);
        for j in 0..n {
            let z = act::sigmoid(az[j] + bz[j]);
            let cand = ah[j] + bh[j];
            // h_t = (1 - z) h_{t-1} + z h~
            h[j] = h_prev[j] + z * (cand - h_prev[j]);
            az[j] = z;
            ah[j] = cand;
        }
    }
}

crate::multiversion! {
    /// minGRU backward on one row. `z`, `cand` are kept by forward; `dh` enters as the
    /// whole gradient reaching h_t and leaves as the one reaching h_{t-1}. Writes the
    /// pre-activation gradients `dz`, `dcand`.
    pub fn gru_backward_row<F: Float>(
        z: &[F],
        cand: &[F],
        h_prev: &[F],
        dh: &mut [F],
        dz: &mut [F],
        dcand: &mut [F],
    ) {
        let n = z.len();
        let (cand, h_prev, dh) = (&cand[..n], &h_prev[..n], &mut dh[..n]);
        let (dz, dcand) = (&mut dz[..n], &mut dcand[..n]);
        for j in 0..n {
            let g = dh[j];
            dz[j] = g * (cand[j] - h_prev[j]) * act::dsigmoid(z[j]);
            dcand[j] = g * z[j];
            dh[j] = g * (F::one() - z[j]);
        }
    }
}

crate::multiversion! {
    /// minLSTM forward on one row: `af`, `ai`, `ah` hold the pre-activations without bias
    /// and are overwritten by f, i and h~; `bf`, `bi`, `bh` the biases of the same units;
    /// writes h_t into `h`.
    #[allow(clippy::too_many_arguments)]
    pub fn lstm_forward_row<F: Float>(
        af: &mut [F],
        ai: &mut [F],
        ah: &mut [F],
        bf: &[F],
        bi: &[F],
        bh: &[F],
        h_prev: &[F],
        h: &mut [F],
    ) {
        let n = af.len();
        let (ai, ah) = (&mut ai[..n], &mut ah[..n]);
        let (bf, bi, bh, h_prev, h) = (&bf[..n], &bi[..n], &bh[..n], &h_prev[..n], &mut h[..n]);
        for j in 0..n {
            let f = act::sigmoid(af[j] + bf[j]);
            let i = act::sigmoid(ai[j] + bi[j]);
            let cand = ah[j] + bh[j];
            // h_t = (f h_{t-1} + i h~) / (f + i)
            h[j] = (f * h_prev[j] + i * cand) / (f + i);
            af[j] = f;
            ai[j] = i;
            ah[j] = cand;
        }
    }
}

crate::multiversion! {
    /// minLSTM backward on one row. `f`, `i`, `cand` are kept by forward; `dh` enters as
    /// the whole gradient reaching h_t and leaves as the one reaching h_{t-1}. Writes the
    /// pre-activation gradients `df`, `di`, `dcand`.
    #[allow(clippy::too_many_arguments)]
    pub fn lstm_backward_row<F: Float>(
        f: &[F],
        i: &[F],
        cand: &[F],
        h_prev: &[F],
        dh: &mut [F],
        df: &mut [F],
        di: &mut [F],
        dcand: &mut [F],
    ) {
        let n = f.len();
        let (i, cand, h_prev, dh) = (&i[..n], &cand[..n], &h_prev[..n], &mut dh[..n]);
        let (df, di, dcand) = (&mut df[..n], &mut di[..n], &mut dcand[..n]);
        for j in 0..n {
            let g = dh[j];
            let inv = F::one() / (f[j] + i[j]);
            let e = g * (h_prev[j] - cand[j]) * inv * inv;
            df[j] = e * i[j] * act::dsigmoid(f[j]);
            di[j] = -e * f[j] * act::dsigmoid(i[j]);
            dcand[j] = g * i[j] * inv;
            dh[j] = g * f[j] * inv;
        }
    }
}
