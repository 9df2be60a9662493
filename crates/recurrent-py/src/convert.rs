//! NumPy arrays to tensors and back, and engine errors to Python exceptions.

use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{Element, IntoPyArray, PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{
    PyArithmeticError, PyFileNotFoundError, PyOSError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use recurrent::{Error, Float, Tensor};

/// The Python exception for an engine error: a missing file is `FileNotFoundError`, other
/// I/O `OSError`, a non-finite loss `ArithmeticError`, everything else (shapes, settings,
/// input) `ValueError`, each with the engine's own message.
pub fn py_err(e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(msg)
        }
        Error::Io { .. } => PyOSError::new_err(msg),
        Error::Numerical(_) => PyArithmeticError::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}

/// The dtype's NumPy name, for messages.
pub fn dtype_name<F: Float>() -> &'static str {
    if std::mem::size_of::<F>() == 4 {
        "float32"
    } else {
        "float64"
    }
}

/// A tensor from an ndarray of dtype `F` (C-contiguous or not), or a TypeError naming
/// `what` and the dtype it needs.
pub fn tensor<F: Float + Element>(a: &Bound<'_, PyAny>, what: &str) -> PyResult<Tensor<F>> {
    let arr: PyReadonlyArrayDyn<'_, F> = a.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what}: expected a numpy.ndarray of {}",
            dtype_name::<F>()
        ))
    })?;
    let shape = arr.shape().to_vec();
    // From the engine's buffer pool, as the engine copies its own inputs: a buffer the
    // last call gave back, warm in cache, instead of a fresh allocation every call.
    let data = match arr.as_slice() {
        Ok(s) => recurrent::kernels::workspace::copy_of(s),
        Err(_) => arr.as_array().iter().copied().collect(),
    };
    Tensor::from_vec(&shape, data).map_err(py_err)
}

/// The optional `a` as a tensor.
pub fn opt_tensor<F: Float + Element>(
    a: Option<&Bound<'_, PyAny>>,
    what: &str,
) -> PyResult<Option<Tensor<F>>> {
    a.filter(|a| !a.is_none())
        .map(|a| tensor(a, what))
        .transpose()
}

/// An ndarray holding `t` (moved, not copied).
pub fn array<'py, F: Float + Element>(
    py: Python<'py>,
    t: Tensor<F>,
) -> PyResult<Bound<'py, PyArrayDyn<F>>> {
    let shape = t.shape().to_vec();
    let a = ArrayD::from_shape_vec(IxDyn(&shape), t.into_vec())
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(a.into_pyarray(py))
}
