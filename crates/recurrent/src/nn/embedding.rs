//! A lookup table, PyTorch's `nn.Embedding`: token ids to vectors.
//!
//! Shapes: `V` vocabulary size, `E` embedding width, `N` ids looked up (e.g. `T * B`).
//! - ids [N] (each < V), weight W [V, E], y [N, E].
//!
//! Forward:  y[n, :] = W[ids[n], :]
//! Backward: dW[ids[n], :] += dy[n, :]  for every n with ids[n] != padding_idx

use crate::error::{Error, Result};
use crate::float::Float;
use crate::nn::linear::param_name;
use crate::param::{Module, Param};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// An embedding table `{prefix}.weight` [V, E], with an optional padding id whose row stays
/// zero and receives no gradient.
#[derive(Clone, Debug)]
pub struct Embedding<F> {
    /// W [V, E].
    pub weight: Param<F>,
    padding_idx: Option<usize>,
}

impl<F: Float> Embedding<F> {
    /// A table initialised as PyTorch does: every entry N(0, 1), then the padding row (if any)
    /// set to zero. Errors if `padding_idx` is not below `vocab`.
    pub fn new(
        prefix: &str,
        vocab: usize,
        dim: usize,
        padding_idx: Option<usize>,
        rng: &mut Rng,
    ) -> Result<Self> {
        if let Some(p) = padding_idx {
            if p >= vocab {
                return Err(Error::Config(format!(
                    "embedding padding index {p} is outside the vocabulary of {vocab}"
                )));
            }
        }
        let mut w = Tensor::zeros(&[vocab, dim]);
        w.data_mut()
            .iter_mut()
            .for_each(|v| *v = F::of(rng.normal()));
        if let Some(p) = padding_idx {
            w.data_mut()[p * dim..(p + 1) * dim].fill(F::zero());
        }
        Ok(Embedding {
            weight: Param::new(param_name(prefix, "weight"), w),
            padding_idx,
        })
    }

    /// V.
    pub fn vocab(&self) -> usize {
        self.weight.shape()[0]
    }
    /// E.
    pub fn dim(&self) -> usize {
        self.weight.shape()[1]
    }
    /// The id whose row gets no gradient, if any.
    pub fn padding_idx(&self) -> Option<usize> {
        self.padding_idx
    }

    /// An error naming the first id that is not below V.
    fn check_ids(&self, ids: &[usize]) -> Result<()> {
        let v = self.vocab();
        match ids.iter().position(|&id| id >= v) {
            Some(n) => Err(Error::Input(format!(
                "token id {} at position {n} is outside the vocabulary of {v} (`{}`)",
                ids[n], self.weight.name
            ))),
            None => Ok(()),
        }
    }

    /// y[n, :] = W[ids[n], :]: ids [N] -> y [N, E]. An id >= V is an error naming it.
    pub fn forward(&self, ids: &[usize]) -> Result<Vec<F>> {
        let mut y = vec![F::zero(); ids.len() * self.dim()];
        self.forward_into(ids, &mut y)?;
        Ok(y)
    }

    /// [`Embedding::forward`] into a caller-owned `y` [N, E] (overwritten).
    pub fn forward_into(&self, ids: &[usize], y: &mut [F]) -> Result<()> {
        self.check_ids(ids)?;
        let e = self.dim();
        if y.len() < ids.len() * e {
            return Err(Error::tensor(
                "embedding output",
                format!("needs {} elements, got {}", ids.len() * e, y.len()),
            ));
        }
        let w = self.weight.value.data();
        for (row, &id) in y.chunks_exact_mut(e.max(1)).zip(ids) {
            row.copy_from_slice(&w[id * e..(id + 1) * e]);
        }
        Ok(())
    }

    /// dW[ids[n], :] += dy[n, :] for every id but the padding one; dy [N, E]. Rows of repeated
    /// ids add up, as PyTorch's dense gradient does.
    pub fn backward(&mut self, ids: &[usize], dy: &[F]) -> Result<()> {
        self.check_ids(ids)?;
        let e = self.dim();
        if dy.len() != ids.len() * e {
            return Err(Error::tensor(
                "embedding gradient",
                format!(
                    "expected {} elements ([{}, {e}]), got {}",
                    ids.len() * e,
                    ids.len(),
                    dy.len()
                ),
            ));
        }
        let g = self.weight.grad.data_mut();
        for (row, &id) in dy.chunks_exact(e.max(1)).zip(ids) {
            if Some(id) == self.padding_idx {
                continue;
            }
            g[id * e..(id + 1) * e]
                .iter_mut()
                .zip(row)
                .for_each(|(a, &b)| *a += b);
        }
        Ok(())
    }
}

impl<F: Float> Module<F> for Embedding<F> {
    fn visit(&self, f: &mut dyn FnMut(&Param<F>)) {
        f(&self.weight);
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<F>)) {
        f(&mut self.weight);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck;

    #[test]
    fn lookup_and_out_of_range_id_is_an_error() {
        let mut rng = Rng::new(5);
        let emb = Embedding::<f64>::new("embed", 4, 3, None, &mut rng).unwrap();
        assert_eq!(
            emb.param_shapes(),
            vec![("embed.weight".to_string(), vec![4, 3])]
        );
        let y = emb.forward(&[2, 0, 2]).unwrap();
        let w = emb.weight.value.data();
        assert_eq!(&y[0..3], &w[6..9]);
        assert_eq!(&y[3..6], &w[0..3]);
        assert_eq!(&y[6..9], &w[6..9]);
        let err = emb.forward(&[1, 4]).unwrap_err().to_string();
        assert!(
            err.contains("token id 4") && err.contains("position 1"),
            "{err}"
        );
        assert!(Embedding::<f64>::new("e", 4, 3, Some(4), &mut rng).is_err());
    }

    #[test]
    fn init_is_standard_normal() {
        let mut rng = Rng::new(6);
        let emb = Embedding::<f64>::new("e", 200, 50, None, &mut rng).unwrap();
        let d = emb.weight.value.data();
        let mean = d.iter().sum::<f64>() / d.len() as f64;
        let var = d.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d.len() as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "mean {mean} var {var}"
        );
    }

    #[test]
    fn gradcheck_with_repeats_and_padding() {
        let mut rng = Rng::new(7);
        let mut emb = Embedding::<f64>::new("e", 5, 2, Some(1), &mut rng).unwrap();
        assert_eq!(&emb.weight.value.data()[2..4], &[0.0, 0.0]);
        let ids = [3, 1, 3, 0, 1, 4];
        let wts: Vec<f64> = (0..12).map(|k| (k as f64 - 5.5) / 4.0).collect();
        let loss = |m: &mut Embedding<f64>, back: bool| {
            let y = m.forward(&ids).unwrap();
            // sum w * y^2: non-linear, so the gradient depends on the looked-up values.
            let l = y.iter().zip(&wts).map(|(a, w)| w * a * a).sum();
            if back {
                let dy: Vec<f64> = y.iter().zip(&wts).map(|(a, w)| 2.0 * w * a).collect();
                m.backward(&ids, &dy).unwrap();
            }
            l
        };
        // The padding row's true gradient is zero only because its value is zero; move it so
        // that a gradient leaking into it would show.
        emb.weight.value.data_mut()[2] = 0.5;
        emb.zero_grad();
        loss(&mut emb, true);
        assert_eq!(
            &emb.weight.grad.data()[2..4],
            &[0.0, 0.0],
            "padding row got a gradient"
        );
        assert_eq!(
            &emb.weight.grad.data()[4..6],
            &[0.0, 0.0],
            "unused id 2 got a gradient"
        );
        emb.weight.value.data_mut()[2] = 0.0;
        let r = gradcheck::check(&mut emb, loss, 1e-6, 100);
        assert!(r.max_rel_err < 1e-7, "{r:?}");
    }
}
