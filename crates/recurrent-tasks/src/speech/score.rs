//! Metrics of a sequence transcription (speech: digit strings): the label error rate (edit
//! distance over reference labels, as word error rate is counted) and whole-utterance
//! accuracy.
//!
//! ```text
//! edits(r, h) = min substitutions + deletions + insertions turning r into h   (Levenshtein)
//! error rate  = sum over utterances edits(r, h) / sum |r|
//! accuracy    = utterances with h == r / utterances
//! ```

use serde::{Deserialize, Serialize};

/// The Levenshtein distance between `r` and `h` split into its kinds, on one optimal
/// alignment (fewest edits; among those, substitutions preferred).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edits {
    /// Reference labels replaced by another.
    pub substitutions: usize,
    /// Reference labels missing from the hypothesis.
    pub deletions: usize,
    /// Hypothesis labels not in the reference.
    pub insertions: usize,
}

impl Edits {
    /// Their number: the edit distance.
    pub fn total(&self) -> usize {
        self.substitutions + self.deletions + self.insertions
    }
}

/// The edit distance from reference `r` to hypothesis `h`, with its kinds.
pub fn align<T: PartialEq>(r: &[T], h: &[T]) -> Edits {
    // dp[j] is the best Edits for r[..i] -> h[..j]; one row kept at a time.
    let key = |e: &Edits| (e.total(), e.deletions + e.insertions);
    let mut prev: Vec<Edits> = (0..=h.len())
        .map(|j| Edits {
            insertions: j,
            ..Edits::default()
        })
        .collect();
    let mut cur = prev.clone();
    for (i, ri) in r.iter().enumerate() {
        cur[0] = Edits {
            deletions: i + 1,
            ..Edits::default()
        };
        for (j, hj) in h.iter().enumerate() {
            let mut diag = prev[j];
            if ri != hj {
                diag.substitutions += 1;
            }
            let mut del = prev[j + 1];
            del.deletions += 1;
            let mut ins = cur[j];
            ins.insertions += 1;
            cur[j + 1] = [diag, del, ins].into_iter().min_by_key(key).unwrap_or(diag);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[h.len()]
}

/// The edit distance (Levenshtein) between `r` and `h`.
pub fn edit_distance<T: PartialEq>(r: &[T], h: &[T]) -> usize {
    align(r, h).total()
}

/// Counts over a set of transcriptions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TranscriptionScore {
    /// Utterances scored.
    pub utterances: usize,
    /// Utterances transcribed exactly.
    pub correct: usize,
    /// Labels in the references.
    pub reference_labels: usize,
    /// Edits summed over utterances.
    pub edits: Edits,
}

impl TranscriptionScore {
    /// Adds one utterance.
    pub fn add<T: PartialEq>(&mut self, reference: &[T], hypothesis: &[T]) {
        let e = align(reference, hypothesis);
        self.utterances += 1;
        self.correct += usize::from(e.total() == 0);
        self.reference_labels += reference.len();
        self.edits.substitutions += e.substitutions;
        self.edits.deletions += e.deletions;
        self.edits.insertions += e.insertions;
    }

    /// Edits per reference label (0 with no labels and no edits; with no reference labels
    /// but some insertions, the insertions themselves, so that it is never hidden as 0).
    pub fn error_rate(&self) -> f64 {
        self.edits.total() as f64 / self.reference_labels.max(1) as f64
    }

    /// The fraction of utterances transcribed exactly (0 with none).
    pub fn utterance_accuracy(&self) -> f64 {
        if self.utterances == 0 {
            0.0
        } else {
            self.correct as f64 / self.utterances as f64
        }
    }
}

/// Scores hypotheses against references, pairwise.
pub fn score_transcriptions<T: PartialEq>(
    pairs: impl IntoIterator<Item = (impl AsRef<[T]>, impl AsRef<[T]>)>,
) -> TranscriptionScore {
    let mut s = TranscriptionScore::default();
    for (r, h) in pairs {
        s.add(r.as_ref(), h.as_ref());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(r: &str, h: &str) -> Edits {
        let r: Vec<char> = r.chars().collect();
        let h: Vec<char> = h.chars().collect();
        align(&r, &h)
    }

    #[test]
    fn edit_distances() {
        assert_eq!(d("", "").total(), 0);
        assert_eq!(d("123", "123").total(), 0);
        assert_eq!(d("123", "").total(), 3, "all deleted: {:?}", d("123", ""));
        assert_eq!(d("", "45").insertions, 2);
        assert_eq!(d("kitten", "sitting").total(), 3);
        assert_eq!(
            d("1234", "1334"),
            Edits {
                substitutions: 1,
                ..Default::default()
            }
        );
        assert_eq!(
            d("1234", "124"),
            Edits {
                deletions: 1,
                ..Default::default()
            }
        );
        assert_eq!(
            d("1234", "12345"),
            Edits {
                insertions: 1,
                ..Default::default()
            }
        );
        // Symmetric in total.
        assert_eq!(d("8675309", "86753").total(), d("86753", "8675309").total());
        assert_eq!(edit_distance(&[1, 2, 3], &[3, 2, 1]), 2);
    }

    #[test]
    fn rates_and_accuracy() {
        let s = score_transcriptions([
            (vec![1, 2, 3], vec![1, 2, 3]),
            (vec![4, 5], vec![4]),
            (vec![6], vec![7, 6]),
            (vec![8, 9, 0, 1], vec![8, 0, 0, 1]),
        ]);
        assert_eq!(s.utterances, 4);
        assert_eq!(s.correct, 1);
        assert_eq!(s.reference_labels, 10);
        assert_eq!(s.edits.total(), 3);
        assert!((s.error_rate() - 0.3).abs() < 1e-15);
        assert!((s.utterance_accuracy() - 0.25).abs() < 1e-15);
        let empty = TranscriptionScore::default();
        assert_eq!((empty.error_rate(), empty.utterance_accuracy()), (0.0, 0.0));
    }
}
