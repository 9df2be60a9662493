//! The commands of the speech application: `train speech` and `transcribe`.

pub mod train;
pub mod transcribe;
