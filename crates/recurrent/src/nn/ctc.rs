//! Connectionist temporal classification (Graves et al., 2006): the loss of a labelling that
//! is shorter than the input and not aligned with it, PyTorch's `F.ctc_loss` applied to
//! `log_softmax(logits)`, with its gradient with respect to the unnormalised logits.
//!
//! Shapes: `T` frames (the longest input), `B` items, `C` classes (the blank among them),
//! `L` target length, `S = 2L + 1` states of the blank-extended label. Logits are time-major
//! [T, B, C], as a tagger's per-step rows come out. Item `b` uses frames `0..T_b` only
//! (`input_lengths[b] = T_b`); padded frames get a zero gradient.
//!
//! The blank-extended label of `l = (l_1 .. l_L)` puts a blank before, between and after the
//! symbols: `l' = (_, l_1, _, l_2, _, ..., l_L, _)`. A path (one class per frame) produces `l`
//! when collapsing repeats and then dropping blanks gives `l`; such paths are exactly the walks
//! through `l'` that start in state 0 or 1, end in state S-1 or S-2, and at each frame stay,
//! advance one state, or skip a blank (advance two) where the two symbols around it differ:
//! that blank is what keeps `a a` from collapsing to `a`.
//!
//! With `y_t(k) = softmax(x_t)_k` and everything computed in log space (log-sum-exp, so that
//! long inputs do not underflow; internally in f64 for f32 logits too):
//!
//! ```text
//! alpha_t(s) = P(frames 0..t produce l'_0..l'_s and the walk is in s at t)
//! beta_t(s)  = P(frames t+1..T_b-1 produce the rest | in s at t)     (excludes frame t)
//! p(l|x)     = sum_s alpha_t(s) beta_t(s)             for every t; loss = -ln p(l|x)
//! dloss/dx_t(k) = y_t(k) - (1/p) sum_{s : l'_s = k} alpha_t(s) beta_t(s)
//! ```
//!
//! The second term is the posterior probability that frame t emits class k; the first comes
//! from the softmax (the posteriors of a frame sum to one). An impossible labelling (a target
//! that needs more frames than the input has: L plus one per pair of equal neighbours) has
//! p = 0: its loss is `+inf` and its gradient NaN, as PyTorch's, unless `zero_infinity`, which
//! makes both zero (the item then still counts in the batch mean, as in PyTorch).

use crate::error::{Error, Result};
use crate::float::Float;
use serde::{Deserialize, Serialize};

/// How the per-item losses are combined (PyTorch's `reduction`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CtcReduction {
    /// The per-item losses as they are ([`CtcOutput::loss`] is then their sum, and the
    /// gradient that of the sum).
    None,
    /// Their sum.
    Sum,
    /// PyTorch's mean: each item's loss divided by its target length (at least 1), then the
    /// mean over the batch.
    #[default]
    Mean,
}

/// The CTC loss on unnormalised logits (log-softmax applied inside).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtcLoss {
    /// The blank's class index (PyTorch's default 0).
    pub blank: usize,
    /// How item losses are combined.
    pub reduction: CtcReduction,
    /// Impossible alignments give loss 0 and gradient 0 instead of `inf` and NaN.
    pub zero_infinity: bool,
}

impl Default for CtcLoss {
    fn default() -> Self {
        CtcLoss {
            blank: 0,
            reduction: CtcReduction::Mean,
            zero_infinity: false,
        }
    }
}

/// The result of [`CtcLoss::loss`].
#[derive(Clone, Debug, PartialEq)]
pub struct CtcOutput<F> {
    /// The reduced loss (`None`: the sum of `losses`).
    pub loss: f64,
    /// `-ln p(l_b | x_b)` per item, before reduction (0 for an impossible item under
    /// `zero_infinity`).
    pub losses: Vec<f64>,
    /// d(loss)/d(logits) [T, B, C].
    pub grad: Vec<F>,
}

/// What the forward pass keeps for the backward pass.
#[derive(Clone, Debug)]
pub struct CtcCache {
    t: usize,
    b: usize,
    c: usize,
    /// log_softmax of the logits [T, B, C].
    log_probs: Vec<f64>,
    items: Vec<ItemCache>,
}

#[derive(Clone, Debug)]
struct ItemCache {
    /// T_b.
    frames: usize,
    /// The blank-extended label l' [S].
    ext: Vec<usize>,
    /// ln alpha [T_b, S].
    log_alpha: Vec<f64>,
    /// ln p(l|x) (-inf when impossible).
    log_p: f64,
}

/// ln(e^a + e^b), exact for -inf arguments.
#[inline]
pub(crate) fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// ln(e^a + e^b + e^c).
#[inline]
fn log_add3(a: f64, b: f64, c: f64) -> f64 {
    let m = a.max(b).max(c);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + ((a - m).exp() + (b - m).exp() + (c - m).exp()).ln()
}

/// The blank-extended label `(_, l_1, _, ..., l_L, _)`.
pub fn extend_with_blanks(target: &[usize], blank: usize) -> Vec<usize> {
    let mut ext = Vec::with_capacity(2 * target.len() + 1);
    ext.push(blank);
    for &k in target {
        ext.push(k);
        ext.push(blank);
    }
    ext
}

/// The fewest frames that can produce `target`: one per symbol, plus one blank between each
/// pair of equal neighbours.
pub fn min_frames(target: &[usize]) -> usize {
    target.len() + target.windows(2).filter(|w| w[0] == w[1]).count()
}

/// Whether the walk may skip from state s-2 to state s (jump over the blank between).
#[inline]
fn can_skip(ext: &[usize], s: usize, blank: usize) -> bool {
    s >= 2 && ext[s] != blank && ext[s] != ext[s - 2]
}

/// log_softmax of each row of `x` [N, C], in f64.
pub fn log_softmax_rows<F: Float>(x: &[F], c: usize) -> Vec<f64> {
    let mut out = vec![0.0f64; x.len()];
    for (row, o) in x.chunks_exact(c).zip(out.chunks_exact_mut(c)) {
        let m = row.iter().fold(f64::NEG_INFINITY, |a, v| a.max(v.to64()));
        let sum: f64 = row.iter().map(|v| (v.to64() - m).exp()).sum();
        let lse = m + sum.ln();
        o.iter_mut().zip(row).for_each(|(o, v)| *o = v.to64() - lse);
    }
    out
}

impl CtcLoss {
    /// The default loss (blank 0, mean, no zero_infinity).
    pub fn new() -> Self {
        CtcLoss::default()
    }
    /// Sets the blank index.
    pub fn blank(mut self, blank: usize) -> Self {
        self.blank = blank;
        self
    }
    /// Sets the reduction.
    pub fn reduction(mut self, r: CtcReduction) -> Self {
        self.reduction = r;
        self
    }
    /// Sets `zero_infinity`.
    pub fn zero_infinity(mut self, yes: bool) -> Self {
        self.zero_infinity = yes;
        self
    }

    /// The weight of each item's loss in the reduced loss.
    pub fn weights<T: AsRef<[usize]>>(&self, targets: &[T]) -> Vec<f64> {
        let b = targets.len() as f64;
        targets
            .iter()
            .map(|tg| match self.reduction {
                CtcReduction::None | CtcReduction::Sum => 1.0,
                CtcReduction::Mean => 1.0 / (tg.as_ref().len().max(1) as f64 * b),
            })
            .collect()
    }

    /// Loss, per-item losses and d(loss)/d(logits) for logits [T, B, C] (T = `t`,
    /// B = `input_lengths.len()`), each item's frames `0..input_lengths[b]` and its target
    /// labels `targets[b]` (class indices, no blank).
    pub fn loss<F: Float, T: AsRef<[usize]>>(
        &self,
        logits: &[F],
        t: usize,
        c: usize,
        input_lengths: &[usize],
        targets: &[T],
    ) -> Result<CtcOutput<F>> {
        let (losses, cache) = self.forward(logits, t, c, input_lengths, targets)?;
        let w = self.weights(targets);
        let loss = losses.iter().zip(&w).map(|(l, w)| l * w).sum();
        let grad = self.backward(&cache, &w)?;
        Ok(CtcOutput { loss, losses, grad })
    }

    /// Checks shapes, lengths and labels; errors name the item and position.
    fn validate<F: Float, T: AsRef<[usize]>>(
        &self,
        logits: &[F],
        t: usize,
        c: usize,
        input_lengths: &[usize],
        targets: &[T],
    ) -> Result<()> {
        let b = input_lengths.len();
        if self.blank >= c {
            return Err(Error::Config(format!(
                "the CTC blank index {} is not below the {c} classes",
                self.blank
            )));
        }
        if logits.len() != t * b * c {
            return Err(Error::tensor(
                "ctc logits",
                format!(
                    "{} values for T={t}, B={b}, C={c} (expected {})",
                    logits.len(),
                    t * b * c
                ),
            ));
        }
        if targets.len() != b {
            return Err(Error::Input(format!(
                "{} CTC targets for {b} input lengths",
                targets.len()
            )));
        }
        for (i, (&n, tg)) in input_lengths.iter().zip(targets).enumerate() {
            if n == 0 || n > t {
                return Err(Error::Input(format!(
                    "item {i}: input length {n} is outside 1..={t}"
                )));
            }
            for (j, &k) in tg.as_ref().iter().enumerate() {
                if k == self.blank || k >= c {
                    return Err(Error::Input(format!(
                        "item {i}, target position {j}: label {k} is {}",
                        if k == self.blank {
                            "the blank".to_string()
                        } else {
                            format!("not below the {c} classes")
                        }
                    )));
                }
            }
        }
        Ok(())
    }

    /// Forward: the per-item losses `-ln p(l_b|x_b)` (before reduction; `zero_infinity`
    /// applied) and the cache for [`CtcLoss::backward`].
    ///
    /// ```text
    /// alpha_0(0) = y_0(_),  alpha_0(1) = y_0(l_1),  alpha_0(s) = 0 for s >= 2
    /// alpha_t(s) = y_t(l'_s) [alpha_{t-1}(s) + alpha_{t-1}(s-1) + skip(s) alpha_{t-1}(s-2)]
    ///              skip(s) = [l'_s != _ and l'_s != l'_{s-2}]
    /// p(l|x)     = alpha_{T_b-1}(S-1) + alpha_{T_b-1}(S-2)
    /// ```
    pub fn forward<F: Float, T: AsRef<[usize]>>(
        &self,
        logits: &[F],
        t: usize,
        c: usize,
        input_lengths: &[usize],
        targets: &[T],
    ) -> Result<(Vec<f64>, CtcCache)> {
        self.validate(logits, t, c, input_lengths, targets)?;
        let b = input_lengths.len();
        let log_probs = log_softmax_rows(logits, c);
        let lp = |tt: usize, bi: usize, k: usize| log_probs[(tt * b + bi) * c + k];
        let mut items = Vec::with_capacity(b);
        let mut losses = Vec::with_capacity(b);
        for (bi, (&frames, tg)) in input_lengths.iter().zip(targets).enumerate() {
            let ext = extend_with_blanks(tg.as_ref(), self.blank);
            let s_len = ext.len();
            let mut la = vec![f64::NEG_INFINITY; frames * s_len];
            la[0] = lp(0, bi, ext[0]);
            if s_len > 1 {
                la[1] = lp(0, bi, ext[1]);
            }
            for tt in 1..frames {
                let (prev, cur) = la[(tt - 1) * s_len..(tt + 1) * s_len].split_at_mut(s_len);
                for s in 0..s_len {
                    let stay = prev[s];
                    let step = if s >= 1 {
                        prev[s - 1]
                    } else {
                        f64::NEG_INFINITY
                    };
                    let skip = if can_skip(&ext, s, self.blank) {
                        prev[s - 2]
                    } else {
                        f64::NEG_INFINITY
                    };
                    let into = log_add3(stay, step, skip);
                    cur[s] = if into == f64::NEG_INFINITY {
                        into
                    } else {
                        into + lp(tt, bi, ext[s])
                    };
                }
            }
            let last = &la[(frames - 1) * s_len..];
            let log_p = if s_len > 1 {
                log_add(last[s_len - 1], last[s_len - 2])
            } else {
                last[0]
            };
            let nll = -log_p;
            losses.push(if self.zero_infinity && nll == f64::INFINITY {
                0.0
            } else {
                nll
            });
            items.push(ItemCache {
                frames,
                ext,
                log_alpha: la,
                log_p,
            });
        }
        Ok((
            losses,
            CtcCache {
                t,
                b,
                c,
                log_probs,
                items,
            },
        ))
    }

    /// Backward: d(sum_b w_b loss_b)/d(logits) [T, B, C] for per-item weights `w` [B] (the
    /// upstream gradient of each item's loss; [`CtcLoss::weights`] gives the reduction's).
    ///
    /// ```text
    /// beta_{T_b-1}(s) = [s >= S-2]
    /// beta_t(s)       = beta_{t+1}(s) y_{t+1}(l'_s) + beta_{t+1}(s+1) y_{t+1}(l'_{s+1})
    ///                   + skip(s+2) beta_{t+1}(s+2) y_{t+1}(l'_{s+2})
    /// gamma_t(k)      = (1/p) sum_{s : l'_s = k} alpha_t(s) beta_t(s)
    /// dx_t(k)         = w_b (y_t(k) - gamma_t(k))          for t < T_b, else 0
    /// ```
    pub fn backward<F: Float>(&self, cache: &CtcCache, w: &[f64]) -> Result<Vec<F>> {
        let (t, b, c) = (cache.t, cache.b, cache.c);
        if w.len() != b {
            return Err(Error::Input(format!(
                "{} CTC loss weights for a batch of {b}",
                w.len()
            )));
        }
        let mut grad = vec![F::zero(); t * b * c];
        let mut gamma = vec![0.0f64; c];
        for (bi, (item, &wb)) in cache.items.iter().zip(w).enumerate() {
            let (frames, ext, s_len) = (item.frames, &item.ext, item.ext.len());
            let lp = |tt: usize, k: usize| cache.log_probs[(tt * b + bi) * c + k];
            let dead = item.log_p == f64::NEG_INFINITY;
            if dead {
                // p = 0: no gradient (zero_infinity) or NaN, as PyTorch's.
                if !self.zero_infinity {
                    for tt in 0..frames {
                        grad[(tt * b + bi) * c..(tt * b + bi + 1) * c].fill(F::nan());
                    }
                }
                continue;
            }
            // ln beta at t and t+1 (two rows suffice: gamma at t needs only beta_t).
            let mut lb = vec![f64::NEG_INFINITY; s_len];
            let mut next = vec![f64::NEG_INFINITY; s_len];
            lb[s_len - 1] = 0.0;
            if s_len > 1 {
                lb[s_len - 2] = 0.0;
            }
            for tt in (0..frames).rev() {
                if tt + 1 < frames {
                    std::mem::swap(&mut lb, &mut next);
                    // `next` now holds beta_{t+1}; emitted terms use frame t+1.
                    for s in 0..s_len {
                        let stay = next[s] + lp(tt + 1, ext[s]);
                        let step = if s + 1 < s_len {
                            next[s + 1] + lp(tt + 1, ext[s + 1])
                        } else {
                            f64::NEG_INFINITY
                        };
                        let skip = if s + 2 < s_len && can_skip(ext, s + 2, self.blank) {
                            next[s + 2] + lp(tt + 1, ext[s + 2])
                        } else {
                            f64::NEG_INFINITY
                        };
                        lb[s] = log_add3(stay, step, skip);
                    }
                }
                gamma.fill(0.0);
                let la = &item.log_alpha[tt * s_len..(tt + 1) * s_len];
                for s in 0..s_len {
                    // NaN for an impossible item (-inf - -inf), as PyTorch's gradient.
                    gamma[ext[s]] += (la[s] + lb[s] - item.log_p).exp();
                }
                let g = &mut grad[(tt * b + bi) * c..(tt * b + bi + 1) * c];
                for k in 0..c {
                    g[k] = F::of(wb * (lp(tt, k).exp() - gamma[k]));
                }
            }
        }
        Ok(grad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// -ln p(l|x) by brute force: every path of T_b frames, collapsed and compared.
    fn brute_force(log_probs: &[f64], frames: usize, c: usize, target: &[usize]) -> f64 {
        let mut total = 0.0f64;
        let mut path = vec![0usize; frames];
        loop {
            let mut out = Vec::new();
            let mut prev = None;
            for &k in &path {
                if Some(k) != prev && k != 0 {
                    out.push(k);
                }
                prev = Some(k);
            }
            if out == target {
                total += path
                    .iter()
                    .enumerate()
                    .map(|(t, &k)| log_probs[t * c + k])
                    .sum::<f64>()
                    .exp();
            }
            // Next path (odometer).
            let mut i = 0;
            loop {
                if i == frames {
                    return -total.ln();
                }
                path[i] += 1;
                if path[i] < c {
                    break;
                }
                path[i] = 0;
                i += 1;
            }
        }
    }

    fn logits(t: usize, c: usize, seed: u64) -> Vec<f64> {
        let mut rng = crate::Rng::new(seed);
        (0..t * c).map(|_| 2.0 * rng.normal()).collect()
    }

    #[test]
    fn matches_brute_force_enumeration() {
        let c = 3;
        for (frames, target) in [
            (1, vec![]),
            (1, vec![1]),
            (2, vec![1, 1]),
            (3, vec![1, 1]),
            (4, vec![1, 2]),
            (5, vec![2, 2, 1]),
            (6, vec![]),
            (6, vec![1, 2, 1]),
        ] {
            let x = logits(frames, c, frames as u64 * 7 + target.len() as u64);
            let lp = log_softmax_rows(&x, c);
            let want = brute_force(&lp, frames, c, &target);
            if want.is_infinite() {
                assert_eq!(min_frames(&target), frames + 1);
            }
            let (got, _) = CtcLoss::new()
                .forward(&x, frames, c, &[frames], std::slice::from_ref(&target))
                .unwrap();
            assert!(
                got[0] == want || (got[0] - want).abs() <= 1e-12 * want.abs().max(1.0),
                "T={frames} {target:?}: {} vs brute force {want}",
                got[0]
            );
        }
    }

    #[test]
    fn impossible_alignments() {
        let x = logits(2, 3, 1);
        // `1 1` needs three frames (a blank between); `1 2 1` needs three.
        for tg in [vec![1, 1], vec![1, 2, 1]] {
            assert_eq!(min_frames(&tg), 3);
            let out = CtcLoss::new()
                .reduction(CtcReduction::None)
                .loss(&x, 2, 3, &[2], std::slice::from_ref(&tg))
                .unwrap();
            assert_eq!(out.losses[0], f64::INFINITY);
            assert!(out.grad.iter().all(|g: &f64| g.is_nan()));
            let out = CtcLoss::new()
                .zero_infinity(true)
                .loss(&x, 2, 3, &[2], &[tg])
                .unwrap();
            assert_eq!(out.loss, 0.0);
            assert!(out.grad.iter().all(|&g: &f64| g == 0.0));
        }
    }

    #[test]
    fn rejects_bad_input() {
        let x = vec![0.0f64; 2 * 3];
        let l = CtcLoss::new();
        let err = |r: Result<CtcOutput<f64>>| r.unwrap_err().to_string();
        assert!(err(l.loss(&x, 2, 3, &[2], &[vec![0]])).contains("the blank"));
        assert!(err(l.loss(&x, 2, 3, &[2], &[vec![1, 3]])).contains("position 1"));
        assert!(err(l.loss(&x, 2, 3, &[3], &[vec![1]])).contains("input length 3"));
        assert!(err(l.loss(&x, 2, 3, &[0], &[vec![1]])).contains("input length 0"));
        assert!(err(l.loss(&x, 3, 3, &[2], &[vec![1]])).contains("ctc logits"));
        assert!(err(l.blank(3).loss(&x, 2, 3, &[2], &[vec![1]])).contains("blank index"));
        assert!(l.loss(&x, 2, 3, &[2, 2], &[vec![1]]).is_err());
    }

    #[test]
    fn f32_agrees_with_f64() {
        let (t, c) = (30, 5);
        let x = logits(t * 2, c, 3);
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let x64: Vec<f64> = x32.iter().map(|&v| v as f64).collect();
        let tg = [vec![1, 2, 2, 3], vec![4, 4, 4]];
        let a = CtcLoss::new().loss(&x64, t, c, &[30, 17], &tg).unwrap();
        let b = CtcLoss::new().loss(&x32, t, c, &[30, 17], &tg).unwrap();
        assert!((a.loss - b.loss).abs() < 1e-12);
        for (p, q) in a.grad.iter().zip(&b.grad) {
            assert!((p - *q as f64).abs() < 1e-6);
        }
    }

    #[test]
    fn long_inputs_do_not_underflow() {
        // 2000 frames of near-uniform output: p(l|x) ~ e^-3000, far below f64's range.
        let (t, c) = (2000, 6);
        let x = logits(t, c, 5).iter().map(|v| v * 0.01).collect::<Vec<_>>();
        let tg = vec![vec![1, 2, 3, 3, 4, 5]];
        let out = CtcLoss::new().loss(&x, t, c, &[t], &tg).unwrap();
        assert!(out.losses[0].is_finite() && out.losses[0] > 1000.0);
        assert!(out.grad.iter().all(|g: &f64| g.is_finite()));
        // The gradient of each frame sums to zero (softmax minus a distribution).
        for row in out.grad.chunks(c) {
            assert!(row.iter().sum::<f64>().abs() < 1e-12);
        }
    }

    /// Central differences of the reduced loss on every logit, against the analytic gradient.
    fn finite_difference_check(
        loss: CtcLoss,
        x: &[f64],
        t: usize,
        c: usize,
        lens: &[usize],
        tg: &[Vec<usize>],
    ) -> f64 {
        let out = loss.loss(x, t, c, lens, tg).unwrap();
        let mut worst = 0.0f64;
        let eps = 1e-5;
        let floor = 1e-3 * out.grad.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        for i in 0..x.len() {
            let mut xp = x.to_vec();
            xp[i] += eps;
            let up = loss.loss(&xp, t, c, lens, tg).unwrap().loss;
            xp[i] -= 2.0 * eps;
            let down = loss.loss(&xp, t, c, lens, tg).unwrap().loss;
            let num = (up - down) / (2.0 * eps);
            // Floor as in gradcheck: entries far below the largest are judged on absolute
            // error, since rounding in the differences (~1e-16 |L| / eps) cannot resolve them.
            let err = (num - out.grad[i]).abs() / (num.abs() + out.grad[i].abs()).max(floor);
            worst = worst.max(err);
        }
        worst
    }

    #[test]
    fn gradients_match_finite_differences() {
        let c = 4;
        // (T, input lengths, targets): repeated labels, an empty target, a target that just
        // fits (T_b = min_frames), a length-1 input, padded frames.
        let cases: Vec<(usize, Vec<usize>, Vec<Vec<usize>>)> = vec![
            (5, vec![5], vec![vec![1, 1]]),
            (6, vec![6, 4, 3], vec![vec![1, 2, 2], vec![], vec![3, 3]]),
            (
                4,
                vec![1, 4],
                vec![vec![2], vec![1, 1, 1].into_iter().take(2).collect()],
            ),
            (7, vec![7, 5], vec![vec![3, 3, 3, 3], vec![1, 2, 3, 1, 2]]),
            (3, vec![3, 2, 1], vec![vec![1, 2, 3], vec![], vec![]]),
        ];
        for (n, (t, lens, tg)) in cases.iter().enumerate() {
            let x = logits(t * lens.len(), c, 40 + n as u64);
            for red in [CtcReduction::Mean, CtcReduction::Sum, CtcReduction::None] {
                for blank in [0, c - 1] {
                    // Relabel so no target uses the blank.
                    let tg: Vec<Vec<usize>> = tg
                        .iter()
                        .map(|v| {
                            v.iter()
                                .map(|&k| if blank == 0 { k } else { k - 1 })
                                .collect()
                        })
                        .collect();
                    let loss = CtcLoss::new().reduction(red).blank(blank);
                    let e = finite_difference_check(loss, &x, *t, c, lens, &tg);
                    assert!(e < 1e-6, "case {n} {red:?} blank {blank}: rel err {e:e}");
                }
            }
        }
    }

    #[test]
    fn padded_frames_get_no_gradient_and_change_nothing() {
        let (c, tg) = (4, vec![vec![1, 2, 1]]);
        let x = logits(5, c, 9);
        let short = CtcLoss::new().loss(&x[..4 * c], 4, c, &[4], &tg).unwrap();
        let padded = CtcLoss::new().loss(&x, 5, c, &[4], &tg).unwrap();
        assert_eq!(short.loss, padded.loss);
        assert_eq!(&short.grad[..], &padded.grad[..4 * c]);
        assert!(padded.grad[4 * c..].iter().all(|&g| g == 0.0));
    }
}
