//! The forecaster's networks as an ONNX graph: `window` [lookback, batch, columns] of the
//! series' own values (the target column first) in, `forecast` [batch, horizon] of the
//! target out: the scaler, each member of the ensemble, the median over the members and the
//! inverse scaling are in the graph.
//!
//! ```text
//! z = (t(x) - mean) / std            t = log under --scale log, else the identity
//! f_k = member_k(z) (+ z[last, :, 0] for a delta target)         [B, H] each
//! forecast = t^-1(median_k f_k * std_0 + mean_0)
//! ```
//!
//! This is the `rnn` column of `test_forecasts.csv`. What `recurrent forecast` prints is the
//! median of the members chosen by validation, which may include ETS, MSTL or Theta refit
//! on the rows it is given: a fit, not a fixed graph, so it stays outside the file (the
//! `combination` metadata names it). Recursive and hybrid forecasters are refused.

use crate::forecast::{Forecaster, Scale, Strategy, TargetKind};
use recurrent::error::{Error, Result};
use recurrent::onnx::graph::{attr_int, attr_ints, Dim, Graph};
use recurrent::onnx::models::wire_classifier;
use recurrent::onnx::proto::{dtype, ModelProto};

/// Exports `f` (see the module's doc).
pub fn export_forecaster(f: &Forecaster, metadata: &[(String, String)]) -> Result<ModelProto> {
    let meta = &f.meta;
    if meta.train.strategy != Strategy::Direct {
        return Err(Error::Config(
            "ONNX export: a recursive forecaster feeds each step back in a loop, which this \
             exporter does not write; train with the default --strategy direct"
                .into(),
        ));
    }
    if meta.train.target == TargetKind::Es {
        return Err(Error::Config(
            "ONNX export: a hybrid forecaster (--target es) measures each window from a level \
             and season smoothed over the whole history, which a graph that reads one window \
             cannot hold; export a forecaster trained with --target delta or level"
                .into(),
        ));
    }
    let (l, w, h) = (meta.lookback, meta.columns.len(), meta.train.horizon);
    let mut g = Graph::new("forecaster");
    let x = g.input(
        "window",
        dtype::FLOAT,
        &[Dim::Fixed(l), Dim::Named("batch"), Dim::Fixed(w)],
    );
    let log = meta.scaler.kind == Scale::Log;
    let tx = if log { g.op("Log", &[&x], vec![]) } else { x };
    let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
    let mean = g.fresh("scaler.mean");
    let mean = g.init_f32(&mean, &[w], &f32s(&meta.scaler.mean));
    let std = g.fresh("scaler.std");
    let std = g.init_f32(&std, &[w], &f32s(&meta.scaler.std));
    let centred = g.op("Sub", &[&tx, &mean], vec![]);
    let z = g.op("Div", &[&centred, &std], vec![]);
    // The newest scaled target, [B, 1], that a delta forecast starts from.
    let last = (meta.train.target == TargetKind::Delta).then(|| {
        let (lo, hi, ax) = (
            g.ints(&[l as i64 - 1, 0]),
            g.ints(&[l as i64, 1]),
            g.ints(&[0, 2]),
        );
        let s = g.op("Slice", &[&z, &lo, &hi, &ax], vec![]);
        let ax0 = g.ints(&[0]);
        g.op("Squeeze", &[&s, &ax0], vec![])
    });
    let mut members = Vec::new();
    for (k, m) in f.nets.members.iter().enumerate() {
        let y = wire_classifier(&mut g, m, &z, None, &format!("member{k}."))?;
        let y = match &last {
            Some(last) => g.op("Add", &[&y, last], vec![]),
            None => y,
        };
        let ax0 = g.ints(&[0]);
        members.push(g.op("Unsqueeze", &[&y, &ax0], vec![]));
    }
    let refs: Vec<&str> = members.iter().map(|s| s.as_str()).collect();
    let stacked = g.op("Concat", &refs, vec![attr_int("axis", 0)]);
    let med = median(&mut g, &stacked, members.len());
    let s0 = g.scalar_f32(meta.scaler.std[0] as f32);
    let m0 = g.scalar_f32(meta.scaler.mean[0] as f32);
    let v = g.op("Mul", &[&med, &s0], vec![]);
    let v = g.op("Add", &[&v, &m0], vec![]);
    let out = if log { g.op("Exp", &[&v], vec![]) } else { v };
    g.rename(&out, "forecast");
    g.output(
        "forecast",
        dtype::FLOAT,
        &[Dim::Named("batch"), Dim::Fixed(h)],
    );
    Ok(g.into_model("a forecaster's networks exported by recurrent", metadata))
}

/// The median over the first axis of `x` [K, B, H]: the middle of the largest (K + 1) / 2
/// values for odd K, the mean of the middle two for even K (as [`super::combine::median`]).
fn median(g: &mut Graph, x: &str, k: usize) -> String {
    if k == 1 {
        let ax0 = g.ints(&[0]);
        return g.op("Squeeze", &[x, &ax0], vec![]);
    }
    let top = k / 2 + 1;
    let kk = g.ints(&[top as i64]);
    let sorted = g.op_n("TopK", &[x, &kk], 2, vec![attr_int("axis", 0)]);
    let take = if k % 2 == 1 { 1 } else { 2 };
    let (lo, hi, ax) = (
        g.ints(&[(top - take) as i64]),
        g.ints(&[top as i64]),
        g.ints(&[0]),
    );
    let mid = g.op("Slice", &[&sorted[0], &lo, &hi, &ax], vec![]);
    g.op(
        "ReduceMean",
        &[&mid],
        vec![attr_ints("axes", &[0]), attr_int("keepdims", 0)],
    )
}
