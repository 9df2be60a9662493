//! One layer, one direction, over a whole sequence: forward keeping what backward needs,
//! backward in reverse time (BPTT), with the fast path of ../DESIGN.md:
//!
//! 1. the input projection of all T steps in one product, `[T*B, I] x [I, G*H]`;
//! 2. the loop over t with only the recurrent product `[B, H_out] x [H_out, G*H]` per step,
//!    against weights packed once per sequence ([`crate::kernels::packed`]), written straight
//!    into the kept gate buffer, then one fused element-wise pass;
//! 3. backward in reverse time turning dh_t (and dc_t) into the gate gradients da_t, then
//!    dh_{t-1} = da_t W_hh; after the loop dW_ih = da^T X, dW_hh = da^T H_prev,
//!    db = column sums, dX = da W_ih: each one product over all steps.
//!
//! Nothing is allocated inside the time loop, and the buffers come from
//! [`crate::kernels::workspace`], so a training loop reuses them from one step to the next.
//!
//! Threads: the time loop runs as a [`team`] that splits the hidden units (in runs of NR, a
//! vector's width). Each member computes the gate columns of its units (every gate's block),
//! applies the element-wise pass to them, and the team meets once per step (twice with the
//! LSTM projection or the seeds' GRU), because step t+1 needs all of h_t. Each element is
//! computed by the same code whoever computes it, so results are bit-identical for any
//! number of threads.
//!
//! Variable lengths: `valid[t * B + b]` says whether step t is inside sequence b. A row past
//! its end keeps its state (so the final state is the one at its own last step), outputs 0,
//! and in backward passes its state gradient through untouched: PyTorch's packed-sequence
//! semantics, in both directions (the reverse direction starts at each sequence's own last
//! step, from h0, because the padded steps before it leave h0 as it is).
//!
//! Storage: the hidden states live in `hb`, T + 2 slots of [B, H_out]; slot t + 1 holds h_t
//! and the initial state sits in slot 0 (forward) or slot T + 1 (reverse), so that the
//! states *before* each step form one contiguous [T, B, H_out] block for dW_hh. `cb` is the
//! same for the LSTM's c.

use super::{gru, lstm, rnn, CellKind, GruForm};
use crate::float::Float;
use crate::kernels::packed::{gemm_packed, nr, Packed};
use crate::kernels::pool::{team, Team};
use crate::kernels::{gemm, workspace, MatMut, MatRef};
use crate::param::Param;
use std::ops::Range;

/// The shape of one layer-direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    pub kind: CellKind,
    pub gru_form: GruForm,
    /// I_k, this layer's input width.
    pub input: usize,
    /// H.
    pub hidden: usize,
    /// P, the LSTM projection (0: none).
    pub proj: usize,
}

impl Spec {
    /// G.
    pub fn gates(&self) -> usize {
        self.kind.gates()
    }
    /// H_out = P if P > 0 else H.
    pub fn hout(&self) -> usize {
        if self.proj > 0 {
            self.proj
        } else {
            self.hidden
        }
    }
    fn seeds(&self) -> bool {
        self.kind == CellKind::Gru && self.gru_form == GruForm::Seeds
    }
    fn act(&self) -> rnn::Activation {
        if self.kind == CellKind::RnnRelu {
            rnn::Activation::Relu
        } else {
            rnn::Activation::Tanh
        }
    }
}

/// The parameters of one layer-direction, under PyTorch's names.
#[derive(Clone, Debug)]
pub struct DirParams<F> {
    /// `weight_ih_l{k}` [G*H, I_k]
    pub w_ih: Param<F>,
    /// `weight_hh_l{k}` [G*H, H_out]
    pub w_hh: Param<F>,
    /// `bias_ih_l{k}` [G*H]
    pub b_ih: Option<Param<F>>,
    /// `bias_hh_l{k}` [G*H]
    pub b_hh: Option<Param<F>>,
    /// `weight_hr_l{k}` [P, H] (LSTM with projection)
    pub w_hr: Option<Param<F>>,
}

impl<F: Float> DirParams<F> {
    /// Visits in PyTorch's order: w_ih, w_hh, b_ih, b_hh, w_hr.
    pub fn visit(&self, f: &mut dyn FnMut(&Param<F>)) {
        f(&self.w_ih);
        f(&self.w_hh);
        for p in [&self.b_ih, &self.b_hh, &self.w_hr].into_iter().flatten() {
            f(p);
        }
    }
    /// Visits mutably, in the same order.
    pub fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<F>)) {
        f(&mut self.w_ih);
        f(&mut self.w_hh);
        for p in [&mut self.b_ih, &mut self.b_hh, &mut self.w_hr]
            .into_iter()
            .flatten()
        {
            f(p);
        }
    }
}

/// What the forward pass keeps for backward. Its buffers return to the workspace when it
/// is dropped.
#[derive(Clone, Debug)]
pub struct DirCache<F: Float> {
    pub spec: Spec,
    pub t: usize,
    pub b: usize,
    pub reverse: bool,
    /// [T, B, G*H]: activated gates (RNN: h_t itself; LSTM: i, f, g, o; GRU: r, z, n).
    gates: Vec<F>,
    /// GRU: [T, B, 3H] the h-terms W_hh h_{t-1} + b_hh (seeds' form: n rows from rh).
    hh: Vec<F>,
    /// GRU seeds' form: [T, B, H] rh = r * h_{t-1}, the input of W_hn.
    rh: Vec<F>,
    /// [T + 2, B, H_out] hidden states (see the module doc).
    hb: Vec<F>,
    /// LSTM: [T + 2, B, H] cell states.
    cb: Vec<F>,
    /// LSTM with projection: [T, B, H] m_t = o * tanh(c_t), before W_hr.
    m: Vec<F>,
    /// [T, B] step t inside sequence b.
    valid: Vec<bool>,
}

impl<F: Float> Drop for DirCache<F> {
    fn drop(&mut self) {
        for v in [
            &mut self.gates,
            &mut self.hh,
            &mut self.rh,
            &mut self.hb,
            &mut self.cb,
            &mut self.m,
        ] {
            workspace::give(std::mem::take(v));
        }
    }
}

impl<F: Float> DirCache<F> {
    fn slot(&self, t: usize) -> usize {
        t + 1
    }
    /// The slot of the state before step t.
    fn prev_slot(&self, t: usize) -> usize {
        if self.reverse {
            t + 2
        } else {
            t
        }
    }
    /// Writes the output sequence [T, B, H_out] (zero past each sequence's end) into the
    /// columns `col0..col0 + H_out` of `out`, whose rows are `row_stride` apart.
    pub fn output_into(&self, out: &mut [F], row_stride: usize, col0: usize) {
        let (b, ho) = (self.b, self.spec.hout());
        for t in 0..self.t {
            for bi in 0..b {
                let dst = &mut out[(t * b + bi) * row_stride + col0..][..ho];
                if self.valid[t * b + bi] {
                    dst.copy_from_slice(&self.hb[(self.slot(t) * b + bi) * ho..][..ho]);
                } else {
                    dst.iter_mut().for_each(|v| *v = F::zero());
                }
            }
        }
    }
    /// The final hidden state [B, H_out]: after the last processed step.
    pub fn h_n(&self) -> &[F] {
        let n = self.b * self.spec.hout();
        let s = if self.reverse { 1 } else { self.t };
        &self.hb[s * n..(s + 1) * n]
    }
    /// The final cell state [B, H] (LSTM).
    pub fn c_n(&self) -> Option<&[F]> {
        if self.cb.is_empty() {
            return None;
        }
        let n = self.b * self.spec.hidden;
        let s = if self.reverse { 1 } else { self.t };
        Some(&self.cb[s * n..(s + 1) * n])
    }
    /// The hidden state after processing step t, [B, H_out] (for streaming and diagnostics).
    pub fn h_at(&self, t: usize) -> &[F] {
        let n = self.b * self.spec.hout();
        &self.hb[self.slot(t) * n..(self.slot(t) + 1) * n]
    }
}

/// A buffer shared by the members of a team, each touching only its own elements (its
/// hidden units, or slots the others only read): raw so that several members can hold
/// disjoint pieces of it at once.
#[derive(Clone, Copy)]
struct Shared<F> {
    ptr: *mut F,
    len: usize,
}
// SAFETY: members access disjoint elements between barriers (the module doc's protocol).
unsafe impl<F: Send> Send for Shared<F> {}
unsafe impl<F: Send> Sync for Shared<F> {}

impl<F> Shared<F> {
    fn new(v: &mut [F]) -> Self {
        Shared {
            ptr: v.as_mut_ptr(),
            len: v.len(),
        }
    }
    /// # Safety
    /// No other member writes `r` while the slice lives.
    unsafe fn get(&self, r: Range<usize>) -> &[F] {
        assert!(
            r.start <= r.end && r.end <= self.len,
            "Shared::get out of bounds"
        );
        std::slice::from_raw_parts(self.ptr.add(r.start), r.end - r.start)
    }
    /// # Safety
    /// No other member reads or writes `r` while the slice lives.
    #[allow(clippy::mut_from_ref)]
    unsafe fn get_mut(&self, r: Range<usize>) -> &mut [F] {
        assert!(
            r.start <= r.end && r.end <= self.len,
            "Shared::get_mut out of bounds"
        );
        std::slice::from_raw_parts_mut(self.ptr.add(r.start), r.end - r.start)
    }
    fn at(&self, i: usize) -> *mut F {
        assert!(i <= self.len, "Shared::at out of bounds");
        // SAFETY: inside (or one past) the allocation.
        unsafe { self.ptr.add(i) }
    }
}

/// Adds `bias` to every row of `rows` ([n, width], the bias of length `width`), optionally
/// only over columns `[c0, c0 + bias.len())`.
fn add_bias<F: Float>(rows: &mut [F], width: usize, c0: usize, bias: &[F]) {
    for row in rows.chunks_exact_mut(width) {
        row[c0..c0 + bias.len()]
            .iter_mut()
            .zip(bias)
            .for_each(|(v, b)| *v += *b);
    }
}

/// Adds the column sums of `rows` ([n, width]) into `acc` ([width]).
fn add_col_sums<F: Float>(acc: &mut [F], rows: &[F], width: usize) {
    for row in rows.chunks_exact(width) {
        acc.iter_mut().zip(row).for_each(|(a, v)| *a += *v);
    }
}

/// Packs each of the `blocks` row blocks of `w` ([blocks * n, k]) as B = block^T ([k, n]).
fn pack_blocks<F: Float>(w: &[F], blocks: usize, n: usize, k: usize) -> Vec<Packed<F>> {
    (0..blocks)
        .map(|g| {
            let mut p = Packed::new();
            p.pack_t(&w[g * n * k..(g + 1) * n * k], n, k);
            p
        })
        .collect()
}

/// The panels (of NR columns) covering the units `u`, which start on a panel boundary.
fn panels_of<F: Float>(u: &Range<usize>) -> Range<usize> {
    let r = nr::<F>();
    u.start / r..u.end.div_ceil(r)
}

/// C[:, units of `u` in every block] (+)= A B_g for each block g: the product restricted to
/// one member's hidden units. C row stride `ldc`, block g's columns start at `g * h`.
///
/// # Safety
/// As [`gemm_packed`]; the member owns those columns of C.
#[allow(clippy::too_many_arguments)]
unsafe fn product_units<F: Float>(
    m: usize,
    a: *const F,
    lda: usize,
    blocks: &[Packed<F>],
    u: &Range<usize>,
    c: *mut F,
    ldc: usize,
    h: usize,
    accumulate: bool,
) {
    let panels = panels_of::<F>(u);
    for (g, bg) in blocks.iter().enumerate() {
        gemm_packed(m, a, lda, bg, panels.clone(), c.add(g * h), ldc, accumulate);
    }
}

/// How many members the time loop of a layer with `units` hidden units can use: one per
/// run of NR units at most (the product splits by panels).
fn team_size<F: Float>(units: usize) -> usize {
    units.div_ceil(nr::<F>()).max(1)
}

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

    // 1. Input projection of all steps: gates = X W_ih^T + b_ih (+ b_hh where it simply adds).
    let mut gates = workspace::scratch(t_len * b * gh);
    gemm(
        F::one(),
        MatRef::new(x, t_len * b, i_sz),
        MatRef::new(p.w_ih.value.data(), gh, i_sz).t(),
        F::zero(),
        MatMut::new(&mut gates, t_len * b, gh),
    );
    if let Some(bi) = &p.b_ih {
        add_bias(&mut gates, gh, 0, bi.value.data());
    }
    if !is_gru {
        if let Some(bh) = &p.b_hh {
            add_bias(&mut gates, gh, 0, bh.value.data());
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
        hb: workspace::zeros((t_len + 2) * nh),
        cb: if is_lstm {
            workspace::zeros((t_len + 2) * nc)
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
    // (B_g = W_hh[g]^T, [H_out, H]) so that a member's units are whole panels of each.
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
    let b_hh = p.b_hh.as_ref().map(|q| q.value.data());

    // 3. The time loop, split by hidden units over a team.
    let gates = Shared::new(&mut cache.gates);
    let hh = Shared::new(&mut cache.hh);
    let rh = Shared::new(&mut cache.rh);
    let hb = Shared::new(&mut cache.hb);
    let cb = Shared::new(&mut cache.cb);
    let mb = Shared::new(&mut cache.m);
    let valid = &cache.valid;
    let members = team_size::<F>(h).min(if spec.proj > 0 {
        team_size::<F>(ho)
    } else {
        usize::MAX
    });
    team(members, &|tm: &Team| {
        let u = tm.share(h, nr::<F>());
        let up = tm.share(ho, nr::<F>());
        for s in 0..t_len {
            let t = if reverse { t_len - 1 - s } else { s };
            let (ps, cs) = (if reverse { t + 2 } else { t }, t + 1);
            let vt = &valid[t * b..(t + 1) * b];
            let g0 = t * b * gh; // this step's gate rows
            let hp = hb.at(ps * nh) as *const F; // h_{t-1}, [B, H_out]
                                                 // SAFETY (this loop body): members write only their units `u` (or `up`) of the
                                                 // step's rows, read h_{t-1} (complete since the last sync) and meet before
                                                 // anyone reads what another wrote.
            unsafe {
                match spec.kind {
                    CellKind::RnnTanh | CellKind::RnnRelu => {
                        // a_t += h_{t-1} W_hh^T;  h_t = act(a_t)
                        product_units(b, hp, ho, &packed, &u, gates.at(g0), gh, h, true);
                        for (bi, &ok) in vt.iter().enumerate() {
                            let r = bi * h + u.start..bi * h + u.end;
                            let hout = hb.get_mut(cs * nh + r.start..cs * nh + r.end);
                            if ok {
                                let a = gates.get_mut(g0 + r.start..g0 + r.end);
                                rnn::forward_row(spec.act(), a, hout);
                            } else {
                                hout.copy_from_slice(hb.get(ps * nh + r.start..ps * nh + r.end));
                            }
                        }
                        tm.sync();
                    }
                    CellKind::Lstm => {
                        product_units(b, hp, ho, &packed, &u, gates.at(g0), gh, h, true);
                        for (bi, &ok) in vt.iter().enumerate() {
                            let r = bi * h + u.start..bi * h + u.end;
                            let c_prev = cb.get(ps * nc + r.start..ps * nc + r.end);
                            let c_out = cb.get_mut(cs * nc + r.start..cs * nc + r.end);
                            // m_t goes to the output slot directly without a projection.
                            let m_out = if spec.proj > 0 {
                                mb.get_mut(t * nc + r.start..t * nc + r.end)
                            } else {
                                hb.get_mut(cs * nh + r.start..cs * nh + r.end)
                            };
                            if ok {
                                let gr = g0 + bi * gh;
                                let w = u.end - u.start;
                                let gate = |k: usize| {
                                    gates.get_mut(gr + k * h + u.start..gr + k * h + u.start + w)
                                };
                                lstm::forward_row(
                                    gate(0),
                                    gate(1),
                                    gate(2),
                                    gate(3),
                                    c_prev,
                                    c_out,
                                    m_out,
                                );
                            } else {
                                c_out.copy_from_slice(c_prev);
                                if spec.proj > 0 {
                                    m_out.iter_mut().for_each(|v| *v = F::zero());
                                } else {
                                    m_out.copy_from_slice(
                                        hb.get(ps * nh + r.start..ps * nh + r.end),
                                    );
                                }
                            }
                        }
                        tm.sync();
                        if let Some(phr) = &packed_hr {
                            // h_t = W_hr m_t, split by output units; rows past their end
                            // keep h_{t-1}.
                            gemm_packed(
                                b,
                                mb.at(t * nc),
                                h,
                                phr,
                                panels_of::<F>(&up),
                                hb.at(cs * nh),
                                ho,
                                false,
                            );
                            for (bi, &ok) in vt.iter().enumerate() {
                                if !ok {
                                    let r = bi * ho + up.start..bi * ho + up.end;
                                    hb.get_mut(cs * nh + r.start..cs * nh + r.end)
                                        .copy_from_slice(
                                            hb.get(ps * nh + r.start..ps * nh + r.end),
                                        );
                                }
                            }
                            tm.sync();
                        }
                    }
                    CellKind::Gru => {
                        let hh0 = t * b * gh;
                        let blocks = if seeds { &packed[..2] } else { &packed[..] };
                        // The h-terms of my units: h_{t-1} W_hh^T + b_hh (r, z only for
                        // the seeds' form).
                        product_units(b, hp, h, blocks, &u, hh.at(hh0), gh, h, false);
                        if let Some(bh) = b_hh {
                            for bi in 0..b {
                                for gi in 0..blocks.len() {
                                    let c0 = hh0 + bi * gh + gi * h;
                                    hh.get_mut(c0 + u.start..c0 + u.end)
                                        .iter_mut()
                                        .zip(&bh[gi * h + u.start..gi * h + u.end])
                                        .for_each(|(v, b)| *v += *b);
                                }
                            }
                        }
                        if !seeds {
                            for (bi, &ok) in vt.iter().enumerate() {
                                let r = bi * h + u.start..bi * h + u.end;
                                let hout = hb.get_mut(cs * nh + r.start..cs * nh + r.end);
                                let h_prev = hb.get(ps * nh + r.start..ps * nh + r.end);
                                if ok {
                                    let (gr, hr) = (g0 + bi * gh, hh0 + bi * gh);
                                    let x_of = |k: usize| {
                                        gates.get_mut(gr + k * h + u.start..gr + k * h + u.end)
                                    };
                                    let h_of =
                                        |k: usize| hh.get(hr + k * h + u.start..hr + k * h + u.end);
                                    gru::forward_row(
                                        x_of(0),
                                        x_of(1),
                                        x_of(2),
                                        h_of(0),
                                        h_of(1),
                                        h_of(2),
                                        h_prev,
                                        hout,
                                    );
                                } else {
                                    hout.copy_from_slice(h_prev);
                                }
                            }
                            tm.sync();
                        } else {
                            for (bi, &ok) in vt.iter().enumerate() {
                                let r = bi * h + u.start..bi * h + u.end;
                                let rh_out = rh.get_mut(t * nc + r.start..t * nc + r.end);
                                if ok {
                                    let (gr, hr) = (g0 + bi * gh, hh0 + bi * gh);
                                    gru::seeds_forward_gates_row(
                                        gates.get_mut(gr + u.start..gr + u.end),
                                        gates.get_mut(gr + h + u.start..gr + h + u.end),
                                        hh.get(hr + u.start..hr + u.end),
                                        hh.get(hr + h + u.start..hr + h + u.end),
                                        hb.get(ps * nh + r.start..ps * nh + r.end),
                                        rh_out,
                                    );
                                } else {
                                    rh_out.iter_mut().for_each(|v| *v = F::zero());
                                }
                            }
                            tm.sync();
                            // The n rows from rh: W_hn rh + b_hn, my units.
                            gemm_packed(
                                b,
                                rh.at(t * nc),
                                h,
                                &packed[2],
                                panels_of::<F>(&u),
                                hh.at(hh0 + 2 * h),
                                gh,
                                false,
                            );
                            for (bi, &ok) in vt.iter().enumerate() {
                                let c0 = hh0 + bi * gh + 2 * h;
                                if let Some(bh) = b_hh {
                                    hh.get_mut(c0 + u.start..c0 + u.end)
                                        .iter_mut()
                                        .zip(&bh[2 * h + u.start..2 * h + u.end])
                                        .for_each(|(v, b)| *v += *b);
                                }
                                let r = bi * h + u.start..bi * h + u.end;
                                let hout = hb.get_mut(cs * nh + r.start..cs * nh + r.end);
                                let h_prev = hb.get(ps * nh + r.start..ps * nh + r.end);
                                if ok {
                                    let gr = g0 + bi * gh;
                                    gru::seeds_forward_out_row(
                                        gates.get(gr + h + u.start..gr + h + u.end),
                                        gates.get_mut(gr + 2 * h + u.start..gr + 2 * h + u.end),
                                        hh.get(c0 + u.start..c0 + u.end),
                                        h_prev,
                                        hout,
                                    );
                                } else {
                                    hout.copy_from_slice(h_prev);
                                }
                            }
                            tm.sync();
                        }
                    }
                }
            }
        }
    });
    drop((packed, packed_hr));
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
/// [B, H] the gradients of the final states. Adds the weight gradients into `p` and dL/dx
/// into `dx` ([T, B, I]); returns the initial states' gradients.
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

    // Gate gradients of the x-rows (da) and, for PyTorch's GRU, of the h-rows (dah).
    let mut da = workspace::zeros(t_len * b * gh);
    let mut dah = if is_gru && !seeds {
        workspace::zeros(t_len * b * gh)
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

    // 3. Reverse time, split by hidden units over a team.
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
        let members = team_size::<F>(h).min(team_size::<F>(ho));
        team(members, &|tm: &Team| {
            let u = tm.share(h, nr::<F>());
            let up = tm.share(ho, nr::<F>());
            for s in (0..t_len).rev() {
                let t = if reverse { t_len - 1 - s } else { s };
                let vt = &cache.valid[t * b..(t + 1) * b];
                let (ps, cs) = (cache.prev_slot(t), cache.slot(t));
                let g0 = t * b * gh;
                // SAFETY (this loop body): as in forward, members write only their units of
                // the step's rows and meet before reading what others wrote.
                unsafe {
                    // dh_tot = dh from step t+1 + dL/dy_t (only inside the sequence: padded
                    // outputs are constant zeros), over my output units.
                    for (bi, &ok) in vt.iter().enumerate() {
                        let r = bi * ho + up.start..bi * ho + up.end;
                        let o = tot.get_mut(r.clone());
                        let c = carry.get(r.clone());
                        if ok {
                            let y = &dy[t * nh + r.start..t * nh + r.end];
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
                            for (bi, &ok) in vt.iter().enumerate() {
                                let r = bi * h + u.start..bi * h + u.end;
                                let dat = da_s.get_mut(g0 + r.start..g0 + r.end);
                                if ok {
                                    let y = &cache.gates[g0 + r.start..g0 + r.end];
                                    rnn::backward_row(spec.act(), y, tot.get(r.clone()), dat);
                                } else {
                                    dat.iter_mut().for_each(|v| *v = F::zero());
                                }
                            }
                            pass_masked(carry, tot, vt, ho, &u);
                            tm.sync();
                            product_units(
                                b,
                                da_s.at(g0),
                                gh,
                                std::slice::from_ref(packed),
                                &u,
                                carry.at(0),
                                ho,
                                0,
                                true,
                            );
                        }
                        CellKind::Lstm => {
                            let dm_src = if spec.proj > 0 {
                                // dm = dh W_hr over rows inside their sequence; keep dh for
                                // dW_hr (zero for rows past their end).
                                for (bi, &ok) in vt.iter().enumerate() {
                                    let r = bi * ho + up.start..bi * ho + up.end;
                                    let d = dhs_s.get_mut(t * nh + r.start..t * nh + r.end);
                                    if ok {
                                        d.copy_from_slice(tot.get(r));
                                    } else {
                                        d.iter_mut().for_each(|v| *v = F::zero());
                                    }
                                }
                                tm.sync();
                                gemm_packed(
                                    b,
                                    dhs_s.at(t * nh),
                                    ho,
                                    packed_hr,
                                    panels_of::<F>(&u),
                                    dm_s.at(0),
                                    h,
                                    false,
                                );
                                dm_s
                            } else {
                                tot
                            };
                            for (bi, &ok) in vt.iter().enumerate() {
                                let r = bi * h + u.start..bi * h + u.end;
                                let gr = g0 + bi * gh;
                                if !ok {
                                    for k in 0..4 {
                                        da_s.get_mut(gr + k * h + u.start..gr + k * h + u.end)
                                            .iter_mut()
                                            .for_each(|v| *v = F::zero());
                                    }
                                    continue;
                                }
                                let kept = |k: usize| {
                                    &cache.gates[gr + k * h + u.start..gr + k * h + u.end]
                                };
                                let dst = |k: usize| {
                                    da_s.get_mut(gr + k * h + u.start..gr + k * h + u.end)
                                };
                                lstm::backward_row(
                                    kept(0),
                                    kept(1),
                                    kept(2),
                                    kept(3),
                                    &cache.cb[ps * nc + r.start..ps * nc + r.end],
                                    &cache.cb[cs * nc + r.start..cs * nc + r.end],
                                    dm_src.get(r.clone()),
                                    dc_s.get_mut(r.clone()),
                                    dst(0),
                                    dst(1),
                                    dst(2),
                                    dst(3),
                                );
                            }
                            pass_masked(carry, tot, vt, ho, &up);
                            tm.sync();
                            gemm_packed(
                                b,
                                da_s.at(g0),
                                gh,
                                packed,
                                panels_of::<F>(&up),
                                carry.at(0),
                                ho,
                                true,
                            );
                        }
                        CellKind::Gru if !seeds => {
                            for (bi, &ok) in vt.iter().enumerate() {
                                let r = bi * h + u.start..bi * h + u.end;
                                let gr = g0 + bi * gh;
                                let dxr = |k: usize| {
                                    da_s.get_mut(gr + k * h + u.start..gr + k * h + u.end)
                                };
                                let dhr = |k: usize| {
                                    dah_s.get_mut(gr + k * h + u.start..gr + k * h + u.end)
                                };
                                if !ok {
                                    for k in 0..3 {
                                        dxr(k).iter_mut().for_each(|v| *v = F::zero());
                                        dhr(k).iter_mut().for_each(|v| *v = F::zero());
                                    }
                                    carry.get_mut(r.clone()).copy_from_slice(tot.get(r));
                                    continue;
                                }
                                let kept = |k: usize| {
                                    &cache.gates[gr + k * h + u.start..gr + k * h + u.end]
                                };
                                gru::backward_row(
                                    kept(0),
                                    kept(1),
                                    kept(2),
                                    &cache.hh[gr + 2 * h + u.start..gr + 2 * h + u.end],
                                    &cache.hb[ps * nh + r.start..ps * nh + r.end],
                                    tot.get(r.clone()),
                                    dxr(0),
                                    dxr(1),
                                    dxr(2),
                                    dhr(0),
                                    dhr(1),
                                    dhr(2),
                                    carry.get_mut(r),
                                );
                            }
                            tm.sync();
                            gemm_packed(
                                b,
                                dah_s.at(g0),
                                gh,
                                packed,
                                panels_of::<F>(&u),
                                carry.at(0),
                                h,
                                true,
                            );
                        }
                        CellKind::Gru => {
                            for (bi, &ok) in vt.iter().enumerate() {
                                let r = bi * h + u.start..bi * h + u.end;
                                let gr = g0 + bi * gh;
                                let dst = |k: usize| {
                                    da_s.get_mut(gr + k * h + u.start..gr + k * h + u.end)
                                };
                                if !ok {
                                    for k in 0..3 {
                                        dst(k).iter_mut().for_each(|v| *v = F::zero());
                                    }
                                    carry.get_mut(r.clone()).copy_from_slice(tot.get(r));
                                    continue;
                                }
                                let kept = |k: usize| {
                                    &cache.gates[gr + k * h + u.start..gr + k * h + u.end]
                                };
                                gru::seeds_backward_out_row(
                                    kept(1),
                                    kept(2),
                                    &cache.hb[ps * nh + r.start..ps * nh + r.end],
                                    tot.get(r.clone()),
                                    dst(0),
                                    dst(1),
                                    dst(2),
                                    carry.get_mut(r),
                                );
                            }
                            tm.sync();
                            // drh = da_n W_hn, my units.
                            gemm_packed(
                                b,
                                da_s.at(g0 + 2 * h),
                                gh,
                                packed_n,
                                panels_of::<F>(&u),
                                drh_s.at(0),
                                h,
                                false,
                            );
                            for (bi, &ok) in vt.iter().enumerate() {
                                if !ok {
                                    continue;
                                }
                                let r = bi * h + u.start..bi * h + u.end;
                                let gr = g0 + bi * gh;
                                gru::seeds_backward_reset_row(
                                    &cache.gates[gr + u.start..gr + u.end],
                                    &cache.hb[ps * nh + r.start..ps * nh + r.end],
                                    drh_s.get(r.clone()),
                                    da_s.get_mut(gr + u.start..gr + u.end),
                                    carry.get_mut(r),
                                );
                            }
                            tm.sync();
                            gemm_packed(
                                b,
                                da_s.at(g0),
                                gh,
                                packed,
                                panels_of::<F>(&u),
                                carry.at(0),
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

    // 4. Weight and input gradients, one product each over all steps.
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
    if let Some(bi) = &mut p.b_ih {
        add_col_sums(bi.grad.data_mut(), &da, gh);
    }
    if let Some(bh) = &mut p.b_hh {
        add_col_sums(bh.grad.data_mut(), dah_ref, gh);
    }
    if let Some(w_hr) = &mut p.w_hr {
        gemm(
            F::one(),
            MatRef::new(&dhs, tb, ho).t(),
            MatRef::new(&cache.m, tb, h),
            F::one(),
            MatMut::new(w_hr.grad.data_mut(), ho, h),
        );
    }
    gemm(
        F::one(),
        MatRef::new(&da, tb, gh),
        MatRef::new(p.w_ih.value.data(), gh, i_sz),
        F::one(),
        MatMut::new(dx, tb, i_sz),
    );

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

/// Over the units `u`: for rows past their end, the state gradient passes through the step
/// unchanged; rows inside start from zero (the caller adds da W_hh).
///
/// # Safety
/// The caller's member owns the units `u` of `carry` and `tot`.
unsafe fn pass_masked<F: Float>(
    carry: Shared<F>,
    tot: Shared<F>,
    valid: &[bool],
    ho: usize,
    u: &Range<usize>,
) {
    for (bi, &ok) in valid.iter().enumerate() {
        let r = bi * ho + u.start..bi * ho + u.end;
        if ok {
            carry.get_mut(r).iter_mut().for_each(|v| *v = F::zero());
        } else {
            carry.get_mut(r.clone()).copy_from_slice(tot.get(r));
        }
    }
}
/// The buffers one streaming step needs ([`step`]), sized on first use and reused: a step
/// allocates nothing once they fit the layer and batch.
#[derive(Clone, Debug, Default)]
pub struct StepBuffers<F> {
    /// [B, G*H] gate pre-activations, then activations.
    gates: Vec<F>,
    /// GRU: [B, 3H] the h-terms.
    hh: Vec<F>,
    /// GRU seeds' form: [B, H] r * h_{t-1}.
    rh: Vec<F>,
    /// [B, H_out] the new hidden state (h_{t-1} is still read while it is written).
    h: Vec<F>,
    /// LSTM: [B, H] the new cell state.
    c: Vec<F>,
    /// LSTM with projection: [B, H] m_t before W_hr.
    m: Vec<F>,
    /// [B] all true: a streamed batch has no padding.
    valid: Vec<bool>,
}

impl<F: Float> StepBuffers<F> {
    /// Grows every buffer to fit `spec` with batch `b` (no-op once they fit).
    fn fit(&mut self, spec: Spec, b: usize) {
        let grow = |v: &mut Vec<F>, n: usize| {
            if v.len() < n {
                v.resize(n, F::zero())
            }
        };
        let (h, gh) = (spec.hidden, spec.gates() * spec.hidden);
        grow(&mut self.gates, b * gh);
        if spec.kind == CellKind::Gru {
            grow(&mut self.hh, b * gh);
            if spec.gru_form == GruForm::Seeds {
                grow(&mut self.rh, b * h);
            }
        }
        grow(&mut self.h, b * spec.hout());
        if spec.kind == CellKind::Lstm {
            grow(&mut self.c, b * h);
            if spec.proj > 0 {
                grow(&mut self.m, b * h);
            }
        }
        if self.valid.len() != b {
            self.valid.clear();
            self.valid.resize(b, true);
        }
    }
}

/// One time step of one layer-direction, for streaming: the same arithmetic as one iteration
/// of [`forward`]'s loop (input projection, then the recurrent product, then the cell's fused
/// pass), on `x` [B, I], updating `h` [B, H_out] and, for an LSTM, `c` [B, H] in place
/// (other cells ignore `c`). Allocates nothing once `s` fits.
pub fn step<F: Float>(
    spec: Spec,
    p: &DirParams<F>,
    x: &[F],
    b: usize,
    h: &mut [F],
    c: &mut [F],
    s: &mut StepBuffers<F>,
) {
    s.fit(spec, b);
    let (i_sz, hs, ho, gh) = (
        spec.input,
        spec.hidden,
        spec.hout(),
        spec.gates() * spec.hidden,
    );
    let (nh, nc) = (b * ho, b * hs);
    let is_gru = spec.kind == CellKind::Gru;
    let gates = &mut s.gates[..b * gh];
    let valid = &s.valid[..b];
    // a = x W_ih^T + b_ih (+ b_hh for RNN and LSTM), as forward's input projection.
    gemm(
        F::one(),
        MatRef::new(x, b, i_sz),
        MatRef::new(p.w_ih.value.data(), gh, i_sz).t(),
        F::zero(),
        MatMut::new(gates, b, gh),
    );
    if let Some(bi) = &p.b_ih {
        add_bias(gates, gh, 0, bi.value.data());
    }
    if !is_gru {
        if let Some(bh) = &p.b_hh {
            add_bias(gates, gh, 0, bh.value.data());
        }
    }
    let w_hh = p.w_hh.value.data();
    let b_hh = p.b_hh.as_ref().map(|q| q.value.data());
    let h_new = &mut s.h[..nh];
    match spec.kind {
        CellKind::RnnTanh | CellKind::RnnRelu => {
            gemm(
                F::one(),
                MatRef::new(h, b, ho),
                MatRef::new(w_hh, gh, ho).t(),
                F::one(),
                MatMut::new(gates, b, gh),
            );
            let act = if spec.kind == CellKind::RnnTanh {
                rnn::Activation::Tanh
            } else {
                rnn::Activation::Relu
            };
            rnn::forward_step(act, gates, h, h_new, valid, hs);
        }
        CellKind::Lstm => {
            gemm(
                F::one(),
                MatRef::new(h, b, ho),
                MatRef::new(w_hh, gh, ho).t(),
                F::one(),
                MatMut::new(gates, b, gh),
            );
            let c_new = &mut s.c[..nc];
            if let Some(w_hr) = &p.w_hr {
                let m = &mut s.m[..nc];
                lstm::forward_step(gates, c, c_new, m, None, valid, hs);
                gemm(
                    F::one(),
                    MatRef::new(m, b, hs),
                    MatRef::new(w_hr.value.data(), ho, hs).t(),
                    F::zero(),
                    MatMut::new(h_new, b, ho),
                );
            } else {
                lstm::forward_step(gates, c, c_new, h_new, Some(h), valid, hs);
            }
            c.copy_from_slice(c_new);
        }
        CellKind::Gru => {
            let hh = &mut s.hh[..b * gh];
            if spec.gru_form == GruForm::Pytorch {
                gemm(
                    F::one(),
                    MatRef::new(h, b, hs),
                    MatRef::new(w_hh, gh, hs).t(),
                    F::zero(),
                    MatMut::new(hh, b, gh),
                );
                if let Some(bh) = b_hh {
                    add_bias(hh, gh, 0, bh);
                }
                gru::forward_step(gates, hh, h, h_new, valid, hs);
            } else {
                let (w_rz, w_n) = w_hh.split_at(2 * hs * hs);
                gemm(
                    F::one(),
                    MatRef::new(h, b, hs),
                    MatRef::new(w_rz, 2 * hs, hs).t(),
                    F::zero(),
                    MatMut::strided(hh, b, 2 * hs, gh),
                );
                if let Some(bh) = b_hh {
                    add_bias(hh, gh, 0, &bh[..2 * hs]);
                }
                let rh = &mut s.rh[..nc];
                gru::seeds_forward_gates(gates, hh, h, rh, valid, hs);
                gemm(
                    F::one(),
                    MatRef::new(rh, b, hs),
                    MatRef::new(w_n, hs, hs).t(),
                    F::zero(),
                    MatMut::strided(&mut hh[2 * hs..], b, hs, gh),
                );
                if let Some(bh) = b_hh {
                    add_bias(hh, gh, 2 * hs, &bh[2 * hs..]);
                }
                gru::seeds_forward_out(gates, hh, h, h_new, valid, hs);
            }
        }
    }
    h.copy_from_slice(h_new);
}
