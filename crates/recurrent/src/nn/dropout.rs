//! Inverted dropout (Srivastava et al. 2014, as PyTorch's `nn.Dropout` applies it): in
//! training each element is zeroed with probability p and the survivors are scaled by
//! 1/(1-p), so evaluation needs no rescaling.
//!
//! Shapes: any; x, y, mask and their gradients all have the same length N.
//!
//! Forward:  m_k = [u_k >= p] / (1 - p)  (u_k uniform in [0, 1) from the seeded stream),
//!           y = x * m
//! Backward: dx = dy * m

use crate::error::{Error, Result};
use crate::float::Float;
use crate::rng::Rng;

/// A fresh inverted-dropout mask of `n` elements: each 0 with probability `p`, else
/// 1/(1 - p). What the recurrent layer and the task models apply between layers; the
/// [`Dropout`] block draws its masks by the same rule.
pub fn dropout_mask<F: Float>(n: usize, p: f64, rng: &mut Rng) -> Vec<F> {
    mask_values(n, p, rng).collect()
}

/// A locked (variational) mask over a time-major `[T, B, W]` buffer (Gal & Ghahramani
/// 2016; the "locked dropout" of AWD-LSTM): one mask of `[B, W]` drawn by the rule of
/// [`dropout_mask`], the same at every step, so a unit dropped from a sequence stays dropped
/// for all of it. Returned at full length so that it applies as any other mask:
///   m_{t,b,k} = m_{b,k}
pub fn locked_mask<F: Float>(t: usize, b: usize, w: usize, p: f64, rng: &mut Rng) -> Vec<F> {
    let one: Vec<F> = dropout_mask(b * w, p, rng);
    let mut all = Vec::with_capacity(t * b * w);
    for _ in 0..t {
        all.extend_from_slice(&one);
    }
    all
}

/// A mask for a time-major `[T, B, W]` buffer: [`locked_mask`] (one mask for every step)
/// when `locked`, else a fresh draw per element.
pub fn sequence_mask<F: Float>(
    t: usize,
    b: usize,
    w: usize,
    p: f64,
    locked: bool,
    rng: &mut Rng,
) -> Vec<F> {
    if locked {
        locked_mask(t, b, w, p, rng)
    } else {
        dropout_mask(t * b * w, p, rng)
    }
}

/// x *= m element by element: a mask's forward on the values, and its backward on their
/// gradient (dx = dy * m).
pub fn apply<F: Float>(x: &mut [F], mask: &[F]) {
    x.iter_mut().zip(mask).for_each(|(v, &m)| *v *= m);
}

/// The one mask rule: one uniform draw per element, in order.
fn mask_values<F: Float>(n: usize, p: f64, rng: &mut Rng) -> impl Iterator<Item = F> + '_ {
    let keep = F::of(1.0 / (1.0 - p));
    (0..n).map(move |_| if rng.uniform() < p { F::zero() } else { keep })
}

/// Dropout with probability `p` in [0, 1). Holds no parameters; the mask is the cache.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    p: f64,
}

impl Dropout {
    /// Errors unless 0 <= p < 1.
    pub fn new(p: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::Config(format!("dropout must be in [0, 1), got {p}")));
        }
        Ok(Dropout { p })
    }
    /// p.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// Draws a fresh mask of `n` elements into `mask` (resized, reusing its allocation): each
    /// 0 with probability p, else 1/(1-p). One uniform draw per element, in order, the same
    /// rule as the recurrent layer's inter-layer dropout.
    pub fn draw_mask<F: Float>(&self, n: usize, rng: &mut Rng, mask: &mut Vec<F>) {
        mask.clear();
        mask.extend(mask_values::<F>(n, self.p, rng));
    }

    /// Training forward in place: draws the mask into `mask` and applies y = x * m to `x`.
    /// With p = 0 the stream is not advanced and the mask is all ones.
    pub fn forward_train<F: Float>(&self, x: &mut [F], rng: &mut Rng, mask: &mut Vec<F>) {
        if self.p == 0.0 {
            mask.clear();
            mask.resize(x.len(), F::one());
            return;
        }
        self.draw_mask(x.len(), rng, mask);
        apply(x, mask);
    }

    /// Backward in place: dx = dy * m, with the mask of the forward pass.
    ///
    /// # Panics
    /// If `mask` is shorter than `dy` (it did not come from this forward pass).
    pub fn backward<F: Float>(&self, dy: &mut [F], mask: &[F]) {
        assert!(
            mask.len() >= dy.len(),
            "dropout mask shorter than its gradient"
        );
        apply(dy, mask);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_p() {
        assert!(Dropout::new(1.0).is_err());
        assert!(Dropout::new(-0.1).is_err());
        assert!(Dropout::new(f64::NAN).is_err());
        assert!(Dropout::new(0.0).is_ok());
    }

    #[test]
    fn keeps_the_expectation_and_rate() {
        let d = Dropout::new(0.3).unwrap();
        let mut rng = Rng::new(8);
        let mut x = vec![2.0f64; 20_000];
        let mut mask = Vec::new();
        d.forward_train(&mut x, &mut rng, &mut mask);
        let dropped = mask.iter().filter(|&&m| m == 0.0).count() as f64 / 20_000.0;
        let mean = x.iter().sum::<f64>() / 20_000.0;
        assert!((dropped - 0.3).abs() < 0.015, "dropped {dropped}");
        assert!((mean - 2.0).abs() < 0.05, "mean {mean}");
        assert!(x.iter().all(|&v| v == 0.0 || (v - 2.0 / 0.7).abs() < 1e-12));
    }

    #[test]
    fn same_seed_same_mask_and_matches_layer_rule() {
        let d = Dropout::new(0.5).unwrap();
        let (mut a, mut b) = (Vec::<f32>::new(), Vec::<f32>::new());
        d.draw_mask(64, &mut Rng::new(9), &mut a);
        d.draw_mask(64, &mut Rng::new(9), &mut b);
        assert_eq!(a, b);
        let layer: Vec<f32> = dropout_mask(64, 0.5, &mut Rng::new(9));
        assert_eq!(a, layer);
    }

    #[test]
    fn a_locked_mask_is_one_mask_for_every_step() {
        let (t, b, w) = (5, 3, 40);
        let m: Vec<f64> = locked_mask(t, b, w, 0.5, &mut Rng::new(4));
        assert_eq!(m.len(), t * b * w);
        let first: Vec<f64> = dropout_mask(b * w, 0.5, &mut Rng::new(4));
        for step in m.chunks_exact(b * w) {
            assert_eq!(step, &first[..]);
        }
        assert!(first.contains(&0.0) && first.contains(&2.0));
    }

    #[test]
    fn backward_is_the_same_mask() {
        // y = x * m is linear in x: the gradient of sum(w * y) is w * m exactly.
        let d = Dropout::new(0.4).unwrap();
        let mut rng = Rng::new(10);
        let mut x: Vec<f64> = (0..50).map(|k| k as f64).collect();
        let mut mask = Vec::new();
        d.forward_train(&mut x, &mut rng, &mut mask);
        let w: Vec<f64> = (0..50).map(|k| 1.0 + k as f64 / 10.0).collect();
        let mut dx = w.clone();
        d.backward(&mut dx, &mask);
        for k in 0..50 {
            assert_eq!(dx[k], w[k] * mask[k]);
            assert_eq!(x[k], k as f64 * mask[k]);
        }
        assert!(mask.contains(&0.0) && mask.iter().any(|&m| m > 1.0));
    }
}
