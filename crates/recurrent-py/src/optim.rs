//! The engine's optimizers (`recurrent::optim`: SGD, Adam, AdamW, RMSprop, Adagrad with
//! PyTorch's update rules and defaults) over the layers whose parameters Python gave them,
//! and gradient-norm clipping across layers.

use crate::convert::py_err;
use crate::layer::{Net, PyRnn};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use recurrent::optim::{OptimConfig, Optimizer};
use recurrent::Module;
use std::sync::Mutex;

/// One engine optimizer per layer, in the layer's dtype, made at its first step.
enum Rule {
    F32(Box<dyn Optimizer<f32>>),
    F64(Box<dyn Optimizer<f64>>),
}

/// An optimizer over a fixed list of layers (`recurrent.optim` wraps it).
#[pyclass(module = "recurrent._recurrent", name = "Optimizer")]
pub struct PyOptimizer {
    config: OptimConfig,
    /// A Python object may be shared between threads; the methods take `&mut self`, so
    /// the lock is never contended (`get_mut`).
    rules: Mutex<Vec<Option<Rule>>>,
    lr: f64,
}

#[pymethods]
impl PyOptimizer {
    /// `config` is the engine's optimizer config as JSON (`{"name": "adam", "lr": 0.001,
    /// "beta1": 0.9, ...}`; a missing field takes PyTorch's default); `layers` is how many
    /// layers `step` will be given.
    #[new]
    fn new(config: &str, layers: usize) -> PyResult<Self> {
        let config: OptimConfig = serde_json::from_str(config)
            .map_err(|e| PyValueError::new_err(format!("optimizer settings: {e}")))?;
        // Checks every hyperparameter now, as PyTorch's constructors do.
        config.build::<f32>().map_err(py_err)?;
        Ok(PyOptimizer {
            lr: config.lr(),
            config,
            rules: Mutex::new((0..layers).map(|_| None).collect()),
        })
    }

    /// One update of every parameter of `layers` (the same layers, in the same order, at
    /// every call) from its gradient.
    fn step(&mut self, py: Python<'_>, layers: Vec<PyRefMut<'_, PyRnn>>) -> PyResult<()> {
        let (config, lr) = (self.config, self.lr);
        let rules = rules_of(&mut self.rules);
        if layers.len() != rules.len() {
            return Err(PyValueError::new_err(format!(
                "this optimizer was made for {} layer(s), step was given {}",
                rules.len(),
                layers.len()
            )));
        }
        for (mut layer, rule) in layers.into_iter().zip(rules.iter_mut()) {
            let fresh = |f64s: bool| -> PyResult<Rule> {
                let mut c = config;
                c.set_lr(lr);
                Ok(if f64s {
                    Rule::F64(c.build::<f64>().map_err(py_err)?)
                } else {
                    Rule::F32(c.build::<f32>().map_err(py_err)?)
                })
            };
            // A layer cast to another dtype since the last step starts new buffers.
            let matches = matches!(
                (&layer.net, &*rule),
                (Net::F32(_), Some(Rule::F32(_))) | (Net::F64(_), Some(Rule::F64(_)))
            );
            if !matches {
                *rule = Some(fresh(matches!(layer.net, Net::F64(_)))?);
            }
            let net = &mut layer.net;
            let result = py.detach(|| match (net, rule.as_mut()) {
                (Net::F32(n), Some(Rule::F32(o))) => o.step(n),
                (Net::F64(n), Some(Rule::F64(o))) => o.step(n),
                _ => Ok(()),
            });
            result.map_err(py_err)?;
        }
        Ok(())
    }

    /// The learning rate.
    #[getter]
    fn get_lr(&self) -> f64 {
        self.lr
    }

    /// Sets the learning rate from the next step on (what a schedule does).
    #[setter]
    fn set_lr(&mut self, lr: f64) -> PyResult<()> {
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(PyValueError::new_err(format!(
                "lr must be a finite number >= 0, got {lr}"
            )));
        }
        self.lr = lr;
        for rule in rules_of(&mut self.rules).iter_mut().flatten() {
            match rule {
                Rule::F32(o) => o.set_lr(lr),
                Rule::F64(o) => o.set_lr(lr),
            }
        }
        Ok(())
    }
}

/// The rules behind the (uncontended) lock; a lock poisoned by a panic is still usable:
/// a step either updated a layer or did not.
fn rules_of(m: &mut Mutex<Vec<Option<Rule>>>) -> &mut Vec<Option<Rule>> {
    m.get_mut().unwrap_or_else(|e| e.into_inner())
}

/// Scales the gradients of `layers` so that their joint L2 norm is at most `max_norm`, as
/// `torch.nn.utils.clip_grad_norm_` does (factor max_norm / (norm + 1e-6) when below 1);
/// returns the norm before clipping.
#[pyfunction]
pub fn clip_grad_norm(mut layers: Vec<PyRefMut<'_, PyRnn>>, max_norm: f64) -> PyResult<f64> {
    if !(max_norm.is_finite() && max_norm > 0.0) {
        return Err(PyValueError::new_err(format!(
            "max_norm must be a positive number, got {max_norm}"
        )));
    }
    let mut sum = 0.0f64;
    for l in &layers {
        match &l.net {
            Net::F32(n) => n.visit(&mut |p| {
                sum += p
                    .grad
                    .data()
                    .iter()
                    .map(|&g| (g as f64) * (g as f64))
                    .sum::<f64>()
            }),
            Net::F64(n) => {
                n.visit(&mut |p| sum += p.grad.data().iter().map(|&g| g * g).sum::<f64>())
            }
        }
    }
    let norm = sum.sqrt();
    let k = max_norm / (norm + 1e-6);
    if k < 1.0 {
        for l in layers.iter_mut() {
            match &mut l.net {
                Net::F32(n) => {
                    n.visit_mut(&mut |p| p.grad.data_mut().iter_mut().for_each(|g| *g *= k as f32))
                }
                Net::F64(n) => {
                    n.visit_mut(&mut |p| p.grad.data_mut().iter_mut().for_each(|g| *g *= k))
                }
            }
        }
    }
    Ok(norm)
}
