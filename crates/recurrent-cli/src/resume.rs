//! `recurrent train TASK --resume DIR` with no other flag: the command a run was started
//! with is kept in `DIR/command.json` (its arguments, and the size and SHA-256 of each input
//! file it names), and a resume is that command with the flags now given laid over it.
//!
//! Flags given on a resume replace the stored ones: a larger `--steps` or `--time-budget`
//! goes on training; a flag the run's configuration holds (`--hidden`, `--batch`, ...) must
//! agree with it, which the trainer checks, naming every difference at once. An input file
//! that changed since the run started is refused here, before anything is loaded.

use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The file in the run directory that holds the command.
pub const COMMAND_FILE: &str = "command.json";

/// Flags of the stored command that a resume drops: where the run is (given again as
/// `--resume`), and how this process reports. `--threads` stays: the run's bits may depend
/// on how its products were split.
const NOT_STORED: &[&str] = &["--out", "--resume", "--json"];

/// The arguments in effect (after [`expand`]), for [`record`].
static ARGS: OnceLock<Vec<String>> = OnceLock::new();

/// The process arguments, with a stored command laid under them when they are
/// `train TASK ... --resume DIR` and `DIR` holds one. The flag `true` says a command was
/// merged, so that repeated flags must be read as "the last one wins".
pub fn expand(args: Vec<OsString>) -> Result<(Vec<OsString>, bool)> {
    let strs: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let merged = merge(&strs)?;
    let used = merged.is_some();
    let effective = merged.unwrap_or(strs);
    let _ = ARGS.set(effective.clone());
    let out = if used {
        effective.into_iter().map(OsString::from).collect()
    } else {
        args
    };
    Ok((out, used))
}

/// The stored command under `args`, if `args` resume a run that has one.
fn merge(args: &[String]) -> Result<Option<Vec<String>>> {
    if args.get(1).map(String::as_str) != Some("train") {
        return Ok(None);
    }
    let Some(task) = args.get(2) else {
        return Ok(None);
    };
    let Some(dir) = flag_value(&args[3..], "--resume") else {
        return Ok(None);
    };
    let dir = PathBuf::from(dir);
    let path = dir.join(COMMAND_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    let stored: serde_json::Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: not valid JSON; delete it and resume with the run's flags",
            path.display()
        )
    })?;
    let argv: Vec<String> = stored["args"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if argv.len() < 2 || argv[0] != "train" {
        bail!(
            "{}: no `train` command in it; delete it and resume with the run's flags",
            path.display()
        );
    }
    if &argv[1] != task {
        bail!(
            "{} holds a run of `recurrent train {}`: continue it with `recurrent train {} --resume {}`",
            dir.display(),
            argv[1],
            argv[1],
            dir.display()
        );
    }
    // A flag given now replaces the stored one with all its values (`--data` of classify
    // takes several: laid over, they would add up).
    let given: Vec<&str> = args[3..]
        .iter()
        .filter(|a| a.starts_with("--"))
        .map(|a| a.split('=').next().unwrap_or(a))
        .collect();
    let mut drop: Vec<&str> = NOT_STORED.to_vec();
    drop.extend(given);
    let mut out = vec![args[0].clone()];
    out.extend(without(&argv, &drop));
    out.extend(args[3..].iter().cloned());
    check_files(&stored["files"], &out[3..], &dir)?;
    Ok(Some(out))
}

/// The value of `--name V` or `--name=V` (the last one given).
fn flag_value<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let mut found = None;
    for (i, a) in args.iter().enumerate() {
        if a == name {
            found = args.get(i + 1).map(String::as_str);
        } else if let Some(v) = a.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            found = Some(v);
        }
    }
    found
}

/// `argv` without the flags in `drop`, each with its values: the words up to the next
/// flag (a stored command is one clap accepted, and no value of ours begins with `--`).
fn without(argv: &[String], drop: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut dropping = false;
    for a in argv {
        if a.starts_with("--") {
            let name = a.split('=').next().unwrap_or(a);
            dropping = drop.contains(&name);
        }
        if !dropping {
            out.push(a.clone());
        }
    }
    out
}

/// The input files the arguments name: each value that is an existing file, under its flag.
fn files_named(args: &[String]) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        let Some(flag) = a.strip_prefix("--") else {
            continue;
        };
        let (flag, value) = match flag.split_once('=') {
            Some((f, v)) => (f, Some(v)),
            None => (flag, args.get(i + 1).map(String::as_str)),
        };
        if let Some(v) = value {
            if Path::new(v).is_file() {
                out.push((format!("--{flag}"), PathBuf::from(v)));
            }
        }
    }
    out
}

/// Refuses a resume whose input files are not, byte for byte, those the run started with
/// (same flag, same size and SHA-256; the path may differ).
fn check_files(stored: &serde_json::Value, args: &[String], dir: &Path) -> Result<()> {
    let Some(stored) = stored.as_object() else {
        return Ok(());
    };
    let now = files_named(args);
    let mut changed = Vec::new();
    for (flag, was) in stored {
        let Some((_, path)) = now.iter().rev().find(|(f, _)| f == flag) else {
            continue;
        };
        let (bytes, sha) = recurrent::train::run::file_fingerprint(path)?;
        let (old_bytes, old_sha) = (was["bytes"].as_u64(), was["sha256"].as_str());
        if old_bytes != Some(bytes) || old_sha != Some(sha.as_str()) {
            changed.push(format!(
                "{flag} {}: {bytes} bytes, SHA-256 {}..., but the run was trained on {} ({} bytes, SHA-256 {}...)",
                path.display(),
                &sha[..12],
                was["path"].as_str().unwrap_or("?"),
                old_bytes.map_or("?".to_string(), |b| b.to_string()),
                old_sha.map_or("?", |s| &s[..s.len().min(12)]),
            ));
        }
    }
    if changed.is_empty() {
        return Ok(());
    }
    bail!(
        "cannot resume {}: its data changed: {}. Resume with the files the run was trained on, or start a new --out",
        dir.display(),
        changed.join("; ")
    )
}

/// What `DIR/command.json` holds for this process: the arguments in effect (the program
/// name left out) and the fingerprint of each input file they name. None outside a
/// `train` command.
pub fn record() -> Result<Option<serde_json::Value>> {
    let Some(args) = ARGS.get() else {
        return Ok(None);
    };
    if args.get(1).map(String::as_str) != Some("train") {
        return Ok(None);
    }
    let args = &args[1..];
    let mut files = serde_json::Map::new();
    for (flag, path) in files_named(args) {
        let (bytes, sha) = recurrent::train::run::file_fingerprint(&path)?;
        files.insert(
            flag,
            serde_json::json!({"path": path.display().to_string(), "bytes": bytes, "sha256": sha}),
        );
    }
    Ok(Some(serde_json::json!({"args": args, "files": files})))
}

/// The command that continues the run in `out`, as this process was started.
pub fn again(out: &Path) -> Option<String> {
    let args = ARGS.get()?;
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("train"), Some(task)) => {
            Some(format!("recurrent train {task} --resume {}", out.display()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn a_resume_drops_where_and_how_but_keeps_what() {
        let argv =
            v("train lm --data a.txt --out runs/x --json --threads 2 --hidden=32 --resume=r");
        assert_eq!(
            without(&argv, NOT_STORED),
            v("train lm --data a.txt --threads 2 --hidden=32")
        );
    }

    #[test]
    fn the_last_value_of_a_flag_is_the_one_read() {
        let args = v("--resume a --steps 3 --resume=b");
        assert_eq!(flag_value(&args, "--resume"), Some("b"));
        assert_eq!(flag_value(&args, "--out"), None);
    }
}
