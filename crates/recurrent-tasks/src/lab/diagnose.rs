//! Gradient-flow diagnostics: how much of the loss's gradient reaches each time step, each
//! layer and the input, and how large the recurrent weights are, so that vanishing and
//! exploding gradients can be seen rather than guessed.
//!
//! Per-step state gradients. The engine's backward pass returns only dL/dh_0; to see every
//! dL/dh_t without touching the fused BPTT loop, each layer is run one time step at a time
//! (T = 1 calls of [`Rnn::forward_tm`], the final state of one call the initial state of the
//! next) and the backward calls are chained the other way:
//!
//! ```text
//! g_T = dL/dh_n (from the head; 0 for lower layers)
//! for t = T-1 .. 0:   dL/dh_t = g_{t+1} + dL/dy_t           (y_t = h_t is the layer's output)
//!                     (dx_t, g_t, gc_t) = backward_tm(step t, dL/dy_t, d_h_n = g_{t+1}, d_c_n = gc_{t+1})
//! ```
//!
//! which is BPTT itself, step by step, so the parameter gradients it accumulates equal those
//! of the fused pass (tested). Layers are diagnosed top-down: the input gradient dx_t of
//! layer k+1 is dL/dy_t of layer k. The norms are reported per sequence, mean_b ||dl_b/dh_t||
//! with l_b the loss of sequence b (B times the gradient of the batch's mean loss), so they
//! do not depend on the batch size.

use recurrent::cell::CellKind;
use recurrent::error::{Error, Result};
use recurrent::float::Float;
use recurrent::init::Init;
use recurrent::layer::{Rnn, RnnCache, RnnConfig, RnnState};
use recurrent::model::lm::LanguageModel;
use recurrent::nn::CrossEntropy;
use recurrent::param::Module;
use recurrent::rng::Rng;
use recurrent::tensor::Tensor;
use serde::Serialize;

/// The per-step gradient norms of a batch.
#[derive(Clone, Debug, Serialize)]
pub struct GradientFlow {
    /// T.
    pub steps: usize,
    /// B.
    pub batch: usize,
    /// The batch's loss.
    pub loss: f64,
    /// Per layer k (bottom first): dh[t] = mean_b ||dl_b/dh_t^(k)||.
    pub dh: Vec<Vec<f64>>,
    /// dx[t] = mean_b ||dl_b/dx_t||, the gradient reaching the input.
    pub dx: Vec<f64>,
}

/// What the loss on top of the recurrent layer computes: given the top layer's outputs
/// Y [T, B, H_out] and final state h_n [B, H_out], the loss and its gradients dL/dY and
/// dL/dh_n (same shapes).
pub type Head<'a, F> = dyn FnMut(&[F], &[F]) -> Result<(f64, Vec<F>, Vec<F>)> + 'a;

/// Layer `k` of `rnn` as a one-layer [`Rnn`] with the same weights (named `*_l0`).
pub fn layer_copy<F: Float>(rnn: &Rnn<F>, k: usize) -> Result<Rnn<F>> {
    let c = rnn.config();
    if c.bidirectional {
        return Err(Error::Config(
            "gradient-flow diagnostics support unidirectional layers only".into(),
        ));
    }
    if k >= c.num_layers {
        return Err(Error::Config(format!(
            "layer {k} of a {}-layer network",
            c.num_layers
        )));
    }
    let input = if k == 0 {
        c.input_size
    } else {
        c.output_size()
    };
    let cfg = RnnConfig::new(c.cell, input, c.hidden_size)
        .bias(c.bias)
        .proj_size(c.proj_size)
        .gru_form(c.gru_form);
    let mut one = Rnn::new(cfg, &Init::default(), &mut Rng::new(0))?;
    let mut values = Vec::new();
    rnn.dir_params(k, 0)
        .visit(&mut |p| values.push(p.value.clone()));
    let mut it = values.into_iter();
    one.visit_mut(&mut |p| {
        if let Some(v) = it.next() {
            p.value = v;
        }
    });
    Ok(one)
}

/// Runs the one-layer `layer` over `x` [T, B, I] one step at a time. Returns the outputs
/// [T, B, H_out], the final state and each step's cache.
#[allow(clippy::type_complexity)]
fn forward_steps<F: Float>(
    layer: &Rnn<F>,
    x: &[F],
    t: usize,
    b: usize,
) -> Result<(Vec<F>, RnnState<F>, Vec<RnnCache<F>>)> {
    let i = layer.config().input_size;
    let ho = layer.config().hout();
    let mut state = layer.zero_state(b);
    let mut y = vec![F::zero(); t * b * ho];
    let mut caches = Vec::with_capacity(t);
    // Each call allocates inside the engine: a diagnostic, not a training path.
    for (ti, xt) in x.chunks_exact(b * i).enumerate().take(t) {
        let (out, cache) = layer.forward_tm(xt.to_vec(), 1, b, Some(&state), None, None)?;
        y[ti * b * ho..(ti + 1) * b * ho].copy_from_slice(out.output.data());
        state = out.state;
        caches.push(cache);
    }
    Ok((y, state, caches))
}

/// mean_b ||g[b]|| * B for g [B, n].
fn mean_norm<F: Float>(g: &[F], b: usize) -> f64 {
    let n = g.len() / b.max(1);
    let total: f64 = g
        .chunks_exact(n.max(1))
        .map(|row| row.iter().map(|v| v.to64() * v.to64()).sum::<f64>().sqrt())
        .sum();
    total // (sum_b ||g_b||) = B * mean_b ||g_b||: the per-sequence norm of a mean loss
}

/// The gradient flow of `rnn` (unidirectional, evaluation mode, zero initial state) on the
/// input `x` [T, B, I] under the loss `head`. The parameter gradients of the step-by-step
/// pass are accumulated into the layer copies, returned bottom first, so callers can check
/// them against the fused pass.
pub fn gradient_flow<F: Float>(
    rnn: &Rnn<F>,
    x: &[F],
    t: usize,
    b: usize,
    head: &mut Head<'_, F>,
) -> Result<(GradientFlow, Vec<Rnn<F>>)> {
    let c = rnn.config().clone();
    if t == 0 || b == 0 || x.len() != t * b * c.input_size {
        return Err(Error::Input(format!(
            "{} input values for T = {t}, B = {b}, I = {}",
            x.len(),
            c.input_size
        )));
    }
    let mut layers = (0..c.num_layers)
        .map(|k| layer_copy(rnn, k))
        .collect::<Result<Vec<_>>>()?;
    let (ho, h) = (c.hout(), c.hidden_size);
    // Forward, layer by layer, keeping each layer's input and caches.
    let mut inputs = vec![x.to_vec()];
    let mut caches = Vec::with_capacity(c.num_layers);
    let mut last = (Vec::new(), layers[0].zero_state(b));
    for layer in &layers {
        let xin = inputs.last().map_or(&[][..], |v| &v[..]);
        let (y, state, cs) = forward_steps(layer, xin, t, b)?;
        caches.push(cs);
        inputs.push(y.clone());
        last = (y, state);
    }
    let (y_top, state_top) = last;
    let (loss, mut dy, dhn) = head(&y_top, state_top.h.data())?;
    if dy.len() != t * b * ho || dhn.len() != b * ho {
        return Err(Error::Input(
            "the loss returned gradients of the wrong size".into(),
        ));
    }
    let mut dh = vec![Vec::new(); c.num_layers];
    let mut dx_norms = vec![0.0; t];
    for k in (0..c.num_layers).rev() {
        let layer = &mut layers[k];
        let width = layer.config().input_size;
        let mut g_h = if k + 1 == c.num_layers {
            Tensor::from_vec(&[1, b, ho], dhn.clone())?
        } else {
            Tensor::zeros(&[1, b, ho])
        };
        let mut g_c = (c.cell.has_cell_state()).then(|| Tensor::zeros(&[1, b, h]));
        let mut norms = vec![0.0; t];
        let mut dx = vec![F::zero(); t * b * width];
        let mut total = vec![F::zero(); b * ho];
        for ti in (0..t).rev() {
            let dyt = &mut dy[ti * b * ho..(ti + 1) * b * ho];
            // dL/dh_t = (through the later steps) + (through this step's output).
            for ((s, a), o) in total.iter_mut().zip(g_h.data()).zip(dyt.iter()) {
                *s = *a + *o;
            }
            norms[ti] = mean_norm(&total, b);
            let (dxt, dh0, dc0) =
                layer.backward_tm(&caches[k][ti], dyt, Some(&g_h), g_c.as_ref())?;
            dx[ti * b * width..(ti + 1) * b * width].copy_from_slice(&dxt);
            // The engine returns fresh vectors; they become the next step's state gradients
            // without a copy (the engine's own allocations are the price of not touching it).
            g_h = Tensor::from_vec(&[1, b, ho], dh0)?;
            g_c = dc0.map(|v| Tensor::from_vec(&[1, b, h], v)).transpose()?;
        }
        dh[k] = norms;
        if k == 0 {
            for (ti, n) in dx_norms.iter_mut().enumerate() {
                *n = mean_norm(&dx[ti * b * width..(ti + 1) * b * width], b);
            }
        }
        dy = dx;
    }
    Ok((
        GradientFlow {
            steps: t,
            batch: b,
            loss,
            dh,
            dx: dx_norms,
        },
        layers,
    ))
}

/// The largest singular value of the row-major [rows, cols] matrix `w`, by power iteration
/// on W^T W (whose largest eigenvalue is sigma_max^2):
///
/// ```text
/// v <- W^T W v / ||W^T W v||,   sigma_max = ||W v|| for unit v, until it changes < 1e-12
/// ```
///
/// computed in f64 from a fixed pseudo-random start (so it is never orthogonal to the top
/// singular vector except by measure-zero chance, and the answer is reproducible).
pub fn largest_singular_value<F: Float>(w: &[F], rows: usize, cols: usize) -> f64 {
    if rows == 0 || cols == 0 || w.len() < rows * cols {
        return 0.0;
    }
    let mut rng = Rng::new(0x5eed);
    let mut v: Vec<f64> = (0..cols).map(|_| rng.normal()).collect();
    let mut u = vec![0.0; rows];
    let mut sigma = 0.0;
    for _ in 0..1000 {
        let n = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if n == 0.0 || !n.is_finite() {
            return if n.is_finite() { 0.0 } else { f64::NAN };
        }
        v.iter_mut().for_each(|a| *a /= n);
        // u = W v
        for (r, ur) in u.iter_mut().enumerate() {
            *ur = w[r * cols..(r + 1) * cols]
                .iter()
                .zip(&v)
                .map(|(a, b)| a.to64() * b)
                .sum();
        }
        let s = u.iter().map(|a| a * a).sum::<f64>().sqrt();
        // v = W^T u
        v.iter_mut().for_each(|a| *a = 0.0);
        for (r, ur) in u.iter().enumerate() {
            for (a, wv) in v.iter_mut().zip(&w[r * cols..(r + 1) * cols]) {
                *a += wv.to64() * ur;
            }
        }
        let done = (s - sigma).abs() <= 1e-12 * s.max(1e-300);
        sigma = s;
        if done {
            break;
        }
    }
    sigma
}

/// The largest singular values of one layer's recurrent matrix `weight_hh` [G*H, H_out]:
/// the whole matrix and each gate's [H, H_out] block.
#[derive(Clone, Debug, Serialize)]
pub struct RecurrentSpectrum {
    /// The parameter's name.
    pub name: String,
    /// sigma_max of the whole [G*H, H_out] matrix (power iteration on W^T W).
    pub whole: f64,
    /// (gate, sigma_max of its [H, H_out] block), gates in PyTorch's row order.
    pub gates: Vec<(String, f64)>,
}

/// The gate names of a cell, in the row order of its weights.
pub fn gate_names(cell: CellKind) -> &'static [&'static str] {
    match cell {
        CellKind::RnnTanh | CellKind::RnnRelu => &["h"],
        CellKind::Lstm | CellKind::LstmLn => &["i", "f", "g", "o"],
        CellKind::Gru | CellKind::GruLn => &["r", "z", "n"],
        CellKind::MinGru => &["z", "h~"],
        CellKind::MinLstm => &["f", "i", "h~"],
    }
}

/// [`RecurrentSpectrum`] of every layer and direction of `rnn` (none for the minimal cells,
/// whose recurrence is the diagonal of their gates, with no weights to measure).
pub fn recurrent_spectra<F: Float>(rnn: &Rnn<F>) -> Vec<RecurrentSpectrum> {
    let c = rnn.config();
    let (h, ho) = (c.hidden_size, c.hout());
    let mut out = Vec::new();
    for k in 0..c.num_layers {
        for d in 0..c.directions() {
            let Some(p) = &rnn.dir_params(k, d).w_hh else {
                continue;
            };
            let w = p.value.data();
            let gates = gate_names(c.cell)
                .iter()
                .enumerate()
                .map(|(g, name)| {
                    let blk = &w[g * h * ho..(g + 1) * h * ho];
                    (name.to_string(), largest_singular_value(blk, h, ho))
                })
                .collect();
            out.push(RecurrentSpectrum {
                name: p.name.clone(),
                whole: largest_singular_value(w, c.cell.gates() * h, ho),
                gates,
            });
        }
    }
    out
}

/// The L2 norm of each parameter's gradient, and of each group (`rnn` layer k, `head`,
/// `embed`), as left by a backward pass.
#[derive(Clone, Debug, Serialize)]
pub struct ParamNorms {
    /// (parameter name, ||grad||), in the model's order.
    pub params: Vec<(String, f64)>,
    /// (group, ||grad|| over the group's parameters): `rnn layer 0`, ..., `head`, `embed`.
    pub groups: Vec<(String, f64)>,
    /// Over all parameters.
    pub total: f64,
}

/// The group a parameter belongs to: `rnn layer k` for `*_l{k}` (and `_l{k}_reverse`),
/// else the name's first component.
fn group_of(name: &str) -> String {
    if let Some(pos) = name.rfind("_l") {
        let rest = &name[pos + 2..];
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        if !digits.is_empty() {
            return format!("rnn layer {digits}");
        }
    }
    name.split('.').next().unwrap_or(name).to_string()
}

/// Gradient norms of every parameter of `model` (after a backward pass).
pub fn param_norms<F: Float>(model: &dyn Module<F>) -> ParamNorms {
    let mut params = Vec::new();
    let mut groups: Vec<(String, f64)> = Vec::new();
    let mut total = 0.0;
    model.visit(&mut |p| {
        let sq: f64 = p.grad.data().iter().map(|g| g.to64() * g.to64()).sum();
        total += sq;
        params.push((p.name.clone(), sq.sqrt()));
        let g = group_of(&p.name);
        match groups.iter_mut().find(|(n, _)| *n == g) {
            Some(e) => e.1 += sq,
            None => groups.push((g, sq)),
        }
    });
    groups.iter_mut().for_each(|g| g.1 = g.1.sqrt());
    ParamNorms {
        params,
        groups,
        total: total.sqrt(),
    }
}

/// Vanishing, healthy or exploding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Less than [`VANISHING_RATIO`] of the gradient reaches the first step.
    Vanishing,
    /// Between the two thresholds.
    Healthy,
    /// More than [`EXPLODING_RATIO`] times the gradient at the last step, or non-finite.
    Exploding,
}

/// The verdict on one layer's per-step gradient norms, with the numbers behind it.
#[derive(Clone, Debug, Serialize)]
pub struct LayerVerdict {
    /// Layer index (bottom 0).
    pub layer: usize,
    /// The verdict.
    pub verdict: Verdict,
    /// ||dl/dh|| at the step nearest the loss (the last step).
    pub near: f64,
    /// ||dl/dh|| at the step farthest from the loss (the first step).
    pub far: f64,
    /// far / near.
    pub ratio: f64,
    /// ratio^(1/(T-1)): the average factor by which the gradient changes per step back.
    pub per_step: f64,
}

/// Below this far/near ratio the gradient has vanished: less than a thousandth of it
/// reaches the first step.
pub const VANISHING_RATIO: f64 = 1e-3;
/// Above this far/near ratio (or on a non-finite norm) the gradient explodes.
pub const EXPLODING_RATIO: f64 = 1e3;

/// Judges each layer by the ratio of its gradient norm at the first step to that at the
/// last (the loss of a many-to-one model sits at the last step): below
/// [`VANISHING_RATIO`] vanishing, above [`EXPLODING_RATIO`] (or non-finite) exploding.
pub fn verdicts(flow: &GradientFlow) -> Vec<LayerVerdict> {
    flow.dh
        .iter()
        .enumerate()
        .map(|(k, d)| {
            let near = d.last().copied().unwrap_or(0.0);
            let far = d.first().copied().unwrap_or(0.0);
            let ratio = if near > 0.0 { far / near } else { f64::NAN };
            let per_step = if d.len() > 1 {
                ratio.powf(1.0 / (d.len() - 1) as f64)
            } else {
                1.0
            };
            let verdict = if !ratio.is_finite() || !far.is_finite() || ratio > EXPLODING_RATIO {
                if near == 0.0 && far == 0.0 {
                    Verdict::Vanishing
                } else {
                    Verdict::Exploding
                }
            } else if ratio < VANISHING_RATIO {
                Verdict::Vanishing
            } else {
                Verdict::Healthy
            };
            LayerVerdict {
                layer: k,
                verdict,
                near,
                far,
                ratio,
                per_step,
            }
        })
        .collect()
}

/// One plain-language sentence per layer.
pub fn explain(v: &LayerVerdict, steps: usize) -> String {
    let what = match v.verdict {
        Verdict::Vanishing => "vanishing",
        Verdict::Healthy => "healthy",
        Verdict::Exploding => "exploding",
    };
    let why = match v.verdict {
        Verdict::Vanishing => "the first steps get almost no learning signal, so what happened there cannot be learned",
        Verdict::Healthy => "the gradient reaches the first steps at a usable size",
        Verdict::Exploding => "updates from the first steps are huge; clip the gradient norm (--clip)",
    };
    format!(
        "layer {}: {what}: |dL/dh| is {:.3e} at the last step and {:.3e} at the first, {} steps back (ratio {:.3e}, x{:.4} per step): {why}",
        v.layer, v.near, v.far, steps.saturating_sub(1), v.ratio, v.per_step
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn singular_values_of_known_matrices() {
        // diag(3, -5, 1) embedded in a 3x3: sigma_max = 5.
        let w = [3.0, 0.0, 0.0, 0.0, -5.0, 0.0, 0.0, 0.0, 1.0];
        assert!((largest_singular_value(&w, 3, 3) - 5.0).abs() < 1e-9);
        // [[1, 1], [0, 1]]: sigma_max = (1 + sqrt 5) / 2.
        let w = [1.0f64, 1.0, 0.0, 1.0];
        let golden = (1.0 + 5f64.sqrt()) / 2.0;
        assert!((largest_singular_value(&w, 2, 2) - golden).abs() < 1e-9);
        // A rectangular rank-one matrix u v^T: sigma = |u| |v|.
        let w = [1.0f64, 2.0, 2.0, 4.0, 3.0, 6.0];
        let want = 14f64.sqrt() * 5f64.sqrt();
        assert!((largest_singular_value(&w, 3, 2) - want).abs() < 1e-9);
        // An orthogonal initialisation: every singular value is 1.
        let mut q = vec![0f64; 64 * 64];
        recurrent::init::orthogonal(&mut q, 64, 64, &mut Rng::new(1));
        assert!((largest_singular_value(&q, 64, 64) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn groups_and_verdicts() {
        assert_eq!(group_of("rnn.weight_hh_l1"), "rnn layer 1");
        assert_eq!(group_of("rnn.bias_ih_l0_reverse"), "rnn layer 0");
        assert_eq!(group_of("head.weight"), "head");
        let flow = |d: Vec<f64>| GradientFlow {
            steps: d.len(),
            batch: 1,
            loss: 0.0,
            dh: vec![d],
            dx: vec![],
        };
        let v = verdicts(&flow(vec![1e-6, 1e-3, 1.0]));
        assert_eq!(v[0].verdict, Verdict::Vanishing);
        assert!((v[0].per_step - 1e-3).abs() < 1e-12);
        assert_eq!(verdicts(&flow(vec![0.5, 1.0]))[0].verdict, Verdict::Healthy);
        assert_eq!(
            verdicts(&flow(vec![1e5, 1.0]))[0].verdict,
            Verdict::Exploding
        );
        assert_eq!(
            verdicts(&flow(vec![f64::INFINITY, 1.0]))[0].verdict,
            Verdict::Exploding
        );
    }
}

/// Everything `recurrent diagnose` reports about a model on one batch.
#[derive(Clone, Debug, Serialize)]
pub struct Diagnosis {
    /// Per-step gradient norms.
    pub flow: GradientFlow,
    /// One verdict per layer.
    pub verdicts: Vec<LayerVerdict>,
    /// Largest singular values of the recurrent matrices.
    pub spectra: Vec<RecurrentSpectrum>,
    /// Gradient norms of the fused backward pass, per parameter and layer.
    pub param_norms: ParamNorms,
}

/// The gradient flow of a language model on a text. `b` windows of `t + 1` tokens are taken
/// at evenly spaced places of `ids`; the loss is the cross-entropy of the last step's
/// prediction alone (the token after each window), so |dL/dh_t| against t shows how far
/// back a single prediction's gradient reaches: the seeds' vanishing gradient, measured on
/// the user's own model and data. Evaluation mode (no dropout), zero initial state.
pub fn diagnose_lm(
    model: &mut LanguageModel<f32>,
    ids: &[u32],
    t: usize,
    b: usize,
) -> Result<Diagnosis> {
    let (flow, _) = lm_flow(model, ids, t, b)?;
    let (inputs, targets) = lm_windows(ids, t, b)?;
    // The fused pass with the same loss, for the per-parameter gradient norms.
    model.zero_grad();
    let v = model.config().vocab;
    let (logits, _, cache) = model.forward(&inputs, t, b, None, None)?;
    let (_, dlogits) =
        CrossEntropy::new().loss(&logits, v, &targets, Some(&last_step_mask(t, b)))?;
    model.backward(&cache, &dlogits)?;
    let param_norms = param_norms(model);
    model.zero_grad();
    Ok(Diagnosis {
        verdicts: verdicts(&flow),
        spectra: recurrent_spectra(&model.rnn),
        flow,
        param_norms,
    })
}

/// Rows [T*B] of the last time step.
fn last_step_mask(t: usize, b: usize) -> Vec<bool> {
    (0..t * b).map(|i| i >= (t - 1) * b).collect()
}

/// The windows' inputs [T, B] (time-major) and per-row targets [T*B] (the next token).
fn lm_windows(ids: &[u32], t: usize, b: usize) -> Result<(Vec<u32>, Vec<usize>)> {
    if t == 0 || b == 0 || ids.len() < t + 1 {
        return Err(Error::Input(format!(
            "the text has {} tokens: too few for windows of {} (--length {t})",
            ids.len(),
            t + 1
        )));
    }
    let room = ids.len() - t - 1;
    let starts: Vec<usize> = (0..b).map(|j| j * room / (b - 1).max(1)).collect();
    let mut inputs = vec![0u32; t * b];
    let mut targets = vec![0usize; t * b];
    for (j, &s) in starts.iter().enumerate() {
        for ti in 0..t {
            inputs[ti * b + j] = ids[s + ti];
            targets[ti * b + j] = ids[s + ti + 1] as usize;
        }
    }
    Ok((inputs, targets))
}

/// The step-by-step gradient flow of [`diagnose_lm`] and the layer copies holding its
/// parameter gradients (for the check against the fused pass).
fn lm_flow(
    model: &LanguageModel<f32>,
    ids: &[u32],
    t: usize,
    b: usize,
) -> Result<(GradientFlow, Vec<Rnn<f32>>)> {
    let (inputs, targets) = lm_windows(ids, t, b)?;
    let ids_usize: Vec<usize> = inputs.iter().map(|&i| i as usize).collect();
    let x = model.embed.forward(&ids_usize)?;
    let hout = model.rnn.config().hout();
    let v = model.config().vocab;
    let mut head = model.head.clone();
    let last_targets = targets[(t - 1) * b..].to_vec();
    let mut f = |y: &[f32], _hn: &[f32]| -> Result<(f64, Vec<f32>, Vec<f32>)> {
        let last = &y[(t - 1) * b * hout..];
        let logits = head.forward(last, b);
        let (l, d) = CrossEntropy::new().loss(&logits, v, &last_targets, None)?;
        let mut dy = vec![0.0f32; t * b * hout];
        dy[(t - 1) * b * hout..].copy_from_slice(&head.backward(last, &d, b));
        // h_n is y's last step: its gradient arrives through dL/dy alone.
        Ok((l, dy, vec![0.0; b * hout]))
    };
    gradient_flow(&model.rnn, &x, t, b, &mut f)
}

#[cfg(test)]
mod lm_tests {
    use super::*;
    use recurrent::model::lm::LmConfig;

    /// The step-by-step pass of `diagnose_lm` accumulates the same recurrent-weight
    /// gradients as the engine's fused BPTT with the same last-step loss.
    #[test]
    fn lm_flow_matches_the_fused_backward() {
        for cell in [CellKind::Lstm, CellKind::Gru, CellKind::RnnTanh] {
            let cfg = LmConfig {
                cell,
                vocab: 7,
                embed: 5,
                hidden: 6,
                layers: 2,
                dropout: 0.0,
                reg: Default::default(),
                tie: false,
            };
            let mut m = LanguageModel::<f32>::new(cfg, &Init::default(), &mut Rng::new(3)).unwrap();
            let ids: Vec<u32> = (0..40u32).map(|i| (i * 5 + i / 3) % 7).collect();
            let (t, b) = (9, 3);
            let (flow, copies) = lm_flow(&m, &ids, t, b).unwrap();
            assert_eq!(flow.dh.len(), 2);
            assert_eq!(flow.dh[1].len(), t);
            // The last step gets the loss directly; the first only through time.
            assert!(flow.dh[1][t - 1] > 0.0 && flow.dh[1][0] > 0.0);
            let d = diagnose_lm(&mut m, &ids, t, b).unwrap();
            assert!((d.flow.loss - flow.loss).abs() < 1e-9);
            // Fused pass gradients, recomputed here (diagnose_lm zeroes them after use).
            let (inputs, targets) = lm_windows(&ids, t, b).unwrap();
            let (logits, _, cache) = m.forward(&inputs, t, b, None, None).unwrap();
            let (_, dl) = CrossEntropy::new()
                .loss(&logits, 7, &targets, Some(&last_step_mask(t, b)))
                .unwrap();
            m.backward(&cache, &dl).unwrap();
            for (k, copy) in copies.iter().enumerate() {
                let fused = m.rnn.dir_params(k, 0);
                let step = copy.dir_params(0, 0);
                // The fused loss is the mean over B rows; the flow's too.
                for (a, c) in [
                    (fused.recurrent(), step.recurrent()),
                    (&fused.w_ih, &step.w_ih),
                ] {
                    let (ga, gc) = (a.grad.data(), c.grad.data());
                    let scale = ga.iter().fold(0f32, |s, v| s.max(v.abs())).max(1e-12);
                    for (x, y) in ga.iter().zip(gc) {
                        assert!(
                            (x - y).abs() <= 1e-4 * scale,
                            "{cell:?} layer {k}: {x} vs {y}"
                        );
                    }
                }
            }
        }
    }
}
