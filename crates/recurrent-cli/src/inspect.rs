//! `recurrent inspect`: what a checkpoint or run holds: architecture, parameters, training
//! history, and the SHA-256 of its weights (to compare two runs from the shell).

use crate::common::print_json;
use anyhow::{bail, Result};
use clap::Args;
use recurrent::checkpoint;
use recurrent::train::run::{latest_checkpoint, read_metrics};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// A run directory or a checkpoint file
    #[arg(required_unless_present = "checkpoint")]
    pub path: Option<PathBuf>,
    /// The same, as the other commands spell it
    #[arg(long, value_name = "PATH", conflicts_with = "path")]
    pub checkpoint: Option<PathBuf>,
    /// Print one JSON object
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &InspectArgs) -> Result<()> {
    let Some(path) = a.path.as_ref().or(a.checkpoint.as_ref()) else {
        bail!("give a run directory or a checkpoint file: `recurrent inspect runs/NAME`");
    };
    let (latest, best, metrics) = if path.is_dir() {
        let latest = latest_checkpoint(path, &mut |w| say!("warning: {w}"))?;
        let best_path = path.join("best.safetensors");
        let best = if best_path.is_file() {
            Some((best_path.clone(), checkpoint::read(&best_path)?))
        } else {
            None
        };
        (latest, best, read_metrics(path))
    } else {
        let c = checkpoint::read(path)?;
        (Some((path.clone(), c)), None, Vec::new())
    };
    let Some((lpath, lck)) = latest.as_ref().or(best.as_ref()) else {
        bail!("{}: no checkpoint found", path.display());
    };
    let weights = lck.weights_only();
    let params: usize = weights
        .tensors
        .values()
        .map(|t| t.shape().iter().product::<usize>())
        .sum();
    let model: serde_json::Value = lck
        .metadata
        .get("model")
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let state: serde_json::Value = lck
        .metadata
        .get("train_state")
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let tensors: Vec<serde_json::Value> = weights
        .tensors
        .iter()
        .map(|(n, t)| serde_json::json!({"name": n, "shape": t.shape(), "dtype": t.dtype().to_string()}))
        .collect();
    let evals: Vec<&serde_json::Value> = metrics.iter().filter(|m| m["event"] == "eval").collect();
    // The validation loss of the best evaluation (the one best.safetensors holds): its
    // `val_loss` where the task's metric is another (accuracy, MASE), else the metric.
    let best_val_loss = evals
        .iter()
        .rev()
        .find(|e| e["best"] == true)
        .map(|e| {
            if e["val_loss"].is_null() {
                e["metric"].clone()
            } else {
                e["val_loss"].clone()
            }
        })
        .unwrap_or_default();
    let v = serde_json::json!({
        "path": path.display().to_string(),
        "checkpoint": lpath.display().to_string(),
        "task": model["task"],
        "model": model["model"],
        "train": model["train"],
        "params": params,
        "tensors": tensors,
        "step": state["step"],
        "finished": state["finished"],
        "train_s": state["trained_s"],
        "best_val_loss": best_val_loss,
        "best_metric": state["best"],
        "evals": evals,
        "weights_sha256": checkpoint::weights_sha256(&weights),
        "best_weights_sha256": best.as_ref().map(|(_, c)| checkpoint::weights_sha256(&c.weights_only())),
    });
    if a.json {
        print_json(&v);
        return Ok(());
    }
    out!("{}", lpath.display());
    if let Some(m) = model["model"].as_object() {
        out!(
            "task {}: {}",
            model["task"].as_str().unwrap_or("?"),
            serde_json::Value::Object(m.clone())
        );
    }
    out!("parameters: {params} in {} tensors", weights.tensors.len());
    for (n, t) in &weights.tensors {
        out!("  {n:<32} {:?} {}", t.shape(), t.dtype());
    }
    if !state.is_null() {
        out!(
            "step {} ({:.0} s of training){}",
            state["step"],
            state["trained_s"].as_f64().unwrap_or(0.0),
            if state["finished"] == true {
                ", finished"
            } else {
                ""
            }
        );
    }
    for e in evals {
        out!("  eval at step {}: val loss {}", e["step"], e["val_loss"]);
    }
    out!(
        "weights_sha256 {}",
        v["weights_sha256"].as_str().unwrap_or("")
    );
    if let Some(b) = v["best_weights_sha256"].as_str() {
        out!("best_weights_sha256 {b}");
    }
    Ok(())
}
