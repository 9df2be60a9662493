//! Sequence labelling (many-to-many, aligned): part-of-speech tags from CoNLL-U files
//! ([`conllu`]), a word + suffix + shape [`recurrent::model::feature_tagger::FeatureTagger`]
//! trained with padded steps masked, scored by token accuracy, accuracy on unseen words and
//! macro-F1 ([`train`]).

pub mod conllu;
pub mod train;
