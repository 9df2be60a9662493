//! Inference in reduced precision: the layer's weight matrices held in int8 or bf16
//! ([`crate::kernels::quant`]), the biases, the states and the gate math in f32.
//!
//! The forward runs as the streaming step does ([`crate::cell::stream`]), one time step
//! at a time for each layer and direction, with the batch's rows in each product: the
//! quantized products read each weight row once for up to four batch rows, and the
//! activations are quantized once per step. Variable lengths keep PyTorch's semantics as
//! the f32 path does: a row past its end keeps its state and outputs 0, and the reverse
//! direction starts at each sequence's own last step.

use super::{Rnn, RnnState};
use crate::cell::stream::{self, QDir, StepBuffers};
use crate::error::{Error, Result};
use crate::float::Float;
use crate::kernels::quant::Precision;
use crate::kernels::workspace;
use std::sync::Arc;

/// A model whose recurrent layers can run their inference products in reduced precision.
/// Embeddings, heads and attention stay in f32: the recurrent weights are what a step
/// streams, and what most of a forward's products read.
pub trait Quantize {
    /// Sets the precision of every recurrent layer's products (see [`Rnn::set_precision`]).
    fn set_precision(&mut self, p: Precision);
}

impl<F: Float> Quantize for Rnn<F> {
    fn set_precision(&mut self, p: Precision) {
        Rnn::set_precision(self, p)
    }
}

/// The quantized copy of every layer-direction's weights.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Quantized {
    pub precision: Precision,
    /// Index `k*D + d`, as `Rnn::dirs`.
    pub dirs: Vec<QDir>,
}

impl<F: Float> Rnn<F> {
    /// Runs the inference products (forward and step) in `p`: the weight matrices as they
    /// are now are quantized (int8 per output channel, or bf16); f32 goes back to the
    /// trained weights. Training needs f32: a quantized forward keeps nothing for
    /// backward. Quantize after the weights are final (after loading or training).
    pub fn set_precision(&mut self, p: Precision) {
        self.quant = match p {
            Precision::F32 => None,
            _ => Some(Arc::new(Quantized {
                precision: p,
                dirs: self.dirs.iter().map(|d| QDir::new(d, p)).collect(),
            })),
        };
    }

    /// The precision of the inference products.
    pub fn precision(&self) -> Precision {
        self.quant.as_ref().map_or(Precision::F32, |q| q.precision)
    }

    /// Bytes of weight matrices one time step reads at the current precision (what bounds
    /// a weight-bound step).
    pub fn weight_bytes(&self) -> usize {
        match &self.quant {
            Some(q) => q.dirs.iter().map(QDir::bytes).sum(),
            None => self
                .dirs
                .iter()
                .map(|d| {
                    [Some(&d.w_ih), d.w_hh.as_ref(), d.w_hr.as_ref()]
                        .into_iter()
                        .flatten()
                        .map(|p| p.value.len() * F::BYTES)
                        .sum::<usize>()
                })
                .sum(),
        }
    }

    /// The quantized weights of every layer-direction, if any.
    pub(super) fn quantized(&self) -> Option<&[QDir]> {
        self.quant.as_deref().map(|q| q.dirs.as_slice())
    }

    /// Forward over `x` [T, B, I] with the quantized weights `q`: the output [T, B, D*H_out],
    /// h_n and (LSTM) c_n, laid out as [`Rnn::forward_tm`]'s.
    #[allow(clippy::type_complexity)]
    pub(super) fn forward_quantized(
        &self,
        q: &[QDir],
        x: &[F],
        t: usize,
        b: usize,
        state: &RnnState<F>,
        valid: &[bool],
    ) -> Result<(Vec<F>, Vec<F>, Option<Vec<F>>)> {
        let c = &self.config;
        let (dn, ho, hs) = (c.directions(), c.hout(), c.hidden_size);
        let (nh, nc, out_w) = (b * ho, b * hs, dn * ho);
        let n_states = c.num_layers * dn;
        let mut buf = StepBuffers::default();
        if dn == 1 && valid.iter().all(|&v| v) {
            // The whole stack one step at a time, every step in one team; the states the
            // members write side by side start at a cache line (workspace::aligned).
            let specs: Vec<_> = (0..c.num_layers).map(|k| c.spec(k)).collect();
            let pad = workspace::align_pad::<F>();
            let (hn, cn) = (state.h.len(), state.c.as_ref().map_or(0, |c0| c0.len()));
            let (mut hb, mut cb) = (vec![F::zero(); hn + pad], vec![F::zero(); cn + pad]);
            let (h, cs) = (
                &mut workspace::aligned(&mut hb)[..hn],
                &mut workspace::aligned(&mut cb)[..cn],
            );
            h.copy_from_slice(state.h.data());
            if let Some(c0) = &state.c {
                cs.copy_from_slice(c0.data());
            }
            let mut out = vec![F::zero(); t * nh];
            let (params, o) = (&self.dirs, Some(&mut out[..]));
            stream::steps(&specs, params, Some(q), x, t, b, h, cs, &mut buf, o);
            return Ok((out, h.to_vec(), state.c.as_ref().map(|_| cs.to_vec())));
        }
        let mut h_n = vec![F::zero(); n_states * nh];
        let mut c_n = state.c.as_ref().map(|_| vec![F::zero(); n_states * nc]);
        let (mut saved_h, mut saved_c) = (Vec::new(), Vec::new());
        let mut layer_in = Vec::new();
        let mut out = Vec::new();
        for k in 0..c.num_layers {
            let spec = c.spec(k);
            let input: &[F] = if k == 0 { x } else { &layer_in };
            out = vec![F::zero(); t * b * out_w];
            for d in 0..dn {
                let i = k * dn + d;
                let mut h = state.h.data()[i * nh..(i + 1) * nh].to_vec();
                let mut cs = state
                    .c
                    .as_ref()
                    .map_or_else(Vec::new, |c0| c0.data()[i * nc..(i + 1) * nc].to_vec());
                for s in 0..t {
                    let ti = if d == 1 { t - 1 - s } else { s };
                    let v = &valid[ti * b..(ti + 1) * b];
                    let ragged = !v.iter().all(|&ok| ok);
                    if ragged {
                        saved_h.clone_from(&h);
                        saved_c.clone_from(&cs);
                    }
                    let xt = &input[ti * b * spec.input..(ti + 1) * b * spec.input];
                    stream::step(
                        std::slice::from_ref(&spec),
                        std::slice::from_ref(&self.dirs[i]),
                        Some(std::slice::from_ref(&q[i])),
                        xt,
                        b,
                        &mut h,
                        &mut cs,
                        &mut buf,
                    );
                    for (bi, &ok) in v.iter().enumerate() {
                        let hr = bi * ho..(bi + 1) * ho;
                        if ok {
                            let o = (ti * b + bi) * out_w + d * ho;
                            out[o..o + ho].copy_from_slice(&h[hr]);
                        } else {
                            h[hr.clone()].copy_from_slice(&saved_h[hr]);
                            if !cs.is_empty() {
                                let cr = bi * hs..(bi + 1) * hs;
                                cs[cr.clone()].copy_from_slice(&saved_c[cr]);
                            }
                        }
                    }
                }
                h_n[i * nh..(i + 1) * nh].copy_from_slice(&h);
                if let Some(cn) = &mut c_n {
                    cn[i * nc..(i + 1) * nc].copy_from_slice(&cs);
                }
            }
            if k + 1 < c.num_layers {
                layer_in = std::mem::take(&mut out);
            }
        }
        Ok((out, h_n, c_n))
    }
}

/// The error of a training step on a quantized layer.
pub(super) fn no_training() -> Error {
    Error::Config(
        "this layer runs in reduced precision (int8 or bf16), which is for inference: \
         train in f32 (set_precision(Precision::F32)) and quantize afterwards"
            .into(),
    )
}
