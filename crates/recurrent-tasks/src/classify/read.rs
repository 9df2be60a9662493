//! Labelled sentences for text classification, in the formats of ../shared/data/sentiment and
//! the usual spreadsheet exports, detected from the file and stated in the log:
//!
//! - `label text` per line, the label being the first whitespace-separated token (SST);
//! - `label<TAB>text` per line (a first line without a tab in its label rules this out);
//! - CSV (or TSV) with a header naming a text and a label column (`--text-column`,
//!   `--label-column`; by default `text` and `label`), quoted fields as RFC 4180 has them;
//! - one file per class (rt-polarity's `.pos` / `.neg`): every line is a text, its label the
//!   file's extension.
//!
//! Text is UTF-8 unless an encoding is named (`windows-1252` for rt-polarity; any WHATWG
//! label that `encoding_rs` knows). Lines are split on `\n` bytes only, after decoding, so a
//! cp1252 byte 0x85 (`…`) is never taken for a line break.

use recurrent::text::corpus::decode;

use recurrent::error::{Error, Result};
use std::path::{Path, PathBuf};

/// One labelled text, with where it came from (for messages).
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    /// The text, as in the file (tokenised later).
    pub text: String,
    /// The label, spelled as in the data.
    pub label: String,
    /// 1-based line (CSV: the record's first line).
    pub line: usize,
}

/// How a file was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelledFormat {
    /// `label text`: the label is the first whitespace-separated token.
    LabelSpace,
    /// `label<TAB>text`.
    LabelTab,
    /// Delimited with a header; columns by name.
    Delimited {
        /// `,` or `\t`.
        delimiter: char,
        /// Name of the text column.
        text_column: String,
        /// Name of the label column.
        label_column: String,
    },
    /// One file per class, the label from the file's extension.
    PerClass,
}

impl std::fmt::Display for LabelledFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LabelledFormat::LabelSpace => {
                write!(
                    f,
                    "`label text` lines (label = first space-separated token)"
                )
            }
            LabelledFormat::LabelTab => write!(f, "`label<TAB>text` lines"),
            LabelledFormat::Delimited {
                delimiter,
                text_column,
                label_column,
            } => write!(
                f,
                "{} with a header, text column `{text_column}`, label column `{label_column}`",
                if *delimiter == '\t' { "TSV" } else { "CSV" }
            ),
            LabelledFormat::PerClass => {
                write!(f, "one file per class, label = file extension")
            }
        }
    }
}

/// How to read labelled files.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadOptions {
    /// A WHATWG encoding label (`utf-8`, `windows-1252`, `latin1`, ...); None: UTF-8.
    pub encoding: Option<String>,
    /// CSV/TSV: the text column's name (giving it, or the label column, means CSV).
    pub text_column: Option<String>,
    /// CSV/TSV: the label column's name.
    pub label_column: Option<String>,
}

/// The examples of one data set and how they were read.
#[derive(Clone, Debug, PartialEq)]
pub struct Labelled {
    /// The examples, in file order.
    pub examples: Vec<Example>,
    /// How the file was read (detected, or one file per class).
    pub format: LabelledFormat,
    /// The files read.
    pub files: Vec<PathBuf>,
}

/// Reads one file and detects its format, or (more than one path) one file per class.
pub fn read_labelled(paths: &[PathBuf], opts: &ReadOptions) -> Result<Labelled> {
    match paths {
        [] => Err(Error::Config("--data: no file given".into())),
        [one] => {
            let bytes = std::fs::read(one).map_err(|e| Error::io(one, e))?;
            let text = decode(&bytes, one, opts.encoding.as_deref())?;
            let (examples, format) = parse_labelled(&text, one, opts)?;
            Ok(Labelled {
                examples,
                format,
                files: paths.to_vec(),
            })
        }
        many => read_per_class(many, opts),
    }
}

/// One file per class: every non-blank line of `FILE.label` is a text labelled `label`.
pub fn read_per_class(paths: &[PathBuf], opts: &ReadOptions) -> Result<Labelled> {
    let mut examples = Vec::new();
    for p in paths {
        let label = p
            .extension()
            .and_then(|e| e.to_str())
            .filter(|e| !e.is_empty())
            .ok_or_else(|| {
                Error::format(
                    p,
                    "one file per class takes the label from the file's extension (`.pos`, `.neg`), and this file has none",
                )
            })?
            .to_string();
        let bytes = std::fs::read(p).map_err(|e| Error::io(p, e))?;
        let text = decode(&bytes, p, opts.encoding.as_deref())?;
        for (i, line) in text.split('\n').enumerate() {
            let t = line.trim_end_matches('\r').trim();
            if !t.is_empty() {
                examples.push(Example {
                    text: t.to_string(),
                    label: label.clone(),
                    line: i + 1,
                });
            }
        }
    }
    let labels: std::collections::BTreeSet<&str> =
        examples.iter().map(|e| e.label.as_str()).collect();
    if labels.len() < paths.len() {
        return Err(Error::Config(
            "one file per class: two files share an extension (the label); give each class its own"
                .into(),
        ));
    }
    Ok(Labelled {
        examples,
        format: LabelledFormat::PerClass,
        files: paths.to_vec(),
    })
}

/// Detects the format of one file's text and parses it. The rules, in order:
/// 1. a text or label column is named, or the file ends in `.csv` / `.tsv`: delimited with
///    a header (tab-delimited if the header has a tab, else commas);
/// 2. the first line, split on tabs, has a `text` and a `label` field: TSV with a header;
/// 3. the first non-blank line has a tab and no space before it: `label<TAB>text`;
/// 4. otherwise `label text`.
pub fn parse_labelled(
    text: &str,
    path: &Path,
    opts: &ReadOptions,
) -> Result<(Vec<Example>, LabelledFormat)> {
    let first = text
        .split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| Error::format(path, "no labelled lines in the file"))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    let header_fields: Vec<String> = first
        .split('\t')
        .map(|f| f.trim().to_ascii_lowercase())
        .collect();
    let tsv_header =
        header_fields.iter().any(|f| f == "text") && header_fields.iter().any(|f| f == "label");
    if opts.text_column.is_some()
        || opts.label_column.is_some()
        || matches!(ext.as_deref(), Some("csv") | Some("tsv"))
        || tsv_header
    {
        let delimiter = if first.contains('\t') { '\t' } else { ',' };
        let text_column = opts.text_column.clone().unwrap_or_else(|| "text".into());
        let label_column = opts.label_column.clone().unwrap_or_else(|| "label".into());
        let ex = parse_delimited(text, path, delimiter, &text_column, &label_column)?;
        return Ok((
            ex,
            LabelledFormat::Delimited {
                delimiter,
                text_column,
                label_column,
            },
        ));
    }
    let tab = first
        .find('\t')
        .is_some_and(|i| !first[..i].trim().contains(' '));
    if tab {
        extra_columns(text, path)?;
    }
    let format = if tab {
        LabelledFormat::LabelTab
    } else {
        LabelledFormat::LabelSpace
    };
    let mut out = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let split = if tab {
            line.split_once('\t')
        } else {
            line.trim_start().split_once([' ', '\t'])
        };
        let (label, body) = match split {
            Some((l, b)) if !l.trim().is_empty() && !b.trim().is_empty() => (l.trim(), b.trim()),
            _ => {
                return Err(Error::format(
                    path,
                    format!(
                        "line {}, column 1: expected {format}, found {:?}: each line needs a label and a text",
                        i + 1,
                        truncate(line, 60)
                    ),
                ))
            }
        };
        out.push(Example {
            text: body.to_string(),
            label: label.to_string(),
            line: i + 1,
        });
    }
    Ok((out, format))
}

/// Refuses a headerless table of three or more tab-separated columns, which the
/// `label<TAB>text` rule would read with its first column (often an ID) as the label and
/// thousands of classes: every one of the first lines has the same number of fields.
fn extra_columns(text: &str, path: &Path) -> Result<()> {
    let counts: Vec<usize> = text
        .split('\n')
        .filter(|l| !l.trim().is_empty())
        .take(50)
        .map(|l| l.split('\t').count())
        .collect();
    let n = counts[0];
    if n >= 3 && counts.iter().all(|&c| c == n) {
        return Err(Error::format(
            path,
            format!(
                "line 1 has {n} tab-separated fields, but a headerless file is read as \
                 `label<TAB>text` (two). Add a header row naming the columns (for example \
                 `id<TAB>label<TAB>text`), then pick them with --label-column and --text-column"
            ),
        ));
    }
    Ok(())
}

/// Delimited text with a header row; fields may be quoted (`"a, b"`, `""` for a quote, line
/// breaks inside quotes).
fn parse_delimited(
    text: &str,
    path: &Path,
    delim: char,
    text_column: &str,
    label_column: &str,
) -> Result<Vec<Example>> {
    let records = split_records(text, path, delim)?;
    let mut it = records.into_iter();
    let (_, header) = it
        .next()
        .ok_or_else(|| Error::format(path, "no header row"))?;
    let find = |name: &str, flag: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                Error::format(
                    path,
                    format!(
                        "line 1: no column named `{name}` in the header ({}); name it with {flag}",
                        recurrent::error::quote_list(&header, 20)
                    ),
                )
            })
    };
    let (ti, li) = (
        find(text_column, "--text-column")?,
        find(label_column, "--label-column")?,
    );
    let mut out = Vec::new();
    for (line, rec) in it {
        if rec.len() == 1 && rec[0].trim().is_empty() {
            continue;
        }
        if rec.len() != header.len() {
            return Err(Error::format(
                path,
                format!(
                    "line {line}: {} fields, but the header has {}",
                    rec.len(),
                    header.len()
                ),
            ));
        }
        let (t, l) = (rec[ti].trim(), rec[li].trim());
        if t.is_empty() || l.is_empty() {
            return Err(Error::format(
                path,
                format!(
                    "line {line}: empty {} field",
                    if t.is_empty() { "text" } else { "label" }
                ),
            ));
        }
        out.push(Example {
            text: t.to_string(),
            label: l.to_string(),
            line,
        });
    }
    Ok(out)
}

/// Records of a delimited file with the 1-based line each starts on.
fn split_records(text: &str, path: &Path, delim: char) -> Result<Vec<(usize, Vec<String>)>> {
    let mut records = Vec::new();
    let (mut fields, mut field) = (Vec::new(), String::new());
    let (mut line, mut start, mut col) = (1usize, 1usize, 0usize);
    let (mut quoted, mut at_field_start) = (false, true);
    let mut chars = text.chars().peekable();
    let mut quote_line = (0, 0);
    while let Some(c) = chars.next() {
        col += 1;
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    col = 0;
                    field.push('\n');
                }
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if at_field_start => {
                quoted = true;
                quote_line = (line, col);
                at_field_start = false;
            }
            c if c == delim => {
                fields.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                records.push((start, std::mem::take(&mut fields)));
                line += 1;
                start = line;
                col = 0;
                at_field_start = true;
            }
            c => {
                field.push(c);
                at_field_start = false;
            }
        }
    }
    if quoted {
        return Err(Error::format(
            path,
            format!(
                "line {}, column {}: a quoted field is never closed",
                quote_line.0, quote_line.1
            ),
        ));
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        records.push((start, fields));
    }
    Ok(records)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(n).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, name: &str) -> Result<(Vec<Example>, LabelledFormat)> {
        parse_labelled(text, Path::new(name), &ReadOptions::default())
    }

    #[test]
    fn sst_lines() {
        let (ex, f) = parse("1 a fine film .\n0 dull\n", "stsa.binary.train").unwrap();
        assert_eq!(f, LabelledFormat::LabelSpace);
        assert_eq!(ex[0].label, "1");
        assert_eq!(ex[0].text, "a fine film .");
        assert_eq!(ex[1].line, 2);
    }

    #[test]
    fn tab_lines_keep_spaces_in_labels_out() {
        let (ex, f) = parse("pos\tgreat , really\nneg\tbad\n", "x.txt").unwrap();
        assert_eq!(f, LabelledFormat::LabelTab);
        assert_eq!(ex[0].text, "great , really");
    }

    #[test]
    fn csv_with_quotes_and_named_columns() {
        let t = "id,text,label\n1,\"hello, \"\"world\"\"\",pos\n2,\"two\nlines\",neg\n";
        let (ex, f) = parse(t, "d.csv").unwrap();
        assert!(matches!(
            f,
            LabelledFormat::Delimited { delimiter: ',', .. }
        ));
        assert_eq!(ex[0].text, "hello, \"world\"");
        assert_eq!(ex[1].text, "two\nlines");
        assert_eq!(ex[1].line, 3);
        let e = parse("id,body,y\n1,a,b\n", "d.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no column named `text`") && e.contains("--text-column"));
        let e = parse("text,label\n\"open,x\n", "d.csv")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2, column 1") && e.contains("never closed"),
            "{e}"
        );
        let e = parse("text,label\na,b,c\n", "d.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2: 3 fields"), "{e}");
    }

    #[test]
    fn missing_text_names_the_line() {
        let e = parse("1 good\n0\n", "f").unwrap_err().to_string();
        assert!(e.contains("f: line 2, column 1"), "{e}");
    }

    #[test]
    fn cp1252_decodes_with_the_flag_and_errors_without() {
        let bytes = b"1 caf\xe9 \x85 ok\n";
        let e = decode(bytes, Path::new("r.pos"), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--encoding windows-1252") && e.contains("line 1"),
            "{e}"
        );
        let s = decode(bytes, Path::new("r.pos"), Some("windows-1252")).unwrap();
        assert_eq!(s, "1 café … ok\n");
        assert!(decode(bytes, Path::new("r"), Some("klingon")).is_err());
    }
}
