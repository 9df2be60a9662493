//! Vocabularies and tokenizers: characters (every character of the corpus, sorted by code
//! point, as pytorch_charlm.py builds it) or whitespace-separated words with a frequency
//! cut-off and an unknown token.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

/// How text becomes tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tokenizer {
    /// One token per Unicode scalar value.
    Char,
    /// Words and line breaks: tokens separated by spaces and tabs, `\n` kept as a token so
    /// generated text keeps its lines.
    Word,
    /// Musical tokens of ABC notation ([`crate::text::abc`]): notes with their durations,
    /// bar lines, chord symbols, header fields. Joining them gives back the text.
    Abc,
}

impl FromStr for Tokenizer {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "char" => Ok(Tokenizer::Char),
            "word" => Ok(Tokenizer::Word),
            "abc" => Ok(Tokenizer::Abc),
            o => Err(Error::Config(format!(
                "unknown tokenizer `{o}`: use char, word or abc"
            ))),
        }
    }
}

/// The unknown-word token of word vocabularies.
pub const UNK: &str = "<unk>";

/// A token vocabulary: index <-> token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vocab {
    pub tokenizer: Tokenizer,
    tokens: Vec<String>,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

impl Vocab {
    /// From a token list (index order). Duplicates are an error.
    pub fn from_tokens(tokenizer: Tokenizer, tokens: Vec<String>) -> Result<Self> {
        if tokens.is_empty() {
            return Err(Error::Input("empty vocabulary".into()));
        }
        if tokens.len() > u32::MAX as usize / 2 {
            return Err(Error::Input(format!(
                "vocabulary of {} entries refused",
                tokens.len()
            )));
        }
        let mut index = HashMap::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            if index.insert(t.clone(), i as u32).is_some() {
                return Err(Error::Input(format!(
                    "vocabulary token {t:?} appears twice"
                )));
            }
        }
        Ok(Vocab {
            tokenizer,
            tokens,
            index,
        })
    }

    /// Every distinct character of `text`, sorted (pytorch_charlm.py's vocabulary).
    pub fn chars(text: &str) -> Self {
        let mut set: Vec<char> = text
            .chars()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if set.is_empty() {
            set.push(' ');
        }
        let tokens = set.into_iter().map(String::from).collect();
        // Distinct by construction.
        Self::from_tokens(Tokenizer::Char, tokens).unwrap_or_else(|_| unreachable!())
    }

    /// Words of `text` seen at least `min_count` times, most frequent first (ties by text),
    /// after [`UNK`] at index 0.
    pub fn words(text: &str, min_count: usize) -> Self {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for w in split_words(text) {
            *counts.entry(w).or_default() += 1;
        }
        let mut by_freq: Vec<(&str, usize)> = counts
            .into_iter()
            .filter(|&(w, c)| c >= min_count && w != UNK)
            .collect();
        by_freq.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let tokens = std::iter::once(UNK.to_string())
            .chain(by_freq.into_iter().map(|(w, _)| w.to_string()))
            .collect();
        Self::from_tokens(Tokenizer::Word, tokens).unwrap_or_else(|_| unreachable!())
    }

    /// ABC tokens of `texts` seen at least `min_count` times, most frequent first (ties by
    /// text), after `specials` (e.g. `<pad>`, `<bos>`, `<eos>`, [`UNK`]).
    pub fn abc<'a>(
        texts: impl IntoIterator<Item = &'a str>,
        min_count: usize,
        specials: &[&str],
    ) -> Self {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for t in texts {
            for k in crate::text::abc::tokenize(t) {
                *counts.entry(k.text(t)).or_default() += 1;
            }
        }
        let mut by_freq: Vec<(&str, usize)> = counts
            .into_iter()
            .filter(|&(w, c)| c >= min_count && !specials.contains(&w))
            .collect();
        by_freq.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let mut tokens: Vec<String> = specials.iter().map(|s| s.to_string()).collect();
        if !specials.contains(&UNK) {
            tokens.push(UNK.to_string());
        }
        tokens.extend(by_freq.into_iter().map(|(w, _)| w.to_string()));
        Self::from_tokens(Tokenizer::Abc, tokens).unwrap_or_else(|_| unreachable!())
    }

    /// Rebuilds the index after deserialisation.
    pub fn reindex(mut self) -> Result<Self> {
        let tokens = std::mem::take(&mut self.tokens);
        Self::from_tokens(self.tokenizer, tokens)
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }
    pub fn id(&self, token: &str) -> Option<u32> {
        self.index.get(token).copied()
    }
    pub fn token(&self, id: u32) -> &str {
        self.tokens.get(id as usize).map_or("", |s| s.as_str())
    }

    /// Encodes text. Characters outside a char vocabulary are an error naming the first one
    /// (and its line); unknown words map to [`UNK`].
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match self.tokenizer {
            Tokenizer::Char => {
                let mut out = Vec::with_capacity(text.len());
                let mut buf = [0u8; 4];
                for (line, l) in text.split_inclusive('\n').enumerate() {
                    for ch in l.chars() {
                        match self.index.get(&*ch.encode_utf8(&mut buf)) {
                            Some(&i) => out.push(i),
                            None => {
                                return Err(Error::Input(format!(
                                    "character {ch:?} (line {}) is not in the model's vocabulary",
                                    line + 1
                                )))
                            }
                        }
                    }
                }
                Ok(out)
            }
            Tokenizer::Word => {
                let unk = self.id(UNK).unwrap_or(0);
                Ok(split_words(text)
                    .map(|w| self.id(w).unwrap_or(unk))
                    .collect())
            }
            Tokenizer::Abc => {
                let unk = self.id(UNK).unwrap_or(0);
                Ok(crate::text::abc::tokenize(text)
                    .iter()
                    .map(|k| self.id(k.text(text)).unwrap_or(unk))
                    .collect())
            }
        }
    }

    /// Joins tokens back into text (words with spaces, newlines kept).
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut s = String::new();
        for &i in ids {
            self.push_token(&mut s, i);
        }
        s
    }

    /// Appends one decoded token to `s` (for streaming output).
    pub fn push_token(&self, s: &mut String, id: u32) {
        let t = self.token(id);
        if self.tokenizer == Tokenizer::Word && t != "\n" && !s.is_empty() && !s.ends_with('\n') {
            s.push(' ');
        }
        s.push_str(t);
    }
}

fn split_words(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive('\n').flat_map(|line| {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, true),
            None => (line, false),
        };
        body.split([' ', '\t', '\r'])
            .filter(|w| !w.is_empty())
            .chain(nl.then_some("\n"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_vocab_sorted_and_round_trips() {
        let v = Vocab::chars("hello world\n");
        assert_eq!(v.tokens()[0], "\n");
        let ids = v.encode("hello").unwrap();
        assert_eq!(v.decode(&ids), "hello");
        assert!(v.encode("hez").unwrap_err().to_string().contains("'z'"));
    }

    #[test]
    fn word_vocab_with_unknown() {
        let v = Vocab::words("the cat the dog\nthe end\n", 2);
        assert_eq!(v.tokens(), &["<unk>", "the", "\n"]);
        let ids = v.encode("the bird\n").unwrap();
        assert_eq!(ids, vec![1, 0, 2]);
        assert_eq!(v.decode(&ids), "the <unk>\n");
    }
}
