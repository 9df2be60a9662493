//! Replays PyTorch optimizer trajectories (`scripts/gen_optim_fixtures.py`, float64,
//! `foreach=False`) and checks every parameter after every step, and the final state buffers,
//! to 1e-12 relative: SGD, Adam, AdamW, RMSprop and Adagrad under several option sets, with the
//! learning rate changed half-way through.

use recurrent::optim::{OptimConfig, Optimizer};
use recurrent::{Module, Param, Tensor};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/optim/optim.json");

/// Two free parameters under the fixture's names.
struct Params(Vec<Param<f64>>);

impl Module<f64> for Params {
    fn visit(&self, f: &mut dyn FnMut(&Param<f64>)) {
        self.0.iter().for_each(f);
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<f64>)) {
        self.0.iter_mut().for_each(f);
    }
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// |a - b| <= 1e-12 * max(|b|, 1e-3): relative, with a floor for entries near zero.
fn assert_close(a: &[f64], b: &[f64], what: &str) -> f64 {
    assert_eq!(a.len(), b.len(), "{what}: length");
    let mut worst = 0.0f64;
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        let err = (x - y).abs() / y.abs().max(1e-3);
        assert!(
            err <= 1e-12,
            "{what}[{k}]: {x} vs torch {y} (rel err {err:e})"
        );
        worst = worst.max(err);
    }
    worst
}

/// The fixture's config as an [`OptimConfig`]: the optimizer name becomes serde's tag.
fn config(case: &Value) -> OptimConfig {
    let mut cfg = case["config"].clone();
    cfg["name"] = case["optimizer"].clone();
    serde_json::from_value(cfg).expect("optimizer config")
}

struct Fixture {
    doc: Value,
}

impl Fixture {
    fn load() -> Self {
        Fixture {
            doc: serde_json::from_str(FIXTURE).expect("fixture JSON"),
        }
    }
    fn params(&self) -> Params {
        let names = self.doc["names"].as_array().expect("names");
        let shapes = self.doc["shapes"].as_array().expect("shapes");
        let init = self.doc["init"].as_array().expect("init");
        Params(
            names
                .iter()
                .zip(shapes)
                .zip(init)
                .map(|((n, s), v)| {
                    let shape: Vec<usize> = serde_json::from_value(s.clone()).expect("shape");
                    let t = Tensor::from_vec(&shape, floats(v)).expect("init tensor");
                    Param::new(n.as_str().expect("name"), t)
                })
                .collect(),
        )
    }
    fn set_grads(&self, m: &mut Params, step: usize) {
        let g = &self.doc["grads"][step];
        for (k, p) in m.0.iter_mut().enumerate() {
            p.grad.data_mut().copy_from_slice(&floats(&g[k]));
        }
    }
    fn cases(&self) -> &Vec<Value> {
        self.doc["cases"].as_array().expect("cases")
    }
}

#[test]
fn optimizers_match_pytorch() {
    let fx = Fixture::load();
    assert!(fx.cases().len() >= 15);
    for case in fx.cases() {
        let cfg = config(case);
        let label = format!("{} {}", case["optimizer"], case["config"]);
        let mut m = fx.params();
        let mut opt = cfg.build::<f64>().expect("valid config");
        let lrs = floats(&case["lrs"]);
        let mut worst = 0.0f64;
        for (t, lr) in lrs.iter().enumerate() {
            opt.set_lr(*lr);
            fx.set_grads(&mut m, t);
            opt.step(&mut m).expect("step");
            for (k, p) in m.0.iter().enumerate() {
                let want = floats(&case["after"][t][k]);
                let what = format!("{label} step {} {}", t + 1, p.name);
                worst = worst.max(assert_close(p.value.data(), &want, &what));
            }
        }
        // Final state buffers, under PyTorch's names.
        let want = case["state"].as_object().expect("state");
        let ours = opt.state_tensors();
        let mut names: Vec<&String> = ours.iter().map(|(n, _)| n).collect();
        names.sort();
        let mut want_names: Vec<&String> = want.keys().collect();
        want_names.sort();
        assert_eq!(names, want_names, "{label}: state buffer names");
        for (name, t) in &ours {
            worst = worst.max(assert_close(
                t.data(),
                &floats(&want[name]),
                &format!("{label} {name}"),
            ));
        }
        println!("{label} max_rel_err={worst:e}");
    }
}

#[test]
fn resumed_optimizers_match_pytorch() {
    // Save after 2 steps, rebuild from config + state, finish: same trajectory as PyTorch.
    let fx = Fixture::load();
    for case in fx.cases() {
        let cfg = config(case);
        let mut m = fx.params();
        let lrs = floats(&case["lrs"]);
        let mut opt: Box<dyn Optimizer<f64>> = cfg.build().expect("valid config");
        for (t, lr) in lrs.iter().enumerate() {
            if t == 2 {
                let state = serde_json::to_string(&opt.state()).expect("state JSON");
                let tensors = opt.state_tensors();
                opt = cfg.build().expect("valid config");
                opt.load_state(&m, &serde_json::from_str(&state).expect("state"), tensors)
                    .expect("load state");
            }
            opt.set_lr(*lr);
            fx.set_grads(&mut m, t);
            opt.step(&mut m).expect("step");
        }
        for (k, p) in m.0.iter().enumerate() {
            let want = floats(&case["after"][lrs.len() - 1][k]);
            assert_close(
                p.value.data(),
                &want,
                &format!("resumed {}", case["optimizer"]),
            );
        }
    }
}

#[test]
fn same_inputs_same_bits() {
    let fx = Fixture::load();
    for case in fx.cases() {
        let cfg = config(case);
        let run = || {
            let mut m = fx.params();
            let mut opt = cfg.build::<f64>().expect("valid config");
            for t in 0..3 {
                fx.set_grads(&mut m, t);
                opt.step(&mut m).expect("step");
            }
            m.0.iter()
                .flat_map(|p| p.value.data().iter().map(|v| v.to_bits()))
                .collect::<Vec<u64>>()
        };
        assert_eq!(run(), run(), "{}", case["optimizer"]);
    }
}
