//! The CTC frame model learns to transcribe synthetic "speech": digit strings whose frames are
//! noisy one-hot codes, each digit held for a random number of frames, with random silences
//! between (never none between two equal digits, as in speech). Unaligned: the model only
//! sees the digit string. Seconds each.

use recurrent::cell::CellKind;
use recurrent::init::Init;
use recurrent::nn::CtcReduction;
use recurrent::optim::{Adam, AdamConfig, Optimizer};
use recurrent::train::runner::TrainRequest;
use recurrent::train::Quiet;
use recurrent::{Module, Rng};
use recurrent_tasks::speech::ctc::{
    decode_all, load_ctc, train_ctc, CtcData, CtcExample, CtcTrainConfig,
};
use recurrent_tasks::speech::ctc_model::{pad_frames, CtcModel, CtcModelConfig};
use recurrent_tasks::speech::score::score_transcriptions;
use std::path::PathBuf;

const DIGITS: usize = 10;
/// One-hot digits, a silence channel, and two channels of pure noise.
const DIM: usize = DIGITS + 3;

/// One utterance: 1-`max_len` digits, each held 2-5 frames, silences of 0-3 frames (at
/// least 1 between equal digits) around them, Gaussian noise of `noise` on every feature.
fn utterance(rng: &mut Rng, max_len: usize, noise: f64) -> CtcExample {
    let n = 1 + rng.below(max_len);
    let labels: Vec<usize> = (0..n).map(|_| rng.below(DIGITS)).collect();
    let mut frames = Vec::new();
    let mut push = |ch: usize, rng: &mut Rng| {
        for j in 0..DIM {
            let v = if j == ch { 1.0 } else { 0.0 };
            frames.push((v + noise * rng.normal()) as f32);
        }
    };
    for (i, &d) in labels.iter().enumerate() {
        let min_gap = usize::from(i > 0 && labels[i - 1] == d);
        let gap = min_gap + rng.below(4 - min_gap);
        for _ in 0..gap {
            push(DIGITS, rng);
        }
        for _ in 0..2 + rng.below(4) {
            push(d, rng);
        }
    }
    for _ in 0..rng.below(4) {
        push(DIGITS, rng);
    }
    CtcExample { frames, labels }
}

fn dataset(n: usize, seed: u64) -> Vec<CtcExample> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| utterance(&mut rng, 6, 0.25)).collect()
}

#[test]
fn ctc_model_learns_noisy_digit_strings() {
    learn_digit_strings(true, 0.03);
}

/// A unidirectional model (what streaming needs) must emit each digit from the frames so far.
#[test]
fn unidirectional_ctc_model_learns_noisy_digit_strings() {
    learn_digit_strings(false, 0.05);
}

fn learn_digit_strings(bidirectional: bool, max_error_rate: f64) {
    let cfg = CtcModelConfig {
        input: DIM,
        stack: 1,
        cell: CellKind::Gru,
        hidden: 24,
        layers: 1,
        bidirectional,
        dropout: 0.0,
        reg: Default::default(),
        symbols: DIGITS,
    };
    let mut m = CtcModel::<f32>::new(cfg, &Init::default(), &mut Rng::new(1)).unwrap();
    let mut opt = Adam::new(AdamConfig {
        lr: 1e-2,
        ..Default::default()
    })
    .unwrap();
    let train = dataset(2048, 2);
    let test = dataset(200, 3);
    let t0 = std::time::Instant::now();
    let mut first = None;
    let mut last = 0.0;
    for step in 0..600 {
        let at = (step * 16) % train.len();
        let chunk = &train[at..at + 16];
        let seqs: Vec<&[f32]> = chunk.iter().map(|e| e.frames.as_slice()).collect();
        let targets: Vec<Vec<usize>> = chunk.iter().map(|e| e.labels.clone()).collect();
        let batch = pad_frames(&seqs, DIM).unwrap();
        m.zero_grad();
        let out = m
            .loss(&batch, &targets, CtcReduction::Mean, None, true)
            .unwrap();
        first.get_or_insert(out.loss);
        last = out.loss;
        opt.step(&mut m).unwrap();
    }
    let seqs: Vec<&[f32]> = test.iter().map(|e| e.frames.as_slice()).collect();
    let hyps = decode_all(&m, &seqs, DIM, 1).unwrap();
    let s = score_transcriptions(test.iter().zip(&hyps).map(|(e, h)| (&e.labels, &h.labels)));
    let beam = decode_all(&m, &seqs, DIM, 4).unwrap();
    let sb = score_transcriptions(test.iter().zip(&beam).map(|(e, h)| (&e.labels, &h.labels)));
    println!(
        "loss {:.3} -> {last:.3}; greedy error rate {:.4}, utterance accuracy {:.3}; beam {:.4}; {:.1}s",
        first.unwrap(),
        s.error_rate(),
        s.utterance_accuracy(),
        sb.error_rate(),
        t0.elapsed().as_secs_f64()
    );
    assert!(s.error_rate() < max_error_rate, "{s:?}");
    assert!(s.utterance_accuracy() > 0.85, "{s:?}");
    assert!(sb.error_rate() <= s.error_rate() + 0.01, "{sb:?}");
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recurrent-ctc-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn ctc_task_trains_resumes_and_reloads() {
    let data = || CtcData {
        dim: DIM,
        symbols: (0..DIGITS).map(|d| d.to_string()).collect(),
        train: dataset(1600, 4),
        valid: Some(dataset(60, 5)),
        test: Some(dataset(60, 6)),
        extra: serde_json::json!({"features": "synthetic one-hot"}),
    };
    let mut cfg = CtcTrainConfig {
        cell: CellKind::Gru,
        hidden: 24,
        layers: 1,
        dropout: 0.0,
        // Stacking is covered by the model's gradient check; here two-frame digits would
        // share a step with their neighbours and blur the test of the training loop.
        stack: 1,
        batch: 16,
        eval_every: Some(recurrent::train::EvalEvery::Steps(50)),
        beam: 4,
        time_masks: 1,
        time_mask_width: 1,
        ..Default::default()
    };
    cfg.optim.lr = 1e-2;
    let out = tmp("task");
    let s = train_ctc(
        &cfg,
        data(),
        &TrainRequest::new(&out).steps(500),
        &mut Quiet,
    )
    .unwrap();
    let v = s.valid.as_ref().unwrap();
    let t = s.test.as_ref().unwrap();
    println!(
        "valid error rate {:.4} (beam {:.4}), test {:.4}, utterance accuracy {:.3}, {:.1}s",
        v.greedy.error_rate(),
        v.beam.as_ref().unwrap().error_rate(),
        t.greedy.error_rate(),
        t.greedy.utterance_accuracy(),
        s.train_s
    );
    assert!(t.greedy.error_rate() < 0.04, "{t:?}");
    assert!(out.join("results.json").exists());
    // The best checkpoint reloads with its symbols and extra metadata and decodes the same.
    let (m, meta) = load_ctc(&out.join("best.safetensors")).unwrap();
    assert_eq!(meta.symbols.len(), DIGITS);
    assert_eq!(meta.extra["features"], "synthetic one-hot");
    let test = dataset(60, 6);
    let seqs: Vec<&[f32]> = test.iter().map(|e| e.frames.as_slice()).collect();
    let h = decode_all(&m, &seqs, DIM, 1).unwrap();
    let again = score_transcriptions(test.iter().zip(&h).map(|(e, h)| (&e.labels, &h.labels)));
    assert_eq!(again, t.greedy);
    // A finished run resumed changes nothing; a bit-exact resume from a mid-run checkpoint.
    let mut req = TrainRequest::new(&out).steps(500);
    req.resume = true;
    let r = train_ctc(&cfg, data(), &req, &mut Quiet).unwrap();
    assert!(r.already_complete);
    let a = tmp("a");
    let b = tmp("b");
    let mut ra = TrainRequest::new(&a).steps(30);
    ra.save_every = Some(15);
    train_ctc(&cfg, data(), &ra, &mut Quiet).unwrap();
    train_ctc(&cfg, data(), &TrainRequest::new(&b).steps(15), &mut Quiet).unwrap();
    let mut rb = TrainRequest::new(&b).steps(30);
    rb.resume = true;
    train_ctc(&cfg, data(), &rb, &mut Quiet).unwrap();
    // The latest checkpoints (the best ones may differ: run b also evaluated at step 15).
    let w = |d: &PathBuf| {
        let (path, _) = recurrent::train::run::latest_checkpoint(d, &mut |_| {})
            .unwrap()
            .unwrap();
        let (m, _) = load_ctc(&path).unwrap();
        let mut v = Vec::new();
        m.visit(&mut |p| v.extend_from_slice(p.value.data()));
        v
    };
    assert_eq!(w(&a), w(&b), "resumed run differs");
    // Bad data: an utterance too short for its labels names itself.
    let mut bad = data();
    bad.train[7] = CtcExample {
        frames: vec![0.0; DIM * 3],
        labels: vec![1, 1, 2],
    };
    let err = train_ctc(
        &cfg,
        bad,
        &TrainRequest::new(tmp("bad")).steps(1),
        &mut Quiet,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("cannot hold"), "{err}");
    for d in [out, a, b] {
        let _ = std::fs::remove_dir_all(d);
    }
}
