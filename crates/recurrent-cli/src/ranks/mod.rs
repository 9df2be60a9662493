//! The ranks this process trains with. Outside `mpirun` (or built without the feature
//! `mpi`) it is one process alone. Under `mpirun -np N` with `--features mpi`, every `train`
//! subcommand trains one model data-parallel over the N ranks
//! (`recurrent::train::dist`): rank 0 prints and writes the run directory, the others
//! compute their share silently and print only their own errors.

#[cfg(feature = "mpi")]
mod mpi_ranks;

use recurrent::train::Group;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    static GROUP: RefCell<Group> = RefCell::new(Group::default());
}
static SECONDARY: AtomicBool = AtomicBool::new(false);

/// What keeps the job's runtime alive until the process ends (MPI is finalised when it is
/// dropped).
pub struct Session {
    #[cfg(feature = "mpi")]
    _universe: Option<mpi::environment::Universe>,
}

impl Session {
    /// Leaves the job now (MPI_Finalize), before an exit that would skip it.
    pub fn end(self) {}
}

/// Joins the job this process was started in, if any: under `mpirun`, with the feature
/// `mpi`, the MPI ranks; otherwise one process.
pub fn start() -> anyhow::Result<Session> {
    #[cfg(feature = "mpi")]
    {
        let (universe, group) = mpi_ranks::join()?;
        install(group);
        Ok(Session {
            _universe: universe,
        })
    }
    #[cfg(not(feature = "mpi"))]
    {
        if launched_by_mpirun() {
            anyhow::bail!(
                "started by mpirun, but this binary was built without MPI: rebuild with \
                 `cargo build --release --features mpi` (needs Open MPI and libclang), or run \
                 one process without mpirun"
            );
        }
        Ok(Session {})
    }
}

/// Whether a launcher started this process as one rank of a job (Open MPI, or a PMI
/// launcher such as Slurm's or MPICH's).
pub fn launched_by_mpirun() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

#[cfg(feature = "mpi")]
fn install(group: Group) {
    SECONDARY.store(!group.is_primary(), Ordering::Relaxed);
    GROUP.with(|g| *g.borrow_mut() = group);
}

/// The ranks of this process's job.
pub fn group() -> Group {
    GROUP.with(|g| g.borrow().clone())
}

/// Rank 0 (or the only process): the one that prints and writes.
pub fn is_primary() -> bool {
    !SECONDARY.load(Ordering::Relaxed)
}

/// Ends the whole job after this rank failed: the other ranks would otherwise wait for it
/// in their next collective operation, for ever.
pub fn abort(code: i32) -> ! {
    #[cfg(feature = "mpi")]
    if group().is_parallel() {
        mpi_ranks::abort(code);
    }
    std::process::exit(code)
}
