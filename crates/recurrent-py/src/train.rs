//! `recurrent.train(task, ...)`: every `recurrent train` subcommand from Python. The keyword
//! arguments arrive as one JSON object and are sorted three ways:
//! - the task's inputs (`data`, `valid`, `encoding`, ...), read as the CLI reads them;
//! - the run's options (`save_every`, `keep`, `on_nan`, `tensorboard`, `threads`);
//! - everything else, laid over the task's library config (its `Default`, the one home of
//!   each default), so Python and the CLI cannot drift apart.

use crate::convert::py_err;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use recurrent::train::{Limits, Observer, TrainRequest};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Reports a run from Python: evaluations and messages on stderr, as the CLI prints them,
/// and Ctrl-C (Python's KeyboardInterrupt) stops it cleanly at the next step.
struct PyObserver {
    /// What an evaluation's number is (`validation loss`, `validation accuracy`, ...).
    measure: &'static str,
    interrupted: std::cell::Cell<bool>,
}

impl Observer for PyObserver {
    fn on_eval(&mut self, e: &recurrent::train::EvalInfo) {
        eprintln!(
            "eval at step {} ({:.0} s): {} {:.4}{}",
            e.step,
            e.trained_s,
            self.measure,
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

fn value_err(msg: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(msg.to_string())
}

/// The paths of the config's objects (`""` for the top, `"optim"`, `"ctc.optim"`) that hold
/// `key`.
fn holders(v: &Value, key: &str, at: &str, found: &mut Vec<String>) {
    let Some(o) = v.as_object() else { return };
    if o.contains_key(key) {
        found.push(at.to_string());
    }
    for (k, child) in o {
        let path = if at.is_empty() {
            k.clone()
        } else {
            format!("{at}.{k}")
        };
        holders(child, key, &path, found);
    }
}

/// Every settable name of a config, nested ones included, for the unknown-setting message.
fn names(v: &Value, out: &mut Vec<String>) {
    if let Some(o) = v.as_object() {
        for (k, child) in o {
            if child.is_object() {
                names(child, out);
            } else {
                out.push(k.clone());
            }
        }
    }
}

/// `settings` laid over `config` (a config serialised): a key names a field of the config
/// itself or, when the top has none, of the one nested section that has it (`lr` in
/// `optim`, `hidden` in `ctc`). A cell name is read as the CLI reads `--cell`, so `"irnn"`
/// and `"rnn"` work.
fn overlay(config: &mut Value, settings: &Map<String, Value>, extra: &[&str]) -> PyResult<()> {
    for (k, v) in settings {
        let mut v = v.clone();
        if k == "cell" {
            if let Some(name) = v.as_str() {
                let kind: recurrent::cell::CellKind = name.parse().map_err(py_err)?;
                v = serde_json::to_value(kind).map_err(value_err)?;
            }
        }
        let mut found = Vec::new();
        holders(config, k, "", &mut found);
        let at = match found.iter().position(|p| p.is_empty()) {
            Some(top) => found.swap_remove(top),
            None if found.len() == 1 => found.swap_remove(0),
            None if found.is_empty() => {
                let mut known = Vec::new();
                names(config, &mut known);
                known.extend(extra.iter().map(|s| s.to_string()));
                known.sort();
                known.dedup();
                return Err(value_err(format!(
                    "unknown setting `{k}`; the settings are: {}",
                    known.join(", ")
                )));
            }
            None => {
                return Err(value_err(format!(
                    "setting `{k}` is in several sections ({}); this cannot happen with the \
                     built-in tasks, please report it",
                    found.join(", ")
                )))
            }
        };
        let mut slot = &mut *config;
        for part in at.split('.').filter(|p| !p.is_empty()) {
            slot = &mut slot[part];
        }
        slot[k.as_str()] = v;
    }
    Ok(())
}

/// The task's config: its recipe `base` with `settings` laid over it. An `irnn` cell also
/// takes the identity initialisation unless `init` is given, as on the command line.
fn config<C: Serialize + DeserializeOwned>(
    settings: &Map<String, Value>,
    extra: &[&str],
    base: C,
) -> PyResult<C> {
    // Every field, defaults included, so that a setting stored only when it differs from
    // its default (a schedule, a regulariser) can be named too.
    let mut v = recurrent::omit::all_fields(|| serde_json::to_value(base)).map_err(value_err)?;
    let mut s = settings.clone();
    let irnn = s
        .get("cell")
        .and_then(Value::as_str)
        .is_some_and(|c| c.eq_ignore_ascii_case("irnn"));
    if irnn && !s.contains_key("init") {
        s.insert("init".into(), "identity".into());
    }
    overlay(&mut v, &s, extra)?;
    serde_json::from_value(v).map_err(|e| value_err(format!("settings: {e}")))
}

/// What a run needs besides its config, taken out of the settings by name.
struct Inputs(Map<String, Value>);

impl Inputs {
    fn take(&mut self, key: &str) -> Option<Value> {
        self.0.remove(key).filter(|v| !v.is_null())
    }
    fn string(&mut self, key: &str) -> PyResult<Option<String>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(value_err(format!("`{key}` must be a string, got {v}"))),
        }
    }
    fn path(&mut self, key: &str) -> PyResult<Option<PathBuf>> {
        Ok(self.string(key)?.map(PathBuf::from))
    }
    fn required_path(&mut self, key: &str, what: &str) -> PyResult<PathBuf> {
        self.path(key)?
            .ok_or_else(|| value_err(format!("`{key}` is required: {what}")))
    }
    /// One string or a list of them.
    fn strings(&mut self, key: &str) -> PyResult<Vec<String>> {
        match self.take(key) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s]),
            Some(Value::Array(a)) => a
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    v => Err(value_err(format!("`{key}`: expected strings, got {v}"))),
                })
                .collect(),
            Some(v) => Err(value_err(format!(
                "`{key}` must be a string or a list of strings, got {v}"
            ))),
        }
    }
    fn paths(&mut self, key: &str) -> PyResult<Vec<PathBuf>> {
        Ok(self.strings(key)?.into_iter().map(PathBuf::from).collect())
    }
    fn number<T: DeserializeOwned>(&mut self, key: &str) -> PyResult<Option<T>> {
        self.take(key)
            .map(|v| serde_json::from_value(v).map_err(|e| value_err(format!("`{key}`: {e}"))))
            .transpose()
    }
}

/// The names of the run's options, which every task takes.
const RUN_OPTIONS: [&str; 5] = ["save_every", "keep", "on_nan", "tensorboard", "threads"];

/// The request for a run into `out`: the limits given, else the task's; the run's options
/// from `inputs`.
fn request(
    out: &Path,
    given: Limits,
    default: Limits,
    resume: bool,
    inputs: &mut Inputs,
) -> PyResult<TrainRequest> {
    let mut req = TrainRequest::new(out);
    req.resume = resume;
    req.limits = if given.is_set() { given } else { default };
    req.save_every = inputs.number("save_every")?;
    if let Some(keep) = inputs.number::<usize>("keep")? {
        if keep == 0 {
            return Err(value_err(
                "keep must be at least 1: the latest checkpoint is what resume continues from",
            ));
        }
        req.keep = keep;
    }
    if let Some(p) = inputs.string("on_nan")? {
        req.on_nan = p.parse().map_err(py_err)?;
    }
    if let Some(t) = inputs.take("tensorboard") {
        req.tensorboard = t
            .as_bool()
            .ok_or_else(|| value_err("`tensorboard` must be True or False"))?;
    }
    if let Some(n) = inputs.number::<usize>("threads")? {
        if n == 0 {
            return Err(value_err("threads must be at least 1"));
        }
        recurrent::kernels::set_threads(n);
    }
    Ok(req)
}

/// Trains `task` into `out` (the CLI's `runs/<task>-<timestamp>` when None): `settings` (a
/// JSON object) holds the inputs, the run's options and the config's fields. Returns the
/// run directory and its summary as JSON.
#[pyfunction]
#[pyo3(signature = (task, settings, out=None, steps=None, time_budget=None, epochs=None, resume=false))]
#[allow(clippy::too_many_arguments)] // Python's keyword arguments
pub fn train(
    py: Python<'_>,
    task: &str,
    settings: &str,
    out: Option<PathBuf>,
    steps: Option<u64>,
    time_budget: Option<f64>,
    epochs: Option<f64>,
    resume: bool,
) -> PyResult<(String, String)> {
    let given: Map<String, Value> =
        serde_json::from_str(settings).map_err(|e| value_err(format!("settings: {e}")))?;
    let out = out.unwrap_or_else(|| {
        PathBuf::from(format!(
            "runs/{task}-{}",
            recurrent::calendar::utc_timestamp()
        ))
    });
    let limits = Limits {
        steps,
        time_budget,
        epochs,
    };
    let summary = py.detach(|| {
        let mut inputs = Inputs(given);
        let run = Run {
            out: &out,
            limits,
            resume,
        };
        match task {
            "lm" => run.lm(&mut inputs),
            "classify" => run.classify(&mut inputs),
            "tag" => run.tag(&mut inputs),
            "forecast" => run.forecast(&mut inputs),
            "translate" => run.translate(&mut inputs),
            "speech" => run.speech(&mut inputs),
            "music" => run.music(&mut inputs),
            t => Err(value_err(format!(
                "unknown task `{t}`: expected lm, classify, tag, forecast, translate, speech \
                 or music"
            ))),
        }
    })?;
    Ok((out.display().to_string(), summary))
}

/// One training run's place and limits.
struct Run<'a> {
    out: &'a Path,
    limits: Limits,
    resume: bool,
}

/// A summary as JSON.
fn json(s: &impl Serialize) -> PyResult<String> {
    serde_json::to_string(s).map_err(value_err)
}

impl Run<'_> {
    /// The request, the config and an observer: `inputs` keeps the task's own inputs, and
    /// what is left after them is the config's.
    fn setup<C: Default + Serialize + DeserializeOwned>(
        &self,
        inputs: &mut Inputs,
        default: Limits,
        own: &[&str],
        measure: &'static str,
    ) -> PyResult<(TrainRequest, C, PyObserver)> {
        self.setup_from(inputs, default, own, measure, |_| C::default())
    }

    /// [`Run::setup`] for a task whose recipe depends on the run's limits.
    fn setup_from<C: Serialize + DeserializeOwned>(
        &self,
        inputs: &mut Inputs,
        default: Limits,
        own: &[&str],
        measure: &'static str,
        recipe: impl FnOnce(&Limits) -> C,
    ) -> PyResult<(TrainRequest, C, PyObserver)> {
        let req = request(self.out, self.limits, default, self.resume, inputs)?;
        let mut extra: Vec<&str> = own.to_vec();
        extra.extend(RUN_OPTIONS);
        let cfg = config(&inputs.0, &extra, recipe(&req.limits))?;
        let obs = PyObserver {
            measure,
            interrupted: std::cell::Cell::new(false),
        };
        Ok((req, cfg, obs))
    }

    fn lm(&self, inputs: &mut Inputs) -> PyResult<String> {
        use recurrent_tasks::lm::train::{train_lm, LmTrainConfig, DEFAULT_LIMITS};
        let data = inputs.required_path("data", "a text file")?;
        let (req, cfg, mut obs) =
            self.setup_from(inputs, DEFAULT_LIMITS, &["data"], "validation loss", |l| {
                LmTrainConfig::for_budget(l.time_budget)
            })?;
        let text =
            std::fs::read_to_string(&data).map_err(|e| py_err(recurrent::Error::io(&data, e)))?;
        json(&train_lm(&cfg, &text, &req, &mut obs).map_err(py_err)?)
    }

    fn classify(&self, inputs: &mut Inputs) -> PyResult<String> {
        use recurrent_tasks::classify::read::{read_labelled, ReadOptions};
        use recurrent_tasks::classify::train::{train_classify, ClassifyData, DEFAULT_LIMITS};
        let data = inputs.paths("data")?;
        if data.is_empty() {
            return Err(value_err("`data` is required: labelled text file(s)"));
        }
        let (valid, test) = (inputs.paths("valid")?, inputs.paths("test")?);
        let opts = ReadOptions {
            encoding: inputs.string("encoding")?,
            text_column: inputs.string("text_column")?,
            label_column: inputs.string("label_column")?,
        };
        let own = [
            "data",
            "valid",
            "test",
            "encoding",
            "text_column",
            "label_column",
        ];
        let (req, cfg, mut obs) =
            self.setup(inputs, DEFAULT_LIMITS, &own, "validation accuracy")?;
        let read = |paths: &[PathBuf]| -> PyResult<Option<Vec<_>>> {
            if paths.is_empty() {
                return Ok(None);
            }
            Ok(Some(read_labelled(paths, &opts).map_err(py_err)?.examples))
        };
        let data = ClassifyData {
            train: read(&data)?.unwrap_or_default(),
            valid: read(&valid)?,
            test: read(&test)?,
        };
        json(&train_classify(&cfg, data, &req, &mut obs).map_err(py_err)?)
    }

    fn tag(&self, inputs: &mut Inputs) -> PyResult<String> {
        use recurrent_tasks::tag::conllu::{column_index, read_conllu};
        use recurrent_tasks::tag::train::{train_tag, DEFAULT_LIMITS};
        let data = inputs.required_path("data", "a CoNLL-U file")?;
        let (valid, test) = (inputs.path("valid")?, inputs.path("test")?);
        // The column by name (`upos`, `xpos`), as --column takes it.
        if let Some(Value::String(c)) = inputs.0.get("column") {
            let i = column_index(c).map_err(py_err)?;
            inputs.0.insert("column".into(), i.into());
        }
        let own = ["data", "valid", "test"];
        let (req, cfg, mut obs) = self.setup::<recurrent_tasks::tag::train::TagTrainConfig>(
            inputs,
            DEFAULT_LIMITS,
            &own,
            "validation accuracy",
        )?;
        let read = |p: &Path| read_conllu(p, cfg.column).map_err(py_err);
        let train = read(&data)?;
        let valid = valid.as_deref().map(read).transpose()?;
        let test = test.as_deref().map(read).transpose()?;
        let s = train_tag(
            &cfg,
            &train,
            valid.as_deref(),
            test.as_deref(),
            &req,
            &mut obs,
        );
        json(&s.map_err(py_err)?)
    }

    fn forecast(&self, inputs: &mut Inputs) -> PyResult<String> {
        use recurrent_tasks::forecast::series::{read_series, Fill, SeriesSpec};
        use recurrent_tasks::forecast::{train_forecast, DEFAULT_LIMITS};
        let data = inputs.required_path("data", "a CSV file")?;
        let columns = inputs.strings("columns")?;
        let date_column = inputs.string("date_column")?;
        let fill: Fill = match inputs.string("fill")? {
            Some(f) => f.parse().map_err(py_err)?,
            None => Fill::default(),
        };
        let own = ["data", "columns", "date_column", "fill"];
        let (req, cfg, mut obs) = self.setup(inputs, DEFAULT_LIMITS, &own, "validation loss")?;
        let spec = SeriesSpec {
            columns,
            date_column,
            fill,
        };
        let series = read_series(&data, &spec, &mut |m| eprintln!("{m}")).map_err(py_err)?;
        json(&train_forecast(&cfg, &series, fill, &req, &mut obs).map_err(py_err)?)
    }

    fn translate(&self, inputs: &mut Inputs) -> PyResult<String> {
        use recurrent_tasks::translate::parallel::read_parallel;
        use recurrent_tasks::translate::{synthetic_pairs, train_translate, DEFAULT_LIMITS};
        use recurrent_tasks::translate::{TranslateTrainConfig, SYNTHETIC_COUNT};
        let data = inputs.path("data")?;
        let synthetic = inputs.string("synthetic")?;
        let count = inputs.number("synthetic_count")?.unwrap_or(SYNTHETIC_COUNT);
        let own = ["data", "synthetic", "synthetic_count"];
        let (req, cfg, mut obs) =
            self.setup::<TranslateTrainConfig>(inputs, DEFAULT_LIMITS, &own, "validation loss")?;
        let pairs = match (data, synthetic) {
            (Some(p), _) => read_parallel(&p).map_err(py_err)?,
            (None, Some(task)) => synthetic_pairs(&task, count, 10, cfg.seed).map_err(py_err)?,
            (None, None) => {
                return Err(value_err(
                    "give `data` (a sentence-pair file) or `synthetic` (reverse or sort)",
                ))
            }
        };
        json(&train_translate(&cfg, pairs, &req, &mut obs).map_err(py_err)?)
    }

    fn speech(&self, inputs: &mut Inputs) -> PyResult<String> {
        use recurrent_tasks::speech::{connected, isolated};
        let data = inputs.required_path("data", "a folder of {digit}_{speaker}_{index}.wav")?;
        let own = ["data", "task"];
        match inputs.0.get("task").and_then(Value::as_str) {
            None | Some("isolated") => {
                let (req, cfg, mut obs) = self.setup::<isolated::SpeechTrainConfig>(
                    inputs,
                    isolated::DEFAULT_LIMITS,
                    &own,
                    "validation accuracy",
                )?;
                json(&isolated::train_speech(&cfg, &data, &req, &mut obs).map_err(py_err)?)
            }
            Some("connected") => {
                inputs.take("task");
                let (req, cfg, mut obs) = self.setup::<connected::ConnectedSpeechConfig>(
                    inputs,
                    connected::DEFAULT_LIMITS,
                    &own,
                    "validation digit error rate",
                )?;
                json(&connected::train_connected(&cfg, &data, &req, &mut obs).map_err(py_err)?)
            }
            Some(t) => Err(value_err(format!(
                "task `{t}`: expected isolated or connected"
            ))),
        }
    }

    fn music(&self, inputs: &mut Inputs) -> PyResult<String> {
        use recurrent_tasks::music::train::{train_music, DEFAULT_LIMITS};
        let data = inputs.required_path("data", "an ABC file or a folder of them")?;
        let (req, cfg, mut obs) =
            self.setup(inputs, DEFAULT_LIMITS, &["data"], "validation loss")?;
        let tunes = recurrent_tasks::music::read_tunes(&data).map_err(py_err)?;
        json(&train_music(&cfg, &tunes, &req, &mut obs).map_err(py_err)?)
    }
}
