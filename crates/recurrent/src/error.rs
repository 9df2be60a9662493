//! The library's one error type. Every variant names what went wrong and where.

use std::path::PathBuf;

/// Errors the library reports instead of panicking on input it did not create.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file's content is not what it should be (format, encoding, truncation).
    #[error("{path}: {msg}")]
    Format { path: PathBuf, msg: String },
    /// A tensor has the wrong shape, dtype or is missing.
    #[error("tensor `{name}`: {msg}")]
    Tensor { name: String, msg: String },
    /// A configuration value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Input data is unusable (NaN, empty, wrong width).
    #[error("invalid input: {0}")]
    Input(String),
    /// A loss or gradient became NaN or infinite.
    #[error("{0}")]
    Numerical(String),
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    /// A format error in `path`.
    pub fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            msg: msg.into(),
        }
    }
    /// A problem with the tensor `name`.
    pub fn tensor(name: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Tensor {
            name: name.into(),
            msg: msg.into(),
        }
    }
}
