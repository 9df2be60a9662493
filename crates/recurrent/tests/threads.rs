//! Results do not depend on the number of threads: forward, backward and streaming steps
//! give the same bits with 1 and 2 threads, for every cell and option, in f32 and f64
//! (the time loop splits hidden units over a team, bidirectional layers run their
//! directions concurrently, large products split their rows). One test function, because
//! the thread count is global.

use recurrent::cell::GruForm;
use recurrent::kernels::{pool, set_threads};
use recurrent::{CellKind, Float, Module, Rng, Rnn, RnnConfig, RnnState, StepScratch, Tensor};

fn random<F: Float>(shape: &[usize], rng: &mut Rng) -> Tensor<F> {
    let n = shape.iter().product();
    Tensor::from_vec(shape, (0..n).map(|_| F::of(rng.normal())).collect()).unwrap()
}

/// Everything a training step produces, flattened: output, final states, input and state
/// gradients, every parameter gradient.
fn train_step<F: Float>(
    rnn: &mut Rnn<F>,
    seed: u64,
    b: usize,
    lengths: Option<&[usize]>,
) -> Vec<F> {
    let cfg = rnn.config().clone();
    let t = 9;
    let mut rng = Rng::new(seed);
    let x = random::<F>(&[t, b, cfg.input_size], &mut rng);
    let n = cfg.num_layers * cfg.directions();
    let state = RnnState {
        h: random::<F>(&[n, b, cfg.hout()], &mut rng),
        c: (cfg.cell.has_cell_state()).then(|| random::<F>(&[n, b, cfg.hidden_size], &mut rng)),
    };
    let (out, cache) = rnn.forward(&x, Some(&state), lengths, None).unwrap();
    let r = random::<F>(out.output.shape(), &mut rng);
    let rh = random::<F>(out.state.h.shape(), &mut rng);
    let rc = out
        .state
        .c
        .as_ref()
        .map(|c| random::<F>(c.shape(), &mut rng));
    rnn.zero_grad();
    let g = rnn.backward(&cache, &r, Some(&rh), rc.as_ref()).unwrap();
    let mut all: Vec<F> = out.output.data().to_vec();
    all.extend_from_slice(out.state.h.data());
    if let Some(c) = &out.state.c {
        all.extend_from_slice(c.data());
    }
    all.extend_from_slice(g.d_input.data());
    all.extend_from_slice(g.d_h0.data());
    if let Some(c) = &g.d_c0 {
        all.extend_from_slice(c.data());
    }
    rnn.visit(&mut |p| all.extend_from_slice(p.grad.data()));
    all
}

fn stream<F: Float>(rnn: &Rnn<F>, seed: u64) -> Vec<F> {
    let cfg = rnn.config();
    let mut rng = Rng::new(seed);
    let mut state = rnn.zero_state(1);
    let mut scratch = StepScratch::default();
    let mut all = Vec::new();
    for _ in 0..6 {
        let x = random::<F>(&[1, cfg.input_size], &mut rng);
        all.extend_from_slice(rnn.step(x.data(), &mut state, &mut scratch).unwrap());
    }
    all.extend_from_slice(state.h.data());
    all
}

fn configs() -> Vec<(&'static str, RnnConfig)> {
    let base = |cell| RnnConfig::new(cell, 24, 48).layers(2);
    vec![
        ("rnn_tanh", base(CellKind::RnnTanh)),
        ("rnn_relu_bi", base(CellKind::RnnRelu).bidirectional(true)),
        ("lstm", base(CellKind::Lstm)),
        (
            "lstm_bi_proj",
            base(CellKind::Lstm).bidirectional(true).proj_size(40),
        ),
        ("gru", base(CellKind::Gru)),
        (
            "gru_seeds_bi",
            base(CellKind::Gru)
                .gru_form(GruForm::Seeds)
                .bidirectional(true),
        ),
        ("mingru_bi", base(CellKind::MinGru).bidirectional(true)),
        ("minlstm_bi", base(CellKind::MinLstm).bidirectional(true)),
        ("lstm_ln_bi", base(CellKind::LstmLn).bidirectional(true)),
        ("gru_ln", base(CellKind::GruLn)),
        // Wide enough that one direction's walk splits its sequences over the team.
        (
            "mingru_wide",
            RnnConfig::new(CellKind::MinGru, 24, 256).layers(2),
        ),
        (
            "minlstm_wide",
            RnnConfig::new(CellKind::MinLstm, 24, 256).layers(2),
        ),
    ]
}

fn check<F: Float>() {
    // A batch of 8 splits the hidden units between the threads, one of 24 the batch rows.
    let lengths: Vec<usize> = (0..24).map(|i| [9, 3, 9, 1, 5, 9, 8, 2][i % 8]).collect();
    for (name, cfg) in configs() {
        for (b, lens) in [
            (8, None),
            (8, Some(&lengths[..8])),
            (24, None),
            (24, Some(&lengths[..])),
        ] {
            let mut rng = Rng::new(11);
            let mut rnn: Rnn<F> = Rnn::new(cfg.clone(), &Default::default(), &mut rng).unwrap();
            set_threads(1);
            let one = train_step(&mut rnn, 5, b, lens);
            set_threads(2);
            pool::reset_guard(); // a busy machine must not turn this run solo
            let before = pool::parallel_teams();
            let two = train_step(&mut rnn, 5, b, lens);
            assert!(
                pool::parallel_teams() > before,
                "{name}: no parallel team ran"
            );
            set_threads(1);
            assert!(one.iter().all(|v| v.is_finite()), "{name}");
            assert!(
                one == two,
                "{name} ({}), lengths {lens:?}: 1 and 2 threads differ",
                F::DTYPE
            );
        }
        if !cfg.bidirectional {
            // Streaming needs layers big enough to split: H 128.
            let big = RnnConfig {
                hidden_size: 128,
                input_size: 64,
                ..cfg.clone()
            };
            let rnn: Rnn<F> = Rnn::new(big, &Default::default(), &mut Rng::new(2)).unwrap();
            let one = stream(&rnn, 9);
            set_threads(2);
            pool::reset_guard();
            let before = pool::parallel_teams();
            let two = stream(&rnn, 9);
            assert!(pool::parallel_teams() > before, "{name}: no parallel step");
            set_threads(1);
            assert!(
                one == two,
                "{name} ({}): streaming differs with 2 threads",
                F::DTYPE
            );
        }
    }
}

#[test]
fn one_and_two_threads_give_identical_bits() {
    check::<f64>();
    check::<f32>();
}
