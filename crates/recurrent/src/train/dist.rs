//! Data-parallel training: several processes (ranks) train one model. Each takes its own
//! rows of every global batch, and the gradients are summed every step, so every rank takes
//! the same optimizer step and holds the same weights. The engine knows only the three
//! [`Collective`] operations; the CLI provides them over MPI (its feature `mpi`), the tests
//! with threads.
//!
//! One step on rank r of N, for a global batch of B rows:
//!
//! ```text
//!   rows [r*B/N, (r+1)*B/N)  ->  forward, loss L_r (a mean over n_r terms), backward: g_r
//!   one flat buffer, summed over the ranks:  G = Σ n_r g_r,  n = Σ n_r,  S = Σ n_r L_r
//!   every rank:  g = G / n,  loss = S / n
//! ```
//!
//! so g is the gradient of the global batch's mean loss, as on one process, up to float32
//! rounding: one process sums over the whole batch inside its matrix products, N ranks sum
//! N partial sums, and float addition is not associative.
//!
//! Reproducible: [`Collective::sum`] must give the same bits on every rank and on every
//! rerun with the same ranks (the MPI side gathers to rank 0 and adds in rank order).
//! What is random per row (dropout masks, augmentation) comes from a stream of each rank's
//! own, derived every step from the shared stream ([`Shard::rng`]); what decides the batch
//! (shuffles) stays on the shared stream, identical everywhere.

use crate::checkpoint::{self, Checkpoint};
use crate::error::{Error, Result};
use crate::param::Module;
use crate::rng::Rng;
use crate::tensor::Tensor;
use std::ops::Range;
use std::path::PathBuf;
use std::rc::Rc;

/// What the ranks of one job do together. Every rank calls each operation in the same
/// order; a rank that fails must end the job (the CLI calls MPI_Abort), or the others wait.
pub trait Collective {
    /// This process's rank, 0 to `ranks() - 1`.
    fn rank(&self) -> usize;
    /// How many ranks train together.
    fn ranks(&self) -> usize;
    /// Element-wise sum of `buf` over all ranks, left in `buf` on every rank: the same bits
    /// on every rank, and on every rerun with the same ranks.
    fn sum(&self, buf: &mut [f32]) -> Result<()>;
    /// Rank 0's `bytes` on every rank.
    fn broadcast(&self, bytes: &mut Vec<u8>) -> Result<()>;
    /// Every rank's `bytes`, in rank order, on rank 0 (an empty list elsewhere).
    fn gather(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>>;
}

/// The ranks a run trains with: one process alone (the default), or a [`Collective`].
#[derive(Clone, Default)]
pub struct Group(Option<Rc<dyn Collective>>);

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Group(rank {} of {})", self.rank(), self.ranks())
    }
}

impl Group {
    /// The ranks of `c`; one rank alone is the single process.
    pub fn new(c: Rc<dyn Collective>) -> Self {
        Group((c.ranks() > 1).then_some(c))
    }
    pub fn rank(&self) -> usize {
        self.0.as_ref().map_or(0, |c| c.rank())
    }
    pub fn ranks(&self) -> usize {
        self.0.as_ref().map_or(1, |c| c.ranks())
    }
    /// Rank 0, the one that writes the run directory and prints.
    pub fn is_primary(&self) -> bool {
        self.rank() == 0
    }
    /// More than one rank.
    pub fn is_parallel(&self) -> bool {
        self.0.is_some()
    }
    pub(crate) fn collective(&self) -> Option<&dyn Collective> {
        self.0.as_deref()
    }
    /// Rank 0's `bytes` on every rank (unchanged on one process).
    pub fn agree_bytes(&self, bytes: &mut Vec<u8>) -> Result<()> {
        match &self.0 {
            Some(c) => c.broadcast(bytes),
            None => Ok(()),
        }
    }
    /// Rank 0's values on every rank: what must not differ between ranks although each
    /// measures its own (elapsed time, an interrupt).
    pub fn agree(&self, values: &mut [f64]) -> Result<()> {
        if self.0.is_none() {
            return Ok(());
        }
        let mut bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.agree_bytes(&mut bytes)?;
        if bytes.len() != values.len() * 8 {
            return Err(Error::Parallel(format!(
                "rank 0 sent {} bytes where {} values were expected",
                bytes.len(),
                values.len()
            )));
        }
        for (v, b) in values.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            *v = f64::from_le_bytes(a);
        }
        Ok(())
    }
    /// Refuses a batch with fewer rows than ranks, naming `flag`: every rank needs a row.
    pub fn check_batch(&self, batch: usize, flag: &str) -> Result<()> {
        if batch < self.ranks() {
            return Err(Error::Config(format!(
                "{flag} {batch} is smaller than the {} ranks: each rank trains on its own rows of \
                 every batch; give {flag} {} or more",
                self.ranks(),
                self.ranks()
            )));
        }
        Ok(())
    }
    /// Rank 0's text on every rank (a run directory named by the clock, say).
    pub fn agree_string(&self, s: &str) -> Result<String> {
        let mut bytes = s.as_bytes().to_vec();
        self.agree_bytes(&mut bytes)?;
        String::from_utf8(bytes)
            .map_err(|_| Error::Parallel("rank 0 sent text that is not UTF-8".into()))
    }
}

/// A step's result on one rank: its mean loss and what it is a mean of.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepLoss {
    /// The mean loss over the rank's rows.
    pub loss: f64,
    /// Tokens (or examples) trained on, for throughput.
    pub tokens: usize,
    /// How many terms `loss` is the mean of (examples, or unmasked target tokens): the
    /// weight of this rank's gradient in the sum over ranks. Zero for a rank with no rows.
    pub count: usize,
}

/// This rank's share of every batch, and its stream for what is random per row.
#[derive(Debug)]
pub struct Shard {
    rank: usize,
    ranks: usize,
    stream: Option<Rng>,
}

impl Shard {
    /// The whole batch: one process.
    pub fn whole() -> Self {
        Shard {
            rank: 0,
            ranks: 1,
            stream: None,
        }
    }
    /// Rank `rank` of `ranks` (tests; the loop makes its own from the [`Group`]).
    pub fn of(rank: usize, ranks: usize) -> Self {
        Shard {
            rank,
            ranks: ranks.max(1),
            stream: None,
        }
    }
    pub fn rank(&self) -> usize {
        self.rank
    }
    pub fn ranks(&self) -> usize {
        self.ranks
    }
    /// This rank's rows of a batch of `n`: a contiguous block, the blocks of ranks 0..N
    /// in order covering 0..n, their sizes differing by at most one.
    pub fn rows(&self, n: usize) -> Range<usize> {
        (n * self.rank / self.ranks)..(n * (self.rank + 1) / self.ranks)
    }
    /// This rank's columns of a time-major [T, B] array: [T, rows(B)] (borrowed when the
    /// rank has every row).
    pub fn columns<'a, T: Copy>(&self, data: &'a [T], b: usize) -> std::borrow::Cow<'a, [T]> {
        let rows = self.rows(b);
        if rows.len() == b {
            return std::borrow::Cow::Borrowed(data);
        }
        let v = data
            .chunks_exact(b.max(1))
            .flat_map(|step| step[rows.clone()].iter().copied())
            .collect();
        std::borrow::Cow::Owned(v)
    }
    /// The stream for what differs from row to row (dropout, augmentation): `shared` itself
    /// on one process, so a single process draws exactly what it always drew; this rank's
    /// own stream for this step in a data-parallel run, so ranks do not repeat each other's
    /// masks.
    pub fn rng<'a>(&'a mut self, shared: &'a mut Rng) -> &'a mut Rng {
        match &mut self.stream {
            Some(r) => r,
            None => shared,
        }
    }
    /// Derives this step's stream of a rank from the shared one, which advances by one
    /// draw on every rank alike.
    pub(crate) fn next_step(&mut self, shared: &mut Rng) {
        if self.ranks > 1 {
            let base = Rng::new(shared.next_u64());
            self.stream = Some(base.fork(&format!("rank {}", self.rank)));
        }
    }
}

/// Sums the step's gradients, loss and token count over the ranks (module docs): returns
/// the global batch's mean loss and its tokens, and leaves the global mean gradient in
/// every parameter. `buf` is the flat buffer, kept by the caller from step to step so that
/// no step allocates it again.
pub(crate) fn sum_step<M: Module<f32>>(
    c: &dyn Collective,
    model: &mut M,
    out: StepLoss,
    buf: &mut Vec<f32>,
) -> Result<(f64, usize)> {
    let n = out.count as f32;
    buf.clear();
    model.visit(&mut |p| buf.extend(p.grad.data().iter().map(|&g| g * n)));
    let np = buf.len();
    // A rank without rows may have skipped its forward: its loss is not a number to add.
    let weighted = if out.count == 0 {
        0.0
    } else {
        out.loss * out.count as f64
    };
    buf.extend([n, weighted as f32, out.tokens as f32]);
    c.sum(buf)?;
    let total = buf[np];
    if total <= 0.0 {
        return Err(Error::Config(
            "no rank had a row of this batch: --batch must be at least the number of ranks".into(),
        ));
    }
    let mut i = 0;
    model.visit_mut(&mut |p| {
        for g in p.grad.data_mut() {
            *g = buf[i] / total;
            i += 1;
        }
    });
    Ok(((buf[np + 1] / total) as f64, buf[np + 2].round() as usize))
}

/// Rank 0's checkpoint to resume from (or none) on every rank, with its path.
pub(crate) fn share_checkpoint(
    group: &Group,
    found: Option<(PathBuf, Checkpoint)>,
) -> Result<Option<(PathBuf, Checkpoint)>> {
    if !group.is_parallel() {
        return Ok(found);
    }
    // An empty message: no checkpoint; else the path, a NUL, the checkpoint's bytes.
    let mut bytes = Vec::new();
    if let Some((path, ck)) = &found {
        bytes.extend_from_slice(path.to_string_lossy().as_bytes());
        bytes.push(0);
        bytes.extend(checkpoint::to_bytes(ck)?);
    }
    group.agree_bytes(&mut bytes)?;
    if found.is_some() || bytes.is_empty() {
        return Ok(found);
    }
    let cut = bytes
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| Error::Parallel("rank 0 sent a checkpoint without its path".into()))?;
    let path = PathBuf::from(String::from_utf8_lossy(&bytes[..cut]).into_owned());
    let ck = checkpoint::read_bytes(&bytes[cut + 1..], &path)?;
    Ok(Some((path, ck)))
}

/// The rows `rows` (of the axis `axis`) of `t`.
pub fn take_rows(t: &Tensor<f32>, axis: usize, rows: Range<usize>) -> Result<Tensor<f32>> {
    let shape = t.shape();
    if axis >= shape.len() || rows.end > shape[axis] {
        return Err(Error::Parallel(format!(
            "rows {rows:?} of axis {axis} of a tensor of shape {shape:?}"
        )));
    }
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let mut data = Vec::with_capacity(outer * rows.len() * inner);
    for o in 0..outer {
        let base = o * shape[axis] * inner;
        data.extend_from_slice(&t.data()[base + rows.start * inner..base + rows.end * inner]);
    }
    let mut s = shape.to_vec();
    s[axis] = rows.len();
    Tensor::from_vec(&s, data)
}

/// `parts` joined along `axis`, in order: the inverse of [`take_rows`] over a partition.
pub fn join_rows(parts: &[Tensor<f32>], axis: usize) -> Result<Tensor<f32>> {
    let first = parts
        .first()
        .ok_or_else(|| Error::Parallel("no tensors to join".into()))?;
    let shape = first.shape();
    let mut joined = shape.to_vec();
    if axis >= shape.len() {
        return Err(Error::Parallel(format!("axis {axis} of shape {shape:?}")));
    }
    joined[axis] = 0;
    for p in parts {
        let ps = p.shape();
        let same = ps.len() == shape.len()
            && ps
                .iter()
                .zip(shape)
                .enumerate()
                .all(|(k, (a, b))| k == axis || a == b);
        if !same {
            return Err(Error::Parallel(format!(
                "cannot join shapes {shape:?} and {ps:?} along axis {axis}"
            )));
        }
        joined[axis] += ps[axis];
    }
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let mut data = Vec::with_capacity(joined.iter().product());
    for o in 0..outer {
        for p in parts {
            let block = p.shape()[axis] * inner;
            data.extend_from_slice(&p.data()[o * block..(o + 1) * block]);
        }
    }
    Tensor::from_vec(&joined, data)
}

/// Rank 0 receives every rank's `tensors` (those the task keeps per row, named with their
/// row axis) and joins them in rank order; the other ranks get an empty list.
pub(crate) fn gather_rows(
    c: &dyn Collective,
    tensors: &[(String, Tensor<f32>, usize)],
) -> Result<Vec<(String, Tensor<f32>)>> {
    let mut ck = Checkpoint::new();
    for (name, t, _) in tensors {
        ck.insert(name.clone(), t);
    }
    let parts = c.gather(&checkpoint::to_bytes(&ck)?)?;
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let read: Vec<Checkpoint> = parts
        .iter()
        .enumerate()
        .map(|(r, b)| checkpoint::read_bytes(b, format!("rank {r}'s rows")))
        .collect::<Result<_>>()?;
    tensors
        .iter()
        .map(|(name, _, axis)| {
            let ts: Vec<Tensor<f32>> = read
                .iter()
                .map(|ck| ck.tensor::<f32>(name))
                .collect::<Result<_>>()?;
            Ok((name.clone(), join_rows(&ts, *axis)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_partition_the_batch_in_rank_order() {
        for n in [0usize, 1, 5, 64, 65] {
            for ranks in 1..=4 {
                let mut next = 0;
                for r in 0..ranks {
                    let rows = Shard::of(r, ranks).rows(n);
                    assert_eq!(rows.start, next);
                    assert!(rows.len() <= n.div_ceil(ranks) && rows.len() + 1 >= n / ranks);
                    next = rows.end;
                }
                assert_eq!(next, n);
            }
        }
    }

    #[test]
    fn columns_of_a_time_major_array() {
        let data: Vec<u32> = (0..12).collect(); // T = 3, B = 4
        assert_eq!(&*Shard::whole().columns(&data, 4), &data[..]);
        assert_eq!(&*Shard::of(1, 2).columns(&data, 4), &[2, 3, 6, 7, 10, 11]);
    }

    #[test]
    fn take_and_join_are_inverse() {
        let t = Tensor::from_vec(&[2, 5, 3], (0..30).map(|v| v as f32).collect()).unwrap();
        for ranks in 1..=3 {
            let parts: Vec<_> = (0..ranks)
                .map(|r| take_rows(&t, 1, Shard::of(r, ranks).rows(5)).unwrap())
                .collect();
            assert_eq!(join_rows(&parts, 1).unwrap().data(), t.data());
        }
        assert_eq!(take_rows(&t, 1, 1..3).unwrap().data()[..3], [3.0, 4.0, 5.0]);
        assert!(take_rows(&t, 1, 4..6).is_err());
    }

    #[test]
    fn one_process_draws_from_the_shared_stream_and_ranks_from_their_own() {
        let mut shared = Rng::new(5);
        let mut whole = Shard::whole();
        whole.next_step(&mut shared);
        let a = whole.rng(&mut shared).next_u64();
        assert_eq!(a, Rng::new(5).next_u64());
        let (mut s0, mut s1) = (Shard::of(0, 2), Shard::of(1, 2));
        let (mut r0, mut r1) = (Rng::new(5), Rng::new(5));
        s0.next_step(&mut r0);
        s1.next_step(&mut r1);
        assert_ne!(s0.rng(&mut r0).next_u64(), s1.rng(&mut r1).next_u64());
        assert_eq!(
            r0.next_u64(),
            r1.next_u64(),
            "the shared stream stays in step"
        );
    }
}
