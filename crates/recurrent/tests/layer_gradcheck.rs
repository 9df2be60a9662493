//! Finite-difference gradient checks (f64) of the recurrent layer in every kind and option,
//! the vanishing-gradient behaviour the seeds describe, and the initialisations.

use recurrent::cell::GruForm;
use recurrent::init::Init;
use recurrent::layer::RnnState;
use recurrent::{CellKind, Module, Param, Rng, Rnn, RnnConfig, Tensor};

/// The layer plus its input and initial states as parameters, so the checker covers
/// dL/dx and dL/dh0 too.
struct Probe {
    rnn: Rnn<f64>,
    x: Param<f64>,
    h0: Param<f64>,
    c0: Option<Param<f64>>,
    r1: Tensor<f64>,
    r2: Tensor<f64>,
    r3: Option<Tensor<f64>>,
    lengths: Option<Vec<usize>>,
}

impl Module<f64> for Probe {
    fn visit(&self, f: &mut dyn FnMut(&Param<f64>)) {
        self.rnn.visit(f);
        f(&self.x);
        f(&self.h0);
        if let Some(c) = &self.c0 {
            f(c);
        }
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<f64>)) {
        self.rnn.visit_mut(f);
        f(&mut self.x);
        f(&mut self.h0);
        if let Some(c) = &mut self.c0 {
            f(c);
        }
    }
}

fn randn(shape: &[usize], rng: &mut Rng) -> Tensor<f64> {
    let n = shape.iter().product();
    Tensor::from_vec(shape, (0..n).map(|_| rng.normal()).collect()).unwrap()
}

fn dot(a: &Tensor<f64>, b: &Tensor<f64>) -> f64 {
    a.data().iter().zip(b.data()).map(|(x, y)| x * y).sum()
}

/// loss = sum(output * R1) + sum(h_n * R2) (+ sum(c_n * R3)), as the PyTorch fixtures.
fn loss(p: &mut Probe, backward: bool) -> f64 {
    let state = RnnState {
        h: p.h0.value.clone(),
        c: p.c0.as_ref().map(|c| c.value.clone()),
    };
    let (out, cache) = p
        .rnn
        .forward(&p.x.value, Some(&state), p.lengths.as_deref(), None)
        .unwrap();
    let mut l = dot(&out.output, &p.r1) + dot(&out.state.h, &p.r2);
    if let (Some(c), Some(r3)) = (&out.state.c, &p.r3) {
        l += dot(c, r3);
    }
    if backward {
        let g = p
            .rnn
            .backward(&cache, &p.r1, Some(&p.r2), p.r3.as_ref())
            .unwrap();
        p.x.grad = g.d_input;
        p.h0.grad = g.d_h0;
        if let (Some(c0), Some(dc)) = (&mut p.c0, g.d_c0) {
            c0.grad = dc;
        }
    }
    l
}

fn probe(
    cfg: RnnConfig,
    t: usize,
    b: usize,
    lengths: Option<Vec<usize>>,
    init: Init,
    seed: u64,
) -> Probe {
    let mut rng = Rng::new(seed);
    let rnn = Rnn::new(cfg.clone(), &init, &mut rng).unwrap();
    let (n, ho, h) = (
        cfg.num_layers * cfg.directions(),
        cfg.hout(),
        cfg.hidden_size,
    );
    let xs = if cfg.batch_first {
        [b, t, cfg.input_size]
    } else {
        [t, b, cfg.input_size]
    };
    let ys = if cfg.batch_first {
        [b, t, cfg.output_size()]
    } else {
        [t, b, cfg.output_size()]
    };
    let lstm = cfg.cell.has_cell_state();
    let mut x = randn(&xs, &mut rng);
    if let Some(lens) = &lengths {
        // Padded input is zero, as pack_padded_sequence would leave it.
        for (bi, &l) in lens.iter().enumerate() {
            for ti in l..t {
                let off = if cfg.batch_first {
                    (bi * t + ti) * cfg.input_size
                } else {
                    (ti * b + bi) * cfg.input_size
                };
                x.data_mut()[off..off + cfg.input_size]
                    .iter_mut()
                    .for_each(|v| *v = 0.0);
            }
        }
    }
    Probe {
        x: Param::new("x", x),
        h0: Param::new("h0", randn(&[n, b, ho], &mut rng)),
        c0: lstm.then(|| Param::new("c0", randn(&[n, b, h], &mut rng))),
        r1: randn(&ys, &mut rng),
        r2: randn(&[n, b, ho], &mut rng),
        r3: lstm.then(|| randn(&[n, b, h], &mut rng)),
        lengths,
        rnn,
    }
}

fn assert_grads(name: &str, mut p: Probe) {
    let r = recurrent::gradcheck::check(&mut p, loss, 1e-5, 40);
    println!(
        "{name}: max_rel_err={:e} over {} entries (worst {})",
        r.max_rel_err, r.checked, r.worst
    );
    // Central differences in f64 carry ~1e-6 relative noise on the smallest entries; a
    // wrong backward is off by O(1).
    assert!(r.max_rel_err < 1e-5, "{name}: {}", r.worst);
}

#[test]
fn finite_differences_every_cell_and_option() {
    let kinds = [
        CellKind::RnnTanh,
        CellKind::RnnRelu,
        CellKind::Lstm,
        CellKind::Gru,
        CellKind::MinGru,
        CellKind::MinLstm,
        CellKind::LstmLn,
        CellKind::GruLn,
    ];
    for (i, &kind) in kinds.iter().enumerate() {
        let base = RnnConfig::new(kind, 3, 4);
        assert_grads(
            &format!("{kind} plain"),
            probe(base.clone(), 5, 2, None, Init::default(), i as u64),
        );
        assert_grads(
            &format!("{kind} nobias"),
            probe(
                base.clone().bias(false),
                4,
                3,
                None,
                Init::default(),
                10 + i as u64,
            ),
        );
        assert_grads(
            &format!("{kind} 2-layer bidirectional batch-first"),
            probe(
                base.clone().layers(2).bidirectional(true).batch_first(true),
                4,
                2,
                None,
                Init::default(),
                20 + i as u64,
            ),
        );
        assert_grads(
            &format!("{kind} packed bidirectional"),
            probe(
                base.clone().layers(2).bidirectional(true),
                6,
                3,
                Some(vec![6, 2, 4]),
                Init::default(),
                30 + i as u64,
            ),
        );
        assert_grads(
            &format!("{kind} T=1 B=1"),
            probe(base.clone(), 1, 1, None, Init::default(), 40 + i as u64),
        );
        assert_grads(
            &format!("{kind} recommended init"),
            probe(base, 5, 2, None, Init::recommended(), 50 + i as u64),
        );
    }
    let proj = RnnConfig::new(CellKind::Lstm, 3, 5).proj_size(2);
    assert_grads(
        "lstm projection",
        probe(proj.clone(), 4, 2, None, Init::default(), 60),
    );
    assert_grads(
        "lstm projection bidirectional packed",
        probe(
            proj.layers(2).bidirectional(true),
            5,
            3,
            Some(vec![2, 5, 3]),
            Init::default(),
            61,
        ),
    );
    let seeds = RnnConfig::new(CellKind::Gru, 3, 4).gru_form(GruForm::Seeds);
    assert_grads(
        "gru seeds form",
        probe(seeds.clone(), 5, 2, None, Init::default(), 70),
    );
    assert_grads(
        "gru seeds form nobias",
        probe(seeds.clone().bias(false), 5, 2, None, Init::default(), 71),
    );
    assert_grads(
        "gru seeds form 2-layer bidirectional packed",
        probe(
            seeds.layers(2).bidirectional(true),
            5,
            3,
            Some(vec![5, 1, 3]),
            Init::default(),
            72,
        ),
    );
}

/// The seeds' GRU with its z rows negated is PyTorch's GRU up to where the reset gate acts:
/// from a zero state (no bias) one step agrees exactly, since both reset forms then vanish;
/// over several steps they differ.
#[test]
fn gru_forms_map_through_negated_z() {
    let cfg = RnnConfig::new(CellKind::Gru, 3, 4).bias(false);
    let mut rng = Rng::new(5);
    let torch: Rnn<f64> = Rnn::new(cfg.clone(), &Init::default(), &mut rng).unwrap();
    let mut seeds: Rnn<f64> = Rnn::new(
        cfg.gru_form(GruForm::Seeds),
        &Init::default(),
        &mut Rng::new(0),
    )
    .unwrap();
    let mut values = Vec::new();
    torch.visit(&mut |p| values.push(p.value.clone()));
    let mut k = 0;
    seeds.visit_mut(&mut |p| {
        let mut v = values[k].clone();
        let cols = v.shape()[1];
        for x in &mut v.data_mut()[4 * cols..8 * cols] {
            *x = -*x;
        }
        p.value = v;
        k += 1;
    });
    let x1 = randn(&[1, 2, 3], &mut rng);
    let (a, _) = torch.forward(&x1, None, None, None).unwrap();
    let (b, _) = seeds.forward(&x1, None, None, None).unwrap();
    let diff = a
        .output
        .data()
        .iter()
        .zip(b.output.data())
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f64::max);
    assert!(diff < 1e-15, "one step from zero: {diff}");
    let x3 = randn(&[3, 2, 3], &mut rng);
    let (a, _) = torch.forward(&x3, None, None, None).unwrap();
    let (b, _) = seeds.forward(&x3, None, None, None).unwrap();
    let diff = a
        .output
        .data()
        .iter()
        .zip(b.output.data())
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f64::max);
    assert!(
        diff > 1e-4,
        "the reset gate's place must matter over several steps: {diff}"
    );
}

/// The vanishing gradient (seeds: "gradients shrink exponentially as they are propagated
/// back"): for a tanh RNN with small recurrent weights |dL/dh_0| falls geometrically with T;
/// an LSTM with forget-gate bias 1 keeps it far longer.
#[test]
fn vanishing_gradient_tanh_vs_lstm() {
    fn grad_h0_norm(kind: CellKind, t: usize, init: Init, scale: f64) -> f64 {
        let cfg = RnnConfig::new(kind, 4, 32);
        let mut rng = Rng::new(11);
        let mut rnn: Rnn<f64> = Rnn::new(cfg.clone(), &init, &mut rng).unwrap();
        rnn.visit_mut(&mut |p| {
            if p.name.starts_with("weight_hh") {
                p.value.data_mut().iter_mut().for_each(|v| *v *= scale);
            }
        });
        let b = 8;
        let x = randn(&[t, b, 4], &mut rng);
        let (out, cache) = rnn.forward(&x, None, None, None).unwrap();
        // Loss reads only the last step's output.
        let mut d = Tensor::zeros(out.output.shape());
        let w = cfg.output_size() * b;
        for (i, v) in d.data_mut()[(t - 1) * w..].iter_mut().enumerate() {
            *v = if i % 3 == 0 { 1.0 } else { -0.5 };
        }
        let g = rnn.backward(&cache, &d, None, None).unwrap();
        g.d_h0.norm()
    }
    let lengths = [10, 20, 40, 80];
    let tanh: Vec<f64> = lengths
        .iter()
        .map(|&t| grad_h0_norm(CellKind::RnnTanh, t, Init::default(), 0.5))
        .collect();
    let lstm: Vec<f64> = lengths
        .iter()
        .map(|&t| {
            grad_h0_norm(
                CellKind::Lstm,
                t,
                Init {
                    forget_bias: Some(1.0),
                    ..Init::default()
                },
                0.5,
            )
        })
        .collect();
    println!("T {lengths:?}\ntanh |dL/dh0| {tanh:?}\nlstm |dL/dh0| {lstm:?}");
    // Geometric decay: each doubling of T multiplies the tanh gradient by a factor that
    // itself shrinks (ratio over 10 steps roughly constant, well below 1).
    for w in tanh.windows(2) {
        assert!(
            w[1] < w[0] * 0.1,
            "tanh RNN gradient should fall geometrically: {tanh:?}"
        );
    }
    let r10 = (tanh[1] / tanh[0]).ln() / 10.0;
    let r40 = (tanh[3] / tanh[2]).ln() / 40.0;
    assert!(
        (r10 - r40).abs() < 0.5 * r10.abs(),
        "per-step decay rate should be steady: {r10} vs {r40}"
    );
    // The LSTM keeps orders of magnitude more gradient at T = 80.
    assert!(
        lstm[3] > 1e6 * tanh[3],
        "LSTM {:e} vs tanh {:e} at T = 80",
        lstm[3],
        tanh[3]
    );
    let lstm_rate = (lstm[3] / lstm[2]).ln() / 40.0;
    assert!(
        lstm_rate > 2.0 * r40,
        "LSTM per-step decay {lstm_rate} should be far slower than tanh {r40}"
    );
}

#[test]
fn initialisations_have_their_properties() {
    let mut rng = Rng::new(3);
    // PyTorch's default: every weight in ±1/sqrt(H).
    let rnn: Rnn<f64> = Rnn::new(
        RnnConfig::new(CellKind::Lstm, 5, 16),
        &Init::default(),
        &mut rng,
    )
    .unwrap();
    let bound = 1.0 / 4.0;
    rnn.visit(&mut |p| assert!(p.value.max_abs() <= bound, "{} exceeds 1/sqrt(H)", p.name));
    // Orthogonal: each gate block W W^T = I.
    let rnn: Rnn<f64> = Rnn::new(
        RnnConfig::new(CellKind::Gru, 5, 8),
        &Init::recommended(),
        &mut rng,
    )
    .unwrap();
    let w = rnn.dir_params(0, 0).recurrent().value.data();
    for blk in w.chunks_exact(64) {
        for i in 0..8 {
            for j in 0..8 {
                let d: f64 = (0..8).map(|k| blk[i * 8 + k] * blk[j * 8 + k]).sum();
                assert!((d - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
    }
    // Forget bias 1 on the LSTM (sum of both biases' f rows).
    let rnn: Rnn<f64> = Rnn::new(
        RnnConfig::new(CellKind::Lstm, 5, 8),
        &Init::recommended(),
        &mut rng,
    )
    .unwrap();
    let d = rnn.dir_params(0, 0);
    let (bi, bh) = (
        d.b_ih.as_ref().unwrap().value.data(),
        d.b_hh.as_ref().unwrap().value.data(),
    );
    assert!((8..16).all(|j| (bi[j] + bh[j] - 1.0).abs() < 1e-15));
    // IRNN: identity recurrent weights, zero biases.
    let rnn: Rnn<f64> = Rnn::new(
        RnnConfig::new(CellKind::RnnRelu, 5, 6),
        &Init::irnn(),
        &mut rng,
    )
    .unwrap();
    let d = rnn.dir_params(0, 0);
    let w = d.recurrent().value.data();
    assert!((0..6).all(|i| (0..6).all(|j| w[i * 6 + j] == if i == j { 1.0 } else { 0.0 })));
    assert_eq!(d.b_ih.as_ref().unwrap().value.max_abs(), 0.0);
    // Seeded: the same seed gives the same weights, another seed others.
    let a: Rnn<f64> = Rnn::new(
        RnnConfig::new(CellKind::Gru, 3, 4),
        &Init::default(),
        &mut Rng::new(9),
    )
    .unwrap();
    let b: Rnn<f64> = Rnn::new(
        RnnConfig::new(CellKind::Gru, 3, 4),
        &Init::default(),
        &mut Rng::new(9),
    )
    .unwrap();
    let c: Rnn<f64> = Rnn::new(
        RnnConfig::new(CellKind::Gru, 3, 4),
        &Init::default(),
        &mut Rng::new(10),
    )
    .unwrap();
    assert_eq!(a.dir_params(0, 0).w_ih.value, b.dir_params(0, 0).w_ih.value);
    assert_ne!(a.dir_params(0, 0).w_ih.value, c.dir_params(0, 0).w_ih.value);
}

/// Bad shapes and lengths are errors, not panics.
#[test]
fn bad_inputs_are_errors() {
    let rnn: Rnn<f64> = Rnn::new(
        RnnConfig::new(CellKind::Lstm, 3, 4),
        &Init::default(),
        &mut Rng::new(0),
    )
    .unwrap();
    let x = Tensor::zeros(&[5, 2, 3]);
    assert!(rnn
        .forward(&Tensor::zeros(&[5, 2, 4]), None, None, None)
        .is_err());
    assert!(rnn.forward(&x, None, Some(&[5, 0]), None).is_err());
    assert!(rnn.forward(&x, None, Some(&[6, 1]), None).is_err());
    assert!(rnn.forward(&x, None, Some(&[5]), None).is_err());
    let bad = RnnState {
        h: Tensor::zeros(&[1, 2, 4]),
        c: None,
    };
    assert!(rnn.forward(&x, Some(&bad), None, None).is_err());
    assert!(Rnn::<f64>::new(
        RnnConfig::new(CellKind::Gru, 3, 4).proj_size(2),
        &Init::default(),
        &mut Rng::new(0)
    )
    .is_err());
    assert!(Rnn::<f64>::new(
        RnnConfig::new(CellKind::Lstm, 0, 4),
        &Init::default(),
        &mut Rng::new(0)
    )
    .is_err());
    assert!(Rnn::<f64>::new(
        RnnConfig::new(CellKind::Lstm, 3, 4).dropout(1.0),
        &Init::default(),
        &mut Rng::new(0)
    )
    .is_err());
}

/// Inter-layer dropout: active only when a random stream is given, reproducible for a seed,
/// and its backward is still exact (checked by finite differences with a fixed mask stream).
#[test]
fn dropout_between_layers() {
    let cfg = RnnConfig::new(CellKind::Gru, 3, 6).layers(2).dropout(0.5);
    let rnn: Rnn<f64> = Rnn::new(cfg, &Init::default(), &mut Rng::new(1)).unwrap();
    let x = randn(&[4, 2, 3], &mut Rng::new(2));
    let (eval, _) = rnn.forward(&x, None, None, None).unwrap();
    let (t1, _) = rnn.forward(&x, None, None, Some(&mut Rng::new(7))).unwrap();
    let (t2, _) = rnn.forward(&x, None, None, Some(&mut Rng::new(7))).unwrap();
    assert_eq!(t1.output, t2.output);
    assert_ne!(t1.output, eval.output);
}
