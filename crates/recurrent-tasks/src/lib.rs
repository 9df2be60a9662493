//! # recurrent-tasks
//!
//! The applications of the seeds, one folder each, on top of the engine ([`recurrent`]):
//! each folder holds its readers, model (where it is the application's own), trainer,
//! evaluation and metrics, and its `mod.rs` says in a few lines what it does and where its
//! parts are. An application imports the engine and never another application: what two
//! need lives in the engine.
//!
//! | folder | what it trains |
//! | --- | --- |
//! | [`lm`] | character or word language models (truncated BPTT over a corpus) |
//! | [`classify`] | sentence classifiers (sentiment) |
//! | [`tag`] | part-of-speech taggers from CoNLL-U |
//! | [`forecast`] | time-series forecasters, scored against classical baselines |
//! | [`translate`] | attention encoder-decoders, scored by BLEU |
//! | [`speech`] | spoken-digit recognisers: isolated (many-to-one) and connected (CTC) |
//! | [`music`] | folk tunes in ABC: tokens, grammar, constrained sampling, MIDI |
//! | [`lab`] | the gradient lab: long-range tasks and gradient-flow diagnosis |
//!
//! [`fuzzing`] holds the entry points of the fuzz targets, one per reader.

pub mod classify;
pub mod export;
pub mod forecast;
pub mod fuzzing;
pub mod lab;
pub mod lm;
pub mod music;
pub mod speech;
pub mod tag;
pub mod translate;
