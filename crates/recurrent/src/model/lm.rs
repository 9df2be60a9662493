//! The language model (many-to-many, aligned): embedding -> recurrent layer -> dropout ->
//! linear head over the vocabulary, the same module structure and parameter names as
//! the PyTorch character LM we compare against (`nn.Embedding`, `nn.LSTM`, `nn.Linear`:
//! `embed.weight`, `rnn.weight_ih_l0`, ..., `head.weight`, `head.bias`), so its saved
//! `state_dict` files load here and ours load there.
//!
//! Shapes: ids [T, B] (time-major) -> x [T, B, E] -> y [T, B, H] -> logits [T*B, V].

use crate::cell::CellKind;
use crate::error::{Error, Result};
use crate::float::Float;
use crate::init::Init;
use crate::layer::{Rnn, RnnCache, RnnConfig, RnnState};
use crate::nn::dropout::dropout_mask;
use crate::nn::{Embedding, Linear};
use crate::param::{Module, Param};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// The architecture of a language model (stored in checkpoints).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmConfig {
    pub cell: CellKind,
    /// V.
    pub vocab: usize,
    /// E.
    pub embed: usize,
    /// H.
    pub hidden: usize,
    /// L.
    pub layers: usize,
    /// Dropout between layers and before the head, in training.
    pub dropout: f64,
}

impl LmConfig {
    pub fn validate(&self) -> Result<()> {
        if self.vocab == 0 || self.embed == 0 {
            return Err(Error::Config(format!(
                "vocab ({}) and --embed ({}) must be at least 1",
                self.vocab, self.embed
            )));
        }
        self.rnn_config().validate()
    }
    fn rnn_config(&self) -> RnnConfig {
        RnnConfig::new(self.cell, self.embed, self.hidden)
            .layers(self.layers)
            .dropout(if self.layers > 1 { self.dropout } else { 0.0 })
    }
}

/// Embedding, recurrent layer, head.
#[derive(Clone, Debug)]
pub struct LanguageModel<F> {
    config: LmConfig,
    pub embed: Embedding<F>,
    pub rnn: Rnn<F>,
    pub head: Linear<F>,
}

/// What forward keeps for backward.
#[derive(Clone, Debug)]
pub struct LmCache<F: Float> {
    ids: Vec<usize>,
    rnn: RnnCache<F>,
    /// y after dropout, [T*B, H]: the head's input.
    y: Vec<F>,
    mask: Option<Vec<F>>,
}

impl<F: Float> LanguageModel<F> {
    /// A freshly initialised model (init order: embedding, recurrent layer, head).
    pub fn new(config: LmConfig, init: &Init, rng: &mut Rng) -> Result<Self> {
        config.validate()?;
        let embed = Embedding::new("embed", config.vocab, config.embed, None, rng)?;
        let mut rnn = Rnn::new(config.rnn_config(), init, rng)?;
        rnn.visit_mut(&mut |p| p.name = format!("rnn.{}", p.name));
        let head = Linear::new("head", config.hidden, config.vocab, true, rng);
        Ok(LanguageModel {
            config,
            embed,
            rnn,
            head,
        })
    }

    pub fn config(&self) -> &LmConfig {
        &self.config
    }

    /// Zero state for `b` streams.
    pub fn zero_state(&self, b: usize) -> RnnState<F> {
        self.rnn.zero_state(b)
    }

    /// Forward over `ids` [T, B]. Returns the logits [T*B, V], the final state (to carry into
    /// the next chunk: truncated BPTT) and the cache. `train` supplies dropout's stream.
    pub fn forward(
        &self,
        ids: &[u32],
        t: usize,
        b: usize,
        state: Option<&RnnState<F>>,
        mut train: Option<&mut Rng>,
    ) -> Result<(Vec<F>, RnnState<F>, LmCache<F>)> {
        if ids.len() != t * b {
            return Err(Error::Input(format!(
                "{} token ids for T={t}, B={b}",
                ids.len()
            )));
        }
        let ids: Vec<usize> = ids.iter().map(|&i| i as usize).collect();
        let x = self.embed.forward(&ids)?;
        let (out, rnn_cache) = self
            .rnn
            .forward_tm(x, t, b, state, None, train.as_deref_mut())?;
        let mut y = out.output.into_vec();
        let mask = match (train, self.config.dropout > 0.0) {
            (Some(rng), true) => {
                let m = dropout_mask(y.len(), self.config.dropout, rng);
                y.iter_mut().zip(&m).for_each(|(v, k)| *v *= *k);
                Some(m)
            }
            _ => None,
        };
        let logits = self.head.forward(&y, t * b);
        Ok((
            logits,
            out.state,
            LmCache {
                ids,
                rnn: rnn_cache,
                y,
                mask,
            },
        ))
    }

    /// Backward from dL/d(logits) [T*B, V]; gradients accumulate in every parameter. The
    /// carried state gets no gradient (truncated BPTT cuts it at the chunk boundary).
    pub fn backward(&mut self, cache: &LmCache<F>, dlogits: &[F]) -> Result<()> {
        let n = cache.y.len() / self.config.hidden;
        let mut dy = self.head.backward(&cache.y, dlogits, n);
        if let Some(m) = &cache.mask {
            dy.iter_mut().zip(m).for_each(|(v, k)| *v *= *k);
        }
        let (dx, _, _) = self.rnn.backward_tm(&cache.rnn, &mut dy, None, None)?;
        self.embed.backward(&cache.ids, &dx)?;
        Ok(())
    }
}

impl<F: Float> Module<F> for LanguageModel<F> {
    fn visit(&self, f: &mut dyn FnMut(&Param<F>)) {
        self.embed.visit(f);
        self.rnn.visit(f);
        self.head.visit(f);
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<F>)) {
        self.embed.visit_mut(f);
        self.rnn.visit_mut(f);
        self.head.visit_mut(f);
    }
}
