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
//!
//! The `*_row` kernels take one batch row and any run of hidden units, each gate's slice a
//! separate argument (see [`super::lstm`] for why); the `*_step` functions apply them to
//! whole [B, ...] buffers.

use crate::float::Float;
use crate::kernels::act;

crate::multiversion! {
    /// PyTorch's form, forward on one row. `xr, xz, xn` hold the x-terms without bias and
    /// are overwritten by the activated r, z, n; `hr, hz, hn` hold the h-terms without bias
    /// and get it added (they are kept: backward needs h_n with its bias); `bx*` are b_ih's
    /// and `bh*` b_hh's blocks for the same units. Writes h_t into `h`.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_row<F: Float>(
        xr: &mut [F],
        xz: &mut [F],
        xn: &mut [F],
        hr: &mut [F],
        hz: &mut [F],
        hn: &mut [F],
        bxr: &[F],
        bxz: &[F],
        bxn: &[F],
        bhr: &[F],
        bhz: &[F],
        bhn: &[F],
        h_prev: &[F],
        h: &mut [F],
    ) {
        let k = xr.len();
        let (xz, xn) = (&mut xz[..k], &mut xn[..k]);
        let (hr, hz, hn) = (&mut hr[..k], &mut hz[..k], &mut hn[..k]);
        let (bxr, bxz, bxn) = (&bxr[..k], &bxz[..k], &bxn[..k]);
        let (bhr, bhz, bhn) = (&bhr[..k], &bhz[..k], &bhn[..k]);
        let (h_prev, h) = (&h_prev[..k], &mut h[..k]);
        let one = F::one();
        for j in 0..k {
            let (ar, az, an) = (xr[j] + bxr[j], xz[j] + bxz[j], xn[j] + bxn[j]);
            let (cr, cz, cn) = (hr[j] + bhr[j], hz[j] + bhz[j], hn[j] + bhn[j]);
            let r = act::sigmoid(ar + cr);
            let z = act::sigmoid(az + cz);
            // n = tanh(x_n + r * h_n);  h_t = (1 - z) n + z h_{t-1}
            let n = act::tanh(an + r * cn);
            xr[j] = r;
            xz[j] = z;
            xn[j] = n;
            hr[j] = cr;
            hz[j] = cz;
            hn[j] = cn;
            h[j] = (one - z) * n + z * h_prev[j];
        }
    }
}

crate::multiversion! {
    /// PyTorch's form, backward on one row. `r, z, n` are the kept gates, `hn` the kept
    /// h-term of n, `dh` the gradient reaching h_t. Writes the x-row gradients `dxr, dxz,
    /// dxn`, the h-row gradients `dhr, dhz, dhn`, and the direct term dh * z into `dh_prev`
    /// (the caller adds the h-rows times W_hh).
    #[allow(clippy::too_many_arguments)]
    pub fn backward_row<F: Float>(
        r: &[F],
        z: &[F],
        n: &[F],
        hn: &[F],
        h_prev: &[F],
        dh: &[F],
        dxr: &mut [F],
        dxz: &mut [F],
        dxn: &mut [F],
        dhr: &mut [F],
        dhz: &mut [F],
        dhn: &mut [F],
        dh_prev: &mut [F],
    ) {
        let k = r.len();
        let (z, n, hn, h_prev, dh) = (&z[..k], &n[..k], &hn[..k], &h_prev[..k], &dh[..k]);
        let (dxr, dxz, dxn) = (&mut dxr[..k], &mut dxz[..k], &mut dxn[..k]);
        let (dhr, dhz, dhn, dh_prev) = (&mut dhr[..k], &mut dhz[..k], &mut dhn[..k], &mut dh_prev[..k]);
        let one = F::one();
        for j in 0..k {
            // dn = dh (1 - z), dz = dh (h_{t-1} - n), then through each activation.
            let dn = dh[j] * (one - z[j]);
            let dz = dh[j] * (h_prev[j] - n[j]);
            let dan = dn * act::dtanh(n[j]);
            let dar = dan * hn[j] * act::dsigmoid(r[j]);
            let daz = dz * act::dsigmoid(z[j]);
            dxr[j] = dar;
            dxz[j] = daz;
            dxn[j] = dan;
            dhr[j] = dar;
            dhz[j] = daz;
            dhn[j] = dan * r[j];
            dh_prev[j] = dh[j] * z[j];
        }
    }
}

crate::multiversion! {
    /// Seeds' form, first half forward on one row: r and z from x- and h-terms (`xr, xz`
    /// in, overwritten by r and z), and rh = r * h_{t-1} into `rh`.
    pub fn seeds_forward_gates_row<F: Float>(
        xr: &mut [F],
        xz: &mut [F],
        hr: &[F],
        hz: &[F],
        h_prev: &[F],
        rh: &mut [F],
    ) {
        let k = xr.len();
        let (xz, hr, hz, h_prev, rh) = (&mut xz[..k], &hr[..k], &hz[..k], &h_prev[..k], &mut rh[..k]);
        for j in 0..k {
            let r = act::sigmoid(xr[j] + hr[j]);
            xr[j] = r;
            xz[j] = act::sigmoid(xz[j] + hz[j]);
            rh[j] = r * h_prev[j];
        }
    }
}

crate::multiversion! {
    /// Seeds' form, second half forward on one row: h~ = tanh(x_n + h_n) (`xn` in,
    /// overwritten by h~; `hn` = W_hn rh + b_hn), h_t = (1 - z) h_{t-1} + z h~.
    pub fn seeds_forward_out_row<F: Float>(
        z: &[F],
        xn: &mut [F],
        hn: &[F],
        h_prev: &[F],
        h: &mut [F],
    ) {
        let k = xn.len();
        let (z, hn, h_prev, h) = (&z[..k], &hn[..k], &h_prev[..k], &mut h[..k]);
        let one = F::one();
        for j in 0..k {
            let n = act::tanh(xn[j] + hn[j]);
            xn[j] = n;
            h[j] = (one - z[j]) * h_prev[j] + z[j] * n;
        }
    }
}

crate::multiversion! {
    /// Seeds' form, first half backward on one row: da_z and da_n into `dz, dn` (da_r set to
    /// zero until [`seeds_backward_reset_row`]), the direct term dh (1 - z) into `dh_prev`.
    #[allow(clippy::too_many_arguments)]
    pub fn seeds_backward_out_row<F: Float>(
        z: &[F],
        n: &[F],
        h_prev: &[F],
        dh: &[F],
        dr: &mut [F],
        dz: &mut [F],
        dn: &mut [F],
        dh_prev: &mut [F],
    ) {
        let k = z.len();
        let (n, h_prev, dh) = (&n[..k], &h_prev[..k], &dh[..k]);
        let (dr, dz, dn, dh_prev) = (&mut dr[..k], &mut dz[..k], &mut dn[..k], &mut dh_prev[..k]);
        let one = F::one();
        for j in 0..k {
            dr[j] = F::zero();
            dz[j] = dh[j] * (n[j] - h_prev[j]) * act::dsigmoid(z[j]);
            dn[j] = dh[j] * z[j] * act::dtanh(n[j]);
            dh_prev[j] = dh[j] * (one - z[j]);
        }
    }
}

crate::multiversion! {
    /// Seeds' form, second half backward on one row: from drh = da_n W_hn,
    /// da_r = drh h_{t-1} r (1 - r) into `dr`, and dh_prev += drh * r.
    pub fn seeds_backward_reset_row<F: Float>(
        r: &[F],
        h_prev: &[F],
        drh: &[F],
        dr: &mut [F],
        dh_prev: &mut [F],
    ) {
        let k = r.len();
        let (h_prev, drh, dr, dh_prev) = (&h_prev[..k], &drh[..k], &mut dr[..k], &mut dh_prev[..k]);
        for j in 0..k {
            dr[j] = drh[j] * h_prev[j] * act::dsigmoid(r[j]);
            dh_prev[j] += drh[j] * r[j];
        }
    }
}

/// Splits a [3H] row into its r, z, n blocks.
fn split3<F>(row: &mut [F], h: usize) -> (&mut [F], &mut [F], &mut [F]) {
    let (r, rest) = row.split_at_mut(h);
    let (z, n) = rest.split_at_mut(h);
    (r, z, n)
}

/// PyTorch's form, one step forward over the batch. `gates` [B, 3H] holds the x-terms
/// without `b_ih` [3H] and is overwritten by the activated r, z, n; `hh` [B, 3H] holds the
/// h-terms without `b_hh` and gets it added (kept: backward needs h_n). Rows past their end
/// keep h_{t-1}.
#[allow(clippy::too_many_arguments)]
pub fn forward_step<F: Float>(
    gates: &mut [F],
    hh: &mut [F],
    b_ih: &[F],
    b_hh: &[F],
    h_prev: &[F],
    hout: &mut [F],
    valid: &[bool],
    h: usize,
) {
    for (b, &ok) in valid.iter().enumerate() {
        let r = b * h..(b + 1) * h;
        if !ok {
            hout[r.clone()].copy_from_slice(&h_prev[r]);
            continue;
        }
        let (xr, xz, xn) = split3(&mut gates[b * 3 * h..(b + 1) * 3 * h], h);
        let (hr, hz, hn) = split3(&mut hh[b * 3 * h..(b + 1) * 3 * h], h);
        forward_row(
            xr,
            xz,
            xn,
            hr,
            hz,
            hn,
            &b_ih[..h],
            &b_ih[h..2 * h],
            &b_ih[2 * h..3 * h],
            &b_hh[..h],
            &b_hh[h..2 * h],
            &b_hh[2 * h..3 * h],
            &h_prev[r.clone()],
            &mut hout[r],
        );
    }
}

/// PyTorch's form, one step backward over the batch. Writes the x-row gradients `dx` and
/// the h-row gradients `dhh` (each [B, 3H]), and sets `dh_prev` to the direct term dh * z
/// (the caller adds dhh W_hh). Rows past their end: zeros, and dh passes through to
/// `dh_prev`.
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
        let (dxr, dxz, dxn) = split3(&mut dx[gr.clone()], h);
        let (dhr, dhz, dhn) = split3(&mut dhh[gr], h);
        backward_row(
            &g[..h],
            &g[h..2 * h],
            &g[2 * h..],
            &hr[2 * h..],
            &h_prev[r.clone()],
            &dh[r.clone()],
            dxr,
            dxz,
            dxn,
            dhr,
            dhz,
            dhn,
            &mut dh_prev[r],
        );
    }
}

/// Seeds' form, first half forward over the batch: r and z from x- and h-terms (`gates`
/// [B, 3H] x-terms in, r and z written over their rows), and rh = r * h_{t-1} into `rh`
/// [B, H]. Rows past their end get rh = 0.
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
        let (xr, xz, _) = split3(&mut gates[b * 3 * h..(b + 1) * 3 * h], h);
        let hr = &hh[b * 3 * h..(b + 1) * 3 * h];
        seeds_forward_gates_row(
            xr,
            xz,
            &hr[..h],
            &hr[h..2 * h],
            &h_prev[r.clone()],
            &mut rh[r],
        );
    }
}

/// Seeds' form, second half forward over the batch: h~ = tanh(x_n + h_n) with h_n =
/// W_hn rh + b_hn already in `hh`'s n rows; h_t = (1 - z) h_{t-1} + z h~.
pub fn seeds_forward_out<F: Float>(
    gates: &mut [F],
    hh: &[F],
    h_prev: &[F],
    hout: &mut [F],
    valid: &[bool],
    h: usize,
) {
    for (b, &ok) in valid.iter().enumerate() {
        let r = b * h..(b + 1) * h;
        if !ok {
            hout[r.clone()].copy_from_slice(&h_prev[r]);
            continue;
        }
        let (_, xz, xn) = split3(&mut gates[b * 3 * h..(b + 1) * 3 * h], h);
        let hr = &hh[b * 3 * h..(b + 1) * 3 * h];
        seeds_forward_out_row(xz, xn, &hr[2 * h..], &h_prev[r.clone()], &mut hout[r]);
    }
}

/// Seeds' form, first half backward over the batch: da_z and da_n (x- and h-rows alike)
/// into `da` [B, 3H], the direct term dh (1 - z) into `dh_prev`. The caller then forms
/// drh = da_n W_hn.
pub fn seeds_backward_out<F: Float>(
    gates: &[F],
    h_prev: &[F],
    dh: &[F],
    da: &mut [F],
    dh_prev: &mut [F],
    valid: &[bool],
    h: usize,
) {
    for (b, &ok) in valid.iter().enumerate() {
        let r = b * h..(b + 1) * h;
        let gr = b * 3 * h..(b + 1) * 3 * h;
        if !ok {
            da[gr].iter_mut().for_each(|v| *v = F::zero());
            dh_prev[r.clone()].copy_from_slice(&dh[r]);
            continue;
        }
        let g = &gates[gr.clone()];
        let (dr, dz, dn) = split3(&mut da[gr], h);
        seeds_backward_out_row(
            &g[h..2 * h],
            &g[2 * h..],
            &h_prev[r.clone()],
            &dh[r.clone()],
            dr,
            dz,
            dn,
            &mut dh_prev[r],
        );
    }
}

/// Seeds' form, second half backward over the batch: from drh = da_n W_hn,
/// da_r = drh h_{t-1} r (1 - r) into `da`'s r rows, and dh_prev += drh * r.
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
        let dr = &mut da[b * 3 * h..b * 3 * h + h];
        seeds_backward_reset_row(
            &g[..h],
            &h_prev[r.clone()],
            &drh[r.clone()],
            dr,
            &mut dh_prev[r],
        );
    }
}
