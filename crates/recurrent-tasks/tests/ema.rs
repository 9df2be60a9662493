//! Averaged weights (`--ema`) through the shared training loop, on a small language model:
//! they leave training itself untouched, they are what is evaluated and kept as best, and a
//! stopped run resumes to the same bits with them.

use recurrent::checkpoint::{self, Checkpoint};
use recurrent::train::run::latest_checkpoint;
use recurrent::train::{EvalEvery, Quiet, TrainRequest};
use recurrent_tasks::lm::train::{evaluate, load_lm, train_lm, LmTrainConfig};
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recurrent-ema-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn text() -> String {
    "the quick brown fox jumps over the lazy dog; a stitch in time saves nine.\n".repeat(30)
}

fn cfg(ema: Option<f64>) -> LmTrainConfig {
    let mut c = LmTrainConfig {
        hidden: 16,
        embed: 8,
        layers: 1,
        seq_len: 8,
        batch: 4,
        eval_every: EvalEvery::Steps(4),
        ..Default::default()
    };
    c.optim.ema = ema;
    c
}

fn latest(dir: &Path) -> Checkpoint {
    latest_checkpoint(dir, &mut |_| {}).unwrap().unwrap().1
}

/// Every tensor of `a` equals `b`'s bit for bit (`train_state` ones included).
fn same_tensors(a: &Checkpoint, b: &Checkpoint, what: &str) {
    assert_eq!(
        a.tensors.keys().collect::<Vec<_>>(),
        b.tensors.keys().collect::<Vec<_>>(),
        "{what}"
    );
    for (name, t) in &a.tensors {
        let (x, y) = (
            t.to_tensor::<f32>().unwrap(),
            b.tensors[name].to_tensor::<f32>().unwrap(),
        );
        let same = x
            .data()
            .iter()
            .zip(y.data())
            .all(|(p, q)| p.to_bits() == q.to_bits());
        assert!(same, "{what}: {name} differs");
    }
}

#[test]
fn the_average_is_evaluated_and_kept_while_training_is_untouched() {
    let (plain, avg) = (tmp("plain"), tmp("avg"));
    let text = text();
    let s_plain = train_lm(
        &cfg(None),
        &text,
        &TrainRequest::new(&plain).steps(12),
        &mut Quiet,
    )
    .unwrap();
    let s_avg = train_lm(
        &cfg(Some(0.9)),
        &text,
        &TrainRequest::new(&avg).steps(12),
        &mut Quiet,
    )
    .unwrap();
    // The raw weights the run trains are the same with or without the average.
    let (a, b) = (latest(&plain).weights_only(), latest(&avg).weights_only());
    same_tensors(&a, &b, "raw weights with and without --ema");
    assert_eq!(s_plain.train_loss, s_avg.train_loss);
    // What is kept as best is the average, and its loss is the one reported.
    let (model, meta) = load_lm(&avg.join("best.safetensors")).unwrap();
    let ids = meta.vocab.encode(&text).unwrap();
    let (_, val) = recurrent::text::corpus::split_by_position(&ids, meta.train.val_frac);
    let (loss, _) = evaluate(&model, &val, meta.train.seq_len).unwrap();
    assert!(
        (loss - s_avg.best_val_loss.unwrap()).abs() < 1e-9,
        "{loss} vs {:?}",
        s_avg.best_val_loss
    );
    let best = checkpoint::read(avg.join("best.safetensors")).unwrap();
    let w = "rnn.weight_hh_l0";
    assert_ne!(
        best.get(w).unwrap().to_tensor::<f32>().unwrap().data(),
        b.get(w).unwrap().to_tensor::<f32>().unwrap().data(),
        "best.safetensors must hold the average, not the raw weights"
    );
    assert!(latest(&avg)
        .tensors
        .keys()
        .any(|k| k.starts_with("train_state.ema.")));
    for d in [plain, avg] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn a_run_with_the_average_resumes_to_the_same_bits() {
    let (whole, split) = (tmp("whole"), tmp("split"));
    let text = text();
    let c = cfg(Some(0.95));
    train_lm(&c, &text, &TrainRequest::new(&whole).steps(10), &mut Quiet).unwrap();
    train_lm(&c, &text, &TrainRequest::new(&split).steps(6), &mut Quiet).unwrap();
    let mut again = TrainRequest::new(&split).steps(10);
    again.resume = true;
    train_lm(&c, &text, &again, &mut Quiet).unwrap();
    same_tensors(&latest(&whole), &latest(&split), "latest checkpoint");
    let best = |d: &Path| checkpoint::read(d.join("best.safetensors")).unwrap();
    same_tensors(&best(&whole), &best(&split), "best.safetensors");
    for d in [whole, split] {
        let _ = std::fs::remove_dir_all(d);
    }
}
