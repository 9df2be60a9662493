//! The applications over arrays: the forecaster (values in, a forecast with its intervals
//! out, as `recurrent forecast` makes it) and the digit transcriber (WAV files or sample
//! arrays in, digits out, as `recurrent transcribe`).

use crate::convert::py_err;
use numpy::{PyReadonlyArray1, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use recurrent::{Precision, Quantize};
use recurrent_tasks::forecast::series::{parse_series, Fill, SeriesSpec};
use recurrent_tasks::forecast::Forecaster;
use recurrent_tasks::speech::connected::{self, ConnectedExtra};
use recurrent_tasks::speech::ctc::CtcMeta;
use recurrent_tasks::speech::ctc_model::CtcModel;
use recurrent_tasks::speech::isolated::{self, SpeechMeta};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// A trained forecaster (`recurrent train forecast`).
#[pyclass(module = "recurrent._recurrent", name = "Forecaster")]
pub struct PyForecaster {
    model: Forecaster,
    #[pyo3(get)]
    path: String,
}

/// The forecaster of a forecasting run directory (its refit on every row, else its best
/// checkpoint) or checkpoint file.
pub fn load_forecaster(py: Python<'_>, path: &Path, p: Precision) -> PyResult<Py<PyAny>> {
    let loaded = py.detach(|| -> recurrent::Result<_> {
        let file = recurrent_tasks::forecast::forecast_checkpoint(path)?;
        let mut f = recurrent_tasks::forecast::load_forecaster(&file)?;
        f.set_precision(p);
        Ok((f, file))
    });
    let (model, file) = loaded.map_err(py_err)?;
    let f = PyForecaster {
        model,
        path: file.display().to_string(),
    };
    Ok(Bound::new(py, f)?.into_any().unbind())
}

/// `values` [rows] or [rows, columns] (NaN: missing) and their dates as the CSV text
/// `parse_series` reads, so that an array is read exactly as a file would be.
fn as_csv(
    values: &PyReadonlyArrayDyn<'_, f64>,
    dates: Option<&[String]>,
    names: &[String],
    date_column: &str,
) -> PyResult<String> {
    let shape = values.shape();
    let (rows, width) = match *shape {
        [n] => (n, 1),
        [n, w] => (n, w),
        _ => {
            return Err(PyValueError::new_err(format!(
                "values: expected [rows] or [rows, columns], got shape {shape:?}"
            )))
        }
    };
    if names.len() != width {
        return Err(PyValueError::new_err(format!(
            "values have {width} column(s), and the model reads {} ({}): pass a DataFrame \
             with those columns, or an array of that width",
            names.len(),
            names.join(", ")
        )));
    }
    if let Some(d) = dates.filter(|d| d.len() != rows) {
        return Err(PyValueError::new_err(format!(
            "{} dates for {rows} rows of values",
            d.len()
        )));
    }
    let a = values.as_array();
    let mut s = String::new();
    if dates.is_some() {
        s.push_str(date_column);
        s.push(',');
    }
    s.push_str(&names.join(","));
    s.push('\n');
    for (r, row) in a
        .to_shape((rows, width))
        .map_err(|e| PyValueError::new_err(e.to_string()))?
        .outer_iter()
        .enumerate()
    {
        if let Some(d) = dates {
            s.push_str(&d[r]);
            s.push(',');
        }
        for (j, v) in row.iter().enumerate() {
            if j > 0 {
                s.push(',');
            }
            if v.is_finite() {
                let _ = write!(s, "{v}");
            } else if !v.is_nan() {
                return Err(PyValueError::new_err(format!(
                    "values: row {r} holds {v}; give finite numbers (NaN for a missing one)"
                )));
            }
        }
        s.push('\n');
    }
    Ok(s)
}

#[pymethods]
impl PyForecaster {
    /// The next `horizon` values (default: the model's horizon) after `data`: a pandas
    /// Series or DataFrame (its DatetimeIndex or PeriodIndex gives the dates), or an array
    /// [rows] or [rows, columns] with `dates` beside it. Returns a dict ready for
    /// `pandas.DataFrame`: `date` (or `step`), `forecast`, and the 80% (`lower`, `upper`)
    /// and 95% (`lower_95`, `upper_95`) intervals. Missing values follow `fill`
    /// (interpolate, forward or none; default: the model's).
    #[pyo3(signature = (data, horizon=None, dates=None, fill=None))]
    fn forecast<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        horizon: Option<usize>,
        dates: Option<Vec<String>>,
        fill: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let meta = &self.model.meta;
        // pandas objects are taken apart in Python (`recurrent/_series.py`).
        let split = py
            .import("recurrent._series")?
            .call_method1("split", (data,))?;
        let (values, index_dates, names): (
            Bound<'py, PyAny>,
            Option<Vec<String>>,
            Option<Vec<String>>,
        ) = split.extract()?;
        let values: PyReadonlyArrayDyn<'py, f64> = values.extract()?;
        let dates = dates.or(index_dates);
        // A single column is the target whatever it is called; columns go by name.
        let names = match names {
            Some(n) if n.len() > 1 => n,
            _ if values.ndim() == 1 || values.shape().get(1) == Some(&1) => {
                vec![meta.columns[0].clone()]
            }
            _ => meta.columns.clone(),
        };
        let date_column = meta.date_column.clone().unwrap_or_else(|| "date".into());
        let csv = as_csv(&values, dates.as_deref(), &names, &date_column)?;
        let fill: Fill = match fill {
            Some(f) => f.parse().map_err(py_err)?,
            None => meta.fill,
        };
        let spec = SeriesSpec {
            columns: meta.columns.clone(),
            date_column: dates.as_ref().map(|_| date_column.clone()),
            fill,
        };
        let h = horizon.unwrap_or(meta.train.horizon);
        let model = &self.model;
        let fc = py
            .detach(|| {
                let name = Path::new("the values given");
                let series = parse_series(&csv, name, &spec, &mut |m| eprintln!("{m}"))?;
                model.forecast_future(&series, h)
            })
            .map_err(py_err)?;
        let out = PyDict::new(py);
        match &fc.dates {
            Some(d) => out.set_item("date", d.iter().map(|d| d.to_string()).collect::<Vec<_>>())?,
            None => out.set_item("step", (1..=fc.values.len()).collect::<Vec<_>>())?,
        }
        out.set_item("forecast", &fc.values)?;
        for (k, v) in [
            ("lower", &fc.lower),
            ("upper", &fc.upper),
            ("lower_95", &fc.lower_95),
            ("upper_95", &fc.upper_95),
        ] {
            if let Some(v) = v {
                out.set_item(k, v)?;
            }
        }
        Ok(out)
    }

    /// The columns the model reads, the target first.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.model.meta.columns.clone()
    }

    /// The horizon the model was trained for.
    #[getter]
    fn horizon(&self) -> usize {
        self.model.meta.train.horizon
    }

    fn __repr__(&self) -> String {
        let m = &self.model.meta;
        format!(
            "Forecaster({:?}, horizon {}, lookback {}, from {})",
            m.columns, m.train.horizon, m.lookback, self.path
        )
    }
}

/// An isolated-digit or a connected-digit (CTC) model.
enum Speech {
    Isolated(Box<(recurrent::model::Classifier<f32>, SpeechMeta)>),
    Connected(Box<(CtcModel<f32>, CtcMeta, ConnectedExtra)>),
}

/// A trained digit recogniser (`recurrent train speech`, either task).
#[pyclass(module = "recurrent._recurrent", name = "Transcriber")]
pub struct PyTranscriber {
    speech: Speech,
    #[pyo3(get)]
    path: String,
}

/// The recogniser of a speech checkpoint (either task).
pub fn load_transcriber(py: Python<'_>, file: &Path, p: Precision) -> PyResult<Py<PyAny>> {
    let speech = py
        .detach(|| -> recurrent::Result<Speech> {
            Ok(if connected::is_ctc_checkpoint(file)? {
                let mut m = connected::load_connected(file)?;
                m.0.set_precision(p);
                Speech::Connected(Box::new(m))
            } else {
                let mut m = isolated::load_speech(file)?;
                m.0.set_precision(p);
                Speech::Isolated(Box::new(m))
            })
        })
        .map_err(py_err)?;
    let t = PyTranscriber {
        speech,
        path: file.display().to_string(),
    };
    Ok(Bound::new(py, t)?.into_any().unbind())
}

/// One recording: a WAV file, or samples with their rate.
enum Audio {
    File(PathBuf),
    Samples(Vec<f32>),
}

fn audio(x: &Bound<'_, PyAny>, sample_rate: Option<u32>, rate: u32) -> PyResult<Audio> {
    if let Ok(p) = x.extract::<PathBuf>() {
        return Ok(Audio::File(p));
    }
    let samples: Vec<f32> = if let Ok(a) = x.extract::<PyReadonlyArray1<'_, f32>>() {
        a.as_array().to_vec()
    } else if let Ok(a) = x.extract::<PyReadonlyArray1<'_, f64>>() {
        a.as_array().iter().map(|&v| v as f32).collect()
    } else {
        return Err(PyTypeError::new_err(
            "each recording must be a path to a WAV file or a 1-D float32/float64 array of \
             mono samples",
        ));
    };
    let from = sample_rate.ok_or_else(|| {
        PyValueError::new_err("sample_rate is required with arrays of samples (e.g. 8000)")
    })?;
    if from == 0 {
        return Err(PyValueError::new_err("sample_rate must be positive"));
    }
    if samples.iter().any(|v| !v.is_finite()) {
        return Err(PyValueError::new_err("samples must be finite numbers"));
    }
    let x = recurrent_tasks::speech::audio::resample::resample(&samples, from, rate)
        .map_err(PyValueError::new_err)?;
    Ok(Audio::Samples(x))
}

#[pymethods]
impl PyTranscriber {
    /// The digits spoken in each recording: a path to a WAV file (any rate and format the
    /// CLI reads) or an array of mono samples at `sample_rate`. One recording gives one
    /// dict, a list gives a list: `digits`, `confidence` (0 when no speech was heard,
    /// `non_speech` saying why) and, for isolated digits, every digit's `probabilities`.
    /// `beam`: prefix-beam-search width of connected-digit models (default: the model's; 1
    /// is greedy).
    #[pyo3(signature = (recordings, sample_rate=None, beam=None))]
    fn transcribe<'py>(
        &self,
        py: Python<'py>,
        recordings: &Bound<'py, PyAny>,
        sample_rate: Option<u32>,
        beam: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let one = recordings.extract::<PathBuf>().is_ok()
            || recordings.extract::<PyReadonlyArrayDyn<'_, f32>>().is_ok()
            || recordings.extract::<PyReadonlyArrayDyn<'_, f64>>().is_ok();
        let items: Vec<Bound<'py, PyAny>> = if one {
            vec![recordings.clone()]
        } else {
            recordings.try_iter()?.collect::<PyResult<_>>()?
        };
        let rate = match &self.speech {
            Speech::Isolated(m) => m.1.features.sample_rate,
            Speech::Connected(m) => m.2.features.sample_rate,
        };
        let audios = items
            .iter()
            .map(|x| audio(x, sample_rate, rate))
            .collect::<PyResult<Vec<_>>>()?;
        let beam = match (&self.speech, beam) {
            (_, Some(b)) if !(1..=64).contains(&b) => {
                return Err(PyValueError::new_err(format!(
                    "beam must be 1 to 64, got {b}"
                )))
            }
            (Speech::Connected(m), None) => m.1.train.beam,
            (_, b) => b.unwrap_or(1),
        };
        let results = audios
            .iter()
            .map(|a| {
                let out = PyDict::new(py);
                let speech = &self.speech;
                match speech {
                    Speech::Isolated(m) => {
                        let (model, meta) = (&m.0, &m.1);
                        let t = py
                            .detach(|| match a {
                                Audio::File(p) => isolated::transcribe_file(model, meta, p),
                                Audio::Samples(x) => isolated::transcribe_samples(model, meta, x),
                            })
                            .map_err(py_err)?;
                        out.set_item("digits", t.digits)?;
                        out.set_item("confidence", t.confidence)?;
                        out.set_item("non_speech", t.non_speech)?;
                        out.set_item("probabilities", t.probabilities)?;
                    }
                    Speech::Connected(m) => {
                        let (model, meta, extra) = (&m.0, &m.1, &m.2);
                        let t = py
                            .detach(|| match a {
                                Audio::File(p) => {
                                    connected::transcribe_ctc_file(model, meta, extra, p, beam)
                                }
                                Audio::Samples(x) => {
                                    connected::transcribe_ctc_samples(model, meta, extra, x, beam)
                                }
                            })
                            .map_err(py_err)?;
                        out.set_item("digits", t.digits)?;
                        out.set_item("confidence", t.confidence)?;
                        out.set_item("non_speech", t.non_speech)?;
                    }
                }
                Ok(out)
            })
            .collect::<PyResult<Vec<_>>>()?;
        if one {
            Ok(results
                .into_iter()
                .next()
                .map(Bound::into_any)
                .ok_or_else(|| PyValueError::new_err("no recording"))?)
        } else {
            Ok(pyo3::types::PyList::new(py, results)?.into_any())
        }
    }

    /// `isolated` or `connected`.
    #[getter]
    fn task(&self) -> &'static str {
        match self.speech {
            Speech::Isolated(_) => "isolated",
            Speech::Connected(_) => "connected",
        }
    }

    fn __repr__(&self) -> String {
        format!("Transcriber({}, from {})", self.task(), self.path)
    }
}
