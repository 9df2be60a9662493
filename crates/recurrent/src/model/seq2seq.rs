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
//! Parameter names: `encoder.embed.weight`, `encoder.rnn.*`, `bridge.*`, `decoder.embed.weight`,
//! `decoder.rnn.*`, `decoder.head.*`.

use super::input::{prefix_names, InputKind, InputLayer, SeqBatch, Steps};
use crate::cell::CellKind;
use crate::error::{Error, Result};
use crate::float::Float;
use crate::infer::sample::{argmax, log_softmax};
use crate::init::Init;
use crate::layer::{Rnn, RnnCache, RnnConfig, RnnState};
use crate::nn::{Embedding, Linear};
use crate::param::{Module, Param};
use crate::rng::Rng;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

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
    pub dropout: f64,
    /// Target-side ids of the start and end tokens.
    pub bos: u32,
    pub eos: u32,
}

/// The decoder's initial state, the encoder's cache, and the bridge's inputs and outputs
/// (h in, h out, c in, c out).
type Encoded<F> = (RnnState<F>, RnnCache<F>, [Vec<F>; 4]);

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
    dec_y: Vec<F>,
    t_tgt: usize,
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
            });
        let mut encoder = Rnn::new(ec, init, rng)?;
        prefix_names(&mut encoder, "encoder.rnn");
        let (bridge_h, bridge_c) = if config.bidirectional_encoder {
            let bh = Linear::new("bridge.h", 2 * config.hidden, config.hidden, true, rng);
            let bc = (config.cell == CellKind::Lstm)
                .then(|| Linear::new("bridge.c", 2 * config.hidden, config.hidden, true, rng));
            (Some(bh), bc)
        } else {
            (None, None)
        };
        let tgt_embed = Embedding::new("decoder.embed", config.tgt_vocab, config.embed, None, rng)?;
        let dc = RnnConfig::new(config.cell, config.embed, config.hidden)
            .layers(config.layers)
            .dropout(if config.layers > 1 {
                config.dropout
            } else {
                0.0
            });
        let mut decoder = Rnn::new(dc, init, rng)?;
        prefix_names(&mut decoder, "decoder.rnn");
        let head = Linear::new("decoder.head", config.hidden, config.tgt_vocab, true, rng);
        Ok(Seq2Seq {
            config,
            src_embed,
            encoder,
            bridge_h,
            bridge_c,
            tgt_embed,
            decoder,
            head,
        })
    }

    /// Encodes `src` and returns the decoder's initial state, with what backward needs.
    fn encode(&self, src: &SeqBatch<F>, train: Option<&mut Rng>) -> Result<Encoded<F>> {
        let x = self.src_embed.forward(src)?;
        let (out, cache) =
            self.encoder
                .forward_tm(x, src.t, src.b, None, src.lengths.as_deref(), train)?;
        let (l, b, h) = (self.config.layers, src.b, self.config.hidden);
        let Some(bh) = &self.bridge_h else {
            return Ok((out.state, cache, Default::default()));
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
        let state = match (&state.c, self.config.cell == CellKind::Lstm) {
            (None, true) => RnnState {
                c: Some(Tensor::zeros(&[l, b, h])),
                ..state
            },
            _ => state,
        };
        Ok((state, cache, [in_h, out_h, in_c, out_c]))
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
        let (state, enc, [in_h, out_h, in_c, out_c]) = self.encode(src, rng.as_deref_mut())?;
        let v = self.config.tgt_vocab;
        let prev = |t: usize, bi: usize| {
            if t == 0 {
                self.config.bos as usize
            } else {
                tgt[(t - 1) * b + bi] as usize
            }
        };
        let (dec, dec_ids, dec_y, logits) = if ratio >= 1.0 {
            let ids: Vec<usize> = (0..t_tgt)
                .flat_map(|t| (0..b).map(move |bi| (t, bi)))
                .map(|(t, bi)| prev(t, bi))
                .collect();
            let x = self.tgt_embed.forward(&ids)?;
            let (out, cache) =
                self.decoder
                    .forward_tm(x, t_tgt, b, Some(&state), None, rng.as_deref_mut())?;
            let y = out.output.into_vec();
            let logits = self.head.forward(&y, t_tgt * b);
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
                let x = self.tgt_embed.forward(&ids[t * b..])?;
                let (out, cache) =
                    self.decoder
                        .forward_tm(x, 1, b, Some(&st), None, rng.as_deref_mut())?;
                let y = out.output.into_vec();
                logits.extend(self.head.forward(&y, b));
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
                t_tgt,
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
        let mut dy = self.head.backward(&cache.dec_y, dlogits, t * b);
        let is_lstm = self.config.cell == CellKind::Lstm;
        // Decoder, giving dL/d(initial state).
        let (dh0, dc0) = if cache.dec.len() == 1 {
            let (dx, dh0, dc0) = self
                .decoder
                .backward_tm(&cache.dec[0], &mut dy, None, None)?;
            self.tgt_embed.backward(&cache.dec_ids, &dx)?;
            (dh0, dc0)
        } else {
            let mut dh: Option<Tensor<F>> = None;
            let mut dc: Option<Tensor<F>> = None;
            for step in (0..t).rev() {
                let dys = &mut dy[step * b * hs..(step + 1) * b * hs];
                let (dx, g_h, g_c) =
                    self.decoder
                        .backward_tm(&cache.dec[step], dys, dh.as_ref(), dc.as_ref())?;
                self.tgt_embed
                    .backward(&cache.dec_ids[step * b..(step + 1) * b], &dx)?;
                dh = Some(Tensor::from_vec(&[l, b, hs], g_h)?);
                dc = g_c.map(|c| Tensor::from_vec(&[l, b, hs], c)).transpose()?;
            }
            (
                dh.map(|t| t.into_vec()).unwrap_or_default(),
                dc.map(|t| t.into_vec()),
            )
        };
        // Bridge, giving dL/d(encoder final state).
        let d = self.encoder.config().directions();
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
        let mut d_out = vec![F::zero(); src.t * b * d * hs];
        let (dx, _, _) =
            self.encoder
                .backward_tm(&cache.enc, &mut d_out, Some(&dhn), dcn.as_ref())?;
        self.src_embed.backward(src, &dx)
    }

    /// Decodes one source sequence (ids, no padding) with beam search of width `beam`
    /// (1 = greedy) and length normalisation `alpha`; returns up to `nbest` hypotheses
    /// `(score, tokens without EOS)`, best first.
    pub fn beam_search(
        &self,
        src: &[u32],
        beam: usize,
        max_len: usize,
        alpha: f64,
        nbest: usize,
    ) -> Result<Vec<(f64, Vec<u32>)>> {
        if src.is_empty() {
            return Err(Error::Input("empty source sequence".into()));
        }
        let batch = SeqBatch {
            steps: Steps::Ids(src.to_vec()),
            t: src.len(),
            b: 1,
            lengths: None,
        };
        let (state, _, _) = self.encode(&batch, None)?;
        let beam = beam.max(1);
        let v = self.config.tgt_vocab;
        // (log p, tokens, state)
        let mut live: Vec<(f64, Vec<u32>, RnnState<F>)> = vec![(0.0, Vec::new(), state)];
        let mut done: Vec<(f64, Vec<u32>)> = Vec::new();
        let norm = |lp: f64, len: usize| {
            if alpha > 0.0 {
                lp / (len.max(1) as f64).powf(alpha)
            } else {
                lp
            }
        };
        let mut logp = vec![0.0f64; v];
        for _ in 0..max_len {
            let mut cand: Vec<(f64, usize, u32)> = Vec::new();
            let mut states = Vec::with_capacity(live.len());
            for (i, (lp, toks, st)) in live.iter().enumerate() {
                let prev = toks.last().copied().unwrap_or(self.config.bos) as usize;
                let x = self.tgt_embed.forward(&[prev])?;
                let (out, _) = self.decoder.forward_tm(x, 1, 1, Some(st), None, None)?;
                let logits = self.head.forward(out.output.data(), 1);
                log_softmax(&logits, &mut logp);
                let mut order: Vec<usize> = (0..v).collect();
                order.sort_by(|&a, &c| logp[c].total_cmp(&logp[a]).then(a.cmp(&c)));
                for &tok in order.iter().take(beam) {
                    cand.push((lp + logp[tok], i, tok as u32));
                }
                states.push(out.state);
            }
            cand.sort_by(|a, c| c.0.total_cmp(&a.0).then(a.1.cmp(&c.1)).then(a.2.cmp(&c.2)));
            let mut next = Vec::with_capacity(beam);
            for (lp, i, tok) in cand {
                if next.len() >= beam {
                    break;
                }
                let mut toks = live[i].1.clone();
                if tok == self.config.eos {
                    done.push((norm(lp, toks.len() + 1), toks));
                    if done.len() >= beam.max(nbest) {
                        break;
                    }
                } else {
                    toks.push(tok);
                    next.push((lp, toks, states[i].clone()));
                }
            }
            // Stop once enough hypotheses ended and none alive can beat them.
            if done.len() >= beam.max(nbest) || next.is_empty() {
                break;
            }
            live = next;
        }
        if done.is_empty() {
            done = live
                .into_iter()
                .map(|(lp, t, _)| (norm(lp, t.len()), t))
                .collect();
        }
        done.sort_by(|a, c| c.0.total_cmp(&a.0));
        done.truncate(nbest.max(1));
        Ok(done)
    }

    /// Greedy decoding: the most probable token at each step, until EOS or `max_len`.
    pub fn greedy(&self, src: &[u32], max_len: usize) -> Result<Vec<u32>> {
        Ok(self
            .beam_search(src, 1, max_len, 0.0, 1)?
            .into_iter()
            .next()
            .map(|h| h.1)
            .unwrap_or_default())
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
        self.head.visit_mut(f);
    }
}
