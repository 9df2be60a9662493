//! The time loop of one layer-direction, forward and backward side by side: the input
//! projection, the recurrent product and fused gate pass per step, and BPTT in reverse time
//! (the protocol and the storage are in the parent module's doc).

use super::*;
use crate::cell::{gru, lstm, rnn, CellKind};
use crate::float::Float;
use crate::kernels::packed::{gemm_packed, gemm_packed_par, Packed};
use crate::kernels::pool::{team, Team};
use crate::kernels::{gemm, workspace, MatMut, MatRef};
use std::ops::Range;

/// Forward over the sequence `x` ([T, B, I] time-major) from `h0` [B, H_out] (and `c0`
/// [B, H] for an LSTM). `reverse` runs t = T-1 .. 0.
#[allow(clippy::too_many_arguments)]
pub fn forward<F: Float>(
    spec: Spec,
    p: &DirParams<F>,
    x: &[F],
    t_len: usize,
    b: usize,
    h0: &[F],
    c0: Option<&[F]>,
    valid: &[bool],
    reverse: bool,
) -> DirCache<F> {
    let (i_sz, h, ho, g) = (spec.input, spec.hidden, spec.hout(), spec.gates());
    let gh = g * h;
    let (nh, nc) = (b * ho, b * h);
    let is_gru = spec.kind == CellKind::Gru;
    let seeds = spec.seeds();
    let is_lstm = spec.kind == CellKind::Lstm;

    // 1. Input projection: gates = X W_ih^T. The biases are added by the element-wise
    // kernels, step by step, while the gates are in cache.
    //
    // When the members own whole batch rows, each computes its rows' projection at the
    // start of each step (W_ih packed once, like W_hh): the step's gates are then written
    // and read while in L1/L2, where one product over all steps first would write the whole
    // [T, B, G*H] buffer out (megabytes) and read it back, and its threads would meet the
    // time loop's team only after it. For small batches (units split) one product over all
    // steps keeps its rows many.
    let (members, split) = plan::<F>(b, h, ho, gh);
    let fuse_x = split == Split::Rows && i_sz > 0;
    let mut gates = workspace::scratch(t_len * b * gh);
    let packed_ih: Vec<Packed<F>> = if fuse_x {
        pack_blocks(p.w_ih.value.data(), g, h, i_sz)
    } else {
        gemm(
            F::one(),
            MatRef::new(x, t_len * b, i_sz),
            MatRef::new(p.w_ih.value.data(), gh, i_sz).t(),
            F::zero(),
            MatMut::new(&mut gates, t_len * b, gh),
        );
        Vec::new()
    };
    // b_ih and b_hh, zero when absent; RNN and LSTM add their sum (one bias, `b_x`).
    let mut b_x_buf = workspace::zeros(gh);
    let mut b_h_buf = workspace::zeros(gh);
    if let Some(bi) = &p.b_ih {
        b_x_buf.copy_from_slice(bi.value.data());
    }
    if let Some(bh) = &p.b_hh {
        if is_gru {
            b_h_buf.copy_from_slice(bh.value.data());
        } else {
            b_x_buf
                .iter_mut()
                .zip(bh.value.data())
                .for_each(|(s, v)| *s += *v);
        }
    }

    let mut cache = DirCache {
        spec,
        t: t_len,
        b,
        reverse,
        gates,
        hh: if is_gru {
            workspace::scratch(t_len * b * gh)
        } else {
            Vec::new()
        },
        rh: if seeds {
            workspace::scratch(t_len * nc)
        } else {
            Vec::new()
        },
        // Every slot read is written first (the spare slot, T+1 forward or 0 reverse, is
        // never read).
        hb: workspace::scratch((t_len + 2) * nh),
        cb: if is_lstm {
            workspace::scratch((t_len + 2) * nc)
        } else {
            Vec::new()
        },
        m: if spec.proj > 0 {
            workspace::scratch(t_len * nc)
        } else {
            Vec::new()
        },
        valid: valid.to_vec(),
    };
    let init = if reverse { t_len + 1 } else { 0 };
    cache.hb[init * nh..(init + 1) * nh].copy_from_slice(h0);
    if let (Some(c0), false) = (c0, cache.cb.is_empty()) {
        cache.cb[init * nc..(init + 1) * nc].copy_from_slice(c0);
    }

    // 2. The recurrent weights, packed once for all steps: one packing per gate block
    // (B_g = W_hh[g]^T, [H_out, H]) so that a run of units is whole panels of each.
    let w_hh = p.w_hh.value.data();
    let packed: Vec<Packed<F>> = if seeds {
        // r and z act on h_{t-1}; n on rh (both [H, H] blocks, the same shapes).
        pack_blocks(w_hh, 3, h, h)
    } else {
        pack_blocks(w_hh, g, h, ho)
    };
    let packed_hr: Option<Packed<F>> = p.w_hr.as_ref().map(|w| {
        let mut q = Packed::new();
        q.pack_t(w.value.data(), ho, h);
        q
    });

    // 3. The time loop, over a team.
    let gates = Shared::new(&mut cache.gates);
    let hh = Shared::new(&mut cache.hh);
    let rh = Shared::new(&mut cache.rh);
    let hb = Shared::new(&mut cache.hb);
    let cb = Shared::new(&mut cache.cb);
    let mb = Shared::new(&mut cache.m);
    let valid = &cache.valid;
    let (b_x, b_h) = (&b_x_buf[..], &b_h_buf[..]);
    team(members, &|tm: &Team| {
        let Share { rows, u, up, meet } = share::<F>(tm, split, b, h, ho);
        let meet = || {
            if meet {
                tm.sync()
            }
        };
        let (nb, r0) = (rows.len(), rows.start);
        for s in 0..t_len {
            let t = if reverse { t_len - 1 - s } else { s };
            let (ps, cs) = (if reverse { t + 2 } else { t }, t + 1);
            let g0 = t * b * gh; // this step's gate rows
            let hp = hb.at(ps * nh + r0 * ho) as *const F; // my rows of h_{t-1}
                                                           // SAFETY (this loop body): a member writes only its rows and units of the
                                                           // step's buffers, reads h_{t-1} (complete since the last meeting, or its own
                                                           // rows), and members meet before anyone reads what another wrote.
            unsafe {
                // My rows and units of the step, in the buffer `buf` at element `base`:
                // gate block q of row bi.
                let unit = |buf: Shared<F>, base: usize, bi: usize, q: usize| {
                    let c = base + bi * gh + q * h;
                    buf.get_mut(c + u.start..c + u.end)
                };
                let hrow = |slot: usize, bi: usize, w: &Range<usize>| {
                    let c = slot * nh + bi * ho;
                    hb.get_mut(c + w.start..c + w.end)
                };
                let crow = |slot: usize, bi: usize| {
                    let c = slot * nc + bi * h;
                    cb.get_mut(c + u.start..c + u.end)
                };
                if fuse_x {
                    // x_t W_ih^T for my rows (see 1.), before the h-terms are added.
                    let xr = x.as_ptr().add((t * b + r0) * i_sz);
                    product_units(
                        nb,
                        xr,
                        i_sz,
                        &packed_ih,
                        &u,
                        gates.at(g0 + r0 * gh),
                        gh,
                        h,
                        false,
                    );
                }
                match spec.kind {
                    CellKind::RnnTanh | CellKind::RnnRelu => {
                        // a_t = x_t W_ih^T + h_{t-1} W_hh^T;  h_t = act(a_t + b)
                        product_units(nb, hp, ho, &packed, &u, gates.at(g0 + r0 * gh), gh, h, true);
                        for bi in rows.clone() {
                            let hout = hrow(cs, bi, &u);
                            if valid[t * b + bi] {
                                rnn::forward_row(
                                    spec.act(),
                                    unit(gates, g0, bi, 0),
                                    gate_units(b_x, 0, h, &u),
                                    hout,
                                );
                            } else {
                                hout.copy_from_slice(hrow(ps, bi, &u));
                            }
                        }
                        meet();
                    }
                    CellKind::Lstm => {
                        product_units(nb, hp, ho, &packed, &u, gates.at(g0 + r0 * gh), gh, h, true);
                        for bi in rows.clone() {
                            let (c_prev, c_out) = (crow(ps, bi), crow(cs, bi));
                            // m_t goes to the output slot directly without a projection.
                            let m_out = if spec.proj > 0 {
                                let c = t * nc + bi * h;
                                mb.get_mut(c + u.start..c + u.end)
                            } else {
                                hrow(cs, bi, &u)
                            };
                            if valid[t * b + bi] {
                                lstm::forward_row(
                                    unit(gates, g0, bi, 0),
                                    unit(gates, g0, bi, 1),
                                    unit(gates, g0, bi, 2),
                                    unit(gates, g0, bi, 3),
                                    gate_units(b_x, 0, h, &u),
                                    gate_units(b_x, 1, h, &u),
                                    gate_units(b_x, 2, h, &u),
                                    gate_units(b_x, 3, h, &u),
                                    c_prev,
                                    c_out,
                                    m_out,
                                );
                            } else {
                                c_out.copy_from_slice(c_prev);
                                if spec.proj > 0 {
                                    m_out.iter_mut().for_each(|v| *v = F::zero());
                                } else {
                                    m_out.copy_from_slice(hrow(ps, bi, &u));
                                }
                            }
                        }
                        meet();
                        if let Some(phr) = &packed_hr {
                            // h_t = W_hr m_t, my output units; rows past their end keep
                            // h_{t-1}.
                            let (mrow, hrow0) = (mb.at(t * nc + r0 * h), hb.at(cs * nh + r0 * ho));
                            gemm_packed(nb, mrow, h, phr, panels_of::<F>(&up), hrow0, ho, false);
                            for bi in rows.clone() {
                                if !valid[t * b + bi] {
                                    hrow(cs, bi, &up).copy_from_slice(hrow(ps, bi, &up));
                                }
                            }
                            meet();
                        }
                    }
                    CellKind::Gru => {
                        let hh0 = t * b * gh;
                        let blocks = if seeds { &packed[..2] } else { &packed[..] };
                        // The h-terms of my units: h_{t-1} W_hh^T (r, z only for the seeds'
                        // form, whose n rows come from r * h_{t-1}).
                        product_units(nb, hp, h, blocks, &u, hh.at(hh0 + r0 * gh), gh, h, false);
                        if !seeds {
                            for bi in rows.clone() {
                                let hout = hrow(cs, bi, &u);
                                if valid[t * b + bi] {
                                    gru::forward_row(
                                        unit(gates, g0, bi, 0),
                                        unit(gates, g0, bi, 1),
                                        unit(gates, g0, bi, 2),
                                        unit(hh, hh0, bi, 0),
                                        unit(hh, hh0, bi, 1),
                                        unit(hh, hh0, bi, 2),
                                        gate_units(b_x, 0, h, &u),
                                        gate_units(b_x, 1, h, &u),
                                        gate_units(b_x, 2, h, &u),
                                        gate_units(b_h, 0, h, &u),
                                        gate_units(b_h, 1, h, &u),
                                        gate_units(b_h, 2, h, &u),
                                        hrow(ps, bi, &u),
                                        hout,
                                    );
                                } else {
                                    hout.copy_from_slice(hrow(ps, bi, &u));
                                }
                            }
                            meet();
                        } else {
                            add_bias_units(hh, hh0, &rows, h, &u, 0..2, b_h);
                            add_bias_units(gates, g0, &rows, h, &u, 0..3, b_x);
                            for bi in rows.clone() {
                                let c = t * nc + bi * h;
                                let rh_out = rh.get_mut(c + u.start..c + u.end);
                                if valid[t * b + bi] {
                                    gru::seeds_forward_gates_row(
                                        unit(gates, g0, bi, 0),
                                        unit(gates, g0, bi, 1),
                                        unit(hh, hh0, bi, 0),
                                        unit(hh, hh0, bi, 1),
                                        hrow(ps, bi, &u),
                                        rh_out,
                                    );
                                } else {
                                    rh_out.iter_mut().for_each(|v| *v = F::zero());
                                }
                            }
                            meet();
                            // The n rows from rh: W_hn rh + b_hn, my units.
                            let (rrow, nrow) =
                                (rh.at(t * nc + r0 * h), hh.at(hh0 + r0 * gh + 2 * h));
                            gemm_packed(
                                nb,
                                rrow,
                                h,
                                &packed[2],
                                panels_of::<F>(&u),
                                nrow,
                                gh,
                                false,
                            );
                            add_bias_units(hh, hh0, &rows, h, &u, 2..3, b_h);
                            for bi in rows.clone() {
                                let hout = hrow(cs, bi, &u);
                                if valid[t * b + bi] {
                                    gru::seeds_forward_out_row(
                                        unit(gates, g0, bi, 1),
                                        unit(gates, g0, bi, 2),
                                        unit(hh, hh0, bi, 2),
                                        hrow(ps, bi, &u),
                                        hout,
                                    );
                                } else {
                                    hout.copy_from_slice(hrow(ps, bi, &u));
                                }
                            }
                            meet();
                        }
                    }
                }
            }
        }
    });
    drop((packed, packed_hr));
    workspace::give(b_x_buf);
    workspace::give(b_h_buf);
    cache
}

/// The gradients of a direction's initial state.
pub struct DirGrads<F: Float> {
    /// dL/dh0 [B, H_out].
    pub dh0: Vec<F>,
    /// dL/dc0 [B, H] (LSTM).
    pub dc0: Option<Vec<F>>,
}

impl<F: Float> Drop for DirGrads<F> {
    fn drop(&mut self) {
        workspace::give(std::mem::take(&mut self.dh0));
        if let Some(v) = self.dc0.take() {
            workspace::give(v);
        }
    }
}

/// Backward through time. `dy` [T, B, H_out] is dL/d(output), `dh_n` [B, H_out] and `dc_n`
/// [B, H] the gradients of the final states. Adds the weight gradients into `p`, writes
/// dL/dx into `dx` ([T, B, I], overwritten); returns the initial states' gradients.
#[allow(clippy::too_many_arguments)]
pub fn backward<F: Float>(
    p: &mut DirParams<F>,
    cache: &DirCache<F>,
    x: &[F],
    dy: &[F],
    dh_n: &[F],
    dc_n: Option<&[F]>,
    dx: &mut [F],
) -> DirGrads<F> {
    let spec = cache.spec;
    let (t_len, b, reverse) = (cache.t, cache.b, cache.reverse);
    let (i_sz, h, ho, g) = (spec.input, spec.hidden, spec.hout(), spec.gates());
    let gh = g * h;
    let (nh, nc) = (b * ho, b * h);
    let is_gru = spec.kind == CellKind::Gru;
    let is_lstm = spec.kind == CellKind::Lstm;
    let seeds = spec.seeds();

    // Gate gradients of the x-rows (da) and, for PyTorch's GRU, of the h-rows (dah). Every
    // element is written in the loop.
    let mut da = workspace::scratch(t_len * b * gh);
    let mut dah = if is_gru && !seeds {
        workspace::scratch(t_len * b * gh)
    } else {
        Vec::new()
    };
    let mut dh_carry = workspace::copy_of(dh_n);
    let mut dh_tot = workspace::zeros(nh);
    let mut dc = match dc_n {
        Some(d) => workspace::copy_of(d),
        None => workspace::zeros(if is_lstm { nc } else { 0 }),
    };
    let mut dm = workspace::zeros(if spec.proj > 0 { nc } else { 0 });
    let mut dhs = workspace::zeros(if spec.proj > 0 { t_len * nh } else { 0 });
    let mut drh = workspace::zeros(if seeds { nc } else { 0 });

    // The recurrent weights as the B of dh_{t-1} = da_t W_hh, packed once: [G*H, H_out]
    // (seeds: the n block [H, H] for drh and the r, z blocks [2H, H] apart).
    let w_hh = p.w_hh.value.data();
    let mut packed = Packed::new();
    let mut packed_n = Packed::new();
    if seeds {
        packed.pack(w_hh, 2 * h, h, h);
        packed_n.pack(&w_hh[2 * h * h..], h, h, h);
    } else {
        packed.pack(w_hh, gh, ho, ho);
    }
    let mut packed_hr = Packed::new();
    if let Some(w) = &p.w_hr {
        packed_hr.pack(w.value.data(), ho, h, h);
    }

    // 3. Reverse time, over a team.
    {
        let da_s = Shared::new(&mut da);
        let dah_s = Shared::new(&mut dah);
        let carry = Shared::new(&mut dh_carry);
        let tot = Shared::new(&mut dh_tot);
        let dc_s = Shared::new(&mut dc);
        let dm_s = Shared::new(&mut dm);
        let dhs_s = Shared::new(&mut dhs);
        let drh_s = Shared::new(&mut drh);
        let (packed, packed_n, packed_hr) = (&packed, &packed_n, &packed_hr);
        let (members, split) = plan::<F>(b, h, ho, gh);
        team(members, &|tm: &Team| {
            let Share { rows, u, up, meet } = share::<F>(tm, split, b, h, ho);
            let meet = || {
                if meet {
                    tm.sync()
                }
            };
            let (nb, r0) = (rows.len(), rows.start);
            for s in (0..t_len).rev() {
                let t = if reverse { t_len - 1 - s } else { s };
                let vt = &cache.valid[t * b..(t + 1) * b];
                let (ps, cs) = (cache.prev_slot(t), cache.slot(t));
                let g0 = t * b * gh;
                // SAFETY (this loop body): as in forward, members write only their rows and
                // units and meet before reading what others wrote.
                unsafe {
                    let unit = |buf: Shared<F>, bi: usize, q: usize| {
                        let c = g0 + bi * gh + q * h;
                        buf.get_mut(c + u.start..c + u.end)
                    };
                    let kept = |bi: usize, q: usize| {
                        let c = g0 + bi * gh + q * h;
                        &cache.gates[c + u.start..c + u.end]
                    };
                    let row = |buf: Shared<F>, bi: usize, w: usize, r: &Range<usize>| {
                        buf.get_mut(bi * w + r.start..bi * w + r.end)
                    };
                    let h_prev = |bi: usize| {
                        let c = ps * nh + bi * ho;
                        &cache.hb[c + u.start..c + u.end]
                    };
                    // dh_tot = dh from step t+1 + dL/dy_t (only inside the sequence: padded
                    // outputs are constant zeros), over my rows and output units.
                    for bi in rows.clone() {
                        let o = row(tot, bi, ho, &up);
                        let c = row(carry, bi, ho, &up);
                        if vt[bi] {
                            let y0 = t * nh + bi * ho;
                            let y = &dy[y0 + up.start..y0 + up.end];
                            o.iter_mut()
                                .zip(c)
                                .zip(y)
                                .for_each(|((o, c), y)| *o = *c + *y);
                        } else {
                            o.copy_from_slice(c);
                        }
                    }
                    match spec.kind {
                        CellKind::RnnTanh | CellKind::RnnRelu => {
                            for bi in rows.clone() {
                                if vt[bi] {
                                    rnn::backward_row(
                                        spec.act(),
                                        kept(bi, 0),
                                        row(tot, bi, ho, &u),
                                        unit(da_s, bi, 0),
                                    );
                                } else {
                                    unit(da_s, bi, 0).iter_mut().for_each(|v| *v = F::zero());
                                }
                            }
                            pass_masked(carry, tot, vt, ho, &rows, &u);
                            meet();
                            gemm_packed(
                                nb,
                                da_s.at(g0 + r0 * gh),
                                gh,
                                packed,
                                panels_of::<F>(&u),
                                carry.at(r0 * ho),
                                ho,
                                true,
                            );
                        }
                        CellKind::Lstm => {
                            let dm_src = if spec.proj > 0 {
                                // dm = dh W_hr over rows inside their sequence; keep dh for
                                // dW_hr (zero for rows past their end).
                                for bi in rows.clone() {
                                    let d = row(dhs_s.offset(t * nh), bi, ho, &up);
                                    if vt[bi] {
                                        d.copy_from_slice(row(tot, bi, ho, &up));
                                    } else {
                                        d.iter_mut().for_each(|v| *v = F::zero());
                                    }
                                }
                                meet();
                                let src = dhs_s.at(t * nh + r0 * ho);
                                gemm_packed(
                                    nb,
                                    src,
                                    ho,
                                    packed_hr,
                                    panels_of::<F>(&u),
                                    dm_s.at(r0 * h),
                                    h,
                                    false,
                                );
                                dm_s
                            } else {
                                tot
                            };
                            for bi in rows.clone() {
                                if !vt[bi] {
                                    for q in 0..4 {
                                        unit(da_s, bi, q).iter_mut().for_each(|v| *v = F::zero());
                                    }
                                    continue;
                                }
                                let cp = ps * nc + bi * h;
                                let cc = cs * nc + bi * h;
                                lstm::backward_row(
                                    kept(bi, 0),
                                    kept(bi, 1),
                                    kept(bi, 2),
                                    kept(bi, 3),
                                    &cache.cb[cp + u.start..cp + u.end],
                                    &cache.cb[cc + u.start..cc + u.end],
                                    row(dm_src, bi, h, &u),
                                    row(dc_s, bi, h, &u),
                                    unit(da_s, bi, 0),
                                    unit(da_s, bi, 1),
                                    unit(da_s, bi, 2),
                                    unit(da_s, bi, 3),
                                );
                            }
                            pass_masked(carry, tot, vt, ho, &rows, &up);
                            meet();
                            gemm_packed(
                                nb,
                                da_s.at(g0 + r0 * gh),
                                gh,
                                packed,
                                panels_of::<F>(&up),
                                carry.at(r0 * ho),
                                ho,
                                true,
                            );
                        }
                        CellKind::Gru if !seeds => {
                            for bi in rows.clone() {
                                if !vt[bi] {
                                    for q in 0..3 {
                                        unit(da_s, bi, q).iter_mut().for_each(|v| *v = F::zero());
                                        unit(dah_s, bi, q).iter_mut().for_each(|v| *v = F::zero());
                                    }
                                    row(carry, bi, h, &u).copy_from_slice(row(tot, bi, h, &u));
                                    continue;
                                }
                                let hn = g0 + bi * gh + 2 * h;
                                gru::backward_row(
                                    kept(bi, 0),
                                    kept(bi, 1),
                                    kept(bi, 2),
                                    &cache.hh[hn + u.start..hn + u.end],
                                    h_prev(bi),
                                    row(tot, bi, h, &u),
                                    unit(da_s, bi, 0),
                                    unit(da_s, bi, 1),
                                    unit(da_s, bi, 2),
                                    unit(dah_s, bi, 0),
                                    unit(dah_s, bi, 1),
                                    unit(dah_s, bi, 2),
                                    row(carry, bi, h, &u),
                                );
                            }
                            meet();
                            gemm_packed(
                                nb,
                                dah_s.at(g0 + r0 * gh),
                                gh,
                                packed,
                                panels_of::<F>(&u),
                                carry.at(r0 * h),
                                h,
                                true,
                            );
                        }
                        CellKind::Gru => {
                            for bi in rows.clone() {
                                if !vt[bi] {
                                    for q in 0..3 {
                                        unit(da_s, bi, q).iter_mut().for_each(|v| *v = F::zero());
                                    }
                                    row(carry, bi, h, &u).copy_from_slice(row(tot, bi, h, &u));
                                    continue;
                                }
                                gru::seeds_backward_out_row(
                                    kept(bi, 1),
                                    kept(bi, 2),
                                    h_prev(bi),
                                    row(tot, bi, h, &u),
                                    unit(da_s, bi, 0),
                                    unit(da_s, bi, 1),
                                    unit(da_s, bi, 2),
                                    row(carry, bi, h, &u),
                                );
                            }
                            meet();
                            // drh = da_n W_hn, my units.
                            let src = da_s.at(g0 + r0 * gh + 2 * h);
                            gemm_packed(
                                nb,
                                src,
                                gh,
                                packed_n,
                                panels_of::<F>(&u),
                                drh_s.at(r0 * h),
                                h,
                                false,
                            );
                            for bi in rows.clone() {
                                if vt[bi] {
                                    gru::seeds_backward_reset_row(
                                        kept(bi, 0),
                                        h_prev(bi),
                                        row(drh_s, bi, h, &u),
                                        unit(da_s, bi, 0),
                                        row(carry, bi, h, &u),
                                    );
                                }
                            }
                            meet();
                            gemm_packed(
                                nb,
                                da_s.at(g0 + r0 * gh),
                                gh,
                                packed,
                                panels_of::<F>(&u),
                                carry.at(r0 * h),
                                h,
                                true,
                            );
                        }
                    }
                }
            }
        });
    }
    drop((packed, packed_n, packed_hr));

    // 4. Weight and input gradients, one product each over all steps; bias gradients as
    // column sums.
    let tb = t_len * b;
    let h_prev_all = if reverse {
        &cache.hb[2 * nh..]
    } else {
        &cache.hb[..t_len * nh]
    };
    gemm(
        F::one(),
        MatRef::new(&da, tb, gh).t(),
        MatRef::new(x, tb, i_sz),
        F::one(),
        MatMut::new(p.w_ih.grad.data_mut(), gh, i_sz),
    );
    let dah_ref: &[F] = if dah.is_empty() { &da } else { &dah };
    if seeds {
        let (g_rz, g_n) = p.w_hh.grad.data_mut().split_at_mut(2 * h * h);
        gemm(
            F::one(),
            MatRef::strided(&da, tb, 2 * h, gh).t(),
            MatRef::new(h_prev_all, tb, h),
            F::one(),
            MatMut::new(g_rz, 2 * h, h),
        );
        gemm(
            F::one(),
            MatRef::strided(&da[2 * h..], tb, h, gh).t(),
            MatRef::new(&cache.rh, tb, h),
            F::one(),
            MatMut::new(g_n, h, h),
        );
    } else {
        gemm(
            F::one(),
            MatRef::new(dah_ref, tb, gh).t(),
            MatRef::new(h_prev_all, tb, ho),
            F::one(),
            MatMut::new(p.w_hh.grad.data_mut(), gh, ho),
        );
    }
    // d b_ih = column sums of da; d b_hh the same for RNN and LSTM (one sum, added to
    // both), of dah for PyTorch's GRU.
    let mut db = workspace::zeros(gh);
    add_col_sums(&mut db, &da);
    if let Some(bi) = &mut p.b_ih {
        bi.grad
            .data_mut()
            .iter_mut()
            .zip(&db)
            .for_each(|(g, v)| *g += *v);
    }
    if let Some(bh) = &mut p.b_hh {
        if !dah.is_empty() {
            db.iter_mut().for_each(|v| *v = F::zero());
            add_col_sums(&mut db, &dah);
        }
        bh.grad
            .data_mut()
            .iter_mut()
            .zip(&db)
            .for_each(|(g, v)| *g += *v);
    }
    workspace::give(db);
    if let Some(w_hr) = &mut p.w_hr {
        gemm(
            F::one(),
            MatRef::new(&dhs, tb, ho).t(),
            MatRef::new(&cache.m, tb, h),
            F::one(),
            MatMut::new(w_hr.grad.data_mut(), ho, h),
        );
    }
    // dX += da W_ih: the packed kernel, W_ih packed once (1.5x matrixmultiply on the
    // S shape [2048, 512] x [512, 64], which repacked W_ih per thread).
    let mut packed_ih = Packed::new();
    packed_ih.pack(p.w_ih.value.data(), gh, i_sz, i_sz);
    gemm_packed_par(tb, &da, gh, 1, &packed_ih, dx, i_sz, false);
    drop(packed_ih);

    for v in [da, dah, dh_tot, dm, dhs, drh] {
        workspace::give(v);
    }
    DirGrads {
        dh0: dh_carry,
        dc0: if is_lstm {
            Some(dc)
        } else {
            workspace::give(dc);
            None
        },
    }
}

/// Over my rows and the units `u`: for rows past their end, the state gradient passes
/// through the step unchanged; rows inside start from zero (the caller adds da W_hh).
///
/// # Safety
/// The caller's member owns those elements of `carry` and `tot`.
unsafe fn pass_masked<F: Float>(
    carry: Shared<F>,
    tot: Shared<F>,
    valid: &[bool],
    ho: usize,
    rows: &Range<usize>,
    u: &Range<usize>,
) {
    for bi in rows.clone() {
        let r = bi * ho + u.start..bi * ho + u.end;
        if valid[bi] {
            carry.get_mut(r).iter_mut().for_each(|v| *v = F::zero());
        } else {
            carry.get_mut(r.clone()).copy_from_slice(tot.get(r));
        }
    }
}
