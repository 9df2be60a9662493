//! Inference in int8 and bf16 (`Rnn::set_precision`): close to the f32 layer for every
//! cell, the sequence forward equal to stepping, PyTorch's variable-length semantics kept,
//! training refused.

use recurrent::cell::GruForm;
use recurrent::kernels::quant::Precision;
use recurrent::{CellKind, Rng, Rnn, RnnConfig, RnnState, StepScratch, Tensor};

fn random(shape: &[usize], rng: &mut Rng) -> Tensor<f32> {
    let n = shape.iter().product();
    Tensor::from_vec(shape, (0..n).map(|_| rng.normal() as f32).collect()).unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn configs() -> Vec<(&'static str, RnnConfig)> {
    vec![
        (
            "rnn_tanh",
            RnnConfig::new(CellKind::RnnTanh, 5, 24).layers(2),
        ),
        ("rnn_relu", RnnConfig::new(CellKind::RnnRelu, 5, 20)),
        ("lstm", RnnConfig::new(CellKind::Lstm, 7, 33).layers(2)),
        ("lstm_big", RnnConfig::new(CellKind::Lstm, 64, 256)),
        (
            "lstm_proj",
            RnnConfig::new(CellKind::Lstm, 5, 17).layers(2).proj_size(9),
        ),
        ("gru", RnnConfig::new(CellKind::Gru, 5, 30).layers(2)),
        (
            "gru_seeds",
            RnnConfig::new(CellKind::Gru, 5, 18).gru_form(GruForm::Seeds),
        ),
        ("mingru", RnnConfig::new(CellKind::MinGru, 5, 26).layers(2)),
        ("minlstm", RnnConfig::new(CellKind::MinLstm, 5, 22)),
        ("lstm_ln", RnnConfig::new(CellKind::LstmLn, 5, 20).layers(2)),
        ("gru_ln", RnnConfig::new(CellKind::GruLn, 5, 23)),
        (
            "bi_lstm",
            RnnConfig::new(CellKind::Lstm, 6, 19)
                .layers(2)
                .bidirectional(true),
        ),
        (
            "bi_gru",
            RnnConfig::new(CellKind::Gru, 6, 21).bidirectional(true),
        ),
    ]
}

fn state0(cfg: &RnnConfig, b: usize, rng: &mut Rng) -> RnnState<f32> {
    let n = cfg.num_layers * cfg.directions();
    RnnState {
        h: random(&[n, b, cfg.hout()], rng),
        c: (cfg.cell.has_cell_state()).then(|| random(&[n, b, cfg.hidden_size], rng)),
    }
}

#[test]
fn quantized_layers_stay_close_to_f32_for_every_cell() {
    for (name, cfg) in configs() {
        // A layer-normalised cell divides by each row's spread, so a rounding error of the
        // products grows with the steps of an untrained (random) layer: 0.005 after one
        // step, 0.05 (bf16) and 0.2 (int8) after twelve, against 0.001-0.002 for the plain
        // LSTM. One step checks the kernels without measuring that sensitivity.
        let (t, b) = (if cfg.cell.is_normalized() { 1 } else { 12 }, 5);
        let mut rng = Rng::new(3);
        let mut rnn: Rnn<f32> = Rnn::new(cfg.clone(), &Default::default(), &mut rng).unwrap();
        let x = random(&[t, b, cfg.input_size], &mut rng);
        let s0 = state0(&cfg, b, &mut rng);
        let (want, _) = rnn.forward(&x, Some(&s0), None, None).unwrap();
        let f32_bytes = rnn.weight_bytes();
        for (p, tol, shrink) in [(Precision::Bf16, 0.01, 1.6), (Precision::Int8, 0.03, 2.5)] {
            rnn.set_precision(p);
            assert_eq!(rnn.precision(), p);
            let (got, _) = rnn.forward(&x, Some(&s0), None, None).unwrap();
            let d = max_diff(got.output.data(), want.output.data());
            let dh = max_diff(got.state.h.data(), want.state.h.data());
            assert!(
                d <= tol && dh <= tol,
                "{name} {p}: output off by {d}, h_n by {dh}"
            );
            assert!(d > 0.0, "{name} {p}: the products did not change precision");
            // Padding rows to 64 costs the tiny layers some of the saving.
            if cfg.input_size >= 64 {
                let ratio = f32_bytes as f64 / rnn.weight_bytes() as f64;
                assert!(
                    ratio >= shrink,
                    "{name} {p}: weights only {ratio:.2}x smaller"
                );
            }
        }
        // Back to f32: the trained weights, exactly.
        rnn.set_precision(Precision::F32);
        let (back, _) = rnn.forward(&x, Some(&s0), None, None).unwrap();
        assert_eq!(back.output.data(), want.output.data(), "{name}");
    }
}

#[test]
fn quantized_stepping_equals_the_quantized_forward() {
    let (t, b) = (7, 3);
    for (name, cfg) in configs().into_iter().filter(|(_, c)| !c.bidirectional) {
        for p in [Precision::Bf16, Precision::Int8] {
            let mut rng = Rng::new(4);
            let mut rnn: Rnn<f32> = Rnn::new(cfg.clone(), &Default::default(), &mut rng).unwrap();
            rnn.set_precision(p);
            let x = random(&[t, b, cfg.input_size], &mut rng);
            let s0 = state0(&cfg, b, &mut rng);
            let (want, _) = rnn.forward(&x, Some(&s0), None, None).unwrap();
            let mut state = s0.clone();
            let mut scratch = StepScratch::default();
            let n = b * cfg.input_size;
            let ho = b * cfg.hout();
            for ti in 0..t {
                let xt = &x.data()[ti * n..(ti + 1) * n];
                let y = rnn.step(xt, &mut state, &mut scratch).unwrap().to_vec();
                assert_eq!(
                    y,
                    want.output.data()[ti * ho..(ti + 1) * ho],
                    "{name} {p} t={ti}"
                );
            }
            assert_eq!(state.h.data(), want.state.h.data(), "{name} {p}");
        }
    }
}

#[test]
fn ragged_batches_give_each_sequence_what_it_gets_alone() {
    let (t, lens) = (6, [6usize, 2, 4]);
    let b = lens.len();
    // A ragged batch runs layer by layer; a single sequence (no lengths) runs the stack one
    // step at a time when unidirectional: the two paths must agree bit for bit.
    for (name, cfg) in configs() {
        for p in [Precision::Bf16, Precision::Int8] {
            let mut rng = Rng::new(5);
            let mut rnn: Rnn<f32> = Rnn::new(cfg.clone(), &Default::default(), &mut rng).unwrap();
            rnn.set_precision(p);
            let i = cfg.input_size;
            let x = random(&[t, b, i], &mut rng);
            let (all, _) = rnn.forward(&x, None, Some(&lens), None).unwrap();
            let w = cfg.directions() * cfg.hout();
            for (bi, &l) in lens.iter().enumerate() {
                let xs: Vec<f32> = (0..l)
                    .flat_map(|ti| x.data()[(ti * b + bi) * i..(ti * b + bi + 1) * i].to_vec())
                    .collect();
                let xs = Tensor::from_vec(&[l, 1, i], xs).unwrap();
                let (one, _) = rnn.forward(&xs, None, None, None).unwrap();
                for ti in 0..t {
                    let row = &all.output.data()[(ti * b + bi) * w..(ti * b + bi + 1) * w];
                    if ti < l {
                        assert_eq!(row, &one.output.data()[ti * w..(ti + 1) * w], "{name} {p}");
                    } else {
                        assert!(row.iter().all(|&v| v == 0.0), "{name} {p}: padding");
                    }
                }
                let ho = cfg.hout();
                for s in 0..cfg.num_layers * cfg.directions() {
                    let got = &all.state.h.data()[(s * b + bi) * ho..(s * b + bi + 1) * ho];
                    assert_eq!(got, &one.state.h.data()[s * ho..(s + 1) * ho], "{name} {p}");
                }
            }
        }
    }
}

#[test]
fn training_a_quantized_layer_is_refused() {
    let cfg = RnnConfig::new(CellKind::Lstm, 4, 8);
    let mut rng = Rng::new(6);
    let mut rnn: Rnn<f32> = Rnn::new(cfg, &Default::default(), &mut rng).unwrap();
    rnn.set_precision(Precision::Int8);
    let x = random(&[3, 2, 4], &mut rng);
    let e = rnn.forward(&x, None, None, Some(&mut rng)).unwrap_err();
    assert!(e.to_string().contains("train in f32"), "{e}");
    let (out, cache) = rnn.forward(&x, None, None, None).unwrap();
    let e = rnn
        .backward(&cache, &out.output, None, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("reduced precision"), "{e}");
}

#[test]
fn changed_weights_are_quantized_again() {
    use recurrent::Module;
    let cfg = RnnConfig::new(CellKind::Gru, 4, 8);
    let mut rng = Rng::new(12);
    let mut rnn: Rnn<f32> = Rnn::new(cfg, &Default::default(), &mut rng).unwrap();
    let x = random(&[3, 2, 4], &mut rng);
    rnn.set_precision(Precision::Int8);
    let (before, _) = rnn.forward(&x, None, None, None).unwrap();
    rnn.visit_mut(&mut |p| p.value.data_mut().iter_mut().for_each(|v| *v *= -1.0));
    assert_eq!(rnn.precision(), Precision::Int8);
    let (after, _) = rnn.forward(&x, None, None, None).unwrap();
    // The same layer with the new weights, quantized from scratch.
    let mut fresh = rnn.clone();
    fresh.set_precision(Precision::F32);
    fresh.set_precision(Precision::Int8);
    let (want, _) = fresh.forward(&x, None, None, None).unwrap();
    assert_eq!(after.output.data(), want.output.data());
    assert_ne!(after.output.data(), before.output.data());
}
