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

pub use clip::{
    clip_grad_norm, clip_grad_value, first_non_finite, grad_norm, scale_to_norm, NonFinite,
};
pub use schedule::{
    EarlyStopping, EarlyStoppingState, LrSchedule, Mode, PlateauConfig, PlateauState,
    ReduceLrOnPlateau, Schedule, ThresholdMode, Verdict,
};

use crate::error::{Error, Result};
use crate::float::Float;
use crate::param::Module;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

pub mod adagrad;
pub mod adam;
pub mod rmsprop;
pub mod settings;
pub mod sgd;
pub mod state;

pub use adagrad::{Adagrad, AdagradConfig};
pub use adam::{Adam, AdamConfig, AdamWConfig};
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use settings::{OptimSettings, OptimizerKind, ScheduleKind};
pub use sgd::{Sgd, SgdConfig};
pub use state::{Buffers, Stateful, UpdateRule};

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

pub(crate) fn require(ok: bool, msg: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Config(msg()))
    }
}

pub(crate) fn check_lr(lr: f64) -> Result<()> {
    require(lr.is_finite() && lr >= 0.0, || {
        format!("learning rate must be >= 0, got {lr}")
    })
}

pub(crate) fn check_nonneg(what: &str, v: f64) -> Result<()> {
    require(v.is_finite() && v >= 0.0, || {
        format!("{what} must be >= 0, got {v}")
    })
}

pub(crate) fn check_unit(what: &str, v: f64) -> Result<()> {
    require((0.0..1.0).contains(&v), || {
        format!("{what} must be in [0, 1), got {v}")
    })
}

/// PyTorch's `lerp_`: a + w (b - a) for |w| < 0.5, else b - (b - a)(1 - w), the form whose
/// rounding it uses for Adam's first moment and RMSprop's centred average.
#[inline(always)]
pub(crate) fn lerp<F: Float>(a: F, b: F, w: F) -> F {
    if w.abs() < F::of(0.5) {
        a + w * (b - a)
    } else {
        b - (b - a) * (F::one() - w)
    }
}

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
        Ok(Self::of(name.parse()?, lr))
    }
    /// PyTorch's defaults for the optimizer `kind`, with learning rate `lr`.
    pub fn of(kind: OptimizerKind, lr: f64) -> Self {
        let mut c = match kind {
            OptimizerKind::Sgd => OptimConfig::Sgd(SgdConfig::default()),
            OptimizerKind::Adam => OptimConfig::Adam(AdamConfig::default()),
            OptimizerKind::AdamW => OptimConfig::AdamW(AdamWConfig::default()),
            OptimizerKind::RmsProp => OptimConfig::RmsProp(RmsPropConfig::default()),
            OptimizerKind::Adagrad => OptimConfig::Adagrad(AdagradConfig::default()),
        };
        c.set_lr(lr);
        c
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
