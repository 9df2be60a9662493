//! Every PyTorch fixture (../shared/fixtures/pytorch, committed under tests/fixtures/pytorch,
//! or the directory in `RECURRENT_FIXTURES`): build the layer from the file's config and
//! weights, run forward and backward with the file's loss
//! `sum(output*R1) + sum(h_n*R2) [+ sum(c_n*R3)]`, and compare the output, the final states
//! and every gradient in f64 with |a - b| <= 1e-9 max(1, |b|) per element, and the README's
//! scale-aware rule |a - b| <= 1e-10 |b| + 1e-12 max|b|. Prints `<name> max_err=<e>` per file.
//! A file that cannot be handled fails the test.

mod common;

use common::{fixture_files, Fixture};
use recurrent::{layer::RnnState, Module, Tensor};

/// Compares one tensor; returns its max |a-b|/max(1,|b|) or an error naming the tensor.
fn compare(case: &str, what: &str, a: &Tensor<f64>, b: &Tensor<f64>) -> Result<f64, String> {
    if a.shape() != b.shape() {
        return Err(format!(
            "{case}: {what}: shape {:?} != expected {:?}",
            a.shape(),
            b.shape()
        ));
    }
    let scale = b.max_abs();
    let mut worst: f64 = 0.0;
    for (i, (&x, &y)) in a.data().iter().zip(b.data()).enumerate() {
        let err = (x - y).abs() / y.abs().max(1.0);
        if !x.is_finite() || err > 1e-9 {
            return Err(format!(
                "{case}: {what}[{i}] = {x:e}, expected {y:e} (rel err {err:e} > 1e-9)"
            ));
        }
        if (x - y).abs() > 1e-10 * y.abs() + 1e-12 * scale {
            return Err(format!(
                "{case}: {what}[{i}] = {x:e}, expected {y:e} (fails the scale-aware rule)"
            ));
        }
        worst = worst.max(err);
    }
    Ok(worst)
}

fn run_case(fx: &Fixture) -> Result<f64, String> {
    let mut rnn = fx.build::<f64>()?;
    let is_lstm = rnn.config().cell.has_cell_state();
    let state = RnnState {
        h: fx.get("h0")?.clone(),
        c: if is_lstm {
            Some(fx.get("c0")?.clone())
        } else {
            None
        },
    };
    let lengths = fx.lengths();
    let (out, cache) = rnn
        .forward(fx.get("input")?, Some(&state), lengths.as_deref(), None)
        .map_err(|e| format!("{}: {e}", fx.name))?;
    let mut worst = compare(&fx.name, "output", &out.output, fx.get("output")?)?;
    worst = worst.max(compare(&fx.name, "h_n", &out.state.h, fx.get("h_n")?)?);
    if is_lstm {
        let c_n = out.state.c.as_ref().ok_or("no c_n")?;
        worst = worst.max(compare(&fx.name, "c_n", c_n, fx.get("c_n")?)?);
    }
    rnn.zero_grad();
    let r3 = if is_lstm { Some(fx.get("R3")?) } else { None };
    let g = rnn
        .backward(&cache, fx.get("R1")?, Some(fx.get("R2")?), r3)
        .map_err(|e| format!("{}: {e}", fx.name))?;
    worst = worst.max(compare(
        &fx.name,
        "grad.input",
        &g.d_input,
        fx.get("grad.input")?,
    )?);
    worst = worst.max(compare(&fx.name, "grad.h0", &g.d_h0, fx.get("grad.h0")?)?);
    if is_lstm {
        worst = worst.max(compare(
            &fx.name,
            "grad.c0",
            g.d_c0.as_ref().ok_or("no d_c0")?,
            fx.get("grad.c0")?,
        )?);
    }
    let mut errs = Vec::new();
    let mut n_params = 0;
    rnn.visit(&mut |p| {
        n_params += 1;
        match fx
            .get(&format!("grad.{}", p.name))
            .and_then(|want| compare(&fx.name, &format!("grad.{}", p.name), &p.grad, want))
        {
            Ok(e) => worst = worst.max(e),
            Err(e) => errs.push(e),
        }
    });
    if let Some(e) = errs.into_iter().next() {
        return Err(e);
    }
    // Every tensor of the file must have been used: a parameter we do not know fails.
    let known = [
        "input",
        "h0",
        "c0",
        "output",
        "h_n",
        "c_n",
        "R1",
        "R2",
        "R3",
        "lengths",
        "grad.input",
        "grad.h0",
        "grad.c0",
    ];
    let mut names = std::collections::HashSet::new();
    rnn.visit(&mut |p| {
        names.insert(p.name.clone());
    });
    for k in fx.tensors.keys() {
        let base = k.strip_prefix("grad.").unwrap_or(k);
        if !known.contains(&k.as_str()) && !names.contains(base) {
            return Err(format!("{}: tensor `{k}` not understood", fx.name));
        }
    }
    Ok(worst)
}

#[test]
fn pytorch_fixtures_f64() {
    let mut failures = Vec::new();
    for path in fixture_files() {
        let result = Fixture::load(&path).and_then(|fx| run_case(&fx).map(|e| (fx.name, e)));
        match result {
            Ok((name, e)) => println!("{name} max_err={e:e}"),
            Err(e) => {
                println!("{} FAILED: {e}", path.display());
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// f32 forward against the f64 reference: max|a - b| <= 1e-4 max|b| per tensor
/// (1e-3 max|b| where max|b| > 1e3, as CONVENTIONS.md states).
#[test]
fn pytorch_fixtures_f32_forward() {
    let mut failures = Vec::new();
    for path in fixture_files() {
        let fx = match Fixture::load(&path) {
            Ok(f) => f,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let res = (|| -> Result<f64, String> {
            let rnn = fx.build::<f32>()?;
            let is_lstm = rnn.config().cell.has_cell_state();
            let state = RnnState {
                h: fx.get("h0")?.cast(),
                c: if is_lstm {
                    Some(fx.get("c0")?.cast())
                } else {
                    None
                },
            };
            let lengths = fx.lengths();
            let (out, _) = rnn
                .forward(
                    &fx.get("input")?.cast(),
                    Some(&state),
                    lengths.as_deref(),
                    None,
                )
                .map_err(|e| e.to_string())?;
            let mut worst: f64 = 0.0;
            let mut pairs = vec![
                ("output", out.output.cast::<f64>()),
                ("h_n", out.state.h.cast()),
            ];
            if let Some(c) = &out.state.c {
                pairs.push(("c_n", c.cast()));
            }
            for (what, got) in pairs {
                let want = fx.get(what)?;
                let scale = want.max_abs();
                let tol = if scale > 1e3 { 1e-3 } else { 1e-4 } * scale;
                let err = got
                    .data()
                    .iter()
                    .zip(want.data())
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max);
                if err.is_nan() || err > tol {
                    return Err(format!(
                        "{}: {what}: f32 max err {err:e} > {tol:e}",
                        fx.name
                    ));
                }
                worst = worst.max(err / scale.max(1e-30));
            }
            Ok(worst)
        })();
        match res {
            Ok(e) => println!("{} f32_rel_err={e:e}", fx.name),
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
