//! The layer-normalised cells (`lstm_ln`, `gru_ln`) over a sequence, forward and backward
//! side by side. The element-wise equations are in [`crate::cell::norm`].
//!
//! The shape is the other cells' ([`super`]): the x-terms of every step in one product
//! before the loop, one recurrent product per step, and after the backward loop the weight
//! and input gradients as one product each over all steps. What differs is that a
//! normalisation needs a whole row of G*H values, so the members of a team split the batch
//! rows, never the hidden units: each member runs its own sequences through the whole loop
//! and the members never meet. (A batch of one runs on one thread.)
//!
//! The x- and h-terms are normalised apart, so the two products cannot be summed into one
//! buffer as the plain cells do: the h-term goes to its own buffer (`hn`), which the step
//! normalises in place and keeps for backward.
//!
//! Variable lengths follow the other cells: a row past its end keeps its state and outputs
//! zero; in backward its gradients pass through untouched. Its kept values are zeroed, so
//! the gain gradients (sums over every row) see nothing from it.

use super::{add_col_sums, nr, prev_slot, DirCache, DirGrads, DirParams, Shared, Spec};
use crate::cell::norm::{self, Gains, Sds};
use crate::cell::zoneout::{self, Zoning};
use crate::cell::CellKind;
use crate::float::Float;
use crate::kernels::packed::{gemm_packed, gemm_packed_par, Packed};
use crate::kernels::pool::{team, Team};
use crate::kernels::{gemm, workspace, MatMut, MatRef};
use std::ops::Range;

/// The team for a loop over `b` rows of `g_h` gate values from `h` hidden units: small
/// work on one thread, otherwise up to one member per row, each member's rows a multiple
/// of the microkernel's 8 when the batch allows.
fn members(b: usize, h: usize, g_h: usize) -> (usize, usize) {
    if b * h * g_h < super::TEAM_MIN_MACS {
        (1, 1)
    } else if b >= 16 {
        (b.div_ceil(8), 8)
    } else {
        (b, 1)
    }
}

/// Forward over `x` ([T, B, I] time-major) from `h0` [B, H] (and `c0` [B, H] for
/// `lstm_ln`); `reverse` runs t = T-1 .. 0.
#[allow(clippy::too_many_arguments)]
pub(super) fn forward<F: Float>(
    spec: Spec,
    p: &DirParams<F>,
    x: &[F],
    t_len: usize,
    b: usize,
    h0: &[F],
    c0: Option<&[F]>,
    valid: &[bool],
    reverse: bool,
    zone: Zoning,
) -> DirCache<F> {
    let (i_sz, h, gh) = (spec.input, spec.hidden, spec.gates() * spec.hidden);
    let gates = workspace::scratch(t_len * b * gh);
    let mut cache = DirCache::start(spec, t_len, b, reverse, gates, valid, h0, c0);
    cache.zone = zone;
    // 1. The x-terms of every step, on the packed kernel (W_ih^T packed once; faster than
    // the general product on this shape).
    let mut packed_ih = Packed::new();
    packed_ih.pack_t(p.w_ih.value.data(), gh, i_sz);
    gemm_packed_par(t_len * b, x, i_sz, 1, &packed_ih, &mut cache.xn, gh, false);
    drop(packed_ih);
    // 2. B = W_hh^T [H, G*H], packed once for every step.
    let mut packed = Packed::new();
    packed.pack_t(p.recurrent().value.data(), gh, h);
    let zeros = workspace::zeros(gh);
    let pass = Forward {
        kind: spec.kind,
        b,
        h,
        reverse,
        p: p.gains(&zeros),
        packed: &packed,
        gates: Shared::new(&mut cache.gates),
        xn: Shared::new(&mut cache.xn),
        hn: Shared::new(&mut cache.hn),
        hh: Shared::new(&mut cache.hh),
        cn: Shared::new(&mut cache.cn),
        sd: Shared::new(&mut cache.sd),
        hb: Shared::new(&mut cache.hb),
        cb: Shared::new(&mut cache.cb),
        zone: &cache.zone,
        valid: &cache.valid,
    };
    let (wanted, align) = members(b, h, gh);
    team(wanted, &|tm: &Team| {
        let rows = tm.share(b, align);
        for s in 0..t_len {
            let t = if reverse { t_len - 1 - s } else { s };
            // SAFETY: a member reads and writes only its own rows of every buffer.
            unsafe { pass.step(&rows, t) }
        }
    });
    workspace::give(zeros);
    cache
}

/// What every member of the forward team reads; the buffers are the cache's.
struct Forward<'a, F: Float> {
    kind: CellKind,
    b: usize,
    h: usize,
    reverse: bool,
    p: Gains<'a, F>,
    packed: &'a Packed<F>,
    gates: Shared<F>,
    xn: Shared<F>,
    hn: Shared<F>,
    hh: Shared<F>,
    cn: Shared<F>,
    sd: Shared<F>,
    hb: Shared<F>,
    cb: Shared<F>,
    zone: &'a Zoning,
    valid: &'a [bool],
}

impl<F: Float> Forward<'_, F> {
    /// Step t of the rows `rows`.
    ///
    /// # Safety
    /// No other member touches these rows.
    unsafe fn step(&self, rows: &Range<usize>, t: usize) {
        let (b, h) = (self.b, self.h);
        let gh = self.p.gx.len();
        let (ps, cs, r0) = (prev_slot(self.reverse, t), t + 1, t * b);
        // The h-terms of my rows: W_hh h_{t-1}.
        gemm_packed(
            rows.len(),
            self.hb.at((ps * b + rows.start) * h),
            h,
            self.packed,
            0..gh.div_ceil(nr::<F>()),
            self.hn.at((r0 + rows.start) * gh),
            gh,
            false,
        );
        let lstm = self.kind == CellKind::LstmLn;
        for bi in rows.clone() {
            let i = r0 + bi;
            // Row bi of the state slot s, in `hb` or `cb`.
            let at = |s: usize| (s * b + bi) * h..(s * b + bi + 1) * h;
            let g = i * gh..(i + 1) * gh;
            let (xn, hn, gates) = (
                self.xn.get_mut(g.clone()),
                self.hn.get_mut(g.clone()),
                self.gates.get_mut(g.clone()),
            );
            let (h_prev, h_new) = (self.hb.get(at(ps)), self.hb.get_mut(at(cs)));
            let sd = self.sd.get_mut(i * 3..(i + 1) * 3);
            if !self.valid[i] {
                h_new.copy_from_slice(h_prev);
                if lstm {
                    self.cb.get_mut(at(cs)).copy_from_slice(self.cb.get(at(ps)));
                    self.cn.get_mut(i * h..(i + 1) * h).fill(F::zero());
                }
                for v in [xn, hn, gates] {
                    v.fill(F::zero());
                }
                sd.fill(F::one());
                continue;
            }
            let sds = if lstm {
                norm::lstm_forward_row(
                    &self.p,
                    xn,
                    hn,
                    self.cb.get(at(ps)),
                    gates,
                    self.cb.get_mut(at(cs)),
                    self.cn.get_mut(i * h..(i + 1) * h),
                    h_new,
                )
            } else {
                let hh = self.hh.get_mut(g);
                norm::gru_forward_row(&self.p, xn, hn, h_prev, gates, hh, h_new)
            };
            sd.copy_from_slice(&sds);
            // Zoneout on the new states ([`crate::cell::zoneout`]). Backward needs no
            // c~_t: the normalised c~_t it reads (`cn`, `sd`) were kept above.
            let all = 0..h;
            if lstm {
                let keep = self.zone.row(true, t, b, h, bi, &all);
                zoneout::mix(keep, self.cb.get(at(ps)), self.cb.get_mut(at(cs)));
            }
            let keep = self.zone.row(false, t, b, h, bi, &all);
            zoneout::mix(keep, self.hb.get(at(ps)), self.hb.get_mut(at(cs)));
        }
    }
}

/// Backward through time. `dy` [T, B, H] is dL/d(output), `dh_n` [B, H] and `dc_n` [B, H]
/// the gradients of the final states. Adds the parameter gradients into `p`, writes dL/dx
/// into `dx` ([T, B, I], overwritten); returns the initial states' gradients.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward<F: Float>(
    p: &mut DirParams<F>,
    cache: &DirCache<F>,
    x: &[F],
    dy: &[F],
    dh_n: &[F],
    dc_n: Option<&[F]>,
    dx: &mut [F],
) -> DirGrads<F> {
    let spec = cache.spec;
    let (t_len, b) = (cache.t, cache.b);
    let (h, gh) = (spec.hidden, spec.gates() * spec.hidden);
    let (n, lstm) = (t_len * b, spec.kind == CellKind::LstmLn);
    // Every element of these is written in the loop.
    let mut dxa = workspace::scratch(n * gh);
    let mut dha = workspace::scratch(if lstm { 0 } else { n * gh });
    let mut dax = workspace::scratch(n * gh);
    let mut dah = workspace::scratch(n * gh);
    let mut dn = workspace::scratch(if lstm { n * h } else { 0 });
    let mut carry = workspace::copy_of(dh_n);
    let mut tot = workspace::zeros(b * h);
    let mut dc = match dc_n {
        Some(d) => workspace::copy_of(d),
        None => workspace::zeros(if lstm { b * h } else { 0 }),
    };
    // Zoneout's direct paths s_{t-1} -> s_t of one step (w ds_t).
    let zoned = cache.zone.rates.is_on();
    let mut zh = workspace::zeros(if zoned { b * h } else { 0 });
    let mut zc = workspace::zeros(if zoned && lstm { b * h } else { 0 });
    // B = W_hh [G*H, H] for dh_{t-1} = d(W_hh h) W_hh.
    let mut packed = Packed::new();
    packed.pack(p.recurrent().value.data(), gh, h, h);
    let zeros = workspace::zeros(gh);
    {
        let pass = Backward {
            c: cache,
            p: p.gains(&zeros),
            dy,
            packed: &packed,
            dxa: Shared::new(&mut dxa),
            dha: Shared::new(&mut dha),
            dax: Shared::new(&mut dax),
            dah: Shared::new(&mut dah),
            dn: Shared::new(&mut dn),
            carry: Shared::new(&mut carry),
            tot: Shared::new(&mut tot),
            dc: Shared::new(&mut dc),
            zh: Shared::new(&mut zh),
            zc: Shared::new(&mut zc),
        };
        let (wanted, align) = members(b, h, gh);
        team(wanted, &|tm: &Team| {
            let rows = tm.share(b, align);
            for s in (0..t_len).rev() {
                let t = if cache.reverse { t_len - 1 - s } else { s };
                // SAFETY: a member reads and writes only its own rows of every buffer.
                unsafe { pass.step(&rows, t) }
            }
        });
    }
    drop(packed);
    let dha_ref: &[F] = if lstm { &dxa } else { &dha };
    param_grads(p, cache, x, &dxa, dha_ref, &dax, &dah, &dn, dx);
    for v in [dxa, dha, dax, dah, dn, tot, zeros, zh, zc] {
        workspace::give(v);
    }
    DirGrads {
        dh0: carry,
        dc0: if lstm {
            Some(dc)
        } else {
            workspace::give(dc);
            None
        },
    }
}

/// What every member of the backward team reads and writes: the forward's cache, dL/dy,
/// and the gradient buffers (`dxa`, `dha` the gate gradients of the x- and h-terms, the
/// same buffer for `lstm_ln`; `dax`, `dah` those of the raw products; `dn` of g_c c^ + b_c;
/// `carry` dh flowing to step t-1, `tot` dh at step t, `dc` the cell state's; `zh`, `zc`
/// zoneout's direct part of dh_{t-1}, dc_{t-1}).
struct Backward<'a, F: Float> {
    c: &'a DirCache<F>,
    p: Gains<'a, F>,
    dy: &'a [F],
    packed: &'a Packed<F>,
    dxa: Shared<F>,
    dha: Shared<F>,
    dax: Shared<F>,
    dah: Shared<F>,
    dn: Shared<F>,
    carry: Shared<F>,
    tot: Shared<F>,
    dc: Shared<F>,
    zh: Shared<F>,
    zc: Shared<F>,
}

impl<F: Float> Backward<'_, F> {
    /// Step t (in reverse time) of the rows `rows`.
    ///
    /// # Safety
    /// No other member touches these rows.
    unsafe fn step(&self, rows: &Range<usize>, t: usize) {
        let c = self.c;
        let (b, h) = (c.b, c.spec.hidden);
        let gh = self.p.gx.len();
        let lstm = c.spec.kind == CellKind::LstmLn;
        let ps = prev_slot(c.reverse, t);
        for bi in rows.clone() {
            let i = t * b + bi;
            let (g, u, hp) = (
                i * gh..(i + 1) * gh,
                bi * h..(bi + 1) * h,
                (ps * b + bi) * h..(ps * b + bi + 1) * h,
            );
            let (dax, dah) = (self.dax.get_mut(g.clone()), self.dah.get_mut(g.clone()));
            let dxa = self.dxa.get_mut(g.clone());
            if !c.valid[i] {
                // Past the end: nothing flows into the weights; dh and dc pass unchanged.
                for v in [dxa, dax, dah] {
                    v.fill(F::zero());
                }
                if lstm {
                    self.dn.get_mut(i * h..(i + 1) * h).fill(F::zero());
                } else {
                    self.dha.get_mut(g).fill(F::zero());
                }
                continue;
            }
            let tot = self.tot.get_mut(u.clone());
            let carry = self.carry.get_mut(u.clone());
            let dyr = &self.dy[i * h..(i + 1) * h];
            tot.iter_mut()
                .zip(carry.iter())
                .zip(dyr)
                .for_each(|((o, c), y)| *o = *c + *y);
            // Zoneout: w ds_t goes straight to s_{t-1} (added after the product below).
            let zoned = c.zone.rates.is_on();
            if zoned {
                let all = 0..h;
                zoneout::split(
                    c.zone.row(false, t, b, h, bi, &all),
                    tot,
                    self.zh.get_mut(u.clone()),
                );
                if lstm {
                    let kc = c.zone.row(true, t, b, h, bi, &all);
                    zoneout::split(kc, self.dc.get_mut(u.clone()), self.zc.get_mut(u.clone()));
                }
            }
            let sd: Sds<F> = [c.sd[i * 3], c.sd[i * 3 + 1], c.sd[i * 3 + 2]];
            let (xn, hn, gates) = (&c.xn[g.clone()], &c.hn[g.clone()], &c.gates[g.clone()]);
            if lstm {
                norm::lstm_backward_row(
                    &self.p,
                    xn,
                    hn,
                    &c.cn[i * h..(i + 1) * h],
                    sd,
                    gates,
                    &c.cb[hp],
                    tot,
                    self.dc.get_mut(u),
                    dxa,
                    self.dn.get_mut(i * h..(i + 1) * h),
                    dax,
                    dah,
                );
                // h_{t-1} reaches h_t only through W_hh (added below).
                carry.fill(F::zero());
            } else {
                norm::gru_backward_row(
                    &self.p,
                    xn,
                    hn,
                    sd,
                    gates,
                    &c.hh[g.clone()],
                    &c.hb[hp],
                    tot,
                    carry,
                    dxa,
                    self.dha.get_mut(g),
                    dax,
                    dah,
                );
            }
        }
        // dh_{t-1} += d(W_hh h_{t-1}) W_hh over my rows (rows past their end add zero).
        gemm_packed(
            rows.len(),
            self.dah.at((t * b + rows.start) * gh),
            gh,
            self.packed,
            0..h.div_ceil(nr::<F>()),
            self.carry.at(rows.start * h),
            h,
            true,
        );
        if c.zone.rates.is_on() {
            for bi in rows.clone().filter(|&bi| c.valid[t * b + bi]) {
                let u = bi * h..(bi + 1) * h;
                zoneout::add(self.carry.get_mut(u.clone()), self.zh.get(u.clone()));
                if lstm {
                    zoneout::add(self.dc.get_mut(u.clone()), self.zc.get(u));
                }
            }
        }
    }
}

/// After the walk, each one pass over all steps: dW_ih += dax^T X, dW_hh += dah^T H_prev,
/// dX = dax W_ih; db_ih, db_hh the column sums of dxa, dha; the gains' gradients the column
/// sums of the gate gradients times what they scaled (dg_x = sum dxa x^, dg_h = sum dha h^,
/// dg_c = sum dn c^, db_c = sum dn).
#[allow(clippy::too_many_arguments)]
fn param_grads<F: Float>(
    p: &mut DirParams<F>,
    cache: &DirCache<F>,
    x: &[F],
    dxa: &[F],
    dha: &[F],
    dax: &[F],
    dah: &[F],
    dn: &[F],
    dx: &mut [F],
) {
    let spec = cache.spec;
    let (n, i_sz, h) = (cache.t * cache.b, spec.input, spec.hidden);
    let gh = spec.gates() * h;
    let h_prev_all = if cache.reverse {
        &cache.hb[2 * cache.b * h..]
    } else {
        &cache.hb[..n * h]
    };
    gemm(
        F::one(),
        MatRef::new(dax, n, gh).t(),
        MatRef::new(x, n, i_sz),
        F::one(),
        MatMut::new(p.w_ih.grad.data_mut(), gh, i_sz),
    );
    if let Some(w_hh) = &mut p.w_hh {
        gemm(
            F::one(),
            MatRef::new(dah, n, gh).t(),
            MatRef::new(&h_prev_all[..n * h], n, h),
            F::one(),
            MatMut::new(w_hh.grad.data_mut(), gh, h),
        );
    }
    for (param, d) in [(&mut p.b_ih, dxa), (&mut p.b_hh, dha)] {
        if let Some(param) = param {
            add_col_sums(param.grad.data_mut(), d);
        }
    }
    let [gx, g_h, gc, bc] = &mut p.ln;
    for (param, d, v) in [
        (gx, dxa, &cache.xn[..]),
        (g_h, dha, &cache.hn[..]),
        (gc, dn, &cache.cn[..]),
    ] {
        if let Some(param) = param {
            add_weighted_col_sums(param.grad.data_mut(), d, v);
        }
    }
    if let Some(bc) = bc {
        add_col_sums(bc.grad.data_mut(), dn);
    }
    let mut packed_ih = Packed::new();
    packed_ih.pack(p.w_ih.value.data(), gh, i_sz, i_sz);
    gemm_packed_par(n, dax, gh, 1, &packed_ih, dx, i_sz, false);
}

/// acc[j] += sum over rows of d[r, j] * v[r, j], rows in order.
fn add_weighted_col_sums<F: Float>(acc: &mut [F], d: &[F], v: &[F]) {
    let w = acc.len();
    for (dr, vr) in d.chunks_exact(w).zip(v.chunks_exact(w)) {
        for ((a, d), v) in acc.iter_mut().zip(dr).zip(vr) {
            *a += *d * *v;
        }
    }
}
