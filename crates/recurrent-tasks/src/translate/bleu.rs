//! Corpus BLEU-4 (Papineni et al. 2002) exactly as sacreBLEU computes it by default, so a
//! score here is a score there: 13a tokenisation, case-sensitive, n-grams of 1 to 4, counts
//! clipped by the most any one reference holds, brevity penalty against the closest
//! reference length, and sacreBLEU's `exp` smoothing of empty precisions.
//!
//! ```text
//! p_n  = sum_sentences matched n-grams / sum_sentences hypothesis n-grams
//!        (a hypothesis n-gram counts at most as often as it occurs in one reference)
//! BP   = 1 if c >= r else exp(1 - r / c)      c: hypothesis tokens, r: per sentence the
//!                                              reference length closest to the hypothesis
//!                                              (ties: the shorter), summed
//! BLEU = 100 * BP * exp(sum_{n=1..4} ln p_n / 4)
//! ```
//! With no matched n-gram of any order the score is 0. A precision with no matches (but
//! some n-grams) becomes 1 / (2^k * total_n), k counting such orders so far (mteval's
//! smoothing, sacreBLEU's default); an order with no n-grams at all gives a score of ~0.

use recurrent::error::{Error, Result};
use serde::Serialize;
use std::collections::HashMap;

/// The n-gram orders.
pub const MAX_ORDER: usize = 4;

/// Characters 13a always separates: `{|}~ [\]^_` ` !"#$%& ()*+ :;<=>?@ /`.
fn separated(c: char) -> bool {
    matches!(c, '{'..='~' | '['..='`' | ' '..='&' | '('..='+' | ':'..='@' | '/')
}

/// Python's `re.sub` for a two-character pattern: scan left to right, replacing
/// non-overlapping matches.
fn sub2(
    s: &[char],
    matches: impl Fn(char, char) -> bool,
    repl: impl Fn(char, char, &mut Vec<char>),
) -> Vec<char> {
    let mut out = Vec::with_capacity(s.len() + s.len() / 2);
    let mut i = 0;
    while i < s.len() {
        if i + 1 < s.len() && matches(s[i], s[i + 1]) {
            repl(s[i], s[i + 1], &mut out);
            i += 2;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// Whitespace as Python's `str.split()` sees it (Unicode White_Space plus U+001C..U+001F).
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// sacreBLEU's `13a` tokenisation (mteval-v13a): the tokens of one segment.
pub fn tokenize_13a(line: &str) -> Vec<String> {
    let line = line.trim_end_matches(py_space);
    let mut line = line
        .replace("<skipped>", "")
        .replace("-\n", "")
        .replace('\n', " ");
    if line.contains('&') {
        line = line
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
    }
    let mut s: Vec<char> = Vec::with_capacity(line.len() * 2 + 2);
    s.push(' ');
    for c in line.chars() {
        if separated(c) {
            s.extend([' ', c, ' ']);
        } else {
            s.push(c);
        }
    }
    s.push(' ');
    let dot = |c: char| c == '.' || c == ',';
    let digit = |c: char| c.is_ascii_digit();
    // Period and comma unless preceded by a digit: `([^0-9])([\.,])` -> `\1 \2 `.
    let s = sub2(
        &s,
        |a, b| !digit(a) && dot(b),
        |a, b, o| o.extend([a, ' ', b, ' ']),
    );
    // ... unless followed by a digit: `([\.,])([^0-9])` -> ` \1 \2`.
    let s = sub2(
        &s,
        |a, b| dot(a) && !digit(b),
        |a, b, o| o.extend([' ', a, ' ', b]),
    );
    // Dash after a digit: `([0-9])(-)` -> `\1 \2 `.
    let s = sub2(
        &s,
        |a, b| digit(a) && b == '-',
        |a, b, o| o.extend([a, ' ', b, ' ']),
    );
    let s: String = s.into_iter().collect();
    s.split(py_space)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// BLEU's sufficient statistics, summed over sentences.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BleuStats {
    /// Hypothesis tokens (c).
    pub sys_len: usize,
    /// Closest reference lengths (r).
    pub ref_len: usize,
    /// Matched (clipped) n-grams per order.
    pub correct: [usize; MAX_ORDER],
    /// Hypothesis n-grams per order.
    pub total: [usize; MAX_ORDER],
}

impl BleuStats {
    fn add(&mut self, o: &BleuStats) {
        self.sys_len += o.sys_len;
        self.ref_len += o.ref_len;
        for n in 0..MAX_ORDER {
            self.correct[n] += o.correct[n];
            self.total[n] += o.total[n];
        }
    }
}

fn ngrams(tokens: &[String]) -> HashMap<&[String], usize> {
    let mut m = HashMap::new();
    for n in 1..=MAX_ORDER {
        for w in tokens.windows(n) {
            *m.entry(w).or_insert(0) += 1;
        }
    }
    m
}

/// The statistics of one hypothesis against its references (each tokenised by 13a,
/// lower-cased first if `lowercase`).
pub fn sentence_stats<S: AsRef<str>>(hyp: &str, refs: &[S], lowercase: bool) -> BleuStats {
    let prep = |s: &str| {
        if lowercase {
            tokenize_13a(&s.to_lowercase())
        } else {
            tokenize_13a(s)
        }
    };
    let h = prep(hyp);
    let rs: Vec<Vec<String>> = refs.iter().map(|r| prep(r.as_ref())).collect();
    let mut max_ref: HashMap<&[String], usize> = HashMap::new();
    for r in &rs {
        for (g, c) in ngrams(r) {
            let e = max_ref.entry(g).or_insert(0);
            *e = (*e).max(c);
        }
    }
    // Closest reference length, ties to the shorter.
    let mut ref_len: Option<usize> = None;
    for r in &rs {
        let (l, d) = (r.len(), r.len().abs_diff(h.len()));
        ref_len = Some(match ref_len {
            Some(best) if best.abs_diff(h.len()) < d => best,
            Some(best) if best.abs_diff(h.len()) == d => best.min(l),
            _ => l,
        });
    }
    let mut st = BleuStats {
        sys_len: h.len(),
        ref_len: ref_len.unwrap_or(0),
        ..Default::default()
    };
    for (g, c) in ngrams(&h) {
        let n = g.len() - 1;
        st.total[n] += c;
        st.correct[n] += c.min(max_ref.get(g).copied().unwrap_or(0));
    }
    st
}

/// A corpus BLEU score and what it is made of.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bleu {
    /// 0..100.
    pub score: f64,
    /// Per-order precisions, in percent (after smoothing).
    pub precisions: [f64; MAX_ORDER],
    /// Brevity penalty.
    pub bp: f64,
    /// c / r.
    pub ratio: f64,
    pub stats: BleuStats,
}

impl Bleu {
    /// The score from summed statistics.
    pub fn from_stats(st: BleuStats) -> Bleu {
        let (c, r) = (st.sys_len as f64, st.ref_len as f64);
        let bp = if st.sys_len < st.ref_len {
            if st.sys_len > 0 {
                (1.0 - r / c).exp()
            } else {
                0.0
            }
        } else {
            1.0
        };
        let ratio = if st.ref_len > 0 { c / r } else { 0.0 };
        let mut precisions = [0.0; MAX_ORDER];
        if st.correct.iter().all(|&m| m == 0) {
            return Bleu {
                score: 0.0,
                precisions,
                bp,
                ratio,
                stats: st,
            };
        }
        let mut smooth = 1.0;
        for (p, (&correct, &total)) in precisions.iter_mut().zip(st.correct.iter().zip(&st.total)) {
            if total == 0 {
                break;
            }
            *p = if correct == 0 {
                smooth *= 2.0;
                100.0 / (smooth * total as f64)
            } else {
                100.0 * correct as f64 / total as f64
            };
        }
        // sacreBLEU floors ln 0 at -9999999999, which makes the score 0 (exp underflows).
        let log_sum: f64 = precisions
            .iter()
            .map(|&p| if p == 0.0 { -9_999_999_999.0 } else { p.ln() })
            .sum();
        Bleu {
            score: bp * (log_sum / MAX_ORDER as f64).exp(),
            precisions,
            bp,
            ratio,
            stats: st,
        }
    }
}

/// Corpus BLEU of `hyps` against `refs` (one list of references per hypothesis, any number
/// each, at least one).
pub fn corpus_bleu<H: AsRef<str>, R: AsRef<str>>(
    hyps: &[H],
    refs: &[Vec<R>],
    lowercase: bool,
) -> Result<Bleu> {
    if hyps.len() != refs.len() {
        return Err(Error::Input(format!(
            "{} hypotheses but {} reference sets",
            hyps.len(),
            refs.len()
        )));
    }
    if let Some(i) = refs.iter().position(|r| r.is_empty()) {
        return Err(Error::Input(format!("sentence {} has no reference", i + 1)));
    }
    let mut st = BleuStats::default();
    for (h, r) in hyps.iter().zip(refs) {
        st.add(&sentence_stats(h.as_ref(), r, lowercase));
    }
    Ok(Bleu::from_stats(st))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        tokenize_13a(s)
    }

    #[test]
    fn tokenizes_like_13a() {
        assert_eq!(toks("Hello, world!"), ["Hello", ",", "world", "!"]);
        assert_eq!(
            toks("It costs $3.50, ok."),
            ["It", "costs", "$", "3.50", ",", "ok", "."]
        );
        assert_eq!(
            toks("Qu'est-ce que c'est ?"),
            ["Qu'est-ce", "que", "c'est", "?"]
        );
        assert_eq!(toks("1995-2000 &amp; x"), ["1995", "-", "2000", "&", "x"]);
        assert_eq!(toks("a..b"), ["a", ".", ".", "b"]);
        assert_eq!(toks("Allez\u{202F}!"), ["Allez", "!"]);
    }

    /// Hand-worked: hypothesis "the cat sat on the mat" (6 tokens) against "the cat is on
    /// the mat" (6) and "a cat sat on a mat" (6).
    /// 1-grams: the(2, max ref 2) cat sat on mat: 6/6. 2-grams: the-cat, cat-sat, sat-on,
    /// on-the, the-mat: all in some reference: 5/5. 3-grams: the-cat-sat (no), cat-sat-on
    /// (ref 2), sat-on-the (no), on-the-mat (ref 1): 2/4. 4-grams: the-cat-sat-on (no),
    /// cat-sat-on-the (no), sat-on-the-mat (no): 0/3 -> smoothed 1/(2*3).
    /// BLEU = 100 * (1 * 1 * 0.5 * 1/6)^(1/4) = 100 * (1/12)^(1/4) = 53.728...
    #[test]
    fn hand_worked_two_references() {
        let b = corpus_bleu(
            &["the cat sat on the mat"],
            &[vec!["the cat is on the mat", "a cat sat on a mat"]],
            false,
        )
        .unwrap();
        assert_eq!(b.stats.correct, [6, 5, 2, 0]);
        assert_eq!(b.stats.total, [6, 5, 4, 3]);
        assert_eq!(b.bp, 1.0);
        let want = 100.0 * (1.0f64 / 12.0).powf(0.25);
        assert!((b.score - want).abs() < 1e-9, "{} vs {want}", b.score);
    }

    /// Hand-worked brevity penalty and clipping: hypothesis "the the the" against
    /// "the cat is here now" (5): 1-grams clipped to 1/3; 2-grams 0/2, 3-grams 0/1,
    /// 4-grams none. Score: a missing order (no 4-grams) makes BLEU 0 whatever the rest.
    /// Second corpus sentence fixes that: hypothesis "a b c d" = reference "a b c d".
    /// Sums: c = 7, r = 9; 1-grams 5/7, 2-grams 3/5, 3-grams 2/3, 4-grams 1/1;
    /// BP = exp(1 - 9/7).
    #[test]
    fn hand_worked_clipping_and_brevity() {
        let one = corpus_bleu(&["the the the"], &[vec!["the cat is here now"]], false).unwrap();
        assert_eq!(one.score, 0.0);
        assert_eq!(one.stats.correct[0], 1);
        let b = corpus_bleu(
            &["the the the", "a b c d"],
            &[vec!["the cat is here now"], vec!["a b c d"]],
            false,
        )
        .unwrap();
        assert_eq!(b.stats.correct, [5, 3, 2, 1]);
        assert_eq!(b.stats.total, [7, 5, 3, 1]);
        assert_eq!((b.stats.sys_len, b.stats.ref_len), (7, 9));
        let bp = (1.0f64 - 9.0 / 7.0).exp();
        let want = 100.0 * bp * (5.0 / 7.0 * 3.0 / 5.0 * 2.0 / 3.0 * 1.0f64).powf(0.25);
        assert!((b.score - want).abs() < 1e-9, "{} vs {want}", b.score);
    }

    #[test]
    fn identical_is_100_and_case_matters() {
        let b = corpus_bleu(&["Je suis là."], &[vec!["Je suis là."]], false).unwrap();
        assert!((b.score - 100.0).abs() < 1e-9);
        let b = corpus_bleu(&["je suis là."], &[vec!["Je suis là."]], false).unwrap();
        assert!(b.score < 100.0);
        let b = corpus_bleu(&["je suis là."], &[vec!["Je suis là."]], true).unwrap();
        assert!((b.score - 100.0).abs() < 1e-9);
        assert!(corpus_bleu(&["x"], &[Vec::<String>::new()], false).is_err());
    }
}
