//! Many-to-many, encoder-decoder (translation, string-to-string tasks).
//!
//! The encoder reads the source; its final state starts the decoder, directly when the
//! shapes agree, or through a bridge h0_dec = tanh(W [h_fwd; h_bwd] + b) when the encoder is
//! bidirectional (per layer; an LSTM's c the same way through a second bridge). The decoder
//! reads `[BOS, y_0, ..., y_{T-2}]` and predicts `y_0 .. y_{T-1}` (which ends with EOS).
//! Training uses teacher forcing with a ratio: with probability `ratio` a step reads the
//! true previous token, otherwise the model's own previous prediction (argmax). Decoding is
//! greedy or beam search with length normalisation (score = log p / len^alpha).
//!
//! With [`Attention::Luong`] the decoder's top-layer output h_t looks at every encoder
//! output h̄_s (Luong, Pham & Manning 2015, global attention with the `general` score); the
//! attentional state h~_t, not h_t, feeds the output layer:
//!
//! ```text
//! e_ts  = h_t . (W_a h̄_s)                     score `general`   (s < the source's length)
//! a_ts  = exp(e_ts) / sum_s' exp(e_ts')        softmax over the real source steps only
//! c_t   = sum_s a_ts h̄_s                       context
//! h~_t  = tanh(W_c [c_t; h_t])                 attentional hidden state
//! p(y_t | y_<t, x) = softmax(W_o h~_t + b_o)
//! ```
//! W_a [H, D*H] (`decoder.attn.key.weight`), W_c [H, D*H + H] (`decoder.attn.combine.weight`),
//! both without bias as in the paper. By default the decoder reads only the previous token,
//! so with full teacher forcing every step's h_t comes from one recurrent pass and attention
//! runs over all steps at once; with input feeding ([`feed`]) it also reads h~_{t-1}, and
//! runs step by step.
//!
//! Dropout `p` (training only, inverted, a fresh mask per batch) applies where the
//! encoder-decoders of Luong et al. and OpenNMT apply it, so that a one-layer model is
//! regularised too: on the source and target embeddings, between stacked layers, and on the
//! output layer's input (h~_t, or h_t without attention):
//!
//! ```text
//! x~ = x * m / (1 - p),  m ~ Bernoulli(1 - p)     forward
//! dx = dx~ * m / (1 - p)                          backward, the same mask
//! ```
//!
//! Parameter names: `encoder.embed.weight`, `encoder.rnn.*`, `bridge.*`, `decoder.embed.weight`,
//! `decoder.rnn.*`, `decoder.attn.*`, `decoder.head.*`.

mod decode;
mod feed;
pub use decode::{BeamScore, Hypothesis};

use super::attention::{AttnCache, LuongAttention, Memory};
use super::input::{prefix_names, InputKind, InputLayer, SeqBatch, Steps};
use crate::cell::CellKind;
use crate::error::{Error, Result};
use crate::float::Float;
use crate::init::Init;
use crate::layer::{RecurrentReg, Rnn, RnnCache, RnnConfig, RnnState};
use crate::nn::dropout::{self, dropout_mask};
use crate::nn::sample::argmax;
use crate::nn::{Embedding, Linear};
use crate::param::{Module, Param};
use crate::rng::Rng;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Whether and how the decoder attends to the encoder's outputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attention {
    /// The plain encoder-decoder: the source reaches the decoder only through its initial
    /// state.
    #[default]
    None,
    /// Luong global attention, `general` score, attentional state h~ = tanh(W_c [c; h]).
    Luong,
    /// The same with Bahdanau's additive score, e_s = v . tanh(W_q h + W_a h̄_s).
    Additive,
}

impl std::str::FromStr for Attention {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(Attention::None),
            "luong" | "luong-general" | "general" => Ok(Attention::Luong),
            "additive" | "bahdanau" | "concat" => Ok(Attention::Additive),
            _ => Err(Error::Config(format!(
                "--attention must be none, luong or additive (bahdanau), got `{s}`"
            ))),
        }
    }
}

impl std::fmt::Display for Attention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Attention::None => "none",
            Attention::Luong => "luong",
            Attention::Additive => "additive",
        })
    }
}

/// The architecture of an encoder-decoder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Seq2SeqConfig {
    pub cell: CellKind,
    pub src_vocab: usize,
    pub tgt_vocab: usize,
    pub embed: usize,
    pub hidden: usize,
    pub layers: usize,
    pub bidirectional_encoder: bool,
    /// Dropout on the embeddings, between layers and on the output layer's input.
    pub dropout: f64,
    /// Weight drop and locked dropout in the encoder's and the decoder's recurrent layers
    /// (flat keys, left out while off).
    #[serde(flatten)]
    pub reg: RecurrentReg,
    /// Target-side ids of the start and end tokens.
    pub bos: u32,
    pub eos: u32,
    /// Attention over the encoder's outputs (absent in older configs: none).
    #[serde(default)]
    pub attention: Attention,
    /// Input feeding ([`feed`]): the decoder reads the previous step's attentional vector
    /// beside the previous token (attention only; left out while off).
    #[serde(default, skip_serializing_if = "crate::omit::is_default")]
    pub input_feed: bool,
}

/// The decoder's initial state, the encoder's cache, the bridge's inputs and outputs
/// (h in, h out, c in, c out), and what attention reads (when it is on).
type Encoded<F> = (RnnState<F>, RnnCache<F>, [Vec<F>; 4], Option<Memory<F>>);

/// Encoder, bridge, decoder.
#[derive(Clone, Debug)]
pub struct Seq2Seq<F> {
    pub config: Seq2SeqConfig,
    pub src_embed: InputLayer<F>,
    pub encoder: Rnn<F>,
    pub bridge_h: Option<Linear<F>>,
    pub bridge_c: Option<Linear<F>>,
    pub tgt_embed: Embedding<F>,
    pub decoder: Rnn<F>,
    pub attention: Option<LuongAttention<F>>,
    pub head: Linear<F>,
}

/// What a training forward keeps.
#[derive(Clone, Debug)]
pub struct Seq2SeqCache<F: Float> {
    enc: RnnCache<F>,
    /// Encoder final states as the bridge saw them, per layer [B, D*H] (bridge only).
    bridge_in_h: Vec<F>,
    bridge_in_c: Vec<F>,
    bridge_out_h: Vec<F>,
    bridge_out_c: Vec<F>,
    /// One cache per decoder step (teacher forcing < 1) or one for all steps.
    dec: Vec<RnnCache<F>>,
    dec_ids: Vec<usize>,
    /// The decoder's top-layer outputs h_t [T*B, H].
    dec_y: Vec<F>,
    /// Attention's memory and cache (attention only); the head then reads h~, not h.
    mem: Option<Memory<F>>,
    attn: AttnCache<F>,
    /// With input feeding, attention's cache of each step (`attn` then holds only h~).
    attn_steps: Vec<AttnCache<F>>,
    t_tgt: usize,
    /// Dropout masks (scaled by 1/(1-p)) of the source embeddings [S*B*E], the target
    /// embeddings [T*B*E] and the head's input [T*B*H]; empty without dropout.
    src_mask: Vec<F>,
    tgt_mask: Vec<F>,
    head_mask: Vec<F>,
}

impl<F: Float> crate::layer::Quantize for Seq2Seq<F> {
    fn set_precision(&mut self, p: crate::kernels::quant::Precision) {
        self.encoder.set_precision(p);
        self.decoder.set_precision(p);
    }
}

impl<F: Float> Seq2Seq<F> {
    pub fn new(config: Seq2SeqConfig, init: &Init, rng: &mut Rng) -> Result<Self> {
        if config.bos as usize >= config.tgt_vocab || config.eos as usize >= config.tgt_vocab {
            return Err(Error::Config(
                "BOS and EOS must be target-vocabulary ids".into(),
            ));
        }
        let src_embed = InputLayer::new(
            InputKind::Tokens {
                vocab: config.src_vocab,
                embed: config.embed,
            },
            "encoder.embed",
            rng,
        )?;
        let ec = RnnConfig::new(config.cell, config.embed, config.hidden)
            .layers(config.layers)
            .bidirectional(config.bidirectional_encoder)
            .dropout(if config.layers > 1 {
                config.dropout
            } else {
                0.0
            })
            .reg(config.reg);
        let mut encoder = Rnn::new(ec, init, rng)?;
        prefix_names(&mut encoder, "encoder.rnn");
        let (bridge_h, bridge_c) = if config.bidirectional_encoder {
            let bh = Linear::new("bridge.h", 2 * config.hidden, config.hidden, true, rng);
            let bc = (config.cell.has_cell_state())
                .then(|| Linear::new("bridge.c", 2 * config.hidden, config.hidden, true, rng));
            (Some(bh), bc)
        } else {
            (None, None)
        };
        if config.input_feed && config.attention == Attention::None {
            return Err(Error::Config(
                "input feeding feeds the attentional vector back: it needs attention \
                 (--attention luong or additive)"
                    .into(),
            ));
        }
        let tgt_embed = Embedding::new("decoder.embed", config.tgt_vocab, config.embed, None, rng)?;
        // With input feeding the decoder reads [e(y_{t-1}); h~_{t-1}].
        let dec_in = config.embed + if config.input_feed { config.hidden } else { 0 };
        let dc = RnnConfig::new(config.cell, dec_in, config.hidden)
            .layers(config.layers)
            .dropout(if config.layers > 1 {
                config.dropout
            } else {
                0.0
            })
            .reg(config.reg);
        let mut decoder = Rnn::new(dc, init, rng)?;
        prefix_names(&mut decoder, "decoder.rnn");
        let dirs = if config.bidirectional_encoder { 2 } else { 1 };
        let attention = (config.attention != Attention::None).then(|| {
            let additive = config.attention == Attention::Additive;
            LuongAttention::new(dirs * config.hidden, config.hidden, additive, rng)
        });
        let head = Linear::new("decoder.head", config.hidden, config.tgt_vocab, true, rng);
        Ok(Seq2Seq {
            config,
            src_embed,
            encoder,
            bridge_h,
            bridge_c,
            tgt_embed,
            decoder,
            attention,
            head,
        })
    }

    /// A dropout mask for `n` values when training with dropout (None otherwise).
    fn mask(&self, n: usize, train: Option<&mut Rng>) -> Option<Vec<F>> {
        let p = self.config.dropout;
        match train {
            Some(rng) if p > 0.0 => Some(dropout_mask(n, p, rng)),
            _ => None,
        }
    }

    /// x~ = x * m in place (training with dropout); returns m (empty: none).
    fn drop(&self, x: &mut [F], train: Option<&mut Rng>) -> Vec<F> {
        match self.mask(x.len(), train) {
            Some(m) => {
                dropout::apply(x, &m);
                m
            }
            None => Vec::new(),
        }
    }

    /// The head's logits for `n` rows of its input `z` (h~ or h), `z` dropped out when
    /// training with dropout; pushes the mask onto `masks`.
    fn head_forward(
        &self,
        z: &[F],
        n: usize,
        train: Option<&mut Rng>,
        masks: &mut Vec<F>,
    ) -> Vec<F> {
        match self.mask(z.len(), train) {
            Some(m) => {
                let dropped: Vec<F> = z.iter().zip(&m).map(|(v, &k)| *v * k).collect();
                masks.extend(m);
                self.head.forward(&dropped, n)
            }
            None => self.head.forward(z, n),
        }
    }

    /// Encodes `src` and returns the decoder's initial state, with what backward needs,
    /// and the source embeddings' dropout mask.
    fn encode(
        &self,
        src: &SeqBatch<F>,
        mut train: Option<&mut Rng>,
    ) -> Result<(Encoded<F>, Vec<F>)> {
        let mut x = self.src_embed.forward(src)?;
        let src_mask = self.drop(&mut x, train.as_deref_mut());
        let encoded = self.encode_embedded(x, src, train)?;
        Ok((encoded, src_mask))
    }

    /// The rest of [`Seq2Seq::encode`], from the source embeddings `x`.
    fn encode_embedded(
        &self,
        x: Vec<F>,
        src: &SeqBatch<F>,
        train: Option<&mut Rng>,
    ) -> Result<Encoded<F>> {
        let (out, cache) =
            self.encoder
                .forward_tm(x, src.t, src.b, None, src.lengths.as_deref(), train)?;
        let (l, b, h) = (self.config.layers, src.b, self.config.hidden);
        let mem = self.attention.as_ref().map(|a| {
            let lengths = (0..b).map(|bi| src.len_of(bi)).collect();
            a.memory(out.output.data().to_vec(), src.t, b, lengths)
        });
        let Some(bh) = &self.bridge_h else {
            return Ok((out.state, cache, Default::default(), mem));
        };
        // [h_fwd; h_bwd] per layer and sequence -> tanh(W . + b).
        let cat = |s: &Tensor<F>| {
            let mut v = vec![F::zero(); l * b * 2 * h];
            for k in 0..l {
                for bi in 0..b {
                    for d in 0..2 {
                        let src = &s.data()[((k * 2 + d) * b + bi) * h..][..h];
                        v[((k * b + bi) * 2 + d) * h..][..h].copy_from_slice(src);
                    }
                }
            }
            v
        };
        let in_h = cat(&out.state.h);
        let mut out_h = bh.forward(&in_h, l * b);
        out_h.iter_mut().for_each(|v| *v = v.tanh());
        let (in_c, out_c) = match (&self.bridge_c, &out.state.c) {
            (Some(bc), Some(c)) => {
                let i = cat(c);
                let mut o = bc.forward(&i, l * b);
                o.iter_mut().for_each(|v| *v = v.tanh());
                (i, o)
            }
            _ => (Vec::new(), Vec::new()),
        };
        let state = RnnState {
            h: Tensor::from_vec(&[l, b, h], out_h.clone())?,
            c: if out_c.is_empty() {
                None
            } else {
                Some(Tensor::from_vec(&[l, b, h], out_c.clone())?)
            },
        };
        let state = match (&state.c, self.config.cell.has_cell_state()) {
            (None, true) => RnnState {
                c: Some(Tensor::zeros(&[l, b, h])),
                ..state
            },
            _ => state,
        };
        Ok((state, cache, [in_h, out_h, in_c, out_c], mem))
    }

    /// The output layer's input for `n` rows of decoder outputs: h~ with attention (and its
    /// cache), h itself without (None). Row r of `y` belongs to source `seq_of[r]`, else
    /// to source r % B.
    fn head_input(
        &self,
        mem: Option<&Memory<F>>,
        y: &[F],
        n: usize,
        seq_of: Option<&[usize]>,
    ) -> Option<AttnCache<F>> {
        match (&self.attention, mem) {
            (Some(a), Some(m)) => Some(a.forward(m, y, n, seq_of)),
            _ => None,
        }
    }

    /// Training forward: logits [T*B, V] for targets `tgt` [T, B] (each row ending with EOS,
    /// padded past `tgt_lengths`), teacher forcing with probability `ratio`.
    pub fn forward(
        &self,
        src: &SeqBatch<F>,
        tgt: &[u32],
        t_tgt: usize,
        ratio: f64,
        mut rng: Option<&mut Rng>,
    ) -> Result<(Vec<F>, Seq2SeqCache<F>)> {
        let b = src.b;
        if tgt.len() != t_tgt * b {
            return Err(Error::Input(format!(
                "{} target ids for T={t_tgt}, B={b}",
                tgt.len()
            )));
        }
        let ((state, enc, [in_h, out_h, in_c, out_c], mem), src_mask) =
            self.encode(src, rng.as_deref_mut())?;
        let mut attn = AttnCache::default();
        let (mut tgt_mask, mut head_mask) = (Vec::new(), Vec::new());
        let v = self.config.tgt_vocab;
        let prev = |t: usize, bi: usize| {
            if t == 0 {
                self.config.bos as usize
            } else {
                tgt[(t - 1) * b + bi] as usize
            }
        };
        let mut attn_steps = Vec::new();
        let (dec, dec_ids, dec_y, logits) = if let (true, Some(m)) =
            (self.config.input_feed, mem.as_ref())
        {
            let fed = self.decode_fed(state, m, tgt, t_tgt, b, ratio, rng.as_deref_mut())?;
            tgt_mask = fed.tgt_mask;
            let n = t_tgt * b;
            let logits = self.head_forward(&fed.h_tilde, n, rng.as_deref_mut(), &mut head_mask);
            attn.h_tilde = fed.h_tilde;
            attn_steps = fed.steps;
            (fed.dec, fed.ids, fed.ys, logits)
        } else if ratio >= 1.0 {
            let ids: Vec<usize> = (0..t_tgt)
                .flat_map(|t| (0..b).map(move |bi| (t, bi)))
                .map(|(t, bi)| prev(t, bi))
                .collect();
            let mut x = self.tgt_embed.forward(&ids)?;
            tgt_mask = self.drop(&mut x, rng.as_deref_mut());
            let (out, cache) =
                self.decoder
                    .forward_tm(x, t_tgt, b, Some(&state), None, rng.as_deref_mut())?;
            let y = out.output.into_vec();
            let n = t_tgt * b;
            let logits = match self.head_input(mem.as_ref(), &y, n, None) {
                Some(a) => {
                    let l = self.head_forward(&a.h_tilde, n, rng.as_deref_mut(), &mut head_mask);
                    attn = a;
                    l
                }
                None => self.head_forward(&y, n, rng.as_deref_mut(), &mut head_mask),
            };
            (vec![cache], ids, y, logits)
        } else {
            let mut caches = Vec::with_capacity(t_tgt);
            let mut ids = Vec::with_capacity(t_tgt * b);
            let mut ys = Vec::with_capacity(t_tgt * b * self.config.hidden);
            let mut logits = Vec::with_capacity(t_tgt * b * v);
            let mut st = state;
            for t in 0..t_tgt {
                for bi in 0..b {
                    let forced = t == 0 || rng.as_deref_mut().is_none_or(|r| r.uniform() < ratio);
                    let id = if forced {
                        prev(t, bi)
                    } else {
                        argmax(&logits[((t - 1) * b + bi) * v..][..v]) as usize
                    };
                    ids.push(id);
                }
                let mut x = self.tgt_embed.forward(&ids[t * b..])?;
                tgt_mask.extend(self.drop(&mut x, rng.as_deref_mut()));
                let (out, cache) =
                    self.decoder
                        .forward_tm(x, 1, b, Some(&st), None, rng.as_deref_mut())?;
                let y = out.output.into_vec();
                match self.head_input(mem.as_ref(), &y, b, None) {
                    Some(a) => {
                        logits.extend(self.head_forward(
                            &a.h_tilde,
                            b,
                            rng.as_deref_mut(),
                            &mut head_mask,
                        ));
                        attn.extend(a);
                    }
                    None => {
                        logits.extend(self.head_forward(&y, b, rng.as_deref_mut(), &mut head_mask))
                    }
                }
                ys.extend(y);
                st = out.state;
                caches.push(cache);
            }
            (caches, ids, ys, logits)
        };
        Ok((
            logits,
            Seq2SeqCache {
                enc,
                bridge_in_h: in_h,
                bridge_in_c: in_c,
                bridge_out_h: out_h,
                bridge_out_c: out_c,
                dec,
                dec_ids,
                dec_y,
                mem,
                attn,
                attn_steps,
                t_tgt,
                src_mask,
                tgt_mask,
                head_mask,
            },
        ))
    }

    /// Backward from dL/d(logits) [T*B, V].
    pub fn backward(
        &mut self,
        src: &SeqBatch<F>,
        cache: &Seq2SeqCache<F>,
        dlogits: &[F],
    ) -> Result<()> {
        let (b, t, hs, l) = (src.b, cache.t_tgt, self.config.hidden, self.config.layers);
        let d = self.encoder.config().directions();
        let mut d_enc = vec![F::zero(); src.t * b * d * hs];
        // dL/dz of the head's input z (h~ with attention, h without); it read z * m under
        // dropout, so its input gradient times m.
        let z = match &cache.mem {
            Some(_) if self.attention.is_some() => &cache.attn.h_tilde,
            _ => &cache.dec_y,
        };
        let dz = if cache.head_mask.is_empty() {
            self.head.backward(z, dlogits, t * b)
        } else {
            let m = &cache.head_mask;
            let dropped: Vec<F> = z.iter().zip(m).map(|(v, &k)| *v * k).collect();
            let mut dz = self.head.backward(&dropped, dlogits, t * b);
            dropout::apply(&mut dz, m);
            dz
        };
        let is_lstm = self.config.cell.has_cell_state();
        // Attention and the decoder, giving dL/d(initial state).
        let (dh0, dc0) = if self.config.input_feed {
            self.backward_fed(cache, &dz, b, &mut d_enc)?
        } else {
            let mut dy = match (&mut self.attention, &cache.mem) {
                (Some(a), Some(mem)) => a.backward(mem, &cache.attn, &dz, t * b, &mut d_enc),
                _ => dz,
            };
            self.backward_decoder(cache, &mut dy, b)?
        };
        // Bridge, giving dL/d(encoder final state).
        let (dhn, dcn) = match &mut self.bridge_h {
            None => (dh0, dc0),
            Some(bh) => {
                let through = |lin: &mut Linear<F>, din: &[F], xin: &[F], yout: &[F]| -> Vec<F> {
                    let dpre: Vec<F> = din
                        .iter()
                        .zip(yout)
                        .map(|(g, y)| *g * (F::one() - *y * *y))
                        .collect();
                    let dcat = lin.backward(xin, &dpre, l * b);
                    // Un-concatenate [h_fwd; h_bwd] back to [L*2, B, H].
                    let mut out = vec![F::zero(); l * 2 * b * hs];
                    for k in 0..l {
                        for bi in 0..b {
                            for dd in 0..2 {
                                out[((k * 2 + dd) * b + bi) * hs..][..hs]
                                    .copy_from_slice(&dcat[((k * b + bi) * 2 + dd) * hs..][..hs]);
                            }
                        }
                    }
                    out
                };
                let gh = through(bh, &dh0, &cache.bridge_in_h, &cache.bridge_out_h);
                let gc = match (&mut self.bridge_c, dc0) {
                    (Some(bc), Some(dc)) => {
                        Some(through(bc, &dc, &cache.bridge_in_c, &cache.bridge_out_c))
                    }
                    (None, Some(_)) if is_lstm => Some(vec![F::zero(); l * 2 * b * hs]),
                    _ => None,
                };
                (gh, gc)
            }
        };
        let dhn = Tensor::from_vec(&[l * d, b, hs], dhn)?;
        let dcn = dcn
            .map(|c| Tensor::from_vec(&[l * d, b, hs], c))
            .transpose()?;
        let (mut dx, _, _) =
            self.encoder
                .backward_tm(&cache.enc, &mut d_enc, Some(&dhn), dcn.as_ref())?;
        if !cache.src_mask.is_empty() {
            dropout::apply(&mut dx, &cache.src_mask);
        }
        self.src_embed.backward(src, &dx)
    }

    /// Backward through the decoder (without input feeding) from dL/dy of its top layer's
    /// outputs [T*B, H]: returns dL/d(initial state), h and (LSTM) c.
    fn backward_decoder(
        &mut self,
        cache: &Seq2SeqCache<F>,
        dy: &mut [F],
        b: usize,
    ) -> Result<(Vec<F>, Option<Vec<F>>)> {
        let (t, hs, l) = (cache.t_tgt, self.config.hidden, self.config.layers);
        // An empty mask: no dropout.
        let unmask = |dx: &mut [F], m: &[F]| {
            if !m.is_empty() {
                dropout::apply(dx, m);
            }
        };
        if cache.dec.len() == 1 {
            let (mut dx, dh0, dc0) = self.decoder.backward_tm(&cache.dec[0], dy, None, None)?;
            unmask(&mut dx, &cache.tgt_mask);
            self.tgt_embed.backward(&cache.dec_ids, &dx)?;
            return Ok((dh0, dc0));
        }
        let mut dh: Option<Tensor<F>> = None;
        let mut dc: Option<Tensor<F>> = None;
        for step in (0..t).rev() {
            let dys = &mut dy[step * b * hs..(step + 1) * b * hs];
            let (mut dx, g_h, g_c) =
                self.decoder
                    .backward_tm(&cache.dec[step], dys, dh.as_ref(), dc.as_ref())?;
            if !cache.tgt_mask.is_empty() {
                let e = dx.len();
                unmask(&mut dx, &cache.tgt_mask[step * e..(step + 1) * e]);
            }
            self.tgt_embed
                .backward(&cache.dec_ids[step * b..(step + 1) * b], &dx)?;
            dh = Some(Tensor::from_vec(&[l, b, hs], g_h)?);
            dc = g_c.map(|c| Tensor::from_vec(&[l, b, hs], c)).transpose()?;
        }
        Ok((
            dh.map(|t| t.into_vec()).unwrap_or_default(),
            dc.map(|t| t.into_vec()),
        ))
    }
}

impl<F: Float> Module<F> for Seq2Seq<F> {
    fn visit(&self, f: &mut dyn FnMut(&Param<F>)) {
        self.src_embed.visit(f);
        self.encoder.visit(f);
        for b in [&self.bridge_h, &self.bridge_c].into_iter().flatten() {
            b.visit(f);
        }
        self.tgt_embed.visit(f);
        self.decoder.visit(f);
        if let Some(a) = &self.attention {
            a.visit(f);
        }
        self.head.visit(f);
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<F>)) {
        self.src_embed.visit_mut(f);
        self.encoder.visit_mut(f);
        for b in [&mut self.bridge_h, &mut self.bridge_c]
            .into_iter()
            .flatten()
        {
            b.visit_mut(f);
        }
        self.tgt_embed.visit_mut(f);
        self.decoder.visit_mut(f);
        if let Some(a) = &mut self.attention {
            a.visit_mut(f);
        }
        self.head.visit_mut(f);
    }
}
