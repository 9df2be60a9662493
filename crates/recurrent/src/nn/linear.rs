//! A fully connected layer, PyTorch's `nn.Linear`, applied to every row of a batch (every time
//! step of every sequence) as one matrix product.
//!
//! Shapes: `N` rows (e.g. `T * B`), `I` input features, `O` output features.
//! - x [N, I], y [N, O], weight W [O, I] (PyTorch's layout), bias b [O].
//!
//! Forward:  y = x W^T + b
//! Backward: dW += dy^T x,  db += sum_n dy[n, :],  dx = dy W

use crate::float::Float;
use crate::init;
use crate::kernels::{gemm, MatMut, MatRef};
use crate::param::{Module, Param};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// `y = x W^T + b` with parameters `{prefix}.weight` [O, I] and, optionally, `{prefix}.bias` [O].
#[derive(Clone, Debug)]
pub struct Linear<F> {
    /// W [O, I].
    pub weight: Param<F>,
    /// b [O], absent for a layer built without bias.
    pub bias: Option<Param<F>>,
    in_features: usize,
    out_features: usize,
}

/// `{prefix}.{name}`, or just `name` for an empty prefix.
pub(crate) fn param_name(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

impl<F: Float> Linear<F> {
    /// A layer initialised as PyTorch does: W and b uniform in ±1/sqrt(I) (Kaiming uniform with
    /// a = sqrt(5) reduces to that bound). Draws W first, then b, row-major.
    pub fn new(
        prefix: &str,
        in_features: usize,
        out_features: usize,
        bias: bool,
        rng: &mut Rng,
    ) -> Self {
        let bound = if in_features > 0 {
            1.0 / (in_features as f64).sqrt()
        } else {
            0.0
        };
        let mut w = Tensor::zeros(&[out_features, in_features]);
        init::uniform(w.data_mut(), bound, rng);
        let bias = bias.then(|| {
            let mut b = Tensor::zeros(&[out_features]);
            init::uniform(b.data_mut(), bound, rng);
            Param::new(param_name(prefix, "bias"), b)
        });
        Linear {
            weight: Param::new(param_name(prefix, "weight"), w),
            bias,
            in_features,
            out_features,
        }
    }

    /// I.
    pub fn in_features(&self) -> usize {
        self.in_features
    }
    /// O.
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// y = x W^T + b for `n` rows: x [N, I] -> y [N, O].
    ///
    /// # Panics
    /// If `x` holds fewer than `n * I` elements (a bug in the calling model, not user input).
    pub fn forward(&self, x: &[F], n: usize) -> Vec<F> {
        let mut y = vec![F::zero(); n * self.out_features];
        self.forward_into(x, n, &mut y);
        y
    }

    /// [`Linear::forward`] into a caller-owned `y` [N, O] (overwritten), for loops that must
    /// not allocate.
    ///
    /// # Panics
    /// If `x` or `y` is shorter than its shape.
    pub fn forward_into(&self, x: &[F], n: usize, y: &mut [F]) {
        let (i, o) = (self.in_features, self.out_features);
        // y = x W^T + b: start every row at b and let the product accumulate onto it.
        let beta = match &self.bias {
            Some(b) => {
                y[..n * o]
                    .chunks_exact_mut(o.max(1))
                    .for_each(|row| row.copy_from_slice(b.value.data()));
                F::one()
            }
            None => F::zero(),
        };
        let w = MatRef::new(self.weight.value.data(), o, i);
        gemm(
            F::one(),
            MatRef::new(x, n, i),
            w.t(),
            beta,
            MatMut::new(y, n, o),
        );
    }

    /// Backward for `n` rows: accumulates dW += dy^T x and db += column sums of dy, and returns
    /// dx = dy W [N, I]. `x` is the forward input [N, I], `dy` the gradient of y [N, O].
    ///
    /// # Panics
    /// If `x` or `dy` is shorter than its shape.
    pub fn backward(&mut self, x: &[F], dy: &[F], n: usize) -> Vec<F> {
        let mut dx = vec![F::zero(); n * self.in_features];
        self.backward_into(x, dy, n, Some(&mut dx));
        dx
    }

    /// [`Linear::backward`] writing dx into a caller-owned buffer [N, I] (overwritten), or
    /// skipping it (`None`) when the input needs no gradient.
    ///
    /// # Panics
    /// If a slice is shorter than its shape.
    pub fn backward_into(&mut self, x: &[F], dy: &[F], n: usize, dx: Option<&mut [F]>) {
        let (i, o) = (self.in_features, self.out_features);
        let dy_m = MatRef::new(dy, n, o);
        // dW [O, I] += dy^T [O, N] x [N, I]
        gemm(
            F::one(),
            dy_m.t(),
            MatRef::new(x, n, i),
            F::one(),
            MatMut::new(self.weight.grad.data_mut(), o, i),
        );
        // db [O] += sum over rows of dy
        if let Some(b) = &mut self.bias {
            let db = b.grad.data_mut();
            for row in dy[..n * o].chunks_exact(o.max(1)) {
                db.iter_mut().zip(row).for_each(|(g, &d)| *g += d);
            }
        }
        // dx [N, I] = dy [N, O] W [O, I]
        if let Some(dx) = dx {
            let w = MatRef::new(self.weight.value.data(), o, i);
            gemm(F::one(), dy_m, w, F::zero(), MatMut::new(dx, n, i));
        }
    }
}

impl<F: Float> Module<F> for Linear<F> {
    fn visit(&self, f: &mut dyn FnMut(&Param<F>)) {
        f(&self.weight);
        if let Some(b) = &self.bias {
            f(b);
        }
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<F>)) {
        f(&mut self.weight);
        if let Some(b) = &mut self.bias {
            f(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck;

    /// A loss that weights every output differently, so a wrong index cannot cancel out.
    /// The weights are positive so no gradient is zero by accident (the checker would judge
    /// it on absolute error, where the finite difference's round-off dominates).
    fn weighted_sum(y: &[f64]) -> (f64, Vec<f64>) {
        let w: Vec<f64> = (0..y.len())
            .map(|k| 0.2 + (k * 7 % 11) as f64 / 3.0)
            .collect();
        (y.iter().zip(&w).map(|(a, b)| a * b).sum(), w)
    }

    #[test]
    fn names_shapes_and_pytorch_init_bound() {
        let mut rng = Rng::new(1);
        let l = Linear::<f64>::new("head", 16, 5, true, &mut rng);
        assert_eq!(
            l.param_shapes(),
            vec![
                ("head.weight".to_string(), vec![5, 16]),
                ("head.bias".to_string(), vec![5])
            ]
        );
        let bound = 0.25;
        assert!(l.weight.value.max_abs() <= bound);
        assert!(
            l.weight.value.max_abs() > 0.8 * bound,
            "draws should fill the range"
        );
        let l = Linear::<f32>::new("", 3, 2, false, &mut rng);
        assert_eq!(l.param_shapes(), vec![("weight".to_string(), vec![2, 3])]);
    }

    #[test]
    fn forward_matches_explicit_sum() {
        let mut rng = Rng::new(2);
        let l = Linear::<f64>::new("l", 3, 4, true, &mut rng);
        let x: Vec<f64> = (0..6).map(|k| k as f64 * 0.3 - 0.7).collect();
        let y = l.forward(&x, 2);
        for n in 0..2 {
            for o in 0..4 {
                let mut want = l.bias.as_ref().unwrap().value.data()[o];
                for i in 0..3 {
                    want += x[n * 3 + i] * l.weight.value.data()[o * 3 + i];
                }
                assert!((y[n * 4 + o] - want).abs() < 1e-14);
            }
        }
    }

    #[test]
    fn gradcheck_weights_bias_and_input() {
        for bias in [true, false] {
            let mut rng = Rng::new(3);
            let mut l = Linear::<f64>::new("l", 4, 3, bias, &mut rng);
            let x: Vec<f64> = (0..20).map(|_| rng.normal()).collect();
            let r = gradcheck::check(
                &mut l,
                |m, back| {
                    let y = m.forward(&x, 5);
                    let (loss, dy) = weighted_sum(&y);
                    if back {
                        m.backward(&x, &dy, 5);
                    }
                    loss
                },
                1e-6,
                100,
            );
            assert!(r.max_rel_err < 1e-7, "{r:?}");
            assert_eq!(r.checked, 12 + if bias { 3 } else { 0 });

            // dx against finite differences on the input.
            let y = l.forward(&x, 5);
            let (_, dy) = weighted_sum(&y);
            let dx = l.clone().backward(&x, &dy, 5);
            for k in 0..x.len() {
                let mut xp = x.clone();
                xp[k] += 1e-6;
                let mut xm = x.clone();
                xm[k] -= 1e-6;
                let num = (weighted_sum(&l.forward(&xp, 5)).0 - weighted_sum(&l.forward(&xm, 5)).0)
                    / 2e-6;
                assert!((num - dx[k]).abs() < 1e-7, "dx[{k}] {} vs {num}", dx[k]);
            }
        }
    }

    #[test]
    fn backward_accumulates() {
        let mut rng = Rng::new(4);
        let mut l = Linear::<f64>::new("l", 2, 2, true, &mut rng);
        let x = [1.0, 2.0, 3.0, 4.0];
        let dy = [1.0, -1.0, 0.5, 2.0];
        l.backward_into(&x, &dy, 2, None);
        let once = l.weight.grad.clone();
        l.backward_into(&x, &dy, 2, None);
        let twice: Vec<f64> = once.data().iter().map(|g| 2.0 * g).collect();
        assert_eq!(l.weight.grad.data(), &twice[..]);
        assert_eq!(l.bias.as_ref().unwrap().grad.data(), &[3.0, 2.0]);
    }
}
