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

#[test]
fn fuzz_corpus_replays_without_panic() {
    let a = replay("safetensors_read", recurrent::fuzzing::safetensors_read);
    let b = replay("text_corpus", recurrent::fuzzing::text_corpus);
    let c = replay("checkpoint_meta", recurrent::fuzzing::checkpoint_meta);
    let d = replay("wav_read", recurrent::fuzzing::wav_read);
    println!("replayed {a} + {b} + {c} + {d} corpus files");
}

#[test]
fn hostile_files_go_through_every_reader() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        recurrent::fuzzing::safetensors_read(&bytes);
        recurrent::fuzzing::checkpoint_meta(&bytes);
        recurrent::fuzzing::text_corpus(&bytes);
        recurrent::fuzzing::wav_read(&bytes);
    }
}
