//! Writes the ONNX export's test cases for another runtime to check
//! (`scripts/onnx_check.py` runs them in onnxruntime):
//!
//!     cargo run --release -p recurrent --example onnx_cases -- DIR
//!
//! For each case: `DIR/NAME.onnx`, and `DIR/NAME.safetensors` with the inputs (`in.NAME`)
//! and our outputs (`out.NAME`) in float32 (ids and lengths stored as float32 too, whole
//! numbers). `DIR/cases.json` lists them with each tensor's ONNX input type. The cases are
//! every cell (with the ReLU RNN, whose activation tract ignores), direction and layer
//! count, with initial states, LSTM projections (a `Scan`), and variable lengths through
//! `sequence_lens` (or the Scan's step mask).

use recurrent::cell::GruForm;
use recurrent::checkpoint;
use recurrent::init::Init;
use recurrent::model::classifier::{Classifier, ClassifierConfig, Pooling};
use recurrent::model::encoder::EncoderConfig;
use recurrent::model::input::{InputKind, SeqBatch, Steps};
use recurrent::onnx::{self, Lengths};
use recurrent::{CellKind, Rng, Rnn, RnnConfig, RnnState, Tensor};
use std::collections::BTreeMap;
use std::path::Path;

type Case = (
    String,
    Vec<(String, String, Tensor<f32>)>,
    Vec<(String, Tensor<f32>)>,
);

fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.normal() as f32).collect()
}

fn layer_cases(rng: &mut Rng) -> recurrent::Result<Cases> {
    let (t, b, i, h, lengths) = (T, B, 4, 5, LENGTHS);
    let mut out = Vec::new();
    let cells = [
        (CellKind::RnnTanh, GruForm::Pytorch),
        (CellKind::RnnRelu, GruForm::Pytorch),
        (CellKind::Lstm, GruForm::Pytorch),
        (CellKind::Gru, GruForm::Pytorch),
        (CellKind::Gru, GruForm::Seeds),
    ];
    for (cell, form) in cells {
        for (layers, bidi) in [(1, false), (2, true)] {
            for varlen in [false, true] {
                let cfg = RnnConfig::new(cell, i, h)
                    .layers(layers)
                    .bidirectional(bidi)
                    .gru_form(form);
                let rnn = Rnn::<f32>::new(cfg.clone(), &Init::default(), rng)?;
                let rows = layers * cfg.directions();
                let x = Tensor::from_vec(&[t, b, i], random(t * b * i, rng))?;
                let h0 = Tensor::from_vec(&[rows, b, h], random(rows * b * h, rng))?;
                let c0 = Tensor::from_vec(&[rows, b, h], random(rows * b * h, rng))?;
                let lstm = cell == CellKind::Lstm;
                let state = RnnState {
                    h: h0.clone(),
                    c: lstm.then(|| c0.clone()),
                };
                let lens = varlen.then_some(&lengths[..]);
                let (ours, _) =
                    rnn.forward_tm(x.data().to_vec(), t, b, Some(&state), lens, None)?;
                let name = format!(
                    "{cell}{}_L{layers}{}{}",
                    if form == GruForm::Seeds { "_seeds" } else { "" },
                    if bidi { "_bidi" } else { "" },
                    if varlen { "_lengths" } else { "" }
                );
                let mut ins = vec![
                    ("input".into(), "float".into(), x),
                    ("h0".into(), "float".into(), h0),
                ];
                if lstm {
                    ins.push(("c0".into(), "float".into(), c0));
                }
                if varlen {
                    let l: Vec<f32> = lengths.iter().map(|&v| v as f32).collect();
                    ins.push(("lengths".into(), "int32".into(), Tensor::from_vec(&[b], l)?));
                }
                let mut outs = vec![
                    ("output".to_string(), ours.output.clone()),
                    ("hn".into(), ours.state.h.clone()),
                ];
                if let Some(c) = &ours.state.c {
                    outs.push(("cn".into(), c.clone()));
                }
                let model = onnx::export_rnn(&rnn, Lengths(varlen))?;
                out.push(((name, ins, outs), model));
            }
        }
    }
    out.extend(projected_cases(rng)?);
    out.extend(classifier_cases(rng)?);
    Ok(out)
}

/// (case, model) pairs.
type Cases = Vec<(Case, recurrent::onnx::proto::ModelProto)>;

const T: usize = 6;
const B: usize = 3;
const LENGTHS: [usize; 3] = [6, 2, 4];

fn projected_cases(rng: &mut Rng) -> recurrent::Result<Cases> {
    let (t, b, i, h, lengths) = (T, B, 4, 5, LENGTHS);
    let mut out = Vec::new();
    // Projected LSTMs (a Scan over the cell), with and without lengths.
    for (layers, bidi) in [(1, false), (2, true)] {
        for varlen in [false, true] {
            let p = 3;
            let cfg = RnnConfig::new(CellKind::Lstm, i, h)
                .proj_size(p)
                .layers(layers)
                .bidirectional(bidi);
            let rnn = Rnn::<f32>::new(cfg.clone(), &Init::default(), rng)?;
            let rows = layers * cfg.directions();
            let x = Tensor::from_vec(&[t, b, i], random(t * b * i, rng))?;
            let h0 = Tensor::from_vec(&[rows, b, p], random(rows * b * p, rng))?;
            let c0 = Tensor::from_vec(&[rows, b, h], random(rows * b * h, rng))?;
            let state = RnnState {
                h: h0.clone(),
                c: Some(c0.clone()),
            };
            let lens = varlen.then_some(&lengths[..]);
            let (ours, _) = rnn.forward_tm(x.data().to_vec(), t, b, Some(&state), lens, None)?;
            let mut ins = vec![
                ("input".into(), "float".into(), x),
                ("h0".into(), "float".into(), h0),
                ("c0".into(), "float".into(), c0),
            ];
            if varlen {
                let l: Vec<f32> = lengths.iter().map(|&v| v as f32).collect();
                ins.push(("lengths".into(), "int32".into(), Tensor::from_vec(&[b], l)?));
            }
            let outs = vec![
                ("output".to_string(), ours.output.clone()),
                ("hn".into(), ours.state.h.clone()),
                (
                    "cn".into(),
                    ours.state.c.clone().unwrap_or_else(|| Tensor::zeros(&[0])),
                ),
            ];
            let name = format!(
                "lstm_proj_L{layers}{}{}",
                if bidi { "_bidi" } else { "" },
                if varlen { "_lengths" } else { "" }
            );
            out.push(((name, ins, outs), onnx::export_rnn(&rnn, Lengths(varlen))?));
        }
    }
    Ok(out)
}

fn classifier_cases(rng: &mut Rng) -> recurrent::Result<Cases> {
    let (t, b, lengths) = (T, B, LENGTHS);
    let mut out = Vec::new();
    // Classifiers over padded batches: each pooling reads only the valid steps.
    for pooling in [Pooling::Last, Pooling::Mean, Pooling::Max] {
        let cfg = ClassifierConfig {
            input: InputKind::Tokens { vocab: 9, embed: 4 },
            encoder: EncoderConfig {
                cell: CellKind::Lstm,
                hidden: 5,
                layers: 2,
                bidirectional: true,
                dropout: 0.0,
                reg: Default::default(),
            },
            pooling,
            outputs: 3,
        };
        let m = Classifier::<f32>::new(cfg, &Init::default(), rng)?;
        let ids: Vec<u32> = (0..t * b).map(|k| (k * 5 % 9) as u32).collect();
        let batch = SeqBatch::<f32> {
            steps: Steps::Ids(ids.clone()),
            t,
            b,
            lengths: Some(lengths.to_vec()),
        };
        let (logits, _) = m.forward(&batch, None)?;
        let ids_f: Vec<f32> = ids.iter().map(|&v| v as f32).collect();
        let l: Vec<f32> = lengths.iter().map(|&v| v as f32).collect();
        let ins = vec![
            (
                "tokens".into(),
                "int64".into(),
                Tensor::from_vec(&[t, b], ids_f)?,
            ),
            ("lengths".into(), "int32".into(), Tensor::from_vec(&[b], l)?),
        ];
        let outs = vec![("logits".to_string(), Tensor::from_vec(&[b, 3], logits)?)];
        let model = onnx::export_classifier(&m, Lengths(true), &[])?;
        out.push((
            (
                format!("classifier_{pooling:?}_lengths").to_lowercase(),
                ins,
                outs,
            ),
            model,
        ));
    }
    Ok(out)
}

fn main() -> recurrent::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "onnx-cases".into());
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).map_err(|e| recurrent::Error::io(dir, e))?;
    let mut rng = Rng::new(2026);
    let mut index = Vec::new();
    for ((name, ins, outs), model) in layer_cases(&mut rng)? {
        onnx::write(&model, &dir.join(format!("{name}.onnx")))?;
        let mut tensors: Vec<(String, &Tensor<f32>)> = Vec::new();
        for (n, _, t) in &ins {
            tensors.push((format!("in.{n}"), t));
        }
        for (n, t) in &outs {
            tensors.push((format!("out.{n}"), t));
        }
        checkpoint::write(
            dir.join(format!("{name}.safetensors")),
            &tensors,
            &BTreeMap::new(),
        )?;
        let types: serde_json::Map<String, serde_json::Value> = ins
            .iter()
            .map(|(n, ty, _)| (n.clone(), ty.clone().into()))
            .collect();
        index.push(serde_json::json!({"name": name, "inputs": types,
            "outputs": outs.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()}));
    }
    let json = serde_json::to_string_pretty(&index)
        .map_err(|e| recurrent::Error::Config(e.to_string()))?;
    checkpoint::write_file_atomic(dir.join("cases.json"), json.as_bytes())?;
    eprintln!("{} cases in {}", index.len(), dir.display());
    Ok(())
}
