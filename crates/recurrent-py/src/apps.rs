//! Trained applications loaded from a run directory or checkpoint. The first is the
//! language model (`recurrent train lm`, or a `pytorch_charlm.py` checkpoint): sampling
//! and scoring text, as `recurrent sample` and `recurrent eval` do.

use crate::convert::py_err;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use recurrent::decode::generate::generate;
use recurrent::model::LanguageModel;
use recurrent::nn::{Sampler, SamplerConfig};
use recurrent::text::Vocab;
use recurrent::Rng;
use std::path::PathBuf;

/// A trained language model and its vocabulary.
#[pyclass(module = "recurrent._recurrent", name = "LanguageModel")]
pub struct PyLanguageModel {
    model: LanguageModel<f32>,
    vocab: Vocab,
    #[pyo3(get)]
    path: String,
}

/// Loads the language model of a run directory (its best checkpoint) or of a checkpoint
/// file.
#[pyfunction]
pub fn load_language_model(path: PathBuf) -> PyResult<PyLanguageModel> {
    let file = recurrent::train::run::resolve_checkpoint(&path).map_err(py_err)?;
    let (model, meta) = recurrent_tasks::lm::train::load_lm(&file).map_err(py_err)?;
    Ok(PyLanguageModel {
        model,
        vocab: meta.vocab,
        path: file.display().to_string(),
    })
}

#[pymethods]
impl PyLanguageModel {
    /// `n` tokens after `prime` (a random first token without one), sampled at
    /// `temperature` (0: the most likely token) from a stream seeded by `seed`, among the
    /// `top_k` most likely (0: all) and the smallest set of mass `top_p`.
    #[pyo3(signature = (prime=None, n=500, temperature=1.0, seed=0, top_k=0, top_p=1.0))]
    #[allow(clippy::too_many_arguments)] // Python's keyword arguments
    fn sample(
        &self,
        py: Python<'_>,
        prime: Option<String>,
        n: usize,
        temperature: f64,
        seed: u64,
        top_k: usize,
        top_p: f64,
    ) -> PyResult<String> {
        let sampler = Sampler::new(SamplerConfig {
            temperature,
            top_k,
            top_p,
        })
        .map_err(py_err)?;
        let (model, vocab) = (&self.model, &self.vocab);
        py.detach(|| {
            let mut text = String::new();
            let mut rng = Rng::new(seed);
            generate(
                model,
                vocab,
                prime.as_deref(),
                n,
                sampler,
                &mut rng,
                &mut |t| {
                    text.push_str(t);
                    Ok(())
                },
            )?;
            Ok(text)
        })
        .map_err(py_err)
    }

    /// The mean loss of `text` in nats per token (as `recurrent eval` computes it, the
    /// state carried over the whole text).
    fn loss(&self, py: Python<'_>, text: &str) -> PyResult<f64> {
        let ids = self.vocab.encode(text).map_err(py_err)?;
        if ids.len() < 2 {
            return Err(PyValueError::new_err(
                "loss needs a text of at least 2 tokens",
            ));
        }
        let model = &self.model;
        py.detach(|| recurrent_tasks::lm::train::evaluate(model, &ids, 256))
            .map(|(loss, _)| loss)
            .map_err(py_err)
    }

    /// The tokens of the vocabulary, in index order.
    #[getter]
    fn vocab(&self) -> Vec<String> {
        self.vocab.tokens().to_vec()
    }

    fn __repr__(&self) -> String {
        let c = self.model.config();
        format!(
            "LanguageModel({} {}x{}, {} tokens, from {})",
            c.cell, c.layers, c.hidden, c.vocab, self.path
        )
    }
}

/// Reports a run from Python: evaluations and messages on stderr, as the CLI prints them,
/// and Ctrl-C (Python's KeyboardInterrupt) stops it cleanly at the next step.
struct PyObserver {
    interrupted: std::cell::Cell<bool>,
}

impl recurrent::train::Observer for PyObserver {
    fn on_eval(&mut self, e: &recurrent::train::EvalInfo) {
        eprintln!(
            "eval at step {} ({:.0} s): {:.4}{}",
            e.step,
            e.trained_s,
            e.val_loss,
            if e.best { " *best*" } else { "" }
        );
    }
    fn message(&mut self, msg: &str) {
        eprintln!("{msg}");
    }
    fn should_stop(&self) -> bool {
        // The training runs without the GIL; take it for a moment to see a pending signal.
        if !self.interrupted.get() {
            let pending = Python::attach(|py| py.check_signals().is_err());
            self.interrupted.set(pending);
        }
        self.interrupted.get()
    }
}

/// `settings` (JSON) laid over `default`: a key of the config itself, or of its `optim`
/// section (`lr`, `clip`, ...), as the CLI's flags name them with `_` for `-`.
fn settings_over(
    mut default: serde_json::Value,
    settings: &serde_json::Map<String, serde_json::Value>,
) -> PyResult<serde_json::Value> {
    for (k, v) in settings {
        if let Some(slot) = default.get_mut(k.as_str()) {
            *slot = v.clone();
        } else if let Some(slot) = default.get_mut("optim").and_then(|o| o.get_mut(k.as_str())) {
            *slot = v.clone();
        } else {
            let mut known: Vec<String> = default
                .as_object()
                .map(|o| o.keys().filter(|k| *k != "optim").cloned().collect())
                .unwrap_or_default();
            if let Some(o) = default.get("optim").and_then(|o| o.as_object()) {
                known.extend(o.keys().cloned());
            }
            return Err(PyValueError::new_err(format!(
                "unknown setting `{k}`; the settings are: {}",
                known.join(", ")
            )));
        }
    }
    Ok(default)
}

/// Trains a language model on `text` into `out` (`recurrent train lm`): `settings` (a JSON
/// object) over the documented defaults, limits as the CLI's. Returns the run's summary
/// as JSON.
#[pyfunction]
#[pyo3(signature = (text, out, settings, steps=None, time_budget=None, epochs=None, resume=false))]
#[allow(clippy::too_many_arguments)] // Python's keyword arguments
pub fn train_lm(
    py: Python<'_>,
    text: String,
    out: PathBuf,
    settings: &str,
    steps: Option<u64>,
    time_budget: Option<f64>,
    epochs: Option<f64>,
    resume: bool,
) -> PyResult<String> {
    use recurrent_tasks::lm::train::LmTrainConfig;
    let given: serde_json::Map<String, serde_json::Value> = serde_json::from_str(settings)
        .map_err(|e| PyValueError::new_err(format!("settings: {e}")))?;
    let default = serde_json::to_value(LmTrainConfig::default())
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let cfg: LmTrainConfig = serde_json::from_value(settings_over(default, &given)?)
        .map_err(|e| PyValueError::new_err(format!("settings: {e}")))?;
    let mut limits = recurrent::train::Limits {
        steps,
        time_budget,
        epochs,
    };
    if !limits.is_set() {
        limits.time_budget = Some(60.0);
    }
    let summary = py
        .detach(|| {
            // Made here: a request (its rank group) stays on the thread that trains.
            let mut req = recurrent::train::TrainRequest::new(&out);
            req.resume = resume;
            req.limits = limits;
            let mut obs = PyObserver {
                interrupted: std::cell::Cell::new(false),
            };
            recurrent_tasks::lm::train::train_lm(&cfg, &text, &req, &mut obs)
        })
        .map_err(py_err)?;
    serde_json::to_string(&summary).map_err(|e| PyValueError::new_err(e.to_string()))
}
