//! Many-to-many, aligned: a sequence tagger (part-of-speech tags, one label per token).
//! input -> (bidirectional) recurrent layer -> dropout -> linear head at every step.
//! Padded steps produce logits that the loss must mask (see [`SeqBatch::valid`]); they get
//! no gradient, and the recurrent layer ignores them, so padding changes nothing.

use super::encoder::EncoderConfig;
use super::input::{prefix_names, InputKind, InputLayer, SeqBatch};
use crate::error::Result;
use crate::float::Float;
use crate::init::Init;
use crate::layer::{Rnn, RnnCache};
use crate::nn::dropout::{self, dropout_mask};
use crate::nn::Linear;
use crate::param::{Module, Param};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// The architecture of a tagger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaggerConfig {
    pub input: InputKind,
    /// The recurrent layer; its `dropout` also applies before the head.
    #[serde(flatten)]
    pub encoder: EncoderConfig,
    /// Tags.
    pub outputs: usize,
}

/// input -> rnn -> dropout -> head (per step).
#[derive(Clone, Debug)]
pub struct Tagger<F> {
    pub config: TaggerConfig,
    pub input: InputLayer<F>,
    pub rnn: Rnn<F>,
    pub head: Linear<F>,
}

/// What forward keeps.
#[derive(Clone, Debug)]
pub struct TaggerCache<F: Float> {
    rnn: RnnCache<F>,
    y: Vec<F>,
    mask: Option<Vec<F>>,
}

impl<F: Float> crate::layer::Quantize for Tagger<F> {
    fn set_precision(&mut self, p: crate::kernels::quant::Precision) {
        self.rnn.set_precision(p)
    }
}

impl<F: Float> Tagger<F> {
    pub fn new(config: TaggerConfig, init: &Init, rng: &mut Rng) -> Result<Self> {
        let input = InputLayer::new(config.input, "embed", rng)?;
        let rc = config.encoder.rnn(config.input.width());
        let mut rnn = Rnn::new(rc, init, rng)?;
        prefix_names(&mut rnn, "rnn");
        let head = Linear::new(
            "head",
            rnn.config().output_size(),
            config.outputs,
            true,
            rng,
        );
        Ok(Tagger {
            config,
            input,
            rnn,
            head,
        })
    }

    /// Logits [T*B, tags], time-major rows.
    pub fn forward(
        &self,
        batch: &SeqBatch<F>,
        mut train: Option<&mut Rng>,
    ) -> Result<(Vec<F>, TaggerCache<F>)> {
        let x = self.input.forward(batch)?;
        let (out, cache) = self.rnn.forward_tm(
            x,
            batch.t,
            batch.b,
            None,
            batch.lengths.as_deref(),
            train.as_deref_mut(),
        )?;
        let mut y = out.output.into_vec();
        let mask = match (train, self.config.encoder.dropout > 0.0) {
            (Some(rng), true) => {
                let m = dropout_mask(y.len(), self.config.encoder.dropout, rng);
                dropout::apply(&mut y, &m);
                Some(m)
            }
            _ => None,
        };
        let logits = self.head.forward(&y, batch.t * batch.b);
        Ok((
            logits,
            TaggerCache {
                rnn: cache,
                y,
                mask,
            },
        ))
    }

    /// Backward from dL/d(logits) [T*B, tags] (zero on padded rows).
    pub fn backward(
        &mut self,
        batch: &SeqBatch<F>,
        cache: &TaggerCache<F>,
        dlogits: &[F],
    ) -> Result<()> {
        let dx = self.backward_input(batch, cache, dlogits)?;
        self.input.backward(batch, &dx)
    }

    /// Backward through the head and the recurrent layer only, returning dL/d(input)
    /// [T, B, I] (the recurrent layer's input): for models that build their dense input
    /// themselves (word features, see [`super::feature_tagger`]) and need its gradient.
    pub fn backward_input(
        &mut self,
        batch: &SeqBatch<F>,
        cache: &TaggerCache<F>,
        dlogits: &[F],
    ) -> Result<Vec<F>> {
        let mut dy = self.head.backward(&cache.y, dlogits, batch.t * batch.b);
        if let Some(m) = &cache.mask {
            dropout::apply(&mut dy, m);
        }
        let (dx, _, _) = self.rnn.backward_tm(&cache.rnn, &mut dy, None, None)?;
        Ok(dx)
    }
}

impl<F: Float> Module<F> for Tagger<F> {
    fn visit(&self, f: &mut dyn FnMut(&Param<F>)) {
        self.input.visit(f);
        self.rnn.visit(f);
        self.head.visit(f);
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<F>)) {
        self.input.visit_mut(f);
        self.rnn.visit_mut(f);
        self.head.visit_mut(f);
    }
}
