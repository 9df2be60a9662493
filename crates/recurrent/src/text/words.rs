//! Sentences as words: splitting on whitespace, a frequency-cut word vocabulary with an
//! unknown token at index 0, and word ids. The classifier and the tagger both read words so.

use crate::error::Result;
use crate::text::vocab::{Tokenizer, Vocab, UNK};
use std::collections::HashMap;

/// Splits a text into word tokens (whitespace), lower-cased if asked.
pub fn words(text: &str, lowercase: bool) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            if lowercase {
                w.to_lowercase()
            } else {
                w.to_string()
            }
        })
        .collect()
}

/// A word vocabulary from tokenised sentences: [`UNK`] at index 0 (also the padding id:
/// padded steps are masked, so what they embed does not matter), then the words seen at
/// least `min_count` times, most frequent first, ties by text.
pub fn word_vocab<'a>(
    sentences: impl IntoIterator<Item = &'a [String]>,
    min_count: usize,
) -> Result<Vocab> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for s in sentences {
        for w in s {
            *counts.entry(w.as_str()).or_default() += 1;
        }
    }
    let mut by_freq: Vec<(&str, usize)> = counts
        .into_iter()
        .filter(|&(w, c)| c >= min_count.max(1) && w != UNK)
        .collect();
    by_freq.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let tokens = std::iter::once(UNK.to_string())
        .chain(by_freq.into_iter().map(|(w, _)| w.to_string()))
        .collect();
    Vocab::from_tokens(Tokenizer::Word, tokens)
}

/// Word ids, unknown words as [`UNK`]; an empty sentence becomes one [`UNK`] (a sequence
/// needs at least one step).
pub fn encode_words(vocab: &Vocab, words: &[String]) -> Vec<u32> {
    let unk = vocab.id(UNK).unwrap_or(0);
    if words.is_empty() {
        return vec![unk];
    }
    words.iter().map(|w| vocab.id(w).unwrap_or(unk)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_vocab_counts_and_cuts() {
        let s = [words("The cat the", true), words("dog the cat", true)];
        let v = word_vocab(s.iter().map(|x| x.as_slice()), 2).unwrap();
        assert_eq!(v.tokens(), &["<unk>", "the", "cat"]);
        assert_eq!(encode_words(&v, &words("cat bird", false)), vec![2, 0]);
        assert_eq!(encode_words(&v, &[]), vec![0]);
    }
}
