//! Encoder-decoder with and without Luong attention: finite differences of the whole model
//! in f64 (with dropout on embeddings and the head's input, its masks fixed by the seed), padding that attention must not see, and beam search of width 1 against the
//! separate greedy decoder.

use recurrent::cell::CellKind;
use recurrent::init::Init;
use recurrent::model::*;
use recurrent::nn::CrossEntropy;
use recurrent::{Module, Rng};

fn config(
    cell: CellKind,
    bidirectional: bool,
    layers: usize,
    attention: Attention,
) -> Seq2SeqConfig {
    Seq2SeqConfig {
        cell,
        src_vocab: 5,
        tgt_vocab: 6,
        embed: 3,
        hidden: 4,
        layers,
        bidirectional_encoder: bidirectional,
        dropout: 0.0,
        reg: Default::default(),
        bos: 4,
        eos: 5,
        attention,
        input_feed: false,
    }
}

#[test]
fn attention_model_passes_finite_differences() {
    let mut rng = Rng::new(3);
    let cases = [
        (CellKind::Lstm, true, 2, 1.0, Attention::Luong),
        (CellKind::Lstm, true, 2, 0.5, Attention::Luong),
        (CellKind::Gru, false, 1, 1.0, Attention::Luong),
        (CellKind::RnnTanh, false, 2, 0.5, Attention::Luong),
        (CellKind::Lstm, true, 2, 1.0, Attention::Additive),
        (CellKind::Gru, false, 1, 0.5, Attention::Additive),
    ];
    for (cell, bidi, layers, ratio, attention) in cases {
        let mut m: Seq2Seq<f64> = Seq2Seq::new(
            config(cell, bidi, layers, attention),
            &Init::default(),
            &mut rng,
        )
        .unwrap();
        assert!(m.attention.is_some());
        // Source lengths 3, 2, 1: attention is masked over the padding of the last two.
        let sb = SeqBatch {
            steps: Steps::Ids(vec![1, 2, 3, 0, 4, 0, 3, 1, 2]),
            t: 3,
            b: 3,
            lengths: Some(vec![3, 2, 1]),
        };
        let tgt = [0u32, 1, 2, 3, 5, 1, 5, 2, 5];
        let tg: Vec<usize> = tgt.iter().map(|&v| v as usize).collect();
        let r = recurrent::gradcheck::check(
            &mut m,
            |m, bw| {
                let (lg, c) = m
                    .forward(&sb, &tgt, 3, ratio, Some(&mut Rng::new(11)))
                    .unwrap();
                let (l, d) = CrossEntropy::new().loss(&lg, 6, &tg, None).unwrap();
                if bw {
                    m.backward(&sb, &c, &d).unwrap();
                }
                l
            },
            1e-4,
            25,
        );
        let name = format!("{cell} bidi={bidi} layers={layers} ratio={ratio} {attention}");
        println!(
            "{name}: max_rel_err={:e} ({} entries; worst {})",
            r.max_rel_err, r.checked, r.worst
        );
        assert!(r.max_rel_err < 1e-5, "{name}: {}", r.worst);
        // Every attention parameter received a gradient.
        let mut seen = 0;
        m.visit(&mut |p| {
            if p.name.starts_with("decoder.attn.") {
                seen += 1;
                assert!(p.grad.data().iter().any(|g| *g != 0.0), "{}", p.name);
            }
        });
        // key and combine; the additive score's query and v besides.
        let want = if attention == Attention::Additive {
            4
        } else {
            2
        };
        assert_eq!(seen, want, "{name}");
    }
}

#[test]
fn attention_ignores_source_padding() {
    let mut rng = Rng::new(4);
    let m: Seq2Seq<f64> = Seq2Seq::new(
        config(CellKind::Gru, true, 1, Attention::Luong),
        &Init::default(),
        &mut rng,
    )
    .unwrap();
    let tgt = [0u32, 1, 5, 5];
    let run = |pad: u32| {
        let sb = SeqBatch {
            steps: Steps::Ids(vec![1, 2, 3, pad]),
            t: 2,
            b: 2,
            lengths: Some(vec![2, 1]),
        };
        m.forward(&sb, &tgt, 2, 1.0, None).unwrap().0
    };
    assert_eq!(run(0), run(4), "a padded source step changed the logits");
    // The short source alone gives the same logits as inside the padded batch.
    let alone = SeqBatch {
        steps: Steps::Ids(vec![2]),
        t: 1,
        b: 1,
        lengths: None,
    };
    let (lg1, _) = m.forward(&alone, &[1, 5], 2, 1.0, None).unwrap();
    let lg2 = run(0);
    for t in 0..2 {
        for v in 0..6 {
            let (a, b) = (lg1[t * 6 + v], lg2[(t * 2 + 1) * 6 + v]);
            assert!((a - b).abs() < 1e-12, "step {t} token {v}: {a} vs {b}");
        }
    }
}

#[test]
fn beam_one_equals_greedy_with_and_without_attention() {
    let kinds = [
        (Attention::None, false),
        (Attention::Luong, false),
        (Attention::Additive, false),
        (Attention::Luong, true),
    ];
    for (attention, input_feed) in kinds {
        for (cell, bidi) in [(CellKind::Lstm, true), (CellKind::Gru, false)] {
            let mut rng = Rng::new(9);
            let mut cfg = config(cell, bidi, 2, attention);
            cfg.input_feed = input_feed;
            // A larger target vocabulary and EOS rarely first: decoding runs many steps.
            cfg.tgt_vocab = 12;
            cfg.bos = 10;
            cfg.eos = 11;
            cfg.hidden = 16;
            cfg.embed = 8;
            let mut m: Seq2Seq<f64> = Seq2Seq::new(cfg, &Init::default(), &mut rng).unwrap();
            // An untrained model may end at once; a lower EOS bias makes hypotheses long
            // enough for the two decoders to disagree if either is wrong.
            if let Some(b) = &mut m.head.bias {
                b.value.data_mut()[11] -= 1.0;
            }
            let srcs: Vec<Vec<u32>> = (0..20)
                .map(|_| (0..1 + rng.below(6)).map(|_| rng.below(5) as u32).collect())
                .collect();
            let refs: Vec<&[u32]> = srcs.iter().map(|s| s.as_slice()).collect();
            let batched = m.greedy_batch(&refs, 12).unwrap();
            let mut lens = Vec::new();
            for (s, g_batched) in srcs.iter().zip(&batched) {
                let g = m.greedy(s, 12).unwrap();
                assert_eq!(&g, g_batched, "{attention}: batched greedy differs");
                let b1 = m.beam_search(s, 1, 12, 0.0, 1).unwrap();
                assert_eq!(b1[0].1, g, "{attention} {cell}: beam 1 must equal greedy");
                // With length normalisation too: one hypothesis has nothing to rank against.
                let b1n = m.beam_search(s, 1, 12, 1.0, 1).unwrap();
                assert_eq!(b1n[0].1, g);
                // A wider beam finds a hypothesis at least as probable (unnormalised).
                let b4 = m.beam_search(s, 4, 12, 0.0, 4).unwrap();
                assert!(b4.windows(2).all(|w| w[0].0 >= w[1].0), "n-best sorted");
                lens.push(g.len());
            }
            // The test means something only if decoding ran past the first step.
            assert!(lens.iter().any(|&l| l >= 2), "{lens:?}");
        }
    }
}

/// Beam search of many sources batched together (their hypotheses rows of one decoder
/// batch, attention mapping each row to its source) finds, for every source, the
/// hypotheses and scores of a search of that source alone.
#[test]
fn batched_beam_search_equals_one_source_at_a_time() {
    let kinds = [
        (Attention::Luong, false),
        (Attention::Additive, false),
        (Attention::None, false),
        (Attention::Additive, true),
    ];
    for (attention, input_feed) in kinds {
        let mut rng = Rng::new(21);
        let mut cfg = config(CellKind::Lstm, true, 1, attention);
        cfg.input_feed = input_feed;
        cfg.tgt_vocab = 12;
        cfg.bos = 10;
        cfg.eos = 11;
        cfg.hidden = 16;
        cfg.embed = 8;
        let mut m: Seq2Seq<f64> = Seq2Seq::new(cfg, &Init::default(), &mut rng).unwrap();
        if let Some(b) = &mut m.head.bias {
            b.value.data_mut()[11] -= 0.5;
        }
        let srcs: Vec<Vec<u32>> = (0..17)
            .map(|_| (0..1 + rng.below(7)).map(|_| rng.below(5) as u32).collect())
            .collect();
        let refs: Vec<&[u32]> = srcs.iter().map(|s| s.as_slice()).collect();
        // Different length limits per source, as the translator gives them.
        let max_lens: Vec<usize> = srcs.iter().map(|s| 2 * s.len() + 3).collect();
        for (beam, alpha, nbest) in [(3, 1.0, 2), (5, 0.0, 1)] {
            let batched = m
                .beam_search_batch(&refs, beam, &max_lens, alpha, nbest)
                .unwrap();
            assert_eq!(batched.len(), srcs.len());
            let mut steps = 0;
            for (k, s) in srcs.iter().enumerate() {
                let alone = m.beam_search(s, beam, max_lens[k], alpha, nbest).unwrap();
                assert_eq!(alone.len(), batched[k].len(), "{attention} source {k}");
                for (a, b) in alone.iter().zip(&batched[k]) {
                    assert_eq!(a.1, b.1, "{attention} beam {beam} source {k}: other tokens");
                    assert!(
                        (a.0 - b.0).abs() < 1e-9,
                        "{attention} source {k}: {} vs {}",
                        a.0,
                        b.0
                    );
                }
                steps = steps.max(alone[0].1.len());
            }
            assert!(
                steps >= 3,
                "decoding must run several steps to mean anything: {steps}"
            );
        }
    }
}

/// Dropout on the source and target embeddings, between layers and on the head's input:
/// with the random stream fixed the masks are fixed, and the gradient is exact; without a
/// stream (evaluation) nothing is dropped.
#[test]
fn dropout_passes_finite_differences_and_is_off_in_evaluation() {
    let mut rng = Rng::new(5);
    for (attention, layers, ratio) in [
        (Attention::Luong, 1, 1.0),
        (Attention::Luong, 2, 0.5),
        (Attention::None, 1, 1.0),
    ] {
        let cfg = Seq2SeqConfig {
            dropout: 0.3,
            reg: Default::default(),
            ..config(CellKind::Lstm, true, layers, attention)
        };
        let mut m: Seq2Seq<f64> = Seq2Seq::new(cfg, &Init::default(), &mut rng).unwrap();
        let sb = SeqBatch {
            steps: Steps::Ids(vec![1, 2, 3, 0, 4, 0]),
            t: 3,
            b: 2,
            lengths: Some(vec![3, 2]),
        };
        let tgt = [0u32, 1, 2, 5, 5, 0];
        let tg: Vec<usize> = tgt.iter().map(|&v| v as usize).collect();
        let loss = |m: &Seq2Seq<f64>, train: Option<&mut Rng>| {
            let (lg, _) = m.forward(&sb, &tgt, 3, ratio, train).unwrap();
            CrossEntropy::new().loss(&lg, 6, &tg, None).unwrap().0
        };
        // Dropout changes the training loss; evaluation is deterministic.
        assert_ne!(
            loss(&m, Some(&mut Rng::new(11))),
            loss(&m, Some(&mut Rng::new(12)))
        );
        assert_eq!(loss(&m, None), loss(&m, None));
        let r = recurrent::gradcheck::check(
            &mut m,
            |m, bw| {
                let (lg, c) = m
                    .forward(&sb, &tgt, 3, ratio, Some(&mut Rng::new(11)))
                    .unwrap();
                let (l, d) = CrossEntropy::new().loss(&lg, 6, &tg, None).unwrap();
                if bw {
                    m.backward(&sb, &c, &d).unwrap();
                }
                l
            },
            1e-4,
            25,
        );
        let name = format!("dropout, {attention} layers={layers} ratio={ratio}");
        println!(
            "{name}: max_rel_err={:e} ({} entries)",
            r.max_rel_err, r.checked
        );
        assert!(r.max_rel_err < 1e-5, "{name}: {}", r.worst);
    }
}

/// The end-of-sentence penalty of beam search: a large positive one keeps every hypothesis
/// going to the length limit, a large negative one ends the best at once, and a moderate
/// one never shortens the best hypothesis.
#[test]
fn the_eos_penalty_moves_where_hypotheses_end() {
    use recurrent::model::BeamScore;
    let mut rng = Rng::new(33);
    let mut cfg = config(CellKind::Gru, true, 1, Attention::Luong);
    cfg.tgt_vocab = 12;
    cfg.bos = 10;
    cfg.eos = 11;
    cfg.hidden = 16;
    cfg.embed = 8;
    let m: Seq2Seq<f64> = Seq2Seq::new(cfg, &Init::default(), &mut rng).unwrap();
    let with = |p: f64| BeamScore {
        alpha: 1.0,
        eos_penalty: p,
    };
    for _ in 0..10 {
        let s: Vec<u32> = (0..1 + rng.below(6)).map(|_| rng.below(5) as u32).collect();
        let long = m.beam_search(&s, 4, 9, with(1e3), 1).unwrap();
        assert_eq!(long[0].1.len(), 9, "a penalty of 1e3 nats never ends early");
        let short = m.beam_search(&s, 4, 9, with(-1e3), 1).unwrap();
        assert!(short[0].1.is_empty(), "a bonus of 1e3 nats ends at once");
        let plain = m.beam_search(&s, 4, 9, 1.0, 1).unwrap();
        let some = m.beam_search(&s, 4, 9, with(0.0), 1).unwrap();
        assert_eq!(plain, some, "no penalty is plain alpha");
    }
}

/// Input feeding: the decoder reads [e(y_{t-1}); h~_{t-1}]. The gradient is exact (with
/// dropout and scheduled sampling too, masks and draws fixed by the seed), the training
/// forward and the step-by-step decoder compute the same function, and without attention
/// there is nothing to feed.
#[test]
fn input_feeding_passes_finite_differences_and_matches_decoding() {
    let mut rng = Rng::new(8);
    let cases = [
        (CellKind::Lstm, true, 2, 1.0, Attention::Luong, 0.0),
        (CellKind::Gru, false, 1, 0.5, Attention::Additive, 0.0),
        (CellKind::Lstm, true, 1, 1.0, Attention::Luong, 0.3),
        (CellKind::RnnTanh, false, 2, 0.5, Attention::Luong, 0.3),
    ];
    for (cell, bidi, layers, ratio, attention, dropout) in cases {
        let cfg = Seq2SeqConfig {
            dropout,
            input_feed: true,
            ..config(cell, bidi, layers, attention)
        };
        let (e, h) = (cfg.embed, cfg.hidden);
        let mut m: Seq2Seq<f64> = Seq2Seq::new(cfg, &Init::default(), &mut rng).unwrap();
        let mut width = 0;
        m.visit(&mut |p| {
            if p.name == "decoder.rnn.weight_ih_l0" {
                width = p.value.shape()[1];
            }
        });
        assert_eq!(width, e + h, "the first decoder layer reads [e; h~]");
        let sb = SeqBatch {
            steps: Steps::Ids(vec![1, 2, 3, 0, 4, 0, 3, 1, 2]),
            t: 3,
            b: 3,
            lengths: Some(vec![3, 2, 1]),
        };
        let tgt = [0u32, 1, 2, 3, 5, 1, 5, 2, 5];
        let tg: Vec<usize> = tgt.iter().map(|&v| v as usize).collect();
        let r = recurrent::gradcheck::check(
            &mut m,
            |m, bw| {
                let (lg, c) = m
                    .forward(&sb, &tgt, 3, ratio, Some(&mut Rng::new(11)))
                    .unwrap();
                let (l, d) = CrossEntropy::new().loss(&lg, 6, &tg, None).unwrap();
                if bw {
                    m.backward(&sb, &c, &d).unwrap();
                }
                l
            },
            1e-4,
            25,
        );
        let name = format!("input feeding {cell} bidi={bidi} layers={layers} ratio={ratio} {attention} dropout={dropout}");
        println!(
            "{name}: max_rel_err={:e} ({} entries; worst {})",
            r.max_rel_err, r.checked, r.worst
        );
        assert!(r.max_rel_err < 1e-5, "{name}: {}", r.worst);
        // Greedy decoding (step by step, h~ carried in the state) against the training
        // forward teacher-forced on the greedy tokens: each step's argmax is the token
        // greedy chose.
        for src in [vec![1u32, 2, 3], vec![4], vec![0, 3]] {
            let g = m.greedy(&src, 6).unwrap();
            let mut forced = g.clone();
            if forced.len() < 6 {
                forced.push(5);
            }
            let one = SeqBatch {
                steps: Steps::Ids(src.clone()),
                t: src.len(),
                b: 1,
                lengths: None,
            };
            let (lg, _) = m.forward(&one, &forced, forced.len(), 1.0, None).unwrap();
            for (t, &want) in forced.iter().enumerate() {
                let row = &lg[t * 6..(t + 1) * 6];
                let best = (0..6).max_by(|&i, &j| row[i].total_cmp(&row[j])).unwrap();
                assert_eq!(best as u32, want, "{name}: step {t} of {src:?}");
            }
        }
    }
    let plain = Seq2SeqConfig {
        input_feed: true,
        ..config(CellKind::Lstm, true, 1, Attention::None)
    };
    let err = Seq2Seq::<f64>::new(plain, &Init::default(), &mut rng).unwrap_err();
    assert!(err.to_string().contains("attention"), "{err}");
}
