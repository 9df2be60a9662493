//! Parallel corpora: `source<TAB>target` per line (the manythings/Tatoeba `eng-fra.txt`
//! layout; a third column, such as newer files' attribution, is ignored), tokenisation of
//! both sides, the split into train / valid / test by source sentence, and the TSV files a
//! run writes so that other tools can score the same sentences.
//!
//! Tokenisation, the same for both languages (simple and reversible enough for BLEU):
//! 1. lower-case (optional: a target side may keep its case, since BLEU is case-sensitive);
//!    U+202F and U+00A0 (French no-break spaces before `?`, `!`, `:`) become
//!    spaces; `’` and `‘` become `'`;
//! 2. a token is a run of letters and digits; an apostrophe ends the word before it and
//!    stays on it (`l'homme` -> `l'` `homme`, `don't` -> `don'` `t`), so French elisions
//!    share one vocabulary entry; every other character that is not a space is a token of
//!    its own (`-`, `?`, `.`, `,`, ...).
//!
//! [`detokenize`] undoes step 2 (no space after an apostrophe, none around `-`, none before
//! `.` and `,`), which is what BLEU's 13a tokenisation then reads.

use recurrent::error::{Error, Result};
use recurrent::text::corpus::{Part, Parts};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// One sentence pair as read, with its 1-based line number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    pub src: String,
    pub tgt: String,
    pub line: usize,
}

/// Files larger than this are refused (the whole file is held in memory, as its pairs).
pub const MAX_BYTES: u64 = 1 << 31;

/// Reads `source<TAB>target` lines from `path`.
pub fn read_parallel(path: &Path) -> Result<Vec<Pair>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.len() > MAX_BYTES {
        return Err(Error::format(
            path,
            format!(
                "{} bytes: larger than the {MAX_BYTES} this reader accepts",
                meta.len()
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_parallel(&bytes, path)
}

/// Parses `source<TAB>target` lines; `name` is used in errors. Blank lines are skipped; a
/// line without a tab, with an empty side, or not UTF-8 is an error naming the line.
pub fn parse_parallel(bytes: &[u8], name: &Path) -> Result<Vec<Pair>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut pairs = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let text = std::str::from_utf8(raw).map_err(|e| {
            Error::format(
                name,
                format!(
                    "line {line}: not UTF-8 (invalid byte at column {}); convert the file to UTF-8",
                    e.valid_up_to() + 1
                ),
            )
        })?;
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.trim().is_empty() {
            continue;
        }
        let mut cols = text.split('\t');
        let src = cols.next().unwrap_or("").trim();
        let Some(tgt) = cols.next().map(str::trim) else {
            return Err(Error::format(
                name,
                format!("line {line}: no tab: each line must be `source<TAB>target`"),
            ));
        };
        for (side, s) in [("source", src), ("target", tgt)] {
            if s.is_empty() {
                return Err(Error::format(
                    name,
                    format!("line {line}: the {side} side is empty"),
                ));
            }
        }
        pairs.push(Pair {
            src: src.to_string(),
            tgt: tgt.to_string(),
            line,
        });
    }
    if pairs.is_empty() {
        return Err(Error::format(
            name,
            "no sentence pairs: the file is empty (expected `source<TAB>target` lines)",
        ));
    }
    Ok(pairs)
}

/// The tokens of a sentence (see the module documentation), lower-cased if `lowercase`.
pub fn tokenize(text: &str, lowercase: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let lower: String;
    let text = if lowercase {
        lower = text.to_lowercase();
        lower.as_str()
    } else {
        text
    };
    for c in text.chars() {
        let c = match c {
            '\u{202F}' | '\u{00A0}' => ' ',
            '\u{2019}' | '\u{2018}' => '\'',
            c => c,
        };
        if c.is_alphanumeric() {
            word.push(c);
            continue;
        }
        if c == '\'' && !word.is_empty() {
            word.push(c);
            out.push(std::mem::take(&mut word));
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if !c.is_whitespace() {
            out.push(c.to_string());
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Joins tokens into text: spaces between tokens, except after an apostrophe, around `-`,
/// and before `.` and `,`.
pub fn detokenize<S: AsRef<str>>(tokens: &[S]) -> String {
    let mut s = String::new();
    let mut glue = true;
    for t in tokens {
        let t = t.as_ref();
        let attach = glue || t == "-" || t == "." || t == ",";
        if !attach {
            s.push(' ');
        }
        s.push_str(t);
        glue = t.ends_with('\'') || t == "-";
    }
    s
}

/// The split of a source sentence: the first 8 bytes of SHA-256(seed as 8 little-endian
/// bytes, then the source side's UTF-8) as a number u in [0, 1); test if u < test, valid
/// if u < test + valid, else train. The source side as written in the file (trimmed), so
/// every pair sharing it falls in one split, whatever the order of the file.
pub fn split_of(src: &str, seed: u64, valid: f64, test: f64) -> Part {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(src.as_bytes());
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    let u = (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64;
    if u < test {
        Part::Test
    } else if u < test + valid {
        Part::Valid
    } else {
        Part::Train
    }
}

/// Pairs divided by [`split_of`].
pub type Splits = Parts<Pair>;

/// Divides `pairs` into train / valid / test by their source sentence, keeping file order.
pub fn split_pairs(pairs: Vec<Pair>, seed: u64, valid: f64, test: f64) -> Splits {
    Parts::divide(pairs, |p| split_of(&p.src, seed, valid, test))
}

/// Writes pairs as `source<TAB>target` lines (the input format), atomically.
pub fn write_tsv(path: &Path, pairs: &[Pair]) -> Result<()> {
    let mut buf = Vec::new();
    for p in pairs {
        // In-memory writes cannot fail.
        let _ = writeln!(buf, "{}\t{}", p.src, p.tgt);
    }
    recurrent::checkpoint::write_file_atomic(path, &buf)
}

/// Groups pairs by source sentence, in order of first appearance: (source, every target).
/// Each group is one test sentence with all its references.
pub fn group_by_source(pairs: &[Pair]) -> Vec<(String, Vec<String>)> {
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for p in pairs {
        match index.get(p.src.as_str()) {
            Some(&i) => out[i].1.push(p.tgt.clone()),
            None => {
                index.insert(&p.src, out.len());
                out.push((p.src.clone(), vec![p.tgt.clone()]));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<Pair>> {
        parse_parallel(s.as_bytes(), Path::new("pairs.tsv"))
    }

    #[test]
    fn reads_pairs_and_names_bad_lines() {
        let p = parse("Go.\tVa !\r\n\nHi.\tSalut !\tCC-BY\n").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[1].src.as_str(), p[1].tgt.as_str(), p[1].line),
            ("Hi.", "Salut !", 3)
        );
        let e = parse("Go.\tVa !\nno tab here\n").unwrap_err().to_string();
        assert!(
            e.contains("pairs.tsv") && e.contains("line 2") && e.contains("tab"),
            "{e}"
        );
        let e = parse("Go.\t  \n").unwrap_err().to_string();
        assert!(
            e.contains("line 1") && e.contains("target side is empty"),
            "{e}"
        );
        let e = parse("\tVa\n").unwrap_err().to_string();
        assert!(e.contains("source side is empty"), "{e}");
        let e = parse_parallel(b"Go.\tVa\nH\xffi\tx\n", Path::new("p.tsv"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("p.tsv") && e.contains("line 2") && e.contains("UTF-8"),
            "{e}"
        );
        let e = parse("\n\n").unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
    }

    #[test]
    fn tokenizes_and_detokenizes() {
        assert_eq!(
            tokenize("Qu’est-ce que c'est\u{202F}? L'homme, 3 ans.", true),
            [
                "qu'", "est", "-", "ce", "que", "c'", "est", "?", "l'", "homme", ",", "3", "ans",
                "."
            ]
        );
        assert_eq!(
            tokenize("I don't know.", true),
            ["i", "don'", "t", "know", "."]
        );
        let t = tokenize("Qu'est-ce que c'est ? L'homme, là.", false);
        assert_eq!(detokenize(&t), "Qu'est-ce que c'est ? L'homme, là.");
        assert_eq!(detokenize::<&str>(&[]), "");
    }

    #[test]
    fn split_keeps_a_source_sentence_together_and_is_seeded() {
        let pairs: Vec<Pair> = (0..2000)
            .map(|i| Pair {
                src: format!("sentence {}", i / 2),
                tgt: format!("phrase {i}"),
                line: i + 1,
            })
            .collect();
        let s = split_pairs(pairs.clone(), 0, 0.1, 0.2);
        let n = |v: &[Pair]| v.len() as f64 / 2000.0;
        assert!((n(&s.test) - 0.2).abs() < 0.04 && (n(&s.valid) - 0.1).abs() < 0.03);
        for set in [&s.train, &s.valid] {
            for p in set.iter() {
                assert!(!s.test.iter().any(|q| q.src == p.src));
            }
        }
        assert!(s
            .test
            .iter()
            .all(|p| split_of(&p.src, 0, 0.1, 0.2) == Part::Test));
        let other = split_pairs(pairs, 1, 0.1, 0.2);
        assert_ne!(other.test, s.test, "the seed changes the split");
        let g = group_by_source(&s.test);
        assert_eq!(g.len() * 2, s.test.len());
    }
}
