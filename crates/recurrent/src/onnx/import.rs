//! ONNX import: a language model written by another tool (`torch.onnx.export`, Keras through
//! tf2onnx, or our own export) becomes a checkpoint our engine runs. What is read is the
//! model's structure, not its names: the `Gather` from a 2-D constant (the embedding), the
//! `RNN`/`LSTM`/`GRU` nodes in order (the stacked layers), and the `MatMul` or `Gemm` by a
//! 2-D constant with the `Add` of a 1-D one (the head). The gate rows go back from ONNX's
//! order to PyTorch's (the inverse of [`super::rnn`]'s), and the checkpoint is written in
//! the layout of `pytorch_charlm.py --save`, which `sample`, `eval` and PyTorch all read.

use super::graph::transposed;
use super::proto::{attr_type, dtype, ModelProto, NodeProto, TensorProto};
use crate::cell::CellKind;
use crate::checkpoint::{self, Checkpoint};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::collections::BTreeMap;
use std::path::Path;

/// What an import found.
#[derive(Clone, Debug)]
pub struct ImportedLm {
    pub cell: CellKind,
    pub vocab: usize,
    pub embed: usize,
    pub hidden: usize,
    pub layers: usize,
}

/// A constant's dims and values by name (None: no such constant).
type Lookup<'a> = dyn Fn(&str) -> Option<Result<(Vec<usize>, Vec<f32>)>> + 'a;

fn bad(what: String) -> Error {
    Error::Config(format!("ONNX import: {what}"))
}

/// A float32 (or float64) constant's values and dims.
fn floats(t: &TensorProto) -> Result<(Vec<usize>, Vec<f32>)> {
    let dims: Vec<usize> = t.dims.iter().map(|&d| d.max(0) as usize).collect();
    let n: usize = dims.iter().product();
    let v: Vec<f32> = match t.data_type {
        dtype::FLOAT if !t.raw_data.is_empty() => t
            .raw_data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        dtype::FLOAT => t.float_data.clone(),
        dtype::DOUBLE if !t.raw_data.is_empty() => t
            .raw_data
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                f64::from_le_bytes(b) as f32
            })
            .collect(),
        dtype::DOUBLE => t.double_data.iter().map(|&v| v as f32).collect(),
        other => {
            return Err(bad(format!(
                "tensor `{}` has data type {other}, not float",
                t.name
            )))
        }
    };
    if v.len() != n {
        return Err(bad(format!(
            "tensor `{}` holds {} values for dims {dims:?}",
            t.name,
            v.len()
        )));
    }
    Ok((dims, v))
}

fn attr_i(n: &NodeProto, name: &str) -> Option<i64> {
    n.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

fn attr_s(n: &NodeProto, name: &str) -> Option<String> {
    n.attribute
        .iter()
        .find(|a| a.name == name && a.r#type == attr_type::STRING)
        .map(|a| String::from_utf8_lossy(&a.s).into_owned())
}

fn attr_ss(n: &NodeProto, name: &str) -> Vec<String> {
    n.attribute
        .iter()
        .find(|a| a.name == name)
        .map(|a| {
            a.strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// ONNX's gate rows back in PyTorch's order (the inverse of `super::rnn`'s reordering).
fn to_pytorch(data: &[f32], cell: CellKind, h: usize, cols: usize) -> Vec<f32> {
    let order = super::rnn::onnx_gate_order(cell);
    let mut out = vec![0.0f32; data.len()];
    for (p, &blk) in order.iter().enumerate() {
        out[blk * h * cols..(blk + 1) * h * cols]
            .copy_from_slice(&data[p * h * cols..(p + 1) * h * cols]);
    }
    out
}

/// One recurrent node's cell kind, checked against what our cells compute.
fn cell_of(n: &NodeProto) -> Result<CellKind> {
    let name = &n.name;
    let acts = attr_ss(n, "activations");
    if attr_i(n, "clip").is_some() || attr_i(n, "input_forget").unwrap_or(0) != 0 {
        return Err(bad(format!(
            "{} node `{name}` clips or couples its gates: no cell here does",
            n.op_type
        )));
    }
    if attr_i(n, "layout").unwrap_or(0) != 0 {
        return Err(bad(format!(
            "{} node `{name}` is batch-first (layout 1)",
            n.op_type
        )));
    }
    if n.input.get(7).is_some_and(|p| !p.is_empty()) {
        return Err(bad(format!(
            "LSTM node `{name}` has peepholes: no cell here does"
        )));
    }
    Ok(match n.op_type.as_str() {
        "LSTM" if acts.is_empty() || acts.chunks(3).all(|c| c == ["Sigmoid", "Tanh", "Tanh"]) => {
            CellKind::Lstm
        }
        "GRU" if attr_i(n, "linear_before_reset") == Some(1)
            && (acts.is_empty() || acts.chunks(2).all(|c| c == ["Sigmoid", "Tanh"])) =>
        {
            CellKind::Gru
        }
        "GRU" => {
            return Err(bad(format!(
                "GRU node `{name}` is not PyTorch's form (linear_before_reset = 1 with sigmoid and tanh)"
            )))
        }
        "RNN" if acts.iter().all(|a| a == "Tanh") => CellKind::RnnTanh,
        "RNN" if acts.iter().all(|a| a == "Relu") => CellKind::RnnRelu,
        other => return Err(bad(format!("{other} node `{name}` has activations {acts:?}"))),
    })
}

/// Reads a language model (see the module's doc) and writes it to `out`. `vocab`, the
/// characters in index order, comes from the caller or the model's `vocab` metadata.
pub fn import_lm(model: &ModelProto, vocab: Option<Vec<char>>, out: &Path) -> Result<ImportedLm> {
    let g = model
        .graph
        .as_ref()
        .ok_or_else(|| bad("the model has no graph".into()))?;
    let mut consts: BTreeMap<&str, &TensorProto> =
        g.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
    for n in g.node.iter().filter(|n| n.op_type == "Constant") {
        if let (Some(o), Some(t)) = (
            n.output.first(),
            n.attribute.iter().find_map(|a| a.t.as_ref()),
        ) {
            consts.insert(o.as_str(), t);
        }
    }
    let konst = |name: &str| -> Option<Result<(Vec<usize>, Vec<f32>)>> {
        consts.get(name).map(|t| floats(t))
    };
    let mut ck = Checkpoint::new();
    let (mut embed, mut head_w, mut head_b) = (None, None, None);
    let mut layers: Vec<(CellKind, usize)> = Vec::new();
    for n in &g.node {
        let input = |i: usize| n.input.get(i).map(String::as_str).unwrap_or("");
        match n.op_type.as_str() {
            "Gather" if embed.is_none() => {
                if let Some(t) = konst(input(0)) {
                    let (d, v) = t?;
                    if d.len() == 2 {
                        embed = Some((d, v));
                    }
                }
            }
            "LSTM" | "GRU" | "RNN" => layers.push(read_layer(n, layers.len(), &konst, &mut ck)?),
            "MatMul" | "Gemm" if !layers.is_empty() && head_w.is_none() => {
                if let Some(t) = konst(input(1)) {
                    let (d, v) = t?;
                    if let [a, b] = d[..] {
                        // MatMul and Gemm without transB hold W^T [H, V]; Gemm with transB, W.
                        let trans_b = n.op_type == "Gemm" && attr_i(n, "transB") == Some(1);
                        head_w = Some(if trans_b {
                            (a, b, v)
                        } else {
                            (b, a, transposed(&v, a, b))
                        });
                        if let Some(c) = (n.op_type == "Gemm").then(|| konst(input(2))).flatten() {
                            head_b = Some(c?.1);
                        }
                    }
                }
            }
            "Add" if head_w.is_some() && head_b.is_none() => {
                let c = konst(input(1)).or_else(|| konst(input(0)));
                if let Some(c) = c {
                    let (d, v) = c?;
                    if d.len() == 1 {
                        head_b = Some(v);
                    }
                }
            }
            _ => {}
        }
    }
    let (ed, ev) =
        embed.ok_or_else(|| bad("no embedding (a Gather from a 2-D constant)".into()))?;
    let (&(cell, hidden), _) = layers
        .split_first()
        .ok_or_else(|| bad("no RNN, LSTM or GRU node".into()))?;
    if layers.iter().any(|&l| l != (cell, hidden)) {
        return Err(bad(format!(
            "the layers differ in cell or size: {layers:?}"
        )));
    }
    let (v, e) = (ed[0], ed[1]);
    let (hv, hh, hw) = head_w.ok_or_else(|| {
        bad("no head (a MatMul or Gemm by a 2-D constant after the recurrent layers)".into())
    })?;
    if hv != v || hh != hidden {
        return Err(bad(format!(
            "the head is [{hv}, {hh}], expected [{v}, {hidden}]"
        )));
    }
    let hb = head_b.unwrap_or_else(|| vec![0.0; v]);
    ck.insert("embed.weight", &Tensor::from_vec(&[v, e], ev)?);
    ck.insert("head.weight", &Tensor::from_vec(&[v, hidden], hw)?);
    ck.insert("head.bias", &Tensor::from_vec(&[hb.len()], hb)?);
    let vocab = match vocab {
        Some(c) => c,
        None => model_vocab(model)?.ok_or_else(|| {
            bad(format!("the model has no `vocab` metadata: give --vocab FILE, a JSON list of its {v} characters in index order"))
        })?,
    };
    let config = serde_json::json!({"cell": cell.name(), "embed": e, "hidden": hidden,
        "layers": layers.len(), "dropout": 0.0, "imported_from": "onnx"});
    checkpoint::export_pytorch_lm(out, &ck, &vocab, &config)?;
    Ok(ImportedLm {
        cell,
        vocab: v,
        embed: e,
        hidden,
        layers: layers.len(),
    })
}

/// Layer `k`: one forward RNN/LSTM/GRU node's weights in PyTorch's names and order.
fn read_layer(
    n: &NodeProto,
    k: usize,
    konst: &Lookup<'_>,
    ck: &mut Checkpoint,
) -> Result<(CellKind, usize)> {
    let input = |i: usize| n.input.get(i).map(String::as_str).unwrap_or("");
    let cell = cell_of(n)?;
    let w = konst(input(1)).ok_or_else(|| {
        bad(format!(
            "{} node `{}`: W is not a constant",
            n.op_type, n.name
        ))
    })??;
    let r = konst(input(2)).ok_or_else(|| {
        bad(format!(
            "{} node `{}`: R is not a constant",
            n.op_type, n.name
        ))
    })??;
    let (dn, gh, i) = match w.0[..] {
        [d, gh, i] => (d, gh, i),
        _ => return Err(bad(format!("W of `{}` has dims {:?}", n.name, w.0))),
    };
    let h = attr_i(n, "hidden_size").map_or(gh / cell.gates(), |v| v as usize);
    if gh != cell.gates() * h || r.0 != [dn, gh, h] {
        return Err(bad(format!(
            "`{}`: W {:?} and R {:?} do not fit hidden_size {h}",
            n.name, w.0, r.0
        )));
    }
    if dn != 1 || attr_s(n, "direction").is_some_and(|d| d != "forward") {
        return Err(bad(format!(
            "`{}` is bidirectional or reversed: a language model reads forward only",
            n.name
        )));
    }
    let b = match konst(input(3)) {
        Some(b) => b?.1,
        None => vec![0.0; 2 * gh],
    };
    if b.len() != 2 * gh {
        return Err(bad(format!(
            "B of `{}` has {} values, not {}",
            n.name,
            b.len(),
            2 * gh
        )));
    }
    let put = |ck: &mut Checkpoint, name: String, shape: &[usize], v: Vec<f32>| -> Result<()> {
        ck.insert(name, &Tensor::from_vec(shape, v)?);
        Ok(())
    };
    put(
        ck,
        format!("rnn.weight_ih_l{k}"),
        &[gh, i],
        to_pytorch(&w.1, cell, h, i),
    )?;
    put(
        ck,
        format!("rnn.weight_hh_l{k}"),
        &[gh, h],
        to_pytorch(&r.1, cell, h, h),
    )?;
    put(
        ck,
        format!("rnn.bias_ih_l{k}"),
        &[gh],
        to_pytorch(&b[..gh], cell, h, 1),
    )?;
    put(
        ck,
        format!("rnn.bias_hh_l{k}"),
        &[gh],
        to_pytorch(&b[gh..], cell, h, 1),
    )?;
    Ok((cell, h))
}

/// The `vocab` of `metadata_props` (a JSON list of one-character strings), if any.
pub fn model_vocab(model: &ModelProto) -> Result<Option<Vec<char>>> {
    let Some(p) = model.metadata_props.iter().find(|p| p.key == "vocab") else {
        return Ok(None);
    };
    parse_char_list(&p.value).map(Some)
}

/// A JSON list of one-character strings.
pub fn parse_char_list(json: &str) -> Result<Vec<char>> {
    let list: Vec<String> = serde_json::from_str(json)
        .map_err(|e| bad(format!("the vocabulary is not a JSON list of strings: {e}")))?;
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            let mut c = s.chars();
            match (c.next(), c.next()) {
                (Some(ch), None) => Ok(ch),
                _ => Err(bad(format!("vocabulary entry {i} (`{s}`) is not one character: import reads character models"))),
            }
        })
        .collect()
}
