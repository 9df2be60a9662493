//! The engine's models as ONNX graphs, each with names and layouts fixed here so a user
//! can call the file without reading our code. Everything is time-major, float32.
//!
//! | model | inputs | outputs |
//! | --- | --- | --- |
//! | recurrent layer | `input` [time, batch, I], `h0` [L*D, batch, H_out] (, `c0` [L*D, batch, H]), `lengths` int32 [batch] if asked | `output` [time, batch, D*H_out], `hn` (, `cn`) |
//! | language model | `tokens` int64 [time, batch]; optional `h0`, `c0` [L, batch, H] (zero when not fed) | `logits` [time, batch, V], `hn` (, `cn`) |
//! | classifier | `tokens` int64 [time, batch] or `features` [time, batch, I]; `lengths` int32 [batch] if asked | `logits` [batch, C] |
//! | tagger | as the classifier | `logits` [time, batch, K] |
//! | word tagger (`train tag`) | `words`, `suffix2`, `suffix3`, `shapes` int64 [time, batch] (those the model has); `lengths` if asked | `logits` [time, batch, K] |

use super::graph::{attr_int, attr_ints, axis_len, transposed, valid_steps, Dim, Graph};
use super::proto::{dtype, ModelProto};
use super::rnn::{self, RnnValues};
use crate::error::Result;
use crate::layer::Rnn;
use crate::model::classifier::{Classifier, Pooling};
use crate::model::feature_tagger::FeatureTagger;
use crate::model::input::InputLayer;
use crate::model::lm::LanguageModel;
use crate::model::tagger::Tagger;
use crate::nn::Linear;

/// Whether a graph takes each sequence's length (`lengths`, int32 [batch], ONNX's
/// `sequence_lens`). Without it every sequence runs the whole `time` axis. (tract, a Rust
/// runtime, cannot run a `sequence_lens` input; onnxruntime can.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lengths(pub bool);

/// `x @ W^T + b` for x [..., I]: a MatMul with the transposed weight stored, then Add.
pub fn linear(g: &mut Graph, lin: &Linear<f32>, name: &str, x: &str) -> String {
    let shape = lin.weight.value.shape();
    let (o, i) = (shape[0], shape[1]);
    let wt = transposed(lin.weight.value.data(), o, i);
    let wt = g.init_f32(&format!("{name}.weight_t"), &[i, o], &wt);
    let y = g.op("MatMul", &[x, &wt], vec![]);
    match &lin.bias {
        Some(b) => {
            let b = g.init_f32(&format!("{name}.bias"), &[o], b.value.data());
            g.op("Add", &[&y, &b], vec![])
        }
        None => y,
    }
}

/// Token ids (any shape) through an embedding table: a Gather.
pub fn embed(g: &mut Graph, table: &crate::param::Param<f32>, name: &str, ids: &str) -> String {
    let s = table.value.shape();
    let w = g.init_f32(name, &[s[0], s[1]], table.value.data());
    g.op("Gather", &[&w, ids], vec![attr_int("axis", 0)])
}

/// A zero state [rows, 1, H] under `name` that a caller may feed instead, broadcast to
/// [rows, batch, H]: an ONNX input with a default (an initializer of the same name).
fn optional_state(g: &mut Graph, name: &str, rows: usize, h: usize, batch_of: &str) -> String {
    let zeros = vec![0.0f32; rows * h];
    g.init_f32(name, &[rows, 1, h], &zeros);
    g.input(
        name,
        dtype::FLOAT,
        &[Dim::Fixed(rows), Dim::Named("state_batch"), Dim::Fixed(h)],
    );
    let b = axis_len(g, batch_of, 1);
    let (r, hh) = (g.ints(&[rows as i64]), g.ints(&[h as i64]));
    let full = g.op("Concat", &[&r, &b, &hh], vec![attr_int("axis", 0)]);
    g.op("Expand", &[name, &full], vec![])
}

/// `hn` [rows, batch, h_out] and `cn` [rows, batch, h] as graph outputs.
fn state_outputs(g: &mut Graph, v: &RnnValues, rows: usize, (h_out, h): (usize, usize)) {
    let dims = |w: usize| [Dim::Fixed(rows), Dim::Named("batch"), Dim::Fixed(w)];
    g.rename(&v.h_n, "hn");
    g.output("hn", dtype::FLOAT, &dims(h_out));
    if let Some(c) = &v.c_n {
        g.rename(c, "cn");
        g.output("cn", dtype::FLOAT, &dims(h));
    }
}

/// A recurrent layer alone: `input`, `h0` (and `c0` for an LSTM) in, `output`, `hn` (,
/// `cn`) out, with `lengths` when asked.
pub fn export_rnn(rnn: &Rnn<f32>, lengths: Lengths) -> Result<ModelProto> {
    rnn::check_exportable(rnn, "the recurrent layer")?;
    let c = rnn.config();
    let rows = c.num_layers * c.directions();
    let mut g = Graph::new("rnn");
    let x = g.input(
        "input",
        dtype::FLOAT,
        &[
            Dim::Named("time"),
            Dim::Named("batch"),
            Dim::Fixed(c.input_size),
        ],
    );
    let sdims = |w: usize| [Dim::Fixed(rows), Dim::Named("batch"), Dim::Fixed(w)];
    let h0 = g.input("h0", dtype::FLOAT, &sdims(c.hout()));
    let c0 = (c.cell.has_cell_state()).then(|| g.input("c0", dtype::FLOAT, &sdims(c.hidden_size)));
    let lens = lengths
        .0
        .then(|| g.input("lengths", dtype::INT32, &[Dim::Named("batch")]));
    let v = rnn::wire(
        &mut g,
        rnn,
        "rnn",
        &x,
        lens.as_deref(),
        Some(&h0),
        c0.as_deref(),
    )?;
    g.rename(&v.y, "output");
    g.output(
        "output",
        dtype::FLOAT,
        &[
            Dim::Named("time"),
            Dim::Named("batch"),
            Dim::Fixed(c.output_size()),
        ],
    );
    state_outputs(&mut g, &v, rows, (c.hout(), c.hidden_size));
    Ok(g.into_model("a recurrent layer exported by recurrent", &[]))
}

/// The language model: `tokens` in, `logits`, `hn` (, `cn`) out, `h0`/`c0` optional.
/// `metadata` goes into `metadata_props` (the vocabulary as JSON under `vocab`).
pub fn export_lm(m: &LanguageModel<f32>, metadata: &[(String, String)]) -> Result<ModelProto> {
    let c = m.config();
    let mut g = Graph::new("language_model");
    let tokens = g.input(
        "tokens",
        dtype::INT64,
        &[Dim::Named("time"), Dim::Named("batch")],
    );
    let x = embed(&mut g, &m.embed.weight, "embed.weight", &tokens);
    let h0 = optional_state(&mut g, "h0", c.layers, c.hidden, &tokens);
    let c0 = (c.cell.has_cell_state())
        .then(|| optional_state(&mut g, "c0", c.layers, c.hidden, &tokens));
    let v = rnn::wire(&mut g, &m.rnn, "rnn", &x, None, Some(&h0), c0.as_deref())?;
    let logits = linear(&mut g, &m.head, "head", &v.y);
    g.rename(&logits, "logits");
    g.output(
        "logits",
        dtype::FLOAT,
        &[Dim::Named("time"), Dim::Named("batch"), Dim::Fixed(c.vocab)],
    );
    state_outputs(&mut g, &v, c.layers, (c.hidden, c.hidden));
    Ok(g.into_model("a language model exported by recurrent", metadata))
}

/// The model's input: `tokens` through the embedding, or `features` as they are. Returns
/// [time, batch, I] and the input's name.
fn model_input(g: &mut Graph, input: &InputLayer<f32>) -> (String, String) {
    match input {
        InputLayer::Embed(e) => {
            let t = g.input(
                "tokens",
                dtype::INT64,
                &[Dim::Named("time"), Dim::Named("batch")],
            );
            (embed(g, &e.weight, "embed.weight", &t), t)
        }
        InputLayer::Dense(size) => {
            let f = g.input(
                "features",
                dtype::FLOAT,
                &[Dim::Named("time"), Dim::Named("batch"), Dim::Fixed(*size)],
            );
            (f.clone(), f)
        }
    }
}

/// A classifier over `x` [T, B, I] wired into `g` (its constants named under `prefix`):
/// the recurrent layer's outputs pooled over each sequence's valid steps (last state, mean
/// or max), then the head. Returns the logits [B, C].
pub fn wire_classifier(
    g: &mut Graph,
    m: &Classifier<f32>,
    x: &str,
    lens: Option<&str>,
    prefix: &str,
) -> Result<String> {
    let rc = m.rnn.config();
    let (dn, h) = (rc.directions(), rc.hidden_size);
    let v = rnn::wire(g, &m.rnn, &format!("{prefix}rnn"), x, lens, None, None)?;
    let pooled = match m.config.pooling {
        Pooling::Last => {
            // The last layer's rows of h_n, [D, B, H] -> [B, D, H] -> [B, D*H].
            let rows = (rc.num_layers * dn) as i64;
            let (lo, hi, ax) = (g.ints(&[rows - dn as i64]), g.ints(&[rows]), g.ints(&[0]));
            let last = g.op("Slice", &[&v.h_n, &lo, &hi, &ax], vec![]);
            let t = g.op("Transpose", &[&last], vec![attr_ints("perm", &[1, 0, 2])]);
            let shape = g.ints(&[0, (dn * h) as i64]);
            g.op("Reshape", &[&t, &shape], vec![])
        }
        Pooling::Mean => {
            // Steps past a length are zero in Y: the sum over time over the length.
            let axes = g.ints(&[0]);
            let sum = g.op("ReduceSum", &[&v.y, &axes], vec![attr_int("keepdims", 0)]);
            let n = match lens {
                Some(l) => g.op("Cast", &[l], vec![attr_int("to", dtype::FLOAT as i64)]),
                None => {
                    let t = axis_len(g, &v.y, 0);
                    g.op("Cast", &[&t], vec![attr_int("to", dtype::FLOAT as i64)])
                }
            };
            let one = g.ints(&[-1, 1]);
            let n = g.op("Reshape", &[&n, &one], vec![]);
            g.op("Div", &[&sum, &n], vec![])
        }
        Pooling::Max => {
            let y = match lens {
                Some(l) => mask_past_lengths(g, &v.y, l, f32::NEG_INFINITY),
                None => v.y.clone(),
            };
            g.op(
                "ReduceMax",
                &[&y],
                vec![attr_ints("axes", &[0]), attr_int("keepdims", 0)],
            )
        }
    };
    Ok(linear(g, &m.head, &format!("{prefix}head"), &pooled))
}

/// The classifier (see [`wire_classifier`]): `logits` [batch, C].
pub fn export_classifier(
    m: &Classifier<f32>,
    lengths: Lengths,
    metadata: &[(String, String)],
) -> Result<ModelProto> {
    let mut g = Graph::new("classifier");
    let (x, _) = model_input(&mut g, &m.input);
    let lens = lengths
        .0
        .then(|| g.input("lengths", dtype::INT32, &[Dim::Named("batch")]));
    let logits = wire_classifier(&mut g, m, &x, lens.as_deref(), "")?;
    g.rename(&logits, "logits");
    g.output(
        "logits",
        dtype::FLOAT,
        &[Dim::Named("batch"), Dim::Fixed(m.config.outputs)],
    );
    Ok(g.into_model("a sequence classifier exported by recurrent", metadata))
}

/// `y` [T, B, W] with every step at or past its sequence's length set to `fill` (-inf, so
/// a max over time sees only the valid steps; 0, so padding adds nothing).
pub fn mask_past_lengths(g: &mut Graph, y: &str, lens: &str, fill: f32) -> String {
    let valid = valid_steps(g, y, lens);
    let three = g.ints(&[0, 0, 1]);
    let valid = g.op("Reshape", &[&valid, &three], vec![]);
    let fill = g.scalar_f32(fill);
    g.op("Where", &[&valid, y, &fill], vec![])
}

/// The tagger: the head at every step, `logits` [time, batch, K].
pub fn export_tagger(
    m: &Tagger<f32>,
    lengths: Lengths,
    metadata: &[(String, String)],
) -> Result<ModelProto> {
    let mut g = Graph::new("tagger");
    let (x, _) = model_input(&mut g, &m.input);
    let lens = lengths
        .0
        .then(|| g.input("lengths", dtype::INT32, &[Dim::Named("batch")]));
    let v = rnn::wire(&mut g, &m.rnn, "rnn", &x, lens.as_deref(), None, None)?;
    let logits = linear(&mut g, &m.head, "head", &v.y);
    g.rename(&logits, "logits");
    g.output(
        "logits",
        dtype::FLOAT,
        &[
            Dim::Named("time"),
            Dim::Named("batch"),
            Dim::Fixed(m.config.outputs),
        ],
    );
    Ok(g.into_model("a sequence tagger exported by recurrent", metadata))
}

/// The word tagger of `train tag`: its word, suffix and shape tables gathered and
/// concatenated per word, then the tagger. Inputs are the ids `tag` computes from each word
/// (`words`, `suffix2`, `suffix3`, `shapes`; those the model was trained with).
pub fn export_feature_tagger(
    m: &FeatureTagger<f32>,
    lengths: Lengths,
    metadata: &[(String, String)],
) -> Result<ModelProto> {
    let mut g = Graph::new("word_tagger");
    let ids = |g: &mut Graph, name: &str| {
        g.input(
            name,
            dtype::INT64,
            &[Dim::Named("time"), Dim::Named("batch")],
        )
    };
    let words = ids(&mut g, "words");
    let mut parts = vec![embed(&mut g, &m.words.weight, "embed.weight", &words)];
    if let Some(s) = &m.suffix {
        // One table, read twice: stored once.
        let sh = s.weight.value.shape();
        let w = g.init_f32(
            "embed_suffix.weight",
            &[sh[0], sh[1]],
            s.weight.value.data(),
        );
        for name in ["suffix2", "suffix3"] {
            let i = ids(&mut g, name);
            parts.push(g.op("Gather", &[&w, &i], vec![attr_int("axis", 0)]));
        }
    }
    if let Some(s) = &m.shape {
        let i = ids(&mut g, "shapes");
        parts.push(embed(&mut g, &s.weight, "embed_shape.weight", &i));
    }
    let refs: Vec<&str> = parts.iter().map(|s| s.as_str()).collect();
    let x = g.op("Concat", &refs, vec![attr_int("axis", 2)]);
    let lens = lengths
        .0
        .then(|| g.input("lengths", dtype::INT32, &[Dim::Named("batch")]));
    let t = &m.tagger;
    let v = rnn::wire(&mut g, &t.rnn, "rnn", &x, lens.as_deref(), None, None)?;
    let logits = linear(&mut g, &t.head, "head", &v.y);
    g.rename(&logits, "logits");
    g.output(
        "logits",
        dtype::FLOAT,
        &[
            Dim::Named("time"),
            Dim::Named("batch"),
            Dim::Fixed(t.config.outputs),
        ],
    );
    Ok(g.into_model("a word tagger exported by recurrent", metadata))
}
