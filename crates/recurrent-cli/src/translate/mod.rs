//! The commands of the translate application: `train translate` and `translate`.

pub mod predict;
pub mod train;
