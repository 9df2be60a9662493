//! ONNX export, run in tract (a pure-Rust ONNX runtime): every cell, direction and layer
//! count of the recurrent layer, with initial states, LSTM projections (a `Scan`, variable
//! lengths included), and the language model, classifier and tagger, give our outputs
//! within 1e-5 on random inputs. Variable lengths of the native operators go through ONNX's
//! `sequence_lens`, which tract cannot run, and tract ignores the ReLU RNN's `activations`:
//! `scripts/onnx_check.py` checks both in onnxruntime.

use prost::Message;
use recurrent::cell::GruForm;
use recurrent::init::Init;
use recurrent::model::classifier::{Classifier, ClassifierConfig, Pooling};
use recurrent::model::encoder::EncoderConfig;
use recurrent::model::input::{InputKind, SeqBatch, Steps};
use recurrent::model::lm::{LanguageModel, LmConfig};
use recurrent::model::tagger::{Tagger, TaggerConfig};
use recurrent::onnx::{self, proto::ModelProto, Lengths};
use recurrent::{CellKind, Rng, Rnn, RnnConfig, RnnState, Tensor};
use tract_onnx::prelude::*;

/// Runs `model` in tract on `inputs` (in the graph's input order).
fn run_tract(model: &ModelProto, inputs: Vec<tract_onnx::prelude::Tensor>) -> Vec<Vec<f32>> {
    let bytes = model.encode_to_vec();
    let mut m = tract_onnx::onnx().model_for_read(&mut &bytes[..]).unwrap();
    for (i, t) in inputs.iter().enumerate() {
        m = m
            .with_input_fact(i, InferenceFact::dt_shape(t.datum_type(), t.shape()))
            .unwrap();
    }
    let plan = m.into_optimized().unwrap().into_runnable().unwrap();
    let out = plan
        .run(inputs.into_iter().map(|t| t.into()).collect())
        .unwrap();
    out.iter()
        .map(|t| t.to_array_view::<f32>().unwrap().iter().copied().collect())
        .collect()
}

fn f32s(shape: &[usize], v: &[f32]) -> tract_onnx::prelude::Tensor {
    tract_ndarray::ArrayD::from_shape_vec(shape.to_vec(), v.to_vec())
        .unwrap()
        .into()
}

fn i64s(shape: &[usize], v: &[i64]) -> tract_onnx::prelude::Tensor {
    tract_ndarray::ArrayD::from_shape_vec(shape.to_vec(), v.to_vec())
        .unwrap()
        .into()
}

fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.normal() as f32).collect()
}

fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let err = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(err < 1e-5, "{what}: max |onnx - ours| = {err}");
}

#[test]
fn every_recurrent_layer_matches_in_tract() {
    // rnn_relu is exported with `activations = ["Relu"]`, which tract ignores (its RNN is
    // always tanh); onnxruntime honours it, and scripts/onnx_check.py checks it there.
    let cells = [
        (CellKind::RnnTanh, GruForm::Pytorch),
        (CellKind::Lstm, GruForm::Pytorch),
        (CellKind::Gru, GruForm::Pytorch),
        (CellKind::Gru, GruForm::Seeds),
    ];
    let (t, b, i, h) = (5, 3, 4, 6);
    let mut rng = Rng::new(7);
    for (cell, form) in cells {
        for layers in [1, 2] {
            for bidi in [false, true] {
                for bias in [true, false] {
                    let cfg = RnnConfig::new(cell, i, h)
                        .layers(layers)
                        .bidirectional(bidi)
                        .bias(bias)
                        .gru_form(form);
                    let what = format!("{cell} {form:?} L{layers} bidi={bidi} bias={bias}");
                    let rnn = Rnn::<f32>::new(cfg.clone(), &Init::default(), &mut rng).unwrap();
                    let rows = layers * cfg.directions();
                    let x = random(t * b * i, &mut rng);
                    let h0 = random(rows * b * h, &mut rng);
                    let c0 = random(rows * b * h, &mut rng);
                    let lstm = cell == CellKind::Lstm;
                    let state = RnnState {
                        h: Tensor::from_vec(&[rows, b, h], h0.clone()).unwrap(),
                        c: lstm.then(|| Tensor::from_vec(&[rows, b, h], c0.clone()).unwrap()),
                    };
                    let (ours, _) = rnn
                        .forward_tm(x.clone(), t, b, Some(&state), None, None)
                        .unwrap();
                    let model = onnx::export_rnn(&rnn, Lengths(false)).unwrap();
                    let mut ins = vec![f32s(&[t, b, i], &x), f32s(&[rows, b, h], &h0)];
                    if lstm {
                        ins.push(f32s(&[rows, b, h], &c0));
                    }
                    let out = run_tract(&model, ins);
                    assert_close(&format!("{what}: output"), &out[0], ours.output.data());
                    assert_close(&format!("{what}: hn"), &out[1], ours.state.h.data());
                    if let Some(c) = &ours.state.c {
                        assert_close(&format!("{what}: cn"), &out[2], c.data());
                    }
                }
            }
        }
    }
}

/// The model without the defaults of `h0` and `c0`, so tract (which takes an input with an
/// initializer for a constant) reads them as inputs.
fn states_as_inputs(m: &ModelProto) -> ModelProto {
    let mut m = m.clone();
    if let Some(g) = &mut m.graph {
        g.initializer.retain(|t| t.name != "h0" && t.name != "c0");
    }
    m
}

#[test]
fn the_language_model_runs_on_tokens_alone_and_streams_its_state() {
    for (cell, layers) in [
        (CellKind::Lstm, 2),
        (CellKind::Gru, 1),
        (CellKind::RnnTanh, 2),
    ] {
        let cfg = LmConfig {
            cell,
            vocab: 11,
            embed: 5,
            hidden: 7,
            layers,
            dropout: 0.3,
            reg: Default::default(),
            tie: false,
        };
        let mut rng = Rng::new(3);
        let lm = LanguageModel::<f32>::new(cfg, &Init::default(), &mut rng).unwrap();
        let (t, b) = (6, 2);
        let ids: Vec<u32> = (0..t * b).map(|k| (k * 7 % 11) as u32).collect();
        let tokens = i64s(&[t, b], &ids.iter().map(|&v| v as i64).collect::<Vec<_>>());
        let vocab = r#"["a","b"]"#.to_string();
        let model = onnx::export_lm(&lm, &[("vocab".into(), vocab.clone())]).unwrap();
        assert_eq!(model.metadata_props[0].key, "vocab");
        assert_eq!(model.metadata_props[0].value, vocab);
        let names: Vec<&str> = model
            .graph
            .as_ref()
            .unwrap()
            .input
            .iter()
            .map(|v| v.name.as_str())
            .collect();
        let lstm = cell == CellKind::Lstm;
        assert_eq!(
            names,
            if lstm {
                vec!["tokens", "h0", "c0"]
            } else {
                vec!["tokens", "h0"]
            }
        );
        // Tokens alone: zero states.
        let (logits, s1, _) = lm.forward(&ids, t, b, None, None).unwrap();
        let out = run_tract(&model, vec![tokens.clone()]);
        assert_close(&format!("{cell} LM logits"), &out[0], &logits);
        assert_close(&format!("{cell} LM hn"), &out[1], s1.h.data());
        // The state carried into the next chunk, fed back as h0 (and c0).
        let (logits2, s2, _) = lm.forward(&ids, t, b, Some(&s1), None).unwrap();
        let mut ins = vec![tokens, f32s(&[layers, b, 7], s1.h.data())];
        if let Some(c) = &s1.c {
            ins.push(f32s(&[layers, b, 7], c.data()));
        }
        let out = run_tract(&states_as_inputs(&model), ins);
        assert_close(&format!("{cell} LM logits from a state"), &out[0], &logits2);
        assert_close(&format!("{cell} LM hn from a state"), &out[1], s2.h.data());
        if let Some(c) = &s2.c {
            assert_close(&format!("{cell} LM cn from a state"), &out[2], c.data());
        }
    }
}

fn encoder(cell: CellKind, bidirectional: bool) -> EncoderConfig {
    EncoderConfig {
        cell,
        hidden: 6,
        layers: 2,
        bidirectional,
        dropout: 0.1,
        reg: Default::default(),
    }
}

#[test]
fn classifiers_and_taggers_match_in_tract() {
    let (t, b) = (5, 3);
    let mut rng = Rng::new(11);
    let ids: Vec<u32> = (0..t * b).map(|k| (k * 5 % 9) as u32).collect();
    let tokens = i64s(&[t, b], &ids.iter().map(|&v| v as i64).collect::<Vec<_>>());
    let batch = SeqBatch::<f32> {
        steps: Steps::Ids(ids.clone()),
        t,
        b,
        lengths: None,
    };
    for pooling in [Pooling::Last, Pooling::Mean, Pooling::Max] {
        for (cell, bidi) in [(CellKind::Lstm, true), (CellKind::Gru, false)] {
            let cfg = ClassifierConfig {
                input: InputKind::Tokens { vocab: 9, embed: 4 },
                encoder: encoder(cell, bidi),
                pooling,
                outputs: 3,
            };
            let m = Classifier::<f32>::new(cfg, &Init::default(), &mut rng).unwrap();
            let (ours, _) = m.forward(&batch, None).unwrap();
            let model = onnx::export_classifier(&m, Lengths(false), &[]).unwrap();
            let out = run_tract(&model, vec![tokens.clone()]);
            assert_close(
                &format!("classifier {pooling:?} {cell} bidi={bidi}"),
                &out[0],
                &ours,
            );
        }
    }
    // Dense features in, a tagger out.
    let x = random(t * b * 4, &mut rng);
    let cfg = TaggerConfig {
        input: InputKind::Dense { size: 4 },
        encoder: encoder(CellKind::Lstm, true),
        outputs: 5,
    };
    let m = Tagger::<f32>::new(cfg, &Init::default(), &mut rng).unwrap();
    let dense = SeqBatch::<f32> {
        steps: Steps::Dense(x.clone()),
        t,
        b,
        lengths: None,
    };
    let (ours, _) = m.forward(&dense, None).unwrap();
    let model = onnx::export_tagger(&m, Lengths(false), &[]).unwrap();
    let out = run_tract(&model, vec![f32s(&[t, b, 4], &x)]);
    assert_close("tagger", &out[0], &ours);
}

#[test]
fn projected_lstms_run_as_a_scan() {
    let (t, b, i, h, p) = (5, 3, 4, 7, 3);
    let mut rng = Rng::new(19);
    // The Scan carries variable lengths as a step mask, not `sequence_lens`: tract runs it.
    for (layers, bidi, bias, varlen) in [
        (1, false, true, false),
        (2, true, true, false),
        (2, false, false, false),
        (2, true, true, true),
    ] {
        let cfg = RnnConfig::new(CellKind::Lstm, i, h)
            .proj_size(p)
            .layers(layers)
            .bidirectional(bidi)
            .bias(bias);
        let rnn = Rnn::<f32>::new(cfg.clone(), &Init::default(), &mut rng).unwrap();
        let rows = layers * cfg.directions();
        let x = random(t * b * i, &mut rng);
        let h0 = random(rows * b * p, &mut rng);
        let c0 = random(rows * b * h, &mut rng);
        let state = RnnState {
            h: Tensor::from_vec(&[rows, b, p], h0.clone()).unwrap(),
            c: Some(Tensor::from_vec(&[rows, b, h], c0.clone()).unwrap()),
        };
        let lengths = [5usize, 2, 4];
        let lens = varlen.then_some(&lengths[..]);
        let (ours, _) = rnn
            .forward_tm(x.clone(), t, b, Some(&state), lens, None)
            .unwrap();
        let model = onnx::export_rnn(&rnn, Lengths(varlen)).unwrap();
        let mut ins = vec![
            f32s(&[t, b, i], &x),
            f32s(&[rows, b, p], &h0),
            f32s(&[rows, b, h], &c0),
        ];
        if varlen {
            let l: Vec<i32> = lengths.iter().map(|&v| v as i32).collect();
            ins.push(
                tract_ndarray::ArrayD::from_shape_vec(vec![b], l)
                    .unwrap()
                    .into(),
            );
        }
        let out = run_tract(&model, ins);
        let what = format!("proj LSTM L{layers} bidi={bidi} bias={bias} lengths={varlen}");
        assert_close(&format!("{what}: output"), &out[0], ours.output.data());
        assert_close(&format!("{what}: hn"), &out[1], ours.state.h.data());
        assert_close(
            &format!("{what}: cn"),
            &out[2],
            ours.state.c.as_ref().unwrap().data(),
        );
    }
}

#[test]
fn what_onnx_cannot_say_is_refused_by_name() {
    let mut rng = Rng::new(1);
    let cfg = RnnConfig::new(CellKind::Gru, 3, 8).batch_first(true);
    let rnn = Rnn::<f32>::new(cfg, &Init::default(), &mut rng).unwrap();
    let err = onnx::export_rnn(&rnn, Lengths(false))
        .unwrap_err()
        .to_string();
    assert!(err.contains("batch-first"), "{err}");
}
