//! The encoder-decoder ([`Seq2Seq`]) as two ONNX graphs, so that any runtime can run the
//! encoder once and then the decoder one step at a time under its own search (greedy, beam):
//!
//! | graph | inputs | outputs |
//! | --- | --- | --- |
//! | encoder | `source` int64 [src_time, batch]; `source_lengths` int32 [batch] if asked | `h0` (, `c0`) [layers, batch, hidden]: the decoder's first state; with attention `memory` [src_time, batch, D*hidden] and `keys` [src_time, batch, hidden] |
//! | decoder step | `token` int64 [batch] (BOS first), `h` (, `c`); with attention `memory`, `keys`, `source_lengths` int32 [batch]; with input feeding `feed` [batch, hidden] (zeros first) | `log_probs` [batch, target vocab], `h_out` (, `c_out`); with input feeding `feed_out`, the next step's `feed` |
//!
//! The bridge of a bidirectional encoder, h0_dec = tanh(W [h_fwd; h_bwd] + b) per layer, is
//! in the encoder graph; Luong attention (scores against the keys W_a h̄, general or
//! additive, a softmax over each source's real steps, h~ = tanh(W_c [c; h])) is in the step
//! graph.

use super::graph::{attr_int, attr_ints, valid_steps, Dim, Graph};
use super::models::{embed, linear, Lengths};
use super::proto::{dtype, ModelProto};
use super::rnn;
use crate::error::{Error, Result};
use crate::model::input::InputLayer;
use crate::model::seq2seq::Seq2Seq;
use crate::nn::Linear;

/// tanh(W [s_fwd; s_bwd] + b) for each layer of a bidirectional final state [2L, B, H]:
/// [L, 2, B, H] -> [L, B, 2, H] -> [L, B, 2H] -> the bridge.
fn bridge(g: &mut Graph, s: &str, lin: &Linear<f32>, l: usize, h: usize, name: &str) -> String {
    let four = g.ints(&[l as i64, 2, -1, h as i64]);
    let s4 = g.op("Reshape", &[s, &four], vec![]);
    let t = g.op("Transpose", &[&s4], vec![attr_ints("perm", &[0, 2, 1, 3])]);
    let three = g.ints(&[0, 0, (2 * h) as i64]);
    let cat = g.op("Reshape", &[&t, &three], vec![]);
    let pre = linear(g, lin, name, &cat);
    g.op("Tanh", &[&pre], vec![])
}

/// The encoder graph (see the module's doc).
pub fn export_encoder(
    m: &Seq2Seq<f32>,
    lengths: Lengths,
    metadata: &[(String, String)],
) -> Result<ModelProto> {
    let c = &m.config;
    let (l, h) = (c.layers, c.hidden);
    let mut g = Graph::new("translation_encoder");
    let src = g.input(
        "source",
        dtype::INT64,
        &[Dim::Named("src_time"), Dim::Named("batch")],
    );
    let lens = lengths
        .0
        .then(|| g.input("source_lengths", dtype::INT32, &[Dim::Named("batch")]));
    let InputLayer::Embed(e) = &m.src_embed else {
        return Err(Error::Config(
            "ONNX export: the encoder reads feature vectors, not token ids".into(),
        ));
    };
    let x = embed(&mut g, &e.weight, "encoder.embed.weight", &src);
    let v = rnn::wire(
        &mut g,
        &m.encoder,
        "encoder.rnn",
        &x,
        lens.as_deref(),
        None,
        None,
    )?;
    let (h0, c0) = match &m.bridge_h {
        Some(bh) => {
            let h0 = bridge(&mut g, &v.h_n, bh, l, h, "bridge.h");
            let c0 = match (&m.bridge_c, &v.c_n) {
                (Some(bc), Some(cn)) => Some(bridge(&mut g, cn, bc, l, h, "bridge.c")),
                _ => None,
            };
            (h0, c0)
        }
        None => (v.h_n.clone(), v.c_n.clone()),
    };
    let sdims = [Dim::Fixed(l), Dim::Named("batch"), Dim::Fixed(h)];
    g.rename(&h0, "h0");
    g.output("h0", dtype::FLOAT, &sdims);
    if let Some(c0) = c0 {
        g.rename(&c0, "c0");
        g.output("c0", dtype::FLOAT, &sdims);
    }
    if let Some(a) = &m.attention {
        let dh = m.encoder.config().output_size();
        g.rename(&v.y, "memory");
        let keys = linear(&mut g, &a.key, "decoder.attn.key", &v.y);
        g.rename(&keys, "keys");
        g.output(
            "memory",
            dtype::FLOAT,
            &[Dim::Named("src_time"), Dim::Named("batch"), Dim::Fixed(dh)],
        );
        g.output(
            "keys",
            dtype::FLOAT,
            &[Dim::Named("src_time"), Dim::Named("batch"), Dim::Fixed(h)],
        );
    }
    Ok(g.into_model("a translation encoder exported by recurrent", metadata))
}

/// Luong attention for one step: h~ [B, H] from the decoder's output y [B, H].
fn attend(
    g: &mut Graph,
    m: &Seq2Seq<f32>,
    y: &str,
    memory: &str,
    keys: &str,
    lens: &str,
) -> Result<String> {
    let a = m
        .attention
        .as_ref()
        .ok_or_else(|| Error::Config("ONNX export: attention without parameters".into()))?;
    // e[b, s] = K[s, b, :] . y[b, :] (general) or v . tanh(W_q y[b] + K[s, b]) (additive),
    // then -inf past each source's length.
    let kt = g.op("Transpose", &[keys], vec![attr_ints("perm", &[1, 0, 2])]);
    let ax2 = g.ints(&[2]);
    let e3 = match &a.additive {
        None => {
            let y3 = g.op("Unsqueeze", &[y, &ax2], vec![]);
            g.op("MatMul", &[&kt, &y3], vec![])
        }
        Some(ad) => {
            let q = linear(g, &ad.query, "decoder.attn.query", y);
            let ax1 = g.ints(&[1]);
            let q3 = g.op("Unsqueeze", &[&q, &ax1], vec![]);
            let sum = g.op("Add", &[&kt, &q3], vec![]);
            let u = g.op("Tanh", &[&sum], vec![]);
            let h = ad.v.value.len();
            let v = g.init_f32("decoder.attn.v", &[h, 1], ad.v.value.data());
            g.op("MatMul", &[&u, &v], vec![])
        }
    };
    let e = g.op("Squeeze", &[&e3, &ax2], vec![]);
    let valid = valid_steps(g, keys, lens);
    let valid = g.op("Transpose", &[&valid], vec![attr_ints("perm", &[1, 0])]);
    let ninf = g.scalar_f32(f32::NEG_INFINITY);
    let e = g.op("Where", &[&valid, &e, &ninf], vec![]);
    let alpha = g.op("Softmax", &[&e], vec![attr_int("axis", 1)]);
    // c[b] = sum_s a[b, s] memory[s, b, :]
    let mt = g.op("Transpose", &[memory], vec![attr_ints("perm", &[1, 0, 2])]);
    let ax1 = g.ints(&[1]);
    let a3 = g.op("Unsqueeze", &[&alpha, &ax1], vec![]);
    let c3 = g.op("MatMul", &[&a3, &mt], vec![]);
    let ctx = g.op("Squeeze", &[&c3, &ax1], vec![]);
    let cat = g.op("Concat", &[&ctx, y], vec![attr_int("axis", 1)]);
    let pre = linear(g, &a.combine, "decoder.attn.combine", &cat);
    Ok(g.op("Tanh", &[&pre], vec![]))
}

/// The decoder-step graph (see the module's doc).
pub fn export_decoder_step(m: &Seq2Seq<f32>, metadata: &[(String, String)]) -> Result<ModelProto> {
    let c = &m.config;
    let (l, h) = (c.layers, c.hidden);
    let lstm = c.cell.has_cell_state();
    let mut g = Graph::new("translation_decoder_step");
    let sdims = [Dim::Fixed(l), Dim::Named("batch"), Dim::Fixed(h)];
    let token = g.input("token", dtype::INT64, &[Dim::Named("batch")]);
    let hs = g.input("h", dtype::FLOAT, &sdims);
    let cs = lstm.then(|| g.input("c", dtype::FLOAT, &sdims));
    let att = m.attention.is_some().then(|| {
        let dh = m.encoder.config().output_size();
        let mem = g.input(
            "memory",
            dtype::FLOAT,
            &[Dim::Named("src_time"), Dim::Named("batch"), Dim::Fixed(dh)],
        );
        let keys = g.input(
            "keys",
            dtype::FLOAT,
            &[Dim::Named("src_time"), Dim::Named("batch"), Dim::Fixed(h)],
        );
        let lens = g.input("source_lengths", dtype::INT32, &[Dim::Named("batch")]);
        (mem, keys, lens)
    });
    let feed = c
        .input_feed
        .then(|| g.input("feed", dtype::FLOAT, &[Dim::Named("batch"), Dim::Fixed(h)]));
    let x = embed(&mut g, &m.tgt_embed.weight, "decoder.embed.weight", &token);
    // Input feeding: the decoder reads [e(token); h~ of the step before].
    let x = match &feed {
        Some(f) => g.op("Concat", &[&x, f], vec![attr_int("axis", 1)]),
        None => x,
    };
    let ax0 = g.ints(&[0]);
    let x = g.op("Unsqueeze", &[&x, &ax0], vec![]);
    let v = rnn::wire(
        &mut g,
        &m.decoder,
        "decoder.rnn",
        &x,
        None,
        Some(&hs),
        cs.as_deref(),
    )?;
    let y = g.op("Squeeze", &[&v.y, &ax0], vec![]);
    let head_in = match &att {
        Some((mem, keys, lens)) => attend(&mut g, m, &y, mem, keys, lens)?,
        None => y,
    };
    let logits = linear(&mut g, &m.head, "decoder.head", &head_in);
    g.op_into(
        "LogSoftmax",
        &[&logits],
        &["log_probs"],
        vec![attr_int("axis", 1)],
    );
    g.output(
        "log_probs",
        dtype::FLOAT,
        &[Dim::Named("batch"), Dim::Fixed(c.tgt_vocab)],
    );
    g.rename(&v.h_n, "h_out");
    g.output("h_out", dtype::FLOAT, &sdims);
    if let Some(cn) = &v.c_n {
        g.rename(cn, "c_out");
        g.output("c_out", dtype::FLOAT, &sdims);
    }
    if feed.is_some() {
        g.rename(&head_in, "feed_out");
        g.output(
            "feed_out",
            dtype::FLOAT,
            &[Dim::Named("batch"), Dim::Fixed(h)],
        );
    }
    Ok(g.into_model("a translation decoder step exported by recurrent", metadata))
}
