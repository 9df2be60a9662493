//! Layer-normalised LSTM and GRU (Ba, Kiros and Hinton 2016): one batch row's element-wise
//! math, forward beside backward. The time loop that calls it is
//! [`super::sequence`]'s `normed.rs`; streaming calls it from [`super::stream`].
//!
//! LN(v) = (v - mean(v)) / sd(v), sd(v) = sqrt(var(v) + eps), over one row's G*H values
//! (the H values of c), eps = 1e-5 as PyTorch's `nn.LayerNorm`. The x- and h-terms are
//! normalised apart, so neither can drown the other, and each has its own gain.
//!
//! `lstm_ln` (gate rows i, f, g, o):
//!   x^ = LN(W_ih x_t),  h^ = LN(W_hh h_{t-1})
//!   a = g_x x^ + b_ih + g_h h^ + b_hh
//!   i, f, o = sigmoid(a_i, a_f, a_o),  g = tanh(a_g),  c_t = f c_{t-1} + i g
//!   c^ = LN(c_t),  h_t = o tanh(g_c c^ + b_c)
//! The state carried to the next step is c_t itself, as in the paper: only what leaves
//! through the tanh is normalised, so the forget gate's path dc_{t-1} = dc f stays intact.
//!
//! `gru_ln`: PyTorch's GRU ([`super::gru`]) with x-terms g_x x^ + b_ih and h-terms
//! g_h h^ + b_hh (b_hn stays inside r * (...)).
//!
//! Backward of v^ = LN(v), from dv^: dv = (dv^ - mean(dv^) - v^ mean(dv^ v^)) / sd.
//! lstm_ln, from dh (reaching h_t) and dc (reaching c_t from step t+1):
//!   u = tanh(g_c c^ + b_c),  da_o = dh u o (1 - o),  dn = dh o (1 - u^2)
//!   dg_c += dn c^,  db_c += dn,  dc += LN'(dn g_c)
//!   da_i, da_f, da_g, dc_{t-1} as the LSTM's ([`super::lstm`])
//!   dg_x += da x^,  dg_h += da h^,  db_ih = db_hh += da
//!   d(W_ih x_t) = LN'(da g_x),  d(W_hh h_{t-1}) = LN'(da g_h)
//! gru_ln: the GRU's backward gives the x-row and h-row gradients apart (dxa, dha), then
//! d(W_ih x_t) = LN'(dxa g_x), d(W_hh h_{t-1}) = LN'(dha g_h).

use super::gru;
use crate::float::Float;
use crate::kernels::act;

/// The variance floor of every normalisation (PyTorch's `nn.LayerNorm` default).
pub const EPS: f64 = 1e-5;

/// Sums in eight interleaved lanes, added pairwise at the end: the same order on every
/// machine, and a reduction the compiler can keep in one vector register.
fn lanes<F: Float>(n: usize, f: impl Fn(usize) -> F) -> F {
    let mut acc = [F::zero(); 8];
    let full = n / 8 * 8;
    for k in (0..full).step_by(8) {
        for (l, a) in acc.iter_mut().enumerate() {
            *a += f(k + l);
        }
    }
    for (l, k) in (full..n).enumerate() {
        acc[l] += f(k);
    }
    let (a, b) = (acc[0] + acc[4], acc[1] + acc[5]);
    let (c, d) = (acc[2] + acc[6], acc[3] + acc[7]);
    (a + c) + (b + d)
}

crate::multiversion! {
    /// v <- (v - mean) * inv.
    fn shift_scale<F: Float>(v: &mut [F], mean: F, inv: F) {
        v.iter_mut().for_each(|x| *x = (*x - mean) * inv);
    }
}

/// v <- LN(v) without gain; returns sd(v).
pub fn normalize<F: Float>(v: &mut [F]) -> F {
    let n = F::of(v.len() as f64);
    let mean = lanes(v.len(), |k| v[k]) / n;
    let var = lanes(v.len(), |k| (v[k] - mean) * (v[k] - mean)) / n;
    let sd = (var + F::of(EPS)).sqrt();
    shift_scale(v, mean, F::one() / sd);
    sd
}

crate::multiversion! {
    /// d <- (d - s - y sy) * inv.
    fn back_scale<F: Float>(d: &mut [F], y: &[F], s: F, sy: F, inv: F) {
        let y = &y[..d.len()];
        for (d, y) in d.iter_mut().zip(y) {
            *d = (*d - s - *y * sy) * inv;
        }
    }
}

/// dv^ -> dv in place, given the normalised v^ and sd (the module doc's LN').
pub fn normalize_back<F: Float>(d: &mut [F], y: &[F], sd: F) {
    let n = F::of(d.len() as f64);
    let s = lanes(d.len(), |k| d[k]) / n;
    let sy = lanes(d.len(), |k| d[k] * y[k]) / n;
    back_scale(d, y, s, sy, F::one() / sd);
}

/// The normalisation parameters of one layer-direction, full length, zeros where a bias is
/// absent: gains `gx`, `gh` [G*H], biases `bx`, `bh` [G*H], and the cell state's `gc`, `bc`
/// [H] (LSTM; empty for the GRU).
#[derive(Clone, Copy, Debug)]
pub struct Gains<'a, F> {
    pub gx: &'a [F],
    pub gh: &'a [F],
    pub bx: &'a [F],
    pub bh: &'a [F],
    pub gc: &'a [F],
    pub bc: &'a [F],
}

/// The standard deviations one step keeps per row: of the x-terms, the h-terms, and c_t.
pub type Sds<F> = [F; 3];

/// `lstm_ln` forward on one row (module doc). `xn`, `hn` [4H] enter as W_ih x_t and
/// W_hh h_{t-1} and leave normalised (what backward needs); writes the activated gates i, f,
/// g, o into `gates` [4H], c_t into `c`, c^ into `cn` and h_t into `h` [H].
#[allow(clippy::too_many_arguments)]
pub fn lstm_forward_row<F: Float>(
    p: &Gains<F>,
    xn: &mut [F],
    hn: &mut [F],
    c_prev: &[F],
    gates: &mut [F],
    c: &mut [F],
    cn: &mut [F],
    h: &mut [F],
) -> Sds<F> {
    let hs = c.len();
    let (sx, sh) = (normalize(xn), normalize(hn));
    lstm_cell(p.gx, p.bx, p.gh, p.bh, xn, hn, gates, c_prev, c, cn);
    let sc = normalize(cn);
    lstm_out(p.gc, p.bc, &gates[3 * hs..], cn, h);
    [sx, sh, sc]
}

crate::multiversion! {
    /// a = g_x x^ + b_x + g_h h^ + b_h, activated in place (sigmoid on i, f, o; tanh on g);
    /// c_t = f c_{t-1} + i g into `c` and, to be normalised, into `cn`.
    #[allow(clippy::too_many_arguments)]
    fn lstm_cell<F: Float>(
        gx: &[F],
        bx: &[F],
        gh: &[F],
        bh: &[F],
        xn: &[F],
        hn: &[F],
        gates: &mut [F],
        c_prev: &[F],
        c: &mut [F],
        cn: &mut [F],
    ) {
        let hs = c.len();
        let n = 4 * hs;
        let (gx, bx, gh, bh, xn, hn) = (&gx[..n], &bx[..n], &gh[..n], &bh[..n], &xn[..n], &hn[..n]);
        let gates = &mut gates[..n];
        for k in 0..n {
            gates[k] = gx[k] * xn[k] + bx[k] + gh[k] * hn[k] + bh[k];
        }
        let (i, rest) = gates.split_at_mut(hs);
        let (f, rest) = rest.split_at_mut(hs);
        let (g, o) = rest.split_at_mut(hs);
        let (c_prev, cn) = (&c_prev[..hs], &mut cn[..hs]);
        for j in 0..hs {
            i[j] = act::sigmoid(i[j]);
            f[j] = act::sigmoid(f[j]);
            g[j] = act::tanh(g[j]);
            o[j] = act::sigmoid(o[j]);
            c[j] = f[j] * c_prev[j] + i[j] * g[j];
            cn[j] = c[j];
        }
    }
}

crate::multiversion! {
    /// h_t = o tanh(g_c c^ + b_c).
    fn lstm_out<F: Float>(gc: &[F], bc: &[F], o: &[F], cn: &[F], h: &mut [F]) {
        let hs = h.len();
        let (gc, bc, o, cn) = (&gc[..hs], &bc[..hs], &o[..hs], &cn[..hs]);
        for j in 0..hs {
            h[j] = o[j] * act::tanh(gc[j] * cn[j] + bc[j]);
        }
    }
}

/// `lstm_ln` backward on one row (module doc). Reads what forward kept (`xn`, `hn`, `cn`,
/// `sd`, `gates`, `c_prev`) and `dh`; `dc` enters as the gradient reaching c_t from step
/// t+1 and leaves as the one reaching c_{t-1}. Writes the gate gradients `da` [4H] (for the
/// biases and gains), `dn` [H] (for g_c, b_c), and the gradients of the raw products,
/// `dax` = d(W_ih x_t) and `dah` = d(W_hh h_{t-1}) [4H].
#[allow(clippy::too_many_arguments)]
pub fn lstm_backward_row<F: Float>(
    p: &Gains<F>,
    xn: &[F],
    hn: &[F],
    cn: &[F],
    sd: Sds<F>,
    gates: &[F],
    c_prev: &[F],
    dh: &[F],
    dc: &mut [F],
    da: &mut [F],
    dn: &mut [F],
    dax: &mut [F],
    dah: &mut [F],
) {
    let hs = dn.len();
    // Through h_t = o tanh(g_c c^ + b_c); `dah`'s first H values serve as scratch for
    // dc^ until they are written for real below.
    let (da_ifg, da_o) = da.split_at_mut(3 * hs);
    let tmp = &mut dah[..hs];
    lstm_back_out(p.gc, p.bc, cn, &gates[3 * hs..], dh, da_o, dn, tmp);
    normalize_back(tmp, cn, sd[2]);
    lstm_back_cell(gates, c_prev, tmp, dc, da_ifg);
    through_norms(p, xn, hn, sd, da, da, dax, dah);
}

crate::multiversion! {
    /// From dh: da_o, dn (the gradient of g_c c^ + b_c) and dc^ = dn g_c into `dcn`.
    #[allow(clippy::too_many_arguments)]
    fn lstm_back_out<F: Float>(
        gc: &[F],
        bc: &[F],
        cn: &[F],
        o: &[F],
        dh: &[F],
        da_o: &mut [F],
        dn: &mut [F],
        dcn: &mut [F],
    ) {
        let hs = dn.len();
        let (gc, bc, cn, o, dh) = (&gc[..hs], &bc[..hs], &cn[..hs], &o[..hs], &dh[..hs]);
        let (da_o, dcn) = (&mut da_o[..hs], &mut dcn[..hs]);
        let one = F::one();
        for j in 0..hs {
            let u = act::tanh(gc[j] * cn[j] + bc[j]);
            da_o[j] = dh[j] * u * act::dsigmoid(o[j]);
            dn[j] = dh[j] * o[j] * (one - u * u);
            dcn[j] = dn[j] * gc[j];
        }
    }
}

crate::multiversion! {
    /// dc_t = dc + d(through LN(c_t)), then the LSTM's gates (rows i, f, g of `da`) and
    /// dc_{t-1} = dc_t f into `dc`.
    fn lstm_back_cell<F: Float>(gates: &[F], c_prev: &[F], dcl: &[F], dc: &mut [F], da: &mut [F]) {
        let hs = dc.len();
        let (gi, gf, gg) = (&gates[..hs], &gates[hs..2 * hs], &gates[2 * hs..3 * hs]);
        let (c_prev, dcl) = (&c_prev[..hs], &dcl[..hs]);
        let (di, rest) = da.split_at_mut(hs);
        let (df, dg) = rest.split_at_mut(hs);
        let (df, dg) = (&mut df[..hs], &mut dg[..hs]);
        for j in 0..hs {
            let dct = dc[j] + dcl[j];
            di[j] = dct * gg[j] * act::dsigmoid(gi[j]);
            df[j] = dct * c_prev[j] * act::dsigmoid(gf[j]);
            dg[j] = dct * gi[j] * act::dtanh(gg[j]);
            dc[j] = dct * gf[j];
        }
    }
}

/// d(W_ih x) = LN'(dxa g_x) and d(W_hh h) = LN'(dha g_h): the gate gradients of the x- and
/// h-terms back through their normalisations.
#[allow(clippy::too_many_arguments)]
fn through_norms<F: Float>(
    p: &Gains<F>,
    xn: &[F],
    hn: &[F],
    sd: Sds<F>,
    dxa: &[F],
    dha: &[F],
    dax: &mut [F],
    dah: &mut [F],
) {
    scale_both(p.gx, p.gh, dxa, dha, dax, dah);
    normalize_back(dax, xn, sd[0]);
    normalize_back(dah, hn, sd[1]);
}

crate::multiversion! {
    /// dax = dxa g_x, dah = dha g_h.
    fn scale_both<F: Float>(gx: &[F], gh: &[F], dxa: &[F], dha: &[F], dax: &mut [F], dah: &mut [F]) {
        let n = dax.len();
        let (gx, gh, dxa, dha, dah) = (&gx[..n], &gh[..n], &dxa[..n], &dha[..n], &mut dah[..n]);
        for k in 0..n {
            dax[k] = dxa[k] * gx[k];
            dah[k] = dha[k] * gh[k];
        }
    }
}

/// `gru_ln` forward on one row (module doc). `xn`, `hn` [3H] enter as W_ih x_t and
/// W_hh h_{t-1} and leave normalised; writes the activated r, z, n into `gates` [3H], the
/// h-terms g_h h^ + b_hh into `hh` [3H] (backward needs the n row) and h_t into `h` [H].
/// The third standard deviation is unused (1).
#[allow(clippy::too_many_arguments)]
pub fn gru_forward_row<F: Float>(
    p: &Gains<F>,
    xn: &mut [F],
    hn: &mut [F],
    h_prev: &[F],
    gates: &mut [F],
    hh: &mut [F],
    h: &mut [F],
) -> Sds<F> {
    let hs = h.len();
    let (sx, sh) = (normalize(xn), normalize(hn));
    scale_both(p.gx, p.gh, xn, hn, gates, hh);
    let (xr, rest) = gates.split_at_mut(hs);
    let (xz, xg) = rest.split_at_mut(hs);
    let (hr, rest) = hh.split_at_mut(hs);
    let (hz, hg) = rest.split_at_mut(hs);
    let blk = |v, q| block(v, q, hs);
    gru::forward_row(
        xr,
        xz,
        xg,
        hr,
        hz,
        hg,
        blk(p.bx, 0),
        blk(p.bx, 1),
        blk(p.bx, 2),
        blk(p.bh, 0),
        blk(p.bh, 1),
        blk(p.bh, 2),
        h_prev,
        h,
    );
    [sx, sh, F::one()]
}

/// `gru_ln` backward on one row. Reads what forward kept and `dh`; writes the x-row and
/// h-row gate gradients `dxa`, `dha` [3H] (for the biases and gains), dh z into `dh_prev`
/// (the caller adds d(W_hh h) W_hh), and `dax`, `dah` as [`lstm_backward_row`].
#[allow(clippy::too_many_arguments)]
pub fn gru_backward_row<F: Float>(
    p: &Gains<F>,
    xn: &[F],
    hn: &[F],
    sd: Sds<F>,
    gates: &[F],
    hh: &[F],
    h_prev: &[F],
    dh: &[F],
    dh_prev: &mut [F],
    dxa: &mut [F],
    dha: &mut [F],
    dax: &mut [F],
    dah: &mut [F],
) {
    let hs = dh.len();
    let blk = |v, q| block(v, q, hs);
    {
        let (dxr, rest) = dxa.split_at_mut(hs);
        let (dxz, dxn) = rest.split_at_mut(hs);
        let (dhr, rest) = dha.split_at_mut(hs);
        let (dhz, dhn) = rest.split_at_mut(hs);
        gru::backward_row(
            blk(gates, 0),
            blk(gates, 1),
            blk(gates, 2),
            blk(hh, 2),
            h_prev,
            dh,
            dxr,
            dxz,
            dxn,
            dhr,
            dhz,
            dhn,
            dh_prev,
        );
    }
    through_norms(p, xn, hn, sd, dxa, dha, dax, dah);
}

/// Gate block `q` ([H]) of a [G*H] row.
fn block<F>(v: &[F], q: usize, hs: usize) -> &[F] {
    &v[q * hs..(q + 1) * hs]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// LN' against central differences of sum(w * LN(v)).
    #[test]
    fn normalize_back_is_the_derivative() {
        let v = [0.3, -1.2, 2.0, 0.7, -0.4];
        let w = [0.5, -0.3, 1.1, 0.2, -0.9];
        let loss = |v: &[f64]| {
            let mut y = v.to_vec();
            normalize(&mut y);
            y.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>()
        };
        let mut y = v.to_vec();
        let sd = normalize(&mut y);
        let mut d = w.to_vec();
        normalize_back(&mut d, &y, sd);
        for k in 0..v.len() {
            let (mut a, mut b) = (v.to_vec(), v.to_vec());
            a[k] += 1e-6;
            b[k] -= 1e-6;
            let fd = (loss(&a) - loss(&b)) / 2e-6;
            assert!((fd - d[k]).abs() < 1e-8, "{k}: {fd} vs {}", d[k]);
        }
        // A normalised row has mean 0 and variance var / (var + eps).
        let mean: f64 = y.iter().sum::<f64>() / 5.0;
        assert!(mean.abs() < 1e-15);
    }
}
