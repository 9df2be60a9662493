//! Initialisation: PyTorch's default, and the cures for vanishing and exploding gradients
//! the literature settled on (orthogonal or identity recurrent weights, forget-gate bias 1,
//! Glorot input weights). Seeded and reproducible.

use crate::error::{Error, Result};
use crate::float::Float;
use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// How the recurrent weights `weight_hh` start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecurrentInit {
    /// PyTorch's: uniform in ±1/sqrt(H).
    #[default]
    Uniform,
    /// Each gate's [H, H_out] block a random orthogonal matrix (Saxe et al. 2014): every
    /// singular value is 1, so gradients neither shrink nor grow through W_hh at the start.
    Orthogonal,
    /// Each gate's block the identity (Le, Jaitly and Hinton 2015, IRNN; for ReLU RNNs).
    Identity,
}

/// How the input weights `weight_ih` start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputInit {
    /// PyTorch's: uniform in ±1/sqrt(H).
    #[default]
    Uniform,
    /// Glorot (Xavier) uniform per gate block: ±sqrt(6 / (fan_in + fan_out)).
    Glorot,
}

/// The initialisation of a recurrent layer. `Default` is exactly PyTorch's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Init {
    pub recurrent: RecurrentInit,
    pub input: InputInit,
    /// LSTM: set the forget gate's total bias (b_ih + b_hh) to this value (Gers et al. 2000,
    /// Jozefowicz et al. 2015 recommend 1) so the cell remembers from the start.
    pub forget_bias: Option<f64>,
}

impl Init {
    /// PyTorch's default.
    pub fn pytorch() -> Self {
        Init::default()
    }
    /// The recommended cure set: orthogonal W_hh, Glorot W_ih, forget bias 1.
    pub fn recommended() -> Self {
        Init {
            recurrent: RecurrentInit::Orthogonal,
            input: InputInit::Glorot,
            forget_bias: Some(1.0),
        }
    }
    /// IRNN: identity W_hh, zero biases (applied by the layer for `irnn`).
    pub fn irnn() -> Self {
        Init {
            recurrent: RecurrentInit::Identity,
            input: InputInit::Uniform,
            forget_bias: None,
        }
    }
}

impl FromStr for Init {
    type Err = Error;
    /// `pytorch` | `orthogonal` | `identity` | `recommended`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pytorch" | "default" | "uniform" => Ok(Init::pytorch()),
            "orthogonal" => Ok(Init {
                recurrent: RecurrentInit::Orthogonal,
                ..Init::default()
            }),
            "identity" | "irnn" => Ok(Init::irnn()),
            "recommended" | "orthogonal-glorot" => Ok(Init::recommended()),
            other => Err(Error::Config(format!(
                "unknown init `{other}`: use pytorch, orthogonal, identity or recommended"
            ))),
        }
    }
}

/// Fills `w` with U(-a, a).
pub fn uniform<F: Float>(w: &mut [F], a: f64, rng: &mut Rng) {
    w.iter_mut().for_each(|v| *v = F::of(rng.uniform_in(-a, a)));
}

/// Fills the row-major [rows, cols] block `w` with a random matrix with orthonormal rows
/// (or columns, whichever are fewer): Gram-Schmidt on a Gaussian matrix, in f64.
pub fn orthogonal<F: Float>(w: &mut [F], rows: usize, cols: usize, rng: &mut Rng) {
    // Orthonormalise the shorter side's vectors of length `len`.
    let (count, len, transpose) = if rows <= cols {
        (rows, cols, false)
    } else {
        (cols, rows, true)
    };
    let mut q: Vec<Vec<f64>> = Vec::with_capacity(count);
    while q.len() < count {
        let mut v: Vec<f64> = (0..len).map(|_| rng.normal()).collect();
        for _ in 0..2 {
            // Twice: re-orthogonalisation keeps round-off from accumulating.
            for u in &q {
                let d: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(u).for_each(|(a, b)| *a -= d * b);
            }
        }
        let n = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if n > 1e-6 {
            q.push(v.into_iter().map(|a| a / n).collect());
        }
    }
    for (i, u) in q.iter().enumerate() {
        for (j, &val) in u.iter().enumerate() {
            let idx = if transpose {
                j * cols + i
            } else {
                i * cols + j
            };
            w[idx] = F::of(val);
        }
    }
}

/// Identity on the leading square of the [rows, cols] block (zeros elsewhere).
pub fn identity<F: Float>(w: &mut [F], rows: usize, cols: usize) {
    w.iter_mut().for_each(|v| *v = F::zero());
    for i in 0..rows.min(cols) {
        w[i * cols + i] = F::one();
    }
}
