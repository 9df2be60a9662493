//! Reliability end to end: a run killed with SIGKILL at three points (one of them in the
//! middle of writing a checkpoint) and resumed each time ends with weights bit-identical to
//! a run never stopped; NaN in training stops with a message and keeps the last good
//! checkpoint, or is skipped and counted with `--on-nan skip`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recurrent-rel-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn corpus(dir: &Path) -> PathBuf {
    let p = dir.join("corpus.txt");
    let text: String = (0..400)
        .map(|i| {
            format!(
                "line {i}: the quick brown fox jumps over the lazy dog {}\n",
                i * 7 % 13
            )
        })
        .collect();
    std::fs::write(&p, text).unwrap();
    p
}

fn train_args<'a>(data: &'a str, dir_flag: &'a str, dir: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "lm",
        "--data",
        data,
        dir_flag,
        dir,
        "--steps",
        "60",
        "--save-every",
        "10",
        "--hidden",
        "48",
        "--layers",
        "2",
        "--embed",
        "16",
        "--seq-len",
        "32",
        "--batch",
        "8",
        "--dropout",
        "0.2",
        "--threads",
        "1",
        "--eval-every",
        "1000",
        "--seed",
        "7",
    ]
}

fn spawn(args: &[&str], delay_ms: u64) -> Child {
    Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(args)
        .env("RECURRENT_TEST_WRITE_DELAY_MS", delay_ms.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn sha(dir: &Path) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(["inspect", dir.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["finished"], true, "the run must have finished");
    v["weights_sha256"].as_str().unwrap().to_string()
}

/// Waits until `cond` holds (or the child exits), then SIGKILLs the child. Returns whether
/// the condition was met before the child ended.
fn kill_when(child: &mut Child, cond: impl Fn() -> bool) -> bool {
    let t0 = Instant::now();
    loop {
        if cond() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            return true;
        }
        if child.try_wait().unwrap().is_some() || t0.elapsed() > Duration::from_secs(120) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn checkpoints(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("checkpoints"))
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn sigkill_at_three_points_resumes_bit_for_bit() {
    let d = tmp("kill");
    let data = corpus(&d);
    let data_s = data.to_str().unwrap();
    let whole = d.join("whole");
    let st = Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(train_args(data_s, "--out", whole.to_str().unwrap()))
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let want = sha(&whole);

    let run = d.join("killed");
    let run_s = run.to_str().unwrap();
    // 1. Before the first checkpoint: the resume starts from step 0.
    let mut c = spawn(&train_args(data_s, "--out", run_s), 150);
    let hit = kill_when(&mut c, || run.join("config.json").exists());
    assert!(hit, "the run ended before it could be killed");
    // 2. In the middle of writing a checkpoint (temporary file present, not yet renamed).
    let mut c = spawn(&train_args(data_s, "--resume", run_s), 150);
    let hit = kill_when(&mut c, || {
        checkpoints(&run).iter().any(|n| n.contains(".tmp-"))
            && checkpoints(&run).iter().any(|n| n.starts_with("step-"))
    });
    assert!(hit, "never caught a checkpoint being written");
    // 3. Between checkpoints, after a few have been written.
    let mut c = spawn(&train_args(data_s, "--resume", run_s), 150);
    let before = checkpoints(&run)
        .iter()
        .filter(|n| n.starts_with("step-") && !n.contains(".tmp-"))
        .max()
        .cloned();
    let hit = kill_when(&mut c, || {
        let now = checkpoints(&run)
            .iter()
            .filter(|n| n.starts_with("step-") && !n.contains(".tmp-"))
            .max()
            .cloned();
        now.is_some() && now != before
    });
    assert!(hit, "never saw a new checkpoint");
    // Finish.
    let st = Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(train_args(data_s, "--resume", run_s))
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert!(
        !checkpoints(&run).iter().any(|n| n.contains(".tmp-")),
        "left-over temporary file: {:?}",
        checkpoints(&run)
    );
    assert_eq!(
        sha(&run),
        want,
        "a killed and resumed run must end with the same weights"
    );
}

#[test]
fn a_second_run_on_the_same_directory_is_refused() {
    let d = tmp("lock");
    let data = corpus(&d);
    let run = d.join("run");
    let mut c = spawn(
        &train_args(data.to_str().unwrap(), "--out", run.to_str().unwrap()),
        200,
    );
    let t0 = Instant::now();
    while !run.join(".lock").exists() && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let o = Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(train_args(
            data.to_str().unwrap(),
            "--resume",
            run.to_str().unwrap(),
        ))
        .output()
        .unwrap();
    let _ = c.kill();
    let _ = c.wait();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("another run"), "{err}");
}

#[test]
fn nan_in_training_stops_or_skips() {
    let d = tmp("nan");
    let data = corpus(&d);
    let data_s = data.to_str().unwrap();
    let run = d.join("run");
    let args = |dir: &str, extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "train",
            "lm",
            "--data",
            data_s,
            "--out",
            dir,
            "--steps",
            "40",
            "--save-every",
            "1",
            "--hidden",
            "16",
            "--layers",
            "1",
            "--embed",
            "8",
            "--seq-len",
            "16",
            "--batch",
            "4",
            "--threads",
            "1",
            "--clip",
            "0",
            "--optimizer",
            "sgd",
            "--lr",
            "3e38",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let o = Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(args(run.to_str().unwrap(), &[]))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "an exploding run must stop");
    assert!(
        err.contains("NaN or infinite") && err.contains("--lr") && err.contains("step"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
    // The last good checkpoint is there and loads.
    let cks = checkpoints(&run);
    assert!(cks.iter().any(|n| n.starts_with("step-")), "{cks:?}");
    let o = Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(["inspect", run.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(o.status.success());

    let run2 = d.join("skip");
    let o = Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(args(
            run2.to_str().unwrap(),
            &["--on-nan", "skip", "--json"],
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["nan_skips"].as_u64().unwrap() > 0);
}

/// Ctrl-C (SIGINT), and SIGTERM as `timeout` and schedulers send it, write a final
/// checkpoint and exit 130 (an interrupted command, to a shell); the run then resumes to
/// the same bits as an uninterrupted one.
#[test]
fn sigint_checkpoints_and_resumes() {
    interrupt_checkpoints_and_resumes("INT");
}

#[test]
fn sigterm_checkpoints_and_resumes() {
    interrupt_checkpoints_and_resumes("TERM");
}

fn interrupt_checkpoints_and_resumes(signal: &str) {
    let d = tmp(&format!("sig{}", signal.to_lowercase()));
    let data = corpus(&d);
    let data_s = data.to_str().unwrap();
    let whole = d.join("whole");
    let st = Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(train_args(data_s, "--out", whole.to_str().unwrap()))
        .output()
        .unwrap();
    assert!(st.status.success());
    let run = d.join("int");
    let c = Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(train_args(data_s, "--out", run.to_str().unwrap()))
        .env("RECURRENT_TEST_WRITE_DELAY_MS", "100")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first periodic checkpoint, then interrupt.
    let t0 = Instant::now();
    while !checkpoints(&run)
        .iter()
        .any(|n| n.starts_with("step-") && !n.contains(".tmp-"))
        && t0.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    let pid = c.id().to_string();
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = c.wait_with_output().unwrap();
    let status = out.status;
    assert_eq!(
        status.code(),
        Some(130),
        "SIG{signal} must save and exit 130, got {status}"
    );
    // The hint is a whole command that works as printed (issue 28, item 6).
    let again = format!(
        "continue with `recurrent train lm --resume {}`",
        run.display()
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&again), "no `{again}` in:\n{err}");
    assert!(
        checkpoints(&run)
            .iter()
            .any(|n| n.starts_with("step-") && !n.contains(".tmp-")),
        "SIG{signal} left no checkpoint"
    );
    let o = Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(["inspect", run.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["finished"], false, "an interrupted run is not finished");
    // The run's directory alone: its flags come from DIR/command.json.
    let st = Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(["train", "lm", "--resume", run.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert_eq!(sha(&run), sha(&whole));
}

/// Size flags have an upper bound, said in `--help` and enforced before any work:
/// `--threads 100000` once panicked spawning threads, `--beam 100000` ran 34 minutes at
/// 5.7 GB.
#[test]
fn size_flags_are_bounded() {
    let cases: &[(&[&str], &str)] = &[
        (&["train", "lm", "--threads", "100000"], "--threads"),
        (&["train", "lm", "--threads", "0"], "--threads"),
        (
            &["bench", "--mode", "matmul", "--threads", "100000"],
            "--threads",
        ),
        (&["train", "translate", "--beam", "100000"], "--beam"),
        (&["translate", "--checkpoint", "x", "--beam", "0"], "--beam"),
        (
            &["transcribe", "x.wav", "--checkpoint", "x", "--beam", "65"],
            "--beam",
        ),
    ];
    for (args, flag) in cases {
        let o = Command::new(env!("CARGO_BIN_EXE_recurrent"))
            .args(*args)
            .output()
            .unwrap();
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert!(
            e.contains(flag) && (e.contains("from 1 to 256") || e.contains("from 1 to 64")),
            "{args:?}: the error should name {flag} and its range: {e}"
        );
    }
    for (cmd, flag, range) in [
        (&["train", "lm", "--help"][..], "--threads", "1 to 256"),
        (&["train", "translate", "--help"][..], "--beam", "to 64"),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_recurrent"))
            .args(cmd)
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&o.stdout);
        let line = help.lines().find(|l| l.contains(flag)).unwrap_or("");
        let next = help
            .lines()
            .skip_while(|l| !l.contains(flag))
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            line.contains(range) || next.contains(range),
            "{cmd:?}: --help should say {flag}'s range: {next}"
        );
    }
}

/// A closed stderr (`2>&1 | head -3`) does not stop a run: it trains to the end and saves
/// (it panicked, "failed printing to stderr"). A closed stdout ends `sample` quietly with
/// 141, as SIGPIPE would.
#[test]
fn closed_pipes_neither_panic_nor_lose_work() {
    let d = tmp("pipes");
    let data = corpus(&d);
    let run = d.join("run");
    let mut c = Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(train_args(
            data.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the first line.
    drop(c.stderr.take());
    drop(c.stdout.take());
    let status = c.wait().unwrap();
    assert!(status.success(), "closed stderr: {status}");
    let i = Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(["inspect", run.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&i.stdout).unwrap();
    assert_eq!(v["step"], 60);
    assert_eq!(v["finished"], true);

    let mut s = Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(["sample", "--checkpoint", run.to_str().unwrap()])
        .args(["--length", "200000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(s.stdout.take());
    let o = s.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(141));
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The main job's Ctrl-C hint is a command bare `recurrent` takes (issue 28, item 6): it
/// said `--resume runs/demo-...`, which only `train` subcommands had.
#[test]
fn the_main_jobs_hint_resumes_it() {
    let d = tmp("demo-hint");
    let c = Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .current_dir(&d)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let runs = d.join("runs");
    let t0 = Instant::now();
    let started = || {
        std::fs::read_dir(&runs)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.path().join("config.json").exists())
    };
    while !started() && t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let sent = Command::new("kill")
        .args(["-INT", &c.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = c.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    let hint = err
        .lines()
        .find_map(|l| l.split("continue with `").nth(1))
        .unwrap_or_else(|| panic!("no hint in:\n{err}"));
    let dir = hint
        .strip_prefix("recurrent --resume ")
        .and_then(|r| r.strip_suffix('`'))
        .unwrap_or_else(|| panic!("the hint is not `recurrent --resume DIR`: {hint}"));
    assert!(d.join(dir).join("checkpoints").is_dir(), "{dir}");
}
