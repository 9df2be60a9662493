//! Checkpoints with their recurrent weights in int8 or bf16 (`recurrent quantize`): about
//! 4x and 2x smaller where the recurrent layers hold most of the parameters, and loadable
//! as they are.
//!
//! Stored: every weight matrix (the recurrent layers' `*weight_ih_l*`, `*weight_hh_l*`,
//! `*weight_hr_l*`, and every 2-D `*weight`: embeddings, heads, attention) as BF16, or as
//! I8 [N, K] with its per-row scales `NAME.scale` F32 [N] (the layout of
//! [`crate::kernels::quant::int8_rows`]); biases, norms and metadata as they were; the
//! metadata key `precision` says which. The recurrent products then run at that precision;
//! the other matrices compute in f32 with the stored values (weight-only quantization:
//! they are what makes a translation or tagging model large on disk, not what makes it
//! slow).
//!
//! Read: [`super::read`] widens them back to F32 (q s_r, or the bf16 value), so every
//! loader works unchanged; running at the stored precision then quantizes those values
//! again, which gives back the stored ones (the largest |q| of a row is 127, so the scale
//! comes out the same and every q rounds to itself).

use super::{Checkpoint, Dtype, StoredTensor};
use crate::error::{Error, Result};
use crate::kernels::quant::{int8_rows, to_bf16, Precision};
use std::collections::BTreeMap;
use std::path::Path;

/// The metadata key of the stored precision.
pub const PRECISION_KEY: &str = "precision";
/// The suffix of an int8 matrix's scales.
const SCALE: &str = ".scale";

/// Whether `name` is a weight matrix: a recurrent layer's, or any other `*weight`.
fn is_weight_matrix(name: &str) -> bool {
    name.ends_with("weight")
        || ["weight_ih_l", "weight_hh_l", "weight_hr_l"]
            .iter()
            .any(|w| name.contains(w))
}

/// `ck`'s weights (no training state) with the recurrent weight matrices in `p`.
/// Refuses f32 (nothing to do) and a checkpoint that is already quantized.
pub fn quantize(ck: &Checkpoint, p: Precision) -> Result<Checkpoint> {
    if p == Precision::F32 {
        return Err(Error::Config(
            "quantize writes bf16 or int8 weights; f32 is what the checkpoint has".into(),
        ));
    }
    if let Some(have) = ck.metadata.get(PRECISION_KEY) {
        return Err(Error::Input(format!(
            "{}: already quantized ({have}); quantize the f32 checkpoint it came from",
            ck.origin().display()
        )));
    }
    let mut out = ck.weights_only();
    let mut changed = 0;
    let names: Vec<String> = out.tensors.keys().cloned().collect();
    for name in names {
        let t = &out.tensors[&name];
        if !is_weight_matrix(&name) || t.shape().len() != 2 || t.dtype() == Dtype::I64 {
            continue;
        }
        let (n, k) = (t.shape()[0], t.shape()[1]);
        let w = t.to_tensor::<f32>()?;
        let stored = match p {
            Precision::Int8 => {
                let (q, scale) = int8_rows(w.data(), n, k);
                let s = crate::tensor::Tensor::from_vec(&[n], scale)?;
                out.tensors
                    .insert(format!("{name}{SCALE}"), StoredTensor::from_tensor(&s));
                let bytes = q.iter().map(|&v| v as u8).collect();
                StoredTensor::from_raw(Dtype::I8, vec![n, k], bytes)?
            }
            _ => {
                let bytes = w
                    .data()
                    .iter()
                    .flat_map(|&v| to_bf16(v).to_le_bytes())
                    .collect();
                StoredTensor::from_raw(Dtype::BF16, vec![n, k], bytes)?
            }
        };
        out.tensors.insert(name, stored);
        changed += 1;
    }
    if changed == 0 {
        return Err(Error::Input(format!(
            "{}: no weight matrix (weight_ih_l*, *weight) to quantize",
            ck.origin().display()
        )));
    }
    out.metadata.insert(PRECISION_KEY.into(), p.name().into());
    Ok(out)
}

/// The precision a checkpoint's metadata names (f32 when none).
pub fn stored_precision(metadata: &BTreeMap<String, String>) -> Result<Precision> {
    metadata
        .get(PRECISION_KEY)
        .map_or(Ok(Precision::F32), |v| Precision::parse(v))
        .map_err(|e| Error::Input(format!("metadata `{PRECISION_KEY}`: {e}")))
}

/// The precision to run `file` at: `asked` if given, else the one its header stores (f32
/// when none). Reads the header alone.
pub fn precision_for(file: &Path, asked: Option<Precision>) -> Result<Precision> {
    match asked {
        Some(p) => Ok(p),
        None => stored_precision(&super::read_metadata(file)?),
    }
}

/// Widens the I8 (with their scales) and BF16 tensors of a file just read to F32.
pub(super) fn widen(tensors: &mut BTreeMap<String, StoredTensor>, path: &Path) -> Result<()> {
    let names: Vec<String> = tensors
        .iter()
        .filter(|(_, t)| matches!(t.dtype(), Dtype::I8 | Dtype::BF16))
        .map(|(n, _)| n.clone())
        .collect();
    let bad = |name: &str, msg: String| Error::format(path, format!("tensor `{name}`: {msg}"));
    for name in names {
        let t = &tensors[&name];
        let wide = if t.dtype() == Dtype::BF16 {
            t.to_tensor::<f32>()?
        } else {
            let rows = t.shape().first().copied().unwrap_or(1);
            let sname = format!("{name}{SCALE}");
            let scale = tensors
                .get(&sname)
                .ok_or_else(|| bad(&name, format!("an I8 tensor needs its scales `{sname}`")))?;
            if scale.shape() != [rows] || scale.dtype() != Dtype::F32 {
                return Err(bad(
                    &sname,
                    format!(
                        "expected F32 [{rows}], got {} {:?}",
                        scale.dtype(),
                        scale.shape()
                    ),
                ));
            }
            let s = scale.to_tensor::<f32>()?;
            let per = t.len() / rows.max(1);
            let data = t
                .bytes()
                .iter()
                .enumerate()
                .map(|(i, &b)| b as i8 as f32 * s.data()[i / per.max(1)])
                .collect();
            crate::tensor::Tensor::from_vec(t.shape(), data)?
        };
        let stored = StoredTensor::from_tensor(&wide);
        tensors.insert(name.clone(), stored);
        tensors.remove(&format!("{name}{SCALE}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::quant::QMatrix;
    use crate::rng::Rng;
    use crate::tensor::Tensor;

    fn model_like() -> Checkpoint {
        let mut rng = Rng::new(11);
        let mut t = |shape: &[usize]| {
            let n = shape.iter().product();
            Tensor::<f32>::from_vec(shape, (0..n).map(|_| rng.normal() as f32 * 0.2).collect())
                .unwrap()
        };
        let mut ck = Checkpoint::new();
        ck.insert("rnn.weight_ih_l0", &t(&[32, 7]));
        ck.insert("rnn.weight_hh_l0", &t(&[32, 8]));
        ck.insert("rnn.bias_ih_l0", &t(&[32]));
        ck.insert("embed.weight", &t(&[11, 7]));
        ck.metadata.insert("model".into(), "{}".into());
        ck
    }

    #[test]
    fn stored_weights_read_back_and_requantize_to_themselves() {
        let ck = model_like();
        for p in [Precision::Int8, Precision::Bf16] {
            let q = quantize(&ck, p).unwrap();
            assert_eq!(stored_precision(&q.metadata).unwrap(), p);
            let small = crate::checkpoint::to_bytes(&q).unwrap();
            let full = crate::checkpoint::to_bytes(&ck).unwrap();
            let back = crate::checkpoint::read_bytes(&small, "q.safetensors").unwrap();
            assert_eq!(
                back.tensors.len(),
                ck.tensors.len(),
                "{p}: the scales are folded in"
            );
            assert_eq!(back.metadata["model"], "{}");
            // Biases untouched.
            assert_eq!(back.tensors["rnn.bias_ih_l0"], ck.tensors["rnn.bias_ih_l0"]);
            for name in ["rnn.weight_ih_l0", "rnn.weight_hh_l0", "embed.weight"] {
                let (a, b) = (
                    ck.tensor::<f32>(name).unwrap(),
                    back.tensor::<f32>(name).unwrap(),
                );
                let (n, k) = (a.shape()[0], a.shape()[1]);
                let (qa, qb) = (
                    QMatrix::new(a.data(), n, k, p),
                    QMatrix::new(b.data(), n, k, p),
                );
                for r in 0..n {
                    for c in 0..k {
                        assert_eq!(qa.stored(r, c), qb.stored(r, c), "{p} {name} ({r}, {c})");
                    }
                    let (sa, sb) = (qa.row_scale(r), qb.row_scale(r));
                    assert!(
                        (sa - sb).abs() <= sa * 1e-6,
                        "{p} {name} row {r}: {sa} vs {sb}"
                    );
                }
            }
            let ratio = full.len() as f64 / small.len() as f64;
            // Rows of 7 and 8 values: the scales and the header weigh; real layers get 3.6-3.9x.
            assert!(
                ratio > if p == Precision::Int8 { 1.6 } else { 1.4 },
                "{p}: {ratio}"
            );
            // Once is enough.
            assert!(quantize(&back, p)
                .unwrap_err()
                .to_string()
                .contains("already quantized"));
        }
        assert!(quantize(&ck, Precision::F32).is_err());
    }

    #[test]
    fn an_int8_tensor_without_its_scales_is_refused_by_name() {
        let mut q = quantize(&model_like(), Precision::Int8).unwrap();
        q.tensors.remove("embed.weight.scale");
        let bytes = crate::checkpoint::to_bytes(&q).unwrap();
        let e = crate::checkpoint::read_bytes(&bytes, "q.safetensors").unwrap_err();
        assert!(e.to_string().contains("embed.weight.scale"), "{e}");
        let mut q = quantize(&model_like(), Precision::Int8).unwrap();
        let s = Tensor::<f32>::zeros(&[3]);
        q.insert("embed.weight.scale", &s);
        let bytes = crate::checkpoint::to_bytes(&q).unwrap();
        let e = crate::checkpoint::read_bytes(&bytes, "q.safetensors").unwrap_err();
        assert!(e.to_string().contains("expected F32 [11]"), "{e}");
    }
}
