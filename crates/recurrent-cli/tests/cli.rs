//! End-to-end: the `recurrent` binary on small inputs (train a few steps, sample, eval,
//! inspect, resume) and its error cases (one clear line on stderr, non-zero exit, no panic,
//! nothing half-written).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_recurrent"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recurrent-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "recurrent {args:?} failed:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    String::from_utf8(o.stdout).unwrap()
}

fn fails(args: &[&str], needle: &str) -> String {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "recurrent {args:?} should fail");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(
        err.to_lowercase().contains(&needle.to_lowercase()),
        "stderr of {args:?} lacks `{needle}`:\n{err}"
    );
    err
}

fn corpus(dir: &Path) -> PathBuf {
    let p = dir.join("corpus.txt");
    let text = "the quick brown fox jumps over the lazy dog.\n".repeat(60);
    std::fs::write(&p, text).unwrap();
    p
}

const SMALL: [&str; 14] = [
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
    "1000",
];

fn json(s: &str) -> serde_json::Value {
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "--json must print exactly one line, got:\n{s}"
    );
    serde_json::from_str(lines[0]).unwrap()
}

#[test]
fn train_sample_eval_inspect_resume() {
    let d = tmp("flow");
    let data = corpus(&d);
    let out = d.join("run");
    let (data_s, out_s) = (data.to_str().unwrap(), out.to_str().unwrap());
    let mut args = vec![
        "train", "lm", "--data", data_s, "--out", out_s, "--steps", "20", "--json",
    ];
    args.extend(SMALL);
    let summary = json(&ok(&args));
    assert_eq!(summary["steps"], 20);
    assert!(summary["val_loss"].as_f64().unwrap() < 4.0);
    assert!(out.join("best.safetensors").is_file());
    assert!(out.join("metrics.jsonl").is_file());
    assert!(out.join("loss.png").is_file());
    assert!(out.join("config.json").is_file());

    // Sampling streams text; the same seed gives the same text.
    let s1 = ok(&[
        "sample",
        "--checkpoint",
        out_s,
        "--length",
        "40",
        "--seed",
        "3",
    ]);
    let s2 = ok(&[
        "sample",
        "--checkpoint",
        out_s,
        "--length",
        "40",
        "--seed",
        "3",
        "--prime",
        "the ",
    ]);
    assert!(s1.chars().count() >= 40);
    assert!(s2.starts_with("the "));
    assert_eq!(
        s1,
        ok(&[
            "sample",
            "--checkpoint",
            out_s,
            "--length",
            "40",
            "--seed",
            "3"
        ])
    );

    // Eval: JSON keys of CONVENTIONS.md.
    let e = json(&ok(&[
        "eval",
        "--checkpoint",
        out_s,
        "--data",
        data_s,
        "--val-frac",
        "0.1",
        "--json",
    ]));
    assert_eq!(e["part"], "val");
    assert!(
        (e["bpc"].as_f64().unwrap() - e["loss"].as_f64().unwrap() / std::f64::consts::LN_2).abs()
            < 1e-9
    );
    assert!(e["tokens"].as_u64().unwrap() > 100);
    let all = json(&ok(&[
        "eval",
        "--checkpoint",
        out_s,
        "--data",
        data_s,
        "--json",
    ]));
    assert_eq!(all["part"], "all");
    // Reduced precision: the same checkpoint, the loss moved but by little; sampling runs.
    for p in ["bf16", "int8"] {
        let q = json(&ok(&[
            "eval",
            "--checkpoint",
            out_s,
            "--data",
            data_s,
            "--json",
            "--precision",
            p,
        ]));
        let (lq, lf) = (q["loss"].as_f64().unwrap(), all["loss"].as_f64().unwrap());
        assert!(
            lq != lf && (lq - lf).abs() < 0.02 * lf,
            "{p}: {lq} vs f32 {lf}"
        );
        let s = ok(&[
            "sample",
            "--checkpoint",
            out_s,
            "--length",
            "20",
            "--precision",
            p,
        ]);
        assert!(s.chars().count() >= 20);
    }
    let o = run(&[
        "eval",
        "--checkpoint",
        out_s,
        "--data",
        data_s,
        "--precision",
        "fp8",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("f32, bf16 or int8"));
    // A quantized checkpoint: smaller, loads as it is, and runs at its precision.
    let q8 = d.join("q8.safetensors");
    let q8s = q8.to_str().unwrap();
    ok(&[
        "quantize",
        "--checkpoint",
        out_s,
        "--precision",
        "int8",
        "--out",
        q8s,
    ]);
    let best = std::fs::metadata(out.join("best.safetensors"))
        .unwrap()
        .len();
    assert!(std::fs::metadata(&q8).unwrap().len() * 2 < best);
    let e8 = json(&ok(&[
        "eval",
        "--checkpoint",
        q8s,
        "--data",
        data_s,
        "--json",
    ]));
    let l8 = e8["loss"].as_f64().unwrap();
    assert!((l8 - all["loss"].as_f64().unwrap()).abs() < 0.02 * l8);
    let o = run(&[
        "quantize",
        "--checkpoint",
        q8s,
        "--precision",
        "bf16",
        "--out",
        q8s,
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("already quantized"));

    // Inspect: hashes of the latest and best weights.
    let i = json(&ok(&["inspect", out_s, "--json"]));
    assert_eq!(i["weights_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(i["best_weights_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(i["step"], 20);
    // The best evaluation's validation loss (it was null for every run).
    let evals = i["evals"].as_array().unwrap();
    let best = evals.iter().rev().find(|e| e["best"] == true).unwrap();
    assert!(i["best_val_loss"].as_f64().unwrap() > 0.0);
    assert_eq!(i["best_val_loss"], best["val_loss"]);

    // Resuming a finished run: says so, exits 0, changes nothing.
    let mut args = vec![
        "train", "lm", "--data", data_s, "--resume", out_s, "--steps", "20",
    ];
    args.extend(SMALL);
    let o = run(&args);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("complete"));
    assert_eq!(
        json(&ok(&["inspect", out_s, "--json"]))["weights_sha256"],
        i["weights_sha256"]
    );

    // The same --out without --resume is refused and names --resume.
    let mut args = vec![
        "train", "lm", "--data", data_s, "--out", out_s, "--steps", "5",
    ];
    args.extend(SMALL);
    fails(&args, "--resume");

    // Another task's command on this run says what the file is and what it needs (issue
    // 28, item 8), never a parser's "missing field", never a command that does not exist.
    let csv = d.join("series.csv");
    std::fs::write(&csv, "value\n1\n2\n3\n4\n").unwrap();
    let csv_s = csv.to_str().unwrap();
    for (args, needs) in [
        (
            vec!["compose", "--checkpoint", out_s],
            "`compose` needs a `music` model",
        ),
        (
            vec!["forecast", "--checkpoint", out_s, "--data", csv_s],
            "`forecast` needs a `forecast` model",
        ),
        (
            vec!["classify", "--checkpoint", out_s, "--input", csv_s],
            "`classify` needs a `classify` model",
        ),
    ] {
        let err = fails(&args, needs);
        assert!(err.contains("this checkpoint is an `lm` model"), "{err}");
        assert!(
            !err.contains("missing field") && !err.contains("import"),
            "{err}"
        );
    }

    // A resume with a different flag names it.
    let mut args = vec![
        "train", "lm", "--data", data_s, "--resume", out_s, "--steps", "20", "--hidden", "8",
    ];
    args.extend(&SMALL[2..]);
    fails(&args, "--hidden");
}

/// Issue 28, item 6: `--resume DIR` alone continues a run with its stored command; flags
/// given must agree, every disagreement is named at once; the limits are kept; changed data
/// and another vocabulary are named as such.
#[test]
fn resume_needs_only_the_directory() {
    let d = tmp("resume-alone");
    let data = corpus(&d);
    let data_s = data.to_str().unwrap();
    let out = d.join("run");
    let out_s = out.to_str().unwrap();
    let mut args = vec![
        "train", "lm", "--data", data_s, "--out", out_s, "--steps", "4",
    ];
    args.extend(SMALL);
    ok(&args);
    // The stored limit holds: the run is complete, nothing is trained.
    let o = run(&["train", "lm", "--resume", out_s]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.contains("complete"), "{err}");
    // A larger limit given alone goes on with every stored flag.
    ok(&["train", "lm", "--resume", out_s, "--steps", "6"]);
    let i = json(&ok(&["inspect", out_s, "--json"]));
    assert_eq!(i["step"], 6);
    // Two flags that disagree: both named in one error.
    let err = fails(
        &[
            "train", "lm", "--resume", out_s, "--steps", "8", "--hidden", "8", "--batch", "2",
        ],
        "2 flag(s) differ",
    );
    assert!(err.contains("--hidden: stored 16, given 8"), "{err}");
    assert!(err.contains("--batch: stored 4, given 2"), "{err}");
    // Another task on this run names the command that continues it.
    fails(
        &["train", "classify", "--resume", out_s],
        "`recurrent train lm --resume",
    );
    // The same characters in another order: same vocabulary, other text. Refused by its
    // fingerprint, naming the file.
    let text = std::fs::read_to_string(&data).unwrap();
    std::fs::write(&data, text.replace("quick", "kciuq")).unwrap();
    let err = fails(
        &["train", "lm", "--resume", out_s, "--steps", "8"],
        "data changed",
    );
    assert!(err.contains(data_s), "{err}");
    // Without the stored command (a run from before it existed), another vocabulary is
    // named as such, not as another cell or size.
    std::fs::remove_file(out.join("command.json")).unwrap();
    std::fs::write(&data, text.replace('q', "")).unwrap();
    let mut args = vec![
        "train", "lm", "--data", data_s, "--resume", out_s, "--steps", "8",
    ];
    args.extend(SMALL);
    let err = fails(&args, "vocabulary");
    assert!(!err.contains("another cell"), "{err}");
}

#[test]
fn split_runs_equal_one_run_bit_for_bit() {
    let d = tmp("split");
    let data = corpus(&d);
    let data_s = data.to_str().unwrap();
    let whole = d.join("whole");
    let mut args = vec![
        "train",
        "lm",
        "--data",
        data_s,
        "--out",
        whole.to_str().unwrap(),
        "--steps",
        "16",
        "--dropout",
        "0.3",
        "--layers",
        "2",
    ];
    args.extend(&SMALL[..2]);
    args.extend(&SMALL[4..]);
    ok(&args);
    // Half, then resume with the full count: data order, dropout masks, optimizer moments
    // and the carried state must all come back.
    let half = d.join("half");
    let mut a1 = vec![
        "train",
        "lm",
        "--data",
        data_s,
        "--out",
        half.to_str().unwrap(),
        "--steps",
        "8",
        "--dropout",
        "0.3",
        "--layers",
        "2",
    ];
    a1.extend(&SMALL[..2]);
    a1.extend(&SMALL[4..]);
    ok(&a1);
    let mut a2 = vec![
        "train",
        "lm",
        "--data",
        data_s,
        "--resume",
        half.to_str().unwrap(),
        "--steps",
        "16",
        "--dropout",
        "0.3",
        "--layers",
        "2",
    ];
    a2.extend(&SMALL[..2]);
    a2.extend(&SMALL[4..]);
    ok(&a2);
    let h1 = json(&ok(&["inspect", whole.to_str().unwrap(), "--json"]));
    let h2 = json(&ok(&["inspect", half.to_str().unwrap(), "--json"]));
    assert_eq!(h1["weights_sha256"], h2["weights_sha256"]);
}

/// The layer-normalised cells through a whole task: train, resume to the same bits (their
/// gains are saved and restored with the weights), sample in f32 and in int8.
#[test]
fn layer_normalised_and_zoned_lms_train_resume_and_sample() {
    let d = tmp("lstm-ln");
    let data = corpus(&d);
    let data_s = data.to_str().unwrap();
    // Zoneout draws its masks from the run's one stream, so a resumed run must land on the
    // same bits with it too.
    let runs = [
        ("lstm_ln", None),
        ("gru_ln", None),
        ("lstm", Some("0.1,0.4")),
        ("lstm_ln", Some("0.05,0.3")),
        ("gru", Some("0.1")),
    ];
    for (i, (cell, zoneout)) in runs.into_iter().enumerate() {
        let run_in = |name: &str, steps: &str, resume: bool| {
            let dir = d.join(format!("{cell}-{i}-{name}"));
            let flag = if resume { "--resume" } else { "--out" };
            let mut a = vec![
                "train", "lm", "--data", data_s, "--cell", cell, "--steps", steps, "--layers", "2",
            ];
            a.extend(&SMALL[..2]);
            a.extend(&SMALL[4..]);
            if let (Some(z), false) = (zoneout, resume) {
                a.extend(["--zoneout", z]);
            }
            a.extend([flag, dir.to_str().unwrap()]);
            ok(&a);
            dir
        };
        let whole = run_in("whole", "12", false);
        run_in("half", "6", false);
        let half = run_in("half", "12", true);
        let h1 = json(&ok(&["inspect", whole.to_str().unwrap(), "--json"]));
        let h2 = json(&ok(&["inspect", half.to_str().unwrap(), "--json"]));
        assert_eq!(
            h1["weights_sha256"], h2["weights_sha256"],
            "{cell} {zoneout:?}"
        );
        let stored = std::fs::read_to_string(whole.join("config.json")).unwrap();
        assert_eq!(stored.contains("zoneout"), zoneout.is_some(), "{stored}");
        for precision in ["f32", "int8"] {
            let text = ok(&[
                "sample",
                "--checkpoint",
                whole.to_str().unwrap(),
                "--length",
                "30",
                "--precision",
                precision,
            ]);
            assert!(text.chars().count() >= 30, "{cell} {precision}: {text}");
        }
    }
    let out = d.join("refused");
    for (cell, z, needle) in [("mingru", "0.1", "zoneout"), ("lstm", "0.2,1", "[0, 1)")] {
        let mut a = vec![
            "train",
            "lm",
            "--data",
            data_s,
            "--cell",
            cell,
            "--zoneout",
            z,
        ];
        a.extend(&SMALL);
        a.extend(["--out", out.to_str().unwrap()]);
        fails(&a, needle);
    }
}

/// Issue 28, item 10: messages have a length. An OS error is said once, a huge header cell
/// is quoted in part, and a headerless three-column file names the flags that read it.
#[test]
fn error_messages_are_short_and_say_each_thing_once() {
    let d = tmp("lengths");
    let missing = d.join("nope.txt");
    let err = fails(
        &["train", "lm", "--data", missing.to_str().unwrap()],
        "nope.txt",
    );
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");

    let big = d.join("big.tsv");
    let cell = "x".repeat(1_000_000);
    std::fs::write(&big, format!("label\t{cell}\n1\thello\n")).unwrap();
    let err = fails(
        &["train", "classify", "--data", big.to_str().unwrap()],
        "--text-column",
    );
    assert!(err.len() < 1000, "{} bytes of error", err.len());
    assert!(err.contains("more characters"), "{err}");

    let three = d.join("three.txt");
    let rows: String = (0..3000)
        .map(|i| format!("{i}\t{}\tsome words {i}\n", i % 2))
        .collect();
    std::fs::write(&three, rows).unwrap();
    let err = fails(
        &["train", "classify", "--data", three.to_str().unwrap()],
        "--label-column",
    );
    assert!(
        err.contains("3 tab-separated fields") && err.len() < 1000,
        "{err}"
    );
}

/// Issue 28, item 13 (in part): one name per flag across commands, the old spelling kept as
/// an alias, and the limits' defaults stated in the help of every `train` subcommand.
#[test]
fn flags_mean_one_thing_everywhere() {
    let help = |args: &[&str]| {
        let o = run(args);
        assert!(o.status.success(), "{args:?}");
        String::from_utf8(o.stdout).unwrap()
    };
    for task in [
        "lm",
        "classify",
        "tag",
        "forecast",
        "translate",
        "music",
        "speech",
    ] {
        let h = help(&["train", task, "--help"]);
        assert!(
            h.contains("with no limit flag given"),
            "train {task} --help:\n{h}"
        );
        // Every flag has a word of help (`--hidden` and `--layers` had none): text after
        // the flag and its value name, or on the next line in clap's long layout.
        let lines: Vec<&str> = h.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let l = line.trim_start();
            // A flag's line, not a help line that begins with one.
            if !l.starts_with("--") || line.len() - l.len() > 6 {
                continue;
            }
            let after = l.split_once("  ").map_or("", |x| x.1).trim();
            let next = lines.get(i + 1).copied().unwrap_or("");
            let indent = |s: &str| s.len() - s.trim_start().len();
            let next_is_help = !next.trim().is_empty() && indent(next) > indent(line);
            let said = !after.is_empty() && !after.starts_with("[default");
            assert!(
                said || (after.is_empty() && next_is_help),
                "train {task}: `{l}` has no help"
            );
        }
    }
    assert!(help(&["train", "translate", "--help"]).contains("--val-frac"));
    // Speech's two tasks have their own limits, both said (it showed the isolated one).
    let h = help(&["train", "speech", "--help"]);
    assert!(
        h.contains("isolated: --epochs 25; connected: --time-budget 660, --epochs 15"),
        "{h}"
    );
    // The old spelling still parses: the error is about the value, not the flag.
    fails(
        &[
            "train",
            "translate",
            "--data",
            "x.tsv",
            "--valid-frac",
            "abc",
        ],
        "invalid value 'abc' for '--val-frac",
    );
    assert!(help(&["sample", "--help"]).contains("--threads"));
    // One direction flag in every command with a bidirectional model, the old spelling
    // kept: both parse (they conflict with each other, so clap knows them both).
    for task in ["classify", "tag", "speech", "translate"] {
        let err = fails(
            &[
                "train",
                task,
                "--bidirectional",
                "false",
                "--unidirectional",
            ],
            "cannot be used with",
        );
        assert!(err.contains("--bidirectional"), "{err}");
    }
    // Cells are spelled as the library names them (lab said rnn-tanh).
    for args in [
        &["lab", "long-range", "--help"][..],
        &["lab", "clipping", "--help"][..],
    ] {
        let h = help(args);
        assert!(h.contains("rnn_tanh") && !h.contains("rnn-tanh"), "{h}");
    }
    // `--eval-every N` is steps in every command, `Ns` seconds (lm's bare number was
    // seconds, every other command's steps).
    let d = tmp("eval-every");
    let data = corpus(&d);
    let out = d.join("run");
    let mut args = vec![
        "train",
        "lm",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--steps",
        "6",
    ];
    args.extend(&SMALL[..SMALL.len() - 2]);
    args.extend(["--eval-every", "2"]);
    ok(&args);
    let evals: Vec<u64> = std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|m| m["event"] == "eval")
        .map(|m| m["step"].as_u64().unwrap())
        .collect();
    assert_eq!(evals, [2, 4, 6]);
    fails(&["train", "lm", "--eval-every", "0s"], "--eval-every");
    // `inspect` takes the path as every other command does, `--checkpoint`, too.
    let a = json(&ok(&["inspect", out.to_str().unwrap(), "--json"]));
    let b = json(&ok(&[
        "inspect",
        "--checkpoint",
        out.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(a["weights_sha256"], b["weights_sha256"]);
}

#[test]
fn bad_inputs_give_one_clear_error() {
    let d = tmp("errors");
    let out = d.join("o");
    let out_s = out.to_str().unwrap();
    let missing = d.join("nope.txt");
    fails(
        &[
            "train",
            "lm",
            "--data",
            missing.to_str().unwrap(),
            "--out",
            out_s,
            "--steps",
            "1",
        ],
        "nope.txt",
    );
    // A negative number reaches the range check (clap read `-1` as an unknown argument),
    // and --keep 0 is refused (it silently kept one).
    let text = d.join("text.txt");
    std::fs::write(&text, "some text to learn from\n".repeat(400)).unwrap();
    let text_s = text.to_str().unwrap();
    for (flag, value, want) in [
        ("--lr", "-1", "--lr must be positive, got -1"),
        ("--weight-decay", "-0.1", "--weight-decay must be >= 0"),
        ("--clip", "-5", "--clip must be >= 0"),
        ("--keep", "0", "--keep must be at least 1"),
    ] {
        fails(
            &[
                "train", "lm", "--data", text_s, "--out", out_s, "--steps", "1", flag, value,
            ],
            want,
        );
    }
    let empty = d.join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    fails(
        &[
            "train",
            "lm",
            "--data",
            empty.to_str().unwrap(),
            "--out",
            out_s,
            "--steps",
            "1",
        ],
        "empty",
    );
    let latin = d.join("latin1.txt");
    std::fs::write(&latin, b"caf\xe9 au lait\n").unwrap();
    fails(
        &[
            "train",
            "lm",
            "--data",
            latin.to_str().unwrap(),
            "--out",
            out_s,
            "--steps",
            "1",
        ],
        "UTF-8",
    );
    let data = corpus(&d);
    fails(
        &[
            "train",
            "lm",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out_s,
            "--steps",
            "1",
            "--dropout",
            "1.5",
        ],
        "dropout",
    );
    fails(
        &[
            "train",
            "lm",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out_s,
            "--steps",
            "1",
            "--cell",
            "transformer",
        ],
        "cell",
    );
    fails(
        &[
            "train",
            "lm",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out_s,
            "--steps",
            "1",
            "--val-frac",
            "1.0",
        ],
        "val-frac",
    );
    fails(
        &["sample", "--checkpoint", missing.to_str().unwrap()],
        "nope.txt",
    );
    fails(
        &["sample", "--checkpoint", data.to_str().unwrap()],
        "corpus.txt",
    );
    let cut = d.join("cut.safetensors");
    std::fs::write(&cut, [8u8, 0, 0, 0, 0, 0, 0, 0, b'{']).unwrap();
    fails(
        &[
            "eval",
            "--checkpoint",
            cut.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
        "cut.safetensors",
    );
    fails(&["sample", "--checkpoint", out_s, "--top-p", "0"], "");
}

/// A model saved by PyTorch (../shared/bench/pytorch_charlm.py --save) samples and
/// evaluates here as it is: same parameter names, vocabulary from its metadata.
/// Issue 28, item 7: a cosine schedule (speech's default) works with each of the three
/// limits, and `--epochs` is a limit of every task.
#[test]
fn every_limit_works_with_a_cosine_schedule() {
    let dir = tmp("limits");
    let data = corpus(&dir);
    let d = data.to_str().unwrap();
    for (k, limit) in [
        ["--steps", "3"],
        ["--epochs", "0.5"],
        ["--time-budget", "0.5"],
    ]
    .iter()
    .enumerate()
    {
        let out = dir.join(format!("run{k}"));
        let mut args = vec!["train", "lm", "--data", d, "--out", out.to_str().unwrap()];
        args.extend(SMALL);
        args.extend(["--lr-schedule", "cosine", "--json"]);
        args.extend(limit);
        let v = json(&ok(&args));
        assert!(v["steps"].as_u64().unwrap() >= 1, "{limit:?}: {v}");
    }
    let tsv = dir.join("labels.tsv");
    let rows: String = std::iter::once("label\ttext\n".to_string())
        .chain((0..40).map(|i| {
            format!(
                "{}\t{}\n",
                i % 2,
                if i % 2 == 0 { "good fun" } else { "bad dull" }
            )
        }))
        .collect();
    std::fs::write(&tsv, rows).unwrap();
    let out = dir.join("classify");
    let v = json(&ok(&[
        "train",
        "classify",
        "--data",
        tsv.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--hidden",
        "8",
        "--epochs",
        "1",
        "--lr-schedule",
        "cosine",
        "--threads",
        "1",
        "--json",
    ]));
    assert!(v["steps"].as_u64().unwrap() >= 1, "{v}");
}

#[test]
fn pytorch_saved_model_runs_here() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../recurrent/tests/fixtures/pytorch_lm/charlm_lstm_l2_h8.safetensors");
    let f = f.to_str().unwrap();
    let s = ok(&[
        "sample",
        "--checkpoint",
        f,
        "--length",
        "30",
        "--seed",
        "2",
        "--json",
    ]);
    let v = json(&s);
    assert_eq!(v["text"].as_str().unwrap().chars().count(), 30);
    let i = json(&ok(&["inspect", f, "--json"]));
    assert_eq!(i["weights_sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn the_machine_ceilings_are_measured_and_a_bad_isa_is_named() {
    let p = json(&ok(&[
        "bench",
        "--mode",
        "peak",
        "--threads",
        "1",
        "--iters",
        "1",
    ]));
    assert_eq!(p["op"], "fma_peak");
    assert!(["avx512", "avx2", "portable"].contains(&p["isa"].as_str().unwrap()));
    assert!(p["gflops"].as_f64().unwrap() > 0.0);
    let b = json(&ok(&[
        "bench",
        "--mode",
        "bandwidth",
        "--threads",
        "2",
        "--iters",
        "1",
        "--bytes",
        "65536",
    ]));
    assert_eq!(
        (b["op"].as_str(), b["bytes"].as_u64()),
        (Some("read_bandwidth"), Some(65536))
    );
    assert!(b["gb_per_s"].as_f64().unwrap() > 0.0);
    let o = bin()
        .args(["bench", "--mode", "peak", "--iters", "1"])
        .env("RECURRENT_ISA", "sse")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("RECURRENT_ISA=sse"),
        "{err}"
    );
    let o = bin()
        .args(["bench", "--mode", "peak", "--iters", "1"])
        .env("RECURRENT_ISA", "portable")
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(json(&String::from_utf8_lossy(&o.stdout))["isa"], "portable");
    // Every kernel follows it: a layer's bench names the path it ran.
    let o = bin()
        .args([
            "bench", "--cell", "gru", "--input", "4", "--hidden", "8", "--layers", "1", "--batch",
            "2", "--seq", "3", "--mode", "step", "--iters", "1", "--warmup", "0",
        ])
        .env("RECURRENT_ISA", "portable")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(json(&String::from_utf8_lossy(&o.stdout))["isa"], "portable");
    // The quantized products too, and the weights a step reads shrink with them.
    let layer = [
        "bench", "--cell", "lstm", "--input", "64", "--hidden", "64", "--layers", "1", "--batch",
        "1", "--seq", "3", "--mode", "step", "--iters", "1", "--warmup", "0",
    ];
    let mut bytes = Vec::new();
    for p in ["f32", "bf16", "int8"] {
        let o = bin()
            .args(layer)
            .args(["--precision", p])
            .env("RECURRENT_ISA", "portable")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v = json(&String::from_utf8_lossy(&o.stdout));
        assert_eq!(v["precision"], p);
        let want = if p == "f32" { None } else { Some("portable") };
        assert_eq!(v["quant_path"].as_str(), want);
        bytes.push(v["weight_bytes"].as_f64().unwrap());
    }
    assert!(
        bytes[1] * 1.9 < bytes[0] && bytes[2] * 3.0 < bytes[0],
        "{bytes:?}"
    );
    let train: Vec<&str> = layer
        .iter()
        .map(|&a| if a == "step" { "train" } else { a })
        .collect();
    let o = bin()
        .args(train)
        .args(["--precision", "int8"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("training runs in f32"));
}
