//! Trained applications loaded from a run directory or checkpoint (`recurrent.load`): the
//! text ones here (language model, classifier, tagger, translator, composer), the ones
//! over arrays (forecaster, transcriber) in `signals.rs`. Each does what its CLI command
//! does, with the GIL released while it computes.

use crate::convert::py_err;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use recurrent::decode::generate::generate;
use recurrent::model::LanguageModel;
use recurrent::nn::{Sampler, SamplerConfig};
use recurrent::text::Vocab;
use recurrent::{Precision, Quantize, Rng};
use recurrent_tasks::classify::train::ClassifyMeta;
use recurrent_tasks::music::train::MusicMeta;
use recurrent_tasks::tag::train::TagMeta;
use recurrent_tasks::translate::TranslateMeta;
use std::path::{Path, PathBuf};

/// A trained language model and its vocabulary.
#[pyclass(module = "recurrent._recurrent", name = "LanguageModel")]
pub struct PyLanguageModel {
    model: LanguageModel<f32>,
    vocab: Vocab,
    #[pyo3(get)]
    path: String,
}

/// The task that made a checkpoint (its `model` metadata's `task`); None for a checkpoint
/// without one (a `pytorch_charlm.py` language model).
fn task_of(file: &Path) -> PyResult<Option<String>> {
    let ck = recurrent::checkpoint::read(file).map_err(py_err)?;
    Ok(ck
        .metadata
        .get("model")
        .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
        .and_then(|v| v["task"].as_str().map(str::to_string)))
}

/// A loaded model and its metadata, its recurrent layers set to `p`.
fn quantized<M: Quantize, T>(
    loaded: recurrent::Result<(M, T)>,
    p: Precision,
) -> recurrent::Result<(M, T)> {
    let (mut m, meta) = loaded?;
    m.set_precision(p);
    Ok((m, meta))
}

/// The precision asked for, else the one `file` was stored at.
pub fn precision_for(file: &Path, asked: Option<&str>) -> PyResult<Precision> {
    let asked = asked
        .map(Precision::parse)
        .transpose()
        .map_err(PyValueError::new_err)?;
    recurrent::checkpoint::quantized::precision_for(file, asked).map_err(py_err)
}

/// The trained model of a run directory (its best checkpoint; a forecaster's refit on
/// every row) or of a checkpoint file, as the object for its task.
/// `precision` ("f32", "bf16", "int8"; default: the checkpoint's, f32 unless it was
/// quantized) sets the recurrent layers' products.
#[pyfunction]
#[pyo3(signature = (path, precision=None))]
pub fn load(py: Python<'_>, path: PathBuf, precision: Option<&str>) -> PyResult<Py<PyAny>> {
    let file = recurrent::train::run::resolve_checkpoint(&path).map_err(py_err)?;
    let task = py.detach(|| task_of(&file))?;
    let p = precision_for(&file, precision)?;
    let shown = file.display().to_string();
    let any = |b: PyResult<Bound<'_, PyAny>>| b.map(Bound::unbind);
    match task.as_deref() {
        None | Some("lm") => {
            let (model, meta) = py.detach(|| {
                quantized(recurrent_tasks::lm::train::load_lm(&file), p).map_err(py_err)
            })?;
            let lm = PyLanguageModel {
                model,
                vocab: meta.vocab,
                path: shown,
            };
            any(Bound::new(py, lm).map(Bound::into_any))
        }
        Some("classify") => {
            let (model, meta) = py.detach(|| {
                quantized(recurrent_tasks::classify::train::load_classifier(&file), p)
                    .map_err(py_err)
            })?;
            let c = PyClassifier {
                model,
                meta,
                path: shown,
            };
            any(Bound::new(py, c).map(Bound::into_any))
        }
        Some("tag") => {
            let (model, meta) = py.detach(|| {
                quantized(recurrent_tasks::tag::train::load_tagger(&file), p).map_err(py_err)
            })?;
            let t = PyTagger {
                model,
                meta,
                path: shown,
            };
            any(Bound::new(py, t).map(Bound::into_any))
        }
        Some("translate") => {
            let (model, meta) = py.detach(|| {
                quantized(recurrent_tasks::translate::load_translator(&file), p).map_err(py_err)
            })?;
            let t = PyTranslator {
                model,
                meta,
                path: shown,
            };
            any(Bound::new(py, t).map(Bound::into_any))
        }
        Some("music") => {
            let (model, meta) = py.detach(|| {
                quantized(recurrent_tasks::music::train::load_music(&file), p).map_err(py_err)
            })?;
            let c = PyComposer {
                model,
                meta,
                path: shown,
            };
            any(Bound::new(py, c).map(Bound::into_any))
        }
        Some("forecast") => crate::signals::load_forecaster(py, &path, p),
        Some("speech") | Some("ctc") => crate::signals::load_transcriber(py, &file, p),
        Some(t) => Err(PyValueError::new_err(format!(
            "{shown}: a `{t}` model has no Python object; the package loads lm, classify, \
             tag, translate, music, forecast and speech models"
        ))),
    }
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

/// A trained sentence classifier (`recurrent train classify`).
#[pyclass(module = "recurrent._recurrent", name = "Classifier")]
pub struct PyClassifier {
    model: recurrent::model::Classifier<f32>,
    meta: ClassifyMeta,
    #[pyo3(get)]
    path: String,
}

#[pymethods]
impl PyClassifier {
    /// The label of each text and every label's probability ([texts, labels], in the
    /// order of `.labels`), as `recurrent classify` computes them. A text longer than
    /// `max_words` (default: the training `max_words`) is read in pieces whose
    /// probabilities are averaged.
    #[pyo3(signature = (texts, max_words=None))]
    fn predict(
        &self,
        py: Python<'_>,
        texts: Vec<String>,
        max_words: Option<usize>,
    ) -> PyResult<(Vec<String>, Vec<Vec<f64>>)> {
        let max = max_words.unwrap_or(self.meta.train.max_words);
        if max == 0 {
            return Err(PyValueError::new_err("max_words must be at least 1"));
        }
        let (model, meta) = (&self.model, &self.meta);
        let preds = py
            .detach(|| recurrent_tasks::classify::train::predict(model, meta, &texts, max))
            .map_err(py_err)?;
        Ok(preds
            .into_iter()
            .map(|p| (p.label, p.probabilities))
            .unzip())
    }

    /// The labels, in the order of the probabilities.
    #[getter]
    fn labels(&self) -> Vec<String> {
        self.meta.labels.clone()
    }

    fn __repr__(&self) -> String {
        let t = &self.meta.train;
        format!(
            "Classifier({} {}x{}, labels {:?}, from {})",
            t.cell, t.layers, t.hidden, self.meta.labels, self.path
        )
    }
}

/// A trained tagger (`recurrent train tag`).
#[pyclass(module = "recurrent._recurrent", name = "Tagger")]
pub struct PyTagger {
    model: recurrent::model::feature_tagger::FeatureTagger<f32>,
    meta: TagMeta,
    #[pyo3(get)]
    path: String,
}

#[pymethods]
impl PyTagger {
    /// The tags of each sentence's tokens, as `(token, tag)` pairs. A sentence is a list
    /// of tokens, or a string split at white space. A sentence longer than `max_tokens`
    /// (default: the training `max_tokens`) is tagged in pieces.
    #[pyo3(signature = (sentences, max_tokens=None))]
    fn tag(
        &self,
        py: Python<'_>,
        sentences: Vec<Bound<'_, PyAny>>,
        max_tokens: Option<usize>,
    ) -> PyResult<Vec<Vec<(String, String)>>> {
        let words: Vec<Vec<String>> = sentences
            .iter()
            .map(|s| match s.extract::<String>() {
                Ok(text) => Ok(text.split_whitespace().map(str::to_string).collect()),
                Err(_) => s.extract::<Vec<String>>().map_err(|_| {
                    PyValueError::new_err(
                        "each sentence must be a string or a list of token strings",
                    )
                }),
            })
            .collect::<PyResult<_>>()?;
        let max = max_tokens.unwrap_or(self.meta.train.max_tokens);
        if max == 0 {
            return Err(PyValueError::new_err("max_tokens must be at least 1"));
        }
        let (model, meta) = (&self.model, &self.meta);
        let tags = py
            .detach(|| recurrent_tasks::tag::train::tag_sentences(model, meta, &words, max))
            .map_err(py_err)?;
        Ok(words
            .into_iter()
            .zip(tags)
            .map(|(w, t)| w.into_iter().zip(t).collect())
            .collect())
    }

    /// The tag set.
    #[getter]
    fn tags(&self) -> Vec<String> {
        self.meta.tags.clone()
    }

    fn __repr__(&self) -> String {
        let t = &self.meta.train;
        format!(
            "Tagger({} {}x{}, {} tags, from {})",
            t.cell,
            t.layers,
            t.hidden,
            self.meta.tags.len(),
            self.path
        )
    }
}

/// A trained encoder-decoder (`recurrent train translate`).
#[pyclass(module = "recurrent._recurrent", name = "Translator")]
pub struct PyTranslator {
    model: recurrent::model::Seq2Seq<f32>,
    meta: TranslateMeta,
    #[pyo3(get)]
    path: String,
}

#[pymethods]
impl PyTranslator {
    /// The translation of each text: beam search of width `beam` (default: the width the
    /// model was scored with; 1 is greedy), scores normalised by length^`length_alpha`
    /// (default: the model's). A text longer than `max_tokens` is translated in pieces
    /// cut after punctuation.
    #[pyo3(signature = (texts, beam=None, length_alpha=None, max_tokens=recurrent_tasks::translate::MAX_SOURCE))]
    fn translate(
        &self,
        py: Python<'_>,
        texts: Vec<String>,
        beam: Option<usize>,
        length_alpha: Option<f64>,
        max_tokens: usize,
    ) -> PyResult<Vec<String>> {
        let beam = beam.unwrap_or(self.meta.beam);
        if !(1..=64).contains(&beam) {
            return Err(PyValueError::new_err(format!(
                "beam must be 1 to 64, got {beam}"
            )));
        }
        if max_tokens == 0 {
            return Err(PyValueError::new_err("max_tokens must be at least 1"));
        }
        let mut meta = self.meta.clone();
        if let Some(a) = length_alpha {
            if !(a >= 0.0 && a.is_finite()) {
                return Err(PyValueError::new_err("length_alpha must be >= 0"));
            }
            meta.length_alpha = a;
        }
        let model = &self.model;
        py.detach(|| {
            use recurrent_tasks::translate::{translate_beam, translate_greedy};
            if beam == 1 {
                return translate_greedy(model, &meta, &texts, max_tokens);
            }
            let hyps = translate_beam(model, &meta, &texts, beam, 1, max_tokens)?;
            Ok(hyps
                .into_iter()
                .map(|h| h.into_iter().next().map(|(_, t)| t).unwrap_or_default())
                .collect())
        })
        .map_err(py_err)
    }

    fn __repr__(&self) -> String {
        let t = &self.meta.train;
        format!(
            "Translator({} {}x{}, attention {}, from {})",
            t.cell, t.layers, t.hidden, t.attention, self.path
        )
    }
}

/// A trained tune model (`recurrent train music`).
#[pyclass(module = "recurrent._recurrent", name = "Composer")]
pub struct PyComposer {
    model: LanguageModel<f32>,
    meta: MusicMeta,
    #[pyo3(get)]
    path: String,
}

#[pymethods]
impl PyComposer {
    /// `n` tunes in ABC notation, as `recurrent compose` writes them: in `meter` and `key`
    /// (default: drawn from the training tunes), sampled at `temperature` among the
    /// `top_k` (0: all) most likely tokens and the smallest set of mass `top_p`, from a
    /// stream seeded by `seed`.
    #[pyo3(signature = (meter=None, key=None, n=1, title=None, temperature=1.0, top_k=0, top_p=1.0, seed=0))]
    #[allow(clippy::too_many_arguments)] // Python's keyword arguments
    fn compose(
        &self,
        py: Python<'_>,
        meter: Option<String>,
        key: Option<String>,
        n: usize,
        title: Option<String>,
        temperature: f64,
        top_k: usize,
        top_p: f64,
        seed: u64,
    ) -> PyResult<Vec<String>> {
        use recurrent_tasks::music::compose::{compose, ComposeOptions};
        let sampler = SamplerConfig {
            temperature,
            top_k,
            top_p,
        };
        Sampler::new(sampler).map_err(py_err)?;
        let opts = ComposeOptions {
            meter,
            key,
            title,
            sampler,
            attempts: recurrent_tasks::music::compose::ATTEMPTS,
        };
        let (model, meta) = (&self.model, &self.meta);
        py.detach(|| compose(model, meta, &opts, n, seed))
            .map_err(py_err)
    }

    fn __repr__(&self) -> String {
        let t = &self.meta.train;
        format!(
            "Composer({} {}x{}, {} tokens, from {})",
            t.cell,
            t.layers,
            t.hidden,
            self.meta.vocab.len(),
            self.path
        )
    }
}
