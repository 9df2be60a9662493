//! CoNLL-U (Universal Dependencies) for sequence labelling: the words of each sentence and
//! one column of tags (UPOS by default).
//!
//! The format, as <https://universaldependencies.org/format.html> gives it: sentences are
//! separated by a blank line; lines starting with `#` are comments (`# sent_id = ...`,
//! `# text = ...`); every other line has 10 tab-separated fields
//! `ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC`. ID is a word index (1, 2, ...), a
//! range `3-4` for a multi-word token (its words follow on their own lines; the range line
//! carries no tags and is skipped), or a decimal `5.1` for an empty node (skipped: it is not
//! a word of the surface sentence). Any other line is an error naming the file, the line and
//! the column (1-based characters) of the bad field.

use recurrent::error::{Error, Result};
use std::path::Path;

/// The ten CoNLL-U fields, for `--column` by name.
pub const FIELDS: [&str; 10] = [
    "id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc",
];

/// The 0-based field of a column given by name (`upos`, `xpos`, ...) or 1-based number.
pub fn column_index(s: &str) -> Result<usize> {
    let lower = s.trim().to_ascii_lowercase();
    if let Some(i) = FIELDS.iter().position(|f| *f == lower) {
        return Ok(i);
    }
    match lower.parse::<usize>() {
        Ok(n) if (1..=10).contains(&n) => Ok(n - 1),
        _ => Err(Error::Config(format!(
            "--column: `{s}` is not a CoNLL-U field: use upos, xpos, deprel, ... or a number 1-10"
        ))),
    }
}

/// One sentence: its words and their tags.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaggedSentence {
    /// The words (FORM), in order.
    pub words: Vec<String>,
    /// One tag per word.
    pub tags: Vec<String>,
    /// `# sent_id = ...`, if given.
    pub id: Option<String>,
    /// `# text = ...`, if given.
    pub text: Option<String>,
    /// The line of the sentence's first word.
    pub line: usize,
}

/// Parses CoNLL-U text, keeping FORM and the field `column` (0-based) of every word.
/// `path` is only for messages.
pub fn parse_conllu(text: &str, path: &Path, column: usize) -> Result<Vec<TaggedSentence>> {
    if column > 9 || column == 0 {
        return Err(Error::Config(format!(
            "--column must be a CoNLL-U field 2-10, got {}",
            column + 1
        )));
    }
    let err = |line: usize, col: usize, msg: String| {
        Error::format(path, format!("line {line}, column {col}: {msg}"))
    };
    let mut out = Vec::new();
    let mut cur = TaggedSentence::default();
    let mut next_id = 1usize;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, raw) in text.split('\n').enumerate() {
        let ln = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            if !cur.words.is_empty() {
                out.push(std::mem::take(&mut cur));
            } else {
                cur = TaggedSentence::default();
            }
            next_id = 1;
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            let c = c.trim();
            if let Some(v) = c.strip_prefix("sent_id") {
                cur.id = v
                    .trim_start()
                    .strip_prefix('=')
                    .map(|v| v.trim().to_string());
            } else if let Some(v) = c.strip_prefix("text") {
                if let Some(v) = v.trim_start().strip_prefix('=') {
                    cur.text = Some(v.trim().to_string());
                }
            }
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() != 10 {
            return Err(err(
                ln,
                1,
                format!(
                    "{} tab-separated field(s); a CoNLL-U word line has 10 (ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC){}",
                    fields.len(),
                    if fields.len() == 1 && line.contains(' ') { ": are the tabs spaces?" } else { "" }
                ),
            ));
        }
        // Character column of field f (1-based).
        let col_of = |f: usize| -> usize {
            fields[..f]
                .iter()
                .map(|s| s.chars().count() + 1)
                .sum::<usize>()
                + 1
        };
        let id = fields[0];
        if let Some((a, b)) = id.split_once('-') {
            match (a.parse::<usize>(), b.parse::<usize>()) {
                (Ok(a), Ok(b)) if a >= 1 && a < b => continue,
                _ => {
                    return Err(err(
                        ln,
                        1,
                        format!("bad multi-word token range `{id}`: expected N-M with N < M"),
                    ))
                }
            }
        }
        if let Some((a, b)) = id.split_once('.') {
            match (a.parse::<usize>(), b.parse::<usize>()) {
                (Ok(_), Ok(b)) if b >= 1 => continue,
                _ => {
                    return Err(err(
                        ln,
                        1,
                        format!("bad empty-node id `{id}`: expected N.M"),
                    ))
                }
            }
        }
        match id.parse::<usize>() {
            Ok(n) if n == next_id => next_id += 1,
            Ok(n) => {
                return Err(err(
                    ln,
                    1,
                    format!("word id {n} where {next_id} was expected (ids count 1, 2, ... in each sentence; a blank line ends a sentence)"),
                ))
            }
            Err(_) => {
                return Err(err(
                    ln,
                    1,
                    format!("`{id}` is not a word id (N), a range (N-M) or an empty node (N.M)"),
                ))
            }
        }
        let form = fields[1];
        if form.is_empty() {
            return Err(err(ln, col_of(1), "empty FORM".into()));
        }
        let tag = fields[column];
        if tag.is_empty() {
            return Err(err(
                ln,
                col_of(column),
                format!("empty {} field", FIELDS[column].to_uppercase()),
            ));
        }
        if cur.words.is_empty() {
            cur.line = ln;
        }
        cur.words.push(form.to_string());
        cur.tags.push(tag.to_string());
    }
    if !cur.words.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// Reads a CoNLL-U file (UTF-8).
pub fn read_conllu(path: &Path, column: usize) -> Result<Vec<TaggedSentence>> {
    let text = recurrent::text::corpus::read_text(path)?;
    let s = parse_conllu(&text, path, column)?;
    if s.is_empty() {
        return Err(Error::format(
            path,
            "no sentences (no word lines) in the file",
        ));
    }
    Ok(s)
}

/// Writes tagged sentences as CoNLL-U: ID, FORM and the tag in `column`, `_` elsewhere,
/// with a `# text` comment; a blank line after each sentence.
pub fn write_conllu(words: &[String], tags: &[String], column: usize, out: &mut String) {
    out.push_str("# text = ");
    out.push_str(&words.join(" "));
    out.push('\n');
    for (i, (w, t)) in words.iter().zip(tags).enumerate() {
        let mut f: Vec<String> = vec!["_".to_string(); 10];
        f[0] = (i + 1).to_string();
        f[1] = w.clone();
        if (2..10).contains(&column) {
            f[column] = t.clone();
        }
        out.push_str(&f.join("\t"));
        out.push('\n');
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPOS: usize = 3;

    fn parse(s: &str) -> Result<Vec<TaggedSentence>> {
        parse_conllu(s, Path::new("t.conllu"), UPOS)
    }

    #[test]
    fn comments_multiword_tokens_and_empty_nodes() {
        let s = "# newdoc id = d1\n# sent_id = s1\n# text = It's here.\n\
                 1-2\tIt's\t_\t_\t_\t_\t_\t_\t_\t_\n\
                 1\tIt\tit\tPRON\tPRP\t_\t3\tnsubj\t_\t_\n\
                 2\t's\tbe\tAUX\tVBZ\t_\t3\tcop\t_\t_\n\
                 2.1\tis\tbe\tVERB\t_\t_\t_\t_\t3:x\t_\n\
                 3\there\there\tADV\tRB\t_\t0\troot\t_\tSpaceAfter=No\n\
                 4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_\n\
                 \n\
                 # sent_id = s2\n1\tYes\tyes\tINTJ\tUH\t_\t0\troot\t_\t_\n";
        let v = parse(s).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].words, ["It", "'s", "here", "."]);
        assert_eq!(v[0].tags, ["PRON", "AUX", "ADV", "PUNCT"]);
        assert_eq!(v[0].id.as_deref(), Some("s1"));
        assert_eq!(v[0].text.as_deref(), Some("It's here."));
        assert_eq!(v[0].line, 5);
        // The file need not end with a blank line.
        assert_eq!(v[1].words, ["Yes"]);
        let x = parse_conllu(s, Path::new("t"), column_index("xpos").unwrap()).unwrap();
        assert_eq!(x[0].tags, ["PRP", "VBZ", "RB", "."]);
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse("1\tA\ta\tDET\n").unwrap_err().to_string();
        assert!(
            e.starts_with("t.conllu: line 1, column 1: 4 tab-separated"),
            "{e}"
        );
        let e = parse("1 A a DET _ _ _ _ _ _\n").unwrap_err().to_string();
        assert!(e.contains("are the tabs spaces?"), "{e}");
        let e = parse("1\tA\ta\tDET\t_\t_\t_\t_\t_\t_\n3\tB\tb\tX\t_\t_\t_\t_\t_\t_\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2, column 1: word id 3 where 2"), "{e}");
        let e = parse("x\tA\ta\tDET\t_\t_\t_\t_\t_\t_\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`x` is not a word id"), "{e}");
        let e = parse("# c\n\n1\tA\ta\t\t_\t_\t_\t_\t_\t_\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3, column 7: empty UPOS"), "{e}");
        let e = parse("2-1\tA\t_\t_\t_\t_\t_\t_\t_\t_\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("range `2-1`"), "{e}");
        assert!(column_index("upos").is_ok() && column_index("11").is_err());
    }

    #[test]
    fn write_then_read_round_trips() {
        let mut s = String::new();
        let w = vec!["a".to_string(), "dog".to_string()];
        let t = vec!["DET".to_string(), "NOUN".to_string()];
        write_conllu(&w, &t, UPOS, &mut s);
        let v = parse(&s).unwrap();
        assert_eq!((v[0].words.clone(), v[0].tags.clone()), (w, t));
    }
}
