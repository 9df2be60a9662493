//! ONNX export: the engine's recurrent layers and models as ONNX graphs (opset 17) that
//! onnxruntime, tract and the other runtimes run. Recurrent layers become ONNX's own `RNN`,
//! `LSTM` and `GRU` operators ([`rnn`]); the models around them are written in
//! [`models`] with the names and layouts a user calls them by; [`graph`] builds the
//! protobuf ([`proto`]). [`import`] reads a language model that another tool exported.

pub mod graph;
pub mod import;
pub mod models;
pub mod proto;
pub mod rnn;
pub mod scan;
pub mod seq2seq;

pub use models::{
    export_classifier, export_feature_tagger, export_lm, export_rnn, export_tagger, Lengths,
};

use crate::error::Result;
use prost::Message;
use std::path::Path;

/// Writes `model` to `path` atomically (a temporary file, then a rename).
pub fn write(model: &proto::ModelProto, path: &Path) -> Result<()> {
    crate::checkpoint::write_file_atomic(path, &model.encode_to_vec())
}

/// Reads an ONNX model; the error names the file.
pub fn read(path: &Path) -> Result<proto::ModelProto> {
    let bytes = std::fs::read(path).map_err(|e| crate::error::Error::io(path, e))?;
    proto::ModelProto::decode(&bytes[..])
        .map_err(|e| crate::error::Error::format(path, format!("not an ONNX model: {e}")))
}
