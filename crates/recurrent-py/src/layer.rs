//! `Rnn`: the engine's `layer::Rnn` (PyTorch's `nn.RNN/LSTM/GRU`) in float32 or float64,
//! with the cache of its last forward pass for `backward`.

use crate::convert::{array, dtype_name, opt_tensor, py_err, tensor};
use numpy::{Element, PyArrayDyn};
use pyo3::exceptions::{PyKeyError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use recurrent::init::Init;
use recurrent::{CellKind, Float, Module, Rng, Rnn, RnnCache, RnnConfig, RnnState, Tensor};

/// The layer in the dtype it computes in.
pub enum Net {
    F32(Rnn<f32>),
    F64(Rnn<f64>),
}

enum Cache {
    F32(RnnCache<f32>),
    F64(RnnCache<f64>),
}

/// A stacked, optionally bidirectional RNN, LSTM or GRU (`recurrent.nn` wraps it).
#[pyclass(module = "recurrent._recurrent", name = "Rnn")]
pub struct PyRnn {
    pub net: Net,
    cache: Option<Cache>,
    /// The stream of the inter-layer dropout masks.
    rng: Rng,
    /// Training mode: dropout between layers (as `module.train()` in PyTorch).
    #[pyo3(get, set)]
    training: bool,
}

type Arrays<'py, F> = (
    Bound<'py, PyArrayDyn<F>>,
    Bound<'py, PyArrayDyn<F>>,
    Option<Bound<'py, PyArrayDyn<F>>>,
);

/// Three arrays as Python objects (the third optional).
type Objs = (Py<PyAny>, Py<PyAny>, Option<Py<PyAny>>);

fn objs<F: Element>((a, b, c): Arrays<'_, F>) -> Objs {
    (
        a.into_any().unbind(),
        b.into_any().unbind(),
        c.map(|c| c.into_any().unbind()),
    )
}

/// Forward in `F`: (output, h_n, c_n) and the cache.
#[allow(clippy::too_many_arguments)]
fn forward<'py, F: Float + Element>(
    py: Python<'py>,
    net: &Rnn<F>,
    rng: Option<&mut Rng>,
    x: &Bound<'py, PyAny>,
    h0: Option<&Bound<'py, PyAny>>,
    c0: Option<&Bound<'py, PyAny>>,
    lengths: Option<Vec<usize>>,
) -> PyResult<(Arrays<'py, F>, RnnCache<F>)> {
    let x = tensor::<F>(x, "input")?;
    let h0 = opt_tensor::<F>(h0, "h0")?;
    let c0 = opt_tensor::<F>(c0, "c0")?;
    let state = match (h0, c0) {
        (None, None) => None,
        (h, c) => {
            let b = if net.config().batch_first {
                x.shape().first()
            } else {
                x.shape().get(1)
            };
            let zero = net.zero_state(b.copied().unwrap_or(0));
            Some(RnnState {
                h: h.unwrap_or(zero.h),
                c: c.or(zero.c),
            })
        }
    };
    let c = net.config();
    let shape = x.shape().to_vec();
    let (out, cache) = py
        .detach(|| {
            if !c.batch_first && shape.len() == 3 && shape[2] == c.input_size {
                // Time-major already: the engine takes the buffer as it is, no second copy.
                let (t, b) = (shape[0], shape[1]);
                net.forward_tm(x.into_vec(), t, b, state.as_ref(), lengths.as_deref(), rng)
            } else {
                net.forward(&x, state.as_ref(), lengths.as_deref(), rng)
            }
        })
        .map_err(py_err)?;
    let c_n = out.state.c.map(|c| array(py, c)).transpose()?;
    Ok((
        (array(py, out.output)?, array(py, out.state.h)?, c_n),
        cache,
    ))
}

/// Backward in `F`: (d_input, d_h0, d_c0), adding into every parameter's gradient.
fn backward<'py, F: Float + Element>(
    py: Python<'py>,
    net: &mut Rnn<F>,
    cache: &RnnCache<F>,
    d_out: &Bound<'py, PyAny>,
    d_h: Option<&Bound<'py, PyAny>>,
    d_c: Option<&Bound<'py, PyAny>>,
) -> PyResult<Arrays<'py, F>> {
    let d_out = tensor::<F>(d_out, "grad_output")?;
    let d_h = opt_tensor::<F>(d_h, "grad_h_n")?;
    let d_c = opt_tensor::<F>(d_c, "grad_c_n")?;
    let g = py
        .detach(|| net.backward(cache, &d_out, d_h.as_ref(), d_c.as_ref()))
        .map_err(py_err)?;
    let d_c0 = g.d_c0.map(|c| array(py, c)).transpose()?;
    Ok((array(py, g.d_input)?, array(py, g.d_h0)?, d_c0))
}

/// `(name, copy of the value or of the gradient)` of the parameter `only` names (every
/// parameter with None), in PyTorch's order.
fn tensors<'py, F: Float + Element>(
    py: Python<'py>,
    net: &Rnn<F>,
    grads: bool,
    only: Option<&str>,
) -> PyResult<Vec<(String, Bound<'py, PyArrayDyn<F>>)>> {
    let mut v = Vec::new();
    net.visit(&mut |p| {
        if only.is_none_or(|n| n == p.name) {
            let t = if grads { &p.grad } else { &p.value };
            v.push((p.name.clone(), t.clone()));
        }
    });
    v.into_iter().map(|(n, t)| Ok((n, array(py, t)?))).collect()
}

/// Copies `value` into the parameter `name`, checking its shape.
fn set<F: Float + Element>(net: &mut Rnn<F>, name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
    let t = tensor::<F>(value, name)?;
    let mut found = None;
    net.visit_mut(&mut |p| {
        if p.name == name {
            found = Some(if p.value.shape() == t.shape() {
                p.value.data_mut().copy_from_slice(t.data());
                Ok(())
            } else {
                Err(PyValueError::new_err(format!(
                    "{name}: shape {:?} does not fit the parameter's {:?}",
                    t.shape(),
                    p.value.shape()
                )))
            });
        }
    });
    found.unwrap_or_else(|| {
        Err(PyKeyError::new_err(format!(
            "no parameter `{name}` in this module (its names: {})",
            names(net).join(", ")
        )))
    })
}

fn names<F: Float>(net: &Rnn<F>) -> Vec<String> {
    net.param_shapes().into_iter().map(|(n, _)| n).collect()
}

/// The same layer in `G`, the values cast.
fn cast<F: Float, G: Float>(net: &Rnn<F>) -> PyResult<Rnn<G>> {
    let mut out =
        Rnn::<G>::new(net.config().clone(), &Init::pytorch(), &mut Rng::new(0)).map_err(py_err)?;
    let mut values: Vec<Tensor<G>> = Vec::new();
    net.visit(&mut |p| values.push(p.value.cast::<G>()));
    let mut it = values.into_iter();
    out.visit_mut(&mut |p| {
        if let Some(v) = it.next() {
            p.value = v;
        }
    });
    Ok(out)
}

#[pymethods]
impl PyRnn {
    /// A layer with PyTorch's initialisation (uniform in ±1/sqrt(hidden_size)) from `seed`.
    #[new]
    #[pyo3(signature = (cell, input_size, hidden_size, num_layers=1, bias=true, batch_first=false,
                        dropout=0.0, bidirectional=false, proj_size=0, dtype="float32", seed=0,
                        zoneout=(0.0, 0.0)))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        cell: &str,
        input_size: usize,
        hidden_size: usize,
        num_layers: usize,
        bias: bool,
        batch_first: bool,
        dropout: f64,
        bidirectional: bool,
        proj_size: usize,
        dtype: &str,
        seed: u64,
        zoneout: (f64, f64),
    ) -> PyResult<Self> {
        let cell: CellKind = cell.parse().map_err(py_err)?;
        let (h, c) = zoneout;
        let mut config = RnnConfig::new(cell, input_size, hidden_size)
            .layers(num_layers)
            .bidirectional(bidirectional)
            .bias(bias)
            .batch_first(batch_first)
            .proj_size(proj_size)
            .zoneout(recurrent::cell::zoneout::Zoneout { h, c });
        config.dropout = dropout;
        let mut rng = Rng::new(seed);
        let init = Init::pytorch();
        let net = match dtype {
            "float32" => Net::F32(Rnn::new(config, &init, &mut rng).map_err(py_err)?),
            "float64" => Net::F64(Rnn::new(config, &init, &mut rng).map_err(py_err)?),
            other => {
                return Err(PyValueError::new_err(format!(
                    "dtype `{other}`: use \"float32\" or \"float64\""
                )))
            }
        };
        Ok(PyRnn {
            net,
            cache: None,
            rng: rng.fork("dropout"),
            training: true,
        })
    }

    /// "float32" or "float64".
    #[getter]
    fn dtype(&self) -> &'static str {
        match &self.net {
            Net::F32(_) => dtype_name::<f32>(),
            Net::F64(_) => dtype_name::<f64>(),
        }
    }

    /// The layer's settings, as a dict.
    fn config(&self) -> PyResult<String> {
        let c = match &self.net {
            Net::F32(n) => n.config().clone(),
            Net::F64(n) => n.config().clone(),
        };
        let v = serde_json::json!({
            "cell": c.cell.name(), "input_size": c.input_size, "hidden_size": c.hidden_size,
            "num_layers": c.num_layers, "bias": c.bias, "batch_first": c.batch_first,
            "dropout": c.dropout, "bidirectional": c.bidirectional, "proj_size": c.proj_size,
            "zoneout": [c.zoneout.h, c.zoneout.c],
        });
        Ok(v.to_string())
    }

    /// The number format of the inference products: "f32" (as the weights are), "bf16"
    /// or "int8" (weights per output channel, activations per step). Setting it quantizes
    /// the weights as they are now; changing a weight quantizes again. Training needs f32.
    #[getter]
    fn precision(&self) -> &'static str {
        match &self.net {
            Net::F32(n) => n.precision().name(),
            Net::F64(n) => n.precision().name(),
        }
    }

    #[setter]
    fn set_precision(&mut self, p: &str) -> PyResult<()> {
        let p = recurrent::Precision::parse(p).map_err(PyValueError::new_err)?;
        match &mut self.net {
            Net::F32(n) => n.set_precision(p),
            Net::F64(n) => n.set_precision(p),
        }
        self.cache = None;
        Ok(())
    }

    /// This layer in another dtype ("float32" or "float64"), the values cast.
    fn to(&mut self, dtype: &str) -> PyResult<()> {
        let net = match (&self.net, dtype) {
            (Net::F32(_), "float32") | (Net::F64(_), "float64") => return Ok(()),
            (Net::F32(n), "float64") => Net::F64(cast(n)?),
            (Net::F64(n), "float32") => Net::F32(cast(n)?),
            (_, other) => {
                return Err(PyValueError::new_err(format!(
                    "dtype `{other}`: use \"float32\" or \"float64\""
                )))
            }
        };
        let p = recurrent::Precision::parse(self.precision()).map_err(PyValueError::new_err)?;
        self.net = net;
        self.cache = None;
        // The cast copies the weights; the precision stays what it was.
        self.set_precision(p.name())
    }

    /// Forward over `input` ([T, B, I], or [B, T, I] batch-first) from `h0` (and `c0`),
    /// zeros when not given; `lengths` makes a variable-length batch. Returns (output, h_n,
    /// c_n or None) and keeps what `backward` needs.
    #[pyo3(signature = (input, h0=None, c0=None, lengths=None))]
    fn forward<'py>(
        &mut self,
        py: Python<'py>,
        input: &Bound<'py, PyAny>,
        h0: Option<&Bound<'py, PyAny>>,
        c0: Option<&Bound<'py, PyAny>>,
        lengths: Option<Vec<usize>>,
    ) -> PyResult<Objs> {
        // The last forward's buffers go back to the engine's pool first, so a loop of
        // forward calls reuses them instead of faulting in fresh pages every time.
        self.cache = None;
        let rng = self.training.then_some(&mut self.rng);
        match &self.net {
            Net::F32(n) => {
                let (arrays, cache) = forward(py, n, rng, input, h0, c0, lengths)?;
                self.cache = Some(Cache::F32(cache));
                Ok(objs(arrays))
            }
            Net::F64(n) => {
                let (arrays, cache) = forward(py, n, rng, input, h0, c0, lengths)?;
                self.cache = Some(Cache::F64(cache));
                Ok(objs(arrays))
            }
        }
    }

    /// Backward through time from dL/d(output) and, optionally, dL/dh_n (and dL/dc_n):
    /// adds into every parameter's gradient and returns (d_input, d_h0, d_c0 or None).
    #[pyo3(signature = (grad_output, grad_h_n=None, grad_c_n=None))]
    fn backward<'py>(
        &mut self,
        py: Python<'py>,
        grad_output: &Bound<'py, PyAny>,
        grad_h_n: Option<&Bound<'py, PyAny>>,
        grad_c_n: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Objs> {
        let none = || PyRuntimeError::new_err("backward before forward: call forward first");
        match (&mut self.net, self.cache.as_ref().ok_or_else(none)?) {
            (Net::F32(n), Cache::F32(c)) => {
                Ok(objs(backward(py, n, c, grad_output, grad_h_n, grad_c_n)?))
            }
            (Net::F64(n), Cache::F64(c)) => {
                Ok(objs(backward(py, n, c, grad_output, grad_h_n, grad_c_n)?))
            }
            _ => Err(none()),
        }
    }

    /// `[(name, value)]` of every parameter (copies), in PyTorch's order and names.
    fn parameters<'py>(&self, py: Python<'py>) -> PyResult<Vec<(String, Py<PyAny>)>> {
        self.list(py, false, None)
    }

    /// The parameters' names, in PyTorch's order.
    fn names(&self) -> Vec<String> {
        match &self.net {
            Net::F32(n) => names(n),
            Net::F64(n) => names(n),
        }
    }

    /// A copy of the value (or, with `grad`, the gradient) of the parameter `name` alone.
    #[pyo3(signature = (name, grad=false))]
    fn parameter(&self, py: Python<'_>, name: &str, grad: bool) -> PyResult<Py<PyAny>> {
        match self.list(py, grad, Some(name))?.pop() {
            Some((_, a)) => Ok(a),
            None => Err(PyKeyError::new_err(format!(
                "no parameter `{name}` in this module (its names: {})",
                self.names().join(", ")
            ))),
        }
    }

    /// Copies `value` (an ndarray of the layer's dtype) into the parameter `name`.
    fn set_parameter(&mut self, name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        match &mut self.net {
            Net::F32(n) => set(n, name, value),
            Net::F64(n) => set(n, name, value),
        }
    }

    /// Sets every gradient to zero.
    fn zero_grad(&mut self) {
        match &mut self.net {
            Net::F32(n) => n.zero_grad(),
            Net::F64(n) => n.zero_grad(),
        }
    }
}

impl PyRnn {
    fn list<'py>(
        &self,
        py: Python<'py>,
        grads: bool,
        only: Option<&str>,
    ) -> PyResult<Vec<(String, Py<PyAny>)>> {
        Ok(match &self.net {
            Net::F32(n) => tensors(py, n, grads, only)?
                .into_iter()
                .map(|(k, a)| (k, a.into_any().unbind()))
                .collect(),
            Net::F64(n) => tensors(py, n, grads, only)?
                .into_iter()
                .map(|(k, a)| (k, a.into_any().unbind()))
                .collect(),
        })
    }
}
