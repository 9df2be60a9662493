//! The character language models that the PyTorch benchmark script `pytorch_charlm.py`
//! writes with `--save` (a `state_dict` plus its vocabulary and flags), both ways.
//!
//! Such a file holds the `state_dict` of
//! ```text
//! embed = nn.Embedding(V, E)                          embed.weight            [V, E]
//! rnn   = nn.RNN | nn.LSTM | nn.GRU(E, H, L)          rnn.weight_ih_l{k}      [G*H, E or H]
//!                                                     rnn.weight_hh_l{k}      [G*H, H]
//!                                                     rnn.bias_ih_l{k}, rnn.bias_hh_l{k}  [G*H]
//! head  = nn.Linear(H, V)                             head.weight [V, H], head.bias [V]
//! ```
//! (G = 1, 4, 3 for RNN, LSTM, GRU; `nn.RNN` is the tanh cell) and two metadata strings:
//! `vocab`, a JSON list of the V characters in index order, and `config`, the script's flags
//! as a JSON object (`cell`, `hidden`, `layers`, `embed`, ...).

use super::{write_checkpoint, Checkpoint, Dtype};
use crate::cell::CellKind;
use crate::error::{Error, Result};
use std::collections::BTreeSet;
use std::path::Path;

/// A character LM as PyTorch saved it, checked for consistency.
#[derive(Clone, Debug)]
pub struct PytorchLm {
    /// The file's tensors and metadata, bytes as stored (writing it back is exact).
    pub checkpoint: Checkpoint,
    /// The characters, index `i` being token `i`.
    pub vocab: Vec<char>,
    /// The flags of the run that trained it (`config` metadata).
    pub config: serde_json::Value,
    /// The recurrent cell (`nn.RNN` is [`CellKind::RnnTanh`]).
    pub cell: CellKind,
    /// Embedding width E.
    pub embed: usize,
    /// Hidden size H.
    pub hidden: usize,
    /// Number of stacked layers L.
    pub layers: usize,
}

/// Reads a `pytorch_charlm.py --save` file and checks that its tensors, vocabulary and
/// config agree with one another (see [`PytorchLm`]).
pub fn import_pytorch_lm(path: impl AsRef<Path>) -> Result<PytorchLm> {
    let ckpt = super::read(path)?;
    let bad = |msg: String| Error::format(ckpt.origin(), msg);
    let vocab_json = ckpt.metadata.get("vocab").ok_or_else(|| {
        bad("no `vocab` in the metadata: not a file of pytorch_charlm.py --save".into())
    })?;
    let vocab = parse_vocab(vocab_json).map_err(bad)?;
    let config_json = ckpt.metadata.get("config").ok_or_else(|| {
        bad("no `config` in the metadata: not a file of pytorch_charlm.py --save".into())
    })?;
    let config: serde_json::Value = serde_json::from_str(config_json)
        .map_err(|e| bad(format!("the `config` metadata is not JSON: {e}")))?;
    if !config.is_object() {
        return Err(bad("the `config` metadata is not a JSON object".into()));
    }
    let (cell, embed, hidden, layers) = check_lm(&ckpt, vocab.len(), &config)?;
    Ok(PytorchLm {
        checkpoint: ckpt,
        vocab,
        config,
        cell,
        embed,
        hidden,
        layers,
    })
}

/// Writes a character LM in the layout `pytorch_charlm.py --save` uses, so that PyTorch can
/// `load_state_dict` it: the parameter tensors of `params` (training state left out), the
/// vocabulary as Python's `json.dumps` writes it, and `config` (a JSON object). The tensors
/// are checked against the vocabulary and config first, as [`import_pytorch_lm`] would.
pub fn export_pytorch_lm(
    path: impl AsRef<Path>,
    params: &Checkpoint,
    vocab: &[char],
    config: &serde_json::Value,
) -> Result<()> {
    let path = path.as_ref();
    let mut out = Checkpoint::new();
    out.source = path.to_path_buf();
    for (name, t) in params.params() {
        out.tensors.insert(name.to_string(), t.clone());
    }
    if !config.is_object() {
        return Err(Error::Input("the LM config must be a JSON object".into()));
    }
    let unique: BTreeSet<&char> = vocab.iter().collect();
    if unique.len() != vocab.len() {
        return Err(Error::Input("the vocabulary repeats a character".into()));
    }
    check_lm(&out, vocab.len(), config)?;
    out.metadata
        .insert("vocab".into(), python_json_string_list(vocab));
    out.metadata.insert("config".into(), config.to_string());
    write_checkpoint(path, &out)
}

/// The vocabulary list: one character per entry, none twice.
fn parse_vocab(json: &str) -> std::result::Result<Vec<char>, String> {
    let list: Vec<String> = serde_json::from_str(json)
        .map_err(|e| format!("the `vocab` metadata is not a JSON list of strings: {e}"))?;
    let mut vocab = Vec::with_capacity(list.len());
    let mut seen = BTreeSet::new();
    for (i, s) in list.iter().enumerate() {
        let mut chars = s.chars();
        let (Some(c), None) = (chars.next(), chars.next()) else {
            return Err(format!(
                "`vocab` entry {i} is {s:?}, not a single character"
            ));
        };
        if !seen.insert(c) {
            return Err(format!("`vocab` lists {c:?} twice (entry {i})"));
        }
        vocab.push(c);
    }
    if vocab.is_empty() {
        return Err("the `vocab` metadata is an empty list".into());
    }
    Ok(vocab)
}

/// Checks the LM's tensors against one another, the vocabulary size and the config;
/// returns (cell, E, H, L).
fn check_lm(
    ckpt: &Checkpoint,
    vocab: usize,
    config: &serde_json::Value,
) -> Result<(CellKind, usize, usize, usize)> {
    let origin = ckpt.origin();
    let bad = |msg: String| Error::format(origin, msg);
    let shape = |name: &str| -> Result<&[usize]> {
        let t = ckpt.get(name)?;
        if t.dtype() == Dtype::I64 {
            return Err(bad(format!(
                "tensor `{name}` is I64; weights must be F32 or F64"
            )));
        }
        Ok(t.shape())
    };
    let expect = |name: &str, want: &[usize]| -> Result<()> {
        let got = shape(name)?;
        if got != want {
            return Err(bad(format!(
                "tensor `{name}` has shape {got:?}, expected {want:?} from the other tensors"
            )));
        }
        Ok(())
    };

    let (v, e) = match shape("embed.weight")? {
        &[v, e] => (v, e),
        other => {
            return Err(bad(format!(
                "`embed.weight` has shape {other:?}, expected [V, E]"
            )))
        }
    };
    if v != vocab {
        return Err(bad(format!(
            "`embed.weight` has {v} rows but the vocabulary has {vocab} characters"
        )));
    }
    let (gh, h) = match shape("rnn.weight_hh_l0")? {
        &[gh, h] if h > 0 => (gh, h),
        other => {
            return Err(bad(format!(
                "`rnn.weight_hh_l0` has shape {other:?}, expected [G*H, H]"
            )))
        }
    };
    let cell = match (gh % h == 0).then_some(gh / h) {
        Some(1) => CellKind::RnnTanh,
        Some(4) => CellKind::Lstm,
        Some(3) => CellKind::Gru,
        _ => {
            return Err(bad(format!(
                "`rnn.weight_hh_l0` has shape [{gh}, {h}]: {gh} rows is not 1, 3 or 4 times {h}"
            )))
        }
    };
    let mut layers = 0;
    while ckpt
        .tensors
        .contains_key(&format!("rnn.weight_ih_l{layers}"))
    {
        let input = if layers == 0 { e } else { h };
        expect(&format!("rnn.weight_ih_l{layers}"), &[gh, input])?;
        expect(&format!("rnn.weight_hh_l{layers}"), &[gh, h])?;
        expect(&format!("rnn.bias_ih_l{layers}"), &[gh])?;
        expect(&format!("rnn.bias_hh_l{layers}"), &[gh])?;
        layers += 1;
    }
    if layers == 0 {
        return Err(bad("no `rnn.weight_ih_l0`: not a char-LM file".into()));
    }
    expect("head.weight", &[v, h])?;
    expect("head.bias", &[v])?;

    let known: usize = 3 + 4 * layers;
    let count = ckpt.params().count();
    if count != known {
        let extra: Vec<&str> = ckpt
            .params()
            .map(|(n, _)| n)
            .filter(|n| {
                !(["embed.weight", "head.weight", "head.bias"].contains(n)
                    || is_layer_param(n, layers))
            })
            .collect();
        return Err(bad(format!(
            "tensors a pytorch_charlm.py model does not have (bidirectional, projection or \
             another model?): {}",
            extra.join(", ")
        )));
    }

    // The config must tell the same story as the tensors.
    let config_cell = config.get("cell").and_then(|c| c.as_str());
    if let Some(c) = config_cell {
        let want = match c {
            "rnn" | "rnn_tanh" => CellKind::RnnTanh,
            "lstm" => CellKind::Lstm,
            "gru" => CellKind::Gru,
            other => {
                return Err(bad(format!(
                    "config cell `{other}` is not rnn, lstm or gru"
                )))
            }
        };
        if want != cell {
            return Err(bad(format!(
                "config says cell `{c}` but the weights have {} gate blocks ({cell})",
                gh / h
            )));
        }
    }
    for (key, value) in [("embed", e), ("hidden", h), ("layers", layers)] {
        if let Some(n) = config.get(key).and_then(|x| x.as_u64()) {
            if n != value as u64 {
                return Err(bad(format!(
                    "config says {key} = {n} but the weights have {value}"
                )));
            }
        }
    }
    Ok((cell, e, h, layers))
}

/// Whether `name` is one of the four tensors of an LM layer below `layers`.
fn is_layer_param(name: &str, layers: usize) -> bool {
    (0..layers).any(|k| {
        ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
            .iter()
            .any(|w| name == format!("rnn.{w}_l{k}"))
    })
}

/// `json.dumps(list_of_chars)` exactly as Python writes it (`", "` between items, every
/// character outside printable ASCII escaped as `\uXXXX`), so a file we write carries the
/// same metadata bytes PyTorch's side would.
fn python_json_string_list(chars: &[char]) -> String {
    let mut s = String::from("[");
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('"');
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            '\u{8}' => s.push_str("\\b"),
            '\u{c}' => s.push_str("\\f"),
            ' '..='~' => s.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    s.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
        s.push('"');
    }
    s.push(']');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocab_is_written_as_python_json_dumps() {
        // Expected strings from Python 3: json.dumps(["\n", " ", "\"", "\\", "a", "é", "😀", "\x7f"]).
        let v = ['\n', ' ', '"', '\\', 'a', 'é', '😀', '\u{7f}'];
        assert_eq!(
            python_json_string_list(&v),
            r#"["\n", " ", "\"", "\\", "a", "\u00e9", "\ud83d\ude00", "\u007f"]"#
        );
        assert_eq!(parse_vocab(&python_json_string_list(&v)), Ok(v.to_vec()));
    }

    #[test]
    fn vocab_must_be_single_unique_characters() {
        assert!(parse_vocab(r#"["a", "bc"]"#).is_err());
        assert!(parse_vocab(r#"["a", "a"]"#).is_err());
        assert!(parse_vocab(r#"["a", ""]"#).is_err());
        assert!(parse_vocab("[]").is_err());
        assert!(parse_vocab(r#"{"a": 1}"#).is_err());
    }
}
