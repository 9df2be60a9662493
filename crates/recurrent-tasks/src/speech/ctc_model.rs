//! Many-to-many, not aligned: a frame-level sequence model trained with CTC (speech: log-mel
//! frames in, a digit string out).
//!
//! ```text
//! frames [T, B, I] --stack k--> [T', B, kI] -> (bidirectional) recurrent layer -> dropout
//!   -> linear head -> logits [T', B, C] -> CTC loss against the label strings
//! ```
//!
//! Shapes: `T` frames, `B` utterances, `I` features per frame, `k` frames stacked per step
//! (`T' = ceil(T / k)`: stacking shortens the recurrence k-fold, the dominant cost, and a
//! spoken digit still spans several steps), `K` symbols, `C = K + 1` classes. Class 0 is the
//! blank; symbol s is class s + 1. Labels in and out of this model are symbols `0..K`.
//! Parameters: `rnn.*`, `head.*` (PyTorch's names, as [`super::Tagger`]).
//!
//! Backward: the CTC loss gives d(loss)/d(logits) [T', B, C] directly (softmax fused, see
//! [`recurrent::nn::ctc`]); the tagger takes it back through the head and the recurrent layer.
//! The frames are data, so no gradient flows into them.

use recurrent::cell::CellKind;
use recurrent::decode::ctc::{greedy, prefix_beam_search, GreedyStream, Hypothesis};
use recurrent::error::{Error, Result};
use recurrent::float::Float;
use recurrent::init::Init;
use recurrent::layer::RnnState;
use recurrent::model::input::{InputKind, SeqBatch, Steps};
use recurrent::model::tagger::{Tagger, TaggerCache, TaggerConfig};
use recurrent::model::EncoderConfig;
use recurrent::nn::ctc::{log_softmax_rows, min_frames, CtcLoss, CtcOutput, CtcReduction};
use recurrent::param::{Module, Param};
use recurrent::rng::Rng;
use serde::{Deserialize, Serialize};

/// The blank's class index.
pub const BLANK: usize = 0;

/// The architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CtcModelConfig {
    /// I: features per frame.
    pub input: usize,
    /// k: consecutive frames concatenated into one recurrent step (1: none).
    pub stack: usize,
    /// Recurrent cell.
    pub cell: CellKind,
    /// Hidden units per direction.
    pub hidden: usize,
    /// Stacked recurrent layers.
    pub layers: usize,
    /// Read the utterance in both directions (a streaming model must not).
    pub bidirectional: bool,
    /// Dropout before the head (and between layers).
    pub dropout: f64,
    /// Weight drop and locked dropout in the recurrent layer (flat keys, left out while off).
    #[serde(flatten)]
    pub reg: recurrent::layer::RecurrentReg,
    /// K: symbols, not counting the blank.
    pub symbols: usize,
}

impl CtcModelConfig {
    /// C = K + 1.
    pub fn classes(&self) -> usize {
        self.symbols + 1
    }
    /// Recurrent steps for `frames` frames: ceil(frames / k).
    pub fn steps(&self, frames: usize) -> usize {
        frames.div_ceil(self.stack.max(1))
    }
}

/// A time-major batch of frame sequences [T, B, I], zero-padded, with lengths (each >= 1).
pub fn pad_frames<F: Float>(seqs: &[&[F]], dim: usize) -> Result<SeqBatch<F>> {
    let b = seqs.len();
    let mut lengths = Vec::with_capacity(b);
    for (i, s) in seqs.iter().enumerate() {
        if dim == 0 || s.is_empty() || s.len() % dim != 0 {
            return Err(Error::Input(format!(
                "utterance {i}: {} values are not a whole number (>= 1) of {dim}-feature frames",
                s.len()
            )));
        }
        lengths.push(s.len() / dim);
    }
    let t = lengths.iter().copied().max().unwrap_or(1);
    let mut x = vec![F::zero(); t * b * dim];
    for (bi, s) in seqs.iter().enumerate() {
        for (ti, frame) in s.chunks_exact(dim).enumerate() {
            x[(ti * b + bi) * dim..(ti * b + bi + 1) * dim].copy_from_slice(frame);
        }
    }
    Ok(SeqBatch {
        steps: Steps::Dense(x),
        t,
        b,
        lengths: Some(lengths),
    })
}

/// Concatenates each run of `k` frames into one step: [T, B, I] -> [ceil(T/k), B, kI]; a
/// sequence's last step is completed with zeros.
pub fn stack_frames<F: Float>(batch: &SeqBatch<F>, dim: usize, k: usize) -> Result<SeqBatch<F>> {
    let Steps::Dense(x) = &batch.steps else {
        return Err(Error::Input(
            "a CTC frame model reads feature vectors, not token ids".into(),
        ));
    };
    if x.len() != batch.t * batch.b * dim {
        return Err(Error::Input(format!(
            "{} feature values for T={} B={} I={dim}",
            x.len(),
            batch.t,
            batch.b
        )));
    }
    if k <= 1 {
        return Ok(batch.clone());
    }
    let (b, t2) = (batch.b, batch.t.div_ceil(k));
    let mut out = vec![F::zero(); t2 * b * k * dim];
    for ts in 0..t2 {
        for bi in 0..b {
            for j in 0..k {
                let tt = ts * k + j;
                if tt < batch.len_of(bi) {
                    let src = &x[(tt * b + bi) * dim..(tt * b + bi + 1) * dim];
                    let at = (ts * b + bi) * k * dim + j * dim;
                    out[at..at + dim].copy_from_slice(src);
                }
            }
        }
    }
    Ok(SeqBatch {
        steps: Steps::Dense(out),
        t: t2,
        b,
        lengths: Some((0..b).map(|bi| batch.len_of(bi).div_ceil(k)).collect()),
    })
}

/// Frames -> recurrent layer -> head, trained with CTC.
#[derive(Clone, Debug)]
pub struct CtcModel<F> {
    /// The architecture.
    pub config: CtcModelConfig,
    /// The recurrent layer and the per-step head over the stacked frames.
    pub tagger: Tagger<F>,
}

impl<F: Float> recurrent::Quantize for CtcModel<F> {
    fn set_precision(&mut self, p: recurrent::Precision) {
        self.tagger.set_precision(p)
    }
}

/// What forward keeps.
#[derive(Clone, Debug)]
pub struct CtcModelCache<F: Float> {
    /// The stacked batch's shape and lengths (its features dropped).
    batch: SeqBatch<F>,
    inner: TaggerCache<F>,
}

impl<F: Float> CtcModelCache<F> {
    /// T': recurrent steps.
    pub fn steps(&self) -> usize {
        self.batch.t
    }
    /// Each utterance's steps T'_b.
    pub fn lengths(&self) -> Vec<usize> {
        (0..self.batch.b).map(|b| self.batch.len_of(b)).collect()
    }
}

impl<F: Float> CtcModel<F> {
    /// A freshly initialised model; errors on zero widths or no symbols.
    pub fn new(config: CtcModelConfig, init: &Init, rng: &mut Rng) -> Result<Self> {
        if config.input == 0 || config.stack == 0 || config.symbols == 0 {
            return Err(Error::Config(
                "a CTC model needs at least one feature, one symbol and --stack >= 1".into(),
            ));
        }
        let tagger = Tagger::new(
            TaggerConfig {
                input: InputKind::Dense {
                    size: config.input * config.stack,
                },
                encoder: EncoderConfig {
                    cell: config.cell,
                    hidden: config.hidden,
                    layers: config.layers,
                    bidirectional: config.bidirectional,
                    dropout: config.dropout,
                    reg: config.reg,
                },
                outputs: config.classes(),
            },
            init,
            rng,
        )?;
        Ok(CtcModel { config, tagger })
    }

    /// Logits [T', B, C] for frames [T, B, I] (dropout when `train` is given).
    pub fn forward(
        &self,
        batch: &SeqBatch<F>,
        train: Option<&mut Rng>,
    ) -> Result<(Vec<F>, CtcModelCache<F>)> {
        let stacked = stack_frames(batch, self.config.input, self.config.stack)?;
        let (logits, inner) = self.tagger.forward(&stacked, train)?;
        let batch = SeqBatch {
            steps: Steps::Dense(Vec::new()),
            ..stacked
        };
        Ok((logits, CtcModelCache { batch, inner }))
    }

    /// Backward from d(loss)/d(logits) [T', B, C] (zero on padded steps), accumulating the
    /// parameter gradients.
    pub fn backward(&mut self, cache: &CtcModelCache<F>, dlogits: &[F]) -> Result<()> {
        self.tagger
            .backward_input(&cache.batch, &cache.inner, dlogits)
            .map(|_| ())
    }

    /// The CTC loss (PyTorch's mean, or `reduction`) of symbol strings `targets` [B] given
    /// frames `batch`, and, when `backward`, its gradients. Impossible alignments (more
    /// labels than steps allow) count as loss 0 with no gradient (`zero_infinity`); callers
    /// that train should reject them first (see [`CtcModel::fits`]).
    pub fn loss(
        &mut self,
        batch: &SeqBatch<F>,
        targets: &[Vec<usize>],
        reduction: CtcReduction,
        train: Option<&mut Rng>,
        backward: bool,
    ) -> Result<CtcOutput<F>> {
        let (logits, cache) = self.forward(batch, train)?;
        let out = self.ctc_loss(&logits, &cache, targets, reduction)?;
        if backward {
            self.backward(&cache, &out.grad)?;
        }
        Ok(out)
    }

    /// The CTC loss and its gradient for logits that [`CtcModel::forward`] made.
    pub fn ctc_loss(
        &self,
        logits: &[F],
        cache: &CtcModelCache<F>,
        targets: &[Vec<usize>],
        reduction: CtcReduction,
    ) -> Result<CtcOutput<F>> {
        let classes = self.to_classes(targets)?;
        CtcLoss::new()
            .reduction(reduction)
            .zero_infinity(true)
            .loss(
                logits,
                cache.steps(),
                self.config.classes(),
                &cache.lengths(),
                &classes,
            )
    }

    /// The per-utterance losses only (no gradient: evaluation), impossible alignments 0.
    pub fn ctc_losses(
        &self,
        logits: &[F],
        cache: &CtcModelCache<F>,
        targets: &[Vec<usize>],
    ) -> Result<Vec<f64>> {
        let classes = self.to_classes(targets)?;
        let (losses, _) = CtcLoss::new().zero_infinity(true).forward(
            logits,
            cache.steps(),
            self.config.classes(),
            &cache.lengths(),
            &classes,
        )?;
        Ok(losses)
    }

    /// Symbols -> classes (+1); a symbol >= K is an error naming the utterance.
    fn to_classes(&self, targets: &[Vec<usize>]) -> Result<Vec<Vec<usize>>> {
        targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                t.iter()
                    .map(|&s| {
                        if s < self.config.symbols {
                            Ok(s + 1)
                        } else {
                            Err(Error::Input(format!(
                                "utterance {i}: label {s} is not below the {} symbols",
                                self.config.symbols
                            )))
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// Whether `labels` can be produced from `frames` frames (after stacking).
    pub fn fits(&self, frames: usize, labels: &[usize]) -> bool {
        min_frames(labels) <= self.config.steps(frames)
    }

    /// Per-utterance log-probabilities [T'_b, C] (blank = class 0).
    pub fn log_probs(&self, batch: &SeqBatch<F>) -> Result<Vec<Vec<f64>>> {
        let (logits, cache) = self.forward(batch, None)?;
        Ok(self.split_log_probs(&logits, &cache))
    }

    /// Per-utterance log-probabilities [T'_b, C] of logits that [`CtcModel::forward`] made.
    pub fn split_log_probs(&self, logits: &[F], cache: &CtcModelCache<F>) -> Vec<Vec<f64>> {
        let (b, c) = (cache.batch.b, self.config.classes());
        let lp = log_softmax_rows(logits, c);
        cache
            .lengths()
            .iter()
            .enumerate()
            .map(|(bi, &n)| {
                (0..n)
                    .flat_map(|t| lp[(t * b + bi) * c..(t * b + bi + 1) * c].iter().copied())
                    .collect()
            })
            .collect()
    }

    /// The best labelling of each utterance as symbols: greedy with `beam` <= 1, else prefix
    /// beam search (its best).
    pub fn decode(&self, batch: &SeqBatch<F>, beam: usize) -> Result<Vec<Hypothesis>> {
        Ok(self
            .log_probs(batch)?
            .iter()
            .map(|lp| self.decode_log_probs(lp, beam))
            .collect())
    }

    /// The best labelling (symbols) of one utterance's log-probabilities [T'_b, C].
    pub fn decode_log_probs(&self, lp: &[f64], beam: usize) -> Hypothesis {
        let c = self.config.classes();
        let h = if beam <= 1 {
            greedy(lp, c, BLANK)
        } else {
            prefix_beam_search(lp, c, BLANK, beam)
                .into_iter()
                .next()
                .unwrap_or(Hypothesis {
                    labels: Vec::new(),
                    log_prob: f64::NEG_INFINITY,
                })
        };
        Hypothesis {
            labels: h.labels.iter().map(|&k| k - 1).collect(),
            log_prob: h.log_prob,
        }
    }
}

/// Streaming transcription with a unidirectional model: frames go in as they arrive (any
/// chunk size), symbols come out as soon as the greedy path emits them. The recurrent state
/// is carried from chunk to chunk, and frames that do not yet fill a stacked step wait, so
/// the symbols are exactly those of [`CtcModel::decode`] with `beam` 1 on the whole input.
#[derive(Debug)]
pub struct CtcStream<'m, F: Float> {
    model: &'m CtcModel<F>,
    state: Option<RnnState<F>>,
    pending: Vec<F>,
    decoder: GreedyStream,
}

impl<'m, F: Float> CtcStream<'m, F> {
    /// A stream at the start of an utterance; a bidirectional model cannot stream.
    pub fn new(model: &'m CtcModel<F>) -> Result<Self> {
        if model.config.bidirectional {
            return Err(Error::Config(
                "a bidirectional model reads the whole utterance: it cannot stream".into(),
            ));
        }
        Ok(CtcStream {
            model,
            state: None,
            pending: Vec::new(),
            decoder: GreedyStream::new(),
        })
    }

    /// Feeds frames [n, I] (n >= 0); returns the symbols emitted.
    pub fn push(&mut self, frames: &[F]) -> Result<Vec<usize>> {
        let (dim, k) = (self.model.config.input, self.model.config.stack);
        if !frames.len().is_multiple_of(dim) {
            return Err(Error::Input(format!(
                "{} values are not a whole number of {dim}-feature frames",
                frames.len()
            )));
        }
        self.pending.extend_from_slice(frames);
        let steps = self.pending.len() / (dim * k);
        let x: Vec<F> = self.pending.drain(..steps * dim * k).collect();
        self.run(x, steps)
    }

    /// Ends the utterance: a last partial step (completed with zeros, as in training) is
    /// read. Returns the symbols emitted and ln of the whole best path; the stream is then
    /// ready for a new utterance.
    pub fn finish(&mut self) -> Result<(Vec<usize>, f64)> {
        let width = self.model.config.input * self.model.config.stack;
        let mut out = Vec::new();
        if !self.pending.is_empty() {
            let mut x = std::mem::take(&mut self.pending);
            x.resize(width, F::zero());
            out = self.run(x, 1)?;
        }
        let log_prob = self.decoder.log_prob;
        self.state = None;
        self.decoder = GreedyStream::new();
        Ok((out, log_prob))
    }

    /// ln of the best path so far.
    pub fn log_prob(&self) -> f64 {
        self.decoder.log_prob
    }

    fn run(&mut self, x: Vec<F>, steps: usize) -> Result<Vec<usize>> {
        if steps == 0 {
            return Ok(Vec::new());
        }
        let tagger = &self.model.tagger;
        let (out, _) = tagger
            .rnn
            .forward_tm(x, steps, 1, self.state.as_ref(), None, None)?;
        self.state = Some(out.state);
        let logits = tagger.head.forward(out.output.data(), steps);
        let c = self.model.config.classes();
        Ok(log_softmax_rows(&logits, c)
            .chunks_exact(c)
            .filter_map(|row| self.decoder.push(row, BLANK).map(|k| k - 1))
            .collect())
    }
}

impl<F: Float> Module<F> for CtcModel<F> {
    fn visit(&self, f: &mut dyn FnMut(&Param<F>)) {
        self.tagger.visit(f);
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<F>)) {
        self.tagger.visit_mut(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recurrent::gradcheck;

    fn config(cell: CellKind, stack: usize, bidirectional: bool, dropout: f64) -> CtcModelConfig {
        CtcModelConfig {
            input: 3,
            stack,
            cell,
            hidden: 4,
            layers: if dropout > 0.0 { 2 } else { 1 },
            bidirectional,
            dropout,
            reg: Default::default(),
            symbols: 3,
        }
    }

    fn batch(seed: u64) -> (SeqBatch<f64>, Vec<Vec<usize>>) {
        let mut rng = Rng::new(seed);
        let lens = [9usize, 5, 7];
        let seqs: Vec<Vec<f64>> = lens
            .iter()
            .map(|&n| (0..n * 3).map(|_| rng.normal()).collect())
            .collect();
        let refs: Vec<&[f64]> = seqs.iter().map(|s| s.as_slice()).collect();
        (
            pad_frames(&refs, 3).unwrap(),
            vec![vec![0, 0, 2], vec![1], vec![2, 1]],
        )
    }

    #[test]
    fn whole_model_gradcheck() {
        for (cell, stack, bi, dropout) in [
            (CellKind::Lstm, 1, true, 0.0),
            (CellKind::Gru, 2, true, 0.3),
            (CellKind::RnnTanh, 3, false, 0.0),
        ] {
            let mut m = CtcModel::<f64>::new(
                config(cell, stack, bi, dropout),
                &Init::default(),
                &mut Rng::new(5),
            )
            .unwrap();
            let (b, tg) = batch(1);
            for red in [CtcReduction::Mean, CtcReduction::Sum] {
                let r = gradcheck::check(
                    &mut m,
                    |m, back| {
                        m.loss(&b, &tg, red, Some(&mut Rng::new(99)), back)
                            .unwrap()
                            .loss
                    },
                    1e-5,
                    30,
                );
                // 1e-5: a few entries of the second layer are ~1e-6, where rounding in the
                // differences (~1e-11 absolute) is visible; a wrong backward is off by O(1).
                assert!(r.max_rel_err < 1e-5, "{cell:?} stack {stack}: {r:?}");
                assert!(r.checked > 50);
            }
        }
    }

    #[test]
    fn streaming_equals_whole_utterance_greedy() {
        let mut rng = Rng::new(4);
        for (cell, stack) in [(CellKind::Lstm, 1), (CellKind::Gru, 3), (CellKind::Lstm, 2)] {
            let mut cfg = config(cell, stack, false, 0.0);
            cfg.layers = 2;
            cfg.hidden = 8;
            let mut m = CtcModel::<f64>::new(cfg, &Init::default(), &mut Rng::new(6)).unwrap();
            // Sharpen the head so the greedy path emits often.
            m.tagger
                .head
                .weight
                .value
                .data_mut()
                .iter_mut()
                .for_each(|w| *w *= 8.0);
            let frames: Vec<f64> = (0..40 * 3).map(|_| rng.normal()).collect();
            let whole = m
                .decode(&pad_frames(&[frames.as_slice()], 3).unwrap(), 1)
                .unwrap()
                .remove(0);
            for chunk in [1, 4, 7, 40] {
                let mut s = CtcStream::new(&m).unwrap();
                let mut got = Vec::new();
                for part in frames.chunks(chunk * 3) {
                    got.extend(s.push(part).unwrap());
                }
                let before = s.log_prob();
                let (rest, lp) = s.finish().unwrap();
                got.extend(rest);
                assert_eq!(got, whole.labels, "{cell:?} stack {stack} chunk {chunk}");
                // The best path's probability sums every step's best log-probability: equal
                // only if the stream saw every step's outputs as the whole pass did.
                assert!(
                    (lp - whole.log_prob).abs() < 1e-9,
                    "{lp} vs {}",
                    whole.log_prob
                );
                assert!(before >= lp);
            }
        }
        let bi = CtcModel::<f64>::new(
            config(CellKind::Gru, 1, true, 0.0),
            &Init::default(),
            &mut Rng::new(1),
        )
        .unwrap();
        assert!(CtcStream::new(&bi).is_err());
    }

    #[test]
    fn stacking_and_padding() {
        let (b, _) = batch(2);
        let s = stack_frames(&b, 3, 2).unwrap();
        assert_eq!((s.t, s.b), (5, 3));
        assert_eq!(s.lengths, Some(vec![5, 3, 4]));
        let (Steps::Dense(x), Steps::Dense(y)) = (&b.steps, &s.steps) else {
            panic!()
        };
        // Step 1 of utterance 0 holds frames 2 and 3; utterance 1's step 2 is frame 4 + zeros.
        assert_eq!(&y[(3) * 6..(3) * 6 + 3], &x[(2 * 3) * 3..(2 * 3) * 3 + 3]);
        assert_eq!(
            &y[(3) * 6 + 3..(3) * 6 + 6],
            &x[(3 * 3) * 3..(3 * 3) * 3 + 3]
        );
        assert_eq!(&y[(2 * 3 + 1) * 6 + 3..(2 * 3 + 1) * 6 + 6], &[0.0; 3]);
        // Padding an utterance changes neither its loss nor the gradients.
        let mut m = CtcModel::<f64>::new(
            config(CellKind::Lstm, 2, true, 0.0),
            &Init::default(),
            &mut Rng::new(5),
        )
        .unwrap();
        let Steps::Dense(x) = &b.steps else { panic!() };
        let u1: Vec<f64> = (0..5)
            .flat_map(|t| x[(t * 3 + 1) * 3..(t * 3 + 2) * 3].to_vec())
            .collect();
        let alone = pad_frames(&[u1.as_slice()], 3).unwrap();
        let la = m
            .loss(&alone, &[vec![1]], CtcReduction::Sum, None, false)
            .unwrap();
        let lb = m
            .loss(
                &b,
                &[vec![0, 0, 2], vec![1], vec![2, 1]],
                CtcReduction::None,
                None,
                false,
            )
            .unwrap();
        assert!((la.losses[0] - lb.losses[1]).abs() < 1e-12);
        assert!(pad_frames::<f64>(&[&[1.0, 2.0]], 3).is_err());
        assert!(m
            .loss(
                &b,
                &[vec![3], vec![], vec![]],
                CtcReduction::Sum,
                None,
                false
            )
            .is_err());
        assert!(m.fits(9, &[0, 0, 2]) && !m.fits(5, &[0, 0, 1, 1]));
    }
}
