//! Audio in: WAV files ([`wav`]), resampling ([`resample`]), log-mel features
//! ([`features`]), training-time augmentation ([`augment`]), spoken-digit corpora laid
//! out as FSDD names its files ([`digits`]), and whether a sound is speech at all
//! ([`voicing`]).

pub mod augment;
pub mod digits;
pub mod features;
pub mod resample;
pub mod voicing;
pub mod wav;

pub use features::{FeatureConfig, MelExtractor};
pub use wav::{read_wav, read_wav_at, read_wav_bytes, Audio};
