//! One very long item (a sentence, a line, a tune) within a 2 GB address space: each of
//! these once took 5 to 27 GB and was killed or aborted. Each command runs under
//! `ulimit -v` and must succeed, saying what it did with the long item where it changed it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The address-space limit, in KiB (2 GB): the bound the issue promised.
const LIMIT_KB: u64 = 2_000_000;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recurrent-long-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `recurrent args` under the memory limit; its output, having asserted success.
fn limited(args: &[&str]) -> Output {
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {LIMIT_KB} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_recurrent"))
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "recurrent {:?} failed within {LIMIT_KB} KiB ({:?}):\n{}",
        &args[..2],
        o.status,
        &err[err.len().saturating_sub(2000)..]
    );
    assert!(!err.contains("panicked"), "{err}");
    o
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `n` words from a small vocabulary, space-separated.
fn words(n: usize) -> String {
    let w = [
        "the", "cat", "sat", "on", "a", "mat", ".", "dog", "ran", ",",
    ];
    let mut s = String::with_capacity(n * 4);
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(w[(i * 7 + i / 3) % w.len()]);
    }
    s
}

fn write(path: &Path, text: &str) -> String {
    std::fs::write(path, text).unwrap();
    path.to_str().unwrap().to_string()
}

const SMALL: [&str; 8] = [
    "--hidden",
    "8",
    "--embed",
    "8",
    "--steps",
    "2",
    "--threads",
    "1",
];

/// A 1,000,000-token sentence in training, then a 1,000,000-word line to tag.
#[test]
fn tagging_a_million_token_sentence() {
    let d = tmp("tag");
    let mut conllu = String::new();
    let tok = |c: &mut String, i: usize, w: &str| {
        let t = if w.len() > 2 { "NOUN" } else { "DET" };
        c.push_str(&format!("{}\t{w}\t_\t{t}\t_\t_\t_\t_\t_\t_\n", i + 1));
    };
    for _ in 0..20 {
        for (i, w) in ["the", "cat", "sat"].iter().enumerate() {
            tok(&mut conllu, i, w);
        }
        conllu.push('\n');
    }
    for (i, w) in words(1_000_000).split(' ').enumerate() {
        tok(&mut conllu, i, w);
    }
    conllu.push('\n');
    let data = write(&d.join("train.conllu"), &conllu);
    let run = d.join("run");
    let r = run.to_str().unwrap();
    let o = limited(
        &[
            &["train", "tag", "--data", &data, "--out", r][..],
            &SMALL[..],
        ]
        .concat(),
    );
    let e = stderr(&o);
    assert!(
        e.contains("1 sentence(s) longer than --max-tokens 1000 (the longest 1000000")
            && e.contains("at --data line 81"),
        "the long sentence should be named and cut: {e}"
    );
    let line = write(&d.join("line.txt"), &format!("{}\n", words(1_000_000)));
    let o = limited(&["tag", "--checkpoint", r, "--input", &line]);
    let out = String::from_utf8_lossy(&o.stdout);
    // One `word<TAB>tag` line per word, read in windows, then the sentence's blank line.
    assert_eq!(out.lines().filter(|l| l.contains('\t')).count(), 1_000_000);
}

/// A 1,000,000-word text among the training texts, then one to classify.
#[test]
fn classifying_a_million_word_text() {
    let d = tmp("classify");
    let mut tsv = String::from("label\ttext\n");
    for i in 0..40 {
        let (y, w) = if i % 2 == 0 {
            ("pos", "great")
        } else {
            ("neg", "dull")
        };
        tsv.push_str(&format!("{y}\tthe film was {w}\n"));
    }
    tsv.push_str(&format!("pos\t{}\n", words(1_000_000)));
    let data = write(&d.join("train.tsv"), &tsv);
    let run = d.join("run");
    let r = run.to_str().unwrap();
    let o = limited(
        &[
            &["train", "classify", "--data", &data, "--out", r][..],
            &SMALL[..],
        ]
        .concat(),
    );
    let e = stderr(&o);
    assert!(
        e.contains("longer than --max-words 1000 (the longest 1000000"),
        "the long text should be named and made several examples: {e}"
    );
    let line = write(&d.join("line.txt"), &format!("{}\n", words(1_000_000)));
    let o = limited(&["classify", "--checkpoint", r, "--input", &line, "--json"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.lines().count(), 1, "one prediction for one line: {out}");
}

/// A 200,000-word line to translate: in pieces cut after punctuation, one line out.
#[test]
fn translating_a_long_line() {
    let d = tmp("translate");
    let run = d.join("run");
    let r = run.to_str().unwrap();
    limited(
        &[
            &[
                "train",
                "translate",
                "--synthetic",
                "reverse",
                "--synthetic-count",
                "200",
                "--beam",
                "1",
                "--out",
                r,
            ][..],
            &SMALL[..],
        ]
        .concat(),
    );
    let line = write(&d.join("line.txt"), &format!("{}\n", words(200_000)));
    let o = limited(&[
        "translate",
        "--checkpoint",
        r,
        "--input",
        &line,
        "--beam",
        "1",
    ]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1);
}

/// A 10 MB tune among ordinary ones: left out, named by file and line.
#[test]
fn training_music_beside_a_ten_megabyte_tune() {
    let d = tmp("music");
    let mut abc = String::new();
    for i in 0..30 {
        abc.push_str(&format!(
            "X: {i}\nT:t{i}\nM:4/4\nL:1/8\nK:G\n|:GABc dedB|{}:|\n\n",
            ["cBAG", "dcBA", "edcB"][i % 3]
        ));
    }
    abc.push_str("X: 99\nT:huge\nM:4/4\nL:1/8\nK:G\n");
    abc.push_str(&"GABc dedB|".repeat(1_000_000));
    abc.push('\n');
    let data = write(&d.join("tunes.abc"), &abc);
    let run = d.join("run");
    let o = limited(
        &[
            &[
                "train",
                "music",
                "--data",
                &data,
                "--out",
                run.to_str().unwrap(),
            ][..],
            &SMALL[..],
        ]
        .concat(),
    );
    let e = stderr(&o);
    assert!(
        e.contains("1 tune(s) longer than --max-chars 4000") && e.contains("tunes.abc line 211"),
        "the long tune should be named and left out: {e}"
    );
}

/// A run whose config predates the length flags (no `max_words` stored) still resumes: a
/// setting newer than the run is not a change of flags.
#[test]
fn a_run_from_before_the_length_flags_resumes() {
    let d = tmp("resume");
    let mut tsv = String::from("label\ttext\n");
    for i in 0..40 {
        let y = ["pos", "neg"][i % 2];
        tsv.push_str(&format!("{y}\tthe film was {}\n", ["great", "dull"][i % 2]));
    }
    let data = write(&d.join("train.tsv"), &tsv);
    let run = d.join("run");
    let r = run.to_str().unwrap();
    let args = |steps: &'static str| {
        let mut a: Vec<String> = ["train", "classify", "--data", &data, "--out", r]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(SMALL.iter().map(|s| s.to_string()));
        let n = a.len();
        a[n - 3] = steps.into();
        a
    };
    let first = args("2");
    limited(&first.iter().map(String::as_str).collect::<Vec<_>>());
    let cfg = run.join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    let removed = v["train"].as_object_mut().unwrap().remove("max_words");
    assert!(removed.is_some(), "the config stores max_words: {v}");
    std::fs::write(&cfg, v.to_string()).unwrap();
    let mut again = args("4");
    again.extend(["--resume".to_string(), r.to_string()]);
    let o = limited(&again.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!stderr(&o).contains("stored"), "{}", stderr(&o));
}
