//! End to end: `recurrent diagnose` on fresh models and on a checkpoint that
//! `recurrent lab long-range` trained, `recurrent lab clipping`, and their error cases.

use std::path::PathBuf;
use std::process::{Command, Output};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recurrent-grad-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(args)
        .output()
        .unwrap()
}

fn ok_json(args: &[&str]) -> serde_json::Value {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "recurrent {args:?} failed:\n{err}");
    let out = String::from_utf8(o.stdout).unwrap();
    assert_eq!(out.lines().count(), 1, "--json prints one line: {out}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn diagnose_fresh_models_and_a_lab_checkpoint() {
    let d = tmp("diag");
    let png = d.join("fresh.png");
    let v = ok_json(&[
        "diagnose",
        "--cell",
        "rnn-tanh,lstm",
        "--length",
        "30",
        "--hidden",
        "8",
        "--batch",
        "4",
        "--out",
        png.to_str().unwrap(),
        "--json",
    ]);
    let models = v["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    for m in models {
        assert_eq!(m["dh"][0].as_array().unwrap().len(), 30);
        assert_eq!(m["dx"].as_array().unwrap().len(), 30);
        assert!(m["verdicts"][0]["verdict"].is_string());
        assert!(m["spectra"][0]["whole"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(
        models[1]["spectra"][0]["gates"].as_array().unwrap().len(),
        4
    );
    assert!(png.metadata().unwrap().len() > 1000);

    let lab = d.join("lab");
    let o = run(&[
        "lab",
        "long-range",
        "--lengths",
        "12",
        "--cells",
        "gru",
        "--hidden",
        "8",
        "--steps",
        "20",
        "--eval-every",
        "10",
        "--test-size",
        "40",
        "--out",
        lab.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = std::fs::read_to_string(lab.join("table.md")).unwrap();
    assert!(table.contains("| gru | 12 |"), "{table}");
    assert!(
        table.contains("Command: `recurrent lab long-range"),
        "{table}"
    );
    assert!(lab.join("curves-T12.png").exists());
    let run_dir = lab.join("adding-T12-gru");
    let v = ok_json(&[
        "diagnose",
        "--checkpoint",
        run_dir.to_str().unwrap(),
        "--batch",
        "3",
        "--out",
        d.join("ck.png").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(v["models"][0]["length"], 12);
    assert_eq!(v["models"][0]["cell"], "gru");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn clipping_records_both_runs_step_by_step() {
    let d = tmp("clip");
    let v = ok_json(&[
        "lab",
        "clipping",
        "--hidden",
        "8",
        "--length",
        "10",
        "--steps",
        "15",
        "--eval-every",
        "100",
        "--test-size",
        "20",
        "--optimizer",
        "sgd",
        "--lr",
        "0.01",
        "--out",
        d.to_str().unwrap(),
        "--json",
    ]);
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["run"], "no-clip");
    assert_eq!(runs[1]["per_step"].as_array().unwrap().len(), 15);
    // The first step's gradient is the same with and without clipping (norms are pre-clip).
    assert_eq!(runs[0]["per_step"][0][2], runs[1]["per_step"][0][2]);
    assert!(d.join("clipping-grad-norm.png").exists());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn errors_name_the_missing_flag() {
    let o = run(&["diagnose", "--task", "digits", "--cell", "gru"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--data") && !err.contains("panicked"), "{err}");
    let o = run(&["diagnose", "--checkpoint", "/nonexistent/run"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/run"));
}

/// `diagnose --checkpoint <a train lm run> --data TEXT`: the user's own language model on
/// their own text; without --data it says what to give.
#[test]
fn diagnose_a_language_model_on_its_text() {
    let d = tmp("lm");
    let text = d.join("corpus.txt");
    let line = "the quick brown fox jumps over the lazy dog; pack my box with five dozen jugs.\n";
    std::fs::write(&text, line.repeat(40)).unwrap();
    let run_dir = d.join("run");
    let o = run(&[
        "train",
        "lm",
        "--data",
        text.to_str().unwrap(),
        "--steps",
        "3",
        "--hidden",
        "16",
        "--embed",
        "8",
        "--layers",
        "2",
        "--seq-len",
        "16",
        "--batch",
        "4",
        "--out",
        run_dir.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let png = d.join("lm.png");
    let v = ok_json(&[
        "diagnose",
        "--checkpoint",
        run_dir.to_str().unwrap(),
        "--data",
        text.to_str().unwrap(),
        "--length",
        "40",
        "--batch",
        "5",
        "--out",
        png.to_str().unwrap(),
        "--json",
    ]);
    let m = &v["models"][0];
    assert_eq!(m["task"], "lm");
    assert_eq!(m["dh"].as_array().unwrap().len(), 2, "one row per layer");
    let dh = m["dh"][1].as_array().unwrap();
    assert_eq!(dh.len(), 40);
    // The loss sits on the last step: its gradient there is the largest.
    let last = dh[39].as_f64().unwrap();
    assert!(dh.iter().all(|x| x.as_f64().unwrap() <= last * 1.0001));
    assert!(png.metadata().unwrap().len() > 1000);
    let o = run(&["diagnose", "--checkpoint", run_dir.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--data"));
}
