//! Inference: sampling from a distribution over tokens, and beam search.

pub mod generate;
pub mod sample;

pub use sample::{Sampler, SamplerConfig};
