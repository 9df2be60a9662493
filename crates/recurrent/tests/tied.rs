//! Tied input and output embeddings in the language model: finite differences in f64 (the
//! shared table gets both gradients), the same logits as an untied model whose head holds a
//! copy of the table, no `head.weight` parameter, and the copy kept fresh after every change
//! of the parameters.

use recurrent::init::Init;
use recurrent::model::lm::{LanguageModel, LmConfig, Regularisers};
use recurrent::nn::CrossEntropy;
use recurrent::{CellKind, Module, Rng};

fn config(tie: bool) -> LmConfig {
    LmConfig {
        cell: CellKind::Lstm,
        vocab: 7,
        embed: 5,
        hidden: 5,
        layers: 2,
        dropout: 0.0,
        reg: Regularisers::default(),
        tie,
    }
}

fn tied() -> LanguageModel<f64> {
    LanguageModel::new(config(true), &Init::default(), &mut Rng::new(3)).unwrap()
}

fn data() -> (Vec<u32>, Vec<usize>) {
    let mut rng = Rng::new(9);
    let ids = (0..12).map(|_| rng.below(7) as u32).collect();
    let targets = (0..12).map(|_| rng.below(7)).collect();
    (ids, targets)
}

fn loss(m: &mut LanguageModel<f64>, ids: &[u32], targets: &[usize], backward: bool) -> f64 {
    let (logits, _, cache) = m.forward(ids, 4, 3, None, None).unwrap();
    let (ce, dl) = CrossEntropy::new().loss(&logits, 7, targets, None).unwrap();
    if backward {
        m.backward(&cache, &dl).unwrap();
    }
    ce
}

#[test]
fn finite_differences_through_the_shared_table() {
    let (ids, targets) = data();
    let mut m = tied();
    let r = recurrent::gradcheck::check(&mut m, |m, b| loss(m, &ids, &targets, b), 1e-5, 40);
    println!("tied: max_rel_err={:e} ({})", r.max_rel_err, r.worst);
    assert!(r.max_rel_err < 1e-6, "{}", r.worst);
}

#[test]
fn tied_equals_untied_with_the_table_copied_and_has_no_head_weight() {
    let (ids, targets) = data();
    let mut t = tied();
    let names: Vec<String> = t.param_shapes().into_iter().map(|(n, _)| n).collect();
    assert!(!names.iter().any(|n| n == "head.weight"), "{names:?}");
    assert!(names.iter().any(|n| n == "head.bias"), "{names:?}");
    let mut u = LanguageModel::new(config(false), &Init::default(), &mut Rng::new(3)).unwrap();
    u.head.weight.value = t.embed.weight.value.clone();
    assert_eq!(u.num_params(), t.num_params() + 7 * 5);
    let (lt, lu) = (
        loss(&mut t, &ids, &targets, true),
        loss(&mut u, &ids, &targets, true),
    );
    assert_eq!(lt, lu);
    // The tied table's gradient is the untied embedding's plus the untied head's.
    let sum: Vec<f64> = u
        .embed
        .weight
        .grad
        .data()
        .iter()
        .zip(u.head.weight.grad.data())
        .map(|(a, b)| a + b)
        .collect();
    for (a, b) in t.embed.weight.grad.data().iter().zip(&sum) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    // A change made through the parameters (an optimizer step, a load) reaches the head.
    t.visit_mut(&mut |p| {
        if p.name == "embed.weight" {
            p.value.data_mut()[0] += 1.0;
        }
    });
    assert_eq!(
        t.head.weight.value.data()[0],
        t.embed.weight.value.data()[0]
    );
}

#[test]
fn tying_needs_equal_widths() {
    let cfg = LmConfig {
        embed: 4,
        ..config(true)
    };
    let e = LanguageModel::<f64>::new(cfg, &Init::default(), &mut Rng::new(3))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("--embed equal to --hidden"), "{e}");
}
