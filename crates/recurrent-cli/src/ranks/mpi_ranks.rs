//! The engine's [`Collective`] over MPI (rsmpi, Open MPI). The gradient sum is ordered by
//! default: rank 0 gathers every rank's buffer, adds them in rank order and broadcasts the
//! result, so the bits do not depend on the runtime's choice of reduction algorithm.
//! `RECURRENT_ALLREDUCE=runtime` uses MPI_Allreduce instead (what its cost is measured
//! against; Open MPI does not promise the same bits from one run to the next).

use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Count;
use recurrent::error::{Error, Result};
use recurrent::train::{Collective, Group};
use std::cell::RefCell;
use std::rc::Rc;

struct MpiRanks {
    world: SimpleCommunicator,
    runtime_sum: bool,
    /// The second buffer of every sum (rank 0's gathered buffers, or MPI_Allreduce's
    /// send buffer), kept from step to step.
    scratch: RefCell<Vec<f32>>,
}

/// Initialises MPI when a launcher started this process; one process otherwise (MPI is not
/// touched, so the binary runs anywhere).
pub fn join() -> anyhow::Result<(Option<Universe>, Group)> {
    if !super::launched_by_mpirun() {
        return Ok((None, Group::default()));
    }
    let runtime_sum = match std::env::var("RECURRENT_ALLREDUCE").as_deref() {
        Ok("runtime") => true,
        Ok("ordered") | Err(_) => false,
        Ok(other) => anyhow::bail!(
            "RECURRENT_ALLREDUCE={other}: use `ordered` (rank 0 sums in rank order: the same \
             bits on every rerun; the default) or `runtime` (MPI_Allreduce)"
        ),
    };
    // Only the training thread calls MPI; the kernels' threads never do.
    let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Funneled)
        .ok_or_else(|| anyhow::anyhow!("MPI was already initialised"))?;
    let world = universe.world();
    let group = Group::new(Rc::new(MpiRanks {
        world,
        runtime_sum,
        scratch: RefCell::new(Vec::new()),
    }));
    Ok((Some(universe), group))
}

/// MPI_Abort on the world: every rank ends, and mpirun names the one that called it.
pub fn abort(code: i32) -> ! {
    let world = SimpleCommunicator::world();
    world.abort(code)
}

impl Collective for MpiRanks {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }
    fn ranks(&self) -> usize {
        self.world.size() as usize
    }

    fn sum(&self, buf: &mut [f32]) -> Result<()> {
        let mut scratch = self.scratch.borrow_mut();
        if self.runtime_sum {
            scratch.clear();
            scratch.extend_from_slice(buf);
            self.world
                .all_reduce_into(&scratch[..], buf, mpi::collective::SystemOperation::sum());
            return Ok(());
        }
        let root = self.world.process_at_rank(0);
        if self.world.rank() == 0 {
            let n = buf.len();
            let all = &mut *scratch;
            all.resize(n * self.ranks(), 0.0);
            root.gather_into_root(&buf[..], &mut all[..]);
            // Rank 0's values, plus rank 1's, plus rank 2's...: one order, always.
            for part in all.chunks_exact(n).skip(1) {
                buf.iter_mut().zip(part).for_each(|(b, v)| *b += v);
            }
        } else {
            root.gather_into(&buf[..]);
        }
        root.broadcast_into(buf);
        Ok(())
    }

    fn broadcast(&self, bytes: &mut Vec<u8>) -> Result<()> {
        let root = self.world.process_at_rank(0);
        let mut len = bytes.len() as u64;
        root.broadcast_into(&mut len);
        bytes.resize(len as usize, 0);
        // Open MPI refuses the dangling pointer of an empty buffer.
        if len > 0 {
            root.broadcast_into(&mut bytes[..]);
        }
        Ok(())
    }

    fn gather(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
        let root = self.world.process_at_rank(0);
        let len = Count::try_from(bytes.len()).map_err(|_| {
            Error::Parallel(format!(
                "{} bytes are too many for one message",
                bytes.len()
            ))
        })?;
        if self.world.rank() != 0 {
            root.gather_into(&len);
            root.gather_varcount_into(bytes);
            return Ok(Vec::new());
        }
        let mut counts = vec![0 as Count; self.ranks()];
        root.gather_into_root(&len, &mut counts[..]);
        let displs: Vec<Count> = counts
            .iter()
            .scan(0, |at, &c| {
                let d = *at;
                *at += c;
                Some(d)
            })
            .collect();
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        let mut recv = vec![0u8; total];
        {
            let mut part = PartitionMut::new(&mut recv[..], &counts[..], &displs[..]);
            root.gather_varcount_into_root(bytes, &mut part);
        }
        Ok(counts
            .iter()
            .zip(&displs)
            .map(|(&c, &d)| recv[d as usize..(d + c) as usize].to_vec())
            .collect())
    }
}
