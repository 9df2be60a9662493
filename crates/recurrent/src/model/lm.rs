//! The language model (many-to-many, aligned): embedding -> recurrent layer -> dropout ->
//! linear head over the vocabulary, the same module structure and parameter names as
//! the PyTorch character LM we compare against (`nn.Embedding`, `nn.LSTM`, `nn.Linear`:
//! `embed.weight`, `rnn.weight_ih_l0`, ..., `head.weight`, `head.bias`), so its saved
//! `state_dict` files load here and ours load there.
//!
//! Shapes: ids [T, B] (time-major) -> x [T, B, E] -> y [T, B, H] -> logits [T*B, V].
//!
//! The AWD-LSTM regularisers ([`Regularisers`], Merity et al. 2017) sit on this path, each
//! applied in training only, forward and backward side by side below:
//!   embedding dropout  x_t = E[id_t] m_e[id_t], one mask m_e over the vocabulary
//!   input dropout      x_t <- x_t ⊙ m_i, one [B, E] mask for every step (locked)
//!   weight drop        W_hh ⊙ M inside the recurrent layer ([`crate::layer::RnnConfig`])
//!   output dropout     y_t = h_t ⊙ m_o (locked when `variational`, as between layers)
//!   AR                 alpha mean(y^2)                 (y the dropped output)
//!   TAR                beta mean((h_t - h_{t-1})^2)    (h the undropped output)
//!
//! Tied embeddings (`tie`, Press & Wolf 2017; Inan et al. 2017): the head's weight is the
//! embedding table, logits = y E^T + b, so dE collects both the head's gradient and the
//! embedding's. The model then has no `head.weight` parameter: the head keeps a copy of E
//! that [`Module::visit_mut`] refreshes after every change of the parameters (an optimizer
//! step, a checkpoint load), so every reader of the head (forward, ONNX export) sees E.

use crate::cell::CellKind;
use crate::error::{Error, Result};
use crate::float::Float;
use crate::init::Init;
use crate::layer::{Rnn, RnnCache, RnnConfig, RnnState};
use crate::nn::dropout::{self, dropout_mask, locked_mask, sequence_mask};
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
    /// The AWD-LSTM regularisers (all off by default; when off, not written at all, so a
    /// plain model's stored config keeps its keys).
    #[serde(default, skip_serializing_if = "crate::omit::is_default")]
    pub reg: Regularisers,
    /// The head's weight is the embedding table (needs `embed == hidden`).
    #[serde(default, skip_serializing_if = "crate::omit::is_default")]
    pub tie: bool,
}

/// The AWD-LSTM regularisers of a language model, in training only (AWD-LSTM's names in
/// brackets). All zero (off) by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Regularisers {
    /// Locked dropout on the embeddings, the recurrent layer's input (`dropouti`).
    pub dropout_input: f64,
    /// Embedding dropout: whole tokens, one mask over the vocabulary per batch (`dropoute`).
    pub dropout_embed: f64,
    /// DropConnect on every layer's `weight_hh` (`wdrop`).
    pub weight_drop: f64,
    /// One dropout mask for all steps of a sequence, between layers and on the output
    /// (`dropouth`, `dropout`), instead of a fresh mask per step.
    pub variational: bool,
    /// Activation regularisation: alpha in alpha mean(y^2) (`alpha`).
    pub ar: f64,
    /// Temporal activation regularisation: beta in beta mean((h_t - h_{t-1})^2) (`beta`).
    pub tar: f64,
    /// Zoneout of every layer's hidden and cell states (Krueger et al. 2016; not in
    /// AWD-LSTM), its expectation in evaluation; left out of the stored config while off.
    #[serde(skip_serializing_if = "crate::omit::is_default")]
    pub zoneout: crate::cell::zoneout::Zoneout,
}

impl Regularisers {
    /// Checks ranges; the error names the setting.
    pub fn validate(&self) -> Result<()> {
        for (name, p) in [
            ("dropout_input", self.dropout_input),
            ("dropout_embed", self.dropout_embed),
            ("weight_drop", self.weight_drop),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(Error::Config(format!("{name} must be in [0, 1), got {p}")));
            }
        }
        for (name, v) in [("ar", self.ar), ("tar", self.tar)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::Config(format!(
                    "{name} must be a finite number >= 0, got {v}"
                )));
            }
        }
        self.zoneout.validate("zoneout")
    }
}

impl LmConfig {
    pub fn validate(&self) -> Result<()> {
        if self.vocab == 0 || self.embed == 0 {
            return Err(Error::Config(format!(
                "vocab ({}) and --embed ({}) must be at least 1",
                self.vocab, self.embed
            )));
        }
        self.reg.validate()?;
        if self.tie && self.embed != self.hidden {
            return Err(Error::Config(format!(
                "tied embeddings need --embed equal to --hidden (the head's weight is the \
                 embedding table), got {} and {}",
                self.embed, self.hidden
            )));
        }
        self.rnn_config().validate()
    }
    fn rnn_config(&self) -> RnnConfig {
        RnnConfig::new(self.cell, self.embed, self.hidden)
            .layers(self.layers)
            .dropout(if self.layers > 1 { self.dropout } else { 0.0 })
            .variational(self.reg.variational)
            .weight_drop(self.reg.weight_drop)
            .zoneout(self.reg.zoneout)
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
    /// The output dropout's mask.
    mask: Option<Vec<F>>,
    /// Whether this was a training forward (the penalties apply).
    training: bool,
    /// Embedding dropout: each token's row scale m_e[id], [T*B].
    token_scale: Option<Vec<F>>,
    /// Input dropout's locked mask, [T*B*E].
    input_mask: Option<Vec<F>>,
    /// The undropped output h [T*B, H], kept for TAR.
    h: Option<Vec<F>>,
}

impl<F: Float> crate::layer::Quantize for LanguageModel<F> {
    fn set_precision(&mut self, p: crate::kernels::quant::Precision) {
        self.rnn.set_precision(p)
    }
}

impl<F: Float> LanguageModel<F> {
    /// A freshly initialised model (init order: embedding, recurrent layer, head).
    pub fn new(config: LmConfig, init: &Init, rng: &mut Rng) -> Result<Self> {
        config.validate()?;
        let embed = Embedding::new("embed", config.vocab, config.embed, None, rng)?;
        let mut rnn = Rnn::new(config.rnn_config(), init, rng)?;
        rnn.visit_mut(&mut |p| p.name = format!("rnn.{}", p.name));
        // Drawn even when tied, so the random stream (and PyTorch's init order) is the same.
        let head = Linear::new("head", config.hidden, config.vocab, true, rng);
        let mut model = LanguageModel {
            config,
            embed,
            rnn,
            head,
        };
        model.sync_tied();
        Ok(model)
    }

    /// With tied embeddings, copies E into the head's weight (a no-op otherwise).
    fn sync_tied(&mut self) {
        if self.config.tie {
            let e = self.embed.weight.value.data();
            self.head.weight.value.data_mut().copy_from_slice(e);
        }
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
        let (c, reg) = (&self.config, &self.config.reg);
        let training = train.is_some();
        let mut x = self.embed.forward(&ids)?;
        // Embedding dropout: x_t = E[id_t] m_e[id_t].
        let token_scale = match (train.as_deref_mut(), reg.dropout_embed > 0.0) {
            (Some(rng), true) => {
                let rows: Vec<F> = dropout_mask(c.vocab, reg.dropout_embed, rng);
                let scale: Vec<F> = ids.iter().map(|&i| rows[i]).collect();
                for (row, s) in x.chunks_exact_mut(c.embed).zip(&scale) {
                    row.iter_mut().for_each(|v| *v *= *s);
                }
                Some(scale)
            }
            _ => None,
        };
        // Input dropout: x_t <- x_t ⊙ m_i, the same m_i at every step.
        let input_mask = match (train.as_deref_mut(), reg.dropout_input > 0.0) {
            (Some(rng), true) => {
                let m: Vec<F> = locked_mask(t, b, c.embed, reg.dropout_input, rng);
                dropout::apply(&mut x, &m);
                Some(m)
            }
            _ => None,
        };
        let (out, rnn_cache) = self
            .rnn
            .forward_tm(x, t, b, state, None, train.as_deref_mut())?;
        let mut y = out.output.into_vec();
        let h = (training && reg.tar > 0.0).then(|| y.clone());
        // Output dropout: y_t = h_t ⊙ m_o.
        let mask = match (train, c.dropout > 0.0) {
            (Some(rng), true) => {
                let m = sequence_mask(t, b, c.hidden, c.dropout, reg.variational, rng);
                dropout::apply(&mut y, &m);
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
                training,
                token_scale,
                input_mask,
                h,
            },
        ))
    }

    /// AR + TAR of a training forward (0 in evaluation or when both are off): the penalty
    /// whose gradient [`LanguageModel::backward`] adds. A training loop reports the
    /// cross-entropy without it, as AWD-LSTM does.
    pub fn penalty(&self, cache: &LmCache<F>) -> f64 {
        let reg = &self.config.reg;
        if !cache.training {
            return 0.0;
        }
        let mut p = 0.0;
        if reg.ar > 0.0 && !cache.y.is_empty() {
            // alpha mean(y^2)
            let ss: f64 = cache.y.iter().map(|v| v.to64().powi(2)).sum();
            p += reg.ar * ss / cache.y.len() as f64;
        }
        if let Some(h) = &cache.h {
            // beta mean((h_t - h_{t-1})^2) over the T-1 pairs of steps.
            let bh = cache.rnn.batch() * self.config.hidden;
            if h.len() > bh {
                let ss: f64 = h[bh..]
                    .iter()
                    .zip(&h[..h.len() - bh])
                    .map(|(a, b)| (a.to64() - b.to64()).powi(2))
                    .sum();
                p += reg.tar * ss / (h.len() - bh) as f64;
            }
        }
        p
    }

    /// Backward from dL/d(logits) [T*B, V]; gradients accumulate in every parameter. The
    /// carried state gets no gradient (truncated BPTT cuts it at the chunk boundary).
    /// With the regularisers on, the gradient is that of the cross-entropy plus
    /// [`LanguageModel::penalty`].
    pub fn backward(&mut self, cache: &LmCache<F>, dlogits: &[F]) -> Result<()> {
        let reg = self.config.reg;
        let n = cache.y.len() / self.config.hidden;
        let mut dy = self.head.backward(&cache.y, dlogits, n);
        if self.config.tie {
            // dE += dW_head: the head's share of the shared table's gradient.
            let dw = self.head.weight.grad.data_mut();
            for (g, d) in self
                .embed
                .weight
                .grad
                .data_mut()
                .iter_mut()
                .zip(dw.iter_mut())
            {
                *g += *d;
                *d = F::zero();
            }
        }
        if cache.training && reg.ar > 0.0 && !cache.y.is_empty() {
            // d/dy [alpha mean(y^2)] = 2 alpha y / N
            let k = F::of(2.0 * reg.ar / cache.y.len() as f64);
            dy.iter_mut().zip(&cache.y).for_each(|(d, y)| *d += k * *y);
        }
        if let Some(m) = &cache.mask {
            dropout::apply(&mut dy, m);
        }
        if let Some(h) = &cache.h {
            // d/dh [beta mean((h_t - h_{t-1})^2)]: +2 beta (h_t - h_{t-1}) / N' at step t,
            // the opposite at step t - 1.
            let bh = cache.rnn.batch() * self.config.hidden;
            if h.len() > bh {
                let k = F::of(2.0 * reg.tar / (h.len() - bh) as f64);
                for j in bh..h.len() {
                    let d = k * (h[j] - h[j - bh]);
                    dy[j] += d;
                    dy[j - bh] -= d;
                }
            }
        }
        let (mut dx, _, _) = self.rnn.backward_tm(&cache.rnn, &mut dy, None, None)?;
        if let Some(m) = &cache.input_mask {
            dropout::apply(&mut dx, m);
        }
        if let Some(scale) = &cache.token_scale {
            for (row, s) in dx.chunks_exact_mut(self.config.embed).zip(scale) {
                row.iter_mut().for_each(|v| *v *= *s);
            }
        }
        self.embed.backward(&cache.ids, &dx)?;
        Ok(())
    }
}

impl<F: Float> Module<F> for LanguageModel<F> {
    fn visit(&self, f: &mut dyn FnMut(&Param<F>)) {
        self.embed.visit(f);
        self.rnn.visit(f);
        if self.config.tie {
            if let Some(b) = &self.head.bias {
                f(b);
            }
        } else {
            self.head.visit(f);
        }
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<F>)) {
        self.embed.visit_mut(f);
        self.rnn.visit_mut(f);
        if self.config.tie {
            if let Some(b) = &mut self.head.bias {
                f(b);
            }
            self.sync_tied();
        } else {
            self.head.visit_mut(f);
        }
    }
}
