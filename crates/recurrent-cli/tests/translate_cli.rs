//! End-to-end: `train translate` (a synthetic task and a small pairs file), then
//! `translate`: one line out per line in, `--nbest K` as K lines `score<TAB>text`, `--json`
//! as one object per line; `--json` training output as one object; bad input as one clear
//! error naming the file and line.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recurrent-trcli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run_with(args: &[&str], stdin: &str) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    c.wait_with_output().unwrap()
}

fn ok(args: &[&str], stdin: &str) -> String {
    let o = run_with(args, stdin);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "recurrent {args:?} failed:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    String::from_utf8(o.stdout).unwrap()
}

fn fails(args: &[&str], needle: &str) {
    let o = run_with(args, "");
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "{args:?} should fail");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(needle),
        "stderr of {args:?} lacks `{needle}`:\n{err}"
    );
}

#[test]
fn train_translate_and_translate_end_to_end() {
    let dir = tmp("synthetic");
    let run = dir.join("run");
    let r = run.to_str().unwrap();
    let out = ok(
        &[
            "train",
            "translate",
            "--synthetic",
            "reverse",
            "--synthetic-count",
            "600",
            "--hidden",
            "16",
            "--embed",
            "8",
            "--steps",
            "20",
            "--eval-every",
            "10",
            "--beam",
            "2",
            "--threads",
            "1",
            "--out",
            r,
            "--json",
        ],
        "",
    );
    assert_eq!(out.trim().lines().count(), 1, "--json: one object\n{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["steps"], 20);
    assert!(v["test"]["bleu_greedy"].is_number() && v["test"]["bleu_beam"].is_number());
    assert!(v["val_loss"].as_f64().unwrap() > 0.0);
    assert!(v["examples"].as_array().unwrap().len() > 3);
    for f in [
        "train.tsv",
        "valid.tsv",
        "test.tsv",
        "best.safetensors",
        "loss.png",
    ] {
        assert!(run.join(f).exists(), "{f}");
    }
    // The same --out again without --resume: refused, naming --resume.
    fails(
        &[
            "train",
            "translate",
            "--synthetic",
            "reverse",
            "--steps",
            "2",
            "--out",
            r,
        ],
        "--resume",
    );
    let input = "1 2 3\n4 5 6 7\n\n9 9 9\n";
    let plain = ok(&["translate", "--checkpoint", r], input);
    assert_eq!(
        plain.lines().count(),
        4,
        "one line out per line in:\n{plain}"
    );
    let greedy = ok(&["translate", "--checkpoint", r, "--beam", "1"], input);
    assert_eq!(greedy.lines().count(), 4);
    let nbest = ok(&["translate", "--checkpoint", r, "--nbest", "2"], input);
    let lines: Vec<&str> = nbest.lines().collect();
    assert_eq!(lines.len(), 8, "--nbest 2: two lines per input\n{nbest}");
    for l in &lines {
        let (score, _) = l.split_once('\t').expect("score<TAB>text");
        assert!(score.parse::<f64>().unwrap() <= 0.0);
    }
    let json = ok(
        &["translate", "--checkpoint", r, "--nbest", "2", "--json"],
        input,
    );
    assert_eq!(json.lines().count(), 4);
    for l in json.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(v["translation"].is_string());
        assert_eq!(v["nbest"].as_array().unwrap().len(), 2);
    }
    // Latin-1 input: the hint names --encoding, which translate has (issue 28, item 10).
    let latin1 = dir.join("latin1.txt");
    std::fs::write(&latin1, b"1 2 \xe9 3\n").unwrap();
    let l = latin1.to_str().unwrap();
    let o = run_with(&["translate", "--checkpoint", r, "--input", l], "");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--encoding"), "{err}");
    ok(
        &[
            "translate",
            "--checkpoint",
            r,
            "--input",
            l,
            "--encoding",
            "latin1",
        ],
        "",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_pairs_files_name_the_file_and_line() {
    let dir = tmp("bad");
    let p = dir.join("pairs.tsv");
    std::fs::write(&p, "Go.\tVa !\nHi.\tSalut !\nno tab\n").unwrap();
    let ps = p.to_str().unwrap();
    let out = dir.join("run");
    fails(
        &[
            "train",
            "translate",
            "--data",
            ps,
            "--out",
            out.to_str().unwrap(),
        ],
        "pairs.tsv: line 3: no tab",
    );
    std::fs::write(&p, "Go.\t\n").unwrap();
    fails(
        &["train", "translate", "--data", ps],
        "line 1: the target side is empty",
    );
    std::fs::write(&p, b"Go.\tVa \xff\n").unwrap();
    fails(&["train", "translate", "--data", ps], "not UTF-8");
    std::fs::write(&p, "").unwrap();
    fails(&["train", "translate", "--data", ps], "empty");
    fails(
        &["train", "translate", "--synthetic", "shuffle"],
        "--synthetic must be reverse or sort",
    );
    fails(
        &[
            "translate",
            "--checkpoint",
            dir.join("none").to_str().unwrap(),
        ],
        "none",
    );
    let _ = std::fs::remove_dir_all(&dir);
}
