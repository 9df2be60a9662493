//! Time-series forecasting: a dated CSV read with gaps filled ([`series`]), a recurrent
//! forecaster on sliding windows (direct or recursive) trained and refit ([`train`]), and the
//! naive, seasonal-naive and drift baselines with MASE, sMAPE and the other scores on the
//! same origins ([`eval`]).

pub mod eval;
pub mod series;
pub mod train;
