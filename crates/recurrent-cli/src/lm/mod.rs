//! The commands of the lm application: `train lm`, `sample`, `eval` and the main job (`recurrent` with no arguments, on the
//! embedded corpus).

pub mod corpus;
pub mod demo;
pub mod eval;
pub mod sample;
pub mod train;
