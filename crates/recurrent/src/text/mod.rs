//! Text that several applications share: reading a corpus and streaming it in batches
//! ([`corpus`]), vocabularies and tokenizers ([`vocab`], with the musical tokens of ABC
//! notation in [`abc`]), words of a sentence and their ids ([`words`]), pretrained word
//! vectors ([`vectors`]), batching sequences by length ([`bucket`]) and the longest item a
//! task takes whole ([`limit`]).

pub mod abc;
pub mod bucket;
pub mod corpus;
pub mod limit;
pub mod vectors;
pub mod vocab;
pub mod words;

pub use corpus::{read_text, StreamBatcher};
pub use vocab::{Tokenizer, Vocab};
