//! Classification metrics: accuracy, macro-averaged F1 and the confusion matrix.
//!
//! For K classes and the confusion matrix C (rows: true class, columns: predicted):
//! - accuracy = sum_k C[k][k] / sum C
//! - precision_k = C[k][k] / sum_i C[i][k],  recall_k = C[k][k] / sum_j C[k][j]
//! - F1_k = 2 P_k R_k / (P_k + R_k) (0 where P_k + R_k = 0, as scikit-learn reports it)
//! - macro-F1 = (1/K) sum_k F1_k over every class of the label set

use serde::{Deserialize, Serialize};

/// Scores of a set of predictions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Items scored.
    pub n: usize,
    /// Mean cross-entropy (nats).
    pub loss: f64,
    /// Fraction predicted right.
    pub accuracy: f64,
    /// Mean over classes of F1.
    pub macro_f1: f64,
    /// The class names, in the confusion matrix's order.
    pub labels: Vec<String>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<u64>>,
}

/// Counts `(true, predicted)` pairs into a K x K matrix (pairs outside K are ignored).
pub fn confusion(pairs: impl IntoIterator<Item = (usize, usize)>, k: usize) -> Vec<Vec<u64>> {
    let mut c = vec![vec![0u64; k]; k];
    for (t, p) in pairs {
        if t < k && p < k {
            c[t][p] += 1;
        }
    }
    c
}

/// Accuracy and macro-F1 of a confusion matrix.
pub fn scores(c: &[Vec<u64>]) -> (f64, f64) {
    let k = c.len();
    let total: u64 = c.iter().flatten().sum();
    let correct: u64 = (0..k).map(|i| c[i][i]).sum();
    let mut f1_sum = 0.0;
    for (i, row) in c.iter().enumerate() {
        let tp = row[i] as f64;
        let predicted: u64 = c.iter().map(|r| r[i]).sum();
        let actual: u64 = row.iter().sum();
        let p = if predicted > 0 {
            tp / predicted as f64
        } else {
            0.0
        };
        let r = if actual > 0 { tp / actual as f64 } else { 0.0 };
        f1_sum += if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
    }
    let acc = if total > 0 {
        correct as f64 / total as f64
    } else {
        0.0
    };
    (acc, if k > 0 { f1_sum / k as f64 } else { 0.0 })
}

impl ClassMetrics {
    /// From a confusion matrix and the summed loss over its items.
    pub fn new(labels: Vec<String>, confusion: Vec<Vec<u64>>, loss_sum: f64) -> Self {
        let n = confusion.iter().flatten().sum::<u64>() as usize;
        let (accuracy, macro_f1) = scores(&confusion);
        ClassMetrics {
            n,
            loss: loss_sum / n.max(1) as f64,
            accuracy,
            macro_f1,
            labels,
            confusion,
        }
    }

    /// The confusion matrix as aligned text (rows true, columns predicted).
    pub fn confusion_table(&self) -> String {
        let w = self
            .labels
            .iter()
            .map(|l| l.chars().count())
            .chain(self.confusion.iter().flatten().map(|v| v.to_string().len()))
            .max()
            .unwrap_or(1)
            .max(4);
        let mut s = format!("{:>w$}", "true\\pred");
        for l in &self.labels {
            s.push_str(&format!(" {l:>w$}"));
        }
        s.push('\n');
        for (l, row) in self.labels.iter().zip(&self.confusion) {
            s.push_str(&format!("{l:>w$}", w = w.max(9)));
            for v in row {
                s.push_str(&format!(" {v:>w$}"));
            }
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hand_computed_scores() {
        // true 0: 3 right, 1 called 1; true 1: 2 right, 2 called 0; true 2: never predicted.
        let c = confusion(
            [
                (0, 0),
                (0, 0),
                (0, 0),
                (0, 1),
                (1, 1),
                (1, 1),
                (1, 0),
                (1, 0),
                (2, 0),
            ],
            3,
        );
        assert_eq!(c, vec![vec![3, 1, 0], vec![2, 2, 0], vec![1, 0, 0]]);
        let (acc, f1) = scores(&c);
        assert!((acc - 5.0 / 9.0).abs() < 1e-12);
        // P0 = 3/6, R0 = 3/4 -> F1 0.6; P1 = 2/3, R1 = 2/4 -> 4/7; F1_2 = 0.
        assert!((f1 - (0.6 + 4.0 / 7.0) / 3.0).abs() < 1e-12);
    }
}
