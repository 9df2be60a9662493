//! Every model shape of the seeds learns a small task to a stated accuracy within a stated
//! number of steps (seconds each), and passes a finite-difference check in f64.

use recurrent::cell::CellKind;
use recurrent::init::Init;
use recurrent::model::*;
use recurrent::nn::{CrossEntropy, Reduction, Regression};
use recurrent::nn::{Sampler, SamplerConfig};
use recurrent::optim::{Adam, AdamConfig, Optimizer};
use recurrent::{Module, Rng};

fn adam(lr: f64) -> Adam<f32> {
    Adam::new(AdamConfig {
        lr,
        ..Default::default()
    })
    .unwrap()
}

/// Many-to-one regression: the adding problem at T = 10 (two marked values of ten).
#[test]
fn classifier_learns_the_adding_problem() {
    let cfg = ClassifierConfig {
        input: InputKind::Dense { size: 2 },
        encoder: EncoderConfig {
            cell: CellKind::Lstm,
            hidden: 24,
            layers: 1,
            bidirectional: false,
            dropout: 0.0,
            reg: Default::default(),
        },
        pooling: Pooling::Last,
        outputs: 1,
    };
    let mut rng = Rng::new(1);
    let mut m: Classifier<f32> = Classifier::new(cfg, &Init::recommended(), &mut rng).unwrap();
    let mut opt = adam(1e-2);
    let (t, b) = (10, 32);
    let batch = |rng: &mut Rng| {
        let mut x = vec![0f32; t * b * 2];
        let mut y = vec![0f32; b];
        for bi in 0..b {
            let i = rng.below(t / 2);
            let j = t / 2 + rng.below(t / 2);
            for ti in 0..t {
                let v = rng.uniform() as f32;
                x[(ti * b + bi) * 2] = v;
                if ti == i || ti == j {
                    x[(ti * b + bi) * 2 + 1] = 1.0;
                    y[bi] += v;
                }
            }
        }
        (
            SeqBatch {
                steps: Steps::Dense(x),
                t,
                b,
                lengths: None,
            },
            y,
        )
    };
    let mut last = f64::MAX;
    for step in 0..600 {
        let (sb, y) = batch(&mut rng);
        let (out, cache) = m.forward(&sb, None).unwrap();
        let (loss, d) = Regression::Mse
            .loss(&out, &y, None, Reduction::Mean)
            .unwrap();
        m.zero_grad();
        m.backward(&sb, &cache, &d).unwrap();
        opt.step(&mut m).unwrap();
        if step >= 590 {
            last = last.min(loss);
        }
    }
    println!("adding T=10: MSE {last}");
    assert!(
        last < 0.01,
        "adding problem MSE {last} (trivial predictor: 0.167)"
    );
}

/// Many-to-many aligned: a bidirectional tagger on a synthetic grammar whose tag needs both
/// sides: tag = whether the previous token is equal to, below or above the next one.
#[test]
fn bidirectional_tagger_learns_context_tags() {
    let cfg = TaggerConfig {
        input: InputKind::Tokens { vocab: 6, embed: 8 },
        encoder: EncoderConfig {
            cell: CellKind::Gru,
            hidden: 24,
            layers: 1,
            bidirectional: true,
            dropout: 0.0,
            reg: Default::default(),
        },
        outputs: 3,
    };
    let mut rng = Rng::new(2);
    let mut m: Tagger<f32> = Tagger::new(cfg, &Init::default(), &mut rng).unwrap();
    let mut opt = adam(1e-2);
    let (t, b) = (8, 16);
    let mut acc = 0.0;
    for step in 0..400 {
        let lengths: Vec<usize> = (0..b).map(|_| 3 + rng.below(t - 2)).collect();
        let mut ids = vec![0u32; t * b];
        let mut tags = vec![0usize; t * b];
        let mut mask = vec![false; t * b];
        for bi in 0..b {
            let seq: Vec<u32> = (0..lengths[bi]).map(|_| rng.below(6) as u32).collect();
            for ti in 0..lengths[bi] {
                ids[ti * b + bi] = seq[ti];
                let prev = if ti > 0 { seq[ti - 1] } else { 0 };
                let next = if ti + 1 < seq.len() { seq[ti + 1] } else { 0 };
                tags[ti * b + bi] = match prev.cmp(&next) {
                    std::cmp::Ordering::Equal => 0,
                    std::cmp::Ordering::Less => 1,
                    std::cmp::Ordering::Greater => 2,
                };
                mask[ti * b + bi] = true;
            }
        }
        let sb = SeqBatch {
            steps: Steps::Ids(ids),
            t,
            b,
            lengths: Some(lengths),
        };
        let (logits, cache) = m.forward(&sb, None).unwrap();
        let (_, d) = CrossEntropy::new()
            .loss(&logits, 3, &tags, Some(&mask))
            .unwrap();
        if step >= 380 {
            let (mut ok, mut n) = (0, 0);
            for r in 0..t * b {
                if mask[r] {
                    let row = &logits[r * 3..r * 3 + 3];
                    ok += usize::from(recurrent::nn::sample::argmax(row) as usize == tags[r]);
                    n += 1;
                }
            }
            acc = ok as f64 / n as f64;
        }
        m.zero_grad();
        m.backward(&sb, &cache, &d).unwrap();
        opt.step(&mut m).unwrap();
    }
    println!("tagger accuracy {acc}");
    assert!(acc > 0.95, "tagger accuracy {acc}");
}

/// Many-to-many: the language model learns a deterministic pattern.
#[test]
fn language_model_learns_a_pattern() {
    let cfg = LmConfig {
        cell: CellKind::Lstm,
        vocab: 5,
        embed: 8,
        hidden: 32,
        layers: 1,
        dropout: 0.0,
        reg: Default::default(),
        tie: false,
    };
    let mut rng = Rng::new(3);
    let mut m: LanguageModel<f32> = LanguageModel::new(cfg, &Init::default(), &mut rng).unwrap();
    let mut opt = adam(1e-2);
    let pattern = [0u32, 1, 2, 3, 4, 3, 2, 1];
    let (t, b) = (16, 4);
    let mut loss = f64::MAX;
    for _ in 0..150 {
        let start: Vec<usize> = (0..b).map(|_| rng.below(8)).collect();
        let ids: Vec<u32> = (0..t)
            .flat_map(|ti| start.iter().map(move |s| pattern[(s + ti) % 8]))
            .collect();
        let tg: Vec<usize> = (0..t)
            .flat_map(|ti| {
                start
                    .iter()
                    .map(move |s| pattern[(s + ti + 1) % 8] as usize)
            })
            .collect();
        let (logits, _, cache) = m.forward(&ids, t, b, None, None).unwrap();
        let (l, d) = CrossEntropy::new().loss(&logits, 5, &tg, None).unwrap();
        loss = l;
        m.zero_grad();
        m.backward(&cache, &d).unwrap();
        opt.step(&mut m).unwrap();
    }
    println!("lm loss {loss}");
    assert!(loss < 0.05, "pattern LM loss {loss}");
}

/// One-to-many: a one-hot condition selects which of four sequences to generate.
#[test]
fn generator_learns_sequences_from_a_condition() {
    for cond in [Conditioning::InitState, Conditioning::EveryStep] {
        let cfg = GeneratorConfig {
            cell: CellKind::Gru,
            cond: 4,
            vocab: 7,
            embed: 8,
            hidden: 32,
            layers: 1,
            conditioning: cond,
            bos: 6,
        };
        let mut rng = Rng::new(4);
        let mut m: Generator<f32> = Generator::new(cfg, &Init::default(), &mut rng).unwrap();
        let mut opt = adam(1e-2);
        let seqs: [[u32; 6]; 4] = [
            [0, 1, 2, 3, 4, 5],
            [5, 4, 3, 2, 1, 0],
            [0, 0, 1, 1, 2, 2],
            [3, 1, 4, 1, 5, 2],
        ];
        let (t, b) = (6, 4);
        let mut c = vec![0f32; b * 4];
        for i in 0..4 {
            c[i * 4 + i] = 1.0;
        }
        let y: Vec<u32> = (0..t)
            .flat_map(|ti| (0..4).map(move |bi| seqs[bi][ti]))
            .collect();
        let tg: Vec<usize> = y.iter().map(|&v| v as usize).collect();
        for _ in 0..200 {
            let (logits, cache) = m.forward(&c, &y, t, b).unwrap();
            let (_, d) = CrossEntropy::new().loss(&logits, 7, &tg, None).unwrap();
            m.zero_grad();
            m.backward(&cache, &d).unwrap();
            opt.step(&mut m).unwrap();
        }
        let mut greedy = Sampler::new(SamplerConfig {
            temperature: 0.0,
            ..Default::default()
        })
        .unwrap();
        for (i, s) in seqs.iter().enumerate() {
            let out = m
                .generate(&c[i * 4..(i + 1) * 4], 6, &mut greedy, &mut rng)
                .unwrap();
            assert_eq!(&out, s, "{cond:?}: condition {i}");
        }
    }
}

/// Encoder-decoder: reverse a sequence, exactly, with greedy and beam decoding; beam 1 is
/// greedy.
#[test]
fn seq2seq_learns_to_reverse() {
    // Target vocabulary: 0..6 symbols, 6 = BOS, 7 = EOS.
    let cfg = Seq2SeqConfig {
        cell: CellKind::Gru,
        src_vocab: 6,
        tgt_vocab: 8,
        embed: 16,
        hidden: 64,
        layers: 1,
        bidirectional_encoder: true,
        dropout: 0.0,
        reg: Default::default(),
        bos: 6,
        eos: 7,
        attention: Attention::None,
        input_feed: false,
    };
    let mut rng = Rng::new(5);
    let mut m: Seq2Seq<f32> = Seq2Seq::new(cfg, &Init::default(), &mut rng).unwrap();
    let mut opt = adam(5e-3);
    let b = 32;
    let sample = |rng: &mut Rng| -> Vec<u32> {
        (0..3 + rng.below(3)).map(|_| rng.below(6) as u32).collect()
    };
    // 1600 steps, not 1200: there the exact-match rate sat at 94-99 depending on the seed
    // and on the last bits of the softmax's rounding (this seed: 94 after a change to it),
    // on the bar rather than above it. Here it is 99.
    for step in 0..1600 {
        let srcs: Vec<Vec<u32>> = (0..b).map(|_| sample(&mut rng)).collect();
        let ts = srcs.iter().map(|s| s.len()).max().unwrap_or(1);
        let tt = ts + 1;
        let mut src = vec![0u32; ts * b];
        let mut tgt = vec![7u32; tt * b];
        let mut mask = vec![false; tt * b];
        for (bi, s) in srcs.iter().enumerate() {
            for (ti, &v) in s.iter().enumerate() {
                src[ti * b + bi] = v;
                tgt[ti * b + bi] = s[s.len() - 1 - ti];
                mask[ti * b + bi] = true;
            }
            mask[s.len() * b + bi] = true; // EOS
        }
        let lengths = srcs.iter().map(|s| s.len()).collect();
        let sb = SeqBatch {
            steps: Steps::Ids(src),
            t: ts,
            b,
            lengths: Some(lengths),
        };
        let ratio = if step < 1000 { 1.0 } else { 0.7 };
        let (logits, cache) = m.forward(&sb, &tgt, tt, ratio, Some(&mut rng)).unwrap();
        let tg: Vec<usize> = tgt.iter().map(|&v| v as usize).collect();
        let (_, d) = CrossEntropy::new()
            .loss(&logits, 8, &tg, Some(&mask))
            .unwrap();
        m.zero_grad();
        m.backward(&sb, &cache, &d).unwrap();
        opt.step(&mut m).unwrap();
    }
    let (mut exact, mut beam_exact) = (0, 0);
    let n = 100;
    for _ in 0..n {
        let s = sample(&mut rng);
        let want: Vec<u32> = s.iter().rev().copied().collect();
        let g = m.greedy(&s, 10).unwrap();
        let b1 = m.beam_search(&s, 1, 10, 0.0, 1).unwrap();
        assert_eq!(b1[0].1, g, "beam 1 must equal greedy");
        exact += usize::from(g == want);
        let bs = m.beam_search(&s, 4, 10, 1.0, 3).unwrap();
        beam_exact += usize::from(bs[0].1 == want);
    }
    println!("reverse: greedy exact {exact}/{n}, beam-4 exact {beam_exact}/{n}");
    assert!(exact >= 95, "greedy exact match {exact}/{n}");
    assert!(beam_exact >= 95, "beam exact match {beam_exact}/{n}");
}

/// One-to-one is the degenerate case T = 1: XOR of two inputs.
#[test]
fn one_to_one_is_t_equals_one() {
    let cfg = ClassifierConfig {
        input: InputKind::Dense { size: 2 },
        encoder: EncoderConfig {
            cell: CellKind::RnnTanh,
            hidden: 16,
            layers: 1,
            bidirectional: false,
            dropout: 0.0,
            reg: Default::default(),
        },
        pooling: Pooling::Last,
        outputs: 2,
    };
    let mut rng = Rng::new(6);
    let mut m: Classifier<f32> = Classifier::new(cfg, &Init::default(), &mut rng).unwrap();
    let mut opt = adam(3e-2);
    let x = vec![0f32, 0., 0., 1., 1., 0., 1., 1.];
    let y = [0usize, 1, 1, 0];
    let sb = SeqBatch {
        steps: Steps::Dense(x),
        t: 1,
        b: 4,
        lengths: None,
    };
    for _ in 0..300 {
        let (logits, cache) = m.forward(&sb, None).unwrap();
        let (_, d) = CrossEntropy::new().loss(&logits, 2, &y, None).unwrap();
        m.zero_grad();
        m.backward(&sb, &cache, &d).unwrap();
        opt.step(&mut m).unwrap();
    }
    let (logits, _) = m.forward(&sb, None).unwrap();
    for (i, &want) in y.iter().enumerate() {
        assert_eq!(
            recurrent::nn::sample::argmax(&logits[i * 2..i * 2 + 2]) as usize,
            want
        );
    }
}

// ---- finite differences on each whole model (f64) ----

fn fd_check<M: Module<f64>>(name: &str, m: &mut M, loss: impl FnMut(&mut M, bool) -> f64) {
    let r = recurrent::gradcheck::check(m, loss, 1e-4, 25);
    println!(
        "{name}: max_rel_err={:e} ({} entries; worst {})",
        r.max_rel_err, r.checked, r.worst
    );
    assert!(r.max_rel_err < 1e-5, "{name}: {}", r.worst);
}

#[test]
fn whole_models_pass_finite_differences() {
    let mut rng = Rng::new(7);
    // Classifier with each pooling, bidirectional, variable lengths.
    for pooling in [Pooling::Last, Pooling::Mean, Pooling::Max] {
        let cfg = ClassifierConfig {
            input: InputKind::Tokens { vocab: 5, embed: 3 },
            encoder: EncoderConfig {
                cell: CellKind::Lstm,
                hidden: 4,
                layers: 2,
                bidirectional: true,
                dropout: 0.0,
                reg: Default::default(),
            },
            pooling,
            outputs: 3,
        };
        let mut m: Classifier<f64> = Classifier::new(cfg, &Init::default(), &mut rng).unwrap();
        let sb = SeqBatch {
            steps: Steps::Ids(vec![1, 2, 3, 4, 0, 1, 2, 0, 3, 1, 4, 2]),
            t: 4,
            b: 3,
            lengths: Some(vec![4, 2, 3]),
        };
        let y = [0usize, 2, 1];
        fd_check(&format!("classifier {pooling:?}"), &mut m, |m, bw| {
            let (lg, c) = m.forward(&sb, None).unwrap();
            let (l, d) = CrossEntropy::new().loss(&lg, 3, &y, None).unwrap();
            if bw {
                m.backward(&sb, &c, &d).unwrap();
            }
            l
        });
    }
    // Tagger.
    let cfg = TaggerConfig {
        input: InputKind::Dense { size: 3 },
        encoder: EncoderConfig {
            cell: CellKind::Gru,
            hidden: 4,
            layers: 1,
            bidirectional: true,
            dropout: 0.0,
            reg: Default::default(),
        },
        outputs: 3,
    };
    let mut m: Tagger<f64> = Tagger::new(cfg, &Init::default(), &mut rng).unwrap();
    let x: Vec<f64> = (0..4 * 2 * 3).map(|_| rng.normal()).collect();
    let sb = SeqBatch {
        steps: Steps::Dense(x),
        t: 4,
        b: 2,
        lengths: Some(vec![4, 3]),
    };
    let tags = [0usize, 1, 2, 0, 1, 2, 0, 0];
    let mask = [true, true, true, true, true, true, true, false];
    fd_check("tagger", &mut m, |m, bw| {
        let (lg, c) = m.forward(&sb, None).unwrap();
        let (l, d) = CrossEntropy::new()
            .loss(&lg, 3, &tags, Some(&mask))
            .unwrap();
        if bw {
            m.backward(&sb, &c, &d).unwrap();
        }
        l
    });
    // Language model.
    let cfg = LmConfig {
        cell: CellKind::Gru,
        vocab: 6,
        embed: 3,
        hidden: 5,
        layers: 2,
        dropout: 0.0,
        reg: Default::default(),
        tie: false,
    };
    let mut m: LanguageModel<f64> = LanguageModel::new(cfg, &Init::default(), &mut rng).unwrap();
    let ids = [1u32, 2, 3, 4, 5, 0];
    let tg = [2usize, 3, 4, 5, 0, 1];
    fd_check("language model", &mut m, |m, bw| {
        let (lg, _, c) = m.forward(&ids, 3, 2, None, None).unwrap();
        let (l, d) = CrossEntropy::new().loss(&lg, 6, &tg, None).unwrap();
        if bw {
            m.backward(&c, &d).unwrap();
        }
        l
    });
    // Generator, both conditionings.
    for cond in [Conditioning::InitState, Conditioning::EveryStep] {
        let cfg = GeneratorConfig {
            cell: CellKind::Lstm,
            cond: 3,
            vocab: 5,
            embed: 3,
            hidden: 4,
            layers: 2,
            conditioning: cond,
            bos: 4,
        };
        let mut m: Generator<f64> = Generator::new(cfg, &Init::default(), &mut rng).unwrap();
        let c: Vec<f64> = (0..2 * 3).map(|_| rng.normal()).collect();
        let y = [0u32, 1, 2, 3, 1, 0];
        let tg: Vec<usize> = y.iter().map(|&v| v as usize).collect();
        fd_check(&format!("generator {cond:?}"), &mut m, |m, bw| {
            let (lg, cache) = m.forward(&c, &y, 3, 2).unwrap();
            let (l, d) = CrossEntropy::new().loss(&lg, 5, &tg, None).unwrap();
            if bw {
                m.backward(&cache, &d).unwrap();
            }
            l
        });
    }
    // Seq2seq: bidirectional LSTM encoder (bridge), full and step-wise teacher forcing.
    for ratio in [1.0, 0.5] {
        let cfg = Seq2SeqConfig {
            cell: CellKind::Lstm,
            src_vocab: 5,
            tgt_vocab: 6,
            embed: 3,
            hidden: 4,
            layers: 2,
            bidirectional_encoder: true,
            dropout: 0.0,
            reg: Default::default(),
            bos: 4,
            eos: 5,
            attention: Attention::None,
            input_feed: false,
        };
        let mut m: Seq2Seq<f64> = Seq2Seq::new(cfg, &Init::default(), &mut rng).unwrap();
        let sb = SeqBatch {
            steps: Steps::Ids(vec![1, 2, 3, 0, 4, 1]),
            t: 3,
            b: 2,
            lengths: Some(vec![3, 2]),
        };
        let tgt = [0u32, 1, 2, 3, 5, 5];
        let tg: Vec<usize> = tgt.iter().map(|&v| v as usize).collect();
        fd_check(&format!("seq2seq ratio {ratio}"), &mut m, |m, bw| {
            // The same decisions every call: a fixed stream for the teacher-forcing coin.
            let (lg, c) = m
                .forward(&sb, &tgt, 3, ratio, Some(&mut Rng::new(11)))
                .unwrap();
            let (l, d) = CrossEntropy::new().loss(&lg, 6, &tg, None).unwrap();
            if bw {
                m.backward(&sb, &c, &d).unwrap();
            }
            l
        });
    }
}
