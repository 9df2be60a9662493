//! The commands of the music application: `train music`, `compose` and `music-stats`.

pub mod compose;
pub mod stats;
pub mod train;
