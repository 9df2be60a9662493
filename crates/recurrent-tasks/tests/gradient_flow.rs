//! The per-step gradient norms that `recurrent diagnose` reports are the engine's: for every
//! step t, dL/dh_t computed step by step equals the dL/dh0 of the engine's fused backward
//! pass run from h_t over the rest of the sequence, and central finite differences; the
//! parameter and input gradients of the step-by-step pass equal the fused pass's.

use recurrent::layer::RnnState;
use recurrent::{CellKind, Module, Rng, Rnn, RnnConfig, Tensor};
use recurrent_tasks::lab::diagnose::gradient_flow;

const T: usize = 7;
const B: usize = 2;
const I: usize = 2;
const H: usize = 3;
/// Weight of the per-step term of the loss (0: many-to-one only).
const ALPHA: f64 = 0.3;

fn w() -> Vec<f64> {
    vec![0.7, -1.1, 0.4]
}
fn u() -> Vec<f64> {
    vec![-0.2, 0.5, 0.9]
}
fn targets() -> Vec<f64> {
    vec![0.3, -0.6]
}

/// L = (1/B) sum_b [(w . h_n,b - y_b)^2 + alpha sum_{t in steps} u . y_t,b]: a many-to-one
/// term and a per-step term, so both paths of the gradient are exercised.
fn loss(y: &[f64], hn: &[f64], alpha: f64) -> (f64, Vec<f64>, Vec<f64>) {
    let (w, u, tg) = (w(), u(), targets());
    let mut l = 0.0;
    let mut dhn = vec![0.0; B * H];
    for b in 0..B {
        let p: f64 = (0..H).map(|j| w[j] * hn[b * H + j]).sum();
        let d = p - tg[b];
        l += d * d / B as f64;
        for j in 0..H {
            dhn[b * H + j] = 2.0 * d * w[j] / B as f64;
        }
    }
    let mut dy = vec![0.0; y.len()];
    for (r, row) in y.chunks_exact(H).enumerate() {
        l += alpha * (0..H).map(|j| u[j] * row[j]).sum::<f64>() / B as f64;
        for j in 0..H {
            dy[r * H + j] = alpha * u[j] / B as f64;
        }
    }
    (l, dy, dhn)
}

fn input() -> Vec<f64> {
    let mut rng = Rng::new(11);
    (0..T * B * I).map(|_| rng.uniform_in(-1.0, 1.0)).collect()
}

fn layer(cell: CellKind, layers: usize) -> Rnn<f64> {
    let mut rnn = Rnn::new(
        RnnConfig::new(cell, I, H).layers(layers),
        &Default::default(),
        &mut Rng::new(5),
    )
    .unwrap();
    // Larger weights than PyTorch's default, so the gradients differ visibly across steps.
    rnn.visit_mut(&mut |p| p.value.data_mut().iter_mut().for_each(|v| *v *= 2.0));
    rnn
}

/// The state after step t (engine, fused forward over steps 0..=t).
fn state_after(rnn: &Rnn<f64>, x: &[f64], t: usize) -> RnnState<f64> {
    let (out, _) = rnn
        .forward_tm(x[..(t + 1) * B * I].to_vec(), t + 1, B, None, None, None)
        .unwrap();
    out.state
}

/// The loss of the steps after t, starting from `state` (engine, fused).
fn suffix_loss(rnn: &Rnn<f64>, x: &[f64], t: usize, state: &RnnState<f64>) -> f64 {
    if t + 1 == T {
        return loss(&[], state.h.data(), ALPHA).0;
    }
    let rest = T - t - 1;
    let (out, _) = rnn
        .forward_tm(
            x[(t + 1) * B * I..].to_vec(),
            rest,
            B,
            Some(state),
            None,
            None,
        )
        .unwrap();
    loss(out.output.data(), out.state.h.data(), ALPHA).0
}

/// dL/dh_t from the engine's fused backward over the steps after t (its dL/dh0), plus the
/// direct term of step t's own output.
fn engine_dh(rnn: &mut Rnn<f64>, x: &[f64], t: usize) -> Vec<f64> {
    let state = state_after(rnn, x, t);
    let direct: Vec<f64> = (0..B * H).map(|i| ALPHA * u()[i % H] / B as f64).collect();
    if t + 1 == T {
        let (_, _, dhn) = loss(&[], state.h.data(), ALPHA);
        return dhn.iter().zip(&direct).map(|(a, b)| a + b).collect();
    }
    let rest = T - t - 1;
    let (out, cache) = rnn
        .forward_tm(
            x[(t + 1) * B * I..].to_vec(),
            rest,
            B,
            Some(&state),
            None,
            None,
        )
        .unwrap();
    let (_, mut dy, dhn) = loss(out.output.data(), out.state.h.data(), ALPHA);
    let dhn = Tensor::from_vec(&[1, B, H], dhn).unwrap();
    let dcn = state.c.as_ref().map(|_| Tensor::zeros(&[1, B, H]));
    let (_, dh0, _) = rnn
        .backward_tm(&cache, &mut dy, Some(&dhn), dcn.as_ref())
        .unwrap();
    dh0.iter().zip(&direct).map(|(a, b)| a + b).collect()
}

/// sum_b ||g_b||: what the diagnostics report (B times the mean, per sequence).
fn per_sequence_norm(g: &[f64]) -> f64 {
    g.chunks_exact(H)
        .map(|r| r.iter().map(|v| v * v).sum::<f64>().sqrt())
        .sum()
}

#[test]
fn per_step_norms_equal_the_engine_and_finite_differences() {
    let x = input();
    for cell in [
        CellKind::RnnTanh,
        CellKind::RnnRelu,
        CellKind::Lstm,
        CellKind::Gru,
    ] {
        let mut rnn = layer(cell, 1);
        let mut head = |y: &[f64], hn: &[f64]| Ok(loss(y, hn, ALPHA));
        let (flow, _) = gradient_flow(&rnn, &x, T, B, &mut head).unwrap();
        assert_eq!(flow.dh.len(), 1);
        for t in 0..T {
            let g = engine_dh(&mut rnn, &x, t);
            let want = per_sequence_norm(&g);
            let got = flow.dh[0][t];
            assert!(
                (got - want).abs() <= 1e-12 * want.max(1e-300),
                "{cell} t={t}: diagnose {got} vs engine {want}"
            );
            // Central differences on h_t (and the loss of the steps after t, plus step t's
            // own output term, which is linear in h_t).
            let state = state_after(&rnn, &x, t);
            let eps = 1e-6;
            let mut fd = [0.0; B * H];
            for (i, f) in fd.iter_mut().enumerate() {
                let mut s = state.clone();
                s.h.data_mut()[i] += eps;
                let up = suffix_loss(&rnn, &x, t, &s);
                s.h.data_mut()[i] -= 2.0 * eps;
                let down = suffix_loss(&rnn, &x, t, &s);
                *f = (up - down) / (2.0 * eps) + ALPHA * u()[i % H] / B as f64;
            }
            for (a, b) in fd.iter().zip(&g) {
                assert!(
                    (a - b).abs() < 1e-7 * (1.0 + b.abs()),
                    "{cell} t={t}: fd {a} vs {b}"
                );
            }
        }
        assert!(flow.dh[0]
            .iter()
            .any(|v| (v - flow.dh[0][T - 1]).abs() > 1e-6));
    }
}

#[test]
fn step_by_step_pass_gives_the_fused_parameter_and_input_gradients() {
    let x = input();
    for cell in [CellKind::RnnTanh, CellKind::Lstm, CellKind::Gru] {
        let layers = 2;
        let mut rnn = layer(cell, layers);
        let mut head = |y: &[f64], hn: &[f64]| Ok(loss(y, hn, ALPHA));
        let (flow, copies) = gradient_flow(&rnn, &x, T, B, &mut head).unwrap();
        assert_eq!(flow.dh.len(), layers);

        // The fused pass: the top layer's slot of d_h_n carries the loss's dL/dh_n.
        let (out, cache) = rnn.forward_tm(x.clone(), T, B, None, None, None).unwrap();
        let top = &out.state.h.data()[(layers - 1) * B * H..];
        let (l, mut dy, dhn_top) = loss(out.output.data(), top, ALPHA);
        assert!((l - flow.loss).abs() < 1e-12);
        let mut dhn = vec![0.0; layers * B * H];
        dhn[(layers - 1) * B * H..].copy_from_slice(&dhn_top);
        let dhn = Tensor::from_vec(&[layers, B, H], dhn).unwrap();
        let (dx, _, _) = rnn.backward_tm(&cache, &mut dy, Some(&dhn), None).unwrap();

        let mut fused = Vec::new();
        rnn.visit(&mut |p| fused.push((p.name.clone(), p.grad.data().to_vec())));
        let mut stepped = Vec::new();
        for c in &copies {
            c.visit(&mut |p| stepped.push(p.grad.data().to_vec()));
        }
        assert_eq!(fused.len(), stepped.len());
        for ((name, a), b) in fused.iter().zip(&stepped) {
            for (p, q) in a.iter().zip(b) {
                assert!(
                    (p - q).abs() < 1e-12 * (1.0 + p.abs()),
                    "{cell} {name}: {p} vs {q}"
                );
            }
        }
        for t in 0..T {
            let want = per_sequence_norm_i(&dx[t * B * I..(t + 1) * B * I]);
            assert!(
                (flow.dx[t] - want).abs() < 1e-12 * (1.0 + want),
                "{cell} dx t={t}"
            );
        }
    }
}

fn per_sequence_norm_i(g: &[f64]) -> f64 {
    g.chunks_exact(I)
        .map(|r| r.iter().map(|v| v * v).sum::<f64>().sqrt())
        .sum()
}
