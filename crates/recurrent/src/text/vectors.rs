//! Pretrained word vectors in the common text format (GloVe, fastText `.vec`, word2vec
//! text): one word per line followed by its numbers, separated by spaces; an optional first
//! line `COUNT DIM` (word2vec / fastText) is skipped. Only the words of a vocabulary are
//! kept, so a large file costs reading time, not memory.

use crate::error::{Error, Result};
use crate::text::vocab::Vocab;
use std::io::BufRead;
use std::path::Path;

/// Rows for the words of `vocab` found in the file at `path` (width `dim`): a vector per
/// vocabulary id, None where the file lacks the word. With `lowercase`, a file word is also
/// matched lower-cased (the first line for a word wins). A line of the wrong width or with
/// a non-number is an error naming its line and column.
pub fn read_vectors(
    path: &Path,
    vocab: &Vocab,
    dim: usize,
    lowercase: bool,
) -> Result<Vec<Option<Vec<f32>>>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    parse_vectors(std::io::BufReader::new(f), path, vocab, dim, lowercase)
}

/// [`read_vectors`] over any reader (`path` names it in messages). Memory is bounded by the
/// vocabulary, not by the input: lines of other words are read and dropped.
pub fn parse_vectors(
    mut reader: impl BufRead,
    path: &Path,
    vocab: &Vocab,
    dim: usize,
    lowercase: bool,
) -> Result<Vec<Option<Vec<f32>>>> {
    let mut rows: Vec<Option<Vec<f32>>> = vec![None; vocab.len()];
    let mut line = String::new();
    let mut n = 0usize;
    loop {
        line.clear();
        let read = reader.read_line(&mut line).map_err(|e| {
            Error::format(
                path,
                format!("line {}: {e} (the file must be UTF-8)", n + 1),
            )
        })?;
        if read == 0 {
            break;
        }
        n += 1;
        let body = line.trim_end_matches(['\n', '\r']);
        let mut parts = body.split(' ').filter(|s| !s.is_empty());
        let Some(word) = parts.next() else { continue };
        let fields: Vec<&str> = parts.collect();
        if n == 1 && fields.len() == 1 && word.parse::<usize>().is_ok() {
            continue; // the `COUNT DIM` header
        }
        let id = vocab
            .id(word)
            .or_else(|| lowercase.then(|| vocab.id(&word.to_lowercase())).flatten());
        let Some(id) = id else { continue };
        if fields.len() != dim {
            return Err(Error::format(
                path,
                format!(
                    "line {n}: {} numbers after `{word}`, but the embeddings are {dim} wide (set --embed {})",
                    fields.len(),
                    fields.len()
                ),
            ));
        }
        if rows[id as usize].is_some() {
            continue;
        }
        let mut v = Vec::with_capacity(dim);
        let mut col = word.chars().count() + 2;
        for f in &fields {
            match f.parse::<f32>() {
                Ok(x) if x.is_finite() => v.push(x),
                _ => {
                    return Err(Error::format(
                        path,
                        format!("line {n}, column {col}: `{f}` is not a finite number"),
                    ))
                }
            }
            col += f.chars().count() + 1;
        }
        rows[id as usize] = Some(v);
    }
    Ok(rows)
}

/// Copies the vectors found into the rows of an embedding table `[V, dim]`; returns how
/// many words were found.
pub fn load_into_table(rows: &[Option<Vec<f32>>], table: &mut [f32], dim: usize) -> usize {
    let mut found = 0;
    for (dst, row) in table.chunks_exact_mut(dim).zip(rows) {
        if let Some(v) = row {
            dst.copy_from_slice(v);
            found += 1;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::Tokenizer;

    #[test]
    fn keeps_vocabulary_words_and_names_bad_lines() {
        let dir = std::env::temp_dir().join(format!("rec-vec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("v.txt");
        std::fs::write(&p, "3 2\nThe 1 2\ncat 0.5 -1\nzebra 9 9\n").unwrap();
        let v = Vocab::from_tokens(
            Tokenizer::Word,
            vec!["<unk>".into(), "the".into(), "cat".into()],
        )
        .unwrap();
        let rows = read_vectors(&p, &v, 2, true).unwrap();
        assert_eq!(
            rows,
            vec![None, Some(vec![1.0, 2.0]), Some(vec![0.5, -1.0])]
        );
        assert!(read_vectors(&p, &v, 3, true)
            .unwrap_err()
            .to_string()
            .contains("line 2: 2 numbers"));
        std::fs::write(&p, "cat 0.5 x1\n").unwrap();
        let e = read_vectors(&p, &v, 2, true).unwrap_err().to_string();
        assert!(e.contains("line 1, column 9: `x1`"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
