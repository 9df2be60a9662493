//! LSTM, fused element-wise kernels. Gate rows in PyTorch's order i, f, g, o.
//!
//! Forward (a = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh, split in four H-wide blocks):
//!   i = sigmoid(a_i), f = sigmoid(a_f), g = tanh(a_g), o = sigmoid(a_o)
//!   c_t = f * c_{t-1} + i * g
//!   m_t = o * tanh(c_t);  h_t = m_t, or h_t = W_hr m_t with a projection (P > 0)
//! Backward, from dm (the gradient reaching m_t) and dc (reaching c_t from step t+1):
//!   do = dm * tanh(c_t)              da_o = do * o (1 - o)
//!   dc += dm * o * (1 - tanh^2(c_t))
//!   di = dc * g                      da_i = di * i (1 - i)
//!   dg = dc * i                      da_g = dg * (1 - g^2)
//!   df = dc * c_{t-1}                da_f = df * f (1 - f)
//!   dc_{t-1} = dc * f
//! The forget gate is where the gradient survives: dc_{t-1} = dc * f, with no squashing
//! derivative in the way, which is why an LSTM with f near 1 does not forget.
//!
//! The `*_row` kernels work on one batch row and any run of hidden units (each gate's slice
//! of the same units), so that threads can split the units; each slice is its own argument,
//! which tells the compiler they do not overlap, and the loops vectorise. The `*_step`
//! functions apply them to every row of a [B, ...] buffer.

use crate::float::Float;
use crate::kernels::act;

crate::multiversion! {
    /// Forward on one row: `ai, af, ag, ao` hold the gates' pre-activations without bias and
    /// are overwritten by i, f, g, o (what backward needs); `bi, bf, bg, bo` are the biases
    /// (b_ih + b_hh) of the same units; writes c_t into `c` and m_t into `m`. All slices
    /// have the same length (the units handled).
    #[allow(clippy::too_many_arguments)]
    pub fn forward_row<F: Float>(
        ai: &mut [F],
        af: &mut [F],
        ag: &mut [F],
        ao: &mut [F],
        bi: &[F],
        bf: &[F],
        bg: &[F],
        bo: &[F],
        c_prev: &[F],
        c: &mut [F],
        m: &mut [F],
    ) {
        let n = ai.len();
        let (af, ag, ao) = (&mut af[..n], &mut ag[..n], &mut ao[..n]);
        let (bi, bf, bg, bo) = (&bi[..n], &bf[..n], &bg[..n], &bo[..n]);
        let (c_prev, c, m) = (&c_prev[..n], &mut c[..n], &mut m[..n]);
        for j in 0..n {
            let i = act::sigmoid(ai[j] + bi[j]);
            let f = act::sigmoid(af[j] + bf[j]);
            let g = act::tanh(ag[j] + bg[j]);
            let o = act::sigmoid(ao[j] + bo[j]);
            // c_t = f * c_{t-1} + i * g;  m_t = o * tanh(c_t)
            let ct = f * c_prev[j] + i * g;
            ai[j] = i;
            af[j] = f;
            ag[j] = g;
            ao[j] = o;
            c[j] = ct;
            m[j] = o * act::tanh(ct);
        }
    }
}

crate::multiversion! {
    /// Backward on one row. `gi, gf, gg, go` are the activated gates kept by forward, `dm`
    /// the gradient reaching m_t; `dc` enters as the gradient reaching c_t from step t+1
    /// and leaves as the gradient reaching c_{t-1}. Writes the gate gradients
    /// `di, df, dg, d_o` (of the pre-activations).
    #[allow(clippy::too_many_arguments)]
    pub fn backward_row<F: Float>(
        gi: &[F],
        gf: &[F],
        gg: &[F],
        go: &[F],
        c_prev: &[F],
        c: &[F],
        dm: &[F],
        dc: &mut [F],
        di: &mut [F],
        df: &mut [F],
        dg: &mut [F],
        d_o: &mut [F],
    ) {
        let n = gi.len();
        let (gf, gg, go) = (&gf[..n], &gg[..n], &go[..n]);
        let (c_prev, c, dm, dc) = (&c_prev[..n], &c[..n], &dm[..n], &mut dc[..n]);
        let (di, df, dg, d_o) = (&mut di[..n], &mut df[..n], &mut dg[..n], &mut d_o[..n]);
        let one = F::one();
        for j in 0..n {
            let (i, f, g, o) = (gi[j], gf[j], gg[j], go[j]);
            let tc = act::tanh(c[j]);
            // dc += dm * o * (1 - tanh^2(c_t))
            let dct = dc[j] + dm[j] * o * (one - tc * tc);
            // da_o = dm * tanh(c_t) * o (1 - o), and so on per gate (module doc).
            d_o[j] = dm[j] * tc * act::dsigmoid(o);
            di[j] = dct * g * act::dsigmoid(i);
            dg[j] = dct * i * act::dtanh(g);
            df[j] = dct * c_prev[j] * act::dsigmoid(f);
            // dc_{t-1} = dc * f
            dc[j] = dct * f;
        }
    }
}

/// One step forward over the batch. `gates` [B, 4H] holds the pre-activations a without
/// the bias `bias` [4H] (b_ih + b_hh) and is overwritten by the activated i, f, g, o (what
/// backward needs). Writes c_t into `c` and m_t into `m` ([B, H]). Rows past their end keep c_{t-1}; their m is `h_prev` when given
/// (no projection: m is h), else left at zero for the caller to fix after the projection.
#[allow(clippy::too_many_arguments)]
pub fn forward_step<F: Float>(
    gates: &mut [F],
    bias: &[F],
    c_prev: &[F],
    c: &mut [F],
    m: &mut [F],
    h_prev: Option<&[F]>,
    valid: &[bool],
    h: usize,
) {
    for (b, &ok) in valid.iter().enumerate() {
        let r = b * h..(b + 1) * h;
        if !ok {
            c[r.clone()].copy_from_slice(&c_prev[r.clone()]);
            match h_prev {
                Some(hp) => m[r.clone()].copy_from_slice(&hp[r]),
                None => m[r].iter_mut().for_each(|v| *v = F::zero()),
            }
            continue;
        }
        let g = &mut gates[b * 4 * h..(b + 1) * 4 * h];
        let (ai, rest) = g.split_at_mut(h);
        let (af, rest) = rest.split_at_mut(h);
        let (ag, ao) = rest.split_at_mut(h);
        forward_row(
            ai,
            af,
            ag,
            ao,
            &bias[..h],
            &bias[h..2 * h],
            &bias[2 * h..3 * h],
            &bias[3 * h..4 * h],
            &c_prev[r.clone()],
            &mut c[r.clone()],
            &mut m[r],
        );
    }
}

/// One step backward over the batch. `gates` [B, 4H] are the activated i, f, g, o kept by
/// forward; `dm` [B, H] the gradient reaching m_t; `dc` [B, H] enters as the gradient
/// reaching c_t from step t+1 and leaves as the gradient reaching c_{t-1}. Writes da
/// [B, 4H]; rows past their end get da = 0 and pass dc through unchanged.
#[allow(clippy::too_many_arguments)]
pub fn backward_step<F: Float>(
    gates: &[F],
    c_prev: &[F],
    c: &[F],
    dm: &[F],
    dc: &mut [F],
    da: &mut [F],
    valid: &[bool],
    h: usize,
) {
    for (b, &ok) in valid.iter().enumerate() {
        let r = b * h..(b + 1) * h;
        let gr = b * 4 * h..(b + 1) * 4 * h;
        if !ok {
            da[gr].iter_mut().for_each(|v| *v = F::zero());
            continue;
        }
        let g = &gates[gr.clone()];
        let d = &mut da[gr];
        let (di, rest) = d.split_at_mut(h);
        let (df, rest) = rest.split_at_mut(h);
        let (dg, d_o) = rest.split_at_mut(h);
        backward_row(
            &g[..h],
            &g[h..2 * h],
            &g[2 * h..3 * h],
            &g[3 * h..],
            &c_prev[r.clone()],
            &c[r.clone()],
            &dm[r.clone()],
            &mut dc[r],
            di,
            df,
            dg,
            d_o,
        );
    }
}
