//! Shared helpers for the integration tests: reading the PyTorch fixture files.
#![allow(dead_code)]

use recurrent::cell::GruForm;
use recurrent::layer::RnnState;
use recurrent::{CellKind, Module, Rnn, RnnConfig, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One fixture: its config, and every tensor in f64 (lengths as f64 too).
pub struct Fixture {
    pub name: String,
    pub config: serde_json::Value,
    pub tensors: HashMap<String, Tensor<f64>>,
}

impl Fixture {
    pub fn load(path: &Path) -> Result<Fixture, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let (_, meta) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| format!("{e}"))?;
        let cfg = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("config"))
            .ok_or_else(|| format!("{}: no config in metadata", path.display()))?;
        let config: serde_json::Value =
            serde_json::from_str(cfg).map_err(|e| format!("config: {e}"))?;
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            let data: Vec<f64> = match view.dtype() {
                safetensors::Dtype::F64 => view
                    .data()
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
                safetensors::Dtype::I64 => view
                    .data()
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
                    .collect(),
                safetensors::Dtype::F32 => view
                    .data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                    .collect(),
                other => return Err(format!("{name}: unsupported dtype {other:?}")),
            };
            tensors.insert(
                name.to_string(),
                Tensor::from_vec(view.shape(), data).map_err(|e| e.to_string())?,
            );
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        Ok(Fixture {
            name,
            config,
            tensors,
        })
    }

    pub fn get(&self, name: &str) -> Result<&Tensor<f64>, String> {
        self.tensors
            .get(name)
            .ok_or_else(|| format!("{}: tensor `{name}` missing", self.name))
    }

    fn usize(&self, key: &str) -> Result<usize, String> {
        self.config[key]
            .as_u64()
            .map(|v| v as usize)
            .ok_or_else(|| format!("{}: config `{key}` missing", self.name))
    }
    fn flag(&self, key: &str) -> bool {
        self.config[key].as_bool().unwrap_or(false)
    }

    pub fn rnn_config(&self) -> Result<RnnConfig, String> {
        let cell: CellKind = self.config["cell"]
            .as_str()
            .ok_or("no cell")?
            .parse()
            .map_err(|e: recurrent::Error| e.to_string())?;
        Ok(
            RnnConfig::new(cell, self.usize("input_size")?, self.usize("hidden_size")?)
                .layers(self.usize("num_layers")?)
                .bidirectional(self.flag("bidirectional"))
                .bias(self.config["bias"].as_bool().unwrap_or(true))
                .batch_first(self.flag("batch_first"))
                .proj_size(self.config["proj_size"].as_u64().unwrap_or(0) as usize)
                .gru_form(GruForm::Pytorch)
                .zoneout(self.zoneout()),
        )
    }

    /// The layer with the file's weights; every parameter must be present with its shape.
    pub fn build<F: recurrent::Float>(&self) -> Result<Rnn<F>, String> {
        let mut rnn: Rnn<F> = Rnn::new(
            self.rnn_config()?,
            &Default::default(),
            &mut recurrent::Rng::new(0),
        )
        .map_err(|e| e.to_string())?;
        let mut err = None;
        rnn.visit_mut(&mut |p| match self.tensors.get(&p.name) {
            Some(t) if t.shape() == p.shape() => p.value = t.cast(),
            Some(t) => {
                err = Some(format!(
                    "{}: shape {:?} != {:?}",
                    p.name,
                    t.shape(),
                    p.shape()
                ))
            }
            None => err = Some(format!("{}: parameter missing from file", p.name)),
        });
        if let Some(e) = err {
            return Err(format!("{}: {e}", self.name));
        }
        Ok(rnn)
    }

    /// The rates of a zoneout fixture (`"zoneout": [h, c]`), none for the others.
    pub fn zoneout(&self) -> recurrent::cell::zoneout::Zoneout {
        let rate = |i: usize| self.config["zoneout"][i].as_f64().unwrap_or(0.0);
        recurrent::cell::zoneout::Zoneout {
            h: rate(0),
            c: rate(1),
        }
    }

    pub fn lengths(&self) -> Option<Vec<usize>> {
        self.tensors
            .get("lengths")
            .map(|t| t.data().iter().map(|&v| v as usize).collect())
    }
}

/// Compares one tensor in f64 with |a - b| <= 1e-9 max(1, |b|) per element and the
/// README's scale-aware rule |a - b| <= 1e-10 |b| + 1e-12 max|b|; returns its max |a-b|/max(1,|b|) or an error naming the tensor.
pub fn compare(case: &str, what: &str, a: &Tensor<f64>, b: &Tensor<f64>) -> Result<f64, String> {
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

/// The layer built from the file, forward and backward with the file's loss, against every
/// tensor of the file; a tensor it does not understand fails.
pub fn check_layer(fx: &Fixture) -> Result<f64, String> {
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

/// The fixtures directory: `RECURRENT_FIXTURES`, else the committed copy.
pub fn fixtures_dir() -> PathBuf {
    match std::env::var_os("RECURRENT_FIXTURES") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch"),
    }
}

/// Every `*.safetensors` file in the fixtures directory, sorted.
pub fn fixture_files() -> Vec<PathBuf> {
    let dir = fixtures_dir();
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no *.safetensors in {}", dir.display());
    v
}

/// The shared data folder: `RECURRENT_SHARED` (relative to the workspace root), else
/// `../shared` beside the repository. `None` (after printing `skipped: ...`) when absent,
/// except under `CI=true`, where a missing folder fails.
pub fn shared_dir() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let p = match std::env::var_os("RECURRENT_SHARED") {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                root.join(d)
            }
        }
        None => root.join("../shared"),
    };
    if p.is_dir() {
        return Some(p);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "shared folder {} not found (CI=true requires it)",
            p.display()
        );
    }
    println!("skipped: {} not found", p.display());
    None
}
