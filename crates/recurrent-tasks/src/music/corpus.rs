//! Tune records of an ABC file: a record starts at a line beginning `X:` and runs to the
//! next one (the corpus separates records by one to four blank lines, so blank lines are not
//! the separator). The split is by tune, by a seeded hash of (file name, X number), so it is
//! the same on every machine and does not move when files are added.

use recurrent::error::{Error, Result};
use recurrent::text::corpus::{Part, Parts};
use std::path::Path;

/// One tune as written in its file.
#[derive(Clone, Debug, PartialEq)]
pub struct TuneRecord {
    /// File name (no directory).
    pub file: String,
    /// The value of `X:`, trimmed.
    pub x: String,
    /// 1-based line of the `X:` line in the file.
    pub line: usize,
    /// From `X:` to the end of the last non-blank line, with its final newline.
    pub text: String,
}

impl TuneRecord {
    /// `file X: n`, for messages.
    pub fn name(&self) -> String {
        format!("{} X:{}", self.file, self.x)
    }
}

/// The records of one ABC text (`file` names it in the records).
pub fn tunes_of(text: &str, file: &str) -> Vec<TuneRecord> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, Vec<&str>)> = None;
    let finish = |cur: Option<(usize, Vec<&str>)>, out: &mut Vec<TuneRecord>| {
        if let Some((line, mut lines)) = cur {
            while lines.last().is_some_and(|l| l.trim().is_empty()) {
                lines.pop();
            }
            let x = lines
                .first()
                .map_or("", |l| l.get(2..).unwrap_or(""))
                .trim()
                .to_string();
            let mut text = lines.join("\n");
            text.push('\n');
            out.push(TuneRecord {
                file: file.to_string(),
                x,
                line,
                text,
            });
        }
    };
    for (i, l) in text.lines().enumerate() {
        if l.starts_with("X:") {
            finish(cur.take(), &mut out);
            cur = Some((i + 1, vec![l]));
        } else if let Some((_, lines)) = cur.as_mut() {
            lines.push(l);
        }
    }
    finish(cur, &mut out);
    out
}

/// Every tune of a file, or of every `*.abc` file of a directory (in name order).
pub fn read_tunes(path: &Path) -> Result<Vec<TuneRecord>> {
    let files = if path.is_dir() {
        let mut v: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| Error::io(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "abc"))
            .collect();
        v.sort();
        if v.is_empty() {
            return Err(Error::format(path, "no .abc files in this directory"));
        }
        v
    } else {
        vec![path.to_path_buf()]
    };
    let mut out = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).map_err(|e| Error::io(&f, e))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            Error::format(
                &f,
                format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
            )
        })?;
        let name = f
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        out.extend(tunes_of(&text, &name));
    }
    if out.is_empty() {
        return Err(Error::format(path, "no tunes (no line starting with `X:`)"));
    }
    Ok(out)
}

/// The seed of the standard split (5% validation, 5% test).
pub const SPLIT_SEED: u64 = 13;

/// The split of a tune: FNV-1a over `file \0 X`, mixed with the seed (splitmix64), then
/// 5 buckets of 100 for validation and the next 5 for test.
pub fn split_of(file: &str, x: &str, seed: u64) -> Part {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in file.bytes().chain([0]).chain(x.bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    let mut z = h ^ seed.wrapping_mul(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^= z >> 31;
    match z % 100 {
        0..=4 => Part::Valid,
        5..=9 => Part::Test,
        _ => Part::Train,
    }
}

/// (train, valid, test) by [`split_of`].
pub fn split_tunes(
    tunes: &[TuneRecord],
    seed: u64,
) -> (Vec<TuneRecord>, Vec<TuneRecord>, Vec<TuneRecord>) {
    let p = Parts::divide(tunes.iter().cloned(), |t| split_of(&t.file, &t.x, seed));
    (p.train, p.valid, p.test)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_run_from_x_to_the_next() {
        let t = "\n% c\nX: 1\nT:a\nK:C\nabc|\n\n\nX: 2\nT:b\n\nK:G\nd|\n";
        let r = tunes_of(t, "f.abc");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].text, "X: 1\nT:a\nK:C\nabc|\n");
        assert_eq!(r[1].text, "X: 2\nT:b\n\nK:G\nd|\n");
        assert_eq!((r[1].x.as_str(), r[1].line), ("2", 9));
    }

    #[test]
    fn split_is_stable_and_about_ten_percent() {
        assert_eq!(split_of("a.abc", "1", 13), split_of("a.abc", "1", 13));
        let n = 4000;
        let held = (0..n)
            .filter(|i| split_of("f.abc", &i.to_string(), 13) != Part::Train)
            .count();
        assert!((300..500).contains(&held), "{held}");
    }
}
