//! Our corpus BLEU and 13a tokenisation against sacreBLEU's, on the values
//! `scripts/bleu_fixtures.py` wrote (tests/fixtures/bleu/expected.json): tokens identical,
//! n-gram counts and lengths identical, scores within 1e-9.

use recurrent_tasks::translate::bleu::{corpus_bleu, tokenize_13a};
use serde_json::Value;

fn expected() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/bleu/expected.json"
    );
    let text = std::fs::read_to_string(path).expect("the committed BLEU fixture");
    serde_json::from_str(&text).expect("valid JSON")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

#[test]
fn tokenize_13a_matches_sacrebleu() {
    let e = expected();
    let cases = e["tokenize_13a"].as_array().expect("cases");
    assert!(cases.len() >= 8);
    for c in cases {
        let text = c["text"].as_str().expect("text");
        assert_eq!(tokenize_13a(text), strings(&c["tokens"]), "{text:?}");
    }
}

#[test]
fn corpus_bleu_matches_sacrebleu() {
    let e = expected();
    let cases = e["corpus"].as_array().expect("cases");
    assert!(cases.len() >= 8);
    for c in cases {
        let name = c["name"].as_str().expect("name");
        let hyps = strings(&c["hyps"]);
        let refs: Vec<Vec<String>> = c["refs"]
            .as_array()
            .expect("refs")
            .iter()
            .map(strings)
            .collect();
        for (key, lowercase) in [("cased", false), ("lowercase", true)] {
            let want = &c[key];
            let got = corpus_bleu(&hyps, &refs, lowercase).expect("bleu");
            let ints = |v: &Value| -> Vec<usize> {
                v.as_array()
                    .expect("ints")
                    .iter()
                    .map(|x| x.as_u64().expect("int") as usize)
                    .collect()
            };
            assert_eq!(
                got.stats.correct.to_vec(),
                ints(&want["counts"]),
                "{name} {key}"
            );
            assert_eq!(
                got.stats.total.to_vec(),
                ints(&want["totals"]),
                "{name} {key}"
            );
            assert_eq!(
                got.stats.sys_len as u64,
                want["sys_len"].as_u64().unwrap(),
                "{name}"
            );
            assert_eq!(
                got.stats.ref_len as u64,
                want["ref_len"].as_u64().unwrap(),
                "{name}"
            );
            let s = want["score"].as_f64().expect("score");
            println!("{name} {key}: ours {:.6} sacrebleu {s:.6}", got.score);
            assert!(
                (got.score - s).abs() <= 1e-9 * s.abs().max(1.0),
                "{name} {key}: {} vs sacreBLEU {s}",
                got.score
            );
        }
    }
}
