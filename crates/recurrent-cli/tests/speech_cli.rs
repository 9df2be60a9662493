//! End-to-end on real recordings (../shared/data/speech/fsdd, skipped politely without it):
//! a small `train speech` on 300 files of two speakers learns well above chance in seconds,
//! and `transcribe` prints `path<TAB>digits<TAB>confidence` per file in order (`--json`: an
//! object per file), naming a broken file in a clear error.

mod common;

use common::{ok, run, shared_dir};

#[test]
fn small_training_learns_and_transcribe_reads_real_files() {
    let Some(shared) = shared_dir() else { return };
    let fsdd = shared.join("data/speech/fsdd");
    let tmp = std::env::temp_dir().join(format!("recurrent-speech-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let data = tmp.join("data");
    std::fs::create_dir_all(&data).unwrap();
    // 2 speakers x 10 digits x 15 indices: 100 test (0-4), 40 validation (5-6), 160 training.
    for sp in ["jackson", "nicolas"] {
        for d in 0..10 {
            for i in 0..15 {
                let name = format!("{d}_{sp}_{i}.wav");
                std::fs::copy(fsdd.join(&name), data.join(&name)).unwrap();
            }
        }
    }
    let out = tmp.join("run");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let json = ok(&[
        "train",
        "speech",
        "--data",
        d,
        "--out",
        o,
        "--cell",
        "gru",
        "--hidden",
        "48",
        "--layers",
        "1",
        "--no-augment",
        "--lr",
        "5e-3",
        "--epochs",
        "12",
        "--val-indices",
        "5-6",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    let acc = v["test"]["accuracy"].as_f64().unwrap();
    println!("test accuracy {acc} after {} s", v["train_s"]);
    assert!(acc >= 0.5, "test accuracy {acc} (chance 0.1)");
    assert_eq!(v["test"]["n"], 100);
    assert!(v["test_by_speaker"]["jackson"].is_number());
    assert!(out.join("best.safetensors").is_file() && out.join("confusion.png").is_file());

    // transcribe: one line per file, in order; digits are 0-9; confidence in (0, 1].
    let files: Vec<String> = ["3_jackson_0.wav", "7_nicolas_1.wav", "0_jackson_2.wav"]
        .iter()
        .map(|f| data.join(f).display().to_string())
        .collect();
    let mut args = vec!["transcribe", "--checkpoint", o];
    args.extend(files.iter().map(|s| s.as_str()));
    let text = ok(&args);
    let text_plain = text.clone();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for (line, f) in lines.iter().zip(&files) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 3, "{line}");
        assert_eq!(cols[0], f);
        assert!(cols[1].len() == 1 && cols[1].chars().all(|c| c.is_ascii_digit()));
        let p: f64 = cols[2].parse().unwrap();
        assert!(p > 0.0 && p <= 1.0);
    }
    args.push("--json");
    let text = ok(&args);
    for (line, f) in text.lines().zip(&files) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["path"], f.as_str());
        assert!(v["confidence"].as_f64().unwrap() > 0.0);
    }
    // A broken file: a clear error naming it, the other files still transcribed.
    let bad = tmp.join("bad.wav");
    std::fs::write(&bad, b"RIFF\x10\x00\x00\x00WAVEfmt ").unwrap();
    let o = run(&[
        "transcribe",
        "--checkpoint",
        o,
        &files[0],
        bad.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("bad.wav") && !err.contains("panicked"),
        "{err}"
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1);

    // Not speech (issue 28, item 11): silence and a pure tone get confidence 0 and a
    // note on stderr; a file without samples is refused by name.
    let write = recurrent_tasks::speech::audio::wav::write_wav16;
    let (silence, tone, empty) = (
        tmp.join("silence.wav"),
        tmp.join("tone.wav"),
        tmp.join("empty.wav"),
    );
    write(&silence, &vec![0.0; 8000], 8000).unwrap();
    let sine: Vec<f32> = (0..8000)
        .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 8000.0).sin())
        .collect();
    write(&tone, &sine, 8000).unwrap();
    write(&empty, &[], 8000).unwrap();
    let (s_, t_) = (silence.to_str().unwrap(), tone.to_str().unwrap());
    let o2 = run(&[
        "transcribe",
        "--checkpoint",
        out.to_str().unwrap(),
        s_,
        t_,
        "--json",
    ]);
    let err = String::from_utf8_lossy(&o2.stderr);
    assert!(o2.status.success(), "{err}");
    assert_eq!(err.matches("no speech heard").count(), 2, "{err}");
    for line in String::from_utf8_lossy(&o2.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["confidence"], 0.0, "{line}");
        assert!(v["non_speech"].is_string(), "{line}");
    }
    let o2 = run(&[
        "transcribe",
        "--checkpoint",
        out.to_str().unwrap(),
        empty.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o2.stderr);
    assert!(
        !o2.status.success() && err.contains("empty.wav") && err.contains("no samples"),
        "{err}"
    );

    // An ensemble of a model with itself: the same answers and confidences.
    let ck = out.to_str().unwrap();
    let mut twice = vec!["transcribe", "--checkpoint", ck, "--checkpoint", ck];
    twice.extend(files.iter().map(|s| s.as_str()));
    assert_eq!(ok(&twice), text_plain);

    // Flag errors name the flag.
    let o = run(&[
        "train",
        "speech",
        "--data",
        d,
        "--holdout-speaker",
        "nobody",
        "--out",
        tmp.join("x").to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--holdout-speaker nobody"));
    let _ = std::fs::remove_dir_all(&tmp);
}

/// `--extra-train DIR` adds every recording of DIR to training (none to validation or test),
/// the default trims each word's silence (stored in the checkpoint), and an extra folder
/// without recordings is an error naming it.
#[test]
fn extra_training_folders_add_recordings_to_training_only() {
    let Some(shared) = shared_dir() else { return };
    let fsdd = shared.join("data/speech/fsdd");
    let tmp = std::env::temp_dir().join(format!("recurrent-speech-extra-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let (data, extra, empty) = (tmp.join("data"), tmp.join("extra"), tmp.join("empty"));
    for dir in [&data, &extra, &empty] {
        std::fs::create_dir_all(dir).unwrap();
    }
    // jackson 0-14: 50 test (0-4), 20 validation (5-6), 80 training; nicolas 0-4 as extra.
    for d in 0..10 {
        for i in 0..15 {
            let name = format!("{d}_jackson_{i}.wav");
            std::fs::copy(fsdd.join(&name), data.join(&name)).unwrap();
        }
        for i in 0..5 {
            let name = format!("{d}_nicolas_{i}.wav");
            std::fs::copy(fsdd.join(&name), extra.join(&name)).unwrap();
        }
    }
    let (d, x) = (data.to_str().unwrap(), extra.to_str().unwrap());
    let out = tmp.join("run");
    let json = ok(&[
        "train",
        "speech",
        "--data",
        d,
        "--extra-train",
        x,
        "--out",
        out.to_str().unwrap(),
        "--cell",
        "gru",
        "--hidden",
        "16",
        "--layers",
        "1",
        "--epochs",
        "1",
        "--val-indices",
        "5-6",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["train_recordings"], 130, "{json}");
    assert_eq!(v["valid"]["n"], 20);
    assert_eq!(v["test"]["n"], 50);
    let config = std::fs::read_to_string(out.join("config.json")).unwrap_or_default();
    assert!(config.contains("trim_db"), "{config}");

    let o = run(&[
        "train",
        "speech",
        "--data",
        d,
        "--extra-train",
        empty.to_str().unwrap(),
        "--out",
        tmp.join("y").to_str().unwrap(),
        "--epochs",
        "1",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("empty") && !err.contains("panicked"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
