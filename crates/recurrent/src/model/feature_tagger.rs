//! A word tagger whose input at each word is more than the word: a [`Tagger`] reading dense
//! vectors built from the word's embedding, the embeddings of its last two and last three
//! letters (shared suffix table), and the embedding of its shape (capitalised, all caps,
//! digits, punctuation, ...). An unknown word still has a suffix (`-ly`, `-ing`, `-ed`) and a
//! shape (`Capitalised`), which is most of what a part-of-speech tagger needs to guess it.
//!
//! Shapes: `N = T * B` words, time-major; `E` word embedding, `S` suffix embedding, `C` shape
//! embedding; the recurrent layer's input is `I = E + 2S + C`:
//!
//! ```text
//! x[n, :] = [ W_word[w_n] | W_suffix[s2_n] | W_suffix[s3_n] | W_shape[c_n] ]     [N, I]
//! logits  = Tagger(x)                                                           [N, tags]
//! backward: dx = Tagger.backward_input(dlogits); each table gets its block of dx
//! ```
//! Parameters: `embed.weight`, `embed_suffix.weight`, `embed_shape.weight`, `rnn.*`, `head.*`.

use super::encoder::EncoderConfig;
use super::input::{InputKind, SeqBatch, Steps};
use super::tagger::{Tagger, TaggerCache, TaggerConfig};
use crate::error::{Error, Result};
use crate::float::Float;
use crate::init::Init;
use crate::nn::Embedding;
use crate::param::{Module, Param};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// Word shapes, the index into `embed_shape`.
pub const SHAPES: usize = 7;

/// The shape class of a word: 0 lower-case, 1 Capitalised, 2 ALL CAPS, 3 mIxEd, 4 has a
/// digit, 5 no letter or digit (punctuation), 6 anything else.
pub fn word_shape(w: &str) -> u32 {
    let (mut upper, mut lower, mut digit, mut alpha) = (0, 0, 0, 0);
    for c in w.chars() {
        if c.is_uppercase() {
            upper += 1;
        }
        if c.is_lowercase() {
            lower += 1;
        }
        if c.is_numeric() {
            digit += 1;
        }
        if c.is_alphabetic() {
            alpha += 1;
        }
    }
    let first_upper = w.chars().next().is_some_and(|c| c.is_uppercase());
    if digit > 0 {
        4
    } else if alpha == 0 {
        5
    } else if upper == 0 {
        0
    } else if first_upper && upper == 1 {
        1
    } else if lower == 0 {
        2
    } else if upper > 0 && lower > 0 {
        3
    } else {
        6
    }
}

/// The last `n` characters of `w` (all of it if shorter).
pub fn suffix(w: &str, n: usize) -> &str {
    let count = w.chars().count();
    if count <= n {
        return w;
    }
    let start = w.char_indices().nth(count - n).map_or(0, |(i, _)| i);
    &w[start..]
}

/// The architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureTaggerConfig {
    /// The recurrent layer; its `dropout` also applies before the output layer.
    #[serde(flatten)]
    pub encoder: EncoderConfig,
    /// Words in the word table.
    pub vocab: usize,
    /// E.
    pub embed: usize,
    /// Entries of the suffix table.
    pub suffixes: usize,
    /// S (0: no suffix features).
    pub suffix_embed: usize,
    /// C (0: no shape feature).
    pub shape_embed: usize,
    /// Tags.
    pub tags: usize,
}

impl FeatureTaggerConfig {
    /// I = E + 2S + C.
    pub fn width(&self) -> usize {
        self.embed + 2 * self.suffix_embed + self.shape_embed
    }
}

/// The features of one word: word id, 2-letter suffix id, 3-letter suffix id, shape.
pub type WordFeatures = [u32; 4];

/// A time-major batch of feature rows, padded, with lengths.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureBatch {
    /// T: steps (the longest sentence).
    pub t: usize,
    /// B: sentences.
    pub b: usize,
    /// Each sentence's length (1..=T).
    pub lengths: Vec<usize>,
    /// [T * B] rows (padding: all zero).
    pub feats: Vec<WordFeatures>,
}

impl FeatureBatch {
    /// Pads sentences to the longest (an empty sentence counts as length 1 of padding).
    pub fn pad(seqs: &[&[WordFeatures]]) -> Self {
        let b = seqs.len();
        let t = seqs.iter().map(|s| s.len()).max().unwrap_or(1).max(1);
        let mut feats = vec![[0u32; 4]; t * b];
        for (bi, s) in seqs.iter().enumerate() {
            for (ti, f) in s.iter().enumerate() {
                feats[ti * b + bi] = *f;
            }
        }
        FeatureBatch {
            t,
            b,
            lengths: seqs.iter().map(|s| s.len().max(1)).collect(),
            feats,
        }
    }
    /// Whether step t of sentence b is a real word.
    pub fn valid(&self, t: usize, b: usize) -> bool {
        t < self.lengths[b]
    }
}

/// Word, suffix and shape embeddings feeding a [`Tagger`].
#[derive(Clone, Debug)]
pub struct FeatureTagger<F> {
    /// The architecture.
    pub config: FeatureTaggerConfig,
    /// Word table `embed`.
    pub words: Embedding<F>,
    /// Suffix table `embed_suffix` (None without suffix features).
    pub suffix: Option<Embedding<F>>,
    /// Shape table `embed_shape` (None without the shape feature).
    pub shape: Option<Embedding<F>>,
    /// The recurrent layer and output layer, reading dense input.
    pub tagger: Tagger<F>,
}

/// What forward keeps.
#[derive(Clone, Debug)]
pub struct FeatureTaggerCache<F: Float> {
    batch: SeqBatch<F>,
    inner: TaggerCache<F>,
}

impl<F: Float> crate::layer::Quantize for FeatureTagger<F> {
    fn set_precision(&mut self, p: crate::kernels::quant::Precision) {
        crate::layer::Quantize::set_precision(&mut self.tagger, p)
    }
}

impl<F: Float> FeatureTagger<F> {
    /// A tagger with freshly initialised tables and layers; errors on an empty vocabulary, tag set or width.
    pub fn new(config: FeatureTaggerConfig, init: &Init, rng: &mut Rng) -> Result<Self> {
        if config.tags == 0 || config.vocab == 0 || config.embed == 0 {
            return Err(Error::Config(
                "a tagger needs at least one tag, one word and an embedding width".into(),
            ));
        }
        if config.suffix_embed > 0 && config.suffixes == 0 {
            return Err(Error::Config("suffix features need a suffix table".into()));
        }
        let words = Embedding::new("embed", config.vocab, config.embed, None, rng)?;
        let suffix = (config.suffix_embed > 0)
            .then(|| {
                Embedding::new(
                    "embed_suffix",
                    config.suffixes,
                    config.suffix_embed,
                    None,
                    rng,
                )
            })
            .transpose()?;
        let shape = (config.shape_embed > 0)
            .then(|| Embedding::new("embed_shape", SHAPES, config.shape_embed, None, rng))
            .transpose()?;
        let tagger = Tagger::new(
            TaggerConfig {
                input: InputKind::Dense {
                    size: config.width(),
                },
                encoder: config.encoder,
                outputs: config.tags,
            },
            init,
            rng,
        )?;
        Ok(FeatureTagger {
            config,
            words,
            suffix,
            shape,
            tagger,
        })
    }

    /// The tables and the feature each reads, with the column where its block starts.
    fn blocks(&self) -> Vec<(usize, usize)> {
        let (e, s) = (self.config.embed, self.config.suffix_embed);
        let mut v = vec![(0, 0)];
        if self.suffix.is_some() {
            v.push((1, e));
            v.push((2, e + s));
        }
        if self.shape.is_some() {
            v.push((3, e + 2 * s));
        }
        v
    }

    fn table(&self, feature: usize) -> Option<&Embedding<F>> {
        match feature {
            0 => Some(&self.words),
            1 | 2 => self.suffix.as_ref(),
            _ => self.shape.as_ref(),
        }
    }

    /// Logits [T*B, tags], time-major rows.
    pub fn forward(
        &self,
        fb: &FeatureBatch,
        train: Option<&mut Rng>,
    ) -> Result<(Vec<F>, FeatureTaggerCache<F>)> {
        let (n, w) = (fb.t * fb.b, self.config.width());
        if fb.feats.len() != n || fb.lengths.len() != fb.b {
            return Err(Error::Input(format!(
                "a feature batch of {} rows and {} lengths for T={} B={}",
                fb.feats.len(),
                fb.lengths.len(),
                fb.t,
                fb.b
            )));
        }
        let mut x = vec![F::zero(); n * w];
        let mut ids = vec![0usize; n];
        for (f, col) in self.blocks() {
            let Some(table) = self.table(f) else { continue };
            ids.iter_mut()
                .zip(&fb.feats)
                .for_each(|(i, r)| *i = r[f] as usize);
            let y = table.forward(&ids)?;
            let d = table.dim();
            for (row, src) in x.chunks_exact_mut(w).zip(y.chunks_exact(d)) {
                row[col..col + d].copy_from_slice(src);
            }
        }
        let batch = SeqBatch {
            steps: Steps::Dense(x),
            t: fb.t,
            b: fb.b,
            lengths: Some(fb.lengths.clone()),
        };
        let (logits, inner) = self.tagger.forward(&batch, train)?;
        let batch = SeqBatch {
            steps: Steps::Dense(Vec::new()),
            ..batch
        };
        Ok((logits, FeatureTaggerCache { batch, inner }))
    }

    /// Backward from dL/d(logits) [T*B, tags] (zero on padded rows).
    pub fn backward(
        &mut self,
        fb: &FeatureBatch,
        cache: &FeatureTaggerCache<F>,
        dlogits: &[F],
    ) -> Result<()> {
        let dx = self
            .tagger
            .backward_input(&cache.batch, &cache.inner, dlogits)?;
        let (n, w) = (fb.t * fb.b, self.config.width());
        let mut ids = vec![0usize; n];
        for (f, col) in self.blocks() {
            let table = match f {
                0 => Some(&mut self.words),
                1 | 2 => self.suffix.as_mut(),
                _ => self.shape.as_mut(),
            };
            let Some(table) = table else { continue };
            let d = table.dim();
            ids.iter_mut()
                .zip(&fb.feats)
                .for_each(|(i, r)| *i = r[f] as usize);
            let part: Vec<F> = dx
                .chunks_exact(w)
                .flat_map(|row| row[col..col + d].iter().copied())
                .collect();
            table.backward(&ids, &part)?;
        }
        Ok(())
    }
}

impl<F: Float> Module<F> for FeatureTagger<F> {
    fn visit(&self, f: &mut dyn FnMut(&Param<F>)) {
        self.words.visit(f);
        if let Some(s) = &self.suffix {
            s.visit(f);
        }
        if let Some(s) = &self.shape {
            s.visit(f);
        }
        self.tagger.visit(f);
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<F>)) {
        self.words.visit_mut(f);
        if let Some(s) = &mut self.suffix {
            s.visit_mut(f);
        }
        if let Some(s) = &mut self.shape {
            s.visit_mut(f);
        }
        self.tagger.visit_mut(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_suffixes() {
        let s: Vec<u32> = ["dog", "Paris", "NATO", "iPhone", "1984", ",", "Über"]
            .iter()
            .map(|w| word_shape(w))
            .collect();
        assert_eq!(s, [0, 1, 2, 3, 4, 5, 1]);
        assert_eq!(suffix("walking", 3), "ing");
        assert_eq!(suffix("ok", 3), "ok");
        assert_eq!(suffix("café", 2), "fé");
    }
}
