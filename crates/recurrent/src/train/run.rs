//! A run directory: what a training run writes, and how a killed run is found again.
//!
//! ```text
//! DIR/.lock                         flock'ed while a run uses DIR
//! DIR/config.json                   the run's flags, model config and vocabulary
//! DIR/command.json                  how it was started (the CLI's arguments and input
//!                                   files' fingerprints), when the caller gives one
//! DIR/checkpoints/step-NNNNNNNNN.safetensors
//!                                   weights + training state (optimizer moments under
//!                                   `train_state.optim.`, the task's carried tensors under
//!                                   `train_state.task.`, step/RNG/position as JSON in the
//!                                   metadata); the last
//!                                   `keep` are kept, the newest readable one is `latest`
//! DIR/best.safetensors              weights of the best validation score (the latest where
//!                                   there is no validation)
//! DIR/metrics.jsonl                 one JSON object per line (train and eval events)
//! DIR/*.png                         plots
//! DIR/tensorboard/events.out.tfevents.*
//!                                   the metrics, samples, results and plots for
//!                                   TensorBoard, one file per process (see [`super::tensorboard`])
//! ```
//! Every file is written atomically (temporary file, fsync, rename, fsync of the directory),
//! so a kill at any moment leaves each file either as it was or complete.

use crate::checkpoint::{self, Checkpoint, RunLock};
use crate::error::{Error, Result};
use crate::float::Float;
use crate::param::Module;
use crate::tensor::Tensor;
use crate::train::tensorboard::{self, EventWriter};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// An open run directory, locked against a second run.
pub struct RunDir {
    path: PathBuf,
    _lock: RunLock,
    tensorboard: Option<EventWriter>,
}

impl RunDir {
    /// Opens (creating) `path` for a run and takes its lock. With `resume` false, a directory
    /// that already holds a run is an error that names `--resume`.
    pub fn open(path: &Path, resume: bool) -> Result<Self> {
        std::fs::create_dir_all(path.join("checkpoints")).map_err(|e| Error::io(path, e))?;
        let lock = RunLock::acquire(path)?;
        let dir = RunDir {
            path: path.to_path_buf(),
            _lock: lock,
            tensorboard: None,
        };
        if !resume && dir.path.join("config.json").exists() {
            return Err(Error::Config(format!(
                "{} already holds a run: add `--resume {}` to continue it, or choose another --out",
                path.display(),
                path.display()
            )));
        }
        checkpoint::remove_stale_temp_files(dir.path.join("checkpoints"))?;
        checkpoint::remove_stale_temp_files(&dir.path)?;
        Ok(dir)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `name` atomically with `bytes`.
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        checkpoint::write_file_atomic(self.path.join(name), bytes)
    }

    /// Reads `config.json` if present.
    pub fn read_config(&self) -> Result<Option<serde_json::Value>> {
        let p = self.path.join("config.json");
        if !p.exists() {
            return Ok(None);
        }
        let s = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        serde_json::from_str(&s)
            .map(Some)
            .map_err(|e| Error::format(&p, format!("not valid JSON: {e}")))
    }

    /// From now on, every metric and sample also goes to a new TensorBoard event file;
    /// `resumed_at` is the step a resumed run continues from.
    pub fn open_tensorboard(&mut self, resumed_at: Option<u64>) -> Result<()> {
        self.tensorboard = Some(EventWriter::create(&self.path, resumed_at)?);
        Ok(())
    }

    /// Appends one line to `metrics.jsonl` (flushed; a torn last line is skipped on reading),
    /// and its numbers to the TensorBoard log.
    pub fn append_metric(&mut self, value: &serde_json::Value) -> Result<()> {
        let p = self.path.join("metrics.jsonl");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .map_err(|e| Error::io(&p, e))?;
        writeln!(f, "{value}").map_err(|e| Error::io(&p, e))?;
        if let (Some(tb), Some(step)) = (&mut self.tensorboard, value["step"].as_u64()) {
            tb.scalars(step, &tensorboard::metric_scalars(value))?;
            tb.flush()?;
        }
        Ok(())
    }

    /// Whether metrics and samples go to a TensorBoard log.
    pub fn keeps_tensorboard(&self) -> bool {
        self.tensorboard.is_some()
    }

    /// Text samples (tag, text) at `step`, for TensorBoard's text dashboard.
    pub fn log_samples(&mut self, step: u64, samples: &[(String, String)]) -> Result<()> {
        if let Some(tb) = &mut self.tensorboard {
            for (tag, text) in samples {
                tb.text(step, tag, text)?;
            }
            tb.flush()?;
        }
        Ok(())
    }

    /// The metrics written so far (unreadable lines skipped).
    pub fn metrics(&self) -> Vec<serde_json::Value> {
        read_metrics(&self.path)
    }

    /// Drops metric lines past `step` (after resuming from an earlier checkpoint, so the
    /// history has no duplicates).
    pub fn truncate_metrics_after(&self, step: u64) -> Result<()> {
        let keep: Vec<String> = self
            .metrics()
            .into_iter()
            .filter(|m| m["step"].as_u64().is_none_or(|s| s <= step))
            .map(|m| m.to_string())
            .collect();
        let mut text = keep.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        self.write_file("metrics.jsonl", text.as_bytes())
    }

    /// Saves a checkpoint for `step` and deletes all but the newest `keep`.
    pub fn save_checkpoint<F: Float>(
        &self,
        step: u64,
        tensors: &[(String, &Tensor<F>)],
        metadata: &BTreeMap<String, String>,
        keep: usize,
    ) -> Result<PathBuf> {
        let p = self
            .path
            .join("checkpoints")
            .join(format!("step-{step:09}.safetensors"));
        checkpoint::write(&p, tensors, metadata)?;
        let all = list_checkpoints(&self.path)?;
        for old in all.iter().rev().skip(keep.max(1)) {
            // Best effort: a checkpoint we cannot delete costs only disk space.
            let _ = std::fs::remove_file(old);
        }
        Ok(p)
    }

    /// The checkpoint a run continues from, after checking the stored configuration
    /// against `config` (`resume`: the user asked to continue, so an empty directory is
    /// worth a word on `say`).
    pub fn resume_point(
        &self,
        config: &serde_json::Value,
        resume: bool,
        say: &mut dyn FnMut(&str),
    ) -> Result<Option<(PathBuf, Checkpoint)>> {
        let Some(stored) = self.read_config()? else {
            if resume {
                say(&format!(
                    "{}: no run here yet, starting from step 0",
                    self.path.display()
                ));
            }
            return Ok(None);
        };
        compare_configs(&stored, config, &self.path)?;
        let found = self.latest_checkpoint(&mut |w| say(&w))?;
        if found.is_none() {
            say(&format!(
                "{}: no checkpoint yet, starting from step 0",
                self.path.display()
            ));
        }
        Ok(found)
    }

    /// The newest checkpoint that reads back intact (a damaged newest one is reported on
    /// `warn` and the next older one used).
    pub fn latest_checkpoint(
        &self,
        warn: &mut dyn FnMut(String),
    ) -> Result<Option<(PathBuf, Checkpoint)>> {
        latest_checkpoint(&self.path, warn)
    }
}

/// Adds the numbers of `results.json` and `test_metrics.json` (the test scores) and the
/// run's plots (`*.png`) to the run's TensorBoard log, at the last step trained, if the run
/// keeps one (a `tensorboard/` folder: `--tensorboard false` makes none).
pub fn log_finished_run(run_dir: &Path) -> Result<()> {
    if !run_dir.join(tensorboard::DIR).is_dir() {
        return Ok(());
    }
    let step = read_metrics(run_dir)
        .iter()
        .filter_map(|m| m["step"].as_u64())
        .max()
        .unwrap_or(0);
    let mut w = EventWriter::create(run_dir, None)?;
    for (file, root) in [("results.json", "results"), ("test_metrics.json", "test")] {
        let json: Option<serde_json::Value> = std::fs::read_to_string(run_dir.join(file))
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok());
        if let Some(r) = json {
            w.scalars(step, &tensorboard::result_scalars(&r, root))?;
        }
    }
    let mut pngs: Vec<PathBuf> = std::fs::read_dir(run_dir)
        .map_err(|e| Error::io(run_dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    pngs.sort();
    for p in pngs {
        let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
        let tag = p.file_stem().and_then(|s| s.to_str()).unwrap_or("plot");
        w.png(step, &format!("plots/{tag}"), &bytes)?;
    }
    w.flush()
}

/// `DIR/checkpoints/step-*.safetensors`, oldest first.
pub fn list_checkpoints(dir: &Path) -> Result<Vec<PathBuf>> {
    let cdir = dir.join("checkpoints");
    if !cdir.is_dir() {
        return Ok(Vec::new());
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir(&cdir)
        .map_err(|e| Error::io(&cdir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("step-") && n.ends_with(".safetensors"))
        })
        .collect();
    v.sort();
    Ok(v)
}

/// The newest readable checkpoint of a run directory.
pub fn latest_checkpoint(
    dir: &Path,
    warn: &mut dyn FnMut(String),
) -> Result<Option<(PathBuf, Checkpoint)>> {
    for p in list_checkpoints(dir)?.into_iter().rev() {
        match checkpoint::read(&p) {
            Ok(c) => return Ok(Some((p, c))),
            Err(e) => warn(format!("skipping damaged checkpoint: {e}")),
        }
    }
    Ok(None)
}

/// The metrics of a run directory.
pub fn read_metrics(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .map(|s| {
            s.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Resolves `--checkpoint`: a run directory means its best checkpoint (else its latest), a
/// file means that file.
pub fn resolve_checkpoint(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        let best = path.join("best.safetensors");
        if best.is_file() {
            return Ok(best);
        }
        if let Some(p) = list_checkpoints(path)?.pop() {
            return Ok(p);
        }
        return Err(Error::format(
            path,
            "no checkpoint in this directory (no best.safetensors, nothing in checkpoints/)",
        ));
    }
    if !path.exists() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        ));
    }
    Ok(path.to_path_buf())
}

/// The model's parameters as (name, tensor) pairs.
pub fn named_params<F: Float, M: Module<F>>(model: &M) -> Vec<(String, Tensor<F>)> {
    let mut v = Vec::new();
    model.visit(&mut |p| v.push((p.name.clone(), p.value.clone())));
    v
}

/// The size in bytes and the SHA-256 (lower-case hex) of a file, read in 1 MiB blocks: what
/// a run stores of its input files so that a resume on changed data is refused rather than
/// trained on silently.
pub fn file_fingerprint(path: &Path) -> Result<(u64, String)> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, checkpoint::hex(&h.finalize())))
}

/// Checks a resumed run's configuration against the stored one and names every
/// difference in one error: each flag of `train` (`--batch`: stored 64, given 32), and each
/// other key, which the data decides (a different vocabulary is named as such: the data is
/// not what the run was trained on).
fn compare_configs(
    stored: &serde_json::Value,
    given: &serde_json::Value,
    dir: &Path,
) -> Result<()> {
    let null = serde_json::Value::Null;
    let show = |v: &serde_json::Value| crate::error::quote(&v.to_string());
    let mut flags = Vec::new();
    let mut data = Vec::new();
    let mut vocab = Vec::new();
    let empty = serde_json::Map::new();
    let (a, b) = (
        stored.as_object().unwrap_or(&empty),
        given.as_object().unwrap_or(&empty),
    );
    // A config without a `train` section is all flags (older runs, library users).
    let sections = a.contains_key("train") || b.contains_key("train");
    for (k, v) in b {
        let old = a.get(k).unwrap_or(&null);
        if sections && k == "train" {
            if let (Some(a), Some(b)) = (old.as_object(), v.as_object()) {
                for (f, v) in b {
                    // A setting newer than the stored run (its config predates the key):
                    // the run trained with what is now its default, so it is not a change.
                    let Some(old) = a.get(f) else {
                        continue;
                    };
                    if old != v {
                        flags.push(format!(
                            "--{}: stored {}, given {}",
                            f.replace('_', "-"),
                            show(old),
                            show(v)
                        ));
                    }
                }
                continue;
            }
        }
        if old == v {
            continue;
        }
        if !sections {
            flags.push(format!(
                "--{}: stored {}, given {}",
                k.replace('_', "-"),
                show(old),
                show(v)
            ));
        } else if k.contains("vocab") {
            vocab.push(format!(
                "the vocabulary ({k}) is not the run's: stored {}, now {}",
                show(old),
                show(v)
            ));
        } else {
            data.push(format!("{k}: stored {}, now {}", show(old), show(v)));
        }
    }
    // What the flags set (the model's sizes) follows from them, and a vocabulary that
    // changed changes the model's shapes: name the cause, not each consequence.
    let what = if !flags.is_empty() {
        format!(
            "{} flag(s) differ from the run: {}",
            flags.len(),
            flags.join("; ")
        )
    } else if !vocab.is_empty() {
        format!(
            "the data is not what the run was trained on: {}",
            vocab.join("; ")
        )
    } else if !data.is_empty() {
        format!(
            "the data is not what the run was trained on: {}",
            data.join("; ")
        )
    } else {
        return Ok(());
    };
    Err(Error::Config(format!(
        "cannot resume {}: {what}. Resume with the run's own flags and data (`--resume {}` \
         alone reuses them), or start a new --out",
        dir.display(),
        dir.display()
    )))
}
