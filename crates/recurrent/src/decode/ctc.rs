//! Decoding a CTC model's per-frame outputs into a labelling: the best path (greedy), and
//! prefix beam search, which sums over paths and so finds labellings that no single path
//! favours.
//!
//! Input: log-probabilities [T, C] of one utterance (`log_softmax` of the logits, e.g.
//! [`crate::nn::ctc::log_softmax_rows`]), the blank's index among the C classes.
//!
//! The two differ because p(l|x) sums over every path that collapses to l: with two frames
//! that each say blank 0.6, `a` 0.4, the best path is blank-blank (0.36, the empty
//! labelling), while `a` has a-a + a-_ + _-a = 0.16 + 0.24 + 0.24 = 0.64.

use crate::nn::ctc::log_add;
use std::collections::BTreeMap;

/// A decoded labelling and its log-score.
#[derive(Clone, Debug, PartialEq)]
pub struct Hypothesis {
    /// Class indices, blanks removed.
    pub labels: Vec<usize>,
    /// Greedy: ln of the best path's probability. Beam search: ln p(labels|x) summed over the
    /// paths the beam kept (a lower bound on the exact value, equal to it with a wide beam).
    pub log_prob: f64,
}

/// The best path: the most probable class at each frame, repeats collapsed, blanks dropped.
/// Ties go to the lower class index.
pub fn greedy(log_probs: &[f64], c: usize, blank: usize) -> Hypothesis {
    let mut labels = Vec::new();
    let mut log_prob = 0.0;
    let mut prev = None;
    for row in log_probs.chunks_exact(c) {
        let mut k = 0;
        for (j, &v) in row.iter().enumerate() {
            if v > row[k] {
                k = j;
            }
        }
        log_prob += row[k];
        if k != blank && prev != Some(k) {
            labels.push(k);
        }
        prev = Some(k);
    }
    Hypothesis { labels, log_prob }
}

/// Greedy decoding one frame at a time, for streaming: [`GreedyStream::push`] returns a
/// symbol the moment its first frame wins (it can never be taken back: later frames only
/// repeat it, pass to a blank, or start another symbol). The labels pushed out, in order,
/// are exactly [`greedy`]'s.
#[derive(Clone, Debug, Default)]
pub struct GreedyStream {
    prev: Option<usize>,
    /// ln of the best path so far.
    pub log_prob: f64,
}

impl GreedyStream {
    /// A decoder at the start of an utterance.
    pub fn new() -> Self {
        GreedyStream::default()
    }
    /// Takes one frame's log-probabilities [C]; returns the class emitted now, if any.
    pub fn push(&mut self, row: &[f64], blank: usize) -> Option<usize> {
        let mut k = 0;
        for (j, &v) in row.iter().enumerate() {
            if v > row[k] {
                k = j;
            }
        }
        self.log_prob += row.get(k).copied().unwrap_or(f64::NEG_INFINITY);
        let emit = (k != blank && self.prev != Some(k)).then_some(k);
        self.prev = Some(k);
        emit
    }
}

/// Log-probabilities of a prefix: its paths so far ending in a blank, and ending in its last
/// symbol (the distinction decides whether a repeated symbol extends it or merges into it).
#[derive(Clone, Copy, Debug)]
struct PrefixScore {
    blank: f64,
    symbol: f64,
}

impl PrefixScore {
    const ZERO: PrefixScore = PrefixScore {
        blank: f64::NEG_INFINITY,
        symbol: f64::NEG_INFINITY,
    };
    fn total(&self) -> f64 {
        log_add(self.blank, self.symbol)
    }
}

/// Prefix beam search with `beam` prefixes kept per frame; returns up to `beam` labellings,
/// the most probable first (equal scores in label order).
///
/// Per frame t, for each kept prefix l with scores (P_b, P_s) and each class k with
/// probability y = y_t(k):
/// ```text
/// k = blank:            P_b'(l)    += (P_b(l) + P_s(l)) y
/// k = last symbol of l: P_s'(l)    += P_s(l) y           (the symbol continues)
///                       P_s'(l k)  += P_b(l) y           (a blank separated them)
/// otherwise:            P_s'(l k)  += (P_b(l) + P_s(l)) y
/// ```
/// then the `beam` prefixes with the largest P_b' + P_s' are kept (all in log space).
pub fn prefix_beam_search(
    log_probs: &[f64],
    c: usize,
    blank: usize,
    beam: usize,
) -> Vec<Hypothesis> {
    let beam = beam.max(1);
    let mut kept: Vec<(Vec<usize>, PrefixScore)> = vec![(
        Vec::new(),
        PrefixScore {
            blank: 0.0,
            symbol: f64::NEG_INFINITY,
        },
    )];
    for row in log_probs.chunks_exact(c) {
        let mut next: BTreeMap<Vec<usize>, PrefixScore> = BTreeMap::new();
        for (prefix, sc) in &kept {
            let total = sc.total();
            for (k, &y) in row.iter().enumerate() {
                if y == f64::NEG_INFINITY {
                    continue;
                }
                if k == blank {
                    let e = next.entry(prefix.clone()).or_insert(PrefixScore::ZERO);
                    e.blank = log_add(e.blank, total + y);
                    continue;
                }
                let mut longer = prefix.clone();
                longer.push(k);
                if prefix.last() == Some(&k) {
                    let e = next.entry(prefix.clone()).or_insert(PrefixScore::ZERO);
                    e.symbol = log_add(e.symbol, sc.symbol + y);
                    let e = next.entry(longer).or_insert(PrefixScore::ZERO);
                    e.symbol = log_add(e.symbol, sc.blank + y);
                } else {
                    let e = next.entry(longer).or_insert(PrefixScore::ZERO);
                    e.symbol = log_add(e.symbol, total + y);
                }
            }
        }
        kept = best(next.into_iter().collect(), beam);
    }
    kept.into_iter()
        .map(|(labels, sc)| Hypothesis {
            labels,
            log_prob: sc.total(),
        })
        .collect()
}

/// The `n` highest-scoring prefixes, best first; a stable sort keeps label order on ties.
/// Prefixes no path reaches (a repeat with no blank yet) are dropped.
fn best(mut v: Vec<(Vec<usize>, PrefixScore)>, n: usize) -> Vec<(Vec<usize>, PrefixScore)> {
    v.retain(|(_, s)| s.total() > f64::NEG_INFINITY);
    v.sort_by(|a, b| b.1.total().total_cmp(&a.1.total()));
    v.truncate(n);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::CtcLoss;

    fn table(probs: &[&[f64]]) -> (Vec<f64>, usize) {
        let c = probs[0].len();
        (
            probs
                .iter()
                .flat_map(|r| r.iter().map(|p| p.ln()))
                .collect(),
            c,
        )
    }

    /// ln p(l|x) by the CTC forward pass (logits = log-probs: log_softmax leaves them).
    fn exact(lp: &[f64], c: usize, labels: &[usize]) -> f64 {
        let t = lp.len() / c;
        let (l, _) = CtcLoss::new()
            .forward(lp, t, c, &[t], &[labels.to_vec()])
            .unwrap();
        -l[0]
    }

    #[test]
    fn best_path_is_not_the_most_probable_labelling() {
        // blank 0.6, a 0.4 twice: best path "" (0.36), but p(a) = 0.64.
        let (lp, c) = table(&[&[0.6, 0.4], &[0.6, 0.4]]);
        let g = greedy(&lp, c, 0);
        assert_eq!(g.labels, Vec::<usize>::new());
        assert!((g.log_prob - 0.36f64.ln()).abs() < 1e-12);
        let b = prefix_beam_search(&lp, c, 0, 4);
        assert_eq!(b[0].labels, vec![1]);
        assert!((b[0].log_prob - 0.64f64.ln()).abs() < 1e-12);
        assert_eq!(b[1].labels, Vec::<usize>::new());
        assert!((b[1].log_prob - 0.36f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn greedy_and_beam_pick_different_symbols() {
        // Three frames over (blank, a, b). Each frame's single best class is a different
        // thing, but the mass of "b" is spread over many paths: greedy says "a", beam "b".
        let (lp, c) = table(&[
            &[0.30, 0.40, 0.30],
            &[0.30, 0.05, 0.65],
            &[0.50, 0.05, 0.45],
        ]);
        let g = greedy(&lp, c, 0);
        assert_eq!(g.labels, vec![1, 2]);
        let b = prefix_beam_search(&lp, c, 0, 16);
        // Every hypothesis's score is its exact probability (the beam holds all prefixes).
        for h in &b {
            assert!(
                (h.log_prob - exact(&lp, c, &h.labels)).abs() < 1e-12,
                "{h:?}"
            );
        }
        assert_eq!(b[0].labels, vec![2]);
        assert!(b[0].log_prob > exact(&lp, c, &g.labels));
    }

    #[test]
    fn streaming_greedy_equals_greedy() {
        let mut rng = crate::Rng::new(8);
        for _ in 0..20 {
            let (t, c) = (40, 4);
            let x: Vec<f64> = (0..t * c).map(|_| 2.0 * rng.normal()).collect();
            let lp = crate::nn::ctc::log_softmax_rows(&x, c);
            let mut s = GreedyStream::new();
            let out: Vec<usize> = lp.chunks(c).filter_map(|r| s.push(r, 0)).collect();
            let g = greedy(&lp, c, 0);
            assert_eq!(out, g.labels);
            assert!((s.log_prob - g.log_prob).abs() < 1e-9);
        }
    }

    #[test]
    fn repeated_symbols_need_a_blank() {
        // a, blank, a: greedy and beam both "a a"; a, a, a: "a".
        let (lp, c) = table(&[&[0.1, 0.9], &[0.9, 0.1], &[0.1, 0.9]]);
        assert_eq!(greedy(&lp, c, 0).labels, vec![1, 1]);
        assert_eq!(prefix_beam_search(&lp, c, 0, 8)[0].labels, vec![1, 1]);
        let (lp, c) = table(&[&[0.1, 0.9], &[0.1, 0.9], &[0.1, 0.9]]);
        assert_eq!(greedy(&lp, c, 0).labels, vec![1]);
        assert_eq!(prefix_beam_search(&lp, c, 0, 8)[0].labels, vec![1]);
        // The blank may be any index: here the last.
        let (lp, c) = table(&[&[0.9, 0.1], &[0.1, 0.9], &[0.9, 0.1]]);
        assert_eq!(greedy(&lp, c, 1).labels, vec![0, 0]);
        assert_eq!(prefix_beam_search(&lp, c, 1, 8)[0].labels, vec![0, 0]);
    }

    #[test]
    fn wide_beam_is_exact_on_random_tables() {
        let mut rng = crate::Rng::new(3);
        for _ in 0..20 {
            let (t, c) = (5, 3);
            let x: Vec<f64> = (0..t * c).map(|_| 2.0 * rng.normal()).collect();
            let lp = crate::nn::ctc::log_softmax_rows(&x, c);
            let b = prefix_beam_search(&lp, c, 0, 1000);
            // The probabilities of all labellings sum to one.
            let total: f64 = b.iter().map(|h| h.log_prob.exp()).sum();
            assert!((total - 1.0).abs() < 1e-12, "{total}");
            for h in &b {
                assert!((h.log_prob - exact(&lp, c, &h.labels)).abs() < 1e-10);
            }
            assert!(b.windows(2).all(|w| w[0].log_prob >= w[1].log_prob));
            // A narrow beam keeps a lower bound, and its best is at most the exact best.
            let n = prefix_beam_search(&lp, c, 0, 2);
            assert!(n.len() <= 2);
            assert!(n[0].log_prob <= b[0].log_prob + 1e-12);
        }
    }
}
