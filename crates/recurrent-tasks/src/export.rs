//! ONNX export of a trained model of any application (`recurrent export`): the checkpoint
//! names its task, the task's loader rebuilds the model, and the engine's exporter
//! ([`recurrent::onnx`]) writes it with the task's own metadata (vocabulary, labels, tags)
//! as JSON in `metadata_props`. Like [`crate::fuzzing`], this is a module that reaches
//! several applications; no application imports it.

use recurrent::checkpoint;
use recurrent::error::{Error, Result};
use recurrent::onnx::{self, proto::ModelProto, Lengths};
use recurrent::text::Vocab;
use std::path::Path;

/// What `export` may be asked besides the checkpoint.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExportOptions {
    /// Give classifiers and taggers a `lengths` input (ONNX's `sequence_lens`), for padded
    /// batches of sequences of different lengths.
    pub lengths: bool,
}

/// An exported model and what a caller needs to call it.
pub struct Exported {
    pub model: ModelProto,
    /// Models that go with it, by the suffix of their file (a translation's decoder step
    /// beside its encoder: `X.onnx` and `X.decoder.onnx`).
    pub companions: Vec<(String, ModelProto)>,
    /// The checkpoint's task (`lm`, `music`, `classify`, `tag`, `speech`, `ctc`, `translate`,
    /// `forecast`).
    pub task: String,
}

impl Exported {
    fn names(&self, outputs: bool) -> Vec<String> {
        let g = self.model.graph.as_ref();
        let v = g.map_or(
            &[][..],
            |g| if outputs { &g.output[..] } else { &g.input[..] },
        );
        v.iter().map(|x| x.name.clone()).collect()
    }
    /// The graph's input names, in order.
    pub fn inputs(&self) -> Vec<String> {
        self.names(false)
    }
    /// The graph's output names, in order.
    pub fn outputs(&self) -> Vec<String> {
        self.names(true)
    }
}

fn vocab_json(v: &Vocab) -> String {
    serde_json::Value::from(v.tokens()).to_string()
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Config(e.to_string()))
}

/// Exports the model in `path` (a checkpoint file, or a run directory: its best checkpoint).
pub fn export_onnx(path: &Path, opts: ExportOptions) -> Result<Exported> {
    // A forecast run's networks refit on every row (DIR/refit) are what `forecast` uses;
    // any other run directory resolves to its best checkpoint.
    let path = crate::forecast::forecast_checkpoint(path)?;
    let ck = checkpoint::read(&path)?;
    let task = match ck.metadata.get("model") {
        Some(m) => serde_json::from_str::<serde_json::Value>(m)
            .ok()
            .and_then(|v| v["task"].as_str().map(str::to_string))
            .unwrap_or_default(),
        // pytorch_charlm.py's files carry a vocabulary and no task.
        None if ck.metadata.contains_key("vocab") => "lm".into(),
        None => String::new(),
    };
    let lengths = Lengths(opts.lengths);
    let mut companions = Vec::new();
    let model = match task.as_str() {
        "lm" => {
            let (m, meta) = crate::lm::train::load_lm(&path)?;
            let md = [
                ("vocab".to_string(), vocab_json(&meta.vocab)),
                ("tokenizer".into(), json(&meta.vocab.tokenizer)?),
                ("task".into(), "lm".into()),
            ];
            onnx::export_lm(&m, &md)?
        }
        "music" => {
            let (m, meta) = crate::music::train::load_music(&path)?;
            let md = [
                ("vocab".to_string(), vocab_json(&meta.vocab)),
                ("task".into(), "music".into()),
            ];
            onnx::export_lm(&m, &md)?
        }
        "classify" => {
            let (m, meta) = crate::classify::train::load_classifier(&path)?;
            let md = [
                ("vocab".to_string(), vocab_json(&meta.vocab)),
                ("labels".into(), json(&meta.labels)?),
                ("task".into(), "classify".into()),
            ];
            onnx::export_classifier(&m, lengths, &md)?
        }
        "tag" => {
            let (m, meta) = crate::tag::train::load_tagger(&path)?;
            let md = [
                ("vocab".to_string(), vocab_json(&meta.vocab)),
                ("suffixes".into(), vocab_json(&meta.suffixes)),
                ("tags".into(), json(&meta.tags)?),
                ("task".into(), "tag".into()),
            ];
            onnx::export_feature_tagger(&m, lengths, &md)?
        }
        "speech" => {
            let (m, meta) = crate::speech::isolated::load_speech(&path)?;
            let md = [
                ("labels".to_string(), json(&meta.labels)?),
                ("features".into(), json(&meta.features)?),
                ("task".into(), "speech".into()),
            ];
            onnx::export_classifier(&m, lengths, &md)?
        }
        "ctc" => {
            let (m, meta) = crate::speech::ctc::load_ctc(&path)?;
            let md = [
                ("symbols".to_string(), json(&meta.symbols)?),
                ("blank".into(), "0".into()),
                ("extra".into(), meta.extra.to_string()),
                ("task".into(), "ctc".into()),
            ];
            crate::speech::export::export_ctc(&m, lengths, &md)?
        }
        "translate" => {
            let (m, meta) = crate::translate::translator::load_translator(&path)?;
            let md = [
                ("source_vocab".to_string(), vocab_json(&meta.src_vocab)),
                ("target_vocab".into(), vocab_json(&meta.tgt_vocab)),
                ("bos".into(), meta.model.bos.to_string()),
                ("eos".into(), meta.model.eos.to_string()),
                ("source_tokenizer".into(), json(&meta.src_vocab.tokenizer)?),
                ("target_tokenizer".into(), json(&meta.tgt_vocab.tokenizer)?),
                ("task".into(), "translate".into()),
            ];
            companions.push((
                "decoder".to_string(),
                onnx::seq2seq::export_decoder_step(&m, &md)?,
            ));
            onnx::seq2seq::export_encoder(&m, lengths, &md)?
        }
        "forecast" => {
            let f = crate::forecast::load_forecaster(&path)?;
            let m = &f.meta;
            let md = [
                ("columns".to_string(), json(&m.columns)?),
                ("lookback".into(), m.lookback.to_string()),
                ("horizon".into(), m.train.horizon.to_string()),
                ("scaler".into(), json(&m.scaler)?),
                ("members".into(), f.nets.members.len().to_string()),
                ("combination".into(), json(&m.combination)?),
                ("task".into(), "forecast".into()),
            ];
            crate::forecast::export::export_forecaster(&f, &md)?
        }
        other => {
            return Err(Error::Config(format!(
                "{}: ONNX export of {} models is not written yet; export covers lm, music, \
                 classify, tag, speech, ctc, translate and forecast",
                path.display(),
                if other.is_empty() { "these" } else { other }
            )))
        }
    };
    Ok(Exported {
        model,
        companions,
        task,
    })
}
