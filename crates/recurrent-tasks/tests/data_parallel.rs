//! Data-parallel training without MPI: ranks as threads of this process, joined by a
//! [`Collective`] over shared memory, so `cargo test` checks the engine's side of
//! `recurrent::train::dist` on the applications whose batches have sequences of different
//! lengths (the gradient weights are then tokens, not rows). The MPI side is
//! `recurrent-cli/tests/mpi.rs`.

use recurrent::error::Result;
use recurrent::train::runner::TrainRequest;
use recurrent::train::{Collective, Group, Quiet};
use recurrent_tasks::translate::{synthetic_pairs, train_translate, TranslateTrainConfig};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Barrier, Mutex};

/// What the threads of one job share: a barrier and one slot per rank.
struct Hub {
    barrier: Barrier,
    slots: Mutex<Vec<Vec<u8>>>,
}

struct ThreadRank {
    rank: usize,
    ranks: usize,
    hub: Arc<Hub>,
}

impl ThreadRank {
    /// Posts `bytes` in this rank's slot and returns every slot once all ranks posted.
    fn exchange(&self, bytes: Vec<u8>) -> Vec<Vec<u8>> {
        self.hub.slots.lock().unwrap()[self.rank] = bytes;
        self.hub.barrier.wait();
        let all = self.hub.slots.lock().unwrap().clone();
        // No rank posts again before every rank has read.
        self.hub.barrier.wait();
        all
    }
}

impl Collective for ThreadRank {
    fn rank(&self) -> usize {
        self.rank
    }
    fn ranks(&self) -> usize {
        self.ranks
    }
    fn sum(&self, buf: &mut [f32]) -> Result<()> {
        let all = self.exchange(buf.iter().flat_map(|v| v.to_le_bytes()).collect());
        buf.fill(0.0);
        for part in &all {
            for (b, c) in buf.iter_mut().zip(part.chunks_exact(4)) {
                *b += f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        Ok(())
    }
    fn broadcast(&self, bytes: &mut Vec<u8>) -> Result<()> {
        let all = self.exchange(bytes.clone());
        *bytes = all[0].clone();
        Ok(())
    }
    fn gather(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
        let all = self.exchange(bytes.to_vec());
        Ok(if self.rank == 0 { all } else { Vec::new() })
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recurrent-dp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A small translator with nothing random per row (no dropout, full teacher forcing), so
/// that ranks and one process compute the same thing.
fn config() -> TranslateTrainConfig {
    let mut c = TranslateTrainConfig {
        hidden: 32,
        embed: 16,
        batch: 24,
        dropout: 0.0,
        teacher_forcing: 1.0,
        beam: 1,
        min_count: 1,
        ..Default::default()
    };
    c.optim.lr = 5e-3;
    c
}

/// Trains into `out` with `ranks` threads as ranks (0: one process, no group).
fn train(out: &Path, ranks: usize) {
    let run = move |group: Group, out: PathBuf| {
        recurrent::kernels::set_threads(1);
        let pairs = synthetic_pairs("reverse", 600, 6, 1).unwrap();
        let mut req = TrainRequest::new(&out);
        req.limits.steps = Some(30);
        req.tensorboard = false;
        req.group = group;
        train_translate(&config(), pairs, &req, &mut Quiet).unwrap();
    };
    if ranks == 0 {
        return run(Group::default(), out.to_path_buf());
    }
    let hub = Arc::new(Hub {
        barrier: Barrier::new(ranks),
        slots: Mutex::new(vec![Vec::new(); ranks]),
    });
    let threads: Vec<_> = (0..ranks)
        .map(|rank| {
            let (hub, out) = (hub.clone(), out.to_path_buf());
            std::thread::spawn(move || {
                let group = Group::new(Rc::new(ThreadRank { rank, ranks, hub }));
                run(group, out)
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn weights(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let ck = recurrent::checkpoint::read(dir.join("best.safetensors")).unwrap();
    ck.params()
        .map(|(n, t)| (n.to_string(), t.to_tensor::<f32>().unwrap().into_vec()))
        .collect()
}

#[test]
fn ranks_weight_their_gradients_by_target_tokens() {
    let (one, two, again, three) = (tmp("one"), tmp("two"), tmp("again"), tmp("three"));
    train(&one, 0);
    train(&two, 2);
    train(&again, 2);
    train(&three, 3);
    assert_eq!(
        weights(&two),
        weights(&again),
        "the same ranks give the same bits"
    );
    // Each rank's sentences have their own lengths: a mean over rows instead of target
    // tokens would move the weights by far more than rounding.
    for dir in [&two, &three] {
        let mut worst = 0f32;
        for ((n1, v1), (n2, v2)) in weights(&one).iter().zip(&weights(dir)) {
            assert_eq!(n1, n2);
            for (a, b) in v1.iter().zip(v2) {
                worst = worst.max((a - b).abs() / a.abs().max(1.0));
            }
        }
        eprintln!(
            "{}: max relative difference to one process {worst:e}",
            dir.display()
        );
        assert!(worst < 1e-4, "{}: {worst:e}", dir.display());
    }
    // Rank 0 alone wrote the run directory's results.
    assert!(two.join("results.json").exists());
}
