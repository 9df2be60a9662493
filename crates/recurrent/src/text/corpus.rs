//! Plain-text corpora for language modelling: reading (UTF-8, with errors that say where),
//! the train / validation split by position, and truncated-BPTT batching over `B` contiguous
//! streams, exactly as the PyTorch character-LM benchmark (`pytorch_charlm.py`) does it, so both programs train
//! on the same data in the same order.

use crate::error::{Error, Result};
use std::path::Path;

/// Reads a UTF-8 text file. A missing, unreadable, empty or non-UTF-8 file is an error that
/// names the file and, for bad UTF-8, the line and byte offset.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_text(&bytes, path)
}

/// Reads bytes as text in `encoding` (None: UTF-8, with an error that says where it fails and
/// suggests `--encoding`). A UTF-8 BOM is dropped.
pub fn decode(bytes: &[u8], path: &Path, encoding: Option<&str>) -> Result<String> {
    let label = encoding.unwrap_or("utf-8");
    let enc = encoding_rs::Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| {
        Error::Config(format!(
            "--encoding: unknown encoding `{label}` (try utf-8, windows-1252, latin1, utf-16le)"
        ))
    })?;
    if enc == encoding_rs::UTF_8 {
        return decode_text(bytes, path).map_err(|e| match e {
            Error::Format { path, msg } if msg.contains("UTF-8") => Error::Format {
                path,
                msg: format!("{msg}; or read it as it is with `--encoding windows-1252` (as rt-polarity needs)"),
            },
            e => e,
        });
    }
    if bytes.is_empty() {
        return Err(Error::format(path, "the file is empty"));
    }
    let (text, _, _) = enc.decode(bytes);
    Ok(text.into_owned())
}

/// Decodes bytes as UTF-8 text (see [`read_text`]); `path` is only for messages.
pub fn decode_text(bytes: &[u8], path: &Path) -> Result<String> {
    if bytes.is_empty() {
        return Err(Error::format(
            path,
            "the file is empty: give a text file with some content",
        ));
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.strip_prefix('\u{feff}').unwrap_or(s).to_string()),
        Err(e) => {
            let at = e.valid_up_to();
            let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            Err(Error::format(
                path,
                format!(
                    "not valid UTF-8 at byte {at} (line {line}): convert it first, e.g. `iconv -f WINDOWS-1252 -t UTF-8`"
                ),
            ))
        }
    }
}

/// Splits a token sequence by position: the first `1 - val_frac` train, the rest validate
/// (`split = floor(len * (1 - val_frac))`, as pytorch_charlm.py computes it).
pub fn split_by_position<T: Clone>(ids: &[T], val_frac: f64) -> (Vec<T>, Vec<T>) {
    let split = ((ids.len() as f64) * (1.0 - val_frac)) as usize;
    let split = split.min(ids.len());
    (ids[..split].to_vec(), ids[split..].to_vec())
}

/// Truncated-BPTT batches over `B` contiguous streams of a token sequence.
///
/// The training tokens are cut into `B` equal streams of `per_stream = (len - 1) / B` tokens
/// (stream b starts at b * per_stream); step k reads tokens `[pos, pos + seq_len)` of every
/// stream as input and the next token of each as target, with `pos` advancing by `seq_len`.
/// When fewer than `seq_len` tokens remain, the position wraps to 0 and the carried state is
/// reset (an epoch boundary), as pytorch_charlm.py does.
#[derive(Clone, Debug)]
pub struct StreamBatcher {
    /// [per_stream, B] inputs, time-major.
    inputs: Vec<u32>,
    /// [per_stream, B] targets.
    targets: Vec<u32>,
    per_stream: usize,
    batch: usize,
    seq_len: usize,
}

/// One truncated-BPTT chunk.
#[derive(Clone, Debug)]
pub struct Chunk<'a> {
    /// [T, B] token ids, time-major.
    pub inputs: &'a [u32],
    /// [T, B] next-token targets.
    pub targets: &'a [u32],
    /// T.
    pub seq_len: usize,
    /// Whether the carried state must be reset before this chunk (start of an epoch).
    pub reset: bool,
}

impl StreamBatcher {
    /// Errors if the text is too short for one chunk of `seq_len` in each of `batch` streams.
    pub fn new(ids: &[u32], batch: usize, seq_len: usize) -> Result<Self> {
        if batch == 0 || seq_len == 0 {
            return Err(Error::Config(
                "--batch and --seq-len must be at least 1".into(),
            ));
        }
        let per_stream = ids.len().saturating_sub(1) / batch;
        if per_stream < seq_len {
            return Err(Error::Input(format!(
                "the training text has {} tokens: too short for {batch} streams of --seq-len {seq_len}; lower --batch or --seq-len",
                ids.len()
            )));
        }
        let mut inputs = vec![0u32; per_stream * batch];
        let mut targets = vec![0u32; per_stream * batch];
        for b in 0..batch {
            for p in 0..per_stream {
                inputs[p * batch + b] = ids[b * per_stream + p];
                targets[p * batch + b] = ids[b * per_stream + p + 1];
            }
        }
        Ok(StreamBatcher {
            inputs,
            targets,
            per_stream,
            batch,
            seq_len,
        })
    }

    /// Chunks in one pass over the streams.
    pub fn chunks_per_epoch(&self) -> usize {
        self.per_stream / self.seq_len
    }

    /// The chunk at stream position `pos` (a multiple of seq_len), and the position after it.
    /// A position that leaves fewer than seq_len tokens wraps to 0 with `reset` set.
    pub fn chunk_at(&self, pos: usize) -> (Chunk<'_>, usize) {
        let (pos, reset) = if pos + self.seq_len > self.per_stream {
            (0, true)
        } else {
            (pos, pos == 0)
        };
        let (a, b) = (pos * self.batch, (pos + self.seq_len) * self.batch);
        (
            Chunk {
                inputs: &self.inputs[a..b],
                targets: &self.targets[a..b],
                seq_len: self.seq_len,
                reset,
            },
            pos + self.seq_len,
        )
    }

    pub fn batch(&self) -> usize {
        self.batch
    }
}

/// Which part of a corpus an example belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Train,
    Valid,
    Test,
}

/// A corpus divided into its parts, each in the corpus' order.
#[derive(Clone, Debug, PartialEq)]
pub struct Parts<T> {
    pub train: Vec<T>,
    pub valid: Vec<T>,
    pub test: Vec<T>,
}

impl<T> Default for Parts<T> {
    fn default() -> Self {
        Parts {
            train: Vec::new(),
            valid: Vec::new(),
            test: Vec::new(),
        }
    }
}

impl<T> Parts<T> {
    /// Puts each item in the part `part_of` names, keeping the order.
    pub fn divide(items: impl IntoIterator<Item = T>, mut part_of: impl FnMut(&T) -> Part) -> Self {
        let mut parts = Parts::default();
        for item in items {
            match part_of(&item) {
                Part::Train => parts.train.push(item),
                Part::Valid => parts.valid.push(item),
                Part::Test => parts.test.push(item),
            }
        }
        parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_keep_each_item_once_in_order() {
        let p = Parts::divide(0..10, |&i| match i % 3 {
            0 => Part::Train,
            1 => Part::Valid,
            _ => Part::Test,
        });
        assert_eq!(p.train, vec![0, 3, 6, 9]);
        assert_eq!(p.valid, vec![1, 4, 7]);
        assert_eq!(p.test, vec![2, 5, 8]);
    }

    #[test]
    fn streams_match_pytorch_charlm_layout() {
        let ids: Vec<u32> = (0..23).collect();
        let sb = StreamBatcher::new(&ids, 2, 4).unwrap();
        // per_stream = 22 / 2 = 11: stream 0 is 0..11, stream 1 is 11..22.
        let (c, next) = sb.chunk_at(0);
        assert!(c.reset);
        assert_eq!(c.inputs, &[0, 11, 1, 12, 2, 13, 3, 14]);
        assert_eq!(c.targets, &[1, 12, 2, 13, 3, 14, 4, 15]);
        let (c, next) = sb.chunk_at(next);
        assert!(!c.reset);
        assert_eq!(c.inputs[0], 4);
        // 8 + 4 > 11: wraps.
        let (c, next) = sb.chunk_at(next);
        assert!(c.reset);
        assert_eq!(c.inputs[0], 0);
        assert_eq!(next, 4);
        assert_eq!(sb.chunks_per_epoch(), 2);
    }

    #[test]
    fn bad_text_is_an_error_naming_the_place() {
        let p = Path::new("x.txt");
        assert!(decode_text(b"", p)
            .unwrap_err()
            .to_string()
            .contains("empty"));
        let e = decode_text(b"ok\nfine\n\xff bad", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("byte 8") && e.contains("line 3"), "{e}");
        assert_eq!(decode_text("\u{feff}hi".as_bytes(), p).unwrap(), "hi");
        assert!(StreamBatcher::new(&[1, 2, 3], 2, 4).is_err());
    }

    #[test]
    fn split_is_by_position() {
        let ids: Vec<u32> = (0..10).collect();
        let (t, v) = split_by_position(&ids, 0.1);
        assert_eq!(t.len(), 9);
        assert_eq!(v, vec![9]);
    }
}
