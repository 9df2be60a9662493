//! The commands of the classify application: `train classify` and `classify`.

pub mod predict;
pub mod train;
