//! Zoneout (Krueger et al. 2016) against its PyTorch float64 reference
//! (`scripts/gen_zoneout_fixtures.py`, committed under tests/fixtures/zoneout): training's
//! masks through one layer-direction's loop (both directions, packed lengths, teams of
//! threads), evaluation's expectation through whole layers; the layer's own masks by finite
//! differences; streaming against the sequence; and the settings it refuses.

mod common;

use common::{check_layer, compare, Fixture};
use recurrent::cell::sequence::{self, Spec};
use recurrent::cell::zoneout::{Masks, Zoneout};
use recurrent::cell::GruForm;
use recurrent::init::Init;
use recurrent::layer::RnnState;
use recurrent::{CellKind, Module, Param, Rng, Rnn, RnnConfig, StepScratch, Tensor};
use std::path::{Path, PathBuf};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zoneout");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    v.sort();
    assert!(
        v.len() >= 10,
        "zoneout fixtures missing in {}",
        dir.display()
    );
    v
}

/// A masks case: the file's masks handed to one layer-direction's loop, forward and
/// backward against the reference.
fn masks_case(fx: &Fixture) -> Result<f64, String> {
    let rnn = fx.build::<f64>()?;
    let cfg = rnn.config().clone();
    let mut p = rnn.dir_params(0, 0).clone();
    let spec = Spec {
        kind: cfg.cell,
        gru_form: GruForm::Pytorch,
        input: cfg.input_size,
        hidden: cfg.hidden_size,
        proj: 0,
        zoneout: fx.zoneout(),
    };
    let (t, b, h) = (
        fx.config["seq_len"].as_u64().ok_or("seq_len")? as usize,
        fx.config["batch"].as_u64().ok_or("batch")? as usize,
        cfg.hidden_size,
    );
    let reverse = fx.config["reverse"].as_bool().unwrap_or(false);
    let bits = |t: &Tensor<f64>| t.data().iter().map(|&v| u8::from(v != 0.0)).collect();
    let masks = Masks {
        h: bits(fx.get("mask_h")?),
        c: fx.tensors.get("mask_c").map(bits).unwrap_or_default(),
    };
    // A mask of a zoned state keeps some units and not others, or the case tests nothing.
    let on = [spec.zoneout.h > 0.0, spec.zoneout.c > 0.0];
    for (m, _) in [&masks.h, &masks.c]
        .into_iter()
        .zip(on)
        .filter(|(m, on)| *on && !m.is_empty())
    {
        if !(m.contains(&0) && m.contains(&1)) {
            return Err(format!("{}: a mask is all one value", fx.name));
        }
    }
    let lengths = fx.lengths().unwrap_or_else(|| vec![t; b]);
    let valid: Vec<bool> = (0..t * b).map(|i| i / b < lengths[i % b]).collect();
    let x = fx.get("input")?.data();
    let lstm = cfg.cell.has_cell_state();
    let c0 = if lstm {
        Some(fx.get("c0")?.data())
    } else {
        None
    };
    let h0 = fx.get("h0")?.data();
    let cache = sequence::forward(spec, &p, x, t, b, h0, c0, &valid, reverse, Some(masks));
    let mut out = vec![0.0; t * b * h];
    cache.output_into(&mut out, h, 0);
    let tensor = |shape: &[usize], v: Vec<f64>| Tensor::from_vec(shape, v).unwrap();
    let mut worst = compare(
        &fx.name,
        "output",
        &tensor(&[t, b, h], out),
        fx.get("output")?,
    )?;
    let h_n = tensor(&[1, b, h], cache.h_n().to_vec());
    worst = worst.max(compare(&fx.name, "h_n", &h_n, fx.get("h_n")?)?);
    if lstm {
        let c_n = tensor(&[1, b, h], cache.c_n().ok_or("no c_n")?.to_vec());
        worst = worst.max(compare(&fx.name, "c_n", &c_n, fx.get("c_n")?)?);
    }
    let r3 = if lstm {
        Some(fx.get("R3")?.data())
    } else {
        None
    };
    let mut dx = vec![0.0; x.len()];
    let g = sequence::backward(
        &mut p,
        &cache,
        x,
        fx.get("R1")?.data(),
        fx.get("R2")?.data(),
        r3,
        &mut dx,
    );
    let dx = tensor(fx.get("input")?.shape(), dx);
    worst = worst.max(compare(&fx.name, "grad.input", &dx, fx.get("grad.input")?)?);
    let dh0 = tensor(&[1, b, h], g.dh0.clone());
    worst = worst.max(compare(&fx.name, "grad.h0", &dh0, fx.get("grad.h0")?)?);
    if lstm {
        let dc0 = tensor(&[1, b, h], g.dc0.clone().ok_or("no dc0")?);
        worst = worst.max(compare(&fx.name, "grad.c0", &dc0, fx.get("grad.c0")?)?);
    }
    let mut errs = Vec::new();
    p.visit(&mut |q: &Param<f64>| match fx
        .get(&format!("grad.{}", q.name))
        .and_then(|want| compare(&fx.name, &format!("grad.{}", q.name), &q.grad, want))
    {
        Ok(e) => worst = worst.max(e),
        Err(e) => errs.push(e),
    });
    match errs.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(worst),
    }
}

#[test]
fn zoneout_matches_its_pytorch_reference() {
    let (mut failures, mut modes) = (Vec::new(), [0, 0]);
    for path in fixtures() {
        let res = Fixture::load(&path).and_then(|fx| {
            let masks = fx.config["mode"] == "masks";
            modes[usize::from(masks)] += 1;
            let e = if masks {
                masks_case(&fx)
            } else {
                check_layer(&fx)
            }?;
            Ok((fx.name, e))
        });
        match res {
            Ok((name, e)) => println!("{name} max_err={e:e}"),
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(modes[0] >= 3 && modes[1] >= 8, "cases per mode: {modes:?}");
}

fn randn(shape: &[usize], rng: &mut Rng) -> Tensor<f64> {
    let n = shape.iter().product();
    Tensor::from_vec(shape, (0..n).map(|_| rng.normal()).collect()).unwrap()
}

/// A layer in training, its masks drawn from the same seed at every evaluation, so finite
/// differences see one fixed function.
struct Probe {
    rnn: Rnn<f64>,
    x: Tensor<f64>,
    dy: Tensor<f64>,
    lengths: Vec<usize>,
}

impl Module<f64> for Probe {
    fn visit(&self, f: &mut dyn FnMut(&Param<f64>)) {
        self.rnn.visit(f)
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<f64>)) {
        self.rnn.visit_mut(f)
    }
}

fn probe_loss(p: &mut Probe, backward: bool) -> f64 {
    let (out, cache) = p
        .rnn
        .forward(&p.x, None, Some(&p.lengths), Some(&mut Rng::new(77)))
        .unwrap();
    if backward {
        p.rnn.backward(&cache, &p.dy, None, None).unwrap();
    }
    out.output
        .data()
        .iter()
        .zip(p.dy.data())
        .map(|(a, b)| a * b)
        .sum()
}

#[test]
fn finite_differences_through_drawn_masks() {
    let cells = [
        CellKind::Lstm,
        CellKind::Gru,
        CellKind::RnnTanh,
        CellKind::LstmLn,
        CellKind::GruLn,
    ];
    for (i, cell) in cells.into_iter().enumerate() {
        let mut rng = Rng::new(40 + i as u64);
        let cfg = RnnConfig::new(cell, 3, 5)
            .layers(2)
            .bidirectional(true)
            .zoneout(Zoneout { h: 0.3, c: 0.5 });
        let rnn = Rnn::new(cfg, &Init::default(), &mut rng).unwrap();
        let (t, b) = (6, 3);
        let mut p = Probe {
            rnn,
            x: randn(&[t, b, 3], &mut rng),
            dy: randn(&[t, b, 10], &mut rng),
            lengths: vec![6, 4, 5],
        };
        // Training differs from evaluation (the masks do something), and from a second
        // draw.
        let (train, _) = p
            .rnn
            .forward(&p.x, None, None, Some(&mut Rng::new(77)))
            .unwrap();
        let (eval, _) = p.rnn.forward(&p.x, None, None, None).unwrap();
        let (other, _) = p
            .rnn
            .forward(&p.x, None, None, Some(&mut Rng::new(78)))
            .unwrap();
        assert_ne!(train.output, eval.output, "{cell}");
        assert_ne!(train.output, other.output, "{cell}");
        let r = recurrent::gradcheck::check(&mut p, probe_loss, 1e-5, 25);
        println!("{cell}: max_rel_err={:e} ({})", r.max_rel_err, r.worst);
        assert!(r.max_rel_err < 1e-6, "{cell}: {}", r.worst);
    }
}

#[test]
fn streaming_zones_as_the_sequence_evaluates() {
    for cell in [
        CellKind::Lstm,
        CellKind::Gru,
        CellKind::RnnRelu,
        CellKind::LstmLn,
        CellKind::GruLn,
    ] {
        let mut rng = Rng::new(5);
        let cfg = RnnConfig::new(cell, 4, 6)
            .layers(2)
            .zoneout(Zoneout { h: 0.2, c: 0.6 });
        let rnn: Rnn<f64> = Rnn::new(cfg.clone(), &Init::default(), &mut rng).unwrap();
        let plain: Rnn<f64> = Rnn::new(
            cfg.zoneout(Zoneout::default()),
            &Init::default(),
            &mut Rng::new(5),
        )
        .unwrap();
        let (t, b) = (7, 2);
        let x = randn(&[t, b, 4], &mut rng);
        let (seq, _) = rnn.forward(&x, None, None, None).unwrap();
        let (unzoned, _) = plain.forward(&x, None, None, None).unwrap();
        assert_ne!(
            seq.output, unzoned.output,
            "{cell}: evaluation ignores zoneout"
        );
        let mut state: RnnState<f64> = rnn.zero_state(b);
        let mut scratch = StepScratch::default();
        let mut worst: f64 = 0.0;
        for ti in 0..t {
            let xt = &x.data()[ti * b * 4..(ti + 1) * b * 4];
            let h = rnn.step(xt, &mut state, &mut scratch).unwrap();
            let want = &seq.output.data()[ti * b * 6..(ti + 1) * b * 6];
            for (a, w) in h.iter().zip(want) {
                worst = worst.max((a - w).abs());
            }
        }
        assert!(worst < 1e-12, "{cell}: stream differs by {worst:e}");
    }
}

#[test]
fn bad_zoneout_settings_are_named() {
    let e = "1.5".parse::<Zoneout>().unwrap_err().to_string();
    assert!(e.contains("[0, 1)"), "{e}");
    let e = "a,b".parse::<Zoneout>().unwrap_err().to_string();
    assert!(e.contains("H,C"), "{e}");
    assert_eq!(
        "0.05,0.5".parse::<Zoneout>().unwrap(),
        Zoneout { h: 0.05, c: 0.5 }
    );
    assert_eq!("0.1".parse::<Zoneout>().unwrap(), Zoneout::both(0.1));
    for cfg in [
        RnnConfig::new(CellKind::MinGru, 3, 4),
        RnnConfig::new(CellKind::Lstm, 3, 4).proj_size(2),
    ] {
        let e = Rnn::<f64>::new(
            cfg.zoneout(Zoneout::both(0.1)),
            &Init::default(),
            &mut Rng::new(0),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("zoneout"), "{e}");
    }
    // ONNX's operators cannot mix states: export refuses, naming zoneout.
    let zoned = Rnn::<f32>::new(
        RnnConfig::new(CellKind::Lstm, 3, 4).zoneout(Zoneout::both(0.1)),
        &Init::default(),
        &mut Rng::new(0),
    )
    .unwrap();
    let e = recurrent::onnx::rnn::check_exportable(&zoned, "the encoder")
        .unwrap_err()
        .to_string();
    assert!(e.contains("zoneout"), "{e}");
    // Off, the layer's stored config has no key; on, it round-trips.
    let plain = serde_json::to_string(&RnnConfig::new(CellKind::Lstm, 3, 4)).unwrap();
    assert!(!plain.contains("zoneout"), "{plain}");
    let on = RnnConfig::new(CellKind::Lstm, 3, 4).zoneout(Zoneout { h: 0.1, c: 0.3 });
    let back: RnnConfig = serde_json::from_str(&serde_json::to_string(&on).unwrap()).unwrap();
    assert_eq!(back, on);
}
