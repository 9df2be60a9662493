//! Language models (many-to-many, aligned): a corpus is read and split by position
//! ([`recurrent::text::corpus`]), tokenised by character or word ([`recurrent::text::Vocab`]),
//! and a [`recurrent::model::LanguageModel`] is trained by truncated BPTT over contiguous
//! streams ([`train`]), the recipe of PyTorch's char-rnn benchmark, which also loads a
//! checkpoint (ours, through [`recurrent::checkpoint::shapes::lm_from_checkpoint`], or
//! PyTorch's). Generation is [`recurrent::decode::generate`].

pub mod train;
