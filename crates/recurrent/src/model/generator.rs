//! One-to-many: a sequence generated from one input vector (the seeds' image captioning:
//! an image's features in, a sentence out).
//!
//! The condition c [B, K] enters in one of two ways:
//! - `InitState`: h0 = tanh(W_c c + b_c) for every layer (`cond.*`), the sequence decoded
//!   from there;
//! - `EveryStep`: c is concatenated to the embedded previous token at every step.
//!
//! Training is teacher-forced: the inputs are [BOS, y_0, ..., y_{T-2}], the targets y.

use super::input::prefix_names;
use crate::cell::CellKind;
use crate::error::{Error, Result};
use crate::float::Float;
use crate::init::Init;
use crate::layer::{Rnn, RnnCache, RnnConfig, RnnState};
use crate::nn::Sampler;
use crate::nn::{Embedding, Linear};
use crate::param::{Module, Param};
use crate::rng::Rng;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Where the condition enters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conditioning {
    InitState,
    EveryStep,
}

/// The architecture of a generator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneratorConfig {
    pub cell: CellKind,
    /// K, the condition's width.
    pub cond: usize,
    pub vocab: usize,
    pub embed: usize,
    pub hidden: usize,
    pub layers: usize,
    pub conditioning: Conditioning,
    pub bos: u32,
}

/// Condition -> sequence.
#[derive(Clone, Debug)]
pub struct Generator<F> {
    pub config: GeneratorConfig,
    pub cond: Option<Linear<F>>,
    pub embed: Embedding<F>,
    pub rnn: Rnn<F>,
    pub head: Linear<F>,
}

/// What forward keeps.
#[derive(Clone, Debug)]
pub struct GeneratorCache<F: Float> {
    cond_in: Vec<F>,
    h0: Vec<F>,
    ids: Vec<usize>,
    rnn: RnnCache<F>,
    y: Vec<F>,
    t: usize,
    b: usize,
}

impl<F: Float> crate::layer::Quantize for Generator<F> {
    fn set_precision(&mut self, p: crate::kernels::quant::Precision) {
        self.rnn.set_precision(p)
    }
}

impl<F: Float> Generator<F> {
    pub fn new(config: GeneratorConfig, init: &Init, rng: &mut Rng) -> Result<Self> {
        if config.bos as usize >= config.vocab {
            return Err(Error::Config("BOS must be a vocabulary id".into()));
        }
        let every = config.conditioning == Conditioning::EveryStep;
        let cond = (!every).then(|| {
            Linear::new(
                "cond",
                config.cond,
                config.layers * config.hidden,
                true,
                rng,
            )
        });
        let embed = Embedding::new("embed", config.vocab, config.embed, None, rng)?;
        let width = config.embed + if every { config.cond } else { 0 };
        let mut rnn = Rnn::new(
            RnnConfig::new(config.cell, width, config.hidden).layers(config.layers),
            init,
            rng,
        )?;
        prefix_names(&mut rnn, "rnn");
        let head = Linear::new("head", config.hidden, config.vocab, true, rng);
        Ok(Generator {
            config,
            cond,
            embed,
            rnn,
            head,
        })
    }

    fn inputs(&self, ids: &[usize], c: &[F], t: usize, b: usize) -> Result<Vec<F>> {
        let e = self.embed.forward(ids)?;
        if self.cond.is_some() {
            return Ok(e);
        }
        let (ew, k) = (self.config.embed, self.config.cond);
        let mut x = Vec::with_capacity(t * b * (ew + k));
        for r in 0..t * b {
            x.extend_from_slice(&e[r * ew..(r + 1) * ew]);
            x.extend_from_slice(&c[(r % b) * k..(r % b + 1) * k]);
        }
        Ok(x)
    }

    fn start_state(&self, c: &[F], b: usize) -> Result<(Option<RnnState<F>>, Vec<F>)> {
        let Some(lin) = &self.cond else {
            return Ok((None, Vec::new()));
        };
        let (l, h) = (self.config.layers, self.config.hidden);
        let pre = lin.forward(c, b);
        let act: Vec<F> = pre.iter().map(|v| v.tanh()).collect();
        // [B, L*H] -> [L, B, H]
        let mut h0 = vec![F::zero(); l * b * h];
        for bi in 0..b {
            for k in 0..l {
                h0[(k * b + bi) * h..][..h].copy_from_slice(&act[bi * l * h + k * h..][..h]);
            }
        }
        let mut st = RnnState {
            h: Tensor::from_vec(&[l, b, h], h0)?,
            c: None,
        };
        if self.config.cell.has_cell_state() {
            st.c = Some(Tensor::zeros(&[l, b, h]));
        }
        Ok((Some(st), act))
    }

    /// Teacher-forced logits [T*B, V] for conditions `c` [B, K] and targets `y` [T, B].
    pub fn forward(
        &self,
        c: &[F],
        y: &[u32],
        t: usize,
        b: usize,
    ) -> Result<(Vec<F>, GeneratorCache<F>)> {
        if c.len() != b * self.config.cond || y.len() != t * b {
            return Err(Error::Input(format!(
                "generator batch: {} condition values and {} targets for B={b}, T={t}",
                c.len(),
                y.len()
            )));
        }
        let ids: Vec<usize> = (0..t * b)
            .map(|r| {
                if r < b {
                    self.config.bos as usize
                } else {
                    y[r - b] as usize
                }
            })
            .collect();
        let x = self.inputs(&ids, c, t, b)?;
        let (st, h0) = self.start_state(c, b)?;
        let (out, cache) = self.rnn.forward_tm(x, t, b, st.as_ref(), None, None)?;
        let yv = out.output.into_vec();
        let logits = self.head.forward(&yv, t * b);
        Ok((
            logits,
            GeneratorCache {
                cond_in: c.to_vec(),
                h0,
                ids,
                rnn: cache,
                y: yv,
                t,
                b,
            },
        ))
    }

    /// Backward from dL/d(logits).
    pub fn backward(&mut self, cache: &GeneratorCache<F>, dlogits: &[F]) -> Result<()> {
        let (t, b, l, h) = (cache.t, cache.b, self.config.layers, self.config.hidden);
        let mut dy = self.head.backward(&cache.y, dlogits, t * b);
        let (dx, dh0, _) = self.rnn.backward_tm(&cache.rnn, &mut dy, None, None)?;
        let (ew, k) = (self.config.embed, self.config.cond);
        let de: Vec<F> = if self.cond.is_some() {
            dx
        } else {
            dx.chunks_exact(ew + k)
                .flat_map(|r| r[..ew].to_vec())
                .collect()
        };
        self.embed.backward(&cache.ids, &de)?;
        if let Some(lin) = &mut self.cond {
            // dh0 [L, B, H] -> [B, L*H], through tanh.
            let mut dpre = vec![F::zero(); b * l * h];
            for bi in 0..b {
                for kk in 0..l {
                    for j in 0..h {
                        let a = cache.h0[bi * l * h + kk * h + j];
                        dpre[bi * l * h + kk * h + j] =
                            dh0[(kk * b + bi) * h + j] * (F::one() - a * a);
                    }
                }
            }
            lin.backward(&cache.cond_in, &dpre, b);
        }
        Ok(())
    }

    /// Generates `len` tokens from the condition `c` [K] (greedy at temperature 0).
    pub fn generate(
        &self,
        c: &[F],
        len: usize,
        sampler: &mut Sampler,
        rng: &mut Rng,
    ) -> Result<Vec<u32>> {
        let (mut st, _) = self.start_state(c, 1)?;
        let mut prev = self.config.bos as usize;
        let mut out = Vec::with_capacity(len);
        for _ in 0..len {
            let x = self.inputs(&[prev], c, 1, 1)?;
            let (o, _) = self.rnn.forward_tm(x, 1, 1, st.as_ref(), None, None)?;
            let logits = self.head.forward(o.output.data(), 1);
            let tok = sampler.sample(&logits, rng);
            out.push(tok);
            prev = tok as usize;
            st = Some(o.state);
        }
        Ok(out)
    }
}

impl<F: Float> Module<F> for Generator<F> {
    fn visit(&self, f: &mut dyn FnMut(&Param<F>)) {
        if let Some(c) = &self.cond {
            c.visit(f);
        }
        self.embed.visit(f);
        self.rnn.visit(f);
        self.head.visit(f);
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<F>)) {
        if let Some(c) = &mut self.cond {
            c.visit_mut(f);
        }
        self.embed.visit_mut(f);
        self.rnn.visit_mut(f);
        self.head.visit_mut(f);
    }
}
