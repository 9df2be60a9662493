//! Adam and AdamW.

use super::state::{Buffers, Stateful, UpdateRule};
use super::{check_lr, check_nonneg, check_unit, lerp};
use crate::error::Result;
use crate::float::Float;
use crate::param::Module;
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------------
// Adam and AdamW

/// Adam's hyperparameters; `Default` is PyTorch's `Adam` (weight decay 0).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first-moment average.
    pub beta1: f64,
    /// Decay of the second-moment average.
    pub beta2: f64,
    /// Added to the bias-corrected sqrt(v) for stability.
    pub eps: f64,
    /// L2 penalty added to the gradient: g + wd p.
    pub weight_decay: f64,
    /// Normalise by the running maximum of v (Reddi et al. 2018).
    pub amsgrad: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
        }
    }
}

/// AdamW's hyperparameters: Adam's, with PyTorch's `AdamW` default weight decay 0.01.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdamWConfig {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first-moment average.
    pub beta1: f64,
    /// Decay of the second-moment average.
    pub beta2: f64,
    /// Added to the bias-corrected sqrt(v) for stability.
    pub eps: f64,
    /// Decoupled decay: p <- p (1 - lr wd) before the Adam step.
    pub weight_decay: f64,
    /// Normalise by the running maximum of v (Reddi et al. 2018).
    pub amsgrad: bool,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        let a = AdamConfig::default();
        AdamWConfig {
            lr: a.lr,
            beta1: a.beta1,
            beta2: a.beta2,
            eps: a.eps,
            weight_decay: 1e-2,
            amsgrad: false,
        }
    }
}

impl From<AdamWConfig> for AdamConfig {
    fn from(c: AdamWConfig) -> Self {
        AdamConfig {
            lr: c.lr,
            beta1: c.beta1,
            beta2: c.beta2,
            eps: c.eps,
            weight_decay: c.weight_decay,
            amsgrad: c.amsgrad,
        }
    }
}

/// Adam (Kingma and Ba 2015), `torch.optim.Adam`, and with decoupled weight decay AdamW
/// (Loshchilov and Hutter 2019), `torch.optim.AdamW`:
///
/// Adam: g <- g + wd p.   AdamW: p <- p (1 - lr wd).
/// m <- lerp(m, g, 1 - b1);  v <- b2 v + (1 - b2) g^2;  (AMSGrad: v_max <- max(v_max, v))
/// p <- p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
///
/// eps is added after the bias correction of sqrt(v), as PyTorch does (not to sqrt(v̂) of the
/// paper's notation before correction).
pub type Adam<F> = Stateful<F, AdamRule>;

/// Adam's part of an [`Adam`]: its configuration, and whether weight decay is decoupled.
#[derive(Clone, Debug)]
pub struct AdamRule {
    cfg: AdamConfig,
    decoupled: bool,
}

impl<F: Float> Adam<F> {
    /// Adam with L2 weight decay added to the gradient.
    pub fn new(cfg: AdamConfig) -> Result<Self> {
        Self::build(cfg, false)
    }
    /// AdamW: weight decay applied to the parameters, decoupled from the moments.
    pub fn adamw(cfg: AdamWConfig) -> Result<Self> {
        Self::build(cfg.into(), true)
    }
    fn build(cfg: AdamConfig, decoupled: bool) -> Result<Self> {
        check_lr(cfg.lr)?;
        check_unit("beta1", cfg.beta1)?;
        check_unit("beta2", cfg.beta2)?;
        check_nonneg("eps", cfg.eps)?;
        check_nonneg("weight decay", cfg.weight_decay)?;
        let mut names = vec!["exp_avg", "exp_avg_sq"];
        if cfg.amsgrad {
            names.push("max_exp_avg_sq");
        }
        Ok(Stateful::with_buffers(AdamRule { cfg, decoupled }, names))
    }
}

impl<F: Float> UpdateRule<F> for AdamRule {
    fn name(&self) -> &'static str {
        if self.decoupled {
            "adamw"
        } else {
            "adam"
        }
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
    fn update(&self, t: u64, model: &mut dyn Module<F>, bufs: &mut Buffers<F>) {
        let c = self.cfg;
        let t = t as f64;
        // Scalars in f64 as Python computes them, then rounded once to F.
        let bc1 = 1.0 - c.beta1.powf(t);
        let bc2 = 1.0 - c.beta2.powf(t);
        let has_wd = c.weight_decay != 0.0;
        let k = AdamScalars {
            neg_step: F::of(-(c.lr / bc1)),
            bc2_sqrt: F::of(bc2.powf(0.5)),
            w1: F::of(1.0 - c.beta1),
            b2: F::of(c.beta2),
            one_minus_b2: F::of(1.0 - c.beta2),
            eps: F::of(c.eps),
            coupled_wd: (has_wd && !self.decoupled).then(|| F::of(c.weight_decay)),
            decay: (has_wd && self.decoupled).then(|| F::of(1.0 - c.lr * c.weight_decay)),
        };
        bufs.update(model, |p, bufs| {
            let (m, rest) = bufs.split_at_mut(1);
            let (v, vmax) = rest.split_at_mut(1);
            let vmax = vmax.first_mut().map(|b| &mut b[..]);
            adam_par(
                p.value.data_mut(),
                p.grad.data(),
                &mut m[0],
                &mut v[0],
                vmax,
                &k,
            );
        });
    }
}

/// Adam's scalars for one step, in F.
struct AdamScalars<F> {
    /// -lr / (1 - b1^t).
    neg_step: F,
    /// sqrt(1 - b2^t).
    bc2_sqrt: F,
    /// 1 - b1, the lerp weight.
    w1: F,
    b2: F,
    one_minus_b2: F,
    eps: F,
    /// Adam's L2 weight decay, if any.
    coupled_wd: Option<F>,
    /// AdamW's factor 1 - lr wd, if any.
    decay: Option<F>,
}

crate::multiversion! {
    /// Adam's element-wise update (see [`Adam`]) on one parameter; `vmax` for AMSGrad.
    /// Compiled for each vector width: the square root and the division are what the
    /// update waits on, and a 4-wide SSE2 loop left them at a quarter of AVX-512's rate.
    fn adam_kernel<F: Float>(
        p: &mut [F],
        g: &[F],
        m: &mut [F],
        v: &mut [F],
        vmax: Option<&mut [F]>,
        k: &AdamScalars<F>,
    ) {
        // Decay and moments, shared by both forms; the new v is left in `v`.
        let moments = |p: &mut F, g: F, m: &mut F, v: &mut F| {
            let g = k.coupled_wd.map_or(g, |wd| g + wd * *p);
            // A select, not a conditional store, so the loop still vectorises.
            *p = k.decay.map_or(*p, |d| *p * d);
            *m = lerp(*m, g, k.w1);
            *v = *v * k.b2 + k.one_minus_b2 * g * g;
        };
        let apply = |p: &mut F, m: F, second: F| {
            let denom = second.sqrt() / k.bc2_sqrt + k.eps;
            *p += k.neg_step * (m / denom);
        };
        let it = p.iter_mut().zip(g).zip(m).zip(v);
        match vmax {
            None => it.for_each(|(((p, &g), m), v)| {
                moments(p, g, m, v);
                apply(p, *m, *v);
            }),
            Some(vmax) => it.zip(vmax).for_each(|((((p, &g), m), v), mx)| {
                moments(p, g, m, v);
                // torch.maximum: a NaN in either wins.
                *mx = if *v > *mx || v.is_nan() { *v } else { *mx };
                apply(p, *m, *mx);
            }),
        }
    }
}

/// Elements above which one parameter's update is split over the thread pool (the
/// update is bound by memory traffic, which two cores move faster than one).
const PAR_MIN_ELEMENTS: usize = 1 << 16;

/// [`adam_kernel`] over the pool's threads, each on its own range of the elements (the
/// update is element-wise, so any split gives the same bits).
fn adam_par<F: Float>(
    p: &mut [F],
    g: &[F],
    m: &mut [F],
    v: &mut [F],
    vmax: Option<&mut [F]>,
    k: &AdamScalars<F>,
) {
    let n = p.len();
    let parts = if n >= PAR_MIN_ELEMENTS {
        crate::kernels::pool::width()
    } else {
        1
    };
    if parts == 1 {
        return adam_kernel(p, g, m, v, vmax, k);
    }
    assert!(g.len() == n && m.len() == n && v.len() == n);
    assert!(vmax.as_ref().is_none_or(|x| x.len() == n));
    let addr = |x: &mut [F]| x.as_mut_ptr() as usize;
    let (pa, ma, va) = (addr(p), addr(m), addr(v));
    let xa = vmax.map(addr);
    let ga = g.as_ptr() as usize;
    crate::kernels::pool::team(parts, &|tm| {
        let r = tm.share(n, 16);
        if r.is_empty() {
            return;
        }
        // SAFETY: all five buffers hold n elements (checked above) and stay borrowed for
        // the team's lifetime; members take disjoint ranges of the mutable ones.
        unsafe {
            let mut_at =
                |a: usize| std::slice::from_raw_parts_mut((a as *mut F).add(r.start), r.len());
            let g = std::slice::from_raw_parts((ga as *const F).add(r.start), r.len());
            adam_kernel(mut_at(pa), g, mut_at(ma), mut_at(va), xa.map(mut_at), k);
        }
    });
}
