//! RMSprop, plain and centred, with momentum.

use super::state::{Buffers, Stateful, UpdateRule};
use super::{check_lr, check_nonneg, lerp};
use crate::error::Result;
use crate::float::Float;
use crate::param::Module;
use serde::{Deserialize, Serialize};

/// RMSprop's hyperparameters; `Default` is PyTorch's.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RmsPropConfig {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the squared-gradient average.
    pub alpha: f64,
    /// Added to the root for stability.
    pub eps: f64,
    /// L2 penalty added to the gradient: g + wd p.
    pub weight_decay: f64,
    /// Momentum factor (0: none).
    pub momentum: f64,
    /// Divide by the estimated standard deviation instead of the RMS.
    pub centered: bool,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        RmsPropConfig {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
        }
    }
}

/// RMSprop (Hinton's lecture 6e; centred form Graves 2013), `torch.optim.RMSprop`:
///
/// g <- g + wd p;  s <- alpha s + (1 - alpha) g^2;
/// centred: a <- lerp(a, g, 1 - alpha), d = sqrt(s - a^2) + eps;  else d = sqrt(s) + eps;
/// with momentum mu: b <- mu b + g / d, p <- p - lr b;  else p <- p - lr g / d
pub type RmsProp<F> = Stateful<F, RmsPropRule>;

/// RMSprop's part of an [`RmsProp`]: its configuration.
#[derive(Clone, Debug)]
pub struct RmsPropRule {
    cfg: RmsPropConfig,
}

impl<F: Float> RmsProp<F> {
    /// Errors on a negative rate, alpha, eps, decay or momentum.
    pub fn new(cfg: RmsPropConfig) -> Result<Self> {
        check_lr(cfg.lr)?;
        check_nonneg("alpha", cfg.alpha)?;
        check_nonneg("eps", cfg.eps)?;
        check_nonneg("weight decay", cfg.weight_decay)?;
        check_nonneg("momentum", cfg.momentum)?;
        // The update finds the buffers by position: square_avg, then momentum_buffer and
        // grad_avg only where the configuration uses them (PyTorch creates no others).
        let mut names = vec!["square_avg"];
        if cfg.momentum > 0.0 {
            names.push("momentum_buffer");
        }
        if cfg.centered {
            names.push("grad_avg");
        }
        Ok(Stateful::with_buffers(RmsPropRule { cfg }, names))
    }
}

impl<F: Float> UpdateRule<F> for RmsPropRule {
    fn name(&self) -> &'static str {
        "rmsprop"
    }
    fn lr(&self) -> f64 {
        self.cfg.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }
    fn init(&self) -> Vec<F> {
        vec![F::zero(); 3]
    }
    fn update(&self, _t: u64, model: &mut dyn Module<F>, bufs: &mut Buffers<F>) {
        let c = self.cfg;
        let k = RmsScalars {
            wd: (c.weight_decay != 0.0).then(|| F::of(c.weight_decay)),
            alpha: F::of(c.alpha),
            one_minus_alpha: F::of(1.0 - c.alpha),
            eps: F::of(c.eps),
            mu: F::of(c.momentum),
            neg_lr: F::of(-c.lr),
        };
        let has_mom = c.momentum > 0.0;
        bufs.update(model, |p, bufs| {
            let (sq, rest) = bufs.split_at_mut(1);
            let (mom, rest) = rest.split_at_mut(usize::from(has_mom));
            let mom = mom.first_mut().map(|b| &mut b[..]);
            let avg = rest.first_mut().map(|b| &mut b[..]);
            rmsprop_kernel(p.value.data_mut(), p.grad.data(), &mut sq[0], mom, avg, &k);
        });
    }
}

/// RMSprop's scalars for one step, in F.
struct RmsScalars<F> {
    /// Weight decay, if any.
    wd: Option<F>,
    alpha: F,
    one_minus_alpha: F,
    eps: F,
    mu: F,
    neg_lr: F,
}

/// RMSprop's element-wise update (see [`RmsProp`]) on one parameter; `mom` the momentum
/// buffer, `avg` the centred gradient average, each where configured.
fn rmsprop_kernel<F: Float>(
    p: &mut [F],
    g: &[F],
    sq: &mut [F],
    mom: Option<&mut [F]>,
    avg: Option<&mut [F]>,
    k: &RmsScalars<F>,
) {
    // The decayed gradient and the updated square average.
    let square = |p: F, g: F, s: &mut F| {
        let g = k.wd.map_or(g, |wd| g + wd * p);
        *s = *s * k.alpha + k.one_minus_alpha * g * g;
        g
    };
    // d = sqrt(s - a^2) + eps after updating the average a (centred).
    let centred = |s: F, a: &mut F, g: F| {
        *a = lerp(*a, g, k.one_minus_alpha);
        (s + (-*a) * *a).sqrt() + k.eps
    };
    let it = p.iter_mut().zip(g).zip(sq);
    match (mom, avg) {
        (None, None) => it.for_each(|((p, &g), s)| {
            let g = square(*p, g, s);
            *p += k.neg_lr * (g / (s.sqrt() + k.eps));
        }),
        (None, Some(avg)) => it.zip(avg).for_each(|(((p, &g), s), a)| {
            let g = square(*p, g, s);
            *p += k.neg_lr * (g / centred(*s, a, g));
        }),
        (Some(mom), None) => it.zip(mom).for_each(|(((p, &g), s), b)| {
            let g = square(*p, g, s);
            *b = *b * k.mu + g / (s.sqrt() + k.eps);
            *p += k.neg_lr * *b;
        }),
        (Some(mom), Some(avg)) => it.zip(mom).zip(avg).for_each(|((((p, &g), s), b), a)| {
            let g = square(*p, g, s);
            *b = *b * k.mu + g / centred(*s, a, g);
            *p += k.neg_lr * *b;
        }),
    }
}
