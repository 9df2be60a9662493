//! The minimal cells (minGRU, minLSTM) over a sequence: one input product for all steps,
//! then the linear recurrence h_t = a_t h_{t-1} + b_t as a scan, forward and backward side
//! by side. The element-wise equations are in [`crate::cell::minimal`].
//!
//! Forward:
//! 1. gates = X W_ih^T for all T steps at once, `[T*B, I] x [I, G*H]`: all the layer's
//!    multiply-adds, in one product that both cores share;
//! 2. the scan: each member of a team takes whole sequences (or, for a batch of one, a run
//!    of hidden units) and walks time once, computing the gates' activations and h_t in the
//!    same pass. Sequences and units are independent in a linear recurrence, so the members
//!    never meet.
//!
//! Backward is the same recurrence read backwards: with g_t the whole gradient reaching h_t,
//! g_{t-1} = a_t g_t + dy_{t-1}, so one reverse walk turns dy into the pre-activation
//! gradients; then dW_ih = da^T X, db_ih = column sums, dX = da W_ih, one product each.
//!
//! Why the scan walks time instead of running a parallel prefix scan over it (the paper's
//! GPU form): a two-level parallel scan does each step's work twice (once from a zero
//! state, once to carry the true state in), so with p cores it runs at best p/2 times faster
//! than one walk, and on this engine's two-core target not at all. Splitting sequences or
//! units instead gives each core half the walk with no repeated work. The parallelism over
//! time that matters is in step 1 and in the gradient products, which hold every
//! multiply-add; the walk is a few element-wise operations per value. Nor does the walk need
//! the paper's log space: that guards the division by a running product of the a_t, which
//! a walk never forms.
//!
//! Variable lengths follow the other cells ([`super`]'s doc): a row past its end keeps its
//! state and outputs zero, and its gradient passes through untouched.

use super::{prev_slot, DirCache, DirGrads, DirParams, Shared, Spec};
use crate::cell::{minimal, CellKind};
use crate::float::Float;
use crate::kernels::pool::{team, Team};
use crate::kernels::{gemm, workspace, MatMut, MatRef};
use std::ops::Range;

/// Below this many values per walk the team's start-up costs more than half the walk.
const TEAM_MIN_VALUES: usize = 1 << 14;

/// Forward over `x` ([T, B, I] time-major) from `h0` [B, H]; `reverse` runs t = T-1 .. 0.
#[allow(clippy::too_many_arguments)]
pub(super) fn forward<F: Float>(
    spec: Spec,
    p: &DirParams<F>,
    x: &[F],
    t_len: usize,
    b: usize,
    h0: &[F],
    valid: &[bool],
    reverse: bool,
) -> DirCache<F> {
    let (i_sz, gh) = (spec.input, spec.gates() * spec.hidden);
    // 1. The pre-activations of every step.
    let mut gates = workspace::scratch(t_len * b * gh);
    gemm(
        F::one(),
        MatRef::new(x, t_len * b, i_sz),
        MatRef::new(p.w_ih.value.data(), gh, i_sz).t(),
        F::zero(),
        MatMut::new(&mut gates, t_len * b, gh),
    );
    let bias = match &p.b_ih {
        Some(q) => workspace::copy_of(q.value.data()),
        None => workspace::zeros(gh),
    };
    let mut cache = DirCache::start(spec, t_len, b, reverse, gates, valid, h0, None);
    // 2. The walk.
    let walk = Walk {
        spec,
        t: t_len,
        b,
        reverse,
        gates: Shared::new(&mut cache.gates),
        hb: Shared::new(&mut cache.hb),
        valid: &cache.valid,
        kept: &[],
        states: &[],
    };
    team(walk.members(), &|tm: &Team| {
        let (rows, u) = walk.share(tm);
        // SAFETY: each member writes only its rows and units of `gates` and `hb`, and reads
        // only its own; the buffers outlive the team.
        unsafe { walk.forward(&bias, rows, u) }
    });
    workspace::give(bias);
    cache
}

/// Backward from `dy` ([T, B, H], this direction's outputs) and `dh_n` [B, H]: adds into
/// the parameters' gradients, writes dL/dx into `dx` [T, B, I], returns dL/dh0.
pub(super) fn backward<F: Float>(
    p: &mut DirParams<F>,
    cache: &DirCache<F>,
    x: &[F],
    dy: &[F],
    dh_n: &[F],
    dx: &mut [F],
) -> DirGrads<F> {
    let (t_len, b, gh) = (cache.t, cache.b, cache.spec.gates() * cache.spec.hidden);
    // Every element is written by the walk (zero on padded rows).
    let mut da = workspace::scratch(t_len * b * gh);
    let mut carry = workspace::copy_of(dh_n);
    let walk = Walk {
        spec: cache.spec,
        t: t_len,
        b,
        reverse: cache.reverse,
        gates: Shared::new(&mut da),
        hb: Shared::new(&mut carry),
        valid: &cache.valid,
        kept: &cache.gates,
        states: &cache.hb,
    };
    team(walk.members(), &|tm: &Team| {
        let (rows, u) = walk.share(tm);
        // SAFETY: as in forward: disjoint rows and units of `da` and the carry.
        unsafe { walk.backward(dy, rows, u) }
    });
    super::grads::weight_grads(p, cache, x, &da, &[], &[], dx);
    workspace::give(da);
    DirGrads {
        dh0: carry,
        dc0: None,
    }
}

/// What every member of a walk reads, and the two buffers it writes: forward, the gates
/// and the states (the cache's own); backward, the gate gradients and the carried dh,
/// reading the forward's gates (`kept`) and states.
struct Walk<'a, F: Float> {
    spec: Spec,
    t: usize,
    b: usize,
    reverse: bool,
    gates: Shared<F>,
    hb: Shared<F>,
    valid: &'a [bool],
    kept: &'a [F],
    states: &'a [F],
}

impl<F: Float> Walk<'_, F> {
    fn members(&self) -> usize {
        if self.t * self.b * self.spec.hidden < TEAM_MIN_VALUES {
            1
        } else {
            self.b.max(self.spec.hidden / 16).max(1)
        }
    }
    /// A member's rows and units: whole sequences, or runs of units for a batch of one.
    fn share(&self, tm: &Team) -> (Range<usize>, Range<usize>) {
        let (b, h) = (self.b, self.spec.hidden);
        if b >= tm.size {
            (tm.share(b, 1), 0..h)
        } else {
            (0..b, tm.share(h, 16))
        }
    }
    /// Steps in the order the direction walks them.
    fn times(&self) -> impl DoubleEndedIterator<Item = usize> {
        let (t_len, reverse) = (self.t, self.reverse);
        (0..t_len).map(move |s| if reverse { t_len - 1 - s } else { s })
    }

    /// # Safety
    /// The member owns rows `rows`, units `u` of the cache's gates and states.
    unsafe fn forward(&self, bias: &[F], rows: Range<usize>, u: Range<usize>) {
        let (b, h) = (self.b, self.spec.hidden);
        let (gh, nh) = (self.spec.gates() * h, b * h);
        let at = |q: usize| q * h + u.start..q * h + u.end;
        for t in self.times() {
            let (prev, cur) = (prev_slot(self.reverse, t) * nh, (t + 1) * nh);
            for bi in rows.clone() {
                let hp = self.hb.get(prev + bi * h + u.start..prev + bi * h + u.end);
                let hn = self
                    .hb
                    .get_mut(cur + bi * h + u.start..cur + bi * h + u.end);
                if !self.valid[t * b + bi] {
                    hn.copy_from_slice(hp);
                    continue;
                }
                let row = (t * b + bi) * gh;
                minimal::forward_units(
                    self.spec.kind,
                    |q| self.gates.get_mut(row + at(q).start..row + at(q).end),
                    |q| &bias[at(q)],
                    hp,
                    hn,
                );
            }
        }
    }

    /// # Safety
    /// The member owns rows `rows`, units `u` of the gate gradients and the carry.
    unsafe fn backward(&self, dy: &[F], rows: Range<usize>, u: Range<usize>) {
        let (b, h) = (self.b, self.spec.hidden);
        let (g, nh) = (self.spec.gates(), b * h);
        let gh = g * h;
        let at = |q: usize| q * h + u.start..q * h + u.end;
        for t in self.times().rev() {
            let prev = prev_slot(self.reverse, t) * nh;
            for bi in rows.clone() {
                let row = (t * b + bi) * gh;
                let da = |q: usize| self.gates.get_mut(row + at(q).start..row + at(q).end);
                if !self.valid[t * b + bi] {
                    (0..g).for_each(|q| da(q).iter_mut().for_each(|v| *v = F::zero()));
                    continue;
                }
                let dh = self.hb.get_mut(bi * h + u.start..bi * h + u.end);
                let o = (t * b + bi) * h;
                dh.iter_mut()
                    .zip(&dy[o + u.start..o + u.end])
                    .for_each(|(d, y)| *d += *y);
                let hp = &self.states[prev + bi * h + u.start..prev + bi * h + u.end];
                let kept = |q: usize| &self.kept[row + at(q).start..row + at(q).end];
                match self.spec.kind {
                    CellKind::MinGru => {
                        minimal::gru_backward_row(kept(0), kept(1), hp, dh, da(0), da(1))
                    }
                    _ => minimal::lstm_backward_row(
                        kept(0),
                        kept(1),
                        kept(2),
                        hp,
                        dh,
                        da(0),
                        da(1),
                        da(2),
                    ),
                }
            }
        }
    }
}
