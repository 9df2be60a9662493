//! Translation (many-to-many, encoder-decoder): sentence pairs split by source sentence
//! ([`parallel`]), a [`recurrent::model::Seq2Seq`] with attention trained with teacher forcing
//! and decoded greedily or by beam search ([`train`]), scored by corpus BLEU exact to
//! sacreBLEU ([`bleu`]).

pub mod bleu;
pub mod parallel;
pub mod train;
