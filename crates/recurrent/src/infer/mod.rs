//! Inference: sampling from a distribution over tokens, beam search, and CTC decoding.

pub mod ctc_decode;
pub mod generate;
pub mod sample;

pub use sample::{Sampler, SamplerConfig};
