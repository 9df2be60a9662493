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

use crate::float::Float;
use crate::kernels::act;

/// One step forward. `gates` [B, 4H] holds the pre-activations a and is overwritten by the
/// activated i, f, g, o (what backward needs). Writes c_t into `c` and m_t into `m` ([B, H]).
/// Rows past their end keep c_{t-1}; their m is `h_prev` when given (no projection: m is h),
/// else left at zero for the caller to fix after the projection.
#[allow(clippy::too_many_arguments)]
pub fn forward_step<F: Float>(
    gates: &mut [F],
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
        let (gi, rest) = g.split_at_mut(h);
        let (gf, rest) = rest.split_at_mut(h);
        let (gg, go) = rest.split_at_mut(h);
        let (cp, cr, mr) = (&c_prev[r.clone()], &mut c[r.clone()], &mut m[r]);
        for j in 0..h {
            let i = act::sigmoid(gi[j]);
            let f = act::sigmoid(gf[j]);
            let g = act::tanh(gg[j]);
            let o = act::sigmoid(go[j]);
            let ct = f * cp[j] + i * g;
            gi[j] = i;
            gf[j] = f;
            gg[j] = g;
            go[j] = o;
            cr[j] = ct;
            mr[j] = o * act::tanh(ct);
        }
    }
}

/// One step backward. `gates` are the activated i, f, g, o kept by forward; `dm` the
/// gradient reaching m_t; `dc` [B, H] enters as the gradient reaching c_t from step t+1 and
/// leaves as the gradient reaching c_{t-1}. Writes da [B, 4H]; rows past their end get
/// da = 0 and pass dc through unchanged.
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
    let one = F::one();
    for (b, &ok) in valid.iter().enumerate() {
        let r = b * h..(b + 1) * h;
        let gr = b * 4 * h..(b + 1) * 4 * h;
        if !ok {
            da[gr].iter_mut().for_each(|v| *v = F::zero());
            continue;
        }
        let g = &gates[gr.clone()];
        let (gi, gf, gg, go) = (&g[..h], &g[h..2 * h], &g[2 * h..3 * h], &g[3 * h..]);
        let d = &mut da[gr];
        let (di, rest) = d.split_at_mut(h);
        let (df, rest) = rest.split_at_mut(h);
        let (dg, dout) = rest.split_at_mut(h);
        let (cp, cr, dmr, dcr) = (
            &c_prev[r.clone()],
            &c[r.clone()],
            &dm[r.clone()],
            &mut dc[r],
        );
        for j in 0..h {
            let (i, f, gv, o) = (gi[j], gf[j], gg[j], go[j]);
            let tc = act::tanh(cr[j]);
            let dct = dcr[j] + dmr[j] * o * (one - tc * tc);
            dout[j] = dmr[j] * tc * act::dsigmoid(o);
            di[j] = dct * gv * act::dsigmoid(i);
            dg[j] = dct * i * act::dtanh(gv);
            df[j] = dct * cp[j] * act::dsigmoid(f);
            dcr[j] = dct * f;
        }
    }
}
