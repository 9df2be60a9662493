//! The state handling every optimizer shares, written once: the step count, the learning
//! rate, buffers created at the first step from the model's [`Module::visit`] order and
//! matched by name and shape on every later step, and saving and loading all of it. An
//! optimizer supplies only its [`UpdateRule`].

use super::{OptimState, Optimizer};
use crate::error::{Error, Result};
use crate::float::Float;
use crate::param::{Module, Param};
use crate::tensor::Tensor;

/// What makes one optimizer differ from another: its name, its learning rate and the
/// update it applies to each parameter from its gradient and buffers.
pub trait UpdateRule<F: Float>: Send {
    /// The name as configs and checkpoints spell it (`sgd`, `adam`, ...).
    fn name(&self) -> &'static str;
    /// The current learning rate.
    fn lr(&self) -> f64;
    /// Sets the learning rate (schedules call this through [`Optimizer::set_lr`]).
    fn set_lr(&mut self, lr: f64);
    /// The starting value of each buffer, in the order of the buffer names.
    fn init(&self) -> Vec<F>;
    /// Updates every parameter of `model`; `t` is the step count after increment (1 at the
    /// first step).
    fn update(&self, t: u64, model: &mut dyn Module<F>, bufs: &mut Buffers<F>);
}

/// An optimizer: an [`UpdateRule`] with the state every optimizer keeps.
#[derive(Clone, Debug)]
pub struct Stateful<F, R> {
    pub(crate) rule: R,
    step: u64,
    bufs: Buffers<F>,
}

impl<F: Float, R> Stateful<F, R> {
    /// The optimizer of `rule`, whose buffers are called `names` (PyTorch's state names).
    pub(crate) fn with_buffers(rule: R, names: Vec<&'static str>) -> Self {
        Stateful {
            rule,
            step: 0,
            bufs: Buffers::new(names),
        }
    }
}

impl<F: Float, R: UpdateRule<F>> Optimizer<F> for Stateful<F, R> {
    fn name(&self) -> &'static str {
        self.rule.name()
    }
    fn step(&mut self, model: &mut dyn Module<F>) -> Result<()> {
        // The starting values matter only when the buffers are made, at the first step.
        let init = if self.bufs.is_empty() {
            self.rule.init()
        } else {
            Vec::new()
        };
        self.bufs.prepare(model, &init)?;
        self.rule.update(self.step + 1, model, &mut self.bufs);
        self.step += 1;
        Ok(())
    }
    fn lr(&self) -> f64 {
        self.rule.lr()
    }
    fn set_lr(&mut self, lr: f64) {
        self.rule.set_lr(lr);
    }
    fn state(&self) -> OptimState {
        OptimState {
            name: self.rule.name().into(),
            step: self.step,
            lr: self.rule.lr(),
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
        let step = check_state(self.rule.name(), s)?;
        self.bufs.load(model, step, t)?;
        self.step = step;
        self.rule.set_lr(s.lr);
        Ok(())
    }
}

/// One parameter's buffers, in the order of the optimizer's buffer names.
#[derive(Clone, Debug)]
pub(crate) struct Slot<F> {
    name: String,
    shape: Vec<usize>,
    bufs: Vec<Vec<F>>,
}

/// The per-parameter buffers of an optimizer, created at the first step.
#[derive(Clone, Debug)]
pub struct Buffers<F> {
    /// PyTorch's state names, e.g. `["exp_avg", "exp_avg_sq"]`.
    names: Vec<&'static str>,
    slots: Vec<Slot<F>>,
}

impl<F: Float> Buffers<F> {
    /// No buffer made yet (before the first step, or after loading a fresh state).
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub(crate) fn new(names: Vec<&'static str>) -> Self {
        Buffers {
            names,
            slots: Vec::new(),
        }
    }

    /// Creates the buffers (buffer k filled with `init[k]`) on first use; afterwards checks
    /// that `model` still has the same parameters, so the update can index them blindly.
    pub(crate) fn prepare(&mut self, model: &dyn Module<F>, init: &[F]) -> Result<()> {
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
    pub fn update(
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

    pub(crate) fn tensors(&self) -> Vec<(String, Tensor<F>)> {
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
    pub(crate) fn load(
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
