//! Time-series forecasting. A dated CSV is read with its gaps filled ([`series`]); what
//! decides the weights is [`config`]; the series is split in time ([`plan`]) and scaled on
//! its training rows ([`scale`]); a recurrent forecaster on sliding windows, direct or
//! recursive ([`model`]), optionally on windows measured from a learned exponential
//! smoothing ([`smoothing`]: the ES-RNN hybrid), is trained and refit ([`train`]) and scored on the held-out rows
//! beside the naive, seasonal-naive and drift baselines ([`report`], with the metrics and
//! baselines in [`eval`]). [`columns`] trains and forecasts every column of a file as its own
//! series; [`panel`] trains one global forecaster on the many series of a long-format file.

pub mod calendar;
pub mod classical;
pub mod columns;
pub mod combine;
pub mod config;
pub mod eval;
pub mod export;
pub mod model;
pub mod nets;
pub mod panel;
pub mod plan;
pub mod report;
pub mod scale;
pub mod series;
pub mod smoothing;
pub mod train;

pub use config::*;
pub use model::*;
pub use plan::*;
pub use report::*;
pub use scale::*;
pub use train::*;
