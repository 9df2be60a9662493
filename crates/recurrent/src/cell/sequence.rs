//! One layer, one direction, over a whole sequence: forward keeping what backward needs,
//! backward in reverse time (BPTT), with the fast path of ../DESIGN.md:
//!
//! 1. the input projection of all T steps in one product, `[T*B, I] x [I, G*H]`;
//! 2. the loop over t with only the recurrent product `[B, H_out] x [H_out, G*H]` per step,
//!    written straight into the kept gate buffer, and one fused element-wise pass;
//! 3. backward in reverse time turning dh_t (and dc_t) into the gate gradients da_t, then
//!    dh_{t-1} = da_t W_hh; after the loop dW_ih = da^T X, dW_hh = da^T H_prev,
//!    db = column sums, dX = da W_ih: each one product over all steps.
//!
//! Nothing is allocated inside the time loop.
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
use crate::kernels::{gemm, MatMut, MatRef};
use crate::param::Param;

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

/// What the forward pass keeps for backward.
#[derive(Clone, Debug)]
pub struct DirCache<F> {
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
    /// The output sequence [T, B, H_out] (zero past each sequence's end).
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

/// Splits `buf` (slots of `n` elements) into the read-only slot `r` and the writable slot `w`.
fn read_write<F>(buf: &mut [F], r: usize, w: usize, n: usize) -> (&[F], &mut [F]) {
    debug_assert_ne!(r, w);
    if r < w {
        let (lo, hi) = buf.split_at_mut(w * n);
        (&lo[r * n..(r + 1) * n], &mut hi[..n])
    } else {
        let (lo, hi) = buf.split_at_mut(r * n);
        (&hi[..n], &mut lo[w * n..(w + 1) * n])
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
    let seeds = is_gru && spec.gru_form == GruForm::Seeds;
    let zero = F::zero();

    // 1. Input projection of all steps: gates = X W_ih^T + b_ih (+ b_hh where it simply adds).
    let mut gates = vec![zero; t_len * b * gh];
    gemm(
        F::one(),
        MatRef::new(x, t_len * b, i_sz),
        MatRef::new(p.w_ih.value.data(), gh, i_sz).t(),
        zero,
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
            vec![zero; t_len * b * gh]
        } else {
            Vec::new()
        },
        rh: if seeds {
            vec![zero; t_len * nc]
        } else {
            Vec::new()
        },
        hb: vec![zero; (t_len + 2) * nh],
        cb: if spec.kind == CellKind::Lstm {
            vec![zero; (t_len + 2) * nc]
        } else {
            Vec::new()
        },
        m: if spec.proj > 0 {
            vec![zero; t_len * nc]
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

    let w_hh = p.w_hh.value.data();
    let b_hh = p.b_hh.as_ref().map(|q| q.value.data());
    // 2. The time loop.
    for s in 0..t_len {
        let t = if reverse { t_len - 1 - s } else { s };
        let (ps, cs) = (cache.prev_slot(t), cache.slot(t));
        let vt = &cache.valid[t * b..(t + 1) * b];
        let gt = &mut cache.gates[t * b * gh..(t + 1) * b * gh];
        let (h_prev, h_out) = read_write(&mut cache.hb, ps, cs, nh);
        match spec.kind {
            CellKind::RnnTanh | CellKind::RnnRelu => {
                gemm(
                    F::one(),
                    MatRef::new(h_prev, b, ho),
                    MatRef::new(w_hh, gh, ho).t(),
                    F::one(),
                    MatMut::new(gt, b, gh),
                );
                let act = if spec.kind == CellKind::RnnTanh {
                    rnn::Activation::Tanh
                } else {
                    rnn::Activation::Relu
                };
                rnn::forward_step(act, gt, h_prev, h_out, vt, h);
            }
            CellKind::Lstm => {
                gemm(
                    F::one(),
                    MatRef::new(h_prev, b, ho),
                    MatRef::new(w_hh, gh, ho).t(),
                    F::one(),
                    MatMut::new(gt, b, gh),
                );
                let (c_prev, c_out) = read_write(&mut cache.cb, ps, cs, nc);
                if let Some(w_hr) = &p.w_hr {
                    let mt = &mut cache.m[t * nc..(t + 1) * nc];
                    lstm::forward_step(gt, c_prev, c_out, mt, None, vt, h);
                    // h_t = W_hr m_t; rows past their end keep h_{t-1}.
                    gemm(
                        F::one(),
                        MatRef::new(mt, b, h),
                        MatRef::new(w_hr.value.data(), ho, h).t(),
                        F::zero(),
                        MatMut::new(h_out, b, ho),
                    );
                    for (bi, &ok) in vt.iter().enumerate() {
                        if !ok {
                            h_out[bi * ho..(bi + 1) * ho]
                                .copy_from_slice(&h_prev[bi * ho..(bi + 1) * ho]);
                        }
                    }
                } else {
                    lstm::forward_step(gt, c_prev, c_out, h_out, Some(h_prev), vt, h);
                }
            }
            CellKind::Gru => {
                let hht = &mut cache.hh[t * b * gh..(t + 1) * b * gh];
                if !seeds {
                    gemm(
                        F::one(),
                        MatRef::new(h_prev, b, h),
                        MatRef::new(w_hh, gh, h).t(),
                        F::zero(),
                        MatMut::new(hht, b, gh),
                    );
                    if let Some(bh) = b_hh {
                        add_bias(hht, gh, 0, bh);
                    }
                    gru::forward_step(gt, hht, h_prev, h_out, vt, h);
                } else {
                    // r and z rows first; then the n rows from rh = r * h_{t-1}.
                    let (w_rz, w_n) = w_hh.split_at(2 * h * h);
                    gemm(
                        F::one(),
                        MatRef::new(h_prev, b, h),
                        MatRef::new(w_rz, 2 * h, h).t(),
                        F::zero(),
                        MatMut::strided(hht, b, 2 * h, gh),
                    );
                    if let Some(bh) = b_hh {
                        add_bias(hht, gh, 0, &bh[..2 * h]);
                    }
                    let rht = &mut cache.rh[t * nc..(t + 1) * nc];
                    gru::seeds_forward_gates(gt, hht, h_prev, rht, vt, h);
                    gemm(
                        F::one(),
                        MatRef::new(rht, b, h),
                        MatRef::new(w_n, h, h).t(),
                        F::zero(),
                        MatMut::strided(&mut hht[2 * h..], b, h, gh),
                    );
                    if let Some(bh) = b_hh {
                        add_bias(hht, gh, 2 * h, &bh[2 * h..]);
                    }
                    gru::seeds_forward_out(gt, hht, h_prev, h_out, vt, h);
                }
            }
        }
    }
    cache
}

/// The gradients of a direction's initial state.
pub struct DirGrads<F> {
    /// dL/dh0 [B, H_out].
    pub dh0: Vec<F>,
    /// dL/dc0 [B, H] (LSTM).
    pub dc0: Option<Vec<F>>,
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
    let seeds = is_gru && spec.gru_form == GruForm::Seeds;
    let zero = F::zero();

    // Gate gradients of the x-rows (da) and, for PyTorch's GRU, of the h-rows (dah).
    let mut da = vec![zero; t_len * b * gh];
    let mut dah = if is_gru && !seeds {
        vec![zero; t_len * b * gh]
    } else {
        Vec::new()
    };
    let mut dh_carry = dh_n.to_vec();
    let mut dh_tot = vec![zero; nh];
    let mut dc = dc_n
        .map(|d| d.to_vec())
        .unwrap_or_else(|| vec![zero; if spec.kind == CellKind::Lstm { nc } else { 0 }]);
    let mut dm = if spec.proj > 0 {
        vec![zero; nc]
    } else {
        Vec::new()
    };
    let mut dhs = if spec.proj > 0 {
        vec![zero; t_len * nh]
    } else {
        Vec::new()
    };
    let mut drh = if seeds { vec![zero; nc] } else { Vec::new() };
    let w_hh = p.w_hh.value.data();

    // 3. Reverse time.
    for s in (0..t_len).rev() {
        let t = if reverse { t_len - 1 - s } else { s };
        let vt = &cache.valid[t * b..(t + 1) * b];
        let (ps, cs) = (cache.prev_slot(t), cache.slot(t));
        let h_prev = &cache.hb[ps * nh..(ps + 1) * nh];
        // dh_tot = dh from step t+1 + dL/dy_t (only inside the sequence: padded outputs are
        // constant zeros).
        let dyt = &dy[t * nh..(t + 1) * nh];
        for (bi, &ok) in vt.iter().enumerate() {
            let r = bi * ho..(bi + 1) * ho;
            for ((o, c), y) in dh_tot[r.clone()]
                .iter_mut()
                .zip(&dh_carry[r.clone()])
                .zip(&dyt[r])
            {
                *o = if ok { *c + *y } else { *c };
            }
        }
        let dat = &mut da[t * b * gh..(t + 1) * b * gh];
        let gt = &cache.gates[t * b * gh..(t + 1) * b * gh];
        match spec.kind {
            CellKind::RnnTanh | CellKind::RnnRelu => {
                let act = if spec.kind == CellKind::RnnTanh {
                    rnn::Activation::Tanh
                } else {
                    rnn::Activation::Relu
                };
                rnn::backward_step(act, gt, &dh_tot, dat, vt, h);
                pass_masked(&mut dh_carry, &dh_tot, vt, ho);
                gemm(
                    F::one(),
                    MatRef::new(dat, b, gh),
                    MatRef::new(w_hh, gh, ho),
                    F::one(),
                    MatMut::new(&mut dh_carry, b, ho),
                );
            }
            CellKind::Lstm => {
                let c_prev = &cache.cb[ps * nc..(ps + 1) * nc];
                let c_t = &cache.cb[cs * nc..(cs + 1) * nc];
                if let Some(w_hr) = &p.w_hr {
                    // dm = dh W_hr over rows inside their sequence; keep dh for dW_hr.
                    let dht = &mut dhs[t * nh..(t + 1) * nh];
                    for (bi, &ok) in vt.iter().enumerate() {
                        let r = bi * ho..(bi + 1) * ho;
                        if ok {
                            dht[r.clone()].copy_from_slice(&dh_tot[r]);
                        }
                    }
                    gemm(
                        F::one(),
                        MatRef::new(dht, b, ho),
                        MatRef::new(w_hr.value.data(), ho, h),
                        F::zero(),
                        MatMut::new(&mut dm, b, h),
                    );
                    lstm::backward_step(gt, c_prev, c_t, &dm, &mut dc, dat, vt, h);
                } else {
                    lstm::backward_step(gt, c_prev, c_t, &dh_tot, &mut dc, dat, vt, h);
                }
                pass_masked(&mut dh_carry, &dh_tot, vt, ho);
                gemm(
                    F::one(),
                    MatRef::new(dat, b, gh),
                    MatRef::new(w_hh, gh, ho),
                    F::one(),
                    MatMut::new(&mut dh_carry, b, ho),
                );
            }
            CellKind::Gru if !seeds => {
                let hht = &cache.hh[t * b * gh..(t + 1) * b * gh];
                let daht = &mut dah[t * b * gh..(t + 1) * b * gh];
                gru::backward_step(gt, hht, h_prev, &dh_tot, dat, daht, &mut dh_carry, vt, h);
                gemm(
                    F::one(),
                    MatRef::new(daht, b, gh),
                    MatRef::new(w_hh, gh, h),
                    F::one(),
                    MatMut::new(&mut dh_carry, b, h),
                );
            }
            CellKind::Gru => {
                let (w_rz, w_n) = w_hh.split_at(2 * h * h);
                gru::seeds_backward_out(gt, h_prev, &dh_tot, dat, &mut dh_carry, vt, h);
                gemm(
                    F::one(),
                    MatRef::strided(&dat[2 * h..], b, h, gh),
                    MatRef::new(w_n, h, h),
                    F::zero(),
                    MatMut::new(&mut drh, b, h),
                );
                gru::seeds_backward_reset(gt, h_prev, &drh, dat, &mut dh_carry, vt, h);
                gemm(
                    F::one(),
                    MatRef::strided(dat, b, 2 * h, gh),
                    MatRef::new(w_rz, 2 * h, h),
                    F::one(),
                    MatMut::new(&mut dh_carry, b, h),
                );
            }
        }
    }

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

    DirGrads {
        dh0: dh_carry,
        dc0: if spec.kind == CellKind::Lstm {
            Some(dc)
        } else {
            None
        },
    }
}

/// For rows past their end, the state gradient passes through the step unchanged; rows
/// inside start from zero (the caller adds da W_hh).
fn pass_masked<F: Float>(dh_carry: &mut [F], dh_tot: &[F], valid: &[bool], ho: usize) {
    for (bi, &ok) in valid.iter().enumerate() {
        let r = bi * ho..(bi + 1) * ho;
        if ok {
            dh_carry[r].iter_mut().for_each(|v| *v = F::zero());
        } else {
            dh_carry[r.clone()].copy_from_slice(&dh_tot[r]);
        }
    }
}
