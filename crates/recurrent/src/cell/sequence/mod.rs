//! One layer, one direction, over a whole sequence: forward keeping what backward needs,
//! backward in reverse time (BPTT), with the fast path cuDNN and oneDNN take (ARCHITECTURE.md):
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

use super::{rnn, CellKind, GruForm};
use crate::float::Float;
use crate::kernels::packed::{gemm_packed, nr, Packed};
use crate::kernels::pool::{team, Team};
use crate::kernels::workspace;
use crate::param::Param;
use std::ops::Range;

mod grads;
mod normed;
mod scan;
mod steps;
mod time_loop;

pub use time_loop::{backward, forward, DirGrads};

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
    /// The zoneout rates ([`crate::cell::zoneout`]; zero: none).
    pub zoneout: crate::cell::zoneout::Zoneout,
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
    /// Whether the loop keeps each step's new cell state before zoneout, c~_t (`ct`), for
    /// backward's tanh: an LSTM whose cell state is zoned (the normalised LSTM's backward
    /// reads its normalised c~_t instead).
    pub(crate) fn keeps_c_new(&self) -> bool {
        self.kind == CellKind::Lstm && self.zoneout.c > 0.0
    }
    pub(crate) fn seeds(&self) -> bool {
        self.kind == CellKind::Gru && self.gru_form == GruForm::Seeds
    }
    pub(crate) fn act(&self) -> rnn::Activation {
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
    /// `weight_hh_l{k}` [G*H, H_out] (none for the minimal cells)
    pub w_hh: Option<Param<F>>,
    /// `bias_ih_l{k}` [G*H]
    pub b_ih: Option<Param<F>>,
    /// `bias_hh_l{k}` [G*H]
    pub b_hh: Option<Param<F>>,
    /// `weight_hr_l{k}` [P, H] (LSTM with projection)
    pub w_hr: Option<Param<F>>,
    /// The layer-normalised cells' gains and shift ([`crate::cell::norm`]):
    /// `ln_weight_ih_l{k}` [G*H] of the x-terms, `ln_weight_hh_l{k}` [G*H] of the h-terms,
    /// and for `lstm_ln` `ln_weight_c_l{k}`, `ln_bias_c_l{k}` [H] of the cell state.
    pub ln: [Option<Param<F>>; 4],
}

impl<F: Float> DirParams<F> {
    /// `weight_hh`, which every cell but the minimal ones has ([`crate::Rnn`] builds it
    /// exactly when [`CellKind::is_minimal`] is false, so its absence here is a bug).
    pub fn recurrent(&self) -> &Param<F> {
        self.w_hh
            .as_ref()
            .expect("a cell with a recurrent product has weight_hh")
    }
    /// The normalisation parameters of a layer-normalised cell as the kernels take them,
    /// `zeros` ([G*H] zeros) standing in for an absent bias ([`crate::Rnn`] builds the gains
    /// exactly when [`crate::CellKind::is_normalized`], so their absence here is a bug).
    pub fn gains<'a>(&'a self, zeros: &'a [F]) -> crate::cell::norm::Gains<'a, F> {
        let [Some(gx), Some(gh), gc, bc] = &self.ln else {
            panic!("gains asked of a cell without normalisation");
        };
        let data = |p: &'a Option<Param<F>>| p.as_ref().map_or(&[][..], |p| p.value.data());
        crate::cell::norm::Gains {
            gx: gx.value.data(),
            gh: gh.value.data(),
            bx: self.b_ih.as_ref().map_or(zeros, |p| p.value.data()),
            bh: self.b_hh.as_ref().map_or(zeros, |p| p.value.data()),
            gc: data(gc),
            bc: data(bc),
        }
    }
    /// Visits in PyTorch's order: w_ih, w_hh, b_ih, b_hh, w_hr, then the normalisations'.
    pub fn visit(&self, f: &mut dyn FnMut(&Param<F>)) {
        f(&self.w_ih);
        for p in [&self.w_hh, &self.b_ih, &self.b_hh, &self.w_hr]
            .into_iter()
            .chain(&self.ln)
            .flatten()
        {
            f(p);
        }
    }
    /// Visits mutably, in the same order.
    pub fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<F>)) {
        f(&mut self.w_ih);
        for p in [
            &mut self.w_hh,
            &mut self.b_ih,
            &mut self.b_hh,
            &mut self.w_hr,
        ]
        .into_iter()
        .chain(&mut self.ln)
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
    /// Layer-normalised cells: [T, B, G*H] the normalised x-terms and h-terms, [T, B, H]
    /// the normalised c_t (`lstm_ln`), [T, B, 3] each row's standard deviations.
    xn: Vec<F>,
    hn: Vec<F>,
    cn: Vec<F>,
    sd: Vec<F>,
    /// Zoneout's masks or rates, and for the LSTM with its cell state zoned [T, B, H] the
    /// new c~_t before zoning (backward's tanh reads it; `cb` holds the zoned c_t).
    zone: crate::cell::zoneout::Zoning,
    ct: Vec<F>,
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
            &mut self.xn,
            &mut self.hn,
            &mut self.cn,
            &mut self.sd,
            &mut self.ct,
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
        prev_slot(self.reverse, t)
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

/// The slot of `hb` holding the state before step t (the module doc's storage).
fn prev_slot(reverse: bool, t: usize) -> usize {
    if reverse {
        t + 2
    } else {
        t
    }
}

/// A buffer shared by the members of a team, each touching only its own elements (its
/// hidden units, or slots the others only read): raw so that several members can hold
/// disjoint pieces of it at once.
pub(crate) struct Shared<F> {
    ptr: *mut F,
    len: usize,
}
// SAFETY: members access disjoint elements between barriers (the module doc's protocol).
unsafe impl<F: Send> Send for Shared<F> {}
unsafe impl<F: Send> Sync for Shared<F> {}

impl<F> Clone for Shared<F> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<F> Copy for Shared<F> {}

impl<F> Shared<F> {
    pub(crate) fn new(v: &mut [F]) -> Self {
        Shared {
            ptr: v.as_mut_ptr(),
            len: v.len(),
        }
    }
    /// # Safety
    /// No other member writes `r` while the slice lives, nor does the buffer go away.
    pub(crate) unsafe fn get<'a>(self, r: Range<usize>) -> &'a [F] {
        assert!(
            r.start <= r.end && r.end <= self.len,
            "Shared::get out of bounds"
        );
        std::slice::from_raw_parts(self.ptr.add(r.start), r.end - r.start)
    }
    /// # Safety
    /// No other member reads or writes `r` while the slice lives, nor does the buffer go
    /// away.
    pub(crate) unsafe fn get_mut<'a>(self, r: Range<usize>) -> &'a mut [F] {
        assert!(
            r.start <= r.end && r.end <= self.len,
            "Shared::get_mut out of bounds"
        );
        std::slice::from_raw_parts_mut(self.ptr.add(r.start), r.end - r.start)
    }
    /// The same buffer from element `start` on.
    pub(crate) fn offset(&self, start: usize) -> Self {
        assert!(start <= self.len, "Shared::offset out of bounds");
        Shared {
            ptr: self.at(start),
            len: self.len - start,
        }
    }
    pub(crate) fn at(&self, i: usize) -> *mut F {
        assert!(i <= self.len, "Shared::at out of bounds");
        // SAFETY: inside (or one past) the allocation.
        unsafe { self.ptr.add(i) }
    }
}

/// Over rows `rows` ([G*H] each) of the step starting at element `row0` of `buf`, adds
/// `bias` to the columns of the units `u` in each gate block of `blocks` (the seeds' GRU,
/// whose kernels take no bias).
///
/// # Safety
/// The member owns those elements.
unsafe fn add_bias_units<F: Float>(
    buf: Shared<F>,
    row0: usize,
    rows: &Range<usize>,
    h: usize,
    u: &Range<usize>,
    blocks: Range<usize>,
    bias: &[F],
) {
    let gh = bias.len();
    for bi in rows.clone() {
        for g in blocks.clone() {
            let c = row0 + bi * gh + g * h;
            buf.get_mut(c + u.start..c + u.end)
                .iter_mut()
                .zip(&bias[g * h + u.start..g * h + u.end])
                .for_each(|(v, b)| *v += *b);
        }
    }
}

/// Adds the column sums of `src` ([n, width]) into `acc` ([width]), rows in order, the
/// columns split over a team: the same sums, bit for bit, whatever the thread count.
fn add_col_sums<F: Float>(acc: &mut [F], src: &[F]) {
    let width = acc.len();
    if width == 0 {
        return;
    }
    let n = src.len() / width;
    let members = if n * width < 1 << 16 { 1 } else { 2 };
    let acc_s = Shared::new(acc);
    team(members, &|tm: &Team| {
        let cols = tm.share(width, 16);
        // SAFETY: each member owns its columns of `acc`.
        let a = unsafe { acc_s.get_mut(cols.clone()) };
        for row in src.chunks_exact(width).take(n) {
            a.iter_mut()
                .zip(&row[cols.clone()])
                .for_each(|(a, v)| *a += *v);
        }
    });
}

/// Gate block `q`'s slice of the units `u` in a [G*H] vector (a bias).
fn gate_units<'a, F>(v: &'a [F], q: usize, h: usize, u: &Range<usize>) -> &'a [F] {
    &v[q * h + u.start..q * h + u.end]
}

/// Packs each of the `blocks` row blocks of `w` ([blocks * n, k]) as B = block^T ([k, n]),
/// the blocks shared over a team when there is enough to pack (packing happens on every
/// call, before the time loop: done by one thread it left the other idle for a few percent
/// of a small layer's forward).
fn pack_blocks<F: Float>(w: &[F], blocks: usize, n: usize, k: usize) -> Vec<Packed<F>> {
    let slots: Vec<std::sync::Mutex<Packed<F>>> = (0..blocks)
        .map(|_| std::sync::Mutex::new(Packed::new()))
        .collect();
    let members = if blocks * n * k < 1 << 15 { 1 } else { blocks };
    team(members, &|tm: &Team| {
        for g in (tm.index..blocks).step_by(tm.size) {
            slots[g].lock().unwrap_or_else(|e| e.into_inner()).pack_t(
                &w[g * n * k..(g + 1) * n * k],
                n,
                k,
            );
        }
    });
    slots
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
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

/// How many members the time loop of a layer with `units` hidden units can use when it
/// splits the units: one per run of NR units at most (the product splits by panels).
pub(crate) fn team_size<F: Float>(units: usize) -> usize {
    units.div_ceil(nr::<F>()).max(1)
}

/// Per-step products below this many multiply-adds run on one thread: meeting costs about a
/// microsecond per step, a few percent of the product at this size.
pub(crate) const TEAM_MIN_MACS: usize = 1 << 14;

/// Batch rows per member are a multiple of this (the microkernel's row tile).
const ROW_ALIGN: usize = 8;

/// How the members of a team divide the time loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Partition {
    /// Each member takes whole batch rows (sequences are independent): the members never
    /// meet inside the loop. Needs a batch of two row tiles or more.
    Rows,
    /// Each member takes a run of hidden units of every row; the members meet every step
    /// (the next step needs all of h). For small batches, streaming-sized work.
    Units,
}

/// The team for a time loop: (members wanted, how they divide it).
fn plan<F: Float>(b: usize, h: usize, ho: usize, gh: usize) -> (usize, Partition) {
    if b * ho * gh < TEAM_MIN_MACS {
        (1, Partition::Rows)
    } else if b >= 2 * ROW_ALIGN {
        (b.div_ceil(ROW_ALIGN), Partition::Rows)
    } else {
        (team_size::<F>(h).min(team_size::<F>(ho)), Partition::Units)
    }
}

/// One member's share of a time loop.
struct Share<'t, 'b> {
    tm: &'t Team<'b>,
    /// Batch rows.
    rows: Range<usize>,
    /// Hidden units (of H).
    u: Range<usize>,
    /// Output units (of H_out).
    up: Range<usize>,
    /// Whether the members must meet between the phases of a step.
    must_meet: bool,
}

impl<'t, 'b> Share<'t, 'b> {
    fn new<F: Float>(tm: &'t Team<'b>, part: Partition, b: usize, h: usize, ho: usize) -> Self {
        match part {
            Partition::Rows => Share {
                tm,
                rows: tm.share(b, ROW_ALIGN),
                u: 0..h,
                up: 0..ho,
                must_meet: false,
            },
            Partition::Units => Share {
                tm,
                rows: 0..b,
                u: tm.share(h, nr::<F>()),
                up: tm.share(ho, nr::<F>()),
                must_meet: tm.size > 1,
            },
        }
    }
    /// Waits for the other members, when they divide the units: what follows reads what
    /// they wrote.
    fn meet(&self) {
        if self.must_meet {
            self.tm.sync()
        }
    }
}
