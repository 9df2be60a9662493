//! Translation (many-to-many, encoder-decoder). Sentence pairs are read and split by source
//! sentence ([`parallel`]) and cut into the units the model reads ([`subword`]: words, BPE
//! pieces or characters); what decides the weights is [`config`]; a
//! [`recurrent::model::Seq2Seq`] with attention trains with teacher forcing ([`train`]);
//! a trained model translates greedily or by beam search ([`translator`]) and is scored by
//! corpus BLEU exact to sacreBLEU ([`bleu`], [`evaluate`]). [`synthetic`] makes string
//! tasks that need no corpus.

pub mod bleu;
pub mod config;
pub mod evaluate;
pub mod parallel;
pub mod subword;
pub mod synthetic;
pub mod train;
pub mod translator;

pub use config::*;
pub use evaluate::*;
pub use synthetic::*;
pub use train::*;
pub use translator::*;
