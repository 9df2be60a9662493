//! The AWD-LSTM regularisers and zoneout: finite differences in f64 through a language
//! model with all of them on (every random mask fixed by reseeding the stream for each evaluation), weight
//! drop against a layer whose W_hh was masked by hand, and the penalties' values.

use recurrent::cell::zoneout::Zoneout;
use recurrent::init::Init;
use recurrent::layer::{Rnn, RnnConfig};
use recurrent::model::lm::{LanguageModel, LmConfig, Regularisers};
use recurrent::nn::dropout::dropout_mask;
use recurrent::nn::CrossEntropy;
use recurrent::{CellKind, Module, Rng, Tensor};

const MASK_SEED: u64 = 17;

fn lm(cell: CellKind, reg: Regularisers) -> LanguageModel<f64> {
    let cfg = LmConfig {
        cell,
        vocab: 7,
        embed: 4,
        hidden: 5,
        layers: 2,
        dropout: 0.3,
        reg,
        tie: false,
    };
    LanguageModel::new(cfg, &Init::default(), &mut Rng::new(1)).unwrap()
}

fn all_on() -> Regularisers {
    Regularisers {
        dropout_input: 0.25,
        dropout_embed: 0.2,
        weight_drop: 0.3,
        variational: true,
        ar: 2.0,
        tar: 1.5,
        zoneout: Zoneout { h: 0.1, c: 0.25 },
    }
}

/// Cross-entropy + penalty of a training forward whose masks come from `MASK_SEED`.
fn loss(m: &mut LanguageModel<f64>, ids: &[u32], targets: &[usize], backward: bool) -> f64 {
    let (t, b) = (6, 3);
    let mut rng = Rng::new(MASK_SEED);
    let (logits, _, cache) = m.forward(ids, t, b, None, Some(&mut rng)).unwrap();
    let (ce, dl) = CrossEntropy::new().loss(&logits, 7, targets, None).unwrap();
    let total = ce + m.penalty(&cache);
    if backward {
        m.backward(&cache, &dl).unwrap();
    }
    total
}

#[test]
fn finite_differences_with_every_regulariser() {
    let mut rng = Rng::new(5);
    let ids: Vec<u32> = (0..18).map(|_| rng.below(7) as u32).collect();
    let targets: Vec<usize> = (0..18).map(|_| rng.below(7)).collect();
    let cells = [
        CellKind::Lstm,
        CellKind::Gru,
        CellKind::RnnTanh,
        CellKind::LstmLn,
        CellKind::GruLn,
    ];
    for cell in cells {
        let mut m = lm(cell, all_on());
        // The penalty is on, and the masks drop something.
        let mut r = Rng::new(MASK_SEED);
        let (_, _, cache) = m.forward(&ids, 6, 3, None, Some(&mut r)).unwrap();
        assert!(m.penalty(&cache) > 0.0, "{cell}");
        let r =
            recurrent::gradcheck::check(&mut m, |m, back| loss(m, &ids, &targets, back), 1e-5, 30);
        println!("{cell}: max_rel_err={:e} ({})", r.max_rel_err, r.worst);
        assert!(r.max_rel_err < 1e-5, "{cell}: {}", r.worst);
    }
}

#[test]
fn weight_drop_is_the_layer_on_a_masked_weight() {
    let p = 0.5;
    let cfg = RnnConfig::new(CellKind::Lstm, 3, 4).bidirectional(true);
    let mut dropped = Rnn::<f64>::new(
        cfg.clone().weight_drop(p),
        &Init::default(),
        &mut Rng::new(2),
    )
    .unwrap();
    let mut plain = Rnn::<f64>::new(cfg, &Init::default(), &mut Rng::new(2)).unwrap();
    // The masks the layer draws: one per direction, in order, by dropout's rule.
    let mut rng = Rng::new(9);
    let masks: Vec<Vec<f64>> = (0..2).map(|_| dropout_mask(64, p, &mut rng)).collect();
    plain.visit_mut(&mut |q| {
        let d = usize::from(q.name.ends_with("_reverse"));
        if q.name.starts_with("weight_hh") {
            let m = &masks[d];
            q.value
                .data_mut()
                .iter_mut()
                .zip(m)
                .for_each(|(v, k)| *v *= *k);
        }
    });
    let mut r = Rng::new(4);
    let x = Tensor::from_vec(&[5, 2, 3], (0..30).map(|_| r.normal()).collect()).unwrap();
    let before: Vec<f64> = dropped.dir_params(0, 0).recurrent().value.data().to_vec();
    let (a, ca) = dropped
        .forward(&x, None, None, Some(&mut Rng::new(9)))
        .unwrap();
    let (b, cb) = plain.forward(&x, None, None, None).unwrap();
    assert_eq!(a.output, b.output);
    let dy = Tensor::from_vec(a.output.shape(), (0..80).map(|_| r.normal()).collect()).unwrap();
    let ga = dropped.backward(&ca, &dy, None, None).unwrap();
    let gb = plain.backward(&cb, &dy, None, None).unwrap();
    assert_eq!(ga.d_input, gb.d_input);
    // W_hh is back as it was, and its gradient is the masked layer's, masked.
    let after = dropped.dir_params(0, 0).recurrent();
    assert_eq!(after.value.data(), &before[..]);
    for (d, mask) in masks.iter().enumerate() {
        let (ra, rb) = (
            dropped.dir_params(0, d).recurrent(),
            plain.dir_params(0, d).recurrent(),
        );
        for ((x, y), m) in ra.grad.data().iter().zip(rb.grad.data()).zip(mask) {
            assert_eq!(*x, y * m);
        }
        assert_eq!(
            dropped.dir_params(0, d).w_ih.grad,
            plain.dir_params(0, d).w_ih.grad
        );
    }
    assert!(masks[0].contains(&0.0));
    // Evaluation draws nothing and uses W_hh itself.
    let (e, _) = dropped.forward(&x, None, None, None).unwrap();
    assert_ne!(e.output, a.output);
}

#[test]
fn the_penalties_are_their_formulas() {
    let reg = Regularisers {
        ar: 1.0,
        tar: 0.5,
        ..Default::default()
    };
    let mut m = lm(CellKind::Gru, reg);
    let ids: Vec<u32> = (0..18).map(|i| (i % 7) as u32).collect();
    // No dropout in the config's regularisers, but the LM's own output dropout: switch it
    // off so that y = h.
    let mut plain_cfg = m.config().clone();
    plain_cfg.dropout = 0.0;
    m = LanguageModel::new(plain_cfg, &Init::default(), &mut Rng::new(1)).unwrap();
    let (_, _, cache) = m.forward(&ids, 6, 3, None, Some(&mut Rng::new(0))).unwrap();
    let x = m
        .embed
        .forward(&ids.iter().map(|&i| i as usize).collect::<Vec<_>>())
        .unwrap();
    let (out, _) = m.rnn.forward_tm(x, 6, 3, None, None, None).unwrap();
    let h = out.output.data();
    let ar = h.iter().map(|v| v * v).sum::<f64>() / h.len() as f64;
    let bh = 3 * 5;
    let tar = (bh..h.len())
        .map(|j| (h[j] - h[j - bh]).powi(2))
        .sum::<f64>()
        / (h.len() - bh) as f64;
    let got = m.penalty(&cache);
    assert!(
        (got - (ar + 0.5 * tar)).abs() < 1e-12,
        "{got} vs {}",
        ar + 0.5 * tar
    );
    // Evaluation carries no penalty.
    let (_, _, eval) = m.forward(&ids, 6, 3, None, None).unwrap();
    assert_eq!(m.penalty(&eval), 0.0);
}

#[test]
fn bad_settings_are_named() {
    let mut reg = all_on();
    reg.weight_drop = 1.0;
    let cfg = LmConfig {
        cell: CellKind::Lstm,
        vocab: 7,
        embed: 4,
        hidden: 5,
        layers: 1,
        dropout: 0.0,
        reg,
        tie: false,
    };
    let e = cfg.validate().unwrap_err().to_string();
    assert!(e.contains("weight_drop"), "{e}");
    let mut cfg2 = cfg.clone();
    cfg2.reg = Regularisers {
        tar: f64::NAN,
        ..Default::default()
    };
    assert!(cfg2.validate().unwrap_err().to_string().contains("tar"));
    let mut cfg3 = cfg;
    cfg3.cell = CellKind::MinGru;
    cfg3.reg = Regularisers {
        weight_drop: 0.2,
        ..Default::default()
    };
    let e = cfg3.validate().unwrap_err().to_string();
    assert!(e.contains("mingru"), "{e}");
}

#[test]
fn switched_off_they_add_no_keys_and_on_they_round_trip() {
    let plain = lm(CellKind::Lstm, Regularisers::default()).config().clone();
    let json = serde_json::to_string(&plain).unwrap();
    assert!(!json.contains("reg"), "{json}");
    let layer = serde_json::to_string(&RnnConfig::new(CellKind::Gru, 3, 4)).unwrap();
    assert!(
        !layer.contains("weight_drop") && !layer.contains("variational"),
        "{layer}"
    );
    let on = lm(CellKind::Lstm, all_on()).config().clone();
    let back: LmConfig = serde_json::from_str(&serde_json::to_string(&on).unwrap()).unwrap();
    assert_eq!(back, on);
    let wd = RnnConfig::new(CellKind::Gru, 3, 4)
        .weight_drop(0.2)
        .variational(true);
    let back: RnnConfig = serde_json::from_str(&serde_json::to_string(&wd).unwrap()).unwrap();
    assert_eq!(back, wd);
}
