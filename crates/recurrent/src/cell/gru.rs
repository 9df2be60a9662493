//! GRU, fused element-wise kernels, in PyTorch's form and in the seeds' form
//! (see [`super::GruForm`]). Gate rows r, z, n. Below, x-terms are the rows of
//! W_ih x_t + b_ih and h-terms those of W_hh h_{t-1} + b_hh.
//!
//! PyTorch's form:
//!   r = sigmoid(x_r + h_r), z = sigmoid(x_z + h_z)
//!   n = tanh(x_n + r * h_n)
//!   h_t = (1 - z) * n + z * h_{t-1}
//! Backward, from dh (the gradient reaching h_t):
//!   dn = dh (1 - z)           dz = dh (h_{t-1} - n)
//!   da_n = dn (1 - n^2)       (the x_n row; the h_n row gets da_n * r)
//!   dr = da_n * h_n           da_r = dr r (1 - r)      da_z = dz z (1 - z)
//!   dh_{t-1} = dh z + (h-rows of da) W_hh
//!
//! The seeds' form, reset before the product (rh = r * h_{t-1}):
//!   r, z as above;  h~ = tanh(x_n + W_hn rh + b_hn);  h_t = (1 - z) h_{t-1} + z h~
//! Backward:
//!   dh~ = dh z   dz = dh (h~ - h_{t-1})   da_n = dh~ (1 - h~^2)
//!   drh = da_n W_hn   dr = drh * h_{t-1}   da_r = dr r (1 - r)   da_z = dz z (1 - z)
//!   dh_{t-1} = dh (1 - z) + drh * r + (r, z rows of da) W_hh[r, z]

use crate::float::Float;
use crate::kernels::act;

/// PyTorch's form, one step forward. `gates` [B, 3H] holds the x-terms and is overwritten by
/// the activated r, z, n; `hh` [B, 3H] holds the h-terms (kept: backward needs h_n).
pub fn forward_step<F: Float>(
    gates: &mut [F],
    hh: &[F],
    h_prev: &[F],
    hout: &mut [F],
    valid: &[bool],
    h: usize,
) {
    let one = F::one();
    for (b, &ok) in valid.iter().enumerate() {
        let r = b * h..(b + 1) * h;
        if !ok {
            hout[r.clone()].copy_from_slice(&h_prev[r]);
            continue;
        }
        let g = &mut gates[b * 3 * h..(b + 1) * 3 * h];
        let hr = &hh[b * 3 * h..(b + 1) * 3 * h];
        let (hp, ho) = (&h_prev[r.clone()], &mut hout[r]);
        for j in 0..h {
            let rg = act::sigmoid(g[j] + hr[j]);
            let z = act::sigmoid(g[h + j] + hr[h + j]);
            let n = act::tanh(g[2 * h + j] + rg * hr[2 * h + j]);
            g[j] = rg;
            g[h + j] = z;
            g[2 * h + j] = n;
            ho[j] = (one - z) * n + z * hp[j];
        }
    }
}

/// PyTorch's form, one step backward. Writes the x-row gradients `dx` and the h-row
/// gradients `dhh` (each [B, 3H]), and sets `dh_prev` to the direct term dh * z (the caller
/// adds dhh W_hh). Rows past their end: zeros, and dh passes through to `dh_prev`.
#[allow(clippy::too_many_arguments)]
pub fn backward_step<F: Float>(
    gates: &[F],
    hh: &[F],
    h_prev: &[F],
    dh: &[F],
    dx: &mut [F],
    dhh: &mut [F],
    dh_prev: &mut [F],
    valid: &[bool],
    h: usize,
) {
    let one = F::one();
    for (b, &ok) in valid.iter().enumerate() {
        let r = b * h..(b + 1) * h;
        let gr = b * 3 * h..(b + 1) * 3 * h;
        if !ok {
            dx[gr.clone()].iter_mut().for_each(|v| *v = F::zero());
            dhh[gr].iter_mut().for_each(|v| *v = F::zero());
            dh_prev[r.clone()].copy_from_slice(&dh[r]);
            continue;
        }
        let (g, hr) = (&gates[gr.clone()], &hh[gr.clone()]);
        let (dxr, dhr) = (&mut dx[gr.clone()], &mut dhh[gr]);
        let (hp, dhv, dhp) = (&h_prev[r.clone()], &dh[r.clone()], &mut dh_prev[r]);
        for j in 0..h {
            let (rg, z, n) = (g[j], g[h + j], g[2 * h + j]);
            let dn = dhv[j] * (one - z);
            let dz = dhv[j] * (hp[j] - n);
            let dan = dn * act::dtanh(n);
            let dar = dan * hr[2 * h + j] * act::dsigmoid(rg);
            let daz = dz * act::dsigmoid(z);
            dxr[j] = dar;
            dxr[h + j] = daz;
            dxr[2 * h + j] = dan;
            dhr[j] = dar;
            dhr[h + j] = daz;
            dhr[2 * h + j] = dan * rg;
            dhp[j] = dhv[j] * z;
        }
    }
}

/// Seeds' form, first half forward: r and z from x- and h-terms (`gates` [B, 3H] x-terms in,
/// r and z written over their rows), and rh = r * h_{t-1} into `rh` [B, H].
pub fn seeds_forward_gates<F: Float>(
    gates: &mut [F],
    hh: &[F],
    h_prev: &[F],
    rh: &mut [F],
    valid: &[bool],
    h: usize,
) {
    for (b, &ok) in valid.iter().enumerate() {
        let r = b * h..(b + 1) * h;
        if !ok {
            rh[r].iter_mut().for_each(|v| *v = F::zero());
            continue;
        }
        let g = &mut gates[b * 3 * h..(b + 1) * 3 * h];
        let hr = &hh[b * 3 * h..(b + 1) * 3 * h];
        let (hp, rr) = (&h_prev[r.clone()], &mut rh[r]);
        for j in 0..h {
            let rg = act::sigmoid(g[j] + hr[j]);
            g[j] = rg;
            g[h + j] = act::sigmoid(g[h + j] + hr[h + j]);
            rr[j] = rg * hp[j];
        }
    }
}

/// Seeds' form, second half forward: h~ = tanh(x_n + h_n) with h_n = W_hn rh + b_hn already
/// in `hh`'s n rows; h_t = (1 - z) h_{t-1} + z h~.
pub fn seeds_forward_out<F: Float>(
    gates: &mut [F],
    hh: &[F],
    h_prev: &[F],
    hout: &mut [F],
    valid: &[bool],
    h: usize,
) {
    let one = F::one();
    for (b, &ok) in valid.iter().enumerate() {
        let r = b * h..(b + 1) * h;
        if !ok {
            hout[r.clone()].copy_from_slice(&h_prev[r]);
            continue;
        }
        let g = &mut gates[b * 3 * h..(b + 1) * 3 * h];
        let hr = &hh[b * 3 * h..(b + 1) * 3 * h];
        let (hp, ho) = (&h_prev[r.clone()], &mut hout[r]);
        for j in 0..h {
            let z = g[h + j];
            let n = act::tanh(g[2 * h + j] + hr[2 * h + j]);
            g[2 * h + j] = n;
            ho[j] = (one - z) * hp[j] + z * n;
        }
    }
}

/// Seeds' form, first half backward: da_z and da_n (x- and h-rows alike) into `da` [B, 3H],
/// the direct term dh (1 - z) into `dh_prev`. The caller then forms drh = da_n W_hn.
pub fn seeds_backward_out<F: Float>(
    gates: &[F],
    h_prev: &[F],
    dh: &[F],
    da: &mut [F],
    dh_prev: &mut [F],
    valid: &[bool],
    h: usize,
) {
    let one = F::one();
    for (b, &ok) in valid.iter().enumerate() {
        let r = b * h..(b + 1) * h;
        let gr = b * 3 * h..(b + 1) * 3 * h;
        if !ok {
            da[gr].iter_mut().for_each(|v| *v = F::zero());
            dh_prev[r.clone()].copy_from_slice(&dh[r]);
            continue;
        }
        let g = &gates[gr.clone()];
        let d = &mut da[gr];
        let (hp, dhv, dhp) = (&h_prev[r.clone()], &dh[r.clone()], &mut dh_prev[r]);
        for j in 0..h {
            let (z, n) = (g[h + j], g[2 * h + j]);
            d[j] = F::zero();
            d[h + j] = dhv[j] * (n - hp[j]) * act::dsigmoid(z);
            d[2 * h + j] = dhv[j] * z * act::dtanh(n);
            dhp[j] = dhv[j] * (one - z);
        }
    }
}

/// Seeds' form, second half backward: from drh = da_n W_hn, da_r = drh h_{t-1} r (1 - r)
/// into `da`'s r rows, and dh_prev += drh * r.
pub fn seeds_backward_reset<F: Float>(
    gates: &[F],
    h_prev: &[F],
    drh: &[F],
    da: &mut [F],
    dh_prev: &mut [F],
    valid: &[bool],
    h: usize,
) {
    for (b, &ok) in valid.iter().enumerate() {
        if !ok {
            continue;
        }
        let r = b * h..(b + 1) * h;
        let g = &gates[b * 3 * h..(b + 1) * 3 * h];
        let d = &mut da[b * 3 * h..(b + 1) * 3 * h];
        let (hp, drr, dhp) = (&h_prev[r.clone()], &drh[r.clone()], &mut dh_prev[r]);
        for j in 0..h {
            let rg = g[j];
            d[j] = drr[j] * hp[j] * act::dsigmoid(rg);
            dhp[j] += drr[j] * rg;
        }
    }
}
