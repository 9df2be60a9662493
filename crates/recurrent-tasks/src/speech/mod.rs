//! Spoken digits from WAV files. Audio in, resampling, log-mel and MFCC features and
//! augmentation are [`audio`]. Isolated words (many-to-one, a pooled recurrent classifier)
//! train in [`isolated`]. Connected digit strings (many-to-many, not aligned) are joined from
//! recordings ([`connected_data`]) and train a CTC model ([`ctc_model`]) through [`ctc`],
//! wired together in [`connected`] and scored by edit distance ([`score`]).

pub mod audio;
pub mod connected;
pub mod connected_data;
pub mod ctc;
pub mod ctc_model;
pub mod export;
pub mod isolated;
pub mod score;
