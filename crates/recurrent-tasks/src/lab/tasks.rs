//! The classic long-range tasks, the benchmarks of vanishing and exploding gradients:
//! generated from a seed (adding, copy memory) or read from a file (sequential digits).
//! Every batch is time-major, as the models read it.
//!
//! - **Adding problem** (Hochreiter and Schmidhuber 1997; the form of Le, Jaitly and Hinton
//!   2015): T steps of two channels, a value v_t ~ U(0, 1) and a marker m_t in {0, 1} that is 1
//!   at exactly two steps, one drawn in [0, T/2) and one in [T/2, T). The target is
//!   y = sum_t m_t v_t. The trivial predictor always answers E[y] = 1, and its MSE is
//!   Var(v_a + v_b) = 2 * 1/12 = 1/6 ~ 0.167 ([`ADDING_BASELINE_MSE`]).
//! - **Copy memory** (Arjovsky, Shah and Bengio 2016): T + 20 steps of symbols in 0..10:
//!   10 symbols drawn from 1..=8, then T - 1 blanks (0), the delimiter 9, then 10 blanks. The
//!   target at each step: blank for the first T + 10 steps, then the 10 symbols in order.
//!   The trivial predictor (blank for T + 10 steps, then uniform over the 8 symbols) has
//!   cross-entropy 10 ln 8 / (T + 20) per step ([`copy_baseline_ce`]).
//! - **Sequential digits**: the 8x8 images of ../shared/data/digits read pixel by pixel, a
//!   64-step sequence of one input (pixel / 16) and one label (many-to-one classification).

use recurrent::error::{Error, Result};
use recurrent::rng::Rng;
use std::path::Path;

/// The trivial predictor's MSE on the adding problem: Var(U(0,1) + U(0,1)) = 1/6.
pub const ADDING_BASELINE_MSE: f64 = 1.0 / 6.0;

/// Symbols the copy task asks to remember.
pub const COPY_SYMBOLS: usize = 10;
/// Input categories of the copy task: blank 0, symbols 1..=8, delimiter 9.
pub const COPY_VOCAB: usize = 10;
/// Output classes of the copy task: blank 0 and symbols 1..=8 (the delimiter is never a target).
pub const COPY_CLASSES: usize = 9;
/// The copy task's delimiter ("now repeat").
pub const COPY_DELIMITER: usize = 9;

/// The trivial predictor's cross-entropy per step on the copy task with delay `t`:
/// 10 ln 8 / (T + 20). It predicts the T + 10 blanks with certainty (loss 0) and the 10
/// recalled symbols uniformly over 8 (loss ln 8 each).
pub fn copy_baseline_ce(t: usize) -> f64 {
    COPY_SYMBOLS as f64 * 8f64.ln() / (t + 2 * COPY_SYMBOLS) as f64
}

/// A batch of the adding problem.
#[derive(Clone, Debug, PartialEq)]
pub struct AddingBatch {
    /// [T, B, 2] time-major: (value, marker).
    pub x: Vec<f32>,
    /// [B] the sums of the two marked values.
    pub y: Vec<f32>,
    /// T.
    pub t: usize,
    /// B.
    pub b: usize,
}

/// `b` sequences of the adding problem of length `t` (at least 2), drawn from `rng`.
pub fn adding(t: usize, b: usize, rng: &mut Rng) -> Result<AddingBatch> {
    if t < 2 || b == 0 {
        return Err(Error::Config(format!(
            "the adding problem needs length >= 2 and batch >= 1, got length {t}, batch {b}"
        )));
    }
    let mut x = vec![0f32; t * b * 2];
    let mut y = vec![0f32; b];
    let half = t / 2;
    // Per sequence: T values, then the two marker positions, so a sequence's content does
    // not depend on the batch size it was drawn in.
    for (bi, yb) in y.iter_mut().enumerate() {
        for ti in 0..t {
            x[(ti * b + bi) * 2] = rng.uniform() as f32;
        }
        let first = rng.below(half);
        let second = half + rng.below(t - half);
        for m in [first, second] {
            x[(m * b + bi) * 2 + 1] = 1.0;
            *yb += x[(m * b + bi) * 2];
        }
    }
    Ok(AddingBatch { x, y, t, b })
}

/// A batch of the copy-memory task.
#[derive(Clone, Debug, PartialEq)]
pub struct CopyBatch {
    /// [T + 20, B] input symbols (0 blank, 1..=8, 9 delimiter), time-major.
    pub x: Vec<u32>,
    /// [T + 20, B] target classes (0 blank, 1..=8), time-major.
    pub y: Vec<u32>,
    /// The delay T.
    pub delay: usize,
    /// Steps per sequence, T + 20.
    pub steps: usize,
    /// B.
    pub b: usize,
}

impl CopyBatch {
    /// The inputs one-hot, [steps, B, 10], the dense form the long-range models read.
    pub fn one_hot(&self) -> Vec<f32> {
        let mut v = vec![0f32; self.x.len() * COPY_VOCAB];
        for (i, &s) in self.x.iter().enumerate() {
            v[i * COPY_VOCAB + s as usize] = 1.0;
        }
        v
    }
}

/// `b` copy-memory sequences with delay `delay` (at least 1), drawn from `rng`.
pub fn copy_memory(delay: usize, b: usize, rng: &mut Rng) -> Result<CopyBatch> {
    if delay == 0 || b == 0 {
        return Err(Error::Config(format!(
            "the copy task needs delay >= 1 and batch >= 1, got delay {delay}, batch {b}"
        )));
    }
    let n = COPY_SYMBOLS;
    let steps = delay + 2 * n;
    let mut x = vec![0u32; steps * b];
    let mut y = vec![0u32; steps * b];
    for bi in 0..b {
        for i in 0..n {
            let s = 1 + rng.below(8) as u32;
            x[i * b + bi] = s;
            y[(delay + n + i) * b + bi] = s;
        }
        // The delimiter sits T - 1 blanks after the symbols: step 10 + T - 1.
        x[(n + delay - 1) * b + bi] = COPY_DELIMITER as u32;
    }
    Ok(CopyBatch {
        x,
        y,
        delay,
        steps,
        b,
    })
}

/// The sequential-digits data: images as 64-step sequences, and their labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Digits {
    /// [N, 64] pixel values scaled to [0, 1] (pixel / 16), row-major images.
    pub pixels: Vec<f32>,
    /// [N] labels 0..=9.
    pub labels: Vec<u8>,
}

/// Steps of a sequential digit (8 x 8 pixels).
pub const DIGIT_STEPS: usize = 64;

impl Digits {
    /// N.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// The images `idx` as a time-major batch [64, B, 1] and their labels.
    pub fn batch(&self, idx: &[usize]) -> (Vec<f32>, Vec<usize>) {
        let b = idx.len();
        let mut x = vec![0f32; DIGIT_STEPS * b];
        for (bi, &i) in idx.iter().enumerate() {
            for t in 0..DIGIT_STEPS {
                x[t * b + bi] = self.pixels[i * DIGIT_STEPS + t];
            }
        }
        (x, idx.iter().map(|&i| self.labels[i] as usize).collect())
    }

    /// A seeded, stratified split: in each class, a shuffled `test_frac` of its images
    /// (rounded) goes to the test part. Returns (train indices, test indices), each sorted.
    pub fn split(&self, test_frac: f64, seed: u64) -> Result<(Vec<usize>, Vec<usize>)> {
        if !(0.0..1.0).contains(&test_frac) {
            return Err(Error::Config(format!(
                "the test fraction must be in [0, 1), got {test_frac}"
            )));
        }
        let mut rng = Rng::new(seed).fork("digits-split");
        let (mut train, mut test) = (Vec::new(), Vec::new());
        for class in 0..10u8 {
            let mut idx: Vec<usize> = (0..self.len())
                .filter(|&i| self.labels[i] == class)
                .collect();
            rng.shuffle(&mut idx);
            let k = (idx.len() as f64 * test_frac).round() as usize;
            test.extend_from_slice(&idx[..k]);
            train.extend_from_slice(&idx[k..]);
        }
        train.sort_unstable();
        test.sort_unstable();
        Ok((train, test))
    }
}

/// Reads ../shared/data/digits/digits.csv: one image per line, 64 pixels (0..=16) then the
/// label (0..=9), comma-separated. Errors name the file, line and column.
pub fn read_digits(path: &Path) -> Result<Digits> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_digits(&text, path)
}

/// [`read_digits`] on text already read (`path` names it in errors).
pub fn parse_digits(text: &str, path: &Path) -> Result<Digits> {
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for (ln, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let mut count = 0;
        let mut col = 1;
        for field in line.split(',') {
            let at = |msg: String| {
                Error::format(
                    path,
                    format!(
                        "line {}, column {col}: {msg}; each line must hold 64 pixels (0..16) and a label (0..9), comma-separated",
                        ln + 1
                    ),
                )
            };
            let v: u32 = field
                .trim()
                .parse()
                .map_err(|_| at(format!("`{}` is not a whole number", field.trim())))?;
            if count < DIGIT_STEPS {
                if v > 16 {
                    return Err(at(format!("pixel value {v} is outside 0..16")));
                }
                pixels.push(v as f32 / 16.0);
            } else if count == DIGIT_STEPS {
                if v > 9 {
                    return Err(at(format!("label {v} is outside 0..9")));
                }
                labels.push(v as u8);
            } else {
                return Err(at("more than 65 fields".into()));
            }
            count += 1;
            col += field.len() + 1;
        }
        if count != DIGIT_STEPS + 1 {
            return Err(Error::format(
                path,
                format!(
                    "line {}: {count} fields, expected 65 (64 pixels and a label)",
                    ln + 1
                ),
            ));
        }
    }
    if labels.is_empty() {
        return Err(Error::format(path, "no images in the file"));
    }
    Ok(Digits { pixels, labels })
}

#[cfg(test)]
mod tests {
    use super::*;
    use recurrent::nn::CrossEntropy;

    #[test]
    fn adding_is_deterministic_and_well_formed() {
        let a = adding(50, 8, &mut Rng::new(7)).unwrap();
        let b = adding(50, 8, &mut Rng::new(7)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, adding(50, 8, &mut Rng::new(8)).unwrap());
        for bi in 0..8 {
            let marks: Vec<usize> = (0..50)
                .filter(|&t| a.x[(t * 8 + bi) * 2 + 1] == 1.0)
                .collect();
            assert_eq!(marks.len(), 2);
            assert!(marks[0] < 25 && marks[1] >= 25);
            let sum: f32 = marks.iter().map(|&t| a.x[(t * 8 + bi) * 2]).sum();
            assert_eq!(sum, a.y[bi]);
        }
    }

    #[test]
    fn adding_trivial_baseline_is_one_sixth() {
        let n = 40_000;
        let a = adding(10, n, &mut Rng::new(1)).unwrap();
        let mse: f64 = a.y.iter().map(|&y| (y as f64 - 1.0).powi(2)).sum::<f64>() / n as f64;
        // Standard error of the estimate: sqrt(Var((y-1)^2) / n) ~ 0.001.
        assert!((mse - ADDING_BASELINE_MSE).abs() < 0.005, "mse {mse}");
        let mean: f64 = a.y.iter().map(|&y| y as f64).sum::<f64>() / n as f64;
        assert!((mean - 1.0).abs() < 0.01, "mean {mean}");
    }

    #[test]
    fn copy_is_deterministic_and_its_baseline_matches_the_formula() {
        let (delay, b) = (30, 16);
        let c = copy_memory(delay, b, &mut Rng::new(3)).unwrap();
        assert_eq!(c, copy_memory(delay, b, &mut Rng::new(3)).unwrap());
        assert_eq!(c.steps, delay + 20);
        for bi in 0..b {
            for i in 0..10 {
                assert_eq!(c.x[i * b + bi], c.y[(delay + 10 + i) * b + bi]);
                assert!((1..=8).contains(&c.x[i * b + bi]));
            }
            assert_eq!(c.x[(10 + delay - 1) * b + bi], COPY_DELIMITER as u32);
        }
        // The trivial predictor's logits: blank for T + 10 steps, uniform over 1..=8 after.
        let steps = c.steps;
        let mut logits = vec![0f64; steps * b * COPY_CLASSES];
        for t in 0..steps {
            for bi in 0..b {
                let row = &mut logits[(t * b + bi) * COPY_CLASSES..][..COPY_CLASSES];
                if t < delay + 10 {
                    row.iter_mut().skip(1).for_each(|v| *v = -1e4);
                } else {
                    row[0] = -1e4;
                }
            }
        }
        let targets: Vec<usize> = c.y.iter().map(|&v| v as usize).collect();
        let (ce, _) = CrossEntropy::new()
            .loss(&logits, COPY_CLASSES, &targets, None)
            .unwrap();
        assert!((ce - copy_baseline_ce(delay)).abs() < 1e-9, "{ce}");
        assert!((copy_baseline_ce(100) - 10.0 * 8f64.ln() / 120.0).abs() < 1e-15);
    }

    #[test]
    fn digits_parse_split_and_errors() {
        let row = |label: u32| {
            let mut v: Vec<String> = (0..64).map(|i| (i % 17).to_string()).collect();
            v.push(label.to_string());
            v.join(",")
        };
        let text: String = (0..50).map(|i| row(i % 10) + "\n").collect();
        let d = parse_digits(&text, Path::new("d.csv")).unwrap();
        assert_eq!(d.len(), 50);
        assert_eq!(d.pixels[16], 1.0);
        let (tr, te) = d.split(0.2, 0).unwrap();
        assert_eq!((tr.len(), te.len()), (40, 10));
        assert_eq!(d.split(0.2, 0).unwrap(), (tr.clone(), te.clone()));
        // Stratified: one test image per class.
        let mut classes: Vec<u8> = te.iter().map(|&i| d.labels[i]).collect();
        classes.sort_unstable();
        assert_eq!(classes, (0..10).collect::<Vec<u8>>());
        let (x, y) = d.batch(&[0, 1]);
        assert_eq!(x.len(), 128);
        assert_eq!(x[2 * 2 + 1], d.pixels[64 + 2]);
        assert_eq!(y, vec![0, 1]);

        let bad = row(3).replace(",5,", ",x5,");
        let e = parse_digits(&bad, Path::new("d.csv"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("d.csv") && e.contains("line 1, column 11") && e.contains("x5"),
            "{e}"
        );
        let e = parse_digits("1,2,3\n", Path::new("d.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("3 fields"), "{e}");
        let e = parse_digits(&row(12), Path::new("d.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("label 12"), "{e}");
    }
}
