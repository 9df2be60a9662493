//! `recurrent._recurrent`: the engine's recurrent layer and optimizers, and every
//! application's training and trained models, for Python. The Python package
//! (`python/recurrent/`) gives the layers PyTorch's shape (`recurrent.nn.LSTM`,
//! `recurrent.optim.Adam`); this module holds the weights and does the work, with the GIL
//! released while it computes.
//!
//! Arrays cross as NumPy arrays of the module's dtype (the Python layer converts other
//! float dtypes and refuses the rest); every engine error becomes a Python exception with
//! the engine's message.

mod apps;
mod convert;
mod layer;
mod optim;
mod signals;
mod train;

use pyo3::prelude::*;

#[pymodule]
fn _recurrent(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<layer::PyRnn>()?;
    m.add_class::<optim::PyOptimizer>()?;
    m.add_class::<apps::PyLanguageModel>()?;
    m.add_class::<apps::PyClassifier>()?;
    m.add_class::<apps::PyTagger>()?;
    m.add_class::<apps::PyTranslator>()?;
    m.add_class::<apps::PyComposer>()?;
    m.add_class::<signals::PyForecaster>()?;
    m.add_class::<signals::PyTranscriber>()?;
    m.add_function(wrap_pyfunction!(apps::load, m)?)?;
    m.add_function(wrap_pyfunction!(train::train, m)?)?;
    m.add_function(wrap_pyfunction!(optim::clip_grad_norm, m)?)?;
    m.add_function(wrap_pyfunction!(set_threads, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// Sets how many threads the engine's kernels use (all cores by default).
#[pyfunction]
fn set_threads(n: usize) -> PyResult<()> {
    if n == 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "threads must be at least 1",
        ));
    }
    recurrent::kernels::set_threads(n);
    Ok(())
}
