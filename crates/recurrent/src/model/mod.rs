//! The task shapes of the seeds, each a small struct composing layers:
//! - one-to-one: any of them with T = 1;
//! - one-to-many: [`generator::Generator`] (a condition vector in, a sequence out);
//! - many-to-one: [`classifier::Classifier`] (classification or regression);
//! - many-to-many, aligned: [`tagger::Tagger`] and [`lm::LanguageModel`];
//! - many-to-many, encoder-decoder: [`seq2seq::Seq2Seq`].

pub mod attention;
pub mod classifier;
pub mod encoder;
pub mod feature_tagger;
pub mod generator;
pub mod input;
pub mod lm;
pub mod seq2seq;
pub mod tagger;

pub use classifier::{Classifier, ClassifierConfig, Pooling};
pub use encoder::EncoderConfig;
pub use generator::{Conditioning, Generator, GeneratorConfig};
pub use input::{InputKind, SeqBatch, Steps};
pub use lm::{LanguageModel, LmConfig};
pub use seq2seq::{Attention, BeamScore, Hypothesis, Seq2Seq, Seq2SeqConfig};
pub use tagger::{Tagger, TaggerConfig};
