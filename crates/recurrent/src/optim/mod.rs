//! Optimizers with PyTorch's update rules, term for term (`torch/optim/*.py`, the
//! single-tensor path, `foreach=False`), so a run here and a run there take the same steps:
//! SGD (momentum, dampening, Nesterov, weight decay), Adam, AdamW, RMSprop, Adagrad.
//!
//! Each optimizer keeps its per-parameter buffers under PyTorch's state names
//! (`{param}.exp_avg`, `{param}.momentum_buffer`, ...) and its scalars (step count, current
//! learning rate) in an [`OptimState`], so a checkpoint resumes to the same bits. Buffers are
//! created at the first step from the model's [`Module::visit`] order and matched by name on
//! every later step, so a model that changed its parameters is an error, not a silent mix-up.
//!
//! Notation: p parameter, g gradient, t the step count after increment (1 at the first step),
//! lr the current learning rate; all updates are element-wise.

pub mod clip;
pub mod schedule;

pub use clip::{clip_grad_norm, clip_grad_value, first_non_finite, grad_norm, NonFinite};
pub use schedule::{
    EarlyStopping, EarlyStoppingState, LrSchedule, Mode, PlateauConfig, PlateauState,
    ReduceLrOnPlateau, Schedule, ThresholdMode, Verdict,
};

use crate::error::{Error, Result};
use crate::float::Float;
use crate::param::{Module, Param};
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// An optimizer: updates a model's parameters from their accumulated gradients.
pub trait Optimizer<F: Float>: Send {
    /// The optimizer's name as configs spell it (`sgd`, `adam`, `adamw`, `rmsprop`, `adagrad`).
    fn name(&self) -> &'static str;
    /// One update of every parameter of `model` from its gradient. Gradients are left as they
    /// are (zero them before the next backward). Errors if the model's parameters no longer
    /// match the ones the optimizer's buffers were made for; nothing is updated then.
    fn step(&mut self, model: &mut dyn Module<F>) -> Result<()>;
    /// The current learning rate.
    fn lr(&self) -> f64;
    /// Sets the learning rate used from the next step on (schedules call this).
    fn set_lr(&mut self, lr: f64);
    /// The scalar state: name, step count, learning rate.
    fn state(&self) -> OptimState;
    /// The per-parameter buffers as `({param}.{buffer}, tensor)` in visiting order; empty
    /// before the first step.
    fn state_tensors(&self) -> Vec<(String, Tensor<F>)>;
    /// Restores what [`Optimizer::state`] and [`Optimizer::state_tensors`] saved, checked
    /// against `model`: every buffer the configuration needs must be present with its
    /// parameter's shape, and no other. The tensors may come in any order.
    fn load_state(
        &mut self,
        model: &dyn Module<F>,
        state: &OptimState,
        tensors: Vec<(String, Tensor<F>)>,
    ) -> Result<()>;
}

/// The scalar part of an optimizer's state, for checkpoints (serde).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimState {
    /// [`Optimizer::name`] of the optimizer that saved it.
    pub name: String,
    /// Steps taken.
    pub step: u64,
    /// The learning rate at the time of saving.
    pub lr: f64,
}

/// One parameter's buffers, in the order of the optimizer's buffer names.
#[derive(Clone, Debug)]
struct Slot<F> {
    name: String,
    shape: Vec<usize>,
    bufs: Vec<Vec<F>>,
}

/// The per-parameter buffers of an optimizer, created at the first step.
#[derive(Clone, Debug)]
struct Buffers<F> {
    /// PyTorch's state names, e.g. `["exp_avg", "exp_avg_sq"]`.
    names: Vec<&'static str>,
    slots: Vec<Slot<F>>,
}

impl<F: Float> Buffers<F> {
    fn new(names: Vec<&'static str>) -> Self {
        Buffers {
            names,
            slots: Vec::new(),
        }
    }

    /// Creates the buffers (buffer k filled with `init[k]`) on first use; afterwards checks
    /// that `model` still has the same parameters, so the update can index them blindly.
    fn prepare(&mut self, model: &dyn Module<F>, init: &[F]) -> Result<()> {
        if self.slots.is_empty() {
            let names = &self.names;
            model.visit(&mut |p| {
                self.slots.push(Slot {
                    name: p.name.clone(),
                    shape: p.shape().to_vec(),
                    bufs: names
                        .iter()
                        .enumerate()
                        .map(|(k, _)| vec![init[k]; p.value.len()])
                        .collect(),
                })
            });
            return Ok(());
        }
        let mut err = None;
        let mut i = 0;
        model.visit(&mut |p| {
            if err.is_none() {
                err = match self.slots.get(i) {
                    Some(s) if s.name == p.name && s.shape == p.shape() => None,
                    Some(s) => Some(format!(
                        "parameter {i} is `{}` {:?}, but the optimizer state is for `{}` {:?}",
                        p.name,
                        p.shape(),
                        s.name,
                        s.shape
                    )),
                    None => Some(format!("parameter `{}` has no optimizer state", p.name)),
                };
            }
            i += 1;
        });
        if err.is_none() && i != self.slots.len() {
            err = Some(format!(
                "the model has {i} parameters, the optimizer state {}",
                self.slots.len()
            ));
        }
        match err {
            Some(msg) => Err(Error::Config(format!(
                "optimizer state does not fit the model: {msg}"
            ))),
            None => Ok(()),
        }
    }

    /// Calls `f(param, buffers)` for every parameter; [`Buffers::prepare`] made them match.
    fn update(
        &mut self,
        model: &mut dyn Module<F>,
        mut f: impl FnMut(&mut Param<F>, &mut [Vec<F>]),
    ) {
        let mut i = 0;
        model.visit_mut(&mut |p| {
            if let Some(s) = self.slots.get_mut(i) {
                f(p, &mut s.bufs);
            }
            i += 1;
        });
    }

    fn tensors(&self) -> Vec<(String, Tensor<F>)> {
        let mut out = Vec::new();
        for s in &self.slots {
            for (k, b) in s.bufs.iter().enumerate() {
                // Every buffer was made with its parameter's length, so the copy fits.
                let mut t = Tensor::zeros(&s.shape);
                t.data_mut().copy_from_slice(b);
                out.push((format!("{}.{}", s.name, self.names[k]), t));
            }
        }
        out
    }

    /// Rebuilds the buffers from saved tensors; empty `tensors` at step 0 means "not started".
    fn load(
        &mut self,
        model: &dyn Module<F>,
        step: u64,
        tensors: Vec<(String, Tensor<F>)>,
    ) -> Result<()> {
        self.slots.clear();
        if tensors.is_empty() && (step == 0 || self.names.is_empty()) {
            return Ok(());
        }
        let mut by_name: std::collections::HashMap<String, Tensor<F>> =
            tensors.into_iter().collect();
        let mut err = None;
        let names = &self.names;
        let mut slots = Vec::new();
        model.visit(&mut |p| {
            let mut bufs = Vec::with_capacity(names.len());
            for n in names {
                let key = format!("{}.{n}", p.name);
                match by_name.remove(&key) {
                    Some(t) if t.shape() == p.shape() => bufs.push(t.into_vec()),
                    Some(t) => {
                        err.get_or_insert(Error::tensor(
                            key,
                            format!("expected shape {:?}, got {:?}", p.shape(), t.shape()),
                        ));
                    }
                    None => {
                        err.get_or_insert(Error::tensor(key, "missing from the optimizer state"));
                    }
                }
            }
            slots.push(Slot {
                name: p.name.clone(),
                shape: p.shape().to_vec(),
                bufs,
            });
        });
        if let Some(e) = err {
            return Err(e);
        }
        if let Some(extra) = by_name.keys().min() {
            return Err(Error::tensor(
                extra.clone(),
                "in the optimizer state but not a buffer of this optimizer and model",
            ));
        }
        self.slots = slots;
        Ok(())
    }
}

/// Checks the scalar state's name and returns its step count.
fn check_state(expected: &str, state: &OptimState) -> Result<u64> {
    if state.name != expected {
        return Err(Error::Config(format!(
            "the checkpoint's optimizer is `{}`, this run's is `{expected}`",
            state.name
        )));
    }
    if !(state.lr.is_finite() && state.lr >= 0.0) {
        return Err(Error::Config(format!(
            "saved learning rate {} is not usable",
            state.lr
        )));
    }
    Ok(state.step)
}

fn require(ok: bool, msg: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Config(msg()))
    }
}

fn check_lr(lr: f64) -> Result<()> {
    require(lr.is_finite() && lr >= 0.0, || {
        format!("learning rate must be >= 0, got {lr}")
    })
}

fn check_nonneg(what: &str, v: f64) -> Result<()> {
    require(v.is_finite() && v >= 0.0, || {
        format!("{what} must be >= 0, got {v}")
    })
}

fn check_unit(what: &str, v: f64) -> Result<()> {
    require((0.0..1.0).contains(&v), || {
        format!("{what} must be in [0, 1), got {v}")
    })
}

/// PyTorch's `lerp_`: a + w (b - a) for |w| < 0.5, else b - (b - a)(1 - w), the form whose
/// rounding it uses for Adam's first moment and RMSprop's centred average.
#[inline(always)]
fn lerp<F: Float>(a: F, b: F, w: F) -> F {
    if w.abs() < F::of(0.5) {
        a + w * (b - a)
    } else {
        b - (b - a) * (F::one() - w)
    }
}

// ---------------------------------------------------------------------------------------------
// SGD

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
#[derive(Clone, Debug)]
pub struct Sgd<F> {
    cfg: SgdConfig,
    step: u64,
    bufs: Buffers<F>,
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
        Ok(Sgd {
            cfg,
            step: 0,
            bufs: Buffers::new(names),
        })
    }
}

impl<F: Float> Optimizer<F> for Sgd<F> {
    fn name(&self) -> &'static str {
        "sgd"
    }
    fn step(&mut self, model: &mut dyn Module<F>) -> Result<()> {
        self.bufs.prepare(model, &[F::zero()])?;
        let c = self.cfg;
        let k = SgdScalars {
            wd: (c.weight_decay != 0.0).then(|| F::of(c.weight_decay)),
            mu: F::of(c.momentum),
            one_minus_damp: F::of(1.0 - c.dampening),
            neg_lr: F::of(-c.lr),
            first: self.step == 0,
            nesterov: c.nesterov,
        };
        self.bufs.update(model, |p, bufs| {
            let buf = bufs.first_mut().map(|b| &mut b[..]);
            sgd_kernel(p.value.data_mut(), p.grad.data(), buf, &k);
        });
        self.step += 1;
        Ok(())
    }
    fn lr(&self) -> f64 {
        self.cfg.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }
    fn state(&self) -> OptimState {
        OptimState {
            name: Optimizer::<F>::name(self).into(),
            step: self.step,
            lr: self.cfg.lr,
        }
    }
    fn state_tensors(&self) -> Vec<(String, Tensor<F>)> {
        self.bufs.tensors()
    }
    fn load_state(
        &mut self,
        model: &dyn Module<F>,
        s: &OptimState,
        t: Vec<(String, Tensor<F>)>,
    ) -> Result<()> {
        let step = check_state("sgd", s)?;
        self.bufs.load(model, step, t)?;
        self.step = step;
        self.cfg.lr = s.lr;
        Ok(())
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
#[derive(Clone, Debug)]
pub struct Adam<F> {
    cfg: AdamConfig,
    decoupled: bool,
    step: u64,
    bufs: Buffers<F>,
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
        Ok(Adam {
            cfg,
            decoupled,
            step: 0,
            bufs: Buffers::new(names),
        })
    }
}

impl<F: Float> Optimizer<F> for Adam<F> {
    fn name(&self) -> &'static str {
        if self.decoupled {
            "adamw"
        } else {
            "adam"
        }
    }
    fn step(&mut self, model: &mut dyn Module<F>) -> Result<()> {
        self.bufs.prepare(model, &[F::zero(); 3])?;
        let c = self.cfg;
        let t = (self.step + 1) as f64;
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
        self.bufs.update(model, |p, bufs| {
            let (m, rest) = bufs.split_at_mut(1);
            let (v, vmax) = rest.split_at_mut(1);
            let vmax = vmax.first_mut().map(|b| &mut b[..]);
            adam_kernel(
                p.value.data_mut(),
                p.grad.data(),
                &mut m[0],
                &mut v[0],
                vmax,
                &k,
            );
        });
        self.step += 1;
        Ok(())
    }
    fn lr(&self) -> f64 {
        self.cfg.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }
    fn state(&self) -> OptimState {
        OptimState {
            name: Optimizer::<F>::name(self).into(),
            step: self.step,
            lr: self.cfg.lr,
        }
    }
    fn state_tensors(&self) -> Vec<(String, Tensor<F>)> {
        self.bufs.tensors()
    }
    fn load_state(
        &mut self,
        model: &dyn Module<F>,
        s: &OptimState,
        t: Vec<(String, Tensor<F>)>,
    ) -> Result<()> {
        let step = check_state(Optimizer::<F>::name(self), s)?;
        self.bufs.load(model, step, t)?;
        self.step = step;
        self.cfg.lr = s.lr;
        Ok(())
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

/// Adam's element-wise update (see [`Adam`]) on one parameter; `vmax` for AMSGrad.
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

// ---------------------------------------------------------------------------------------------
// RMSprop

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
#[derive(Clone, Debug)]
pub struct RmsProp<F> {
    cfg: RmsPropConfig,
    step: u64,
    bufs: Buffers<F>,
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
        Ok(RmsProp {
            cfg,
            step: 0,
            bufs: Buffers::new(names),
        })
    }
}

impl<F: Float> Optimizer<F> for RmsProp<F> {
    fn name(&self) -> &'static str {
        "rmsprop"
    }
    fn step(&mut self, model: &mut dyn Module<F>) -> Result<()> {
        self.bufs.prepare(model, &[F::zero(); 3])?;
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
        self.bufs.update(model, |p, bufs| {
            let (sq, rest) = bufs.split_at_mut(1);
            let (mom, rest) = rest.split_at_mut(usize::from(has_mom));
            let mom = mom.first_mut().map(|b| &mut b[..]);
            let avg = rest.first_mut().map(|b| &mut b[..]);
            rmsprop_kernel(p.value.data_mut(), p.grad.data(), &mut sq[0], mom, avg, &k);
        });
        self.step += 1;
        Ok(())
    }
    fn lr(&self) -> f64 {
        self.cfg.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }
    fn state(&self) -> OptimState {
        OptimState {
            name: "rmsprop".into(),
            step: self.step,
            lr: self.cfg.lr,
        }
    }
    fn state_tensors(&self) -> Vec<(String, Tensor<F>)> {
        self.bufs.tensors()
    }
    fn load_state(
        &mut self,
        model: &dyn Module<F>,
        s: &OptimState,
        t: Vec<(String, Tensor<F>)>,
    ) -> Result<()> {
        let step = check_state("rmsprop", s)?;
        self.bufs.load(model, step, t)?;
        self.step = step;
        self.cfg.lr = s.lr;
        Ok(())
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

// ---------------------------------------------------------------------------------------------
// Adagrad

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
#[derive(Clone, Debug)]
pub struct Adagrad<F> {
    cfg: AdagradConfig,
    step: u64,
    bufs: Buffers<F>,
}

impl<F: Float> Adagrad<F> {
    /// Errors on a negative rate, decay, initial value or eps.
    pub fn new(cfg: AdagradConfig) -> Result<Self> {
        check_lr(cfg.lr)?;
        check_nonneg("lr decay", cfg.lr_decay)?;
        check_nonneg("weight decay", cfg.weight_decay)?;
        check_nonneg("initial accumulator value", cfg.initial_accumulator_value)?;
        check_nonneg("eps", cfg.eps)?;
        Ok(Adagrad {
            cfg,
            step: 0,
            bufs: Buffers::new(vec!["sum"]),
        })
    }
}

impl<F: Float> Optimizer<F> for Adagrad<F> {
    fn name(&self) -> &'static str {
        "adagrad"
    }
    fn step(&mut self, model: &mut dyn Module<F>) -> Result<()> {
        let c = self.cfg;
        self.bufs
            .prepare(model, &[F::of(c.initial_accumulator_value)])?;
        let t = (self.step + 1) as f64;
        let neg_clr = F::of(-(c.lr / (1.0 + (t - 1.0) * c.lr_decay)));
        let (eps, wd) = (
            F::of(c.eps),
            (c.weight_decay != 0.0).then(|| F::of(c.weight_decay)),
        );
        self.bufs.update(model, |p, bufs| {
            adagrad_kernel(
                p.value.data_mut(),
                p.grad.data(),
                &mut bufs[0],
                neg_clr,
                eps,
                wd,
            );
        });
        self.step += 1;
        Ok(())
    }
    fn lr(&self) -> f64 {
        self.cfg.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }
    fn state(&self) -> OptimState {
        OptimState {
            name: "adagrad".into(),
            step: self.step,
            lr: self.cfg.lr,
        }
    }
    fn state_tensors(&self) -> Vec<(String, Tensor<F>)> {
        self.bufs.tensors()
    }
    fn load_state(
        &mut self,
        model: &dyn Module<F>,
        s: &OptimState,
        t: Vec<(String, Tensor<F>)>,
    ) -> Result<()> {
        let step = check_state("adagrad", s)?;
        self.bufs.load(model, step, t)?;
        self.step = step;
        self.cfg.lr = s.lr;
        Ok(())
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

// ---------------------------------------------------------------------------------------------
// Configuration

/// Which optimizer, with its hyperparameters: what a run's config file stores
/// (`{"name": "adam", "lr": 0.002}`; missing fields take PyTorch's defaults).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum OptimConfig {
    /// [`Sgd`].
    Sgd(SgdConfig),
    /// [`Adam`].
    Adam(AdamConfig),
    /// [`Adam::adamw`].
    #[serde(rename = "adamw")]
    AdamW(AdamWConfig),
    /// [`RmsProp`].
    #[serde(rename = "rmsprop")]
    RmsProp(RmsPropConfig),
    /// [`Adagrad`].
    Adagrad(AdagradConfig),
}

impl OptimConfig {
    /// The names [`OptimConfig::named`] accepts.
    pub const NAMES: [&'static str; 5] = ["sgd", "adam", "adamw", "rmsprop", "adagrad"];

    /// PyTorch's defaults for the optimizer `name`, with learning rate `lr`.
    pub fn named(name: &str, lr: f64) -> Result<Self> {
        let mut c = match name {
            "sgd" => OptimConfig::Sgd(SgdConfig::default()),
            "adam" => OptimConfig::Adam(AdamConfig::default()),
            "adamw" => OptimConfig::AdamW(AdamWConfig::default()),
            "rmsprop" => OptimConfig::RmsProp(RmsPropConfig::default()),
            "adagrad" => OptimConfig::Adagrad(AdagradConfig::default()),
            other => {
                return Err(Error::Config(format!(
                    "unknown optimizer `{other}`: use one of {}",
                    Self::NAMES.join(", ")
                )))
            }
        };
        c.set_lr(lr);
        Ok(c)
    }
    /// The configured (initial) learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            OptimConfig::Sgd(c) => c.lr,
            OptimConfig::Adam(c) => c.lr,
            OptimConfig::AdamW(c) => c.lr,
            OptimConfig::RmsProp(c) => c.lr,
            OptimConfig::Adagrad(c) => c.lr,
        }
    }
    /// Replaces the learning rate.
    pub fn set_lr(&mut self, lr: f64) {
        match self {
            OptimConfig::Sgd(c) => c.lr = lr,
            OptimConfig::Adam(c) => c.lr = lr,
            OptimConfig::AdamW(c) => c.lr = lr,
            OptimConfig::RmsProp(c) => c.lr = lr,
            OptimConfig::Adagrad(c) => c.lr = lr,
        }
    }
    /// The optimizer, after checking every hyperparameter.
    pub fn build<F: Float>(&self) -> Result<Box<dyn Optimizer<F>>> {
        Ok(match *self {
            OptimConfig::Sgd(c) => Box::new(Sgd::new(c)?),
            OptimConfig::Adam(c) => Box::new(Adam::new(c)?),
            OptimConfig::AdamW(c) => Box::new(Adam::adamw(c)?),
            OptimConfig::RmsProp(c) => Box::new(RmsProp::new(c)?),
            OptimConfig::Adagrad(c) => Box::new(Adagrad::new(c)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::Linear;
    use crate::rng::Rng;

    /// A quadratic bowl 0.5 * sum (p - target)^2 with a known gradient p - target.
    fn set_grad(m: &mut Linear<f64>) {
        m.visit_mut(&mut |p| {
            let target = 0.5;
            let (v, g) = (p.value.data(), p.grad.data_mut());
            g.iter_mut().zip(v).for_each(|(g, &v)| *g = v - target);
        });
    }
    fn dist(m: &Linear<f64>) -> f64 {
        let mut d = 0.0;
        m.visit(&mut |p| {
            d += p
                .value
                .data()
                .iter()
                .map(|v| (v - 0.5).powi(2))
                .sum::<f64>()
        });
        d
    }

    fn all() -> Vec<OptimConfig> {
        vec![
            OptimConfig::Sgd(SgdConfig {
                lr: 0.1,
                momentum: 0.9,
                nesterov: true,
                ..Default::default()
            }),
            OptimConfig::Adam(AdamConfig {
                lr: 0.05,
                amsgrad: true,
                ..Default::default()
            }),
            OptimConfig::named("adamw", 0.05).unwrap(),
            OptimConfig::RmsProp(RmsPropConfig {
                lr: 0.01,
                momentum: 0.5,
                centered: true,
                ..Default::default()
            }),
            OptimConfig::named("adagrad", 0.3).unwrap(),
        ]
    }

    #[test]
    fn every_optimizer_descends_a_bowl() {
        for cfg in all() {
            let mut m = Linear::<f64>::new("l", 3, 2, true, &mut Rng::new(1));
            let mut opt = cfg.build::<f64>().unwrap();
            let before = dist(&m);
            for _ in 0..50 {
                set_grad(&mut m);
                opt.step(&mut m).unwrap();
            }
            assert!(
                dist(&m) < 0.2 * before,
                "{}: {} -> {}",
                opt.name(),
                before,
                dist(&m)
            );
            assert_eq!(opt.state().step, 50);
        }
    }

    #[test]
    fn resume_is_bit_identical() {
        for cfg in all() {
            let mut a = Linear::<f64>::new("l", 3, 2, true, &mut Rng::new(2));
            let mut b = a.clone();
            let mut oa = cfg.build::<f64>().unwrap();
            for _ in 0..7 {
                set_grad(&mut a);
                oa.step(&mut a).unwrap();
            }
            // b: 3 steps, save through JSON, a fresh optimizer loads it, 4 more steps.
            let mut ob = cfg.build::<f64>().unwrap();
            for _ in 0..3 {
                set_grad(&mut b);
                ob.step(&mut b).unwrap();
            }
            let json = serde_json::to_string(&ob.state()).unwrap();
            let mut tensors = ob.state_tensors();
            tensors.reverse(); // any order must do
            let mut oc = cfg.build::<f64>().unwrap();
            oc.load_state(&b, &serde_json::from_str(&json).unwrap(), tensors)
                .unwrap();
            for _ in 0..4 {
                set_grad(&mut b);
                oc.step(&mut b).unwrap();
            }
            assert_eq!(a.weight.value, b.weight.value, "{}", oa.name());
            assert_eq!(
                a.bias.as_ref().unwrap().value,
                b.bias.as_ref().unwrap().value
            );
        }
    }

    #[test]
    fn f32_follows_f64() {
        // The same kernels in single precision stay on the double-precision trajectory.
        for cfg in all() {
            let m64 = Linear::<f64>::new("l", 3, 2, true, &mut Rng::new(5));
            let mut m32 = Linear::<f32>::new("l", 3, 2, true, &mut Rng::new(5));
            let mut m64 = m64;
            let (mut o64, mut o32) = (cfg.build::<f64>().unwrap(), cfg.build::<f32>().unwrap());
            for _ in 0..20 {
                set_grad(&mut m64);
                m32.visit_mut(&mut |p| {
                    let (v, g) = (p.value.data(), p.grad.data_mut());
                    g.iter_mut().zip(v).for_each(|(g, &v)| *g = v - 0.5);
                });
                o64.step(&mut m64).unwrap();
                o32.step(&mut m32).unwrap();
            }
            let d = m64
                .weight
                .value
                .data()
                .iter()
                .zip(m32.weight.value.data())
                .map(|(a, &b)| (a - b as f64).abs())
                .fold(0.0, f64::max);
            assert!(d < 1e-5, "{}: f32 drifted {d:e} from f64", o64.name());
        }
    }

    #[test]
    fn state_names_follow_pytorch() {
        let mut m = Linear::<f64>::new("head", 2, 2, true, &mut Rng::new(3));
        let mut opt = Adam::<f64>::new(AdamConfig::default()).unwrap();
        assert!(opt.state_tensors().is_empty());
        set_grad(&mut m);
        opt.step(&mut m).unwrap();
        let names: Vec<String> = opt.state_tensors().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "head.weight.exp_avg",
                "head.weight.exp_avg_sq",
                "head.bias.exp_avg",
                "head.bias.exp_avg_sq"
            ]
        );
    }

    #[test]
    fn mismatches_are_errors_not_panics() {
        let mut m = Linear::<f64>::new("l", 2, 2, true, &mut Rng::new(4));
        let mut opt = Adam::<f64>::new(AdamConfig::default()).unwrap();
        set_grad(&mut m);
        opt.step(&mut m).unwrap();
        let (state, tensors) = (opt.state(), opt.state_tensors());

        // A different model: the step refuses and changes nothing.
        let mut other = Linear::<f64>::new("l", 3, 2, true, &mut Rng::new(4));
        let before = other.weight.value.clone();
        assert!(opt.step(&mut other).is_err());
        assert_eq!(other.weight.value, before);

        let mut fresh = Adam::<f64>::new(AdamConfig::default()).unwrap();
        let err = fresh
            .load_state(&other, &state, tensors.clone())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("l.weight.exp_avg") && err.contains("shape"),
            "{err}"
        );
        let mut missing = tensors.clone();
        missing.pop();
        let err = fresh
            .load_state(&m, &state, missing)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("l.bias.exp_avg_sq") && err.contains("missing"),
            "{err}"
        );
        let mut extra = tensors.clone();
        extra.push(("l.weight.momentum_buffer".into(), Tensor::zeros(&[2, 2])));
        assert!(fresh.load_state(&m, &state, extra).is_err());
        let mut sgd = Sgd::<f64>::new(SgdConfig::default()).unwrap();
        let err = sgd.load_state(&m, &state, tensors).unwrap_err().to_string();
        assert!(err.contains("`adam`"), "{err}");
    }

    #[test]
    fn bad_hyperparameters_are_errors() {
        assert!(OptimConfig::named("lion", 0.1).is_err());
        assert!(OptimConfig::named("adam", -1.0)
            .unwrap()
            .build::<f32>()
            .is_err());
        assert!(OptimConfig::named("adam", f64::NAN)
            .unwrap()
            .build::<f32>()
            .is_err());
        let bad_beta = AdamConfig {
            beta2: 1.0,
            ..Default::default()
        };
        assert!(Adam::<f32>::new(bad_beta).is_err());
        let nesterov = SgdConfig {
            nesterov: true,
            ..Default::default()
        };
        assert!(Sgd::<f32>::new(nesterov).is_err());
        // Missing fields take PyTorch's defaults; AdamW's weight decay is 0.01.
        let c: OptimConfig = serde_json::from_str(r#"{"name": "adamw", "lr": 0.002}"#).unwrap();
        assert_eq!(
            c,
            OptimConfig::AdamW(AdamWConfig {
                lr: 0.002,
                ..Default::default()
            })
        );
        assert_eq!(AdamWConfig::default().weight_decay, 0.01);
    }
}
