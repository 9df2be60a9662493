//! Batches of sentences of similar length (bucketing), padded and masked.
//!
//! Sorting by length before cutting batches means a batch of 20-word sentences is not padded
//! to the 56 words of the longest sentence in the corpus: the recurrent layer runs
//! `T = max length in the batch` steps, so the work saved is the padding not computed.
//! Padded steps are masked by the sequence lengths (the recurrent layer stops each sequence
//! at its own end; losses skip them), so they change neither the loss nor the result.

use crate::error::{Error, Result};
use crate::float::Float;
use crate::model::{SeqBatch, Steps};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// Batches (lists of example indices) of at most `batch` examples of similar length.
///
/// With `rng` (training): examples are sorted by (length, random key), so equal lengths are
/// mixed differently every epoch, cut into batches, and the batch order is shuffled.
/// Without (evaluation): sorted by length, stable, in order.
pub fn bucket_batches(lengths: &[usize], batch: usize, rng: Option<&mut Rng>) -> Vec<Vec<usize>> {
    let batch = batch.max(1);
    let mut idx: Vec<usize> = (0..lengths.len()).collect();
    match rng {
        Some(rng) => {
            let keys: Vec<u64> = idx.iter().map(|_| rng.next_u64()).collect();
            idx.sort_by_key(|&i| (lengths[i], keys[i]));
            let mut batches: Vec<Vec<usize>> = idx.chunks(batch).map(|c| c.to_vec()).collect();
            rng.shuffle(&mut batches);
            batches
        }
        None => {
            idx.sort_by_key(|&i| lengths[i]);
            idx.chunks(batch).map(|c| c.to_vec()).collect()
        }
    }
}

/// Padded steps (batch size x longest member) one evaluation batch may hold. A forward pass
/// keeps every step's activations, so a batch of 128 texts of 1,000 words would need a
/// gigabyte where 16 of them need 130 MB; short items still go 128 at a time.
pub const EVAL_TOKENS: usize = 16_384;

/// Evaluation batches in length order, as [`bucket_batches`] without `rng`, but each batch
/// also cut so that its size times its longest member stays within `tokens` (a batch holds
/// at least one item, however long).
pub fn eval_batches(lengths: &[usize], batch: usize, tokens: usize) -> Vec<Vec<usize>> {
    let batch = batch.max(1);
    let mut idx: Vec<usize> = (0..lengths.len()).collect();
    idx.sort_by_key(|&i| lengths[i]);
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut cur: Vec<usize> = Vec::new();
    for i in idx {
        // Sorted ascending, so the newcomer is the longest member.
        let longest = lengths[i].max(1);
        if !cur.is_empty() && (cur.len() == batch || (cur.len() + 1) * longest > tokens) {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(i);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A time-major batch of token sequences padded with `pad` to the longest, with lengths.
/// Sequences must be non-empty (an empty one is given length 1 of `pad` by the caller's
/// encoding; here it is padded the same way, so nothing panics).
pub fn pad_ids<F: Float>(seqs: &[&[u32]], pad: u32) -> SeqBatch<F> {
    let b = seqs.len();
    let t = seqs.iter().map(|s| s.len()).max().unwrap_or(1).max(1);
    let mut ids = vec![pad; t * b];
    for (bi, s) in seqs.iter().enumerate() {
        for (ti, &id) in s.iter().enumerate() {
            ids[ti * b + bi] = id;
        }
    }
    SeqBatch {
        steps: Steps::Ids(ids),
        t,
        b,
        lengths: Some(seqs.iter().map(|s| s.len().max(1)).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_example_once_and_group_lengths() {
        let lengths: Vec<usize> = (0..103).map(|i| 1 + (i * 37) % 50).collect();
        let mut rng = Rng::new(1);
        let batches = bucket_batches(&lengths, 10, Some(&mut rng));
        assert_eq!(batches.len(), 11);
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..103).collect::<Vec<_>>());
        // Within a batch the spread of lengths is small (sorted before cutting).
        for b in &batches {
            let (lo, hi) = (
                b.iter().map(|&i| lengths[i]).min().unwrap(),
                b.iter().map(|&i| lengths[i]).max().unwrap(),
            );
            assert!(hi - lo <= 6, "{lo}..{hi}");
        }
        // The order differs from one epoch's stream to another.
        let again = bucket_batches(&lengths, 10, Some(&mut rng));
        assert_ne!(batches, again);
    }

    #[test]
    fn eval_batches_bound_padded_steps() {
        let lengths = [3, 1000, 2, 5000, 999, 4, 1000];
        let batches = eval_batches(&lengths, 4, 2000);
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..lengths.len()).collect::<Vec<_>>());
        for b in &batches {
            let longest = b.iter().map(|&i| lengths[i]).max().unwrap();
            assert!(b.len() == 1 || b.len() * longest <= 2000, "{b:?}");
            assert!(b.len() <= 4);
        }
        // The short ones still share a batch; the 999 joins them only if 4 x 999 fit.
        assert_eq!(batches[0], vec![2, 0, 5]);
        assert_eq!(batches.last().unwrap(), &vec![3]);
    }

    #[test]
    fn padding_is_time_major() {
        let a: &[u32] = &[1, 2, 3];
        let b: &[u32] = &[4];
        let batch: SeqBatch<f32> = pad_ids(&[a, b], 0);
        assert_eq!((batch.t, batch.b), (3, 2));
        assert_eq!(batch.steps, Steps::Ids(vec![1, 4, 2, 0, 3, 0]));
        assert_eq!(batch.lengths, Some(vec![3, 1]));
    }
}

/// Where a bucketed training run stands. The batch order of epoch e is drawn from a stream
/// of its own (the seed forked by `label` and e), so (epoch, position) is the whole state: a
/// resumed run rebuilds the same batches from it. Every task that trains on bucketed
/// examples walks its data with one of these.
#[derive(Clone, Debug)]
pub struct EpochCursor {
    lengths: Vec<usize>,
    batch: usize,
    seed: u64,
    label: &'static str,
    batches: Vec<Vec<usize>>,
    state: CursorState,
}

/// What a checkpoint keeps of an [`EpochCursor`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CursorState {
    /// The epoch under way (0 first).
    pub epoch: u64,
    /// Batches of it already taken.
    pub pos: usize,
}

impl EpochCursor {
    /// At the start of epoch 0, over examples of these lengths.
    pub fn new(lengths: Vec<usize>, batch: usize, seed: u64, label: &'static str) -> Self {
        let mut c = EpochCursor {
            lengths,
            batch,
            seed,
            label,
            batches: Vec::new(),
            state: CursorState::default(),
        };
        c.batches = c.order(0);
        c
    }

    fn order(&self, epoch: u64) -> Vec<Vec<usize>> {
        let mut rng = Rng::new(self.seed).fork(&format!("{}-epoch-{epoch}", self.label));
        bucket_batches(&self.lengths, self.batch, Some(&mut rng))
    }

    /// Batches in one epoch.
    pub fn per_epoch(&self) -> u64 {
        self.batches.len() as u64
    }

    /// The examples' lengths, as given.
    pub fn lengths(&self) -> &[usize] {
        &self.lengths
    }

    /// The next batch's example indices, starting the next epoch when this one is done.
    pub fn next_batch(&mut self) -> Vec<usize> {
        if self.state.pos >= self.batches.len() {
            self.state = CursorState {
                epoch: self.state.epoch + 1,
                pos: 0,
            };
            self.batches = self.order(self.state.epoch);
        }
        self.state.pos += 1;
        self.batches
            .get(self.state.pos - 1)
            .cloned()
            .unwrap_or_default()
    }

    /// The state a checkpoint keeps, as JSON.
    pub fn state(&self) -> serde_json::Value {
        serde_json::json!(self.state)
    }

    /// Restores a [`EpochCursor::state`] (`what` names the task in errors).
    pub fn load_state(&mut self, json: &serde_json::Value, what: &str) -> Result<()> {
        self.state = serde_json::from_value(json.clone())
            .map_err(|e| Error::Config(format!("{what} training state: {e}")))?;
        self.batches = self.order(self.state.epoch);
        Ok(())
    }
}
