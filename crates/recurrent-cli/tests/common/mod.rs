//! What the end-to-end tests on real recordings share: where ../shared is, and running the
//! binary.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The shared folder (CONVENTIONS.md): `RECURRENT_SHARED`, else `../shared` beside the
/// repository; None (after `skipped: ...`) when absent, a failure under CI=true.
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
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "shared folder {} not found (CI=true requires it)",
        p.display()
    );
    println!("skipped: {} not found", p.display());
    None
}

pub fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(args)
        .output()
        .unwrap()
}

pub fn ok(args: &[&str]) -> String {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "recurrent {args:?} failed:\n{err}");
    String::from_utf8(o.stdout).unwrap()
}
