//! The TensorBoard log of a run: what `train lm` writes to DIR/tensorboard, read back with
//! the TFRecord length and CRC checks; what a resume adds; and `--tensorboard false`. Then
//! `export` of the same run, and its errors.

use recurrent::train::tensorboard::{event_files, proto, read_events};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recurrent-tb-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ok(args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "recurrent {args:?} failed:\n{err}");
}

/// One event file's summary values: tag -> [(step, kind)].
type Values = BTreeMap<String, Vec<(i64, proto::Kind)>>;

/// Every summary value of the run, file by file, and all its events.
fn values(run: &Path) -> (Vec<Values>, Vec<proto::Event>) {
    let mut per_file = Vec::new();
    let mut all = Vec::new();
    for f in event_files(run) {
        let evs = read_events(&f).unwrap();
        assert_eq!(
            evs[0].what,
            Some(proto::What::FileVersion("brain.Event:2".into())),
            "{} must start with the file version",
            f.display()
        );
        let mut m = Values::new();
        for e in &evs {
            if let Some(proto::What::Summary(s)) = &e.what {
                for v in &s.value {
                    m.entry(v.tag.clone())
                        .or_default()
                        .push((e.step, v.kind.clone().unwrap()));
                }
            }
        }
        per_file.push(m);
        all.extend(evs);
    }
    (per_file, all)
}

#[test]
fn a_run_is_watched_in_tensorboard_and_a_resume_purges_what_it_retrains() {
    let d = tmp("lm");
    let data = d.join("corpus.txt");
    std::fs::write(
        &data,
        "the quick brown fox jumps over the lazy dog.\n".repeat(60),
    )
    .unwrap();
    let out = d.join("run");
    let (data_s, out_s) = (data.to_str().unwrap(), out.to_str().unwrap());
    let small = [
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
        "--eval-every",
        "10",
    ];
    let mut args = vec![
        "train", "lm", "--data", data_s, "--out", out_s, "--steps", "20",
    ];
    args.extend(small);
    ok(&args);
    let (files, _) = values(&out);
    // The training run's file, then the finished run's results and plots.
    assert_eq!(files.len(), 2, "{files:?}");
    let train = &files[0];
    for tag in [
        "train/loss",
        "train/lr",
        "train/grad_norm",
        "train/tokens_per_s",
        "val/loss",
        "val/bpc",
    ] {
        let v = train
            .get(tag)
            .unwrap_or_else(|| panic!("no {tag} in {:?}", train.keys()));
        assert!(v
            .iter()
            .all(|(_, k)| matches!(k, proto::Kind::SimpleValue(x) if x.is_finite())));
    }
    // The loss at step 1 and every 10 steps, as metrics.jsonl has it.
    let steps: Vec<i64> = train["train/loss"].iter().map(|(s, _)| *s).collect();
    assert_eq!(steps, [1, 10, 20]);
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
    match &train["train/loss"][0].1 {
        proto::Kind::SimpleValue(x) => assert_eq!(*x, first["loss"].as_f64().unwrap() as f32),
        k => panic!("{k:?}"),
    }
    // A text sample at each evaluation, in the corpus's characters.
    let samples = &train["samples/text"];
    assert_eq!(samples.len(), 2);
    match &samples[0].1 {
        proto::Kind::Tensor(t) => {
            let s = String::from_utf8(t.string_val[0].clone()).unwrap();
            assert_eq!(s.chars().count(), 300);
            assert!(s
                .chars()
                .all(|c| "the quick brown fox jumps over the lazy dog.\n".contains(c)));
        }
        k => panic!("{k:?}"),
    }
    // The loss plot, as an image at the last step.
    match files[1].get("plots/loss").map(|v| &v[0]) {
        Some((20, proto::Kind::Image(im))) => {
            assert!(im.width > 100 && im.height > 100);
            assert_eq!(&im.encoded_image_string[1..4], b"PNG");
        }
        o => panic!("no loss plot at step 20: {o:?}"),
    }

    // A resume starts a new file with a session start at the step it continues from.
    ok(&["train", "lm", "--resume", out_s, "--steps", "30"]);
    let (files, events) = values(&out);
    assert_eq!(files.len(), 4);
    let starts: Vec<i64> = events
        .iter()
        .filter(|e| matches!(&e.what, Some(proto::What::SessionLog(s)) if s.status == proto::SESSION_START))
        .map(|e| e.step)
        .collect();
    assert_eq!(starts, [20]);
    let resumed: Vec<i64> = files[2]["train/loss"].iter().map(|(s, _)| *s).collect();
    assert_eq!(resumed, [30]);

    // Switched off: no folder.
    let off = d.join("off");
    let mut args = vec![
        "train",
        "lm",
        "--data",
        data_s,
        "--out",
        off.to_str().unwrap(),
        "--steps",
        "2",
        "--tensorboard",
        "false",
    ];
    args.extend(small);
    ok(&args);
    assert!(off.join("metrics.jsonl").exists());
    assert!(!off.join("tensorboard").exists());

    // The run exports; what is not a model is refused by name, and nothing is written.
    let onnx = d.join("lm.onnx");
    let o = Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args([
            "export",
            "--checkpoint",
            out_s,
            "--out",
            onnx.to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["inputs"], serde_json::json!(["tokens", "h0", "c0"]));
    assert_eq!(v["outputs"], serde_json::json!(["logits", "hn", "cn"]));
    assert_eq!(
        v["bytes"].as_u64(),
        Some(std::fs::metadata(&onnx).unwrap().len())
    );
    let bad = d.join("bad.onnx");
    let o = Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args([
            "export",
            "--checkpoint",
            data_s,
            "--out",
            bad.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains(data_s) && !err.contains("panicked"),
        "{err}"
    );
    assert!(!bad.exists());
    let _ = std::fs::remove_dir_all(&d);
}
