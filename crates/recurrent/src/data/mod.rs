//! Readers of users' files and what turns them into batches. One reader per format; each
//! names the file and the place (line, byte) of any problem, and refuses input that would
//! need far more memory than the file itself.

pub mod bucket;
pub mod conllu;
pub mod connected;
pub mod labelled;
pub mod longrange;
pub mod parallel;
pub mod series;
pub mod text;
pub mod vectors;
pub mod vocab;

pub use text::{read_text, StreamBatcher};
pub use vocab::{Tokenizer, Vocab};
