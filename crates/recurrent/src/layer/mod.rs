//! A recurrent layer as PyTorch's `nn.RNN` / `nn.LSTM` / `nn.GRU` define it: `L` stacked
//! layers, optionally bidirectional, dropout between layers in training, time-first or
//! batch-first input, optional initial states, variable-length batches, and parameters under
//! PyTorch's names so a `state_dict` maps one to one.
//!
//! Shapes (time-first; batch-first swaps the first two axes of input and output only):
//! - input  [T, B, I]
//! - output [T, B, D*H_out] (features `[0, H_out)` forward, `[H_out, 2*H_out)` reverse)
//! - h0, h_n [D*L, B, H_out], index `k*D + d`;  c0, c_n [D*L, B, H] (LSTM)

mod config;
mod quant;
mod step;
mod weight_drop;

pub use config::{RecurrentReg, RnnConfig};
pub use quant::Quantize;
pub use step::StepScratch;

use crate::cell::sequence::{self, DirCache, DirParams};
use crate::cell::zoneout::Masks;
use crate::cell::CellKind;
use crate::error::{Error, Result};
use crate::float::Float;
use crate::init::{self, Init, InputInit, RecurrentInit};
use crate::kernels::{pool, workspace};
use crate::nn::dropout::{self, sequence_mask};
use crate::param::{Module, Param};
use crate::rng::Rng;
use crate::tensor::Tensor;
use std::sync::Mutex;

/// Initial or final states: `h` [D*L, B, H_out], `c` [D*L, B, H] for an LSTM.
#[derive(Clone, Debug, PartialEq)]
pub struct RnnState<F> {
    pub h: Tensor<F>,
    pub c: Option<Tensor<F>>,
}

/// What a forward pass returns.
#[derive(Clone, Debug)]
pub struct RnnOutput<F> {
    /// [T, B, D*H_out] (or [B, T, D*H_out] batch-first); zero past each sequence's end.
    pub output: Tensor<F>,
    /// The final states, at each sequence's own last step.
    pub state: RnnState<F>,
}

/// What a forward pass keeps for backward. Its buffers are recycled when it is dropped.
#[derive(Clone, Debug)]
pub struct RnnCache<F: Float> {
    t: usize,
    b: usize,
    /// Layer inputs, time-first: [T, B, I_k] (after inter-layer dropout for k > 0).
    inputs: Vec<Vec<F>>,
    /// Dropout masks (scaled by 1/(1-p)) applied to the output of layer k, k < L-1.
    masks: Vec<Vec<F>>,
    /// Weight-drop masks of each layer-direction's W_hh (empty without weight drop).
    weight_masks: Vec<Vec<F>>,
    dirs: Vec<DirCache<F>>,
}

impl<F: Float> Drop for RnnCache<F> {
    fn drop(&mut self) {
        let all = self.inputs.drain(..).chain(self.masks.drain(..));
        for v in all.chain(self.weight_masks.drain(..)) {
            workspace::give(v);
        }
    }
}

impl<F: Float> RnnCache<F> {
    /// T.
    pub fn seq_len(&self) -> usize {
        self.t
    }
    /// B.
    pub fn batch(&self) -> usize {
        self.b
    }
    /// The cache of layer `k`, direction `d` (for diagnostics: per-step states).
    pub fn dir(&self, k: usize, d: usize, directions: usize) -> &DirCache<F> {
        &self.dirs[k * directions + d]
    }
}

/// The gradients of a backward pass besides the parameters'.
#[derive(Clone, Debug)]
pub struct RnnGrads<F> {
    /// dL/d(input), the input's shape.
    pub d_input: Tensor<F>,
    /// dL/dh0 [D*L, B, H_out].
    pub d_h0: Tensor<F>,
    /// dL/dc0 [D*L, B, H] (LSTM).
    pub d_c0: Option<Tensor<F>>,
}

/// A stacked, optionally bidirectional recurrent layer (PyTorch's `nn.RNN`/`LSTM`/`GRU`).
#[derive(Clone, Debug)]
pub struct Rnn<F> {
    config: RnnConfig,
    /// One per layer and direction, index `k*D + d`.
    dirs: Vec<DirParams<F>>,
    /// The weights in int8 or bf16 for inference ([`Rnn::set_precision`]); shared by clones.
    quant: Option<std::sync::Arc<quant::Quantized>>,
}

impl<F: Float> Rnn<F> {
    /// A layer initialised by `init` from `rng`.
    pub fn new(config: RnnConfig, init: &Init, rng: &mut Rng) -> Result<Self> {
        config.validate()?;
        let (h, ho, g) = (config.hidden_size, config.hout(), config.cell.gates());
        let d_count = config.directions();
        let bound = 1.0 / (h as f64).sqrt();
        let mut dirs = Vec::with_capacity(config.num_layers * d_count);
        for k in 0..config.num_layers {
            let spec = config.spec(k);
            for d in 0..d_count {
                let sfx = format!("l{k}{}", if d == 1 { "_reverse" } else { "" });
                // PyTorch's order of draws: w_ih, w_hh, b_ih, b_hh, w_hr.
                let mut w_ih = Tensor::zeros(&[g * h, spec.input]);
                match init.input {
                    InputInit::Uniform => init::uniform(w_ih.data_mut(), bound, rng),
                    InputInit::Glorot => {
                        let a = (6.0 / (spec.input + h) as f64).sqrt();
                        init::uniform(w_ih.data_mut(), a, rng)
                    }
                }
                // The minimal cells have no recurrent weights (nor `bias_hh`).
                let minimal = config.cell.is_minimal();
                let w_hh = (!minimal).then(|| {
                    let mut w_hh = Tensor::zeros(&[g * h, ho]);
                    for blk in w_hh.data_mut().chunks_exact_mut(h * ho) {
                        match init.recurrent {
                            RecurrentInit::Uniform => init::uniform(blk, bound, rng),
                            RecurrentInit::Orthogonal => init::orthogonal(blk, h, ho, rng),
                            RecurrentInit::Identity => init::identity(blk, h, ho),
                        }
                    }
                    Param::new(format!("weight_hh_{sfx}"), w_hh)
                });
                let mut bias = |name: &str| {
                    let mut b = Tensor::zeros(&[g * h]);
                    if init.recurrent != RecurrentInit::Identity {
                        init::uniform(b.data_mut(), bound, rng);
                    }
                    Param::new(format!("{name}_{sfx}"), b)
                };
                let mut b_ih = config.bias.then(|| bias("bias_ih"));
                let mut b_hh = (config.bias && !minimal).then(|| bias("bias_hh"));
                if let (Some(fb), true, Some(bi), Some(bh)) = (
                    init.forget_bias,
                    config.cell.has_cell_state(),
                    &mut b_ih,
                    &mut b_hh,
                ) {
                    bi.value.data_mut()[h..2 * h]
                        .iter_mut()
                        .for_each(|v| *v = F::of(fb));
                    bh.value.data_mut()[h..2 * h]
                        .iter_mut()
                        .for_each(|v| *v = F::zero());
                }
                let w_hr = (config.proj_size > 0).then(|| {
                    let mut w = Tensor::zeros(&[ho, h]);
                    init::uniform(w.data_mut(), bound, rng);
                    Param::new(format!("weight_hr_{sfx}"), w)
                });
                dirs.push(DirParams {
                    w_ih: Param::new(format!("weight_ih_{sfx}"), w_ih),
                    w_hh,
                    b_ih,
                    b_hh,
                    w_hr,
                    ln: norm_params(config.cell, g * h, h, &sfx),
                });
            }
        }
        Ok(Rnn {
            config,
            dirs,
            quant: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RnnConfig {
        &self.config
    }

    /// The parameters of layer `k`, direction `d`.
    pub fn dir_params(&self, k: usize, d: usize) -> &DirParams<F> {
        &self.dirs[k * self.config.directions() + d]
    }

    /// Zero states for a batch of `b`.
    pub fn zero_state(&self, b: usize) -> RnnState<F> {
        let c = &self.config;
        let n = c.num_layers * c.directions();
        RnnState {
            h: Tensor::zeros(&[n, b, c.hout()]),
            c: (c.cell.has_cell_state()).then(|| Tensor::zeros(&[n, b, c.hidden_size])),
        }
    }

    /// Forward over `input` ([T, B, I], or [B, T, I] batch-first). `state` defaults to zeros;
    /// `lengths` (one per sequence, 1..=T) makes a variable-length batch; `dropout` supplies
    /// the random stream when training with inter-layer dropout (None: evaluation).
    pub fn forward(
        &self,
        input: &Tensor<F>,
        state: Option<&RnnState<F>>,
        lengths: Option<&[usize]>,
        dropout: Option<&mut Rng>,
    ) -> Result<(RnnOutput<F>, RnnCache<F>)> {
        let c = &self.config;
        if input.shape().len() != 3 || input.shape()[2] != c.input_size {
            return Err(Error::tensor(
                "input",
                format!(
                    "expected [T, B, {}] ({}), got {:?}",
                    c.input_size,
                    if c.batch_first {
                        "batch-first"
                    } else {
                        "time-first"
                    },
                    input.shape()
                ),
            ));
        }
        let (t, b) = if c.batch_first {
            (input.shape()[1], input.shape()[0])
        } else {
            (input.shape()[0], input.shape()[1])
        };
        let x = if c.batch_first {
            input.swap01().into_vec()
        } else {
            workspace::copy_of(input.data())
        };
        self.forward_tm(x, t, b, state, lengths, dropout)
    }

    /// Forward on a time-first input given as a flat `[T, B, I]` vector (no copy).
    pub fn forward_tm(
        &self,
        x: Vec<F>,
        t: usize,
        b: usize,
        state: Option<&RnnState<F>>,
        lengths: Option<&[usize]>,
        mut dropout: Option<&mut Rng>,
    ) -> Result<(RnnOutput<F>, RnnCache<F>)> {
        let c = &self.config;
        let (dn, ho, h) = (c.directions(), c.hout(), c.hidden_size);
        let n_states = c.num_layers * dn;
        if x.len() != t * b * c.input_size {
            return Err(Error::tensor(
                "input",
                format!("{} values for [T={t}, B={b}, I={}]", x.len(), c.input_size),
            ));
        }
        if let Some(s) = state {
            check_shape("h0", s.h.shape(), &[n_states, b, ho])?;
            match (&s.c, c.cell.has_cell_state()) {
                (Some(c0), true) => check_shape("c0", c0.shape(), &[n_states, b, h])?,
                (None, true) => return Err(Error::tensor("c0", "an LSTM needs c0 with h0")),
                (Some(_), false) => {
                    return Err(Error::tensor(
                        "c0",
                        format!("a {} has no cell state", c.cell),
                    ))
                }
                (None, false) => {}
            }
        }
        let valid = valid_mask(lengths, t, b)?;
        let zero_state;
        let state = match state {
            Some(s) => s,
            None => {
                zero_state = self.zero_state(b);
                &zero_state
            }
        };
        let (nh, nc) = (b * ho, b * h);
        if let Some(q) = self.quantized() {
            if dropout.is_some() {
                return Err(quant::no_training());
            }
            let (out, h_n, c_n) = self.forward_quantized(q, &x, t, b, state, &valid)?;
            let cache = RnnCache {
                t,
                b,
                inputs: vec![x],
                masks: Vec::new(),
                weight_masks: Vec::new(),
                dirs: Vec::new(),
            };
            return self.finish(t, b, out, h_n, c_n, cache);
        }
        let weight_masks = match (dropout.as_deref_mut(), c.weight_drop > 0.0) {
            (Some(rng), true) => weight_drop::draw(&self.dirs, c.weight_drop, rng),
            _ => Vec::new(),
        };
        let mut inputs = vec![x];
        let mut masks = Vec::new();
        let mut dirs = Vec::with_capacity(n_states);
        let out_w = dn * ho;
        let mut out = Vec::new();
        let mut h_n = vec![F::zero(); n_states * nh];
        let mut c_n = state.c.as_ref().map(|_| vec![F::zero(); n_states * nc]);
        for k in 0..c.num_layers {
            let spec = c.spec(k);
            // Every element is written below. Only the last layer's output leaves as the
            // result; the others become the next layer's input and are recycled with the
            // cache.
            out = if k + 1 < c.num_layers {
                workspace::scratch(t * b * out_w)
            } else {
                vec![F::zero(); t * b * out_w]
            };
            // The directions of a bidirectional layer are independent: run them concurrently.
            let input = &inputs[k];
            let dropped: Vec<Option<DirParams<F>>> = (k * dn..(k + 1) * dn)
                .map(|i| {
                    let m = weight_masks.get(i)?;
                    Some(weight_drop::dropped(&self.dirs[i], m))
                })
                .collect();
            // Zoneout's masks of each direction, drawn in order (training only; evaluation
            // zones by the rates' expectation).
            let zone_masks: Vec<Mutex<Option<Masks>>> = (0..dn)
                .map(|_| {
                    let rng = dropout.as_deref_mut().filter(|_| c.zoneout.is_on());
                    let has_c = c.cell.has_cell_state();
                    Mutex::new(rng.map(|r| Masks::draw(c.zoneout, t * b * h, has_c, r)))
                })
                .collect();
            let caches = per_direction(dn, |d| {
                let i = k * dn + d;
                let p = dropped[d].as_ref().unwrap_or(&self.dirs[i]);
                let h0 = &state.h.data()[i * nh..(i + 1) * nh];
                let c0 = state.c.as_ref().map(|c0| &c0.data()[i * nc..(i + 1) * nc]);
                let masks = zone_masks[d].lock().ok().and_then(|mut m| m.take());
                sequence::forward(spec, p, input, t, b, h0, c0, &valid, d == 1, masks)
            });
            drop(dropped);
            for (d, dc) in caches.into_iter().enumerate() {
                let i = k * dn + d;
                dc.output_into(&mut out, out_w, d * ho);
                h_n[i * nh..(i + 1) * nh].copy_from_slice(dc.h_n());
                if let (Some(cn), Some(src)) = (&mut c_n, dc.c_n()) {
                    cn[i * nc..(i + 1) * nc].copy_from_slice(src);
                }
                dirs.push(dc);
            }
            if k + 1 < c.num_layers {
                let mut next = std::mem::take(&mut out);
                if let (Some(rng), true) = (dropout.as_deref_mut(), c.dropout > 0.0) {
                    let mask = sequence_mask(t, b, out_w, c.dropout, c.variational, rng);
                    dropout::apply(&mut next, &mask);
                    masks.push(mask);
                }
                inputs.push(next);
            }
        }
        let cache = RnnCache {
            t,
            b,
            inputs,
            masks,
            weight_masks,
            dirs,
        };
        self.finish(t, b, out, h_n, c_n, cache)
    }

    /// The output and final states as tensors, with the cache.
    fn finish(
        &self,
        t: usize,
        b: usize,
        out: Vec<F>,
        h_n: Vec<F>,
        c_n: Option<Vec<F>>,
        cache: RnnCache<F>,
    ) -> Result<(RnnOutput<F>, RnnCache<F>)> {
        let c = &self.config;
        let n_states = c.num_layers * c.directions();
        let mut output = Tensor::from_vec(&[t, b, c.directions() * c.hout()], out)?;
        if c.batch_first {
            output = output.swap01();
        }
        let state = RnnState {
            h: Tensor::from_vec(&[n_states, b, c.hout()], h_n)?,
            c: c_n
                .map(|v| Tensor::from_vec(&[n_states, b, c.hidden_size], v))
                .transpose()?,
        };
        Ok((RnnOutput { output, state }, cache))
    }

    /// Backward through time from dL/d(output) (the output's shape) and, optionally, the
    /// gradients of the final states. Adds into every parameter's gradient; returns the
    /// gradients of the input and of the initial states.
    pub fn backward(
        &mut self,
        cache: &RnnCache<F>,
        d_output: &Tensor<F>,
        d_h_n: Option<&Tensor<F>>,
        d_c_n: Option<&Tensor<F>>,
    ) -> Result<RnnGrads<F>> {
        if cache.dirs.is_empty() {
            return Err(quant::no_training());
        }
        let c = self.config.clone();
        let (t, b) = (cache.t, cache.b);
        let (dn, ho, h) = (c.directions(), c.hout(), c.hidden_size);
        let out_w = dn * ho;
        let want = if c.batch_first {
            [b, t, out_w]
        } else {
            [t, b, out_w]
        };
        check_shape("d_output", d_output.shape(), &want)?;
        let d_in = if c.batch_first {
            let d_tm = d_output.swap01();
            self.backward_impl(cache, d_tm.data(), d_h_n, d_c_n)?
        } else {
            self.backward_impl(cache, d_output.data(), d_h_n, d_c_n)?
        };
        let n_states = c.num_layers * dn;
        let d_input = Tensor::from_vec(&[t, b, c.input_size], d_in.0)?;
        Ok(RnnGrads {
            d_input: if c.batch_first {
                d_input.swap01()
            } else {
                d_input
            },
            d_h0: Tensor::from_vec(&[n_states, b, ho], d_in.1)?,
            d_c0: d_in
                .2
                .map(|v| Tensor::from_vec(&[n_states, b, h], v))
                .transpose()?,
        })
    }

    /// Backward on a time-first flat dL/d(output) `[T, B, D*H_out]` (consumed as scratch).
    /// Returns (dL/dx [T, B, I], dL/dh0, dL/dc0) flat.
    #[allow(clippy::type_complexity)]
    pub fn backward_tm(
        &mut self,
        cache: &RnnCache<F>,
        d_out: &mut [F],
        d_h_n: Option<&Tensor<F>>,
        d_c_n: Option<&Tensor<F>>,
    ) -> Result<(Vec<F>, Vec<F>, Option<Vec<F>>)> {
        self.backward_impl(cache, d_out, d_h_n, d_c_n)
    }

    /// [`Rnn::backward_tm`] on a read-only dL/d(output).
    #[allow(clippy::type_complexity)]
    fn backward_impl(
        &mut self,
        cache: &RnnCache<F>,
        d_out: &[F],
        d_h_n: Option<&Tensor<F>>,
        d_c_n: Option<&Tensor<F>>,
    ) -> Result<(Vec<F>, Vec<F>, Option<Vec<F>>)> {
        if cache.dirs.is_empty() {
            return Err(quant::no_training());
        }
        let c = self.config.clone();
        let (t, b) = (cache.t, cache.b);
        let (dn, ho, h) = (c.directions(), c.hout(), c.hidden_size);
        let n_states = c.num_layers * dn;
        let (nh, nc) = (b * ho, b * h);
        let is_lstm = c.cell.has_cell_state();
        if let Some(d) = d_h_n {
            check_shape("d_h_n", d.shape(), &[n_states, b, ho])?;
        }
        if let Some(d) = d_c_n {
            check_shape("d_c_n", d.shape(), &[n_states, b, h])?;
        }
        let out_w = dn * ho;
        let mut dh0 = vec![F::zero(); n_states * nh];
        let mut dc0 = is_lstm.then(|| vec![F::zero(); n_states * nc]);
        let zeros_h = workspace::zeros(nh);
        let zeros_c = workspace::zeros(nc);
        if d_out.len() != t * b * out_w {
            return Err(Error::tensor(
                "d_output",
                format!("{} values for [T={t}, B={b}, {out_w}]", d_out.len()),
            ));
        }
        // dL/d(output of layer k): the caller's for the top layer, then each layer's dL/dx.
        let mut d_lower: Vec<F> = Vec::new();
        let mut dx = Vec::new();
        for k in (0..c.num_layers).rev() {
            let spec = c.spec(k);
            let d_cur: &[F] = if k + 1 == c.num_layers {
                d_out
            } else {
                &d_lower
            };
            // Each direction gets its own dL/dy (its columns of d_cur) and its own dL/dx, so
            // that the two can run concurrently; their dL/dx are summed after, in the same
            // order whatever the number of threads.
            let (d_cur_ref, caches) = (d_cur, &cache.dirs);
            let params: Vec<Mutex<&mut DirParams<F>>> = self.dirs[k * dn..(k + 1) * dn]
                .iter_mut()
                .map(Mutex::new)
                .collect();
            let results = {
                let params = &params;
                per_direction(dn, |d| {
                    let i = k * dn + d;
                    // One direction's columns; with one direction, all of them as they are.
                    let own = (dn > 1).then(|| {
                        let mut v = workspace::scratch(t * nh);
                        for (row, dst) in d_cur_ref.chunks_exact(out_w).zip(v.chunks_exact_mut(ho))
                        {
                            dst.copy_from_slice(&row[d * ho..(d + 1) * ho]);
                        }
                        v
                    });
                    let dy_dir: &[F] = own.as_deref().unwrap_or(d_cur_ref);
                    let dhn = d_h_n.map_or(&zeros_h[..], |g| &g.data()[i * nh..(i + 1) * nh]);
                    let dcn = is_lstm
                        .then(|| d_c_n.map_or(&zeros_c[..], |g| &g.data()[i * nc..(i + 1) * nc]));
                    let mut dx_d = workspace::scratch(t * b * spec.input);
                    let mut p = params[d].lock().unwrap_or_else(|e| e.into_inner());
                    let mut run = |p: &mut DirParams<F>| {
                        let x = &cache.inputs[k];
                        sequence::backward(p, &caches[i], x, dy_dir, dhn, dcn, &mut dx_d)
                    };
                    let g = match cache.weight_masks.get(i) {
                        Some(m) => weight_drop::backward_through(&mut **p, m, run),
                        None => run(&mut p),
                    };
                    if let Some(v) = own {
                        workspace::give(v);
                    }
                    (dx_d, g)
                })
            };
            drop(params);
            let mut layer_dx: Option<Vec<F>> = None;
            for (d, (dx_d, g)) in results.into_iter().enumerate() {
                let i = k * dn + d;
                dh0[i * nh..(i + 1) * nh].copy_from_slice(&g.dh0);
                if let (Some(dst), Some(src)) = (&mut dc0, g.dc0.as_deref()) {
                    dst[i * nc..(i + 1) * nc].copy_from_slice(src);
                }
                match &mut layer_dx {
                    None => layer_dx = Some(dx_d),
                    Some(acc) => {
                        acc.iter_mut().zip(&dx_d).for_each(|(a, v)| *a += *v);
                        workspace::give(dx_d);
                    }
                }
            }
            dx = layer_dx.unwrap_or_default();
            if k > 0 {
                if let Some(mask) = cache.masks.get(k - 1) {
                    dropout::apply(&mut dx, mask);
                }
                workspace::give(std::mem::replace(&mut d_lower, std::mem::take(&mut dx)));
            }
        }
        workspace::give(d_lower);
        workspace::give(zeros_h);
        workspace::give(zeros_c);
        // The caller owns the returned gradient: a plain copy, not a recycled buffer.
        let dx = dx.to_vec();
        Ok((dx, dh0, dc0))
    }
}

impl<F: Float> Module<F> for Rnn<F> {
    fn visit(&self, f: &mut dyn FnMut(&Param<F>)) {
        self.dirs.iter().for_each(|d| d.visit(f));
    }
    /// Weights changed through here are quantized again (at the precision set), so the
    /// products never read a stale copy.
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<F>)) {
        self.dirs.iter_mut().for_each(|d| d.visit_mut(f));
        if let Some(p) = self.quant.as_ref().map(|q| q.precision) {
            self.set_precision(p);
        }
    }
}

/// Runs `f(d)` for each direction `d < dn`, concurrently when there are two and threads to
/// spare, and returns the results in direction order.
/// The normalisation parameters of a layer-normalised cell (none for the others): the
/// gains start at one and the cell state's shift at zero, so that a new layer normalises
/// without rescaling (Ba et al. 2016).
fn norm_params<F: Float>(cell: CellKind, gh: usize, h: usize, sfx: &str) -> [Option<Param<F>>; 4] {
    if !cell.is_normalized() {
        return [None, None, None, None];
    }
    let filled = |name: &str, n: usize, v: f64| {
        let mut t = Tensor::zeros(&[n]);
        t.data_mut().iter_mut().for_each(|x| *x = F::of(v));
        Some(Param::new(format!("{name}_{sfx}"), t))
    };
    let lstm = cell.has_cell_state();
    [
        filled("ln_weight_ih", gh, 1.0),
        filled("ln_weight_hh", gh, 1.0),
        lstm.then(|| filled("ln_weight_c", h, 1.0)).flatten(),
        lstm.then(|| filled("ln_bias_c", h, 0.0)).flatten(),
    ]
}

fn per_direction<T: Send>(dn: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    if dn == 1 {
        return vec![f(0)];
    }
    let slots: Vec<Mutex<Option<T>>> = (0..dn).map(|_| Mutex::new(None)).collect();
    pool::team(dn, &|tm: &pool::Team| {
        // A team of one (no threads to spare) runs every direction itself.
        for d in (tm.index..dn).step_by(tm.size) {
            let r = f(d);
            *slots[d].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        }
    });
    slots
        .into_iter()
        .map(|s| {
            s.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every direction ran")
        })
        .collect()
}

fn check_shape(name: &str, got: &[usize], want: &[usize]) -> Result<()> {
    if got != want {
        return Err(Error::tensor(
            name,
            format!("expected shape {want:?}, got {got:?}"),
        ));
    }
    Ok(())
}

/// `valid[t * B + b] = t < lengths[b]`, all true without lengths.
fn valid_mask(lengths: Option<&[usize]>, t: usize, b: usize) -> Result<Vec<bool>> {
    let Some(lens) = lengths else {
        return Ok(vec![true; t * b]);
    };
    if lens.len() != b {
        return Err(Error::tensor(
            "lengths",
            format!("{} lengths for a batch of {b}", lens.len()),
        ));
    }
    if let Some((i, &l)) = lens.iter().enumerate().find(|(_, &l)| l == 0 || l > t) {
        return Err(Error::tensor(
            "lengths",
            format!("lengths[{i}] = {l} is outside 1..={t}"),
        ));
    }
    Ok((0..t)
        .flat_map(|ti| lens.iter().map(move |&l| ti < l))
        .collect())
}
