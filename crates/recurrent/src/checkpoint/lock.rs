//! One run per directory: an exclusive lock on `DIR/.lock`.
//!
//! The lock is the operating system's (`flock` on Unix, `LockFileEx` on Windows, through
//! `std::fs::File::try_lock`), tied to the open file: the kernel releases it when the
//! process ends, however it ends. So a `.lock` file left behind by a killed run never
//! blocks a resume; only a live process holding it does. The file itself is never deleted
//! (deleting it would let a second run lock a fresh file while the first still holds the
//! old one); it holds the holder's process id, for the error message.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// An exclusive lock on a run directory, held until dropped.
#[derive(Debug)]
pub struct RunLock {
    // Holding the open file holds the lock; dropping it releases the lock.
    file: File,
    dir: PathBuf,
}

impl RunLock {
    /// The lock file's name inside the run directory.
    pub const FILE_NAME: &'static str = ".lock";

    /// Locks `dir` (created if missing) for this process, or fails at once, without
    /// waiting, if another run holds it.
    pub fn acquire(dir: impl AsRef<Path>) -> Result<RunLock> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join(Self::FILE_NAME);
        // No truncation on open: the file may be the holder's, with its pid in it.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let who = match holder.trim().parse::<u32>() {
                    Ok(pid) => format!("another run (process {pid})"),
                    Err(_) => "another run".to_string(),
                };
                return Err(Error::io(
                    dir,
                    io::Error::new(
                        io::ErrorKind::WouldBlock,
                        format!(
                            "{who} is using {}; wait for it to finish, stop it, or choose \
                             another directory",
                            dir.display()
                        ),
                    ),
                ));
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        let record = (|| {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            writeln!(file, "{}", std::process::id())?;
            file.flush()
        })();
        record.map_err(|e| Error::io(&path, e))?;
        Ok(RunLock {
            file,
            dir: dir.to_path_buf(),
        })
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Closing the file releases the lock as well; unlocking explicitly keeps the release
        // correct even if the descriptor were ever duplicated. Nothing useful to do on error.
        let _ = self.file.unlock();
    }
}
