//! The gradient lab: the long-range tasks that show vanishing and exploding gradients
//! (adding, copy memory, sequential digits: [`tasks`]), training on them ([`longrange`]), and
//! the gradient-flow diagnosis of any model, per time step and layer ([`diagnose`]).

pub mod diagnose;
pub mod longrange;
pub mod tasks;
