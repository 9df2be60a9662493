//! Folk music in ABC notation: reading a corpus of tunes and splitting it by tune
//! ([`corpus`]), the musical tokens ([`recurrent::text::abc`], shared with `train lm
//! --tokenizer abc`), a parser that knows bars and durations, a sampler constrained by the
//! meter and the repeats, a MIDI renderer, and validity measures of generated tunes ([`validity`]);
//! the language model over tunes trains in [`train`] and composes in [`compose`].
//!
//! ```text
//! corpus (X: records) -> tokens (exact slices of the text) -> parse (notes, bars, repeats)
//!                                                           -> MIDI (repeats expanded)
//! language model over tokens -> constrained sampling -> ABC text
//! ```

pub mod compose;
pub mod corpus;
pub mod grammar;
pub mod midi;
pub mod parse;
pub mod train;
pub mod validity;

pub use corpus::{read_tunes, split_tunes, TuneRecord};
pub use parse::{parse_tune, ParsedTune};
pub use recurrent::text::abc::{tokenize, Kind, Token};
