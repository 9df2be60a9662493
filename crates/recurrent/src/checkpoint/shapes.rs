//! What every loader of a task checkpoint needs: the parameter shapes a recurrent layer
//! implies (PyTorch's names), a check of them against the file before a model of that size
//! is allocated (a hostile header cannot make us allocate), and the `model` metadata of a
//! given task; and the language model, whose loader the lm and music applications share.

use super::Checkpoint;
use crate::cell::CellKind;
use crate::error::{Error, Result};
use crate::init::Init;
use crate::model::lm::{LanguageModel, LmConfig};
use crate::rng::Rng;
use std::path::Path;

/// The expected parameter shapes of a recurrent layer `rnn.` (PyTorch names).
pub fn rnn_shapes(
    cell: CellKind,
    input: usize,
    hidden: usize,
    layers: usize,
    bidirectional: bool,
) -> Vec<(String, Vec<usize>)> {
    let (g, dn) = (cell.gates(), if bidirectional { 2 } else { 1 });
    let mut want = Vec::new();
    for k in 0..layers {
        let i = if k == 0 { input } else { dn * hidden };
        for d in 0..dn {
            let sfx = if d == 1 { "_reverse" } else { "" };
            want.push((format!("rnn.weight_ih_l{k}{sfx}"), vec![g * hidden, i]));
            want.push((format!("rnn.bias_ih_l{k}{sfx}"), vec![g * hidden]));
            // The minimal cells have no recurrent weights.
            if !cell.is_minimal() {
                want.push((format!("rnn.weight_hh_l{k}{sfx}"), vec![g * hidden, hidden]));
                want.push((format!("rnn.bias_hh_l{k}{sfx}"), vec![g * hidden]));
            }
            if cell.is_normalized() {
                for n in ["ih", "hh"] {
                    want.push((format!("rnn.ln_weight_{n}_l{k}{sfx}"), vec![g * hidden]));
                }
            }
            if cell.is_normalized() && cell.has_cell_state() {
                for n in ["weight", "bias"] {
                    want.push((format!("rnn.ln_{n}_c_l{k}{sfx}"), vec![hidden]));
                }
            }
        }
    }
    want
}

/// Checks that every `(name, shape)` is in the checkpoint with that shape (before a model of
/// that size is allocated).
pub fn check_shapes(ck: &Checkpoint, want: &[(String, Vec<usize>)]) -> Result<()> {
    for (name, shape) in want {
        let t = ck.get(name)?;
        if t.shape() != shape.as_slice() {
            return Err(Error::tensor(
                name,
                format!(
                    "{}: shape {:?}, but the model config implies {shape:?}",
                    ck.origin().display(),
                    t.shape()
                ),
            ));
        }
    }
    Ok(())
}

/// Reads the `model` metadata of a checkpoint of task `task`, as `T`.
pub fn read_meta<T: serde::de::DeserializeOwned>(
    ck: &Checkpoint,
    path: &Path,
    task: &str,
) -> Result<T> {
    let s = ck
        .metadata
        .get("model")
        .ok_or_else(|| Error::format(path, "no `model` metadata: not a recurrent checkpoint"))?;
    let v: serde_json::Value =
        serde_json::from_str(s).map_err(|e| Error::format(path, format!("model metadata: {e}")))?;
    let got = v["task"].as_str().unwrap_or("?");
    if got != task {
        return Err(Error::format(
            path,
            format!("this checkpoint is a `{got}` model, not a `{task}` model"),
        ));
    }
    serde_json::from_value(v).map_err(|e| Error::format(path, format!("model metadata: {e}")))
}

/// A language model of `config` with the weights of `ck`, every shape checked first;
/// `vocab_len` is the length of the vocabulary stored beside it, which must match.
pub fn lm_from_checkpoint(
    config: &LmConfig,
    vocab_len: usize,
    ck: &Checkpoint,
) -> Result<LanguageModel<f32>> {
    let m = config;
    m.validate()?;
    if m.vocab != vocab_len {
        return Err(Error::format(
            ck.origin(),
            format!(
                "the model has {} outputs but the vocabulary {vocab_len} tokens",
                m.vocab
            ),
        ));
    }
    let mut want: Vec<(String, Vec<usize>)> = vec![("embed.weight".into(), vec![m.vocab, m.embed])];
    want.extend(rnn_shapes(m.cell, m.embed, m.hidden, m.layers, false));
    want.push(("head.weight".into(), vec![m.vocab, m.hidden]));
    want.push(("head.bias".into(), vec![m.vocab]));
    check_shapes(ck, &want)?;
    let mut model: LanguageModel<f32> =
        LanguageModel::new(m.clone(), &Init::default(), &mut Rng::new(0))?;
    super::load_into(&mut model, &ck.weights_only())?;
    Ok(model)
}
