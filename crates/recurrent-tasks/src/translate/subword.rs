//! The units a translation model reads and writes (`--tokens word|bpe|char`). Every unit
//! kind starts from the words of [`crate::translate::parallel::tokenize`]; `bpe` and `char`
//! then cut each word into pieces, every piece after a word's first marked by
//! [`CONTINUE`], so [`Segmenter::join`] gives back the words exactly and BLEU is computed on
//! the same plain text whichever unit the model used.
//!
//! BPE (Sennrich et al. 2016) is learned on the training split's words alone, with Hugging
//! Face's `tokenizers` crate: its trainer is the one behind most subword vocabularies in
//! use, and it is deterministic (merges ordered by count, then by pair), so a resumed or
//! repeated run learns the very same merges.

use recurrent::error::{Error, Result};
use recurrent::text::vocab::UNK;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::{AddedToken, Model, Trainer};

/// The mark of a piece that continues the word before it (the `tokenizers` convention for
/// BPE and WordPiece).
pub const CONTINUE: &str = "##";

/// Which units a model's vocabularies hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenUnit {
    /// Whole words (rare ones become `<unk>`).
    #[default]
    Word,
    /// Byte-pair-encoding pieces learned on the training split (`--vocab-size`).
    Bpe,
    /// Characters.
    Char,
}

impl FromStr for TokenUnit {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "word" => Ok(TokenUnit::Word),
            "bpe" => Ok(TokenUnit::Bpe),
            "char" => Ok(TokenUnit::Char),
            _ => Err(Error::Config(format!(
                "--tokens must be word, bpe or char, got `{s}`"
            ))),
        }
    }
}

impl fmt::Display for TokenUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenUnit::Word => "word",
            TokenUnit::Bpe => "bpe",
            TokenUnit::Char => "char",
        })
    }
}

/// How one language's words become units: as they are, as characters, or as BPE pieces
/// (the learned model is stored with the checkpoint).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(tag = "unit", rename_all = "lowercase")]
pub enum Segmenter {
    #[default]
    Word,
    Char,
    Bpe {
        model: Box<BpeModel>,
    },
}

/// A learned BPE model (the `tokenizers` crate's, in its own JSON form).
#[derive(Clone, Serialize)]
#[serde(transparent)]
pub struct BpeModel(BPE);

impl<'de> Deserialize<'de> for BpeModel {
    /// Through JSON text: the crate's reader borrows its strings, which a checkpoint's
    /// metadata, read into a JSON value first, cannot lend.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = serde_json::Value::deserialize(d)?.to_string();
        serde_json::from_str::<BPE>(&text)
            .map(BpeModel)
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for BpeModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BpeModel({} units)", self.0.get_vocab_size())
    }
}

fn bpe_err(e: impl fmt::Display) -> Error {
    Error::Config(format!("BPE: {e}"))
}

impl Segmenter {
    /// The segmenter of `unit`, learned from `sentences` (words, the training split's) for
    /// BPE, with at most `vocab_size` units.
    pub fn learn<'a>(
        unit: TokenUnit,
        sentences: impl Iterator<Item = &'a [String]>,
        vocab_size: usize,
    ) -> Result<Segmenter> {
        match unit {
            TokenUnit::Word => Ok(Segmenter::Word),
            TokenUnit::Char => Ok(Segmenter::Char),
            TokenUnit::Bpe => {
                let words: Vec<&str> = sentences.flatten().map(String::as_str).collect();
                // The trainer breaks ties between equally frequent pairs by unit id, and
                // numbers each continuation piece (`##e`) when it first meets it in a hash
                // map's order, which changes from map to map: two learnings of one corpus
                // (a run and its resume) differed by a unit. Listing every continuation
                // piece up front, sorted, fixes their ids and so the merges.
                let inner: std::collections::BTreeSet<char> =
                    words.iter().flat_map(|w| w.chars().skip(1)).collect();
                let specials = std::iter::once(UNK.to_string())
                    .chain(inner.iter().map(|c| format!("{CONTINUE}{c}")))
                    .map(|t| AddedToken::from(t, true))
                    .collect();
                let mut trainer = BpeTrainerBuilder::new()
                    .vocab_size(vocab_size)
                    .show_progress(false)
                    .special_tokens(specials)
                    .continuing_subword_prefix(CONTINUE.to_string())
                    .build();
                trainer
                    .feed(words.into_iter(), |w| Ok(vec![w.to_string()]))
                    .map_err(bpe_err)?;
                let mut model = BPE::builder()
                    .unk_token(UNK.to_string())
                    .continuing_subword_prefix(CONTINUE.to_string())
                    .build()
                    .map_err(bpe_err)?;
                trainer.train(&mut model).map_err(bpe_err)?;
                Ok(Segmenter::Bpe {
                    model: Box::new(BpeModel(model)),
                })
            }
        }
    }

    /// The units of a sentence's words.
    pub fn split(&self, words: &[String]) -> Vec<String> {
        match self {
            Segmenter::Word => words.to_vec(),
            Segmenter::Char => words
                .iter()
                .flat_map(|w| {
                    w.chars().enumerate().map(|(i, c)| {
                        if i == 0 {
                            c.to_string()
                        } else {
                            format!("{CONTINUE}{c}")
                        }
                    })
                })
                .collect(),
            Segmenter::Bpe { model } => words
                .iter()
                .flat_map(|w| match model.0.tokenize(w) {
                    Ok(pieces) => pieces.into_iter().map(|t| t.value).collect(),
                    // A word BPE cannot read stays whole (and is `<unk>` to the vocabulary).
                    Err(_) => vec![w.clone()],
                })
                .collect(),
        }
    }

    /// The words that units make: each continuation piece joins the word before it.
    pub fn join<S: AsRef<str>>(&self, units: &[S]) -> Vec<String> {
        if matches!(self, Segmenter::Word) {
            return units.iter().map(|u| u.as_ref().to_string()).collect();
        }
        let mut words: Vec<String> = Vec::new();
        for u in units {
            let u = u.as_ref();
            match (u.strip_prefix(CONTINUE), words.last_mut()) {
                (Some(rest), Some(last)) => last.push_str(rest),
                (Some(rest), None) => words.push(rest.to_string()),
                (None, _) => words.push(u.to_string()),
            }
        }
        words
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::parallel::tokenize;

    fn sentences() -> Vec<Vec<String>> {
        [
            "Je ne sais pas ce qu'il veut dire.",
            "Il est parti très rapidement, sans dire au revoir.",
            "Nous sommes allés à la plage hier après-midi.",
            "Les enfants jouent dans le jardin.",
            "Elle a acheté une nouvelle voiture rouge.",
        ]
        .iter()
        .map(|s| tokenize(s, false))
        .collect()
    }

    #[test]
    fn every_unit_kind_gives_back_the_words_exactly() {
        let train = sentences();
        let unseen = tokenize("Ils jouaient rapidement près de la voiture, hier.", false);
        for unit in [TokenUnit::Word, TokenUnit::Char, TokenUnit::Bpe] {
            let seg = Segmenter::learn(unit, train.iter().map(|s| s.as_slice()), 60).unwrap();
            for words in train.iter().chain([&unseen]) {
                let units = seg.split(words);
                assert_eq!(&seg.join(&units), words, "{unit}: {units:?}");
                if unit != TokenUnit::Word {
                    assert!(units.len() >= words.len(), "{unit}");
                }
            }
        }
    }

    #[test]
    fn bpe_learns_frequent_pieces_deterministically_and_stores_as_json() {
        let train = sentences();
        let learn = || Segmenter::learn(TokenUnit::Bpe, train.iter().map(|s| s.as_slice()), 200);
        let (a, b) = (learn().unwrap(), learn().unwrap());
        // Two learnings cut every word alike (a resumed run rebuilds the same units).
        for words in &train {
            assert_eq!(a.split(words), b.split(words), "two learnings disagree");
        }
        let ja = serde_json::to_string(&a).unwrap();
        let back: Segmenter = serde_json::from_str(&ja).unwrap();
        let words = tokenize("Les enfants sont partis.", false);
        assert_eq!(back.split(&words), a.split(&words));
        // A frequent word is one piece, or fewer pieces than its letters.
        let pieces = a.split(&["dire".to_string()]);
        assert!(pieces.len() < 4, "{pieces:?}");
        // An unseen letter does not break the round trip.
        let odd = vec!["ζeta".to_string()];
        assert_eq!(a.join(&a.split(&odd)).len(), 1);
    }

    /// Many pairs with equal counts, so the merge order rests on how ties are broken: the
    /// trainer breaks them by unit ids, which it gave continuation pieces in hash-map
    /// order (a new order in every map) until they were fixed in advance.
    #[test]
    fn bpe_learning_is_the_same_every_time_even_with_ties() {
        let letters: Vec<char> = "abcdefghijkl".chars().collect();
        let words: Vec<String> = letters
            .iter()
            .flat_map(|&a| letters.iter().map(move |&b| format!("{a}{b}{a}")))
            .collect();
        let train = [words];
        let learn = || {
            let seg = Segmenter::learn(TokenUnit::Bpe, train.iter().map(|s| s.as_slice()), 120);
            serde_json::to_string(&seg.unwrap()).unwrap()
        };
        let first = learn();
        for _ in 0..6 {
            assert_eq!(learn(), first, "two learnings of one corpus differ");
        }
    }

    #[test]
    fn unit_names_parse_and_print() {
        for u in [TokenUnit::Word, TokenUnit::Bpe, TokenUnit::Char] {
            assert_eq!(u.to_string().parse::<TokenUnit>().unwrap(), u);
        }
        let e = "pieces".parse::<TokenUnit>().unwrap_err().to_string();
        assert!(e.contains("--tokens"), "{e}");
    }
}
