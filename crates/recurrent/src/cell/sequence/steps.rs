//! Each cell kind's step of one team member, forward and backward side by side: the
//! bodies of [`Forward::step`] and [`Backward::step`] (time_loop.rs), which hold the loop,
//! the buffers and the protocol.

use super::time_loop::{row, At, BackAt, Backward, Forward};
use super::*;
use crate::cell::{gru, lstm, rnn};
use crate::float::Float;
use crate::kernels::packed::gemm_packed;
use std::ops::Range;

// Elman RNN.

impl<F: Float> Forward<'_, F> {
    /// a_t = x_t W_ih^T + h_{t-1} W_hh^T;  h_t = act(a_t + b)
    pub(super) unsafe fn rnn(&self, me: &Share, at: &At) {
        let (h, u) = (self.spec.hidden, &me.u);
        self.recurrent(me, at, self.packed, self.gates, true);
        for bi in me.rows.clone() {
            let hout = self.hrow(at.cs, bi, u);
            if self.valid[at.t * self.b + bi] {
                rnn::forward_row(
                    self.spec.act(),
                    self.unit(self.gates, at.g0, bi, 0, u),
                    gate_units(self.b_x, 0, h, u),
                    hout,
                );
            } else {
                hout.copy_from_slice(self.hrow(at.ps, bi, u));
            }
        }
        self.zone(me, at);
        me.meet();
    }
}

impl<F: Float> Backward<'_, F> {
    /// da = dh_t act'(a_t);  dh_{t-1} = da W_hh
    pub(super) unsafe fn rnn(&self, me: &Share, st: &BackAt) {
        let (spec, u) = (self.cache.spec, &me.u);
        let ho = spec.hout();
        for bi in me.rows.clone() {
            if st.valid[bi] {
                rnn::backward_row(
                    spec.act(),
                    self.kept(st, bi, 0, u),
                    row(self.tot, bi, ho, u),
                    self.unit(self.da, st, bi, 0, u),
                );
            } else {
                self.zero_gates(self.da, st, bi, 1, u);
            }
        }
        pass_masked(self.carry, self.tot, st.valid, ho, &me.rows, u);
        me.meet();
        let src = self.da.at(st.at.g0 + me.rows.start * self.gh());
        self.to_carry(me, src, self.packed, u, ho);
    }
}

// LSTM.

impl<F: Float> Forward<'_, F> {
    /// The gates from a = x W_ih^T + h_{t-1} W_hh^T + b; c_t = f c_{t-1} + i g,
    /// m_t = o tanh(c_t), and h_t = m_t (or W_hr m_t with a projection).
    pub(super) unsafe fn lstm(&self, me: &Share, at: &At) {
        let (h, proj, u) = (self.spec.hidden, self.spec.proj, &me.u);
        let (t, nc) = (at.t, self.nc());
        self.recurrent(me, at, self.packed, self.gates, true);
        for bi in me.rows.clone() {
            let (c_prev, c_out) = (self.crow(at.ps, bi, u), self.crow(at.cs, bi, u));
            // m_t goes to the output slot directly without a projection.
            let m_out = if proj > 0 {
                let c = t * nc + bi * h;
                self.m.get_mut(c + u.start..c + u.end)
            } else {
                self.hrow(at.cs, bi, u)
            };
            if self.valid[t * self.b + bi] {
                let gate = |q| self.unit(self.gates, at.g0, bi, q, u);
                let bias = |q| gate_units(self.b_x, q, h, u);
                lstm::forward_row(
                    gate(0),
                    gate(1),
                    gate(2),
                    gate(3),
                    bias(0),
                    bias(1),
                    bias(2),
                    bias(3),
                    c_prev,
                    c_out,
                    m_out,
                );
            } else {
                c_out.copy_from_slice(c_prev);
                if proj > 0 {
                    m_out.iter_mut().for_each(|v| *v = F::zero());
                } else {
                    m_out.copy_from_slice(self.hrow(at.ps, bi, u));
                }
            }
        }
        self.zone(me, at);
        me.meet();
        if let Some(phr) = self.packed_hr {
            // h_t = W_hr m_t, my output units; rows past their end keep h_{t-1}.
            let ho = self.spec.hout();
            let r0 = me.rows.start;
            let (mrow, hrow0) = (
                self.m.at(t * nc + r0 * h),
                self.hb.at(at.cs * self.nh() + r0 * ho),
            );
            gemm_packed(
                me.rows.len(),
                mrow,
                h,
                phr,
                panels_of::<F>(&me.up),
                hrow0,
                ho,
                false,
            );
            for bi in me.rows.clone() {
                if !self.valid[t * self.b + bi] {
                    self.hrow(at.cs, bi, &me.up)
                        .copy_from_slice(self.hrow(at.ps, bi, &me.up));
                }
            }
            me.meet();
        }
    }
}

impl<F: Float> Backward<'_, F> {
    /// dm from dh (through W_hr with a projection), then the gate gradients and dc_{t-1}
    /// from dm and dc_t; dh_{t-1} = da W_hh.
    pub(super) unsafe fn lstm(&self, me: &Share, st: &BackAt) {
        let (spec, u, up) = (self.cache.spec, &me.u, &me.up);
        let (h, ho, t) = (spec.hidden, spec.hout(), st.at.t);
        let (nh, nc) = (self.cache.b * ho, self.cache.b * h);
        let dm_src = if spec.proj > 0 {
            // dm = dh W_hr over rows inside their sequence; keep dh for dW_hr (zero for
            // rows past their end).
            for bi in me.rows.clone() {
                let d = row(self.dhs.offset(t * nh), bi, ho, up);
                if st.valid[bi] {
                    d.copy_from_slice(row(self.tot, bi, ho, up));
                } else {
                    d.iter_mut().for_each(|v| *v = F::zero());
                }
            }
            me.meet();
            let r0 = me.rows.start;
            let src = self.dhs.at(t * nh + r0 * ho);
            gemm_packed(
                me.rows.len(),
                src,
                ho,
                self.packed_hr,
                panels_of::<F>(u),
                self.dm.at(r0 * h),
                h,
                false,
            );
            self.dm
        } else {
            self.tot
        };
        for bi in me.rows.clone() {
            if !st.valid[bi] {
                self.zero_gates(self.da, st, bi, 4, u);
                continue;
            }
            let cp = st.at.ps * nc + bi * h;
            let cb = &self.cache.cb;
            // c~_t, the new cell state before zoneout (c_t itself when not zoned).
            let (c_new, cc) = if self.cache.ct.is_empty() {
                (cb, st.at.cs * nc + bi * h)
            } else {
                (&self.cache.ct, t * nc + bi * h)
            };
            lstm::backward_row(
                self.kept(st, bi, 0, u),
                self.kept(st, bi, 1, u),
                self.kept(st, bi, 2, u),
                self.kept(st, bi, 3, u),
                &cb[cp + u.start..cp + u.end],
                &c_new[cc + u.start..cc + u.end],
                row(dm_src, bi, h, u),
                row(self.dc, bi, h, u),
                self.unit(self.da, st, bi, 0, u),
                self.unit(self.da, st, bi, 1, u),
                self.unit(self.da, st, bi, 2, u),
                self.unit(self.da, st, bi, 3, u),
            );
        }
        pass_masked(self.carry, self.tot, st.valid, ho, &me.rows, up);
        me.meet();
        let src = self.da.at(st.at.g0 + me.rows.start * self.gh());
        self.to_carry(me, src, self.packed, up, ho);
    }
}

// PyTorch's GRU.

impl<F: Float> Forward<'_, F> {
    /// PyTorch's GRU: r, z from x and h terms; n = tanh(x_n + r * (W_hn h + b_hn));
    /// h_t = (1 - z) n + z h_{t-1}. The h-terms are kept for backward.
    pub(super) unsafe fn gru(&self, me: &Share, at: &At) {
        let (h, u) = (self.spec.hidden, &me.u);
        self.recurrent(me, at, self.packed, self.hh, false);
        for bi in me.rows.clone() {
            let hout = self.hrow(at.cs, bi, u);
            if self.valid[at.t * self.b + bi] {
                let gate = |q| self.unit(self.gates, at.g0, bi, q, u);
                let hterm = |q| self.unit(self.hh, at.g0, bi, q, u);
                gru::forward_row(
                    gate(0),
                    gate(1),
                    gate(2),
                    hterm(0),
                    hterm(1),
                    hterm(2),
                    gate_units(self.b_x, 0, h, u),
                    gate_units(self.b_x, 1, h, u),
                    gate_units(self.b_x, 2, h, u),
                    gate_units(self.b_h, 0, h, u),
                    gate_units(self.b_h, 1, h, u),
                    gate_units(self.b_h, 2, h, u),
                    self.hrow(at.ps, bi, u),
                    hout,
                );
            } else {
                hout.copy_from_slice(self.hrow(at.ps, bi, u));
            }
        }
        self.zone(me, at);
        me.meet();
    }
}

impl<F: Float> Backward<'_, F> {
    /// PyTorch's GRU: the gate gradients of the x-rows (da) and h-rows (dah), the direct
    /// part of dh_{t-1} (z dh), then dh_{t-1} += dah W_hh.
    pub(super) unsafe fn gru(&self, me: &Share, st: &BackAt) {
        let (h, u) = (self.cache.spec.hidden, &me.u);
        for bi in me.rows.clone() {
            if !st.valid[bi] {
                self.zero_gates(self.da, st, bi, 3, u);
                self.zero_gates(self.dah, st, bi, 3, u);
                row(self.carry, bi, h, u).copy_from_slice(row(self.tot, bi, h, u));
                continue;
            }
            let hn = st.at.g0 + bi * self.gh() + 2 * h;
            gru::backward_row(
                self.kept(st, bi, 0, u),
                self.kept(st, bi, 1, u),
                self.kept(st, bi, 2, u),
                &self.cache.hh[hn + u.start..hn + u.end],
                self.h_prev(st, bi, u),
                row(self.tot, bi, h, u),
                self.unit(self.da, st, bi, 0, u),
                self.unit(self.da, st, bi, 1, u),
                self.unit(self.da, st, bi, 2, u),
                self.unit(self.dah, st, bi, 0, u),
                self.unit(self.dah, st, bi, 1, u),
                self.unit(self.dah, st, bi, 2, u),
                row(self.carry, bi, h, u),
            );
        }
        me.meet();
        let src = self.dah.at(st.at.g0 + me.rows.start * self.gh());
        self.to_carry(me, src, self.packed, u, h);
    }
}

// The seeds' GRU.

impl<F: Float> Forward<'_, F> {
    /// The seeds' GRU: r, z as PyTorch's; then n = tanh(x_n + W_hn (r * h_{t-1}) + b_hn),
    /// a second product per step on rh = r * h_{t-1}.
    pub(super) unsafe fn gru_seeds(&self, me: &Share, at: &At) {
        let (h, u, rows) = (self.spec.hidden, &me.u, &me.rows);
        let (t, g0, nc) = (at.t, at.g0, self.nc());
        // The h-terms of r and z; n's rows come from rh below.
        self.recurrent(me, at, &self.packed[..2], self.hh, false);
        add_bias_units(self.hh, g0, rows, h, u, 0..2, self.b_h);
        add_bias_units(self.gates, g0, rows, h, u, 0..3, self.b_x);
        for bi in rows.clone() {
            let c = t * nc + bi * h;
            let rh_out = self.rh.get_mut(c + u.start..c + u.end);
            if self.valid[t * self.b + bi] {
                gru::seeds_forward_gates_row(
                    self.unit(self.gates, g0, bi, 0, u),
                    self.unit(self.gates, g0, bi, 1, u),
                    self.unit(self.hh, g0, bi, 0, u),
                    self.unit(self.hh, g0, bi, 1, u),
                    self.hrow(at.ps, bi, u),
                    rh_out,
                );
            } else {
                rh_out.iter_mut().for_each(|v| *v = F::zero());
            }
        }
        me.meet();
        // The n rows from rh: W_hn rh + b_hn, my units.
        let (rrow, nrow) = (
            self.rh.at(t * nc + rows.start * h),
            self.hh.at(g0 + rows.start * self.gh() + 2 * h),
        );
        gemm_packed(
            rows.len(),
            rrow,
            h,
            &self.packed[2],
            panels_of::<F>(u),
            nrow,
            self.gh(),
            false,
        );
        add_bias_units(self.hh, g0, rows, h, u, 2..3, self.b_h);
        for bi in rows.clone() {
            let hout = self.hrow(at.cs, bi, u);
            if self.valid[t * self.b + bi] {
                gru::seeds_forward_out_row(
                    self.unit(self.gates, g0, bi, 1, u),
                    self.unit(self.gates, g0, bi, 2, u),
                    self.unit(self.hh, g0, bi, 2, u),
                    self.hrow(at.ps, bi, u),
                    hout,
                );
            } else {
                hout.copy_from_slice(self.hrow(at.ps, bi, u));
            }
        }
        self.zone(me, at);
        me.meet();
    }
}

impl<F: Float> Backward<'_, F> {
    /// The seeds' GRU: z and n gradients first; drh = da_n W_hn gives r's; then
    /// dh_{t-1} += da_{r,z} W_{hr,hz}.
    pub(super) unsafe fn gru_seeds(&self, me: &Share, st: &BackAt) {
        let (h, u) = (self.cache.spec.hidden, &me.u);
        for bi in me.rows.clone() {
            if !st.valid[bi] {
                self.zero_gates(self.da, st, bi, 3, u);
                row(self.carry, bi, h, u).copy_from_slice(row(self.tot, bi, h, u));
                continue;
            }
            gru::seeds_backward_out_row(
                self.kept(st, bi, 1, u),
                self.kept(st, bi, 2, u),
                self.h_prev(st, bi, u),
                row(self.tot, bi, h, u),
                self.unit(self.da, st, bi, 0, u),
                self.unit(self.da, st, bi, 1, u),
                self.unit(self.da, st, bi, 2, u),
                row(self.carry, bi, h, u),
            );
        }
        me.meet();
        // drh = da_n W_hn, my units.
        let r0 = me.rows.start;
        let src = self.da.at(st.at.g0 + r0 * self.gh() + 2 * h);
        gemm_packed(
            me.rows.len(),
            src,
            self.gh(),
            self.packed_n,
            panels_of::<F>(u),
            self.drh.at(r0 * h),
            h,
            false,
        );
        for bi in me.rows.clone() {
            if st.valid[bi] {
                gru::seeds_backward_reset_row(
                    self.kept(st, bi, 0, u),
                    self.h_prev(st, bi, u),
                    row(self.drh, bi, h, u),
                    self.unit(self.da, st, bi, 0, u),
                    row(self.carry, bi, h, u),
                );
            }
        }
        me.meet();
        let src = self.da.at(st.at.g0 + r0 * self.gh());
        self.to_carry(me, src, self.packed, u, h);
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
