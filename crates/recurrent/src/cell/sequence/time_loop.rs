//! The time loop of one layer-direction, forward and backward side by side: the input
//! projection, the recurrent product and fused gate pass per step, and BPTT in reverse time
//! (the protocol and the storage are in the parent module's doc).
//!
//! Each pass is a struct of what every member of the team reads (the dimensions, the
//! buffers as [`Shared`], the packed weights), with one method per cell kind for one step
//! of one member: the member's rows and units come in as a [`Share`].

use super::*;
use crate::cell::zoneout::{self, Masks, Zoning};
use crate::cell::CellKind;
use crate::float::Float;
use crate::kernels::packed::{gemm_packed, Packed};
use crate::kernels::pool::{team, Team};
use crate::kernels::{gemm, workspace, MatMut, MatRef};
use std::ops::Range;

/// Forward over the sequence `x` ([T, B, I] time-major) from `h0` [B, H_out] (and `c0`
/// [B, H] for an LSTM). `reverse` runs t = T-1 .. 0. With `spec.zoneout` on, `masks` are
/// training's draws; without them the states are zoned by the rates' expectation.
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
    masks: Option<Masks>,
) -> DirCache<F> {
    let zone = Zoning {
        rates: spec.zoneout,
        masks,
    };
    if spec.kind.is_minimal() {
        return super::scan::forward(spec, p, x, t_len, b, h0, valid, reverse);
    }
    if spec.kind.is_normalized() {
        return super::normed::forward(spec, p, x, t_len, b, h0, c0, valid, reverse, zone);
    }
    let (i_sz, h, ho, g) = (spec.input, spec.hidden, spec.hout(), spec.gates());
    let gh = g * h;
    let seeds = spec.seeds();

    // 1. Input projection: gates = X W_ih^T. The biases are added by the element-wise
    // kernels, step by step, while the gates are in cache.
    //
    // When the members own whole batch rows, each computes its rows' projection at the
    // start of each step (W_ih packed once, like W_hh): the step's gates are then written
    // and read while in L1/L2, where one product over all steps first would write the whole
    // [T, B, G*H] buffer out (megabytes) and read it back, and its threads would meet the
    // time loop's team only after it. For small batches (units split) one product over all
    // steps keeps its rows many.
    let (members, part) = plan::<F>(b, h, ho, gh);
    let fuse_x = part == Partition::Rows && i_sz > 0;
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
    let (b_x, b_h) = step_biases(p, gh, spec.kind == CellKind::Gru);
    let mut cache = DirCache::start(spec, t_len, b, reverse, gates, valid, h0, c0);
    cache.zone = zone;

    // 2. The recurrent weights, packed once for all steps: one packing per gate block
    // (B_g = W_hh[g]^T, [H_out, H]) so that a run of units is whole panels of each.
    let w_hh = p.recurrent().value.data();
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
    let pass = Forward {
        spec,
        b,
        reverse,
        x: fuse_x.then_some(x),
        gates: Shared::new(&mut cache.gates),
        hh: Shared::new(&mut cache.hh),
        rh: Shared::new(&mut cache.rh),
        hb: Shared::new(&mut cache.hb),
        cb: Shared::new(&mut cache.cb),
        m: Shared::new(&mut cache.m),
        ct: Shared::new(&mut cache.ct),
        zone: &cache.zone,
        valid: &cache.valid,
        b_x: &b_x,
        b_h: &b_h,
        packed: &packed,
        packed_ih: &packed_ih,
        packed_hr: packed_hr.as_ref(),
    };
    team(members, &|tm: &Team| {
        let me = Share::new::<F>(tm, part, b, h, ho);
        for s in 0..t_len {
            let t = if reverse { t_len - 1 - s } else { s };
            // SAFETY: a member writes only its rows and units of the step's buffers, reads
            // h_{t-1} (complete since the last meeting, or its own rows), and members meet
            // before anyone reads what another wrote.
            unsafe { pass.step(&me, t) }
        }
    });
    drop((packed, packed_hr, packed_ih));
    workspace::give(b_x);
    workspace::give(b_h);
    cache
}

/// The biases as the step kernels take them, zero where absent: (b_x, b_h). RNN and LSTM
/// add the sum b_ih + b_hh in one (b_h stays zero); the GRU keeps b_hh apart (it sits
/// inside r * (W_hn h + b_hn)).
fn step_biases<F: Float>(p: &DirParams<F>, gh: usize, is_gru: bool) -> (Vec<F>, Vec<F>) {
    let mut b_x = workspace::zeros(gh);
    let mut b_h = workspace::zeros(gh);
    if let Some(bi) = &p.b_ih {
        b_x.copy_from_slice(bi.value.data());
    }
    if let Some(bh) = &p.b_hh {
        if is_gru {
            b_h.copy_from_slice(bh.value.data());
        } else {
            b_x.iter_mut()
                .zip(bh.value.data())
                .for_each(|(s, v)| *s += *v);
        }
    }
    (b_x, b_h)
}

impl<F: Float> DirCache<F> {
    /// The cache for a forward over `t_len` steps, its buffers sized for the cell, with
    /// the initial states in their slot.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start(
        spec: Spec,
        t_len: usize,
        b: usize,
        reverse: bool,
        gates: Vec<F>,
        valid: &[bool],
        h0: &[F],
        c0: Option<&[F]>,
    ) -> Self {
        let (h, ho, gh) = (spec.hidden, spec.hout(), spec.gates() * spec.hidden);
        let (nh, nc) = (b * ho, b * h);
        let is_lstm = spec.kind.has_cell_state();
        let normed = spec.kind.is_normalized();
        let sized = |on: bool, n: usize| {
            if on {
                workspace::scratch(n)
            } else {
                Vec::new()
            }
        };
        let mut cache = DirCache {
            spec,
            t: t_len,
            b,
            reverse,
            gates,
            hh: sized(
                matches!(spec.kind, CellKind::Gru | CellKind::GruLn),
                t_len * b * gh,
            ),
            rh: sized(spec.seeds(), t_len * nc),
            // Every slot read is written first (the spare slot, T+1 forward or 0 reverse,
            // is never read).
            hb: workspace::scratch((t_len + 2) * nh),
            cb: sized(is_lstm, (t_len + 2) * nc),
            m: sized(spec.proj > 0, t_len * nc),
            xn: sized(normed, t_len * b * gh),
            hn: sized(normed, t_len * b * gh),
            cn: sized(normed && is_lstm, t_len * nc),
            sd: sized(normed, t_len * b * 3),
            zone: Default::default(),
            ct: sized(spec.keeps_c_new(), t_len * nc),
            valid: valid.to_vec(),
        };
        let init = if reverse { t_len + 1 } else { 0 };
        cache.hb[init * nh..(init + 1) * nh].copy_from_slice(h0);
        if let (Some(c0), false) = (c0, cache.cb.is_empty()) {
            cache.cb[init * nc..(init + 1) * nc].copy_from_slice(c0);
        }
        cache
    }
}

/// What every member of the forward team reads; the buffers are the cache's.
pub(super) struct Forward<'a, F: Float> {
    pub(super) spec: Spec,
    pub(super) b: usize,
    pub(super) reverse: bool,
    /// The input, when each member projects its own rows step by step (see 1.).
    pub(super) x: Option<&'a [F]>,
    pub(super) gates: Shared<F>,
    pub(super) hh: Shared<F>,
    pub(super) rh: Shared<F>,
    pub(super) hb: Shared<F>,
    pub(super) cb: Shared<F>,
    pub(super) m: Shared<F>,
    pub(super) ct: Shared<F>,
    pub(super) zone: &'a Zoning,
    pub(super) valid: &'a [bool],
    pub(super) b_x: &'a [F],
    pub(super) b_h: &'a [F],
    pub(super) packed: &'a [Packed<F>],
    pub(super) packed_ih: &'a [Packed<F>],
    pub(super) packed_hr: Option<&'a Packed<F>>,
}

/// Where step t's pieces sit: the slots of h_{t-1} (`ps`) and h_t (`cs`), and the first
/// element of the step's gate rows (`g0`).
pub(super) struct At {
    pub(super) t: usize,
    pub(super) ps: usize,
    pub(super) cs: usize,
    pub(super) g0: usize,
}

impl<F: Float> Forward<'_, F> {
    pub(super) fn gh(&self) -> usize {
        self.spec.gates() * self.spec.hidden
    }
    pub(super) fn nh(&self) -> usize {
        self.b * self.spec.hout()
    }
    pub(super) fn nc(&self) -> usize {
        self.b * self.spec.hidden
    }
    /// Member `me`'s part of step t.
    ///
    /// # Safety
    /// The team protocol of the module doc: `me` is this member's share of the team.
    unsafe fn step(&self, me: &Share, t: usize) {
        let at = At {
            t,
            ps: if self.reverse { t + 2 } else { t },
            cs: t + 1,
            g0: t * self.b * self.gh(),
        };
        if let Some(x) = self.x {
            // x_t W_ih^T for my rows (see 1.), before the h-terms are added.
            let i_sz = self.spec.input;
            let xr = x.as_ptr().add((t * self.b + me.rows.start) * i_sz);
            let c = self.gates.at(at.g0 + me.rows.start * self.gh());
            let (nb, h) = (me.rows.len(), self.spec.hidden);
            product_units(nb, xr, i_sz, self.packed_ih, &me.u, c, self.gh(), h, false);
        }
        match self.spec.kind {
            CellKind::RnnTanh | CellKind::RnnRelu => self.rnn(me, &at),
            CellKind::Lstm => self.lstm(me, &at),
            CellKind::Gru if self.spec.seeds() => self.gru_seeds(me, &at),
            CellKind::Gru => self.gru(me, &at),
            CellKind::MinGru | CellKind::MinLstm => unreachable!("minimal cells walk in scan.rs"),
            CellKind::LstmLn | CellKind::GruLn => {
                unreachable!("normalised cells walk in normed.rs")
            }
        }
    }

    /// Gate block `q` of row `bi`, my units `u`, in the step buffer `buf` from `base`.
    pub(super) unsafe fn unit<'s>(
        &self,
        buf: Shared<F>,
        base: usize,
        bi: usize,
        q: usize,
        u: &Range<usize>,
    ) -> &'s mut [F] {
        let c = base + bi * self.gh() + q * self.spec.hidden;
        buf.get_mut(c + u.start..c + u.end)
    }
    /// Row `bi` of the hidden state in `slot`, the units `w`.
    pub(super) unsafe fn hrow<'s>(&self, slot: usize, bi: usize, w: &Range<usize>) -> &'s mut [F] {
        let c = slot * self.nh() + bi * self.spec.hout();
        self.hb.get_mut(c + w.start..c + w.end)
    }
    /// Row `bi` of the cell state in `slot`, the units `u`.
    pub(super) unsafe fn crow<'s>(&self, slot: usize, bi: usize, u: &Range<usize>) -> &'s mut [F] {
        let c = slot * self.nc() + bi * self.spec.hidden;
        self.cb.get_mut(c + u.start..c + u.end)
    }
    /// The recurrent product into my gate columns: `dst` (+)= h_{t-1} W_hh^T over my rows,
    /// against the packed `blocks`.
    pub(super) unsafe fn recurrent(
        &self,
        me: &Share,
        at: &At,
        blocks: &[Packed<F>],
        dst: Shared<F>,
        accumulate: bool,
    ) {
        let (ho, gh) = (self.spec.hout(), self.gh());
        let hp = self.hb.at(at.ps * self.nh() + me.rows.start * ho) as *const F;
        let c = dst.at(at.g0 + me.rows.start * gh);
        product_units(
            me.rows.len(),
            hp,
            ho,
            blocks,
            &me.u,
            c,
            gh,
            self.spec.hidden,
            accumulate,
        );
    }
    /// Zoneout on my rows and units of step t's new states, before the meeting that
    /// publishes them ([`crate::cell::zoneout`]). The LSTM's c~_t is kept first: its
    /// backward takes tanh(c~_t), not tanh of the zoned c_t.
    pub(super) unsafe fn zone(&self, me: &Share, at: &At) {
        let z = self.zone;
        if !z.rates.is_on() {
            return;
        }
        let (h, u, nc) = (self.spec.hidden, &me.u, self.nc());
        let keep_c = self.spec.keeps_c_new();
        for bi in me.rows.clone() {
            if !self.valid[at.t * self.b + bi] {
                continue;
            }
            if keep_c {
                let (c_new, o) = (self.crow(at.cs, bi, u), at.t * nc + bi * h);
                self.ct
                    .get_mut(o + u.start..o + u.end)
                    .copy_from_slice(c_new);
                let keep = z.row(true, at.t, self.b, h, bi, u);
                zoneout::mix(keep, self.crow(at.ps, bi, u), c_new);
            }
            let keep = z.row(false, at.t, self.b, h, bi, u);
            zoneout::mix(keep, self.hrow(at.ps, bi, u), self.hrow(at.cs, bi, u));
        }
    }
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
    if cache.spec.kind.is_minimal() {
        return super::scan::backward(p, cache, x, dy, dh_n, dx);
    }
    if cache.spec.kind.is_normalized() {
        return super::normed::backward(p, cache, x, dy, dh_n, dc_n, dx);
    }
    let spec = cache.spec;
    let (t_len, b, reverse) = (cache.t, cache.b, cache.reverse);
    let (h, ho, gh) = (spec.hidden, spec.hout(), spec.gates() * spec.hidden);
    let (nh, nc) = (b * ho, b * h);
    let is_lstm = spec.kind == CellKind::Lstm;
    let seeds = spec.seeds();

    // Gate gradients of the x-rows (da) and, for PyTorch's GRU, of the h-rows (dah). Every
    // element is written in the loop.
    let mut da = workspace::scratch(t_len * b * gh);
    let mut dah = if spec.kind == CellKind::Gru && !seeds {
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
    // Zoneout's direct paths s_{t-1} -> s_t of one step (w ds_t), added after the cell's.
    let zoned = cache.zone.rates.is_on();
    let mut zh = workspace::zeros(if zoned { nh } else { 0 });
    let mut zc = workspace::zeros(if zoned && is_lstm { nc } else { 0 });

    // The recurrent weights as the B of dh_{t-1} = da_t W_hh, packed once: [G*H, H_out]
    // (seeds: the n block [H, H] for drh and the r, z blocks [2H, H] apart).
    let w_hh = p.recurrent().value.data();
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
    let pass = Backward {
        cache,
        dy,
        da: Shared::new(&mut da),
        dah: Shared::new(&mut dah),
        carry: Shared::new(&mut dh_carry),
        tot: Shared::new(&mut dh_tot),
        dc: Shared::new(&mut dc),
        dm: Shared::new(&mut dm),
        dhs: Shared::new(&mut dhs),
        drh: Shared::new(&mut drh),
        zh: Shared::new(&mut zh),
        zc: Shared::new(&mut zc),
        packed: &packed,
        packed_n: &packed_n,
        packed_hr: &packed_hr,
    };
    let (members, part) = plan::<F>(b, h, ho, gh);
    team(members, &|tm: &Team| {
        let me = Share::new::<F>(tm, part, b, h, ho);
        for s in (0..t_len).rev() {
            let t = if reverse { t_len - 1 - s } else { s };
            // SAFETY: as in forward, members write only their rows and units and meet
            // before reading what others wrote.
            unsafe { pass.step(&me, t) }
        }
    });
    drop((packed, packed_n, packed_hr));

    super::grads::weight_grads(p, cache, x, &da, &dah, &dhs, dx);
    for v in [da, dah, dh_tot, dm, dhs, drh, zh, zc] {
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

/// What every member of the backward team reads and writes: the forward's cache, dL/dy,
/// and the gradient buffers (da, dah the gate gradients of every step; carry dh flowing
/// to step t-1, tot dh at step t; dc, dm, drh the step's other state gradients; dhs the
/// dh kept for dW_hr; zh, zc zoneout's direct part of dh_{t-1}, dc_{t-1}).
pub(super) struct Backward<'a, F: Float> {
    pub(super) cache: &'a DirCache<F>,
    pub(super) dy: &'a [F],
    pub(super) da: Shared<F>,
    pub(super) dah: Shared<F>,
    pub(super) carry: Shared<F>,
    pub(super) tot: Shared<F>,
    pub(super) dc: Shared<F>,
    pub(super) dm: Shared<F>,
    pub(super) dhs: Shared<F>,
    pub(super) drh: Shared<F>,
    pub(super) zh: Shared<F>,
    pub(super) zc: Shared<F>,
    pub(super) packed: &'a Packed<F>,
    pub(super) packed_n: &'a Packed<F>,
    pub(super) packed_hr: &'a Packed<F>,
}

/// Step t in backward: the forward's [`At`] and whether each row is inside its sequence.
pub(super) struct BackAt<'v> {
    pub(super) at: At,
    pub(super) valid: &'v [bool],
}

impl<F: Float> Backward<'_, F> {
    pub(super) fn gh(&self) -> usize {
        self.cache.spec.gates() * self.cache.spec.hidden
    }
    /// Member `me`'s part of step t (in reverse time).
    ///
    /// # Safety
    /// The team protocol of the module doc: `me` is this member's share of the team.
    unsafe fn step(&self, me: &Share, t: usize) {
        let (b, spec) = (self.cache.b, self.cache.spec);
        let st = BackAt {
            at: At {
                t,
                ps: self.cache.prev_slot(t),
                cs: self.cache.slot(t),
                g0: t * b * self.gh(),
            },
            valid: &self.cache.valid[t * b..(t + 1) * b],
        };
        // dh_tot = dh from step t+1 + dL/dy_t (only inside the sequence: padded outputs
        // are constant zeros), over my rows and output units.
        let (ho, nh, up) = (spec.hout(), b * spec.hout(), &me.up);
        for bi in me.rows.clone() {
            let o = row(self.tot, bi, ho, up);
            let c = row(self.carry, bi, ho, up);
            if st.valid[bi] {
                let y0 = t * nh + bi * ho;
                let y = &self.dy[y0 + up.start..y0 + up.end];
                o.iter_mut()
                    .zip(c)
                    .zip(y)
                    .for_each(|((o, c), y)| *o = *c + *y);
            } else {
                o.copy_from_slice(c);
            }
        }
        self.zone(me, &st, true);
        match spec.kind {
            CellKind::RnnTanh | CellKind::RnnRelu => self.rnn(me, &st),
            CellKind::Lstm => self.lstm(me, &st),
            CellKind::Gru if spec.seeds() => self.gru_seeds(me, &st),
            CellKind::Gru => self.gru(me, &st),
            CellKind::MinGru | CellKind::MinLstm => unreachable!("minimal cells walk in scan.rs"),
            CellKind::LstmLn | CellKind::GruLn => {
                unreachable!("normalised cells walk in normed.rs")
            }
        }
        self.zone(me, &st, false);
    }

    /// Zoneout's backward on my rows and units ([`crate::cell::zoneout`]): `split` before
    /// the cell's step (w ds_t aside, (1 - w) ds_t into the cell), else after it (w ds_t
    /// added to what the cell passed to s_{t-1}). A member owns the same rows and units
    /// of carry and dc in both.
    unsafe fn zone(&self, me: &Share, st: &BackAt, split: bool) {
        let z = &self.cache.zone;
        if !z.rates.is_on() {
            return;
        }
        let (b, spec, t) = (self.cache.b, self.cache.spec, st.at.t);
        let (h, u) = (spec.hidden, &me.u);
        let lstm = spec.kind == CellKind::Lstm;
        for bi in me.rows.clone().filter(|&bi| st.valid[bi]) {
            let (kh, kc) = (z.row(false, t, b, h, bi, u), z.row(true, t, b, h, bi, u));
            let (dh, zh) = (row(self.tot, bi, h, u), row(self.zh, bi, h, u));
            let (dc, zc) = if lstm {
                (row(self.dc, bi, h, u), row(self.zc, bi, h, u))
            } else {
                (<&mut [F]>::default(), <&mut [F]>::default())
            };
            if split {
                zoneout::split(kh, dh, zh);
                zoneout::split(kc, dc, zc);
            } else {
                zoneout::add(row(self.carry, bi, h, u), zh);
                zoneout::add(dc, zc);
            }
        }
    }

    /// Gate block `q` of row `bi`, my units, in the step's gradient buffer `buf`.
    pub(super) unsafe fn unit<'s>(
        &self,
        buf: Shared<F>,
        st: &BackAt,
        bi: usize,
        q: usize,
        u: &Range<usize>,
    ) -> &'s mut [F] {
        let c = st.at.g0 + bi * self.gh() + q * self.cache.spec.hidden;
        buf.get_mut(c + u.start..c + u.end)
    }
    /// The same place in the forward's activated gates.
    pub(super) fn kept(&self, st: &BackAt, bi: usize, q: usize, u: &Range<usize>) -> &[F] {
        let c = st.at.g0 + bi * self.gh() + q * self.cache.spec.hidden;
        &self.cache.gates[c + u.start..c + u.end]
    }
    /// Row `bi`, my units, of h_{t-1}.
    pub(super) fn h_prev(&self, st: &BackAt, bi: usize, u: &Range<usize>) -> &[F] {
        let c = st.at.ps * self.cache.b * self.cache.spec.hout() + bi * self.cache.spec.hout();
        &self.cache.hb[c + u.start..c + u.end]
    }
    /// Zeroes the gate gradients of a row past its end (blocks `0..q` of `buf`).
    pub(super) unsafe fn zero_gates(
        &self,
        buf: Shared<F>,
        st: &BackAt,
        bi: usize,
        q: usize,
        u: &Range<usize>,
    ) {
        for q in 0..q {
            self.unit(buf, st, bi, q, u)
                .iter_mut()
                .for_each(|v| *v = F::zero());
        }
    }
    /// carry (+)= src W over my rows, units `panels` of carry (row width `w`).
    pub(super) unsafe fn to_carry(
        &self,
        me: &Share,
        src: *const F,
        b: &Packed<F>,
        panels: &Range<usize>,
        w: usize,
    ) {
        let r0 = me.rows.start;
        gemm_packed(
            me.rows.len(),
            src,
            self.gh(),
            b,
            panels_of::<F>(panels),
            self.carry.at(r0 * w),
            w,
            true,
        );
    }
}

/// Row `bi` of a [B, w] buffer, the units `r`.
///
/// # Safety
/// The caller's member owns those elements.
pub(super) unsafe fn row<'a, F>(
    buf: Shared<F>,
    bi: usize,
    w: usize,
    r: &Range<usize>,
) -> &'a mut [F] {
    buf.get_mut(bi * w + r.start..bi * w + r.end)
}
