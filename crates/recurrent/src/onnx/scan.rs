//! The LSTM with projections (`proj_size` P > 0), which ONNX's `LSTM` operator cannot
//! express, written as one `Scan` per layer and direction whose body is the cell:
//!
//! ```text
//! [i f g o] = x_t W_ih^T + h W_hh^T + b_ih + b_hh          (PyTorch's row order)
//! c' = sigmoid(f) * c + sigmoid(i) * tanh(g)
//! h' = (sigmoid(o) * tanh(c')) W_hr^T                      [B, P]
//! ```
//!
//! Variable lengths ride along as a scan input m_t = (t < length), 1 or 0 per sequence:
//! h <- h + m_t (h' - h), c <- c + m_t (c' - c), y_t = m_t h'. Past its length a sequence's
//! state stays as it was and its output is zero, as ours. The reverse direction scans the
//! time-reversed input (padding first, where the state waits at h0) and reverses its
//! outputs back: the `Scan` attribute `scan_input_directions` would say the same, but not
//! every runtime honours it.

use super::graph::{attr_graph, attr_int, axis_len, transposed, Dim, Graph};
use super::proto::dtype;
use crate::cell::sequence::DirParams;
use crate::error::Result;

/// The cell for one direction's `Scan` body (see the module's doc).
/// Every name in it starts with `tag` (names may not repeat across a model's graphs).
fn body(p: &DirParams<f32>, (i, h, proj): (usize, usize, usize), masked: bool, tag: &str) -> Graph {
    let mut g = Graph::sub("projected_lstm_cell", &format!("{tag}."));
    let n = |s: &str| format!("{tag}.{s}");
    let hs = g.input(&n("h"), dtype::FLOAT, &[Dim::Any, Dim::Fixed(proj)]);
    let cs = g.input(&n("c"), dtype::FLOAT, &[Dim::Any, Dim::Fixed(h)]);
    let x = g.input(&n("x"), dtype::FLOAT, &[Dim::Any, Dim::Fixed(i)]);
    let m = masked.then(|| g.input(&n("m"), dtype::FLOAT, &[Dim::Any, Dim::Fixed(1)]));
    let wt = transposed(p.w_ih.value.data(), 4 * h, i);
    let wt = g.init_f32(&n("w_ih_t"), &[i, 4 * h], &wt);
    let rt = transposed(p.recurrent().value.data(), 4 * h, proj);
    let rt = g.init_f32(&n("w_hh_t"), &[proj, 4 * h], &rt);
    let hrt = transposed(p.w_hr.as_ref().map_or(&[][..], |w| w.value.data()), proj, h);
    let hrt = g.init_f32(&n("w_hr_t"), &[h, proj], &hrt);
    let mut gates = {
        let a = g.op("MatMul", &[&x, &wt], vec![]);
        let b = g.op("MatMul", &[&hs, &rt], vec![]);
        g.op("Add", &[&a, &b], vec![])
    };
    let mut bias = vec![0.0f32; 4 * h];
    for b in [&p.b_ih, &p.b_hh].into_iter().flatten() {
        bias.iter_mut()
            .zip(b.value.data())
            .for_each(|(s, v)| *s += v);
    }
    if p.b_ih.is_some() || p.b_hh.is_some() {
        let b = g.init_f32(&n("bias"), &[4 * h], &bias);
        gates = g.op("Add", &[&gates, &b], vec![]);
    }
    let parts = g.op_n("Split", &[&gates], 4, vec![attr_int("axis", 1)]);
    let ig = g.op("Sigmoid", &[&parts[0]], vec![]);
    let fg = g.op("Sigmoid", &[&parts[1]], vec![]);
    let gg = g.op("Tanh", &[&parts[2]], vec![]);
    let og = g.op("Sigmoid", &[&parts[3]], vec![]);
    let fc = g.op("Mul", &[&fg, &cs], vec![]);
    let ig_gg = g.op("Mul", &[&ig, &gg], vec![]);
    let c_new = g.op("Add", &[&fc, &ig_gg], vec![]);
    let tc = g.op("Tanh", &[&c_new], vec![]);
    let full = g.op("Mul", &[&og, &tc], vec![]);
    let h_new = g.op("MatMul", &[&full, &hrt], vec![]);
    match &m {
        Some(m) => {
            // s + m (s' - s): the state moves only on a sequence's valid steps.
            let keep = |g: &mut Graph, old: &str, new: &str, out: &str| {
                let d = g.op("Sub", &[new, old], vec![]);
                let md = g.op("Mul", &[m, &d], vec![]);
                g.op_into("Add", &[old, &md], &[out], vec![]);
            };
            keep(&mut g, &hs, &h_new, &n("h_out"));
            keep(&mut g, &cs, &c_new, &n("c_out"));
            g.op_into("Mul", &[m, &h_new], &[&n("y")], vec![]);
        }
        None => {
            g.rename(&h_new, &n("h_out"));
            g.rename(&c_new, &n("c_out"));
            g.rename(&h_new, &n("y"));
        }
    }
    g.output(&n("h_out"), dtype::FLOAT, &[Dim::Any, Dim::Fixed(proj)]);
    g.output(&n("c_out"), dtype::FLOAT, &[Dim::Any, Dim::Fixed(h)]);
    g.output(&n("y"), dtype::FLOAT, &[Dim::Any, Dim::Fixed(proj)]);
    g
}

/// `x` [T, ...] reversed in time.
fn reverse_time(g: &mut Graph, x: &str) -> String {
    let (start, end, axes, steps) = (
        g.ints(&[-1]),
        g.ints(&[i64::MIN]),
        g.ints(&[0]),
        g.ints(&[-1]),
    );
    g.op("Slice", &[x, &start, &end, &axes, &steps], vec![])
}

/// Row `row` of a state [D*L, B, S] as [B, S], or zeros [B, S] (B read off `x` [T, B, I]).
fn initial(g: &mut Graph, state: Option<&str>, row: usize, width: usize, x: &str) -> String {
    match state {
        Some(s) => {
            let r = g.const_i64(&[], &[row as i64]);
            g.op("Gather", &[s, &r], vec![attr_int("axis", 0)])
        }
        None => {
            let b = axis_len(g, x, 1);
            let w = g.ints(&[width as i64]);
            let bs = g.op("Concat", &[&b, &w], vec![attr_int("axis", 0)]);
            let zero = g.fresh("zero");
            let zero = g.init_f32(&zero, &[1], &[0.0]);
            g.op("Expand", &[&zero, &bs], vec![])
        }
    }
}

/// One layer-direction of a projected LSTM over `x` [T, B, I]: returns y [T, B, P] and the
/// final h [B, P] and c [B, H]. `mask` is m [T, B, 1] for variable lengths.
#[allow(clippy::too_many_arguments)]
pub fn wire_direction(
    g: &mut Graph,
    p: &DirParams<f32>,
    x: &str,
    (i, h, proj): (usize, usize, usize),
    reverse: bool,
    mask: Option<&str>,
    h0: Option<&str>,
    c0: Option<&str>,
    row: usize,
) -> Result<(String, String, String)> {
    let hi = initial(g, h0, row, proj, x);
    let ci = initial(g, c0, row, h, x);
    let (xs, ms) = if reverse {
        (reverse_time(g, x), mask.map(|m| reverse_time(g, m)))
    } else {
        (x.to_string(), mask.map(str::to_string))
    };
    let tag = g.fresh("cell");
    let body = body(p, (i, h, proj), mask.is_some(), &tag).into_graph();
    let mut ins: Vec<&str> = vec![&hi, &ci, &xs];
    if let Some(m) = &ms {
        ins.push(m);
    }
    let n_scan = ins.len() - 2;
    let outs = g.op_n(
        "Scan",
        &ins,
        3,
        vec![
            attr_graph("body", body),
            attr_int("num_scan_inputs", n_scan as i64),
        ],
    );
    let y = if reverse {
        reverse_time(g, &outs[2])
    } else {
        outs[2].clone()
    };
    Ok((y, outs[0].clone(), outs[1].clone()))
}

/// m [T, B, 1] = (t < length) as float, from `lens` int32 [B] and `x` [T, B, ...].
pub fn step_mask(g: &mut Graph, x: &str, lens: &str) -> String {
    let valid = super::graph::valid_steps(g, x, lens);
    let m = g.op("Cast", &[&valid], vec![attr_int("to", dtype::FLOAT as i64)]);
    let three = g.ints(&[0, 0, 1]);
    g.op("Reshape", &[&m, &three], vec![])
}
