//! Data-parallel training under `mpirun` (built with `--features mpi`; CI installs Open MPI
//! and runs this file). Each run is a small LSTM on the embedded corpus, one thread per rank.
//!
//! What it checks:
//! - two runs with 2 ranks end with the same bits;
//! - 2 ranks match one process with the same global batch, within float32 rounding;
//! - a rank killed with SIGKILL ends the job with an error naming the rank, not a hang, and
//!   `--resume` then ends bit-identical to the uninterrupted run;
//! - a checkpoint continues under another number of ranks;
//! - a batch smaller than the ranks is refused by name.
#![cfg(feature = "mpi")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_recurrent");

/// Settings every run shares: small, quick, one thread per rank.
const SMALL: &[&str] = &[
    "train",
    "lm",
    "--hidden",
    "64",
    "--layers",
    "1",
    "--seq-len",
    "32",
    "--batch",
    "8",
    "--seed",
    "0",
    "--threads",
    "1",
    "--tensorboard",
    "false",
];

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recurrent-mpi-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// `mpirun -np N recurrent ARGS`, as root in a container if need be.
fn mpirun(np: usize, args: &[&str]) -> Command {
    let mut c = Command::new("mpirun");
    c.args(["-np", &np.to_string(), "--oversubscribe", BIN])
        .args(args);
    // Containers: root is allowed, and the shared-memory transport copies without CMA.
    c.env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none");
    c
}

fn ok(mut c: Command) -> Output {
    let o = c
        .output()
        .expect("start the command (is Open MPI installed?)");
    assert!(
        o.status.success(),
        "{c:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn train(np: usize, out: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&str> = SMALL.to_vec();
    args.extend(extra);
    let o = out.to_str().unwrap();
    args.extend(["--out", o]);
    ok(if np == 0 {
        let mut c = Command::new(BIN);
        c.args(&args);
        c
    } else {
        mpirun(np, &args)
    })
}

fn sha(dir: &Path) -> String {
    let o = ok({
        let mut c = Command::new(BIN);
        c.args(["inspect", dir.to_str().unwrap(), "--json"]);
        c
    });
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["weights_sha256"].as_str().unwrap().to_string()
}

fn weights(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let ck = recurrent::checkpoint::read(dir.join("best.safetensors")).unwrap();
    ck.params()
        .map(|(n, t)| (n.to_string(), t.to_tensor::<f32>().unwrap().into_vec()))
        .collect()
}

fn last_step(dir: &Path) -> u64 {
    let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    metrics
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["step"].as_u64())
        .max()
        .unwrap()
}

#[test]
fn two_ranks_are_reproducible_and_match_one_process() {
    let steps = ["--steps", "40", "--dropout", "0"];
    let (a, b, one) = (tmp("a"), tmp("b"), tmp("one"));
    let out = train(2, &a, &steps);
    train(2, &b, &steps);
    train(0, &one, &steps);
    assert_eq!(
        sha(&a),
        sha(&b),
        "a rerun with 2 ranks must give the same bits"
    );
    // Rank 0 alone printed.
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("training a lstm").count(), 1, "{err}");
    // Against one process with the same global batch: float32 rounding, grown over 40 steps.
    let (wa, w1) = (weights(&a), weights(&one));
    assert_eq!(wa.len(), w1.len());
    let mut worst = 0f32;
    for ((na, va), (n1, v1)) in wa.iter().zip(&w1) {
        assert_eq!(na, n1);
        for (x, y) in va.iter().zip(v1) {
            worst = worst.max((x - y).abs() / y.abs().max(1.0));
        }
    }
    eprintln!("2 ranks against 1 process after 40 steps: max relative difference {worst:e}");
    assert!(worst < 1e-4, "2 ranks drifted from one process: {worst:e}");
}

#[test]
fn a_killed_rank_ends_the_job_and_resume_is_bit_identical() {
    let steps = ["--steps", "2000", "--save-every", "100"];
    let (full, cut) = (tmp("full"), tmp("cut"));
    train(2, &full, &steps);
    let mut args: Vec<&str> = SMALL.to_vec();
    args.extend(steps);
    args.extend(["--out", cut.to_str().unwrap()]);
    let job = mpirun(2, &args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for a checkpoint past the first, then kill one rank (a child of mpirun).
    let t0 = Instant::now();
    let target = cut.join("checkpoints").join("step-000000300.safetensors");
    while !target.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let ranks = Command::new("pgrep")
        .args(["-P", &job.id().to_string()])
        .output()
        .unwrap();
    let pids = String::from_utf8_lossy(&ranks.stdout).to_string();
    let victim = pids.split_whitespace().last().expect("rank processes");
    Command::new("kill").args(["-9", victim]).status().unwrap();
    // The job ends on its own, with an error that names the rank: no hang.
    let t1 = Instant::now();
    let out = job.wait_with_output().unwrap();
    assert!(
        t1.elapsed() < Duration::from_secs(60),
        "the job hung after a rank died"
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rank") && err.contains("signal 9"), "{err}");
    if last_step(&cut) < 2000 {
        let again = mpirun(2, &["train", "lm", "--resume", cut.to_str().unwrap()]);
        ok(again);
    }
    assert_eq!(last_step(&cut), 2000);
    assert_eq!(
        sha(&cut),
        sha(&full),
        "the resumed run must end on the same bits"
    );
}

#[test]
fn a_checkpoint_continues_under_another_number_of_ranks() {
    // 2 ranks, then one process; and one process, then 2 ranks: the carried LSTM state is
    // gathered into the checkpoint and split again.
    for (first, then) in [(2usize, 0usize), (0, 2)] {
        let d = tmp(&format!("switch-{first}-{then}"));
        train(first, &d, &["--steps", "20"]);
        let resume = [
            "train",
            "lm",
            "--resume",
            d.to_str().unwrap(),
            "--steps",
            "40",
        ];
        ok(if then == 0 {
            let mut c = Command::new(BIN);
            c.args(resume);
            c
        } else {
            mpirun(then, &resume)
        });
        assert_eq!(last_step(&d), 40);
        let ck =
            recurrent::checkpoint::read(d.join("checkpoints").join("step-000000040.safetensors"))
                .unwrap();
        // [layers, global batch, hidden], whoever wrote it.
        let carry = ck.get("train_state.task.carry.h").unwrap();
        assert_eq!(carry.shape(), &[1, 8, 64]);
    }
}

#[test]
fn a_batch_smaller_than_the_ranks_is_refused() {
    let d = tmp("small-batch");
    let mut args: Vec<&str> = SMALL.to_vec();
    let at = args.iter().position(|&a| a == "--batch").unwrap();
    args[at + 1] = "1";
    args.extend(["--steps", "5", "--out", d.to_str().unwrap()]);
    let out = mpirun(2, &args).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--batch 1 is smaller than the 2 ranks"),
        "{err}"
    );
}

#[test]
fn only_training_runs_under_mpirun() {
    let out = mpirun(2, &["bench", "--mode", "peak"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("only `recurrent train ...` runs"), "{err}");
}
