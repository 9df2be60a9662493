//! Streaming: `Rnn::step` called T times from a state gives what `Rnn::forward` gives over
//! the T steps, for every cell, with stacked layers, the LSTM projection and the seeds' GRU.

use recurrent::cell::GruForm;
use recurrent::{CellKind, Rng, Rnn, RnnConfig, RnnState, StepScratch, Tensor};

fn random(shape: &[usize], rng: &mut Rng) -> Tensor<f64> {
    let n = shape.iter().product();
    Tensor::from_vec(shape, (0..n).map(|_| rng.normal()).collect()).unwrap()
}

/// Largest |a - b| / max(1, |b|).
fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
        .fold(0.0, f64::max)
}

fn configs() -> Vec<(&'static str, RnnConfig)> {
    vec![
        (
            "rnn_tanh",
            RnnConfig::new(CellKind::RnnTanh, 5, 6).layers(2),
        ),
        (
            "rnn_relu",
            RnnConfig::new(CellKind::RnnRelu, 5, 6).layers(3),
        ),
        ("lstm", RnnConfig::new(CellKind::Lstm, 5, 7).layers(2)),
        (
            "lstm_proj",
            RnnConfig::new(CellKind::Lstm, 5, 7).layers(2).proj_size(3),
        ),
        (
            "lstm_nobias",
            RnnConfig::new(CellKind::Lstm, 4, 9).bias(false),
        ),
        ("gru", RnnConfig::new(CellKind::Gru, 5, 6).layers(2)),
        (
            "gru_seeds",
            RnnConfig::new(CellKind::Gru, 5, 6)
                .layers(2)
                .gru_form(GruForm::Seeds),
        ),
        ("mingru", RnnConfig::new(CellKind::MinGru, 5, 6).layers(2)),
        ("minlstm", RnnConfig::new(CellKind::MinLstm, 5, 7).layers(2)),
        ("lstm_ln", RnnConfig::new(CellKind::LstmLn, 5, 6).layers(2)),
        ("gru_ln", RnnConfig::new(CellKind::GruLn, 5, 7).layers(2)),
    ]
}

#[test]
fn stepping_equals_the_sequence_forward() {
    let (t, b) = (9, 3);
    for (name, cfg) in configs() {
        let mut rng = Rng::new(7);
        let rnn: Rnn<f64> = Rnn::new(cfg.clone(), &Default::default(), &mut rng).unwrap();
        let (l, ho, h) = (cfg.num_layers, cfg.hout(), cfg.hidden_size);
        let x = random(&[t, b, cfg.input_size], &mut rng);
        let state0 = RnnState {
            h: random(&[l, b, ho], &mut rng),
            c: (cfg.cell.has_cell_state()).then(|| random(&[l, b, h], &mut rng)),
        };
        let (want, _) = rnn.forward(&x, Some(&state0), None, None).unwrap();

        let mut state = state0.clone();
        let mut scratch = StepScratch::default();
        let step_in = b * cfg.input_size;
        let mut worst: f64 = 0.0;
        for ti in 0..t {
            let y = rnn
                .step(
                    &x.data()[ti * step_in..(ti + 1) * step_in],
                    &mut state,
                    &mut scratch,
                )
                .unwrap()
                .to_vec();
            worst = worst.max(rel_err(
                &y,
                &want.output.data()[ti * b * ho..(ti + 1) * b * ho],
            ));
        }
        worst = worst.max(rel_err(state.h.data(), want.state.h.data()));
        if let (Some(c), Some(wc)) = (&state.c, &want.state.c) {
            worst = worst.max(rel_err(c.data(), wc.data()));
        }
        assert!(
            worst <= 1e-12,
            "{name}: step differs from forward by {worst:e}"
        );
        // The state moved: a step that did nothing would fail above, but say so plainly.
        assert_ne!(state.h, state0.h, "{name}");
    }
}

#[test]
fn stepping_in_f32_tracks_f64() {
    let (t, b) = (20, 1);
    for (name, cfg) in configs() {
        let mut rng = Rng::new(3);
        let r64: Rnn<f64> = Rnn::new(cfg.clone(), &Default::default(), &mut rng).unwrap();
        let mut rng = Rng::new(3);
        let r32: Rnn<f32> = Rnn::new(cfg.clone(), &Default::default(), &mut rng).unwrap();
        let x = random(&[t, b, cfg.input_size], &mut rng);
        let x32 = x.cast::<f32>();
        let (mut s64, mut s32) = (r64.zero_state(b), r32.zero_state(b));
        let (mut k64, mut k32) = (StepScratch::default(), StepScratch::default());
        let n = b * cfg.input_size;
        for ti in 0..t {
            let a = r64
                .step(&x.data()[ti * n..(ti + 1) * n], &mut s64, &mut k64)
                .unwrap()
                .to_vec();
            let c = r32
                .step(&x32.data()[ti * n..(ti + 1) * n], &mut s32, &mut k32)
                .unwrap();
            for (p, q) in c.iter().zip(&a) {
                assert!((*p as f64 - q).abs() <= 1e-5, "{name} t={ti}: {p} vs {q}");
            }
        }
    }
}

#[test]
fn step_refuses_what_cannot_stream() {
    let mut rng = Rng::new(0);
    let bi: Rnn<f64> = Rnn::new(
        RnnConfig::new(CellKind::Gru, 3, 4).bidirectional(true),
        &Default::default(),
        &mut rng,
    )
    .unwrap();
    let mut s = bi.zero_state(1);
    let err = bi.step(&[0.0; 3], &mut s, &mut StepScratch::default());
    assert!(err.is_err());

    let lstm: Rnn<f64> = Rnn::new(
        RnnConfig::new(CellKind::Lstm, 3, 4).layers(2),
        &Default::default(),
        &mut rng,
    )
    .unwrap();
    let mut scratch = StepScratch::default();
    // Wrong input width, wrong state shape, a missing cell state: errors, not panics.
    let mut s = lstm.zero_state(2);
    assert!(lstm.step(&[0.0; 5], &mut s, &mut scratch).is_err());
    let mut bad = lstm.zero_state(2);
    bad.h = Tensor::zeros(&[1, 2, 4]);
    assert!(lstm.step(&[0.0; 6], &mut bad, &mut scratch).is_err());
    let mut no_c = lstm.zero_state(2);
    no_c.c = None;
    assert!(lstm.step(&[0.0; 6], &mut no_c, &mut scratch).is_err());
    assert!(lstm.step(&[0.0; 6], &mut s, &mut scratch).is_ok());
}
