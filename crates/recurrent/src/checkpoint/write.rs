//! Atomic checkpoint writes: the new file appears whole or not at all.
//!
//! The bytes go to a temporary file beside the target, named `.NAME.tmp-PID-SEQ` (hidden,
//! recognisable, unique per process and call), which is flushed to disk (`fsync`) and then
//! renamed over the target; the directory is synced so the rename itself survives a power
//! cut. On any failure before the rename (disk full, file-size limit, permissions) the
//! temporary file is removed and the target keeps its previous content. A crash in between
//! leaves only a temporary file, which [`remove_stale_temp_files`] cleans up.

use super::format::{encode_header, TensorSource};
use super::Checkpoint;
use crate::error::{Error, Result};
use crate::float::Float;
use crate::tensor::Tensor;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Numbers the writes of this process, so two threads never share a temporary file.
static SEQ: AtomicU64 = AtomicU64::new(0);

/// The marker between a target's name and the writer's process id.
const TMP_MARK: &str = ".tmp-";

/// Writes float tensors (in `F`'s dtype, sorted by name) and `metadata` to `path`,
/// atomically. Errors on a name given twice or the reserved `__metadata__`.
pub fn write<F: Float>(
    path: impl AsRef<Path>,
    tensors: &[(String, &Tensor<F>)],
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let mut list: Vec<(&str, &dyn TensorSource)> = tensors
        .iter()
        .map(|(n, t)| (n.as_str(), *t as &dyn TensorSource))
        .collect();
    write_sources(path.as_ref(), &mut list, metadata)
}

/// Writes every tensor of `ckpt` (parameters and training state, bytes exactly as held) and
/// its metadata to `path`, atomically.
pub fn write_checkpoint(path: impl AsRef<Path>, ckpt: &Checkpoint) -> Result<()> {
    let mut list: Vec<(&str, &dyn TensorSource)> = ckpt
        .tensors
        .iter()
        .map(|(n, t)| (n.as_str(), t as &dyn TensorSource))
        .collect();
    write_sources(path.as_ref(), &mut list, &ckpt.metadata)
}

fn write_sources(
    path: &Path,
    tensors: &mut [(&str, &dyn TensorSource)],
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let header = encode_header(tensors, metadata, path)?;
    write_atomic(path, |w| {
        w.write_all(&header)?;
        for (_, t) in tensors.iter() {
            t.write_bytes(w)?;
        }
        Ok(())
    })
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename, fsync of the
/// directory): a run's config, metrics and other small files.
pub fn write_file_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    write_atomic(path.as_ref(), |w| w.write_all(bytes))
}

/// Runs `fill` on a temporary file beside `path`, then moves it over `path`.
fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<()> {
    let Some(file_name) = path.file_name() else {
        return Err(Error::format(path, "not a file path (it has no file name)"));
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(format!(
        ".{}{TMP_MARK}{}-{}",
        file_name.to_string_lossy(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let failed = |e: io::Error, what: &str| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(
            path,
            io::Error::new(
                e.kind(),
                format!(
                    "{what} failed: {e}. The previous checkpoint, if any, is unchanged; free \
                     disk space or check permissions and save again"
                ),
            ),
        )
    };
    // PID and sequence number make the name unique among live writers; a file already there
    // is a dead process's leftover, safe to truncate.
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| failed(e, &format!("creating {}", tmp.display())))?;
    let mut w = BufWriter::new(file);
    fill(&mut w).map_err(|e| failed(e, "writing the checkpoint"))?;
    test_delay();
    let file = w
        .into_inner()
        .map_err(|e| failed(e.into_error(), "writing the checkpoint"))?;
    // Data on disk before the rename, or a crash could leave the new name on empty blocks.
    file.sync_all()
        .map_err(|e| failed(e, "flushing the checkpoint to disk"))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| failed(e, "renaming over the target"))?;
    sync_dir(&dir).map_err(|e| {
        Error::io(
            &dir,
            io::Error::new(
                e.kind(),
                format!(
                    "{} was written, but syncing its directory failed ({e}): a power cut now \
                     could lose it",
                    path.display()
                ),
            ),
        )
    })
}

/// Tests only: `RECURRENT_TEST_WRITE_DELAY_MS` holds every write open (temporary file
/// written, not yet renamed) for that long, so that a test can kill the process inside the
/// window and prove the previous file survives.
fn test_delay() {
    if let Some(ms) = std::env::var("RECURRENT_TEST_WRITE_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms.min(10_000)));
    }
}

/// Makes a rename in `dir` durable. Filesystems that cannot sync a directory say so with
/// `InvalidInput` or `Unsupported`; there is nothing more to do on those.
fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir).and_then(|d| d.sync_all()) {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
            ) =>
        {
            Ok(())
        }
        other => other,
    }
}

/// Whether `name` is a temporary file of [`write`] (`.NAME.tmp-PID-SEQ`), and its PID.
fn temp_file_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (target, tail) = rest.rsplit_once(TMP_MARK)?;
    let (pid, seq) = tail.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if target.is_empty() || !digits(pid) || !digits(seq) {
        return None;
    }
    pid.parse().ok()
}

/// Removes the temporary files that interrupted writes left in `dir` (those of other
/// processes; this process's own may be in progress). Returns the paths removed.
///
/// Call it while holding the directory's [`super::RunLock`]: the lock is what guarantees no
/// other process is writing there now.
pub fn remove_stale_temp_files(dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    let own = std::process::id();
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temp_file_pid) else {
            continue;
        };
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if pid != own && is_file {
            let p = entry.path();
            std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            removed.push(p);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::temp_file_pid;

    #[test]
    fn recognises_only_our_temp_names() {
        assert_eq!(temp_file_pid(".latest.safetensors.tmp-123-0"), Some(123));
        assert_eq!(temp_file_pid(".a.tmp-b.tmp-7-12"), Some(7));
        assert_eq!(temp_file_pid("latest.safetensors.tmp-123-0"), None);
        assert_eq!(temp_file_pid(".latest.safetensors"), None);
        assert_eq!(temp_file_pid(".x.tmp-12a-0"), None);
        assert_eq!(temp_file_pid(".x.tmp-12-"), None);
        assert_eq!(temp_file_pid("..tmp-12-3"), None);
    }
}
