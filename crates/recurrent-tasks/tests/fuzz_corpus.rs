//! The fuzzers' corpus, replayed under `cargo test`: every file under fuzz/corpus/<target>/
//! (real seed files and every crash reproducer found) goes through the same entry point as
//! the fuzz target. A panic fails the test, so CI keeps the promise without running the
//! fuzzer. Also the hostile safetensors files of tests/fixtures/hostile.

use std::path::Path;

fn replay(target: &str, f: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = entry.unwrap().path();
        if p.is_file() {
            let bytes = std::fs::read(&p).unwrap();
            let r = std::panic::catch_unwind(|| f(&bytes));
            assert!(r.is_ok(), "{target}: {} panics", p.display());
            n += 1;
        }
    }
    assert!(n > 0, "no corpus for {target}");
    n
}

/// A fuzz entry point: any bytes in, no panic out.
type Entry = fn(&[u8]);

/// Every fuzz target's entry point, by the target's name (its corpus folder).
const TARGETS: &[(&str, Entry)] = &[
    (
        "safetensors_read",
        recurrent_tasks::fuzzing::safetensors_read,
    ),
    ("text_corpus", recurrent_tasks::fuzzing::text_corpus),
    ("checkpoint_meta", recurrent_tasks::fuzzing::checkpoint_meta),
    ("task_checkpoint", recurrent_tasks::fuzzing::task_checkpoint),
    ("series_csv", recurrent_tasks::fuzzing::series_csv),
    ("conllu", recurrent_tasks::fuzzing::conllu),
    ("labelled_text", recurrent_tasks::fuzzing::labelled_text),
    ("digits_csv", recurrent_tasks::fuzzing::digits_csv),
    ("word_vectors", recurrent_tasks::fuzzing::word_vectors),
    ("parallel_corpus", recurrent_tasks::fuzzing::parallel_corpus),
    (
        "translate_checkpoint",
        recurrent_tasks::fuzzing::translate_checkpoint,
    ),
    ("abc_tunes", recurrent_tasks::fuzzing::abc_tunes),
    ("wav_read", recurrent_tasks::fuzzing::wav_read),
];

#[test]
fn fuzz_corpus_replays_without_panic() {
    let n: usize = TARGETS.iter().map(|(t, f)| replay(t, *f)).sum();
    println!("replayed {n} corpus files of {} targets", TARGETS.len());
}

/// Every target of fuzz/Cargo.toml is replayed here (a new target cannot be forgotten).
#[test]
fn every_fuzz_target_is_replayed() {
    let toml = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/Cargo.toml"),
    )
    .unwrap();
    for line in toml.lines() {
        if let Some(name) = line.strip_prefix("name = \"") {
            let name = name.trim_end_matches('"');
            if name != "recurrent-fuzz" {
                assert!(
                    TARGETS.iter().any(|(t, _)| *t == name),
                    "fuzz target {name} is not replayed by this test"
                );
            }
        }
    }
}

#[test]
fn hostile_files_go_through_every_reader() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../recurrent/tests/fixtures/hostile");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        for (_, f) in TARGETS {
            f(&bytes);
        }
    }
}

/// The task-checkpoint seeds are real checkpoints that their own loader accepts (so the
/// fuzzer starts from the deep paths, not from the first error).
#[test]
fn task_checkpoint_seeds_load() {
    use recurrent_tasks::classify::train as classify;
    use recurrent_tasks::forecast;
    use recurrent_tasks::lab::longrange;
    use recurrent_tasks::tag::train as tag;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/task_checkpoint");
    let p = |n: &str| dir.join(n);
    classify::load_classifier(&p("classify.safetensors")).unwrap();
    classify::load_classifier(&p("classify_with_train_state.safetensors")).unwrap();
    tag::load_tagger(&p("tag.safetensors")).unwrap();
    forecast::load_forecaster(&p("forecast.safetensors")).unwrap();
    longrange::load_long_range(&p("long_range.safetensors")).unwrap();
    // And each refuses the others' files with an error, not a panic.
    assert!(tag::load_tagger(&p("classify.safetensors")).is_err());
    assert!(forecast::load_forecaster(&p("tag.safetensors")).is_err());
    assert!(longrange::load_long_range(&p("forecast.safetensors")).is_err());
    assert!(classify::load_classifier(&p("long_range.safetensors")).is_err());
}
