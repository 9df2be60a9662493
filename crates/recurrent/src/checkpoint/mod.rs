//! Checkpoints: safetensors files in and out, loading them into a model, the weights hash,
//! PyTorch import and export, and the lock that keeps two runs out of one directory.
//!
//! - [`read`] / [`read_bytes`] parse a file that may be hostile (truncated, corrupt, crafted)
//!   and return an [`Error`] naming the file, the tensor and the fault, never a panic and
//!   never an allocation sized by what the file merely declares.
//! - [`write`], [`write_checkpoint`] and [`save_model`] replace a file atomically: a crash or
//!   a full disk leaves the previous file as it was.
//! - [`load_into`] copies a checkpoint into a model's parameters after checking every name,
//!   shape and dtype; a failed load leaves the model untouched.
//! - [`weights_sha256`] / [`model_sha256`] fingerprint the weights (what `inspect` prints).
//! - [`pytorch`]: the char-LM files of `pytorch_charlm.py --save`.
//! - [`RunLock`]: one run per directory.
//!
//! ## Parameters and training state in one file
//! A checkpoint that resumes training also holds the optimizer's moments, the step count and
//! the random streams. They live in the same file as the weights, under names that start
//! with [`TRAIN_STATE_PREFIX`] (`train_state.adam.m.rnn.weight_ih_l0`, ...), so that one
//! atomic rename switches weights and state together: two files could be caught half
//! updated by a crash. Everything else in the file is a parameter. The weights hash and
//! [`load_into`] ignore the training state; models may not name a parameter with that
//! prefix ([`save_model`] refuses).

mod format;
pub mod lock;
pub mod pytorch;
pub mod quantized;
pub mod shapes;
mod write;

pub use format::{read, read_bytes, read_metadata, to_bytes, MAX_HEADER_BYTES};
pub use lock::RunLock;
pub use pytorch::{export_pytorch_lm, import_pytorch_lm, PytorchLm};
pub use write::{remove_stale_temp_files, write, write_checkpoint, write_file_atomic};

use crate::error::{Error, Result};
use crate::float::Float;
use crate::param::{Module, Param};
use crate::tensor::Tensor;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// Names starting with this hold training state (optimizer moments, step, RNG), not
/// parameters: excluded from the weights hash and from [`load_into`].
pub const TRAIN_STATE_PREFIX: &str = "train_state.";

/// The element types a checkpoint may hold. Anything else in a file is refused on reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// IEEE 754 binary32.
    F32,
    /// IEEE 754 binary64.
    F64,
    /// Signed 64-bit integer (step counters, token ids, lengths).
    I64,
    /// bfloat16 (weights of a `recurrent quantize`d checkpoint; widened to F32 on reading).
    BF16,
    /// Signed 8-bit integer (int8 weights, each with its `NAME.scale`; F32 on reading).
    I8,
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::I8 => 1,
            Dtype::BF16 => 2,
            Dtype::F32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
        }
    }
    /// The safetensors name (`"F32"`, `"F64"`, `"I64"`, `"BF16"`, `"I8"`).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "F32",
            Dtype::F64 => "F64",
            Dtype::I64 => "I64",
            Dtype::BF16 => "BF16",
            Dtype::I8 => "I8",
        }
    }
    /// From a safetensors dtype name; `None` for any dtype we do not handle.
    pub fn parse(s: &str) -> Option<Dtype> {
        match s {
            "F32" => Some(Dtype::F32),
            "F64" => Some(Dtype::F64),
            "I64" => Some(Dtype::I64),
            "BF16" => Some(Dtype::BF16),
            "I8" => Some(Dtype::I8),
            _ => None,
        }
    }
    /// The dtype that stores `F`.
    pub fn of<F: Float>() -> Dtype {
        if F::BYTES == 4 {
            Dtype::F32
        } else {
            Dtype::F64
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One tensor as stored: dtype, shape and the raw little-endian bytes, kept as they are so
/// that re-writing a file and hashing it are exact.
///
/// Invariant: `bytes.len() == shape.iter().product() * dtype.size()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTensor {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl StoredTensor {
    /// From raw little-endian bytes; errors if their length does not match the shape.
    pub fn from_raw(dtype: Dtype, shape: Vec<usize>, bytes: Vec<u8>) -> Result<StoredTensor> {
        let want = shape
            .iter()
            .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d));
        if want != Some(bytes.len()) {
            return Err(Error::Input(format!(
                "{dtype} tensor of shape {shape:?} cannot be made of {} bytes",
                bytes.len()
            )));
        }
        Ok(StoredTensor {
            dtype,
            shape,
            bytes,
        })
    }
    /// A float tensor, stored in its own dtype (`f32` as F32, `f64` as F64).
    pub fn from_tensor<F: Float>(t: &Tensor<F>) -> StoredTensor {
        let mut bytes = Vec::with_capacity(t.len() * F::BYTES);
        t.data().iter().for_each(|v| v.put_le(&mut bytes));
        StoredTensor {
            dtype: Dtype::of::<F>(),
            shape: t.shape().to_vec(),
            bytes,
        }
    }
    /// An I64 tensor; errors if `data` does not have the shape's element count.
    pub fn from_i64(shape: &[usize], data: &[i64]) -> Result<StoredTensor> {
        let bytes = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        StoredTensor::from_raw(Dtype::I64, shape.to_vec(), bytes)
    }
    /// The stored element type.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }
    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// The raw little-endian bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.bytes.len() / self.dtype.size()
    }
    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
    /// The values as a float tensor of type `F`, converting F32 <-> F64 (widening is exact,
    /// narrowing rounds to nearest). I64 is refused: use [`StoredTensor::to_i64`].
    pub fn to_tensor<F: Float>(&self) -> Result<Tensor<F>> {
        let data: Vec<F> = match self.dtype {
            Dtype::F32 => self
                .bytes
                .chunks_exact(4)
                .map(|c| F::of(f32::from_le(c).to64()))
                .collect(),
            Dtype::F64 => self
                .bytes
                .chunks_exact(8)
                .map(|c| F::of(f64::from_le(c)))
                .collect(),
            Dtype::BF16 => self
                .bytes
                .chunks_exact(2)
                .map(|c| {
                    F::of(crate::kernels::quant::from_bf16(u16::from_le_bytes([c[0], c[1]])) as f64)
                })
                .collect(),
            Dtype::I64 | Dtype::I8 => {
                return Err(Error::Input(format!(
                    "an {} tensor is not float data (an I8 weight needs its scale: \
                     checkpoint::read dequantizes it)",
                    self.dtype
                )))
            }
        };
        Tensor::from_vec(&self.shape, data)
    }
    /// The values of an I64 tensor; float dtypes are refused.
    pub fn to_i64(&self) -> Result<Vec<i64>> {
        if self.dtype != Dtype::I64 {
            return Err(Error::Input(format!(
                "a {} tensor is not integer data; read it with to_tensor",
                self.dtype
            )));
        }
        Ok(self
            .bytes
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                i64::from_le_bytes(b)
            })
            .collect())
    }
}

/// The content of a safetensors file: named tensors and string metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkpoint {
    /// Tensors by name; the map's order is the bytewise order of the names.
    pub tensors: BTreeMap<String, StoredTensor>,
    /// The file's `__metadata__` (string to string).
    pub metadata: BTreeMap<String, String>,
    /// The file it was read from, for error messages (empty for one built in memory).
    pub source: PathBuf,
}

impl Checkpoint {
    /// The checkpoint without its training-state tensors: the model's weights alone.
    pub fn weights_only(&self) -> Checkpoint {
        let mut c = self.clone();
        c.tensors.retain(|n, _| !Checkpoint::is_train_state(n));
        c
    }
}

impl Checkpoint {
    /// An empty checkpoint.
    pub fn new() -> Checkpoint {
        Checkpoint::default()
    }
    /// Every parameter of `model` (values only), stored in `F`'s dtype under its name.
    /// Errors on a name used twice or one that starts with [`TRAIN_STATE_PREFIX`].
    pub fn from_model<F: Float, M: Module<F>>(model: &M) -> Result<Checkpoint> {
        let mut ckpt = Checkpoint::new();
        let mut err = None;
        model.visit(&mut |p: &Param<F>| {
            if err.is_some() {
                return;
            }
            if p.name.starts_with(TRAIN_STATE_PREFIX) {
                err = Some(Error::tensor(
                    &p.name,
                    format!("parameter names may not start with `{TRAIN_STATE_PREFIX}`, which marks training state"),
                ));
            } else if ckpt
                .tensors
                .insert(p.name.clone(), StoredTensor::from_tensor(&p.value))
                .is_some()
            {
                err = Some(Error::tensor(
                    &p.name,
                    "two parameters of the model share this name",
                ));
            }
        });
        match err {
            Some(e) => Err(e),
            None => Ok(ckpt),
        }
    }
    /// Adds (or replaces) a float tensor.
    pub fn insert<F: Float>(&mut self, name: impl Into<String>, t: &Tensor<F>) {
        self.tensors
            .insert(name.into(), StoredTensor::from_tensor(t));
    }
    /// The tensor `name`, or an error naming the file and the tensor.
    pub fn get(&self, name: &str) -> Result<&StoredTensor> {
        self.tensors.get(name).ok_or_else(|| {
            Error::format(
                self.origin(),
                format!("no tensor `{name}` in this checkpoint"),
            )
        })
    }
    /// The tensor `name` as a float tensor of type `F` (F32 <-> F64 converted).
    pub fn tensor<F: Float>(&self, name: &str) -> Result<Tensor<F>> {
        self.get(name)?
            .to_tensor()
            .map_err(|e| Error::format(self.origin(), format!("tensor `{name}`: {e}")))
    }
    /// Whether `name` is training state rather than a parameter.
    pub fn is_train_state(name: &str) -> bool {
        name.starts_with(TRAIN_STATE_PREFIX)
    }
    /// The parameter tensors (everything but the training state), in name order.
    pub fn params(&self) -> impl Iterator<Item = (&str, &StoredTensor)> {
        self.tensors
            .iter()
            .filter(|(n, _)| !Checkpoint::is_train_state(n))
            .map(|(n, t)| (n.as_str(), t))
    }
    /// Writes this checkpoint atomically to `path` (see [`write_checkpoint`]).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        write_checkpoint(path, self)
    }
    /// What errors call this checkpoint: its file, or `<memory>`.
    pub fn origin(&self) -> &Path {
        if self.source.as_os_str().is_empty() {
            Path::new("<memory>")
        } else {
            &self.source
        }
    }
}

/// How [`load_into_with`] maps a checkpoint onto a model.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Renames applied to checkpoint names before matching: the first `(from, to)` whose
    /// `from` starts the name replaces that prefix with `to`. `("", "rnn.")` loads a bare
    /// `nn.LSTM` state dict into a model's `rnn`; `("model.", "")` drops a wrapper's prefix.
    pub prefix_map: Vec<(String, String)>,
    /// Accept checkpoint parameters that the model does not have (they are skipped).
    pub allow_unexpected: bool,
    /// Refuse a float tensor stored in the other float width instead of converting it.
    pub exact_dtype: bool,
}

/// Loads every parameter of `model` from `ckpt` with the default [`LoadOptions`]: names must
/// match exactly, both ways; F32 and F64 convert to the model's type.
pub fn load_into<F: Float, M: Module<F>>(model: &mut M, ckpt: &Checkpoint) -> Result<()> {
    load_into_with(model, ckpt, &LoadOptions::default())
}

/// Loads every parameter of `model` from `ckpt`.
///
/// Each model parameter must be present under its (mapped) name with exactly the model's
/// shape and a float dtype, with finite values. Checkpoint parameters the model lacks are an
/// error unless `opts.allow_unexpected`; training state (names under
/// [`TRAIN_STATE_PREFIX`]) is always ignored. Every problem is listed in one error naming
/// the tensors and the expected and found shapes. Nothing is written into the model unless
/// everything checks out.
pub fn load_into_with<F: Float, M: Module<F>>(
    model: &mut M,
    ckpt: &Checkpoint,
    opts: &LoadOptions,
) -> Result<()> {
    let origin = ckpt.origin();
    // Checkpoint parameters under the model's naming.
    let mut by_model_name: BTreeMap<String, (&str, &StoredTensor)> = BTreeMap::new();
    for (name, t) in ckpt.params() {
        let mapped = map_name(name, &opts.prefix_map);
        if let Some((first, _)) = by_model_name.insert(mapped.clone(), (name, t)) {
            return Err(Error::format(
                origin,
                format!("tensors `{first}` and `{name}` both map to the model's `{mapped}`; fix the prefix map"),
            ));
        }
    }

    let mut problems = Vec::new();
    let mut missing = Vec::new();
    let mut seen = BTreeSet::new();
    model.visit(&mut |p: &Param<F>| {
        if !seen.insert(p.name.clone()) {
            problems.push(format!("the model has two parameters named `{}`", p.name));
            return;
        }
        let Some((stored_name, t)) = by_model_name.get(&p.name) else {
            missing.push(format!("`{}` {:?}", p.name, p.shape()));
            return;
        };
        if t.shape() != p.shape() {
            problems.push(format!(
                "tensor `{stored_name}`: the model expects shape {:?}, the checkpoint has {:?}",
                p.shape(),
                t.shape()
            ));
        } else if t.dtype() == Dtype::I64 {
            problems.push(format!(
                "tensor `{stored_name}`: stored as I64, a parameter must be F32 or F64"
            ));
        } else if opts.exact_dtype && t.dtype() != Dtype::of::<F>() {
            problems.push(format!(
                "tensor `{stored_name}`: stored as {}, the model computes in {}",
                t.dtype(),
                F::DTYPE
            ));
        } else if let Some(i) = first_non_finite(t) {
            problems.push(format!(
                "tensor `{stored_name}`: element {i} is NaN or infinite (the run that saved it \
                 diverged; load an earlier checkpoint)"
            ));
        }
    });
    if !missing.is_empty() {
        problems.push(format!(
            "{} parameter(s) of the model are missing: {}",
            missing.len(),
            abbreviate(&missing)
        ));
    }
    if !opts.allow_unexpected {
        let unexpected: Vec<String> = by_model_name
            .iter()
            .filter(|(n, _)| !seen.contains(*n))
            .map(|(_, (stored, t))| format!("`{stored}` {:?}", t.shape()))
            .collect();
        if !unexpected.is_empty() {
            problems.push(format!(
                "{} tensor(s) of the checkpoint are not in the model: {}",
                unexpected.len(),
                abbreviate(&unexpected)
            ));
        }
    }
    if !problems.is_empty() {
        return Err(Error::format(
            origin,
            format!(
                "does not fit the model: {}. Was it saved from a model with another cell, size \
                 or number of layers? Load it with the configuration it was trained with.",
                problems.join("; ")
            ),
        ));
    }

    let mut failure = None;
    model.visit_mut(&mut |p: &mut Param<F>| {
        let Some((name, t)) = by_model_name.get(&p.name) else {
            return;
        };
        match t.to_tensor::<F>() {
            Ok(v) => p.value = v,
            Err(e) => failure = Some(Error::tensor(*name, e.to_string())),
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Applies the first matching prefix rename.
fn map_name(name: &str, map: &[(String, String)]) -> String {
    for (from, to) in map {
        if let Some(rest) = name.strip_prefix(from.as_str()) {
            return format!("{to}{rest}");
        }
    }
    name.to_string()
}

/// The index of the first NaN or infinity of a float tensor.
fn first_non_finite(t: &StoredTensor) -> Option<usize> {
    match t.dtype() {
        Dtype::F32 => t
            .bytes()
            .chunks_exact(4)
            .position(|c| !f32::from_le(c).is_finite()),
        Dtype::F64 => t
            .bytes()
            .chunks_exact(8)
            .position(|c| !f64::from_le(c).is_finite()),
        // Widened to F32 on reading; the integers are finite.
        Dtype::BF16 | Dtype::I64 | Dtype::I8 => None,
    }
}

/// The first few items and a count of the rest: errors stay readable for big models.
fn abbreviate(items: &[String]) -> String {
    const SHOW: usize = 6;
    let mut s = items
        .iter()
        .take(SHOW)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOW {
        s.push_str(&format!(" and {} more", items.len() - SHOW));
    }
    s
}

/// Writes `model`'s parameters (values only, under their names, in dtype `F`) and
/// `metadata` to `path`, atomically. Errors on repeated or reserved parameter names.
pub fn save_model<F: Float, M: Module<F>>(
    path: impl AsRef<Path>,
    model: &M,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let mut ckpt = Checkpoint::from_model(model)?;
    ckpt.metadata = metadata.clone();
    write_checkpoint(path, &ckpt)
}

/// The weights hash of a checkpoint, as `inspect` prints it: SHA-256 (lower-case hex) of the
/// concatenation, over the parameter tensors sorted bytewise by name, of each tensor's data
/// as stored (little-endian, stored dtype). Names, shapes, metadata and training state
/// ([`TRAIN_STATE_PREFIX`]) do not count.
pub fn weights_sha256(ckpt: &Checkpoint) -> String {
    let mut h = Sha256::new();
    // BTreeMap<String, _> iterates in bytewise order of the names.
    for (_, t) in ckpt.params() {
        h.update(t.bytes());
    }
    hex(&h.finalize())
}

/// The weights hash of a model's parameters as [`save_model`] would store them (dtype `F`):
/// equal to [`weights_sha256`] of the saved file.
pub fn model_sha256<F: Float, M: Module<F>>(model: &M) -> String {
    let mut params: Vec<(String, Vec<u8>)> = Vec::new();
    model.visit(&mut |p: &Param<F>| {
        let mut bytes = Vec::with_capacity(p.value.len() * F::BYTES);
        p.value.data().iter().for_each(|v| v.put_le(&mut bytes));
        params.push((p.name.clone(), bytes));
    });
    params.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut h = Sha256::new();
    for (_, bytes) in &params {
        h.update(bytes);
    }
    hex(&h.finalize())
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
