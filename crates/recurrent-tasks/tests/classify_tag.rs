//! Text classification and tagging: padding and masking change nothing (outputs and
//! gradients), small tasks are learned, a resumed run equals an uninterrupted one, and the
//! shared corpora read as their READMEs describe.

#[path = "../../recurrent/tests/common/mod.rs"]
mod common;

use recurrent::init::Init;
use recurrent::model::feature_tagger::{FeatureBatch, FeatureTagger, FeatureTaggerConfig};
use recurrent::model::EncoderConfig;
use recurrent::model::{Classifier, ClassifierConfig, InputKind, Pooling};
use recurrent::nn::CrossEntropy;
use recurrent::text::bucket::pad_ids;
use recurrent::train::{Quiet, TrainRequest};
use recurrent::{CellKind, Module, Rng};
use recurrent_tasks::classify::read::{read_labelled, Example, LabelledFormat, ReadOptions};
use recurrent_tasks::classify::train::{
    load_classifier, predict, train_classify, ClassifyData, ClassifyTrainConfig,
};
use recurrent_tasks::tag::conllu::read_conllu;
use recurrent_tasks::tag::train::{load_tagger, tag_sentences, train_tag, TagTrainConfig};
use std::path::{Path, PathBuf};

fn grads<M: Module<f64>>(m: &M) -> Vec<(String, Vec<f64>)> {
    let mut v = Vec::new();
    m.visit(&mut |p| v.push((p.name.clone(), p.grad.data().to_vec())));
    v
}

fn assert_close(a: &[f64], b: &[f64], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-12 * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

/// The same sentence alone (T = 5) and padded to T = 9 beside a longer sentence: the same
/// logits, and (the loss counting only that sentence) the same gradient for every
/// parameter, for each pooling, both directions, LSTM and GRU.
#[test]
fn classifier_padding_changes_neither_output_nor_gradient() {
    let a: &[u32] = &[3, 1, 4, 1, 5];
    let long: &[u32] = &[2, 7, 1, 8, 2, 8, 1, 8, 2];
    for cell in [CellKind::Lstm, CellKind::Gru] {
        for pooling in [Pooling::Last, Pooling::Mean, Pooling::Max] {
            let cfg = ClassifierConfig {
                input: InputKind::Tokens {
                    vocab: 10,
                    embed: 4,
                },
                encoder: EncoderConfig {
                    cell,
                    hidden: 5,
                    layers: 2,
                    bidirectional: true,
                    dropout: 0.0,
                    reg: Default::default(),
                },
                pooling,
                outputs: 3,
            };
            let mut m: Classifier<f64> =
                Classifier::new(cfg, &Init::default(), &mut Rng::new(7)).unwrap();
            let ce = CrossEntropy::new();
            // Alone.
            let alone = pad_ids::<f64>(&[a], 0);
            assert_eq!(alone.t, 5);
            let (la, ca) = m.forward(&alone, None).unwrap();
            let (_, da) = ce.loss(&la, 3, &[2], None).unwrap();
            m.zero_grad();
            m.backward(&alone, &ca, &da).unwrap();
            let ga = grads(&m);
            // Padded, second in a batch whose first sentence is longer; only it counted.
            let padded = pad_ids::<f64>(&[long, a], 9);
            assert_eq!(padded.t, 9);
            let (lp, cp) = m.forward(&padded, None).unwrap();
            assert_close(&lp[3..6], &la, &format!("{cell} {pooling:?} logits"));
            let (_, dp) = ce.loss(&lp, 3, &[0, 2], Some(&[false, true])).unwrap();
            m.zero_grad();
            m.backward(&padded, &cp, &dp).unwrap();
            for ((name, g1), (_, g2)) in ga.iter().zip(grads(&m)) {
                assert_close(&g2, g1, &format!("{cell} {pooling:?} d{name}"));
            }
            assert!(ga.iter().any(|(_, g)| g.iter().any(|v| *v != 0.0)));
        }
    }
}

#[test]
fn tagger_padding_changes_neither_output_nor_gradient() {
    let cfg = FeatureTaggerConfig {
        encoder: EncoderConfig {
            cell: CellKind::Lstm,
            hidden: 5,
            layers: 2,
            bidirectional: true,
            dropout: 0.0,
            reg: Default::default(),
        },
        vocab: 9,
        embed: 4,
        suffixes: 6,
        suffix_embed: 3,
        shape_embed: 2,
        tags: 4,
    };
    let mut m: FeatureTagger<f64> =
        FeatureTagger::new(cfg, &Init::default(), &mut Rng::new(3)).unwrap();
    let a: Vec<[u32; 4]> = vec![[1, 2, 3, 0], [4, 5, 1, 1], [8, 0, 5, 5]];
    let long: Vec<[u32; 4]> = (0..7).map(|i| [i % 9, i % 6, (i + 1) % 6, i % 7]).collect();
    let tags_a = [1usize, 3, 0];
    let ce = CrossEntropy::new();
    let alone = FeatureBatch::pad(&[&a]);
    let (la, ca) = m.forward(&alone, None).unwrap();
    let (_, da) = ce.loss(&la, 4, &tags_a, None).unwrap();
    m.zero_grad();
    m.backward(&alone, &ca, &da).unwrap();
    let ga = grads(&m);
    let padded = FeatureBatch::pad(&[&a, &long]);
    assert_eq!((padded.t, padded.b), (7, 2));
    let (lp, cp) = m.forward(&padded, None).unwrap();
    let (mut targets, mut mask) = (vec![0usize; 14], vec![false; 14]);
    for t in 0..3 {
        assert_close(
            &lp[(t * 2) * 4..(t * 2 + 1) * 4],
            &la[t * 4..(t + 1) * 4],
            "tagger logits",
        );
        targets[t * 2] = tags_a[t];
        mask[t * 2] = true;
    }
    let (_, dp) = ce.loss(&lp, 4, &targets, Some(&mask)).unwrap();
    m.zero_grad();
    m.backward(&padded, &cp, &dp).unwrap();
    for ((name, g1), (_, g2)) in ga.iter().zip(grads(&m)) {
        assert_close(&g2, g1, &format!("tagger d{name}"));
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recurrent-ct-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Sentences of filler words with one sentiment word; the label says which kind.
fn toy_sentiment(n: usize, seed: u64) -> Vec<Example> {
    let mut rng = Rng::new(seed);
    let fill = [
        "the", "film", "was", "a", "plot", "it", "and", "of", "this", "movie",
    ];
    let (pos, neg) = (["great", "superb", "fine"], ["awful", "dull", "bad"]);
    (0..n)
        .map(|i| {
            let y = rng.below(2);
            let len = 3 + rng.below(8);
            let at = rng.below(len);
            let words: Vec<&str> = (0..len)
                .map(|j| {
                    if j == at {
                        if y == 1 {
                            pos[rng.below(3)]
                        } else {
                            neg[rng.below(3)]
                        }
                    } else {
                        fill[rng.below(fill.len())]
                    }
                })
                .collect();
            Example {
                text: words.join(" "),
                label: if y == 1 { "pos" } else { "neg" }.into(),
                line: i + 1,
            }
        })
        .collect()
}

fn small_classify() -> ClassifyTrainConfig {
    let mut c = ClassifyTrainConfig {
        hidden: 16,
        embed: 16,
        batch: 16,
        word_dropout: 0.0,
        dropout: 0.1,
        ..Default::default()
    };
    c.optim.lr = 1e-2;
    c
}

#[test]
fn classifier_learns_and_resumes_bit_for_bit() {
    let data = || ClassifyData {
        train: toy_sentiment(320, 1),
        valid: Some(toy_sentiment(100, 2)),
        test: Some(toy_sentiment(100, 3)),
    };
    let cfg = small_classify();
    let out = tmp("cls");
    let mut req = TrainRequest::new(&out);
    req.limits.epochs = Some(4.0);
    let s = train_classify(&cfg, data(), &req, &mut Quiet).unwrap();
    let test = s.test.unwrap();
    assert!(test.accuracy > 0.9, "test accuracy {}", test.accuracy);
    assert_eq!(test.n, 100);
    assert_eq!(s.labels, ["neg", "pos"]);
    let (m, meta) = load_classifier(&out.join("best.safetensors")).unwrap();
    let p = predict(
        &m,
        &meta,
        &[
            "the film was superb".into(),
            "a dull plot".into(),
            "".into(),
        ],
        1000,
    )
    .unwrap();
    assert_eq!((p[0].label.as_str(), p[1].label.as_str()), ("pos", "neg"));
    assert!(p[0].probability > 0.5 && (p[0].probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert_eq!(p.len(), 3);
    // A text past --max-words is read in pieces, their probabilities averaged by length:
    // a distribution still, and the label of its parts; a text within it reads whole.
    let long = ["the film was superb"; 50].join(" ");
    let whole = predict(&m, &meta, std::slice::from_ref(&long), 1000).unwrap();
    let parts = predict(&m, &meta, &[long.clone(), "a dull plot".into()], 30).unwrap();
    assert_eq!(parts[0].label, "pos");
    assert!((parts[0].probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert!((parts[0].probability - whole[0].probability).abs() < 0.2);
    assert_eq!(parts[1], p[1]);

    // 2 epochs + resume to 4 = 4 epochs straight (same final weights).
    let split = tmp("cls-split");
    let mut r1 = TrainRequest::new(&split);
    r1.limits.epochs = Some(2.0);
    train_classify(&cfg, data(), &r1, &mut Quiet).unwrap();
    let mut r2 = TrainRequest::new(&split);
    r2.limits.epochs = Some(4.0);
    r2.resume = true;
    train_classify(&cfg, data(), &r2, &mut Quiet).unwrap();
    let sha = |dir: &Path| {
        let p = recurrent::train::run::list_checkpoints(dir)
            .unwrap()
            .pop()
            .unwrap();
        recurrent::checkpoint::weights_sha256(
            &recurrent::checkpoint::read(&p).unwrap().weights_only(),
        )
    };
    assert_eq!(sha(&out), sha(&split));
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&split);
}

/// With weight drop, locked dropout between two layers and zoneout, a classifier still
/// learns, its checkpoint records them, and a resumed run draws the same masks (the same
/// final bits).
#[test]
fn weight_drop_and_locked_dropout_train_and_resume_bit_for_bit() {
    let data = || ClassifyData {
        train: toy_sentiment(320, 1),
        valid: Some(toy_sentiment(100, 2)),
        test: Some(toy_sentiment(100, 3)),
    };
    let cfg = ClassifyTrainConfig {
        layers: 2,
        reg: recurrent::layer::RecurrentReg {
            weight_drop: 0.3,
            variational: true,
            zoneout: recurrent::cell::zoneout::Zoneout { h: 0.1, c: 0.3 },
        },
        ..small_classify()
    };
    let (whole, split) = (tmp("cls-wd"), tmp("cls-wd-split"));
    let mut req = TrainRequest::new(&whole);
    req.limits.epochs = Some(4.0);
    let s = train_classify(&cfg, data(), &req, &mut Quiet).unwrap();
    assert!(s.test.unwrap().accuracy > 0.9);
    let (_, meta) = load_classifier(&whole.join("best.safetensors")).unwrap();
    assert_eq!(meta.model.encoder.reg.weight_drop, 0.3);
    assert!(meta.model.encoder.reg.variational);
    assert_eq!(meta.model.encoder.reg.zoneout, cfg.reg.zoneout);
    let mut r1 = TrainRequest::new(&split);
    r1.limits.epochs = Some(2.0);
    train_classify(&cfg, data(), &r1, &mut Quiet).unwrap();
    let mut r2 = TrainRequest::new(&split);
    r2.limits.epochs = Some(4.0);
    r2.resume = true;
    train_classify(&cfg, data(), &r2, &mut Quiet).unwrap();
    let sha = |dir: &Path| {
        let p = recurrent::train::run::list_checkpoints(dir)
            .unwrap()
            .pop()
            .unwrap();
        recurrent::checkpoint::weights_sha256(
            &recurrent::checkpoint::read(&p).unwrap().weights_only(),
        )
    };
    assert_eq!(sha(&whole), sha(&split));
    let _ = std::fs::remove_dir_all(&whole);
    let _ = std::fs::remove_dir_all(&split);
}

/// Tags from a word's ending: `-ly` ADV, `-ing` VERB, capitalised PROPN, else NOUN after
/// `the` and DET for `the`. Unseen words with those endings must be tagged from their
/// suffix and shape.
#[test]
fn tagger_learns_suffixes_for_unseen_words() {
    use recurrent_tasks::tag::conllu::TaggedSentence;
    let stems = [
        "walk", "talk", "quick", "slow", "sing", "read", "jump", "calm", "bright", "soft",
    ];
    let names = ["Anna", "Boris", "Carl", "Dora", "Emil"];
    let make = |n: usize, seed: u64, stems: &[&str], names: &[&str]| -> Vec<TaggedSentence> {
        let mut rng = Rng::new(seed);
        (0..n)
            .map(|_| {
                let mut s = TaggedSentence::default();
                for _ in 0..(2 + rng.below(5)) {
                    let stem = stems[rng.below(stems.len())];
                    let (w, t) = match rng.below(4) {
                        0 => (format!("{stem}ly"), "ADV"),
                        1 => (format!("{stem}ing"), "VERB"),
                        2 => (names[rng.below(names.len())].to_string(), "PROPN"),
                        _ => {
                            s.words.push("the".into());
                            s.tags.push("DET".into());
                            (stem.to_string(), "NOUN")
                        }
                    };
                    s.words.push(w);
                    s.tags.push(t.into());
                }
                s
            })
            .collect()
    };
    let train = make(300, 1, &stems, &names);
    let test = make(60, 2, &["blink", "drift"], &["Xena", "Yuri"]);
    let mut cfg = TagTrainConfig {
        hidden: 16,
        embed: 16,
        suffix_embed: 8,
        shape_embed: 4,
        ..Default::default()
    };
    cfg.optim.lr = 1e-2;
    let out = tmp("tag");
    let mut req = TrainRequest::new(&out);
    req.limits.epochs = Some(4.0);
    let s = train_tag(
        &cfg,
        &train,
        Some(&train[..50]),
        Some(&test),
        &req,
        &mut Quiet,
    )
    .unwrap();
    let t = s.test.unwrap();
    assert!(t.unseen_tokens > 50, "{}", t.unseen_tokens);
    assert!(
        t.unseen_accuracy.unwrap() > 0.9,
        "unseen accuracy {:?}",
        t.unseen_accuracy
    );
    assert!(t.tokens.accuracy > 0.9);
    let (m, meta) = load_tagger(&out.join("best.safetensors")).unwrap();
    let w = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
    let tags = tag_sentences(&m, &meta, &[w("Zoe blinking softly"), vec![]], 1000).unwrap();
    assert_eq!(tags[0], ["PROPN", "VERB", "ADV"]);
    assert!(tags[1].is_empty());
    // A sentence past --max-tokens is read in windows: one tag per word, and the tags of
    // the words away from a cut are those of reading it whole.
    let long: Vec<String> = test.iter().take(40).flat_map(|s| s.words.clone()).collect();
    let whole = tag_sentences(&m, &meta, std::slice::from_ref(&long), 100_000).unwrap();
    let windowed = tag_sentences(&m, &meta, std::slice::from_ref(&long), 64).unwrap();
    assert!(long.len() > 200, "{}", long.len());
    assert_eq!(windowed[0].len(), long.len());
    let same = whole[0]
        .iter()
        .zip(&windowed[0])
        .filter(|(a, b)| a == b)
        .count();
    assert!(
        same as f64 >= 0.97 * long.len() as f64,
        "{same} of {}",
        long.len()
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn shared_corpora_read_as_documented() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let sent = shared.join("data/sentiment");
    let o = ReadOptions::default();
    let sst = read_labelled(&[sent.join("sst/stsa.binary.train")], &o).unwrap();
    assert_eq!(sst.format, LabelledFormat::LabelSpace);
    assert_eq!(sst.examples.len(), 6920);
    assert_eq!(sst.examples.iter().filter(|e| e.label == "1").count(), 3610);
    let rt = [
        sent.join("rt-polarity/rt-polarity.pos"),
        sent.join("rt-polarity/rt-polarity.neg"),
    ];
    let e = read_labelled(&rt, &o).unwrap_err().to_string();
    assert!(e.contains("--encoding windows-1252"), "{e}");
    let cp = ReadOptions {
        encoding: Some("windows-1252".into()),
        ..o
    };
    let rt = read_labelled(&rt, &cp).unwrap();
    assert_eq!(rt.format, LabelledFormat::PerClass);
    assert_eq!(rt.examples.len(), 10662);
    assert!(rt.examples.iter().any(|e| e.text.contains('é')));
    let pos = shared.join("data/pos");
    for (f, sents, words) in [
        ("en_lines-ud-train.conllu", 3457, 64684),
        ("en_lines-ud-dev.conllu", 1118, 21637),
        ("en_lines-ud-test.conllu", 1121, 19984),
    ] {
        let s = read_conllu(&pos.join(f), 3).unwrap();
        assert_eq!(s.len(), sents, "{f}");
        assert_eq!(s.iter().map(|x| x.words.len()).sum::<usize>(), words, "{f}");
    }
}

#[test]
fn pretrained_vectors_replace_initial_embeddings() {
    let dir = tmp("vectors");
    std::fs::create_dir_all(&dir).unwrap();
    let vec_file = dir.join("vectors.txt");
    let superb: Vec<f32> = (0..16).map(|i| i as f32 / 8.0 - 1.0).collect();
    let line: Vec<String> = superb.iter().map(|v| v.to_string()).collect();
    std::fs::write(
        &vec_file,
        format!(
            "2 16\nSUPERB {}\nnotinvocab {}\n",
            line.join(" "),
            line.join(" ")
        ),
    )
    .unwrap();
    let mut cfg = ClassifyTrainConfig {
        vectors: Some(vec_file.display().to_string()),
        ..small_classify()
    };
    cfg.optim.lr = 1e-12;
    let out = dir.join("run");
    let data = ClassifyData {
        train: toy_sentiment(64, 1),
        valid: Some(toy_sentiment(16, 2)),
        test: None,
    };
    let mut req = TrainRequest::new(&out);
    req.limits.steps = Some(1);
    train_classify(&cfg, data.clone(), &req, &mut Quiet).unwrap();
    let (m, meta) = load_classifier(&out.join("best.safetensors")).unwrap();
    let id = meta.vocab.id("superb").unwrap() as usize;
    let mut row = Vec::new();
    m.visit(&mut |p| {
        if p.name == "embed.weight" {
            row = p.value.data()[id * 16..(id + 1) * 16].to_vec();
        }
    });
    for (a, b) in row.iter().zip(&superb) {
        assert!((a - b).abs() < 1e-6, "{row:?}");
    }
    // A width that is not --embed names the line.
    let bad = ClassifyTrainConfig { embed: 8, ..cfg };
    let e = train_classify(&bad, data, &TrainRequest::new(dir.join("run2")), &mut Quiet)
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2: 16 numbers"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
