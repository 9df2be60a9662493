//! The CTC recogniser as an ONNX graph: `features` [time, batch, I] (the log-mel frames
//! `transcribe` computes) and optional `lengths` int32 [batch] in; `log_probs`
//! [ceil(time / k), batch, C] out, the per-step log-probabilities over the blank (class 0)
//! and the symbols, for any CTC decoder. Frame stacking is written in the graph:
//!
//! ```text
//! frames past a length -> 0;  pad time to a multiple of k with zeros
//! [T, B, I] -> [T/k, k, B, I] -> [T/k, B, k, I] -> [T/k, B, kI]     lengths -> ceil(len / k)
//! ```

use super::ctc_model::CtcModel;
use recurrent::error::Result;
use recurrent::onnx::graph::{attr_int, attr_ints, axis_len, Dim, Graph};
use recurrent::onnx::models::{linear, mask_past_lengths};
use recurrent::onnx::proto::{dtype, ModelProto};
use recurrent::onnx::{rnn, Lengths};

/// Exports `m` (see the module's doc).
pub fn export_ctc(
    m: &CtcModel<f32>,
    lengths: Lengths,
    metadata: &[(String, String)],
) -> Result<ModelProto> {
    let (i, k) = (m.config.input, m.config.stack.max(1));
    let mut g = Graph::new("ctc");
    let dims = [Dim::Named("time"), Dim::Named("batch"), Dim::Fixed(i)];
    let mut x = g.input("features", dtype::FLOAT, &dims);
    let mut lens = lengths
        .0
        .then(|| g.input("lengths", dtype::INT32, &[Dim::Named("batch")]));
    if let Some(l) = &lens {
        x = mask_past_lengths(&mut g, &x, l, 0.0);
    }
    if k > 1 {
        let kk = g.ints(&[k as i64]);
        let t = axis_len(&mut g, &x, 0);
        // pad = (k - T mod k) mod k
        let r = g.op("Mod", &[&t, &kk], vec![]);
        let r = g.op("Sub", &[&kk, &r], vec![]);
        let pad = g.op("Mod", &[&r, &kk], vec![]);
        let (z3, z2) = (g.ints(&[0, 0, 0]), g.ints(&[0, 0]));
        let pads = g.op("Concat", &[&z3, &pad, &z2], vec![attr_int("axis", 0)]);
        let x_pad = g.op("Pad", &[&x, &pads], vec![]);
        let t_pad = g.op("Add", &[&t, &pad], vec![]);
        let t2 = g.op("Div", &[&t_pad, &kk], vec![]);
        let rest = g.ints(&[k as i64, -1, i as i64]);
        let shape4 = g.op("Concat", &[&t2, &rest], vec![attr_int("axis", 0)]);
        let x4 = g.op("Reshape", &[&x_pad, &shape4], vec![]);
        let xt = g.op("Transpose", &[&x4], vec![attr_ints("perm", &[0, 2, 1, 3])]);
        let flat = g.ints(&[0, 0, (k * i) as i64]);
        x = g.op("Reshape", &[&xt, &flat], vec![]);
        lens = lens.map(|l| {
            let km1 = g.fresh("k_minus_1");
            let km1 = g.init_i32(&km1, &[(k - 1) as i32]);
            let k32 = g.fresh("k");
            let k32 = g.init_i32(&k32, &[k as i32]);
            let up = g.op("Add", &[&l, &km1], vec![]);
            g.op("Div", &[&up, &k32], vec![])
        });
    }
    let t = &m.tagger;
    let v = rnn::wire(&mut g, &t.rnn, "rnn", &x, lens.as_deref(), None, None)?;
    let logits = linear(&mut g, &t.head, "head", &v.y);
    g.op_into(
        "LogSoftmax",
        &[&logits],
        &["log_probs"],
        vec![attr_int("axis", 2)],
    );
    g.output(
        "log_probs",
        dtype::FLOAT,
        &[
            Dim::Named("steps"),
            Dim::Named("batch"),
            Dim::Fixed(t.config.outputs),
        ],
    );
    Ok(g.into_model("a CTC recogniser exported by recurrent", metadata))
}
