//! What a task model reads at each time step: token ids through an embedding, or dense
//! feature vectors as they are (time series, audio frames, pixels). Batches are time-major.

use crate::error::{Error, Result};
use crate::float::Float;
use crate::nn::Embedding;
use crate::param::{Module, Param};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// The kind of input, stored in model configs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// Token ids in [0, vocab), embedded in `embed` dimensions (`embed.weight`).
    Tokens { vocab: usize, embed: usize },
    /// `size` features per step, fed as they are.
    Dense { size: usize },
}

impl InputKind {
    /// Width of the recurrent layer's input.
    pub fn width(&self) -> usize {
        match *self {
            InputKind::Tokens { embed, .. } => embed,
            InputKind::Dense { size } => size,
        }
    }
}

/// A batch's steps: ids [T, B] or features [T, B, I], time-major.
#[derive(Clone, Debug, PartialEq)]
pub enum Steps<F> {
    Ids(Vec<u32>),
    Dense(Vec<F>),
}

/// A time-major batch of sequences, with their lengths when they differ.
#[derive(Clone, Debug, PartialEq)]
pub struct SeqBatch<F> {
    pub steps: Steps<F>,
    /// T.
    pub t: usize,
    /// B.
    pub b: usize,
    /// Per-sequence lengths (1..=T); None: all T.
    pub lengths: Option<Vec<usize>>,
}

impl<F: Float> SeqBatch<F> {
    /// Whether step t of sequence b is real (not padding).
    pub fn valid(&self, t: usize, b: usize) -> bool {
        self.lengths.as_ref().is_none_or(|l| t < l[b])
    }
    /// The length of sequence b.
    pub fn len_of(&self, b: usize) -> usize {
        self.lengths.as_ref().map_or(self.t, |l| l[b])
    }
}

/// The input layer: an embedding, or nothing.
#[derive(Clone, Debug)]
pub enum InputLayer<F> {
    Embed(Embedding<F>),
    Dense(usize),
}

impl<F: Float> InputLayer<F> {
    pub fn new(kind: InputKind, prefix: &str, rng: &mut Rng) -> Result<Self> {
        Ok(match kind {
            InputKind::Tokens { vocab, embed } => {
                InputLayer::Embed(Embedding::new(prefix, vocab, embed, None, rng)?)
            }
            InputKind::Dense { size } => InputLayer::Dense(size),
        })
    }

    /// The recurrent layer's input [T, B, I] for `batch`.
    pub fn forward(&self, batch: &SeqBatch<F>) -> Result<Vec<F>> {
        match (self, &batch.steps) {
            (InputLayer::Embed(e), Steps::Ids(ids)) => {
                check(ids.len(), batch.t * batch.b, "token ids")?;
                let ids: Vec<usize> = ids.iter().map(|&i| i as usize).collect();
                e.forward(&ids)
            }
            (InputLayer::Dense(size), Steps::Dense(x)) => {
                check(x.len(), batch.t * batch.b * size, "features")?;
                Ok(x.clone())
            }
            (InputLayer::Embed(_), Steps::Dense(_)) => Err(Error::Input(
                "this model reads token ids, not feature vectors".into(),
            )),
            (InputLayer::Dense(_), Steps::Ids(_)) => Err(Error::Input(
                "this model reads feature vectors, not token ids".into(),
            )),
        }
    }

    /// Accumulates the embedding's gradient from dL/d(input) [T, B, I].
    pub fn backward(&mut self, batch: &SeqBatch<F>, dx: &[F]) -> Result<()> {
        if let (InputLayer::Embed(e), Steps::Ids(ids)) = (self, &batch.steps) {
            let ids: Vec<usize> = ids.iter().map(|&i| i as usize).collect();
            e.backward(&ids, dx)?;
        }
        Ok(())
    }
}

impl<F: Float> Module<F> for InputLayer<F> {
    fn visit(&self, f: &mut dyn FnMut(&Param<F>)) {
        if let InputLayer::Embed(e) = self {
            e.visit(f)
        }
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<F>)) {
        if let InputLayer::Embed(e) = self {
            e.visit_mut(f)
        }
    }
}

fn check(got: usize, want: usize, what: &str) -> Result<()> {
    if got != want {
        return Err(Error::Input(format!(
            "{got} {what} for a batch that needs {want}"
        )));
    }
    Ok(())
}

/// Prefixes every parameter name of `m` with `prefix.`.
pub fn prefix_names<F: Float>(m: &mut dyn Module<F>, prefix: &str) {
    m.visit_mut(&mut |p| p.name = format!("{prefix}.{}", p.name));
}
