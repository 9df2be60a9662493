//! One time step of a whole unidirectional stack, for streaming ([`crate::Rnn::step`]).
//!
//! Per layer k (x the step's input for k = 0, else layer k-1's new h):
//!   a = W_ih x + W_hh h_{t-1} + b_ih + b_hh     (GRU: x- and h-terms kept apart;
//!                                                minimal cells: no h-terms)
//!   then the cell's fused element-wise pass, exactly as one step of the sequence loop
//!   (for the minimal cells, one step of the scan: their sequential form; for the
//!   layer-normalised cells the x- and h-terms apart, each normalised over its whole row).
//! The products are row-by-row dot products on the weights as they are
//! ([`crate::kernels::matvec`]): with a batch of 1 a step is a chain of matrix-vector
//! products, bound by how fast the weights stream from cache, so nothing is packed (and
//! nothing goes stale when an optimizer changes the weights between calls).
//!
//! Reduced precision: with quantized weights ([`QDir`]) the products run in int8 or bf16
//! ([`crate::kernels::quant`]); each member quantizes the product's input rows itself (B x K
//! values, against the G H K / members weights it multiplies them by) and the gate math
//! stays in f32.
//!
//! Threads: the team splits each layer's hidden units (each gate's rows of those units);
//! members meet once per layer (twice with the LSTM projection, the seeds' GRU or a
//! normalised cell, whose element-wise pass splits the batch rows instead), because
//! the next layer needs all of h. The new states go to scratch buffers first and are copied
//! into the caller's state after the meeting, when nobody reads the old ones any more.

use super::sequence::{team_size, DirParams, Shared, Spec, TEAM_MIN_MACS};
use super::zoneout::{self, Keep};
use super::{gru, lstm, minimal, norm, rnn, CellKind};
use crate::float::Float;
use crate::kernels::matvec::dot_rows;
use crate::kernels::pool::{team, Team};
use crate::kernels::quant::{qdot_rows, with_acts, Precision, QMatrix};
use crate::kernels::workspace::{align_pad, aligned};
use std::ops::Range;

/// One layer-direction's weights in int8 or bf16 (biases stay in [`DirParams`]).
#[derive(Clone, Debug, PartialEq)]
pub struct QDir {
    pub w_ih: QMatrix,
    pub w_hh: Option<QMatrix>,
    pub w_hr: Option<QMatrix>,
}

impl QDir {
    /// Quantizes `p`'s weight matrices to `precision` (Bf16 or Int8).
    pub fn new<F: Float>(p: &DirParams<F>, precision: Precision) -> Self {
        let q = |t: &crate::param::Param<F>| {
            let s = t.value.shape();
            QMatrix::new(t.value.data(), s[0], s[1], precision)
        };
        QDir {
            w_ih: q(&p.w_ih),
            w_hh: p.w_hh.as_ref().map(q),
            w_hr: p.w_hr.as_ref().map(q),
        }
    }
    /// Bytes of weights one step reads.
    pub fn bytes(&self) -> usize {
        [Some(&self.w_ih), self.w_hh.as_ref(), self.w_hr.as_ref()]
            .into_iter()
            .flatten()
            .map(QMatrix::bytes)
            .sum()
    }
}

/// The weights of one product, as trained or quantized.
#[derive(Clone, Copy)]
enum W<'a, F> {
    F(&'a [F]),
    Q(&'a QMatrix),
}

/// The buffers of a streaming step, sized on first use and reused.
#[derive(Clone, Debug, Default)]
pub struct StepBuffers<F> {
    /// [B, G*H] gate pre-activations (GRU: the x-terms), then activations.
    gates: Vec<F>,
    /// GRU: [B, 3H] the h-terms.
    hh: Vec<F>,
    /// GRU seeds' form: [B, H] r * h_{t-1}.
    rh: Vec<F>,
    /// LSTM with projection: [B, H] m_t before W_hr.
    m: Vec<F>,
    /// [L, B, H_out] every layer's new h (layer k+1's input is layer k's).
    h_new: Vec<F>,
    /// LSTM: [B, H] the layer's new c.
    c_new: Vec<F>,
    /// [G*H] zeros: the bias the kernels add when it was added before.
    zeros: Vec<F>,
    /// Layer-normalised cells: [B, 2 G*H + H] each row's activated gates, h-terms and c^.
    ln: Vec<F>,
}

impl<F: Float> StepBuffers<F> {
    fn fit(&mut self, spec: Spec, layers: usize, b: usize) {
        // Room to start each at a 64-byte boundary ([`aligned`]).
        let grow = |v: &mut Vec<F>, n: usize| {
            if v.len() < n + align_pad::<F>() {
                v.resize(n + align_pad::<F>(), F::zero())
            }
        };
        let (h, gh) = (spec.hidden, spec.gates() * spec.hidden);
        grow(&mut self.gates, b * gh);
        grow(&mut self.zeros, gh);
        if spec.kind.is_normalized() {
            grow(&mut self.hh, b * gh);
            grow(&mut self.ln, b * (2 * gh + h));
        }
        if spec.kind == CellKind::Gru {
            grow(&mut self.hh, b * gh);
            if spec.seeds() {
                grow(&mut self.rh, b * h);
            }
        }
        grow(&mut self.h_new, layers * b * spec.hout());
        if spec.kind.has_cell_state() {
            grow(&mut self.c_new, b * h);
            if spec.proj > 0 {
                grow(&mut self.m, b * h);
            }
        }
    }
}

/// One step of every layer: `x` [B, I], `h` [L, B, H_out] and (LSTM) `c` [L, B, H] read and
/// updated in place (`c` empty for other cells). `specs[k]`, `params[k]`: layer k;
/// `quant[k]` its weights in reduced precision (None: the f32 products).
#[allow(clippy::too_many_arguments)]
pub fn step<F: Float>(
    specs: &[Spec],
    params: &[DirParams<F>],
    quant: Option<&[QDir]>,
    x: &[F],
    b: usize,
    h: &mut [F],
    c: &mut [F],
    s: &mut StepBuffers<F>,
) {
    steps(specs, params, quant, x, 1, b, h, c, s, None)
}

/// [`step`] `t` times, over `xs` [T, B, I], with one team for all of them (a team started per
/// step costs a thread wake-up each time, which was most of a quantized sequence's time
/// when the VM was slow to wake threads); `out` [T, B, H_out] receives the top layer's h of
/// every step.
#[allow(clippy::too_many_arguments)]
pub fn steps<F: Float>(
    specs: &[Spec],
    params: &[DirParams<F>],
    quant: Option<&[QDir]>,
    xs: &[F],
    t: usize,
    b: usize,
    h: &mut [F],
    c: &mut [F],
    s: &mut StepBuffers<F>,
    out: Option<&mut [F]>,
) {
    let Some(&top) = specs.last() else {
        return;
    };
    if b == 0 || t == 0 {
        return;
    }
    let layers = specs.len();
    s.fit(top, layers, b);
    let (hs, ho, gh) = (top.hidden, top.hout(), top.gates() * top.hidden);
    let (nh, nc) = (b * ho, b * hs);
    let xn = b * specs[0].input;
    // Big enough layers split their units over a team.
    let macs = b * gh * (specs[0].input + ho);
    let members = if macs < TEAM_MIN_MACS {
        1
    } else {
        team_size::<F>(hs).min(team_size::<F>(ho))
    };
    let bufs = Bufs {
        gates: Shared::new(aligned(&mut s.gates)),
        hh: Shared::new(aligned(&mut s.hh)),
        rh: Shared::new(aligned(&mut s.rh)),
        m: Shared::new(aligned(&mut s.m)),
        h_new: Shared::new(aligned(&mut s.h_new)),
        c_new: Shared::new(aligned(&mut s.c_new)),
        ln: Shared::new(aligned(&mut s.ln)),
        h: Shared::new(h),
        c: Shared::new(c),
    };
    let out = out.map(Shared::new);
    let zeros = &s.zeros[..];
    let top_h = (layers - 1) * nh;
    team(members, &|tm: &Team| {
        let u = tm.share(hs, 16);
        let up = tm.share(ho, 16);
        for ti in 0..t {
            let x = &xs[ti * xn..(ti + 1) * xn];
            for (k, (&spec, p)) in specs.iter().zip(params).enumerate() {
                // SAFETY: members write only their units (`u`, `up`) of the buffers, read
                // another's only after a sync, and the state is overwritten only after the
                // sync that ends everyone's reading of it.
                let q = quant.map(|q| &q[k]);
                unsafe { layer_step(tm, spec, p, q, k, x, b, nh, nc, &u, &up, &bufs, zeros) };
            }
            if let Some(o) = out {
                for bi in 0..b {
                    let r = bi * ho + up.start..bi * ho + up.end;
                    // SAFETY: my units of the top layer's h, which I published; my units of
                    // step ti's output rows.
                    unsafe {
                        o.get_mut(ti * nh + r.start..ti * nh + r.end)
                            .copy_from_slice(bufs.h.get(top_h + r.start..top_h + r.end))
                    };
                }
            }
            // The next step reads every member's h (a one-layer stack has no later meeting).
            if ti + 1 < t {
                tm.sync();
            }
        }
    });
}

/// The buffers as shared by a team.
struct Bufs<F> {
    gates: Shared<F>,
    hh: Shared<F>,
    rh: Shared<F>,
    m: Shared<F>,
    h_new: Shared<F>,
    c_new: Shared<F>,
    ln: Shared<F>,
    h: Shared<F>,
    c: Shared<F>,
}

/// Adds `bias[rows]` to the same columns of each of the `nb` rows of `out` (stride `ld`).
///
/// # Safety
/// The member owns those columns.
unsafe fn add_bias_cols<F: Float>(
    out: Shared<F>,
    ld: usize,
    nb: usize,
    rows: Range<usize>,
    bias: &[F],
) {
    for bi in 0..nb {
        out.get_mut(bi * ld + rows.start..bi * ld + rows.end)
            .iter_mut()
            .zip(&bias[rows.clone()])
            .for_each(|(v, b)| *v += *b);
    }
}

/// The products of one member's rows: for each gate block g in `blocks`, columns
/// `g*H + u` of `out` [B, G*H] = W1[rows] x1 (+ W2[rows] x2).
///
/// # Safety
/// The member owns those columns of `out`.
#[allow(clippy::too_many_arguments)]
unsafe fn products<F: Float>(
    w1: W<F>,
    k1: usize,
    x1: &[F],
    w2: Option<W<F>>,
    k2: usize,
    x2: &[F],
    blocks: Range<usize>,
    h: usize,
    u: &Range<usize>,
    b: usize,
    out: Shared<F>,
    ld: usize,
) {
    if u.is_empty() {
        return;
    }
    // The output block starts at column rows.start of row 0; rows b are `ld` apart.
    let rows_of = |g: usize| g * h + u.start..g * h + u.end;
    let out_of =
        |rows: &Range<usize>| out.get_mut(rows.start..rows.start + (b - 1) * ld + rows.len());
    match (w1, w2) {
        (W::Q(q1), w2) => with_acts(|acts| {
            // A layer's matrices are all quantized or none ([`QDir`] holds every one).
            debug_assert!(
                !matches!(w2, Some(W::F(_))),
                "mixed precisions in one product"
            );
            let q2 = match w2 {
                Some(W::Q(q2)) => Some(q2),
                _ => None,
            };
            acts[0].quantize(x1, b, k1, q1.precision());
            if let Some(q2) = q2 {
                acts[1].quantize(x2, b, k2, q2.precision());
            }
            for g in blocks {
                let rows = rows_of(g);
                let o = out_of(&rows);
                qdot_rows(q1, &acts[0], rows.clone(), b, o, ld, false);
                if let Some(q2) = q2 {
                    qdot_rows(q2, &acts[1], rows, b, o, ld, true);
                }
            }
        }),
        (W::F(f1), w2) => {
            debug_assert!(
                !matches!(w2, Some(W::Q(_))),
                "mixed precisions in one product"
            );
            let f2 = match w2 {
                Some(W::F(f2)) => f2,
                _ => &[],
            };
            for g in blocks {
                let rows = rows_of(g);
                dot_rows(
                    f1,
                    k1,
                    x1,
                    f2,
                    k2,
                    x2,
                    rows.clone(),
                    b,
                    out_of(&rows),
                    ld,
                    false,
                );
            }
        }
    }
}

/// One layer of the step (see the module doc), for the member `tm` owning units `u` (of H)
/// and `up` (of H_out).
///
/// # Safety
/// As [`step`]'s protocol: called by every member for the same layers in the same order.
#[allow(clippy::too_many_arguments)]
unsafe fn layer_step<F: Float>(
    tm: &Team,
    spec: Spec,
    p: &DirParams<F>,
    q: Option<&QDir>,
    k: usize,
    x0: &[F],
    b: usize,
    nh: usize,
    nc: usize,
    u: &Range<usize>,
    up: &Range<usize>,
    s: &Bufs<F>,
    zeros: &[F],
) {
    let layer = Layer {
        spec,
        p,
        q,
        k,
        x: if k == 0 {
            x0
        } else {
            s.h_new.get((k - 1) * nh..k * nh)
        },
        h_prev: s.h.get(k * nh..(k + 1) * nh),
        b,
        nh,
        nc,
        u,
        s,
        zeros,
    };
    match spec.kind {
        CellKind::RnnTanh | CellKind::RnnRelu | CellKind::Lstm => layer.summed(tm, up),
        CellKind::Gru if spec.seeds() => layer.gru_seeds(tm),
        CellKind::Gru => layer.gru(),
        CellKind::MinGru | CellKind::MinLstm => layer.minimal(),
        CellKind::LstmLn | CellKind::GruLn => layer.normed(tm),
    }
    // Everyone is done reading h_{t-1} (and has written its part of the new h): publish.
    tm.sync();
    for bi in 0..b {
        let r = bi * spec.hout() + up.start..bi * spec.hout() + up.end;
        s.h.get_mut(k * nh + r.start..k * nh + r.end)
            .copy_from_slice(s.h_new.get(k * nh + r.start..k * nh + r.end));
    }
}

/// Layer k of a step as one member sees it: its input `x` and previous state, its units
/// `u` of H, the team's buffers.
struct Layer<'a, F: Float> {
    spec: Spec,
    p: &'a DirParams<F>,
    q: Option<&'a QDir>,
    k: usize,
    x: &'a [F],
    h_prev: &'a [F],
    b: usize,
    nh: usize,
    nc: usize,
    u: &'a Range<usize>,
    s: &'a Bufs<F>,
    zeros: &'a [F],
}

impl<'a, F: Float> Layer<'a, F> {
    fn gh(&self) -> usize {
        self.spec.gates() * self.spec.hidden
    }
    fn w_ih(&self) -> W<'a, F> {
        match self.q {
            Some(q) => W::Q(&q.w_ih),
            None => W::F(self.p.w_ih.value.data()),
        }
    }
    fn w_hh(&self) -> W<'a, F> {
        match self.q.and_then(|q| q.w_hh.as_ref()) {
            Some(q) => W::Q(q),
            None => W::F(self.p.recurrent().value.data()),
        }
    }
    fn w_hr(&self) -> Option<W<'a, F>> {
        match self.q.and_then(|q| q.w_hr.as_ref()) {
            Some(q) => Some(W::Q(q)),
            None => self.p.w_hr.as_ref().map(|w| W::F(w.value.data())),
        }
    }
    /// Zoneout as evaluation applies it, s = p s_{t-1} + (1 - p) s~ ([`zoneout`]): on the
    /// columns `r` of the new h, and on the new c from the previous one when given.
    unsafe fn zone(&self, r: Range<usize>, c: Option<(&[F], &mut [F])>) {
        let z = self.spec.zoneout;
        if !z.is_on() {
            // (Nor is the row's h ready with a projection, which zoneout refuses.)
            return;
        }
        if let Some((prev, new)) = c {
            zoneout::mix(Keep::expect(z.c), prev, new);
        }
        zoneout::mix(Keep::expect(z.h), &self.h_prev[r.clone()], self.h_new(r));
    }
    /// The columns `r` of this layer's new h.
    unsafe fn h_new<'s>(&self, r: Range<usize>) -> &'s mut [F] {
        let o = self.k * self.nh;
        self.s.h_new.get_mut(o + r.start..o + r.end)
    }
    /// My units of gate block `q` in a [G*H] vector or row.
    fn block(&self, q: usize) -> Range<usize> {
        let hs = self.spec.hidden;
        q * hs + self.u.start..q * hs + self.u.end
    }

    /// Row `bi`'s units of gate block `q` in a [B, G*H] buffer.
    unsafe fn unit<'s>(&self, buf: Shared<F>, bi: usize, q: usize) -> &'s mut [F] {
        let (o, r) = (bi * self.gh(), self.block(q));
        buf.get_mut(o + r.start..o + r.end)
    }

    /// RNN and LSTM: a = W_ih x + W_hh h_{t-1} + b_ih + b_hh, my units of every gate, then
    /// the cell's pass; with a projection h = W_hr m after a meeting (my output units `up`).
    unsafe fn summed(&self, tm: &Team, up: &Range<usize>) {
        let (spec, s, u, b) = (self.spec, self.s, self.u, self.b);
        let (hs, ho, gh, g) = (spec.hidden, spec.hout(), self.gh(), spec.gates());
        products(
            self.w_ih(),
            spec.input,
            self.x,
            Some(self.w_hh()),
            ho,
            self.h_prev,
            0..g,
            hs,
            u,
            b,
            s.gates,
            gh,
        );
        let b_ih = self.p.b_ih.as_ref().map(|q| q.value.data());
        let b_hh = self.p.b_hh.as_ref().map(|q| q.value.data());
        for bias in [b_ih, b_hh].into_iter().flatten() {
            for gi in 0..g {
                add_bias_cols(s.gates, gh, b, self.block(gi), bias);
            }
        }
        let nc = self.nc;
        for bi in 0..b {
            let r = bi * hs + u.start..bi * hs + u.end;
            let gate = |q: usize| self.unit(s.gates, bi, q);
            // The biases were added above (b_ih and b_hh apart, as PyTorch).
            let z = &self.zeros[..u.len()];
            if spec.kind == CellKind::Lstm {
                let c_prev = s.c.get(self.k * nc + r.start..self.k * nc + r.end);
                let m_out = if spec.proj > 0 {
                    s.m.get_mut(r.clone())
                } else {
                    self.h_new(r.clone())
                };
                lstm::forward_row(
                    gate(0),
                    gate(1),
                    gate(2),
                    gate(3),
                    z,
                    z,
                    z,
                    z,
                    c_prev,
                    s.c_new.get_mut(r.clone()),
                    m_out,
                );
                self.zone(r.clone(), Some((c_prev, s.c_new.get_mut(r.clone()))));
                // Only this member reads or writes these units of c: update in place.
                s.c.get_mut(self.k * nc + r.start..self.k * nc + r.end)
                    .copy_from_slice(s.c_new.get(r));
            } else {
                rnn::forward_row(spec.act(), gate(0), z, self.h_new(r.clone()));
                self.zone(r, None);
            }
        }
        if let (Some(w_hr), true) = (self.w_hr(), spec.proj > 0) {
            tm.sync();
            // h = W_hr m, my output units.
            let (m, h_out) = (s.m.get(0..nc), s.h_new.offset(self.k * self.nh));
            products(w_hr, hs, m, None, 0, &[], 0..1, ho, up, b, h_out, ho);
        }
    }

    /// The GRU's x-terms W_ih x (all three blocks) and h-terms W_hh h_{t-1} of the blocks
    /// `hblocks`, my units.
    unsafe fn gru_terms(&self, hblocks: Range<usize>) {
        let (spec, s, u, b, gh) = (self.spec, self.s, self.u, self.b, self.gh());
        let hs = spec.hidden;
        products(
            self.w_ih(),
            spec.input,
            self.x,
            None,
            0,
            &[],
            0..3,
            hs,
            u,
            b,
            s.gates,
            gh,
        );
        products(
            self.w_hh(),
            hs,
            self.h_prev,
            None,
            0,
            &[],
            hblocks,
            hs,
            u,
            b,
            s.hh,
            gh,
        );
    }

    /// PyTorch's GRU: the kernel adds the biases (zero when absent).
    unsafe fn gru(&self) {
        let (s, hs) = (self.s, self.spec.hidden);
        self.gru_terms(0..3);
        let bx = self.p.b_ih.as_ref().map_or(self.zeros, |q| q.value.data());
        let bh = self.p.b_hh.as_ref().map_or(self.zeros, |q| q.value.data());
        for bi in 0..self.b {
            let r = bi * hs + self.u.start..bi * hs + self.u.end;
            let xg = |q: usize| self.unit(s.gates, bi, q);
            let hg = |q: usize| self.unit(s.hh, bi, q);
            gru::forward_row(
                xg(0),
                xg(1),
                xg(2),
                hg(0),
                hg(1),
                hg(2),
                &bx[self.block(0)],
                &bx[self.block(1)],
                &bx[self.block(2)],
                &bh[self.block(0)],
                &bh[self.block(1)],
                &bh[self.block(2)],
                &self.h_prev[r.clone()],
                self.h_new(r.clone()),
            );
            self.zone(r, None);
        }
    }

    /// The seeds' GRU: r, z from the x- and h-terms, rh = r * h_{t-1}; after a meeting
    /// (everyone's rh is needed) n from W_hn rh + b_hn.
    unsafe fn gru_seeds(&self, tm: &Team) {
        let (s, u, b, gh, hs) = (self.s, self.u, self.b, self.gh(), self.spec.hidden);
        self.gru_terms(0..2);
        let b_ih = self.p.b_ih.as_ref().map(|q| q.value.data());
        let b_hh = self.p.b_hh.as_ref().map(|q| q.value.data());
        for gi in 0..3 {
            if let Some(bias) = b_ih {
                add_bias_cols(s.gates, gh, b, self.block(gi), bias);
            }
            if let (Some(bias), true) = (b_hh, gi < 2) {
                add_bias_cols(s.hh, gh, b, self.block(gi), bias);
            }
        }
        for bi in 0..b {
            let r = bi * hs + u.start..bi * hs + u.end;
            gru::seeds_forward_gates_row(
                self.unit(s.gates, bi, 0),
                self.unit(s.gates, bi, 1),
                self.unit(s.hh, bi, 0),
                self.unit(s.hh, bi, 1),
                &self.h_prev[r.clone()],
                s.rh.get_mut(r),
            );
        }
        tm.sync();
        // The n rows from rh: W_hn (r * h) + b_hn.
        let rh = s.rh.get(0..self.nc);
        products(self.w_hh(), hs, rh, None, 0, &[], 2..3, hs, u, b, s.hh, gh);
        if let Some(bias) = b_hh {
            add_bias_cols(s.hh, gh, b, self.block(2), bias);
        }
        for bi in 0..b {
            let r = bi * hs + u.start..bi * hs + u.end;
            gru::seeds_forward_out_row(
                self.unit(s.gates, bi, 1),
                self.unit(s.gates, bi, 2),
                self.unit(s.hh, bi, 2),
                &self.h_prev[r.clone()],
                self.h_new(r.clone()),
            );
            self.zone(r, None);
        }
    }

    /// minGRU and minLSTM, one step of their scan: the gates from x alone (W_ih x, the
    /// bias added by the kernel), then h_t = a h_{t-1} + b ([`minimal`]).
    unsafe fn minimal(&self) {
        let (spec, s, u, b, gh) = (self.spec, self.s, self.u, self.b, self.gh());
        let hs = spec.hidden;
        products(
            self.w_ih(),
            spec.input,
            self.x,
            None,
            0,
            &[],
            0..spec.gates(),
            hs,
            u,
            b,
            s.gates,
            gh,
        );
        let bias = self.p.b_ih.as_ref().map_or(self.zeros, |q| q.value.data());
        for bi in 0..b {
            let r = bi * hs + u.start..bi * hs + u.end;
            minimal::forward_units(
                spec.kind,
                |q| self.unit(s.gates, bi, q),
                |q| &bias[self.block(q)],
                &self.h_prev[r.clone()],
                self.h_new(r),
            );
        }
    }

    /// The layer-normalised cells: my units of the x-terms W_ih x and of the h-terms
    /// W_hh h_{t-1}; then, after a meeting (a normalisation reads a whole row), the rows
    /// split over the team, each through [`norm`]'s row kernel.
    unsafe fn normed(&self, tm: &Team) {
        let (spec, s, u, b, gh) = (self.spec, self.s, self.u, self.b, self.gh());
        let (hs, g) = (spec.hidden, spec.gates());
        products(
            self.w_ih(),
            spec.input,
            self.x,
            None,
            0,
            &[],
            0..g,
            hs,
            u,
            b,
            s.gates,
            gh,
        );
        products(
            self.w_hh(),
            hs,
            self.h_prev,
            None,
            0,
            &[],
            0..g,
            hs,
            u,
            b,
            s.hh,
            gh,
        );
        tm.sync();
        let p = self.p.gains(self.zeros);
        let w = 2 * gh + hs;
        for bi in tm.share(b, 1) {
            let r = bi * hs..(bi + 1) * hs;
            let xn = s.gates.get_mut(bi * gh..(bi + 1) * gh);
            let hn = s.hh.get_mut(bi * gh..(bi + 1) * gh);
            let (act, rest) = s.ln.get_mut(bi * w..(bi + 1) * w).split_at_mut(gh);
            let (hterm, cn) = rest.split_at_mut(gh);
            if spec.kind.has_cell_state() {
                let c = self.k * self.nc + r.start..self.k * self.nc + r.end;
                norm::lstm_forward_row(
                    &p,
                    xn,
                    hn,
                    s.c.get(c.clone()),
                    act,
                    s.c_new.get_mut(r.clone()),
                    cn,
                    self.h_new(r.clone()),
                );
                self.zone(
                    r.clone(),
                    Some((s.c.get(c.clone()), s.c_new.get_mut(r.clone()))),
                );
                // Only this member reads or writes this row of c: update in place.
                s.c.get_mut(c).copy_from_slice(s.c_new.get(r));
            } else {
                norm::gru_forward_row(
                    &p,
                    xn,
                    hn,
                    &self.h_prev[r.clone()],
                    act,
                    hterm,
                    self.h_new(r.clone()),
                );
                self.zone(r, None);
            }
        }
    }
}
