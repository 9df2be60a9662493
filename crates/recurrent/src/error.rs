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
    /// The ranks of a data-parallel run disagree or cannot reach each other.
    #[error("data-parallel training: {0}")]
    Parallel(String),
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

/// The most characters of a user's input that a message quotes (about two lines of a
/// terminal): a 10 MB header cell must not become a 10 MB error.
pub const QUOTE_CHARS: usize = 200;

/// `s` as a message quotes it: at most [`QUOTE_CHARS`] characters, then how many were cut.
pub fn quote(s: &str) -> String {
    match s.char_indices().nth(QUOTE_CHARS) {
        None => s.to_string(),
        Some((end, _)) => format!(
            "{}... ({} more characters)",
            &s[..end],
            s[end..].chars().count()
        ),
    }
}

/// The first items of a list a message names, then how many are left out.
pub fn quote_list<S: AsRef<str>>(items: &[S], max: usize) -> String {
    let shown: Vec<&str> = items.iter().take(max).map(|s| s.as_ref()).collect();
    let mut out = quote(&shown.join(", "));
    if items.len() > max {
        out.push_str(&format!(", ... ({} more)", items.len() - max));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_capped() {
        assert_eq!(quote("short"), "short");
        let long = "é".repeat(QUOTE_CHARS + 5);
        let q = quote(&long);
        assert!(q.starts_with(&"é".repeat(QUOTE_CHARS)) && q.ends_with("(5 more characters)"));
        let labels: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        assert_eq!(quote_list(&labels, 3), "0, 1, 2, ... (97 more)");
        assert_eq!(quote_list(&labels[..2], 3), "0, 1");
    }
}
