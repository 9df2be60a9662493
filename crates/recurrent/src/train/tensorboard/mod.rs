//! TensorBoard event files: what a run writes to `DIR/tensorboard/` so that
//! `tensorboard --logdir runs/` shows it while it trains.
//!
//! An event file is a sequence of TFRecords, each
//!
//! ```text
//! u64 length (little-endian) | u32 masked_crc32c(length bytes) | data | u32 masked_crc32c(data)
//! masked_crc32c(b) = rotate_right(crc32c(b), 15) + 0xa282ead8   (wrapping)
//! ```
//!
//! whose data is one protobuf [`proto::Event`]: first the file version, then scalars,
//! text and images. Each process that writes to a run opens its own file (TensorBoard
//! reads every file of the folder), so a resumed run never appends to a file a killed
//! process left torn. A resumed run starts its file with a `SessionLog START` at the step
//! it resumes from: TensorBoard then drops the older files' events past that step, which
//! the resumed run trains again.

pub mod proto;

use crate::error::{Error, Result};
use prost::Message;
use proto::{Event, Kind, SessionLog, Summary, Value, What};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The folder of a run's event files.
pub const DIR: &str = "tensorboard";

const MASK_DELTA: u32 = 0xa282_ead8;

fn masked_crc(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
        .rotate_right(15)
        .wrapping_add(MASK_DELTA)
}

/// Appends events to one new file in a run's `tensorboard/` folder.
pub struct EventWriter {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
}

impl EventWriter {
    /// A new event file in `run_dir/tensorboard/` (created), starting with the file version
    /// and, from `resumed_at`, the session marker that purges what a killed run wrote later.
    pub fn create(run_dir: &Path, resumed_at: Option<u64>) -> Result<Self> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let dir = run_dir.join(DIR);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // TensorBoard orders a folder's files by name: the time first, then what makes it unique.
        let name = format!(
            "events.out.tfevents.{secs:010}.recurrent.{}.{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.join(name);
        let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut w = EventWriter {
            path,
            file: std::io::BufWriter::new(file),
        };
        w.write(0, What::FileVersion("brain.Event:2".into()))?;
        if let Some(step) = resumed_at {
            w.write(
                step,
                What::SessionLog(SessionLog {
                    status: proto::SESSION_START,
                    msg: format!("resumed at step {step}"),
                }),
            )?;
        }
        w.flush()?;
        Ok(w)
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&mut self, step: u64, what: What) -> Result<()> {
        let wall_time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let ev = Event {
            wall_time,
            step: step.min(i64::MAX as u64) as i64,
            what: Some(what),
        };
        let data = ev.encode_to_vec();
        let len = (data.len() as u64).to_le_bytes();
        let mut rec = Vec::with_capacity(data.len() + 16);
        rec.extend_from_slice(&len);
        rec.extend_from_slice(&masked_crc(&len).to_le_bytes());
        rec.extend_from_slice(&data);
        rec.extend_from_slice(&masked_crc(&data).to_le_bytes());
        self.file
            .write_all(&rec)
            .map_err(|e| Error::io(&self.path, e))
    }

    fn summary(&mut self, step: u64, value: Vec<Value>) -> Result<()> {
        self.write(step, What::Summary(Summary { value }))
    }

    /// Scalars at `step`, in one event.
    pub fn scalars(&mut self, step: u64, values: &[(String, f64)]) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        let value = values
            .iter()
            .map(|(tag, v)| Value {
                tag: tag.clone(),
                metadata: None,
                kind: Some(Kind::SimpleValue(*v as f32)),
            })
            .collect();
        self.summary(step, value)
    }

    /// A text summary (the Text dashboard shows it as Markdown).
    pub fn text(&mut self, step: u64, tag: &str, text: &str) -> Result<()> {
        let value = Value {
            tag: tag.to_string(),
            metadata: Some(proto::SummaryMetadata {
                plugin_data: Some(proto::PluginData {
                    plugin_name: "text".into(),
                    content: Vec::new(),
                }),
            }),
            kind: Some(Kind::Tensor(proto::TensorProto {
                dtype: proto::DT_STRING,
                tensor_shape: Some(proto::TensorShapeProto::default()),
                string_val: vec![text.as_bytes().to_vec()],
            })),
        };
        self.summary(step, vec![value])
    }

    /// A PNG image; its size is read from the PNG header (an error names a file that is no
    /// PNG).
    pub fn png(&mut self, step: u64, tag: &str, png: &[u8]) -> Result<()> {
        let (width, height, colorspace) = png_header(png)
            .ok_or_else(|| Error::Input(format!("tensorboard image `{tag}`: not a PNG file")))?;
        let value = Value {
            tag: tag.to_string(),
            metadata: None,
            kind: Some(Kind::Image(proto::Image {
                height: height as i32,
                width: width as i32,
                colorspace,
                encoded_image_string: png.to_vec(),
            })),
        };
        self.summary(step, vec![value])
    }

    /// Hands what was written to the file, so a TensorBoard watching the run sees it now.
    pub fn flush(&mut self) -> Result<()> {
        self.file.flush().map_err(|e| Error::io(&self.path, e))
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        let _ = self.file.flush();
    }
}

/// Width, height and TensorBoard's colour space (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA)
/// from a PNG's signature and IHDR chunk.
fn png_header(png: &[u8]) -> Option<(u32, u32, i32)> {
    const SIG: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    if png.len() < 26 || png[..8] != SIG || &png[12..16] != b"IHDR" {
        return None;
    }
    let be = |i: usize| u32::from_be_bytes([png[i], png[i + 1], png[i + 2], png[i + 3]]);
    let colorspace = match png[25] {
        0 => 1,
        4 => 2,
        6 => 4,
        _ => 3,
    };
    Some((be(16), be(20), colorspace))
}

/// The scalars of one `metrics.jsonl` line, tagged as TensorBoard groups them:
/// a train event's `loss`, `grad_norm`, `lr`, `tokens_per_s` and `epoch` under `train/`,
/// and every number of an eval event (`val_loss`, `val_accuracy`, `val_bleu`, ...) under
/// `val/` with its `val_` prefix dropped. Bookkeeping (`step`, `train_s`, `best`) is not
/// plotted.
pub fn metric_scalars(line: &serde_json::Value) -> Vec<(String, f64)> {
    let Some(o) = line.as_object() else {
        return Vec::new();
    };
    let group = match o.get("event").and_then(|e| e.as_str()) {
        Some("train") => "train",
        Some("eval") => "val",
        _ => return Vec::new(),
    };
    o.iter()
        .filter(|(k, _)| !matches!(k.as_str(), "event" | "step" | "train_s" | "best"))
        .filter_map(|(k, v)| {
            let x = v.as_f64().filter(|x| x.is_finite())?;
            let name = k.strip_prefix("val_").unwrap_or(k);
            Some((format!("{group}/{name}"), x))
        })
        .collect()
}

/// Every finite number in `results` (a run's `results.json`), tagged by its path under
/// `root` (`results/test/bleu_beam`, ...). A list of objects each with a `name` (a table
/// of methods) is walked by name; other lists are left out.
pub fn result_scalars(results: &serde_json::Value, root: &str) -> Vec<(String, f64)> {
    fn walk(v: &serde_json::Value, path: &str, out: &mut Vec<(String, f64)>) {
        match v {
            serde_json::Value::Object(o) => {
                for (k, x) in o.iter().filter(|(k, _)| k.as_str() != "name") {
                    walk(x, &format!("{path}/{k}"), out);
                }
            }
            serde_json::Value::Array(a) => {
                for x in a {
                    if let Some(name) = x["name"].as_str() {
                        walk(x, &format!("{path}/{name}"), out);
                    }
                }
            }
            serde_json::Value::Number(n) => {
                if let Some(x) = n.as_f64().filter(|x| x.is_finite()) {
                    out.push((path.to_string(), x));
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(results, root, &mut out);
    out
}

/// Reads every record of an event file back, checking each length and CRC: an error names
/// the file and the record's offset.
pub fn read_events(path: &Path) -> Result<Vec<Event>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    let mut at = 0usize;
    let bad = |at: usize, what: &str| Error::format(path, format!("record at byte {at}: {what}"));
    while at < bytes.len() {
        let head = bytes
            .get(at..at + 12)
            .ok_or_else(|| bad(at, "torn header"))?;
        let len_bytes = &head[..8];
        let crc = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
        if masked_crc(len_bytes) != crc {
            return Err(bad(at, "length CRC mismatch"));
        }
        let mut l8 = [0u8; 8];
        l8.copy_from_slice(len_bytes);
        let len =
            usize::try_from(u64::from_le_bytes(l8)).map_err(|_| bad(at, "length too large"))?;
        let end = at
            .checked_add(12)
            .and_then(|s| s.checked_add(len))
            .filter(|&e| e + 4 <= bytes.len())
            .ok_or_else(|| bad(at, "torn record"))?;
        let data = &bytes[at + 12..end];
        let crc = u32::from_le_bytes([bytes[end], bytes[end + 1], bytes[end + 2], bytes[end + 3]]);
        if masked_crc(data) != crc {
            return Err(bad(at, "data CRC mismatch"));
        }
        out.push(Event::decode(data).map_err(|e| bad(at, &format!("not an Event: {e}")))?);
        at = end + 4;
    }
    Ok(out)
}

/// The event files of a run directory, oldest first.
pub fn event_files(run_dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(run_dir.join(DIR))
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("events.out.tfevents."))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_masking_matches_tensorflow() {
        // crc32c("123456789") = 0xe3069283, TensorFlow's test vector for the unmasked CRC.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        let c = 0xe306_9283u32;
        assert_eq!(
            masked_crc(b"123456789"),
            c.rotate_right(15).wrapping_add(MASK_DELTA)
        );
    }

    #[test]
    fn metrics_lines_become_grouped_scalars() {
        let t = serde_json::json!({"event": "train", "step": 10, "train_s": 1.0, "loss": 2.5,
            "grad_norm": 3.0, "lr": 0.002, "tokens_per_s": 1000.0, "epoch": 0.1});
        let mut s = metric_scalars(&t);
        s.sort_by(|a, b| a.0.cmp(&b.0));
        let tags: Vec<&str> = s.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            tags,
            [
                "train/epoch",
                "train/grad_norm",
                "train/loss",
                "train/lr",
                "train/tokens_per_s"
            ]
        );
        let e = serde_json::json!({"event": "eval", "step": 10, "metric": 1.2, "best": true,
            "val_loss": 1.2, "val_accuracy": 0.8, "val_note": "x"});
        let mut s = metric_scalars(&e);
        s.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            s,
            vec![
                ("val/accuracy".to_string(), 0.8),
                ("val/loss".into(), 1.2),
                ("val/metric".into(), 1.2)
            ]
        );
        assert!(metric_scalars(&serde_json::json!({"event": "other", "x": 1})).is_empty());
    }

    #[test]
    fn records_round_trip_and_damage_is_named() {
        let dir = std::env::temp_dir().join(format!("tb-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut w = EventWriter::create(&dir, Some(7)).unwrap();
        w.scalars(8, &[("train/loss".into(), 1.5)]).unwrap();
        w.text(8, "samples/text", "hello").unwrap();
        w.flush().unwrap();
        let path = w.path().to_path_buf();
        drop(w);
        let ev = read_events(&path).unwrap();
        assert_eq!(ev.len(), 4);
        assert_eq!(ev[0].what, Some(What::FileVersion("brain.Event:2".into())));
        assert!(
            matches!(&ev[1].what, Some(What::SessionLog(s)) if s.status == proto::SESSION_START)
        );
        assert_eq!(ev[1].step, 7);
        match &ev[2].what {
            Some(What::Summary(s)) => {
                assert_eq!(s.value[0].tag, "train/loss");
                assert_eq!(s.value[0].kind, Some(Kind::SimpleValue(1.5)));
            }
            o => panic!("expected a summary, got {o:?}"),
        }
        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 6] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = read_events(&path).unwrap_err().to_string();
        assert!(err.contains("data CRC mismatch"), "{err}");
        bytes.truncate(n - 3);
        std::fs::write(&path, &bytes).unwrap();
        let err = read_events(&path).unwrap_err().to_string();
        assert!(err.contains("torn record"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn result_files_become_scalars_by_path_and_name() {
        let r = serde_json::json!({"test": {"bleu": 30.5, "note": "x"}, "steps": 10,
            "table": [{"name": "ets", "metrics": {"mase": 1.1}}], "list": [1, 2]});
        let mut s = result_scalars(&r, "results");
        s.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            s,
            vec![
                ("results/steps".to_string(), 10.0),
                ("results/table/ets/metrics/mase".into(), 1.1),
                ("results/test/bleu".into(), 30.5)
            ]
        );
    }

    #[test]
    fn png_sizes_are_read_from_the_header() {
        let mut png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
        png.extend_from_slice(b"IHDR");
        png.extend_from_slice(&640u32.to_be_bytes());
        png.extend_from_slice(&480u32.to_be_bytes());
        png.extend_from_slice(&[8, 2]);
        assert_eq!(png_header(&png), Some((640, 480, 3)));
        assert_eq!(png_header(b"GIF89a not a png at all....."), None);
    }
}
