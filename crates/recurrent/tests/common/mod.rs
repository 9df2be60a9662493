//! Shared helpers for the integration tests: reading the PyTorch fixture files.
#![allow(dead_code)]

use recurrent::cell::GruForm;
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
                .gru_form(GruForm::Pytorch),
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

    pub fn lengths(&self) -> Option<Vec<usize>> {
        self.tensors
            .get("lengths")
            .map(|t| t.data().iter().map(|&v| v as usize).collect())
    }
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
