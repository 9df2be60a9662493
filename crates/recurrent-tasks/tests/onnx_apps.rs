//! `recurrent export` for each application's model: a trained checkpoint exported by
//! [`export_onnx`] and run in tract gives what the application's own loader and forward
//! give, within 1e-5; the CTC recogniser's frame stacking and log-softmax are in the graph.

use prost::Message;
use recurrent::init::Init;
use recurrent::model::feature_tagger::FeatureBatch;
use recurrent::model::input::{SeqBatch, Steps};
use recurrent::onnx::{proto::ModelProto, Lengths};
use recurrent::train::{Quiet, TrainRequest};
use recurrent::{CellKind, Rng};
use recurrent_tasks::export::{export_onnx, ExportOptions};
use std::path::PathBuf;
use tract_onnx::prelude::*;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recurrent-onnx-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn run_tract(model: &ModelProto, inputs: Vec<tract_onnx::prelude::Tensor>) -> Vec<Vec<f32>> {
    let bytes = model.encode_to_vec();
    let mut m = tract_onnx::onnx().model_for_read(&mut &bytes[..]).unwrap();
    for (i, t) in inputs.iter().enumerate() {
        m = m
            .with_input_fact(i, InferenceFact::dt_shape(t.datum_type(), t.shape()))
            .unwrap();
    }
    let plan = match m.into_optimized() {
        Ok(p) => p.into_runnable().unwrap(),
        Err(e) => panic!(
            "tract cannot run {}: {e:?}",
            model.graph.as_ref().map_or("?", |g| g.name.as_str())
        ),
    };
    let out = plan
        .run(inputs.into_iter().map(|t| t.into()).collect())
        .unwrap();
    out.iter()
        .map(|t| t.to_array_view::<f32>().unwrap().iter().copied().collect())
        .collect()
}

fn ids(shape: &[usize], v: &[u32]) -> tract_onnx::prelude::Tensor {
    let v: Vec<i64> = v.iter().map(|&x| x as i64).collect();
    tract_ndarray::ArrayD::from_shape_vec(shape.to_vec(), v)
        .unwrap()
        .into()
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
fn a_trained_language_model_exports_with_its_vocabulary() {
    use recurrent_tasks::lm::train::{load_lm, train_lm, LmTrainConfig};
    let out = tmp("lm");
    let cfg = LmTrainConfig {
        hidden: 12,
        embed: 6,
        layers: 2,
        seq_len: 8,
        batch: 2,
        ..Default::default()
    };
    let text = "to be or not to be, that is the question.\n".repeat(20);
    train_lm(&cfg, &text, &TrainRequest::new(&out).steps(3), &mut Quiet).unwrap();
    let e = export_onnx(&out, ExportOptions::default()).unwrap();
    assert_eq!(e.task, "lm");
    assert_eq!(e.inputs(), ["tokens", "h0", "c0"]);
    assert_eq!(e.outputs(), ["logits", "hn", "cn"]);
    let (lm, meta) = load_lm(&out.join("best.safetensors")).unwrap();
    let vocab = e
        .model
        .metadata_props
        .iter()
        .find(|p| p.key == "vocab")
        .unwrap();
    let tokens: Vec<String> = serde_json::from_str(&vocab.value).unwrap();
    assert_eq!(tokens.len(), meta.vocab.len());
    assert_eq!(meta.vocab.encode(&tokens[3]).unwrap(), [3]);
    let (t, b) = (9, 3);
    let x: Vec<u32> = (0..t * b)
        .map(|k| (k * 7 % meta.vocab.len()) as u32)
        .collect();
    let (logits, state, _) = lm.forward(&x, t, b, None, None).unwrap();
    let got = run_tract(&e.model, vec![ids(&[t, b], &x)]);
    assert_close("LM logits", &got[0], &logits);
    assert_close("LM hn", &got[1], state.h.data());
    assert_close("LM cn", &got[2], state.c.as_ref().unwrap().data());
}

#[test]
fn a_trained_classifier_and_tagger_export() {
    use recurrent_tasks::classify::read::Example;
    use recurrent_tasks::classify::train::{
        load_classifier, train_classify, ClassifyData, ClassifyTrainConfig,
    };
    use recurrent_tasks::tag::conllu::TaggedSentence;
    use recurrent_tasks::tag::train::{load_tagger, train_tag, TagTrainConfig};
    let words = ["good", "bad", "film", "the", "was", "plot"];
    let examples: Vec<Example> = (0..40)
        .map(|i| Example {
            text: format!("the {} was {}", words[i % 6], words[(i / 6) % 6]),
            label: if i % 2 == 0 { "pos" } else { "neg" }.into(),
            line: i + 1,
        })
        .collect();
    let cfg = ClassifyTrainConfig {
        hidden: 8,
        embed: 6,
        batch: 8,
        ..Default::default()
    };
    let out = tmp("classify");
    let data = ClassifyData {
        train: examples.clone(),
        valid: Some(examples[..8].to_vec()),
        test: None,
    };
    train_classify(&cfg, data, &TrainRequest::new(&out).steps(3), &mut Quiet).unwrap();
    let e = export_onnx(&out, ExportOptions::default()).unwrap();
    assert_eq!(
        (e.task.as_str(), e.inputs()),
        ("classify", vec!["tokens".to_string()])
    );
    let (m, meta) = load_classifier(&out.join("best.safetensors")).unwrap();
    let (t, b) = (5, 4);
    let x: Vec<u32> = (0..t * b)
        .map(|k| (k * 3 % meta.vocab.len()) as u32)
        .collect();
    let batch = SeqBatch::<f32> {
        steps: Steps::Ids(x.clone()),
        t,
        b,
        lengths: None,
    };
    let (logits, _) = m.forward(&batch, None).unwrap();
    assert_close(
        "classifier",
        &run_tract(&e.model, vec![ids(&[t, b], &x)])[0],
        &logits,
    );

    let sentences: Vec<TaggedSentence> = (0..30)
        .map(|i| TaggedSentence {
            words: vec![
                "The".into(),
                format!("walk{}", ["ing", "ed", "s"][i % 3]),
                "9".into(),
            ],
            tags: vec!["DET".into(), "VERB".into(), "NUM".into()],
            ..Default::default()
        })
        .collect();
    let cfg = TagTrainConfig {
        hidden: 8,
        embed: 6,
        suffix_embed: 4,
        shape_embed: 3,
        ..Default::default()
    };
    let out = tmp("tag");
    train_tag(
        &cfg,
        &sentences,
        Some(&sentences[..5]),
        None,
        &TrainRequest::new(&out).steps(3),
        &mut Quiet,
    )
    .unwrap();
    let e = export_onnx(&out, ExportOptions::default()).unwrap();
    assert_eq!(e.inputs(), ["words", "suffix2", "suffix3", "shapes"]);
    let (m, meta) = load_tagger(&out.join("best.safetensors")).unwrap();
    let (t, b) = (4, 2);
    let (nw, ns) = (meta.vocab.len() as u32, meta.suffixes.len() as u32);
    let feats: Vec<[u32; 4]> = (0..(t * b) as u32)
        .map(|k| [k % nw, (k * 3) % ns, (k * 5 + 1) % ns, k % 7])
        .collect();
    let fb = FeatureBatch {
        t,
        b,
        lengths: vec![t; b],
        feats: feats.clone(),
    };
    let (logits, _) = m.forward(&fb, None).unwrap();
    let col = |j: usize| ids(&[t, b], &feats.iter().map(|f| f[j]).collect::<Vec<_>>());
    let got = run_tract(&e.model, vec![col(0), col(1), col(2), col(3)]);
    assert_close("word tagger", &got[0], &logits);
}

#[test]
fn the_ctc_recogniser_stacks_frames_and_emits_log_probabilities() {
    use recurrent_tasks::speech::ctc_model::{CtcModel, CtcModelConfig};
    for (stack, t) in [(3, 7), (3, 9), (1, 5)] {
        let cfg = CtcModelConfig {
            input: 4,
            stack,
            cell: CellKind::Gru,
            hidden: 6,
            layers: 2,
            bidirectional: true,
            dropout: 0.0,
            reg: Default::default(),
            symbols: 10,
        };
        let mut rng = Rng::new(5);
        let m = CtcModel::<f32>::new(cfg, &Init::default(), &mut rng).unwrap();
        let b = 2;
        let x: Vec<f32> = (0..t * b * 4).map(|_| rng.normal() as f32).collect();
        let batch = SeqBatch::<f32> {
            steps: Steps::Dense(x.clone()),
            t,
            b,
            lengths: None,
        };
        let (logits, _) = m.forward(&batch, None).unwrap();
        let want: Vec<f32> = recurrent::nn::ctc::log_softmax_rows(&logits, 11)
            .iter()
            .map(|&v| v as f32)
            .collect();
        let model = recurrent_tasks::speech::export::export_ctc(&m, Lengths(false), &[]).unwrap();
        let feats: tract_onnx::prelude::Tensor =
            tract_ndarray::ArrayD::from_shape_vec(vec![t, b, 4], x)
                .unwrap()
                .into();
        let got = run_tract(&model, vec![feats]);
        assert_close(&format!("CTC stack {stack} T={t}"), &got[0], &want);
    }
}

/// The characters 'a', 'b', ... as the vocabulary of a model that has none.
fn letters(n: usize) -> Vec<char> {
    (0..n as u8).map(|i| (b'a' + i) as char).collect()
}

#[test]
fn language_models_exported_by_pytorch_import_and_run_here() {
    use recurrent_tasks::lm::train::load_lm;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../recurrent/tests/fixtures/onnx");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let out = tmp("import");
    std::fs::create_dir_all(&out).unwrap();
    for (name, case) in expected.as_object().unwrap() {
        let model = recurrent::onnx::read(&dir.join(format!("{name}.onnx"))).unwrap();
        let ck = out.join(format!("{name}.safetensors"));
        // torch.onnx.export writes no vocabulary: without one, the error says what to give.
        let err = recurrent::onnx::import::import_lm(&model, None, &ck)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--vocab"), "{err}");
        let got = recurrent::onnx::import::import_lm(&model, Some(letters(11)), &ck).unwrap();
        assert_eq!(
            got.layers as u64,
            case["layers"].as_u64().unwrap(),
            "{name}"
        );
        let (lm, meta) = load_lm(&ck).unwrap();
        assert_eq!(meta.vocab.len(), 11);
        let tokens: Vec<Vec<u32>> = serde_json::from_value(case["tokens"].clone()).unwrap();
        let (t, b) = (tokens.len(), tokens[0].len());
        let ids: Vec<u32> = tokens.concat();
        let (logits, _, _) = lm.forward(&ids, t, b, None, None).unwrap();
        let want: Vec<f32> = serde_json::from_value(case["logits"].clone()).unwrap();
        assert_close(&format!("{name} imported from PyTorch"), &logits, &want);
    }
}

#[test]
fn our_export_imports_back_to_the_same_weights() {
    use recurrent::checkpoint;
    use recurrent_tasks::lm::train::{load_lm, train_lm, LmTrainConfig};
    for cell in [CellKind::Gru, CellKind::Lstm] {
        let out = tmp(&format!("roundtrip-{cell}"));
        let cfg = LmTrainConfig {
            cell,
            hidden: 10,
            embed: 4,
            layers: 2,
            seq_len: 8,
            batch: 2,
            ..Default::default()
        };
        let text = "abc cab bca\n".repeat(30);
        train_lm(&cfg, &text, &TrainRequest::new(&out).steps(2), &mut Quiet).unwrap();
        let e = export_onnx(&out, ExportOptions::default()).unwrap();
        let back = out.join("imported.safetensors");
        recurrent::onnx::import::import_lm(&e.model, None, &back).unwrap();
        let a = checkpoint::read(out.join("best.safetensors")).unwrap();
        let b = checkpoint::read(&back).unwrap();
        for (name, t) in a.params() {
            let x: recurrent::Tensor<f32> = a.tensor(name).unwrap();
            let y: recurrent::Tensor<f32> = b.tensor(name).unwrap();
            assert_eq!(x.data(), y.data(), "{cell} {name} {:?}", t.shape());
        }
        let (_, meta) = load_lm(&back).unwrap();
        let (_, orig) = load_lm(&out.join("best.safetensors")).unwrap();
        assert_eq!(meta.vocab.len(), orig.vocab.len());
        assert_eq!(meta.vocab.token(2), orig.vocab.token(2));
    }
}

#[test]
fn the_translation_encoder_and_decoder_step_decode_as_ours() {
    use recurrent::model::seq2seq::{Attention, Seq2Seq, Seq2SeqConfig};
    let cases = [
        (CellKind::Lstm, true, Attention::Luong, false),
        (CellKind::Gru, false, Attention::Luong, false),
        (CellKind::Lstm, true, Attention::Additive, false),
        (CellKind::Lstm, false, Attention::None, false),
        (CellKind::Lstm, true, Attention::Luong, true),
        (CellKind::Gru, false, Attention::Additive, true),
    ];
    for (cell, bidi, attention, input_feed) in cases {
        let cfg = Seq2SeqConfig {
            cell,
            src_vocab: 13,
            tgt_vocab: 9,
            embed: 5,
            hidden: 6,
            layers: 2,
            bidirectional_encoder: bidi,
            dropout: 0.0,
            reg: Default::default(),
            bos: 1,
            eos: 2,
            attention,
            input_feed,
        };
        let what = format!("{cell} bidi={bidi} {attention} input_feed={input_feed}");
        let mut rng = Rng::new(23);
        let m = Seq2Seq::<f32>::new(cfg, &Init::default(), &mut rng).unwrap();
        let enc = recurrent::onnx::seq2seq::export_encoder(&m, Lengths(false), &[]).unwrap();
        let dec = recurrent::onnx::seq2seq::export_decoder_step(&m, &[]).unwrap();
        let (s, b, steps) = (4, 2, 5);
        let src: Vec<u32> = (0..s * b).map(|k| (3 + k * 5 % 10) as u32).collect();
        let encoded = run_tract(&enc, vec![ids(&[s, b], &src)]);
        let lstm = cell == CellKind::Lstm;
        let att = attention != Attention::None;
        let f32s = |shape: &[usize], v: &[f32]| -> tract_onnx::prelude::Tensor {
            tract_ndarray::ArrayD::from_shape_vec(shape.to_vec(), v.to_vec())
                .unwrap()
                .into()
        };
        // Greedy decoding, the state carried by the caller as a runtime user would.
        let (mut h, mut c) = (encoded[0].clone(), lstm.then(|| encoded[1].clone()));
        let mem = att.then(|| {
            (
                encoded[encoded.len() - 2].clone(),
                encoded[encoded.len() - 1].clone(),
            )
        });
        // Input feeding: h~ of the step before, zeros first.
        let mut feed = input_feed.then(|| vec![0f32; b * 6]);
        let mut prev = vec![1u32; b];
        let (mut tokens, mut log_probs) = (Vec::new(), Vec::new());
        for _ in 0..steps {
            let mut ins = vec![ids(&[b], &prev), f32s(&[2, b, 6], &h)];
            if let Some(c) = &c {
                ins.push(f32s(&[2, b, 6], c));
            }
            if let Some((memory, keys)) = &mem {
                let dh = memory.len() / (s * b);
                ins.push(f32s(&[s, b, dh], memory));
                ins.push(f32s(&[s, b, 6], keys));
                ins.push(
                    tract_ndarray::ArrayD::from_shape_vec(vec![b], vec![s as i32; b])
                        .unwrap()
                        .into(),
                );
            }
            if let Some(f) = &feed {
                ins.push(f32s(&[b, 6], f));
            }
            let out = run_tract(&dec, ins);
            prev = out[0]
                .chunks(9)
                .map(|r| (0..9).max_by(|&i, &j| r[i].total_cmp(&r[j])).unwrap() as u32)
                .collect();
            tokens.extend(prev.iter().copied());
            log_probs.extend(out[0].iter().copied());
            h = out[1].clone();
            c = lstm.then(|| out[2].clone());
            feed = input_feed.then(|| out[out.len() - 1].clone());
        }
        // Ours, teacher-forced on the same tokens: the same log-probabilities at every step.
        let batch = SeqBatch::<f32> {
            steps: Steps::Ids(src.clone()),
            t: s,
            b,
            lengths: None,
        };
        let (logits, _) = m.forward(&batch, &tokens, steps, 1.0, None).unwrap();
        let want: Vec<f32> = recurrent::nn::ctc::log_softmax_rows(&logits, 9)
            .iter()
            .map(|&v| v as f32)
            .collect();
        assert_close(
            &format!("{what}: step log-probabilities"),
            &log_probs,
            &want,
        );
    }
}

#[test]
fn the_forecasters_networks_export_with_scaler_and_median() {
    use recurrent_tasks::forecast::series::{Fill, Series};
    use recurrent_tasks::forecast::{load_forecaster, train_forecast, ForecastTrainConfig, Scale};
    let values: Vec<f64> = (0..60)
        .map(|t| 20.0 + 5.0 * (t as f64 * 0.5).sin() + 0.1 * t as f64)
        .collect();
    let series = Series::from_values("y", values.clone());
    // Odd and even ensembles (the median's two cases), standard and log scaling.
    for (ensemble, scale) in [(3, Scale::Standard), (2, Scale::Log)] {
        let cfg = ForecastTrainConfig {
            horizon: 3,
            lookback: Some(6),
            test: Some(6),
            val: Some(6),
            hidden: 5,
            batch: 8,
            patience: 0,
            ensemble,
            scale,
            ..Default::default()
        };
        let out = tmp(&format!("forecast-{ensemble}"));
        train_forecast(
            &cfg,
            &series,
            Fill::Interpolate,
            &TrainRequest::new(&out).steps(4),
            &mut Quiet,
        )
        .unwrap();
        let e = export_onnx(&out, ExportOptions::default()).unwrap();
        assert_eq!(
            (e.inputs(), e.outputs()),
            (vec!["window".to_string()], vec!["forecast".to_string()])
        );
        let f = load_forecaster(&out.join("refit/best.safetensors")).unwrap();
        assert_eq!(f.nets.members.len(), ensemble);
        let z = f.meta.scaler.scale_all(&values, &f.meta.columns).unwrap();
        let origins = [20usize, 41, 59];
        let want: Vec<f32> = f
            .forecast(&z, &origins, 3)
            .unwrap()
            .iter()
            .map(|&v| v as f32)
            .collect();
        let (l, b) = (6, origins.len());
        let mut window = vec![0.0f32; l * b];
        for (bi, &o) in origins.iter().enumerate() {
            for ti in 0..l {
                window[ti * b + bi] = values[o + 1 + ti - l] as f32;
            }
        }
        let input: tract_onnx::prelude::Tensor =
            tract_ndarray::ArrayD::from_shape_vec(vec![l, b, 1], window)
                .unwrap()
                .into();
        let got = run_tract(&e.model, vec![input]);
        // In the series' units (about 20-30 here): float32 relative rounding.
        let err = got[0]
            .iter()
            .zip(&want)
            .map(|(a, b)| ((a - b) / b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            err < 1e-5,
            "ensemble {ensemble} {scale:?}: relative error {err}"
        );
    }
}
