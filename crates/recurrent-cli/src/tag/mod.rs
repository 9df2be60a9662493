//! The commands of the tag application: `train tag` and `tag`.

pub mod predict;
pub mod train;
