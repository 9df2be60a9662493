//! `--all-columns`: every value column of one CSV file forecast as its own series. Each
//! column is trained by [`train_forecast`] into a run directory of its own under DIR, and
//! `DIR/columns.json` names them, so that `forecast --checkpoint DIR` forecasts them all.
//!
//! The index is written before the first column trains, so a run stopped part-way resumes
//! (`--resume DIR`): finished columns say so, the one that was training continues, the rest
//! start.

use crate::forecast::config::ForecastTrainConfig;
use crate::forecast::series::{parse_series, read_text, value_columns, Fill, Series, SeriesSpec};
use crate::forecast::train::{train_forecast, ForecastSummary};
use recurrent::error::{Error, Result};
use recurrent::train::observe::Observer;
use recurrent::train::runner::TrainRequest;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The index of a run over several columns, in its directory.
pub const INDEX: &str = "columns.json";

/// One column of the file and the run directory (under the index's) it trained into.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnRun {
    pub column: String,
    pub dir: String,
}

#[derive(Serialize, Deserialize)]
struct Index {
    columns: Vec<ColumnRun>,
}

/// Names in a run directory that a column's directory must not take.
const RESERVED: [&str; 4] = [INDEX, "command.json", "tensorboard", "checkpoints"];

/// A directory name for each column: ASCII letters, digits, `-`, `_` and `.` kept, any other
/// character `_`; a name taken already (by a column or by the run's own files) gets a
/// suffix `-2`, `-3`, ...; an empty or dots-only name is prefixed with `column`.
pub fn dir_names(columns: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(columns.len());
    let taken =
        |out: &[String], name: &str| out.iter().any(|o| o == name) || RESERVED.contains(&name);
    for c in columns {
        let base: String = c
            .chars()
            .map(|ch| {
                if ch.is_ascii_alphanumeric() || "-_.".contains(ch) {
                    ch
                } else {
                    '_'
                }
            })
            .collect();
        let base = if base.chars().all(|ch| ch == '.') {
            format!("column{base}")
        } else {
            base
        };
        let mut name = base.clone();
        let mut k = 2;
        while taken(&out, &name) {
            name = format!("{base}-{k}");
            k += 1;
        }
        out.push(name);
    }
    out
}

/// The columns of the run in `dir`, if it is a run over several columns (None: a run
/// directory of one series, or a checkpoint file).
pub fn read_index(dir: &Path) -> Result<Option<Vec<ColumnRun>>> {
    let path = dir.join(INDEX);
    if !dir.is_dir() || !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let index: Index = serde_json::from_str(&text).map_err(|e| {
        Error::format(
            &path,
            format!("not an index of columns ({e}): train again with --all-columns"),
        )
    })?;
    for c in &index.columns {
        let plain = !c.dir.is_empty()
            && c.dir.chars().any(|ch| ch != '.')
            && !c.dir.contains(['/', '\\'])
            && Path::new(&c.dir).components().count() == 1;
        if !plain {
            return Err(Error::format(
                &path,
                format!(
                    "column `{}` names the directory `{}`, which is not a plain name inside {}",
                    c.column,
                    c.dir,
                    dir.display()
                ),
            ));
        }
    }
    if index.columns.is_empty() {
        return Err(Error::format(&path, "the index names no column"));
    }
    Ok(Some(index.columns))
}

/// What to train for every column: the file, its date column and the fill policy.
pub struct ColumnsSpec {
    pub data: PathBuf,
    pub date_column: Option<String>,
    pub fill: Fill,
}

/// Trains `cfg` on every value column of `spec.data` (see the module docs), each into
/// `req.out/<its directory>`, in file order; `done` is called after each with the column,
/// its series and its summary (the CLI writes its tables and plots there). `req.command`,
/// when set, is also written to `req.out` so that `--resume req.out` continues the whole run.
/// Returns the columns trained (fewer than all when the run was stopped) and how many the
/// file has.
pub fn train_columns(
    cfg: &ForecastTrainConfig,
    spec: &ColumnsSpec,
    req: &TrainRequest,
    obs: &mut dyn Observer,
    done: &mut dyn FnMut(&ColumnRun, &Series, &ForecastSummary) -> Result<()>,
) -> Result<(Vec<(ColumnRun, ForecastSummary)>, usize)> {
    // The file is read once; each column is parsed from its text.
    let file = read_text(&spec.data)?;
    let (columns, text) = value_columns(&file, &spec.data, spec.date_column.as_deref())?;
    if !text.is_empty() {
        obs.message(&format!(
            "--all-columns: left out {} (not numbers)",
            text.iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if columns.is_empty() {
        return Err(Error::format(
            &spec.data,
            "--all-columns: the file has no column of numbers beside its date column",
        ));
    }
    let runs: Vec<ColumnRun> = columns
        .iter()
        .zip(dir_names(&columns))
        .map(|(column, dir)| ColumnRun {
            column: column.clone(),
            dir,
        })
        .collect();
    let old = read_index(&req.out)?;
    if old.is_none() && req.out.join("config.json").exists() {
        return Err(Error::Config(format!(
            "{} holds a run of one series: give --all-columns another --out",
            req.out.display()
        )));
    }
    if let Some(old) = old {
        // As for a run of one series: an existing run is continued only when asked, and
        // nothing in it is written before that is known.
        if !req.resume {
            return Err(Error::Config(format!(
                "{} already holds a run over several columns: continue it with --resume {}, \
                 or give another --out",
                req.out.display(),
                req.out.display()
            )));
        }
        if old != runs {
            return Err(Error::Config(format!(
                "{} holds a run over the columns {:?}, and {} has {:?}: give another --out",
                req.out.display(),
                old.iter().map(|c| &c.column).collect::<Vec<_>>(),
                spec.data.display(),
                columns
            )));
        }
    }
    if req.group.is_primary() {
        std::fs::create_dir_all(&req.out).map_err(|e| Error::io(&req.out, e))?;
        let index = serde_json::to_vec_pretty(&Index {
            columns: runs.clone(),
        })
        .map_err(|e| Error::Config(e.to_string()))?;
        recurrent::checkpoint::write_file_atomic(req.out.join(INDEX), &index)?;
        if let Some(c) = &req.command {
            let bytes = serde_json::to_vec_pretty(c).map_err(|e| Error::Config(e.to_string()))?;
            recurrent::checkpoint::write_file_atomic(req.out.join("command.json"), &bytes)?;
        }
    }
    let total = runs.len();
    let mut out = Vec::with_capacity(total);
    for run in runs {
        let series_spec = SeriesSpec {
            columns: vec![run.column.clone()],
            date_column: spec.date_column.clone(),
            fill: spec.fill,
        };
        let series = parse_series(&file, &spec.data, &series_spec, &mut |m| {
            obs.message(&format!("{}: {m}", run.column))
        })?;
        let dir = req.out.join(&run.dir);
        obs.message(&format!(
            "column `{}` ({} rows) into {}",
            run.column,
            series.len(),
            dir.display()
        ));
        // The command lives in the parent only: `--resume DIR` continues every column, and
        // a column's own directory is not mistaken for a run of its own to resume.
        let col_req = TrainRequest {
            out: dir.clone(),
            resume: req.resume && dir.is_dir(),
            command: None,
            ..req.clone()
        };
        let s = train_forecast(cfg, &series, spec.fill, &col_req, obs)?;
        done(&run, &series, &s)?;
        let stopped = !s.finished && !s.early_stopped;
        out.push((run, s));
        if stopped || obs.should_stop() {
            break;
        }
    }
    Ok((out, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_are_plain_and_distinct() {
        let cols: Vec<String> = [
            "sales ($)",
            "sales (€)",
            "a/b",
            "..",
            "",
            "x",
            "columns.json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let d = dir_names(&cols);
        assert_eq!(d[0], "sales____");
        assert_eq!(d[1], "sales____-2");
        assert_eq!(d[2], "a_b");
        assert_eq!(d[3], "column..");
        assert_eq!(d[4], "column");
        assert_eq!(d[5], "x");
        assert_eq!(d[6], "columns.json-2");
    }

    #[test]
    fn an_index_that_points_outside_its_directory_is_refused() {
        let dir = std::env::temp_dir().join(format!("rc-index-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(read_index(&dir).unwrap(), None);
        for bad in [
            r#"{"columns":[{"column":"a","dir":"../x"}]}"#,
            r#"{"columns":[]}"#,
            "[1",
        ] {
            std::fs::write(dir.join(INDEX), bad).unwrap();
            let e = read_index(&dir).unwrap_err().to_string();
            assert!(e.contains(INDEX), "{e}");
        }
        std::fs::write(
            dir.join(INDEX),
            r#"{"columns":[{"column":"a b","dir":"a_b"}]}"#,
        )
        .unwrap();
        let runs = read_index(&dir).unwrap().unwrap();
        assert_eq!(runs[0].dir, "a_b");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
