//! Stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

use super::state::{Buffers, Stateful, UpdateRule};
use super::{check_lr, check_nonneg, require};
use crate::error::Result;
use crate::float::Float;
use crate::param::Module;
use serde::{Deserialize, Serialize};

/// SGD's hyperparameters; `Default` is PyTorch's (except lr, which PyTorch requires).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor mu (0: plain SGD).
    pub momentum: f64,
    /// Dampening of the gradient's share in the momentum buffer.
    pub dampening: f64,
    /// L2 penalty added to the gradient: g + wd p.
    pub weight_decay: f64,
    /// Nesterov momentum (needs momentum > 0 and dampening 0).
    pub nesterov: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }
}

/// Stochastic gradient descent, `torch.optim.SGD`:
///
/// g <- g + wd p;  with momentum mu: b <- g at t = 1, else b <- mu b + (1 - dampening) g;
/// g <- g + mu b (Nesterov) or g <- b;  p <- p - lr g
pub type Sgd<F> = Stateful<F, SgdRule>;

/// SGD's part of an [`Sgd`]: its configuration.
#[derive(Clone, Debug)]
pub struct SgdRule {
    cfg: SgdConfig,
}

impl<F: Float> Sgd<F> {
    /// Errors on a negative rate, momentum or decay, or Nesterov without momentum or with
    /// dampening (PyTorch's rules).
    pub fn new(cfg: SgdConfig) -> Result<Self> {
        check_lr(cfg.lr)?;
        check_nonneg("momentum", cfg.momentum)?;
        check_nonneg("weight decay", cfg.weight_decay)?;
        require(cfg.dampening.is_finite(), || {
            "dampening must be finite".into()
        })?;
        require(
            !cfg.nesterov || (cfg.momentum > 0.0 && cfg.dampening == 0.0),
            || "Nesterov momentum requires a momentum and zero dampening".into(),
        )?;
        let names = if cfg.momentum != 0.0 {
            vec!["momentum_buffer"]
        } else {
            vec![]
        };
        Ok(Stateful::with_buffers(SgdRule { cfg }, names))
    }
}

impl<F: Float> UpdateRule<F> for SgdRule {
    fn name(&self) -> &'static str {
        "sgd"
    }
    fn lr(&self) -> f64 {
        self.cfg.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }
    fn init(&self) -> Vec<F> {
        vec![F::zero()]
    }
    fn update(&self, t: u64, model: &mut dyn Module<F>, bufs: &mut Buffers<F>) {
        let c = self.cfg;
        let k = SgdScalars {
            wd: (c.weight_decay != 0.0).then(|| F::of(c.weight_decay)),
            mu: F::of(c.momentum),
            one_minus_damp: F::of(1.0 - c.dampening),
            neg_lr: F::of(-c.lr),
            first: t == 1,
            nesterov: c.nesterov,
        };
        bufs.update(model, |p, bufs| {
            let buf = bufs.first_mut().map(|b| &mut b[..]);
            sgd_kernel(p.value.data_mut(), p.grad.data(), buf, &k);
        });
    }
}

/// SGD's scalars for one step, in F.
struct SgdScalars<F> {
    /// Weight decay, if any.
    wd: Option<F>,
    mu: F,
    one_minus_damp: F,
    neg_lr: F,
    /// The momentum buffer starts as the first gradient.
    first: bool,
    nesterov: bool,
}

// The kernels below take every array as its own slice argument: that tells the compiler they
// do not overlap, so it vectorises the loops (4x faster than the same loop over the fields of
// a `Param`, measured). Options are matched outside the loops for the same reason.

/// SGD's element-wise update (see [`Sgd`]) on one parameter; `buf` the momentum buffer.
fn sgd_kernel<F: Float>(p: &mut [F], g: &[F], buf: Option<&mut [F]>, k: &SgdScalars<F>) {
    let decayed = |p: F, g: F| k.wd.map_or(g, |wd| g + wd * p);
    match buf {
        None => p.iter_mut().zip(g).for_each(|(p, &g)| {
            *p += k.neg_lr * decayed(*p, g);
        }),
        Some(buf) => p.iter_mut().zip(g).zip(buf).for_each(|((p, &g), b)| {
            let g = decayed(*p, g);
            *b = if k.first {
                g
            } else {
                *b * k.mu + k.one_minus_damp * g
            };
            let d = if k.nesterov { g + k.mu * *b } else { *b };
            *p += k.neg_lr * d;
        }),
    }
}
