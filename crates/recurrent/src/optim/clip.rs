//! Gradient clipping (Pascanu et al. 2013: the cure for exploding gradients in BPTT) and the
//! detection of NaN or infinite numbers, over every parameter of a [`Module`].

use crate::error::{Error, Result};
use crate::float::Float;
use crate::param::Module;
use std::fmt;

/// Rescales all gradients together so their global L2 norm is at most `max_norm`, as
/// `torch.nn.utils.clip_grad_norm_` does, and returns the norm before clipping:
///
///   n = sqrt(sum over all parameters and entries of g^2)   (accumulated in f64)
///   c = max_norm / (n + 1e-6);  g <- g * c  if c < 1
///
/// A non-finite norm leaves the gradients untouched and is returned as is, so the caller can
/// skip the step (PyTorch would multiply them by NaN). Errors unless `max_norm > 0`
/// (`f64::INFINITY` measures without clipping).
pub fn clip_grad_norm<F: Float>(model: &mut dyn Module<F>, max_norm: f64) -> Result<f64> {
    if max_norm.is_nan() || max_norm <= 0.0 {
        return Err(Error::Config(format!(
            "max gradient norm must be > 0, got {max_norm}"
        )));
    }
    let norm = grad_norm(model);
    scale_to_norm(model, norm, max_norm)?;
    Ok(norm)
}

/// The scaling of [`clip_grad_norm`] for gradients whose global norm `norm` the caller has
/// already measured with [`grad_norm`] (the training loop measures it once, to find a
/// non-finite gradient without a second pass over every parameter).
pub fn scale_to_norm<F: Float>(model: &mut dyn Module<F>, norm: f64, max_norm: f64) -> Result<()> {
    if max_norm.is_nan() || max_norm <= 0.0 {
        return Err(Error::Config(format!(
            "max gradient norm must be > 0, got {max_norm}"
        )));
    }
    let coef = max_norm / (norm + 1e-6);
    if norm.is_finite() && coef < 1.0 {
        let c = F::of(coef);
        model.visit_mut(&mut |p| p.grad.data_mut().iter_mut().for_each(|g| *g *= c));
    }
    Ok(())
}

/// The global L2 norm of all gradients, accumulated in f64.
pub fn grad_norm<F: Float>(model: &dyn Module<F>) -> f64 {
    let mut sq = 0.0f64;
    model.visit(&mut |p| sq += sum_squares(p.grad.data()));
    sq.sqrt()
}

/// sum x^2 in f64 over eight interleaved partial sums: one running sum is a chain of
/// dependent additions that no vector unit can shorten; eight fill the registers. The order
/// is fixed, so every run gives the same bits.
fn sum_squares<F: Float>(x: &[F]) -> f64 {
    let mut acc = [0.0f64; 8];
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v.to64() * v.to64();
        }
    }
    let tail: f64 = tail.iter().map(|v| v.to64() * v.to64()).sum();
    acc.iter().sum::<f64>() + tail
}

/// Clamps every gradient entry into [-clip, clip] (`torch.nn.utils.clip_grad_value_`); a NaN
/// stays NaN, so [`first_non_finite`] still sees it. Errors unless `clip >= 0`.
pub fn clip_grad_value<F: Float>(model: &mut dyn Module<F>, clip: f64) -> Result<()> {
    if clip.is_nan() || clip < 0.0 {
        return Err(Error::Config(format!(
            "gradient clip value must be >= 0, got {clip}"
        )));
    }
    let (hi, lo) = (F::of(clip), F::of(-clip));
    model.visit_mut(&mut |p| {
        p.grad.data_mut().iter_mut().for_each(|g| {
            if *g > hi {
                *g = hi;
            } else if *g < lo {
                *g = lo;
            }
        })
    });
    Ok(())
}

/// Where a NaN or infinity was found.
#[derive(Clone, Debug, PartialEq)]
pub struct NonFinite {
    /// The parameter's name.
    pub param: String,
    /// The flat index into it.
    pub index: usize,
    /// True if in the gradient, false if in the value.
    pub in_grad: bool,
    /// The offending number.
    pub value: f64,
}

impl fmt::Display for NonFinite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of `{}`[{}] is {}",
            if self.in_grad { "gradient" } else { "value" },
            self.param,
            self.index,
            self.value
        )
    }
}

/// The first NaN or infinity among the values, then the gradients, of `model`'s parameters
/// in visiting order (values first: a broken weight explains a broken gradient).
pub fn first_non_finite<F: Float>(model: &dyn Module<F>) -> Option<NonFinite> {
    let mut found: Option<NonFinite> = None;
    for in_grad in [false, true] {
        model.visit(&mut |p| {
            if found.is_some() {
                return;
            }
            let data = if in_grad {
                p.grad.data()
            } else {
                p.value.data()
            };
            if let Some(index) = data.iter().position(|v| !v.is_finite()) {
                found = Some(NonFinite {
                    param: p.name.clone(),
                    index,
                    in_grad,
                    value: data[index].to64(),
                });
            }
        });
        if found.is_some() {
            break;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::Linear;
    use crate::rng::Rng;

    fn model(grads: &[f64]) -> Linear<f64> {
        let mut m = Linear::<f64>::new("l", 2, 2, true, &mut Rng::new(1));
        let mut k = 0;
        m.visit_mut(&mut |p| {
            for g in p.grad.data_mut() {
                *g = grads[k];
                k += 1;
            }
        });
        m
    }
    fn grads(m: &Linear<f64>) -> Vec<f64> {
        let mut v = Vec::new();
        m.visit(&mut |p| v.extend_from_slice(p.grad.data()));
        v
    }

    #[test]
    fn norm_clipping_matches_pytorch_formula() {
        // Norm 10 over both parameters: 6^2 + 8^2.
        let mut m = model(&[6.0, 0.0, 0.0, 0.0, 0.0, 8.0]);
        let n = clip_grad_norm(&mut m, 5.0).unwrap();
        assert_eq!(n, 10.0);
        let c = 5.0 / (10.0 + 1e-6);
        assert_eq!(grads(&m), vec![6.0 * c, 0.0, 0.0, 0.0, 0.0, 8.0 * c]);
        // Below the limit: untouched, norm still reported.
        let mut m = model(&[0.3, 0.4, 0.0, 0.0, 0.0, 0.0]);
        assert!((clip_grad_norm(&mut m, 1.0).unwrap() - 0.5).abs() < 1e-16);
        assert_eq!(grads(&m)[..2], [0.3, 0.4]);
        assert!(clip_grad_norm(&mut m, 0.0).is_err());
        assert!(clip_grad_norm(&mut m, f64::NAN).is_err());
        // NaN gradients: reported, not spread.
        let mut m = model(&[f64::NAN, 1.0, 0.0, 0.0, 0.0, 0.0]);
        assert!(clip_grad_norm(&mut m, 1.0).unwrap().is_nan());
        assert_eq!(grads(&m)[1], 1.0);
    }

    #[test]
    fn value_clipping() {
        let mut m = model(&[3.0, -3.0, 0.5, -0.5, f64::NAN, 1.0]);
        clip_grad_value(&mut m, 1.0).unwrap();
        let g = grads(&m);
        assert_eq!(g[..4], [1.0, -1.0, 0.5, -0.5]);
        assert!(g[4].is_nan());
        assert_eq!(g[5], 1.0);
        assert!(clip_grad_value(&mut m, -1.0).is_err());
    }

    #[test]
    fn finds_non_finite_values_and_gradients() {
        let mut m = model(&[0.0, 0.0, 0.0, 0.0, 0.0, f64::INFINITY]);
        let nf = first_non_finite(&m).unwrap();
        assert_eq!(
            (nf.param.as_str(), nf.index, nf.in_grad),
            ("l.bias", 1, true)
        );
        assert_eq!(nf.to_string(), "gradient of `l.bias`[1] is inf");
        m.weight.value.data_mut()[3] = f64::NAN;
        let nf = first_non_finite(&m).unwrap();
        assert_eq!(
            (nf.param.as_str(), nf.index, nf.in_grad),
            ("l.weight", 3, false)
        );
        let m = model(&[0.0; 6]);
        assert_eq!(first_non_finite(&m), None);
    }
}
