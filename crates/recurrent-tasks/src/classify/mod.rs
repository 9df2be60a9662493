//! Sentence classification (many-to-one, sentiment): labelled lines in several formats
//! ([`read`]), words and pretrained vectors ([`recurrent::text`]), a
//! [`recurrent::model::Classifier`] trained on batches bucketed by length and scored by
//! accuracy, macro-F1 and the confusion matrix ([`train`]).

pub mod read;
pub mod train;
