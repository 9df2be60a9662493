//! Every PyTorch fixture (../shared/fixtures/pytorch, committed under tests/fixtures/pytorch,
//! or the directory in `RECURRENT_FIXTURES`): build the layer from the file's config and
//! weights, run forward and backward with the file's loss
//! `sum(output*R1) + sum(h_n*R2) [+ sum(c_n*R3)]`, and compare the output, the final states
//! and every gradient in f64 with |a - b| <= 1e-9 max(1, |b|) per element, and the README's
//! scale-aware rule |a - b| <= 1e-10 |b| + 1e-12 max|b|. Prints `<name> max_err=<e>` per file.
//! A file that cannot be handled fails the test.

mod common;

use common::{check_layer, fixture_files, Fixture};
use recurrent::layer::RnnState;

#[test]
fn pytorch_fixtures_f64() {
    let mut failures = Vec::new();
    for path in fixture_files() {
        let result = Fixture::load(&path).and_then(|fx| check_layer(&fx).map(|e| (fx.name, e)));
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
