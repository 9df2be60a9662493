//! End-to-end: `train classify`, `classify`, `train tag`, `tag` on small generated inputs:
//! output formats (`label<TAB>probability`; `token<TAB>tag` with a blank line between
//! sentences; one JSON object per line with --json; CoNLL-U), detection stated in the log,
//! and bad input giving one clear error with its line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recurrent-ctcli-{}-{name}", std::process::id()));
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

fn ok(args: &[&str], stdin: &str) -> (String, String) {
    let o = run_with(args, stdin);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "recurrent {args:?} failed:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    (String::from_utf8(o.stdout).unwrap(), err)
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

fn write_sentiment(path: &Path, n: usize, offset: usize) {
    let (pos, neg) = (["great", "superb"], ["awful", "dull"]);
    let fill = ["the", "film", "was", "a", "plot"];
    let mut s = String::new();
    for i in 0..n {
        let k = i + offset;
        let y = k % 2;
        let word = if y == 1 {
            pos[k / 2 % 2]
        } else {
            neg[k / 2 % 2]
        };
        s.push_str(&format!(
            "{y} {} {word} {}\n",
            fill[k % 5],
            fill[(k / 3) % 5]
        ));
    }
    std::fs::write(path, s).unwrap();
}

#[test]
fn classify_end_to_end() {
    let d = tmp("cls");
    let (train, dev) = (d.join("train.txt"), d.join("dev.txt"));
    write_sentiment(&train, 200, 0);
    write_sentiment(&dev, 40, 7);
    let out = d.join("run");
    let flags = [
        "train",
        "classify",
        "--data",
        train.to_str().unwrap(),
        "--valid",
        dev.to_str().unwrap(),
        "--test",
        dev.to_str().unwrap(),
        "--hidden",
        "8",
        "--embed",
        "8",
        "--lr",
        "0.02",
        "--epochs",
        "4",
        "--json",
    ];
    let mut args = flags.to_vec();
    args.extend(["--out", out.to_str().unwrap()]);
    let (stdout, err) = ok(&args, "");
    assert!(err.contains("`label text` lines"), "{err}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(v["test"]["accuracy"].as_f64().unwrap() > 0.9, "{v}");
    assert_eq!(v["test"]["confusion"].as_array().unwrap().len(), 2);
    assert!(v["valid"]["macro_f1"].as_f64().is_some());
    assert!(out.join("best.safetensors").is_file() && out.join("results.json").is_file());

    let run = out.to_str().unwrap();
    let (text, _) = ok(
        &["classify", "--checkpoint", run],
        "the film was great\na dull plot\n",
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let (label, p) = lines[0].split_once('\t').unwrap();
    assert_eq!(label, "1");
    assert!(p.parse::<f64>().unwrap() > 0.5);
    assert!(lines[1].starts_with("0\t"));
    let (json, _) = ok(&["classify", "--checkpoint", run, "--json"], "superb\n\n");
    let objs: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), 2);
    assert_eq!(objs[0]["label"], "1");
    assert!(objs[0]["probabilities"]["0"].as_f64().is_some());

    // A finished run resumed says so and changes nothing.
    let results = std::fs::read(out.join("results.json")).unwrap();
    let mut args = flags.to_vec();
    args.extend(["--resume", out.to_str().unwrap()]);
    let (stdout, err) = ok(&args, "");
    assert!(err.contains("complete"), "{err}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["already_complete"], true);
    assert_eq!(std::fs::read(out.join("results.json")).unwrap(), results);
    // A run directory is not overwritten.
    fails(
        &[
            "train",
            "classify",
            "--data",
            train.to_str().unwrap(),
            "--out",
            run,
        ],
        "--resume",
    );
    let bad = d.join("bad.txt");
    std::fs::write(&bad, "1 fine\n0\n").unwrap();
    fails(
        &[
            "train",
            "classify",
            "--data",
            bad.to_str().unwrap(),
            "--out",
            d.join("r2").to_str().unwrap(),
        ],
        "line 2, column 1",
    );
    let _ = std::fs::remove_dir_all(&d);
}

fn write_conllu(path: &Path, n: usize, seed: usize) {
    let stems = ["walk", "talk", "sing", "read", "jump"];
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!("# sent_id = {i}\n"));
        for j in 0..(2 + (i + seed) % 4) {
            let id = j + 1;
            let stem = stems[(i * 7 + j * 3 + seed) % 5];
            let (w, t) = match (i + j + seed) % 3 {
                0 => (format!("{stem}ly"), "ADV"),
                1 => (format!("{stem}ing"), "VERB"),
                _ => ("Anna".to_string(), "PROPN"),
            };
            s.push_str(&format!("{id}\t{w}\t_\t{t}\t_\t_\t_\t_\t_\t_\n"));
        }
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

#[test]
fn tag_end_to_end() {
    let d = tmp("tag");
    let (train, dev) = (d.join("train.conllu"), d.join("dev.conllu"));
    write_conllu(&train, 150, 0);
    write_conllu(&dev, 30, 1);
    let out = d.join("run");
    let (stdout, err) = ok(
        &[
            "train",
            "tag",
            "--data",
            train.to_str().unwrap(),
            "--valid",
            dev.to_str().unwrap(),
            "--test",
            dev.to_str().unwrap(),
            "--hidden",
            "8",
            "--embed",
            "8",
            "--suffix-embed",
            "4",
            "--lr",
            "0.02",
            "--epochs",
            "3",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ],
        "",
    );
    assert!(err.contains("CoNLL-U, column UPOS"), "{err}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(v["test"]["accuracy"].as_f64().unwrap() > 0.9, "{v}");
    assert!(v["test"]["unseen_tokens"].as_u64().is_some());
    let run = out.to_str().unwrap();
    let (text, _) = ok(&["tag", "--checkpoint", run], "Anna walking\nsingly\n");
    assert_eq!(text, "Anna\tPROPN\nwalking\tVERB\n\nsingly\tADV\n\n");
    let (conllu, _) = ok(
        &["tag", "--checkpoint", run, "--format", "conllu"],
        "Anna walking\n",
    );
    assert!(conllu.contains("1\tAnna\t_\tPROPN\t"), "{conllu}");
    let (json, _) = ok(&["tag", "--checkpoint", run, "--json"], "Anna\n");
    let o: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(o["tags"][0], "PROPN");

    let bad = d.join("bad.conllu");
    std::fs::write(
        &bad,
        "# x\n1\tA\t_\tDET\t_\t_\t_\t_\t_\t_\n2 B _ NOUN _ _ _ _ _ _\n",
    )
    .unwrap();
    fails(
        &[
            "train",
            "tag",
            "--data",
            bad.to_str().unwrap(),
            "--out",
            d.join("r2").to_str().unwrap(),
        ],
        "bad.conllu: line 3, column 1",
    );
    let _ = std::fs::remove_dir_all(&d);
}
