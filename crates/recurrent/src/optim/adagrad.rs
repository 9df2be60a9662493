//! Adagrad, the optimizer of min-char-rnn.py.

use super::state::{Buffers, Stateful, UpdateRule};
use super::{check_lr, check_nonneg};
use crate::error::Result;
use crate::float::Float;
use crate::param::Module;
use serde::{Deserialize, Serialize};

/// Adagrad's hyperparameters; `Default` is PyTorch's.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdagradConfig {
    /// Learning rate.
    pub lr: f64,
    /// Rate decay: lr / (1 + (t - 1) lr_decay).
    pub lr_decay: f64,
    /// L2 penalty added to the gradient: g + wd p.
    pub weight_decay: f64,
    /// Starting value of the squared-gradient sum.
    pub initial_accumulator_value: f64,
    /// Added to the root for stability.
    pub eps: f64,
}

impl Default for AdagradConfig {
    fn default() -> Self {
        AdagradConfig {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
        }
    }
}

/// Adagrad (Duchi et al. 2011), `torch.optim.Adagrad`, the optimizer of `min-char-rnn.py`:
///
/// g <- g + wd p;  clr = lr / (1 + (t - 1) lr_decay);  s <- s + g^2 (s starts at
/// `initial_accumulator_value`);  p <- p - clr g / (sqrt(s) + eps)
pub type Adagrad<F> = Stateful<F, AdagradRule>;

/// Adagrad's part of an [`Adagrad`]: its configuration.
#[derive(Clone, Debug)]
pub struct AdagradRule {
    cfg: AdagradConfig,
}

impl<F: Float> Adagrad<F> {
    /// Errors on a negative rate, decay, initial value or eps.
    pub fn new(cfg: AdagradConfig) -> Result<Self> {
        check_lr(cfg.lr)?;
        check_nonneg("lr decay", cfg.lr_decay)?;
        check_nonneg("weight decay", cfg.weight_decay)?;
        check_nonneg("initial accumulator value", cfg.initial_accumulator_value)?;
        check_nonneg("eps", cfg.eps)?;
        Ok(Stateful::with_buffers(AdagradRule { cfg }, vec!["sum"]))
    }
}

impl<F: Float> UpdateRule<F> for AdagradRule {
    fn name(&self) -> &'static str {
        "adagrad"
    }
    fn lr(&self) -> f64 {
        self.cfg.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }
    fn init(&self) -> Vec<F> {
        vec![F::of(self.cfg.initial_accumulator_value)]
    }
    fn update(&self, t: u64, model: &mut dyn Module<F>, bufs: &mut Buffers<F>) {
        let c = self.cfg;
        let t = t as f64;
        let neg_clr = F::of(-(c.lr / (1.0 + (t - 1.0) * c.lr_decay)));
        let (eps, wd) = (
            F::of(c.eps),
            (c.weight_decay != 0.0).then(|| F::of(c.weight_decay)),
        );
        bufs.update(model, |p, bufs| {
            adagrad_kernel(
                p.value.data_mut(),
                p.grad.data(),
                &mut bufs[0],
                neg_clr,
                eps,
                wd,
            );
        });
    }
}

/// Adagrad's element-wise update (see [`Adagrad`]) on one parameter with sum `s`.
fn adagrad_kernel<F: Float>(p: &mut [F], g: &[F], s: &mut [F], neg_clr: F, eps: F, wd: Option<F>) {
    for ((p, &g), s) in p.iter_mut().zip(g).zip(s) {
        let g = wd.map_or(g, |wd| g + wd * *p);
        *s += g * g;
        *p += neg_clr * (g / (s.sqrt() + eps));
    }
}
