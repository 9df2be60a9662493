//! The commands of the forecast application: `train forecast` and `forecast`.

pub mod predict;
pub mod train;
