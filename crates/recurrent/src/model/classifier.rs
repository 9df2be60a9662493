//! Many-to-one: a sequence classifier or regressor (sentiment, the adding problem, spoken
//! digits). input -> recurrent layer -> pooling over valid steps -> dropout -> linear head.
//!
//! Pooling (both directions concatenated when bidirectional):
//! - `Last`: the final state of the last layer, at each sequence's own last step (the
//!   reverse direction's final state is its state after t = 0);
//! - `Mean`: p = (1/len) sum_{t < len} y_t;   dy_t = dp / len
//! - `Max`:  p_j = max_{t < len} y_tj;        dy_tj = dp_j at the argmax step, else 0

use super::encoder::EncoderConfig;
use super::input::{prefix_names, InputKind, InputLayer, SeqBatch};
use crate::error::{Error, Result};
use crate::float::Float;
use crate::init::Init;
use crate::layer::{Rnn, RnnCache};
use crate::nn::dropout::{self, dropout_mask};
use crate::nn::Linear;
use crate::param::{Module, Param};
use crate::rng::Rng;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// How the sequence of outputs becomes one vector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    #[default]
    Last,
    Mean,
    Max,
}

impl std::str::FromStr for Pooling {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "last" => Ok(Pooling::Last),
            "mean" => Ok(Pooling::Mean),
            "max" => Ok(Pooling::Max),
            o => Err(Error::Config(format!(
                "unknown pooling `{o}`: use last, mean or max"
            ))),
        }
    }
}

/// The architecture of a classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    pub input: InputKind,
    /// The recurrent layer; its `dropout` also applies before the head.
    #[serde(flatten)]
    pub encoder: EncoderConfig,
    pub pooling: Pooling,
    /// Outputs: classes (softmax) or regression targets.
    pub outputs: usize,
}

/// input -> rnn -> pooling -> dropout -> head.
#[derive(Clone, Debug)]
pub struct Classifier<F> {
    pub config: ClassifierConfig,
    pub input: InputLayer<F>,
    pub rnn: Rnn<F>,
    pub head: Linear<F>,
}

/// What forward keeps.
#[derive(Clone, Debug)]
pub struct ClassifierCache<F: Float> {
    rnn: RnnCache<F>,
    /// Pooled features after dropout [B, D*H].
    pooled: Vec<F>,
    mask: Option<Vec<F>>,
    /// Max pooling: the step chosen per (b, j).
    argmax: Vec<usize>,
}

impl<F: Float> crate::layer::Quantize for Classifier<F> {
    fn set_precision(&mut self, p: crate::kernels::quant::Precision) {
        self.rnn.set_precision(p)
    }
}

impl<F: Float> Classifier<F> {
    pub fn new(config: ClassifierConfig, init: &Init, rng: &mut Rng) -> Result<Self> {
        if config.outputs == 0 {
            return Err(Error::Config(
                "a classifier needs at least one output".into(),
            ));
        }
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
        Ok(Classifier {
            config,
            input,
            rnn,
            head,
        })
    }

    /// Logits (or regression outputs) [B, outputs].
    pub fn forward(
        &self,
        batch: &SeqBatch<F>,
        mut train: Option<&mut Rng>,
    ) -> Result<(Vec<F>, ClassifierCache<F>)> {
        let x = self.input.forward(batch)?;
        let (t, b) = (batch.t, batch.b);
        let (out, cache) = self.rnn.forward_tm(
            x,
            t,
            b,
            None,
            batch.lengths.as_deref(),
            train.as_deref_mut(),
        )?;
        let w = self.rnn.config().output_size();
        let (dn, h) = (self.rnn.config().directions(), self.rnn.config().hout());
        let mut pooled = vec![F::zero(); b * w];
        let mut argmax = Vec::new();
        let y = out.output.data();
        match self.config.pooling {
            Pooling::Last => {
                let hn = out.state.h.data();
                let last = self.rnn.config().num_layers - 1;
                for bi in 0..b {
                    for d in 0..dn {
                        let src = &hn[((last * dn + d) * b + bi) * h..][..h];
                        pooled[bi * w + d * h..bi * w + (d + 1) * h].copy_from_slice(src);
                    }
                }
            }
            Pooling::Mean => {
                for bi in 0..b {
                    let len = batch.len_of(bi);
                    let inv = F::of(1.0 / len as f64);
                    for ti in 0..len {
                        let row = &y[(ti * b + bi) * w..][..w];
                        pooled[bi * w..(bi + 1) * w]
                            .iter_mut()
                            .zip(row)
                            .for_each(|(p, v)| *p += *v * inv);
                    }
                }
            }
            Pooling::Max => {
                argmax = vec![0; b * w];
                for bi in 0..b {
                    for j in 0..w {
                        let (mut best, mut at) = (y[bi * w + j], 0);
                        for ti in 1..batch.len_of(bi) {
                            let v = y[(ti * b + bi) * w + j];
                            if v > best {
                                best = v;
                                at = ti;
                            }
                        }
                        pooled[bi * w + j] = best;
                        argmax[bi * w + j] = at;
                    }
                }
            }
        }
        let mask = match (train, self.config.encoder.dropout > 0.0) {
            (Some(rng), true) => {
                let m = dropout_mask(pooled.len(), self.config.encoder.dropout, rng);
                dropout::apply(&mut pooled, &m);
                Some(m)
            }
            _ => None,
        };
        let logits = self.head.forward(&pooled, b);
        Ok((
            logits,
            ClassifierCache {
                rnn: cache,
                pooled,
                mask,
                argmax,
            },
        ))
    }

    /// Backward from dL/d(logits) [B, outputs].
    pub fn backward(
        &mut self,
        batch: &SeqBatch<F>,
        cache: &ClassifierCache<F>,
        dlogits: &[F],
    ) -> Result<()> {
        self.backward_input(batch, cache, dlogits).map(|_| ())
    }

    /// The same, returning dL/d(input) [T, B, I]: what a caller needs whose inputs are
    /// themselves computed from learned parameters (the forecaster's exponential smoothing).
    pub fn backward_input(
        &mut self,
        batch: &SeqBatch<F>,
        cache: &ClassifierCache<F>,
        dlogits: &[F],
    ) -> Result<Vec<F>> {
        let (t, b) = (batch.t, batch.b);
        let w = self.rnn.config().output_size();
        let (dn, h, layers) = (
            self.rnn.config().directions(),
            self.rnn.config().hout(),
            self.rnn.config().num_layers,
        );
        let mut dp = self.head.backward(&cache.pooled, dlogits, b);
        if let Some(m) = &cache.mask {
            dropout::apply(&mut dp, m);
        }
        let mut dy = vec![F::zero(); t * b * w];
        let mut dhn = None;
        match self.config.pooling {
            Pooling::Last => {
                let mut g = Tensor::zeros(&[layers * dn, b, h]);
                for bi in 0..b {
                    for d in 0..dn {
                        let dst = &mut g.data_mut()[(((layers - 1) * dn + d) * b + bi) * h..][..h];
                        dst.copy_from_slice(&dp[bi * w + d * h..bi * w + (d + 1) * h]);
                    }
                }
                dhn = Some(g);
            }
            Pooling::Mean => {
                for bi in 0..b {
                    let len = batch.len_of(bi);
                    let inv = F::of(1.0 / len as f64);
                    for ti in 0..len {
                        let row = &mut dy[(ti * b + bi) * w..][..w];
                        row.iter_mut()
                            .zip(&dp[bi * w..(bi + 1) * w])
                            .for_each(|(d, g)| *d = *g * inv);
                    }
                }
            }
            Pooling::Max => {
                for bi in 0..b {
                    for j in 0..w {
                        let ti = cache.argmax[bi * w + j];
                        dy[(ti * b + bi) * w + j] = dp[bi * w + j];
                    }
                }
            }
        }
        let (dx, _, _) = self
            .rnn
            .backward_tm(&cache.rnn, &mut dy, dhn.as_ref(), None)?;
        self.input.backward(batch, &dx)?;
        Ok(dx)
    }
}

impl<F: Float> Module<F> for Classifier<F> {
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
