//! The long-range tasks end to end in the library: a small GRU learns the adding problem
//! through the shared loop, its checkpoint reloads for diagnosis, and the real digits file
//! reads and splits as documented.

#[path = "../../recurrent/tests/common/mod.rs"]
mod common;

use recurrent::optim::OptimSettings;
use recurrent::train::runner::TrainRequest;
use recurrent::train::Quiet;
use recurrent::{CellKind, Rng};
use recurrent_tasks::lab::diagnose::Verdict;
use recurrent_tasks::lab::longrange::{
    diagnose_model, draw, load_long_range, score, test_set, train_long_range, LongRangeConfig,
    LongRangeKind, LongRangeModel,
};
use recurrent_tasks::lab::tasks::{read_digits, ADDING_BASELINE_MSE};

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("recurrent-longrange-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn a_gru_learns_short_adding_and_its_checkpoint_diagnoses() {
    let mut cfg = LongRangeConfig::new(LongRangeKind::Adding, 10, CellKind::Gru);
    cfg.hidden = 16;
    cfg.optim = OptimSettings::adam(1e-2, 1.0);
    cfg.eval_every = 100;
    cfg.test_size = 200;
    let out = tmp("adding");
    let s = train_long_range(&cfg, None, &TrainRequest::new(&out).steps(300), &mut Quiet).unwrap();
    assert!(s.finished);
    let mse = s
        .last_eval
        .as_ref()
        .and_then(|e| e["test_mse"].as_f64())
        .unwrap();
    assert!(
        mse < ADDING_BASELINE_MSE / 4.0,
        "test MSE {mse} after 300 steps"
    );

    let (mut model, loaded) = load_long_range(&out.join("best.safetensors")).unwrap();
    assert_eq!(loaded, cfg);
    let test = test_set(&cfg, None).unwrap();
    let again = score(&model, cfg.task, &test).unwrap();
    assert!((again.loss - s.best_metric.unwrap()).abs() < 1e-9);

    let sample = draw(&cfg, 8, &mut Rng::new(1), None).unwrap();
    let d = diagnose_model(&mut model, cfg.task, &sample).unwrap();
    assert_eq!(d.flow.dh.len(), 1);
    assert_eq!(d.flow.dh[0].len(), 10);
    assert_eq!(d.flow.dx.len(), 10);
    assert!(d.flow.dh[0].iter().all(|v| v.is_finite() && *v > 0.0));
    assert_eq!(d.spectra[0].gates.len(), 3);
    assert!(d.param_norms.groups.iter().any(|(g, _)| g == "rnn layer 0"));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_tanh_rnn_with_pytorch_init_vanishes_over_200_steps() {
    let mut cfg = LongRangeConfig::new(LongRangeKind::Adding, 200, CellKind::RnnTanh);
    cfg.hidden = 32;
    let mut model = LongRangeModel::new(&cfg).unwrap();
    let sample = draw(&cfg, 8, &mut Rng::new(1), None).unwrap();
    let d = diagnose_model(&mut model, cfg.task, &sample).unwrap();
    assert_eq!(
        d.verdicts[0].verdict,
        Verdict::Vanishing,
        "{:?}",
        d.verdicts
    );
    // Scaled far beyond 1, the same network's gradients do not vanish at the start.
    cfg.recurrent_scale = 8.0;
    let big = LongRangeModel::new(&cfg).unwrap();
    assert!(recurrent_tasks::lab::diagnose::recurrent_spectra(big.rnn())[0].whole > 4.0);
}

#[test]
fn the_digits_file_reads_and_splits_stratified() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let path = shared.join("data/digits/digits.csv");
    let d = read_digits(&path).unwrap();
    assert_eq!(d.len(), 1797);
    let (train, test) = d.split(0.2, 0).unwrap();
    assert_eq!(train.len() + test.len(), 1797);
    assert!((355..=365).contains(&test.len()), "{}", test.len());
    // The majority class of the training part scores about 10% on the test part: the
    // trivial baseline of sequential digits.
    let mut counts = [0usize; 10];
    train
        .iter()
        .for_each(|&i| counts[d.labels[i] as usize] += 1);
    let major = (0..10).max_by_key(|&c| counts[c]).unwrap() as u8;
    let acc = test.iter().filter(|&&i| d.labels[i] == major).count() as f64 / test.len() as f64;
    assert!((0.09..0.12).contains(&acc), "{acc}");
}
