//! How long one item (a sentence, a review, a tune, a source line) may be, and what happens
//! past it.
//!
//! A recurrent model's memory grows with the length of what it reads: training keeps every
//! step's gates for backpropagation through time, and a batch is padded to its longest
//! member, so one batch costs `batch x T_max x c` bytes, `c` a per-token constant of the
//! model (docs/reliability.md gives it for each task's defaults). One 2,000,000-word line
//! once made that 27 GB. So every task caps `T_max` with a documented maximum and a flag to
//! raise it, and past the cap either splits the item (where the task allows: aligned tags,
//! a text's label, a translation's source) or leaves it out, naming where it was. Nothing
//! here allocates in proportion to an item's length beyond the list of its pieces.

use std::ops::Range;

/// The most a length flag (`--max-tokens`, `--max-words`) may be raised to: past a million
/// steps even one item's activations are gigabytes.
pub const MAX_LENGTH_FLAG: usize = 1_000_000;

/// Consecutive pieces of at most `max` (>= 1) covering `0..len`, as equal as possible (a
/// 1,001-token sentence with `max` 1,000 becomes 501 + 500, not 1,000 + 1). `len` 0 gives
/// one empty piece, so every item keeps at least one.
pub fn pieces(len: usize, max: usize) -> Vec<Range<usize>> {
    let max = max.max(1);
    let n = len.div_ceil(max).max(1);
    let (base, extra) = (len / n, len % n);
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    for i in 0..n {
        let end = start + base + usize::from(i < extra);
        out.push(start..end);
        start = end;
    }
    out
}

/// Pieces of at most `max` tokens covering `0..len`, each ending just after a token for
/// which `is_break(i)` holds (a sentence end) when one lies in the last half of the
/// window, else at `max`. For translating a long line a sentence or a clause at a time.
pub fn pieces_at(len: usize, max: usize, is_break: impl Fn(usize) -> bool) -> Vec<Range<usize>> {
    let max = max.max(1);
    let mut out = Vec::new();
    let mut start = 0;
    while len - start > max {
        let hard = start + max;
        let cut = (start + max.div_ceil(2)..hard)
            .rev()
            .find(|&i| is_break(i))
            .map_or(hard, |i| i + 1);
        out.push(start..cut);
        start = cut;
    }
    out.push(start..len);
    out
}

/// One window of a long sequence read in pieces: the model reads `input`, and its outputs
/// for `keep` (inside `input`) are the ones used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub input: Range<usize>,
    pub keep: Range<usize>,
}

/// Windows of at most `max` steps covering `0..len` for a model that reads both ways: each
/// kept part has up to `context` steps of the sequence on each side (clipped at the ends),
/// so a position near a cut still sees its neighbours. The kept parts tile `0..len`
/// exactly. `context` is reduced so that a kept part has at least half the window.
pub fn windows(len: usize, max: usize, context: usize) -> Vec<Window> {
    let max = max.max(1);
    if len <= max {
        return vec![Window {
            input: 0..len,
            keep: 0..len,
        }];
    }
    let context = context.min(max / 4);
    let step = (max - 2 * context).max(1);
    pieces(len, step)
        .into_iter()
        .map(|keep| Window {
            input: keep.start.saturating_sub(context)..(keep.end + context).min(len),
            keep,
        })
        .collect()
}

/// Items longer than a task's maximum, counted as they are read, for one message.
#[derive(Clone, Debug, Default)]
pub struct Oversize {
    /// How many.
    pub count: usize,
    /// The longest seen.
    pub longest: usize,
    /// Where the first few were (`file, line N`).
    pub first: Vec<String>,
}

impl Oversize {
    /// Records an item of `len` at `place` if it is longer than `max`; true if it is.
    pub fn note(&mut self, len: usize, max: usize, place: impl FnOnce() -> String) -> bool {
        if len <= max {
            return false;
        }
        self.count += 1;
        self.longest = self.longest.max(len);
        if self.first.len() < 3 {
            self.first.push(place());
        }
        true
    }

    /// `None` when nothing was long; else one sentence such as "2 sentences longer than
    /// --max-tokens 1000 (the longest 1000000, at train.conllu line 12, ...) were split
    /// into pieces". `what` is the item in the plural, `done` what happened to them.
    pub fn message(&self, what: &str, flag: &str, max: usize, done: &str) -> Option<String> {
        if self.count == 0 {
            return None;
        }
        let more = if self.count > self.first.len() {
            ", ..."
        } else {
            ""
        };
        Some(format!(
            "{} {what} longer than {flag} {max} (the longest {}; at {}{more}) {done}; raise {flag} to keep them whole",
            self.count,
            self.longest,
            self.first.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_in_order_with_near_equal_sizes() {
        for (len, max) in [
            (0, 5),
            (1, 5),
            (5, 5),
            (6, 5),
            (1001, 1000),
            (2_000_000, 1000),
        ] {
            let p = pieces(len, max);
            assert_eq!(p.first().map(|r| r.start), Some(0));
            assert_eq!(p.last().map(|r| r.end), Some(len));
            for w in p.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
            let sizes: Vec<usize> = p.iter().map(|r| r.len()).collect();
            assert!(sizes.iter().all(|&s| s <= max), "{len} {max}: {sizes:?}");
            let (lo, hi) = (sizes.iter().min(), sizes.iter().max());
            assert!(hi.unwrap() - lo.unwrap() <= 1, "{len} {max}: {sizes:?}");
        }
        assert_eq!(pieces(1001, 1000), vec![0..501, 501..1001]);
    }

    #[test]
    fn pieces_at_cut_after_a_break_in_the_window_else_at_the_maximum() {
        // breaks after tokens 3 and 12: a window of 8 cuts after 3 only if it is in the
        // last half (4..8), so the first cut is at 8; the second window 8..16 cuts at 13.
        let brk = |i: usize| i == 3 || i == 12;
        assert_eq!(pieces_at(20, 8, brk), vec![0..8, 8..13, 13..20]);
        assert_eq!(pieces_at(5, 8, brk), vec![0..5]);
        let p = pieces_at(1_000_000, 100, |i| i % 7 == 6);
        assert!(p.iter().all(|r| !r.is_empty() && r.len() <= 100));
        assert_eq!(p.last().map(|r| r.end), Some(1_000_000));
    }

    #[test]
    fn windows_keep_parts_tile_the_sequence_with_context_around_them() {
        assert_eq!(
            windows(10, 16, 4),
            vec![Window {
                input: 0..10,
                keep: 0..10
            }]
        );
        let w = windows(100, 20, 4);
        let mut next = 0;
        for x in &w {
            assert_eq!(x.keep.start, next);
            next = x.keep.end;
            assert!(x.input.len() <= 20, "{x:?}");
            assert!(x.input.start <= x.keep.start && x.keep.end <= x.input.end);
            if x.keep.start > 0 {
                assert_eq!(x.keep.start - x.input.start, 4);
            }
        }
        assert_eq!(next, 100);
    }

    #[test]
    fn oversize_names_the_first_places_and_the_flag() {
        let mut o = Oversize::default();
        assert!(!o.note(5, 10, || unreachable!()));
        assert_eq!(o.message("lines", "--max-words", 10, "were split"), None);
        for line in [3, 9, 20, 40] {
            assert!(o.note(line * 10, 10, || format!("a.txt line {line}")));
        }
        let m = o
            .message("lines", "--max-words", 10, "were split into pieces")
            .unwrap();
        assert!(m.starts_with("4 lines longer than --max-words 10 (the longest 400; at a.txt line 3, a.txt line 9, a.txt line 20, ...)"), "{m}");
        assert!(m.ends_with("raise --max-words to keep them whole"), "{m}");
    }
}
