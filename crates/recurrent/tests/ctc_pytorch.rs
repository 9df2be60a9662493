//! The CTC loss against PyTorch (`F.ctc_loss` on `log_softmax(logits)`, float64): every file
//! in tests/fixtures/ctc (written by scripts/gen_ctc_fixtures.py) holds logits, lengths and
//! targets, and PyTorch's per-item losses and gradients for reductions none, sum and mean.
//! Each loss and gradient element must agree to |a - b| <= 1e-9 max(1, |b|) (the project's
//! f64 rule). Prints `<file> max_err=<e>` per file.

mod common;

use common::Fixture;
use recurrent::nn::{CtcLoss, CtcReduction};
use recurrent::Tensor;
use std::path::Path;

fn compare(case: &str, what: &str, a: &[f64], b: &Tensor<f64>) -> Result<f64, String> {
    if a.len() != b.len() {
        return Err(format!(
            "{case}: {what}: {} values, expected {}",
            a.len(),
            b.len()
        ));
    }
    let mut worst = 0.0f64;
    for (i, (&x, &y)) in a.iter().zip(b.data()).enumerate() {
        let err = (x - y).abs() / y.abs().max(1.0);
        if err.is_nan() || err > 1e-9 {
            return Err(format!(
                "{case}: {what}[{i}] = {x:e}, expected {y:e} (rel err {err:e})"
            ));
        }
        worst = worst.max(err);
    }
    Ok(worst)
}

fn run_case(fx: &Fixture) -> Result<f64, String> {
    let logits = fx.get("logits")?;
    let &[t, b, c] = logits.shape() else {
        return Err(format!("{}: logits are not [T, B, C]", fx.name));
    };
    let ints = |n: &str| -> Result<Vec<usize>, String> {
        Ok(fx.get(n)?.data().iter().map(|&v| v as usize).collect())
    };
    let input_lengths = ints("input_lengths")?;
    let target_lengths = ints("target_lengths")?;
    let flat = ints("targets")?;
    let mut targets = Vec::with_capacity(b);
    let mut at = 0;
    for &n in &target_lengths {
        targets.push(flat[at..at + n].to_vec());
        at += n;
    }
    let blank = fx.config["blank"].as_u64().ok_or("no blank")? as usize;
    let zero_infinity = fx.config["zero_infinity"].as_bool().unwrap_or(false);
    let mut worst = 0.0f64;
    for (red, name) in [
        (CtcReduction::None, "none"),
        (CtcReduction::Sum, "sum"),
        (CtcReduction::Mean, "mean"),
    ] {
        let loss = CtcLoss {
            blank,
            reduction: red,
            zero_infinity,
        };
        let out = loss
            .loss(logits.data(), t, c, &input_lengths, &targets)
            .map_err(|e| format!("{}: {e}", fx.name))?;
        let got = match red {
            CtcReduction::None => out.losses.clone(),
            _ => vec![out.loss],
        };
        let want = fx.get(&format!("loss_{name}"))?;
        worst = worst.max(compare(&fx.name, &format!("loss_{name}"), &got, want)?);
        let want = fx.get(&format!("grad_{name}"))?;
        worst = worst.max(compare(&fx.name, &format!("grad_{name}"), &out.grad, want)?);
    }
    Ok(worst)
}

#[test]
fn ctc_matches_pytorch() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ctc");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "fixtures missing in {}", dir.display());
    let mut failures = Vec::new();
    let mut overall = 0.0f64;
    for f in &files {
        let fx = Fixture::load(f).unwrap();
        match run_case(&fx) {
            Ok(e) => {
                println!("{} max_err={e:e}", fx.name);
                overall = overall.max(e);
            }
            Err(e) => failures.push(e),
        }
    }
    println!("all ctc fixtures max_err={overall:e}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn f32_logits_agree_with_pytorch_f64() {
    // The f32 path computes in f64 inside; only the logits' rounding and the gradient's
    // final rounding separate it from the f64 reference.
    let fx = Fixture::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/ctc/varied_lengths.safetensors"),
    )
    .unwrap();
    let logits = fx.get("logits").unwrap();
    let &[t, _, c] = logits.shape() else { panic!() };
    let x32: Vec<f32> = logits.data().iter().map(|&v| v as f32).collect();
    let lens: Vec<usize> = fx
        .get("input_lengths")
        .unwrap()
        .data()
        .iter()
        .map(|&v| v as usize)
        .collect();
    let tl: Vec<usize> = fx
        .get("target_lengths")
        .unwrap()
        .data()
        .iter()
        .map(|&v| v as usize)
        .collect();
    let flat: Vec<usize> = fx
        .get("targets")
        .unwrap()
        .data()
        .iter()
        .map(|&v| v as usize)
        .collect();
    let mut targets = Vec::new();
    let mut at = 0;
    for n in tl {
        targets.push(flat[at..at + n].to_vec());
        at += n;
    }
    let out = CtcLoss::new().loss(&x32, t, c, &lens, &targets).unwrap();
    let want = fx.get("loss_mean").unwrap().data()[0];
    assert!(
        (out.loss - want).abs() <= 1e-5 * want.abs(),
        "{} vs {want}",
        out.loss
    );
    let g = fx.get("grad_mean").unwrap();
    let scale = g.max_abs();
    for (a, b) in out.grad.iter().zip(g.data()) {
        assert!((*a as f64 - b).abs() <= 1e-4 * scale, "{a} vs {b}");
    }
}
