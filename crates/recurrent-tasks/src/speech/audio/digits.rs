//! A folder of spoken digits named `{digit}_{speaker}_{index}.wav` (the Free Spoken Digit
//! Dataset's layout): the label is the digit, the speaker and index give the splits.

use recurrent::error::{Error, Result};
use std::path::{Path, PathBuf};

/// One recording's place in the corpus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recording {
    pub path: PathBuf,
    pub digit: usize,
    pub speaker: String,
    pub index: usize,
}

/// Parses `{digit}_{speaker}_{index}.wav`; None for any other name.
pub fn parse_name(path: &Path) -> Option<Recording> {
    if !path.extension()?.to_str()?.eq_ignore_ascii_case("wav") {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    let mut it = stem.split('_');
    let (d, s, i) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || s.is_empty() {
        return None;
    }
    let digit: usize = d.parse().ok().filter(|&v| v < 10)?;
    Some(Recording {
        path: path.to_path_buf(),
        digit,
        speaker: s.to_string(),
        index: i.parse().ok()?,
    })
}

/// Every digit recording in `dir`, sorted by file name. Other files are ignored; a folder
/// with none is an error naming it.
pub fn list_recordings(dir: &Path) -> Result<Vec<Recording>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut v = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::io(dir, e))?;
        if let Some(r) = parse_name(&e.path()) {
            v.push(r);
        }
    }
    if v.is_empty() {
        return Err(Error::Input(format!(
            "{}: no recordings named `{{digit}}_{{speaker}}_{{index}}.wav` (e.g. 7_jackson_32.wav)",
            dir.display()
        )));
    }
    v.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(v)
}

/// Speakers in name order.
pub fn speakers(recs: &[Recording]) -> Vec<String> {
    let mut s: Vec<String> = recs.iter().map(|r| r.speaker.clone()).collect();
    s.sort();
    s.dedup();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let r = parse_name(Path::new("a/7_jackson_32.wav")).unwrap();
        assert_eq!((r.digit, r.speaker.as_str(), r.index), (7, "jackson", 32));
        assert!(parse_name(Path::new("7_jackson.wav")).is_none());
        assert!(parse_name(Path::new("12_x_1.wav")).is_none());
        assert!(parse_name(Path::new("7_x_1.txt")).is_none());
    }
}
