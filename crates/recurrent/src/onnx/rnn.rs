//! A recurrent layer ([`Rnn`]) as ONNX's own `RNN`, `LSTM` and `GRU` operators, one node per
//! layer (both directions in one node), time-major.
//!
//! What differs between PyTorch's layout and ONNX's, and how each is mapped:
//! - gate order: PyTorch stacks LSTM rows as i, f, g, o and ONNX as i, o, f, c; GRU rows
//!   r, z, n against ONNX's z, r, h. The rows are permuted block by block.
//! - biases: ONNX's `B` is [D, 2*G*H], `W_b` then `R_b`: `bias_ih` then `bias_hh`.
//! - GRU: PyTorch's n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) is ONNX's
//!   `linear_before_reset = 1`. The seeds' (Cho et al.) form, h~ = tanh(W_in x + b_in +
//!   W_hn (r * h) + b_hn), h' = (1 - z) h + z h~, is ONNX's `linear_before_reset = 0` with
//!   ONNX's z = 1 - z: since sigmoid(-a) = 1 - sigmoid(a), the z rows are negated.
//! - outputs: ONNX's `Y` is [T, D, B, H]; the next layer and the model read [T, B, D*H]
//!   (a Transpose and a Reshape). Past a sequence's length (`sequence_lens`) `Y` is zero
//!   and `Y_h` holds the state at the sequence's own last step, as ours do.
//! - projections (`proj_size`): ONNX's `LSTM` cannot express h = W_hr (o * tanh(c)), so
//!   such a layer is written as a `Scan` over the cell ([`super::scan`]; PyTorch cannot
//!   export it at all).

use super::graph::{attr_int, attr_ints, attr_string, attr_strings, Graph};
use super::scan;
use crate::cell::{CellKind, GruForm};
use crate::error::{Error, Result};
use crate::layer::Rnn;

/// Names of a recurrent layer's outputs in the graph.
pub struct RnnValues {
    /// [T, B, D*H].
    pub y: String,
    /// [D*L, B, H].
    pub h_n: String,
    /// [D*L, B, H] (LSTM).
    pub c_n: Option<String>,
}

/// The row blocks of PyTorch's gate order, listed in ONNX's order.
pub(super) fn onnx_gate_order(cell: CellKind) -> &'static [usize] {
    match cell {
        CellKind::RnnTanh | CellKind::RnnRelu => &[0],
        CellKind::Lstm => &[0, 3, 1, 2],
        CellKind::Gru => &[1, 0, 2],
        // No ONNX operator computes them: `check_exportable` refuses them first.
        CellKind::MinGru | CellKind::MinLstm | CellKind::LstmLn | CellKind::GruLn => &[],
    }
}

/// The rows [G*H, cols] of a PyTorch weight (or bias, cols = 1) in ONNX's gate order; the
/// seeds' GRU gets its z rows negated (see the module's doc).
fn reorder(data: &[f32], cell: CellKind, form: GruForm, h: usize, cols: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(data.len());
    for &blk in onnx_gate_order(cell) {
        let rows = &data[blk * h * cols..(blk + 1) * h * cols];
        let negate = cell == CellKind::Gru && form == GruForm::Seeds && blk == 1;
        out.extend(rows.iter().map(|&v| if negate { -v } else { v }));
    }
    out
}

/// Checks that ONNX can express `rnn`; the error names the part it cannot.
pub fn check_exportable(rnn: &Rnn<f32>, what: &str) -> Result<()> {
    let c = rnn.config();
    if c.cell.is_minimal() || c.cell.is_normalized() {
        return Err(Error::Config(format!(
            "ONNX export: {what} is a {} layer, which no ONNX operator computes; export \
             a model with an rnn, lstm or gru cell",
            c.cell
        )));
    }
    if c.zoneout.is_on() {
        return Err(Error::Config(format!(
            "ONNX export: {what} was trained with zoneout {}, whose evaluation mixes each new \
             state with the previous one, which ONNX's recurrent operators do not do",
            c.zoneout
        )));
    }
    if c.batch_first {
        return Err(Error::Config(format!(
            "ONNX export: {what} is batch-first; the exporter writes time-major layers only"
        )));
    }
    Ok(())
}

/// Wires `rnn` over `x` [T, B, I]. `lens` (int32 [B]) gives each sequence's length; `h0` and
/// `c0` ([D*L, B, H]) the initial states, zero when absent.
pub fn wire(
    g: &mut Graph,
    rnn: &Rnn<f32>,
    prefix: &str,
    x: &str,
    lens: Option<&str>,
    h0: Option<&str>,
    c0: Option<&str>,
) -> Result<RnnValues> {
    check_exportable(rnn, prefix)?;
    let c = rnn.config();
    if c.proj_size > 0 {
        return wire_projected(g, rnn, x, lens, h0, c0);
    }
    let (h, dn, cell) = (c.hidden_size, c.directions(), c.cell);
    let gates = cell.gates();
    let (op, states) = match cell {
        CellKind::RnnTanh | CellKind::RnnRelu => ("RNN", 1),
        CellKind::Lstm => ("LSTM", 2),
        CellKind::Gru => ("GRU", 1),
        CellKind::MinGru | CellKind::MinLstm | CellKind::LstmLn | CellKind::GruLn => {
            unreachable!("refused by check_exportable")
        }
    };
    let mut input = x.to_string();
    let (mut hs, mut cs) = (Vec::new(), Vec::new());
    for k in 0..c.num_layers {
        let i_k = if k == 0 {
            c.input_size
        } else {
            c.output_size()
        };
        let (mut w, mut r, mut b) = (Vec::new(), Vec::new(), Vec::new());
        for d in 0..dn {
            let p = rnn.dir_params(k, d);
            w.extend(reorder(p.w_ih.value.data(), cell, c.gru_form, h, i_k));
            r.extend(reorder(p.recurrent().value.data(), cell, c.gru_form, h, h));
            let zeros = vec![0.0f32; gates * h];
            for bias in [&p.b_ih, &p.b_hh] {
                let v = bias.as_ref().map_or(&zeros[..], |q| q.value.data());
                b.extend(reorder(v, cell, c.gru_form, h, 1));
            }
        }
        let w = g.init_f32(&format!("{prefix}.W_l{k}"), &[dn, gates * h, i_k], &w);
        let r = g.init_f32(&format!("{prefix}.R_l{k}"), &[dn, gates * h, h], &r);
        let b = if c.bias {
            g.init_f32(&format!("{prefix}.B_l{k}"), &[dn, 2 * gates * h], &b)
        } else {
            String::new()
        };
        let slice = |g: &mut Graph, s: Option<&str>| -> String {
            s.map_or(String::new(), |s| {
                let (lo, hi, ax) = (
                    g.ints(&[(k * dn) as i64]),
                    g.ints(&[((k + 1) * dn) as i64]),
                    g.ints(&[0]),
                );
                g.op("Slice", &[s, &lo, &hi, &ax], vec![])
            })
        };
        let h0k = slice(g, h0);
        let c0k = if states == 2 {
            slice(g, c0)
        } else {
            String::new()
        };
        let mut attrs = vec![
            attr_int("hidden_size", h as i64),
            attr_string(
                "direction",
                if dn == 2 { "bidirectional" } else { "forward" },
            ),
        ];
        match cell {
            CellKind::RnnTanh => attrs.push(attr_strings("activations", &vec!["Tanh"; dn])),
            CellKind::RnnRelu => attrs.push(attr_strings("activations", &vec!["Relu"; dn])),
            CellKind::Gru => attrs.push(attr_int(
                "linear_before_reset",
                (c.gru_form == GruForm::Pytorch) as i64,
            )),
            CellKind::Lstm
            | CellKind::MinGru
            | CellKind::MinLstm
            | CellKind::LstmLn
            | CellKind::GruLn => {}
        }
        let mut ins: Vec<&str> = vec![&input, &w, &r, &b, lens.unwrap_or(""), &h0k];
        if states == 2 {
            ins.push(&c0k);
        }
        let outs = g.op_n(op, &ins, 1 + states, attrs);
        // [T, D, B, H] -> [T, B, D, H] -> [T, B, D*H]; one direction: drop the D axis.
        input = if dn == 1 {
            let ax = g.ints(&[1]);
            g.op("Squeeze", &[&outs[0], &ax], vec![])
        } else {
            let t = g.op(
                "Transpose",
                &[&outs[0]],
                vec![attr_ints("perm", &[0, 2, 1, 3])],
            );
            let shape = g.ints(&[0, 0, (dn * h) as i64]);
            g.op("Reshape", &[&t, &shape], vec![])
        };
        hs.push(outs[1].clone());
        if states == 2 {
            cs.push(outs[2].clone());
        }
    }
    let cat = |g: &mut Graph, v: &[String]| -> String {
        let refs: Vec<&str> = v.iter().map(|s| s.as_str()).collect();
        g.op("Concat", &refs, vec![attr_int("axis", 0)])
    };
    let h_n = cat(g, &hs);
    let c_n = (states == 2).then(|| cat(g, &cs));
    Ok(RnnValues { y: input, h_n, c_n })
}

/// A projected LSTM, layer by layer, each direction a `Scan` (see [`super::scan`]).
fn wire_projected(
    g: &mut Graph,
    rnn: &Rnn<f32>,
    x: &str,
    lens: Option<&str>,
    h0: Option<&str>,
    c0: Option<&str>,
) -> Result<RnnValues> {
    let c = rnn.config();
    let (h, p, dn) = (c.hidden_size, c.proj_size, c.directions());
    let mask = lens.map(|l| scan::step_mask(g, x, l));
    let mut input = x.to_string();
    let (mut hs, mut cs) = (Vec::new(), Vec::new());
    let unsqueeze = |g: &mut Graph, v: &str| {
        let ax = g.ints(&[0]);
        g.op("Unsqueeze", &[v, &ax], vec![])
    };
    for k in 0..c.num_layers {
        let i_k = if k == 0 {
            c.input_size
        } else {
            c.output_size()
        };
        let mut ys = Vec::new();
        for d in 0..dn {
            let (y, hn, cn) = scan::wire_direction(
                g,
                rnn.dir_params(k, d),
                &input,
                (i_k, h, p),
                d == 1,
                mask.as_deref(),
                h0,
                c0,
                k * dn + d,
            )?;
            ys.push(y);
            hs.push(unsqueeze(g, &hn));
            cs.push(unsqueeze(g, &cn));
        }
        input = if dn == 1 {
            ys.remove(0)
        } else {
            g.op("Concat", &[&ys[0], &ys[1]], vec![attr_int("axis", 2)])
        };
    }
    let cat = |g: &mut Graph, v: &[String]| -> String {
        let refs: Vec<&str> = v.iter().map(|s| s.as_str()).collect();
        g.op("Concat", &refs, vec![attr_int("axis", 0)])
    };
    let h_n = cat(g, &hs);
    let c_n = Some(cat(g, &cs));
    Ok(RnnValues { y: input, h_n, c_n })
}
