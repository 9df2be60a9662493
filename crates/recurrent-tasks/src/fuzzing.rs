//! Entry points shared by the fuzz targets (fuzz/) and by the regression test that replays
//! their corpus under `cargo test` (tests/fuzz_corpus.rs), so CI keeps the promise without
//! running the fuzzer: every reader of a user's file returns an error or a value, and never
//! panics, on any input.

use recurrent::checkpoint;
use recurrent::text::corpus::{decode_text, StreamBatcher};
use recurrent::text::{Tokenizer, Vocab};
use std::path::Path;

/// The safetensors reader on arbitrary bytes.
pub fn safetensors_read(data: &[u8]) {
    if let Ok(ck) = checkpoint::read_bytes(data, "fuzz.safetensors") {
        for t in ck.tensors.values() {
            let _ = t.to_tensor::<f32>();
            let _ = t.to_tensor::<f64>();
        }
        let _ = checkpoint::weights_sha256(&ck);
    }
}

/// A text corpus on arbitrary bytes: decode, both vocabularies, encode, batch.
pub fn text_corpus(data: &[u8]) {
    let Ok(text) = decode_text(data, Path::new("fuzz.txt")) else {
        return;
    };
    for vocab in [Vocab::chars(&text), Vocab::words(&text, 1 + data.len() % 3)] {
        if let Ok(ids) = vocab.encode(&text) {
            let _ = vocab.decode(&ids);
            let b = 1 + data.first().map_or(0, |&v| v as usize % 4);
            if let Ok(sb) = StreamBatcher::new(&ids, b, 1 + data.len() % 7) {
                let _ = sb.chunk_at(0);
            }
        }
    }
    let _ = Tokenizer::Char;
}

/// A language-model checkpoint on arbitrary bytes: read, parse its metadata, build and load
/// the model it describes (sizes are bounded by the file's own tensors before anything is
/// allocated).
pub fn checkpoint_meta(data: &[u8]) {
    let Ok(ck) = checkpoint::read_bytes(data, "fuzz.safetensors") else {
        return;
    };
    let path = Path::new("fuzz.safetensors");
    if let Ok(meta) = crate::lm::train::parse_meta(&ck, path) {
        let _ = crate::lm::train::model_from_meta(&meta, &ck);
    }
}

/// A CSV time series on arbitrary bytes, under each missing-date policy and column choice
/// (the header's last column, then the first two named ones).
pub fn series_csv(data: &[u8]) {
    use crate::forecast::series::{parse_series, Fill, SeriesSpec};
    let path = Path::new("fuzz.csv");
    let Ok(text) = decode_text(data, path) else {
        return;
    };
    let header: Vec<String> = text
        .lines()
        .next()
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_string())
        .take(2)
        .collect();
    for fill in [Fill::Interpolate, Fill::Forward, Fill::None] {
        for columns in [Vec::new(), header.clone()] {
            let spec = SeriesSpec {
                columns,
                date_column: None,
                fill,
            };
            if let Ok(s) = parse_series(&text, path, &spec, &mut |_| {}) {
                let _ = (s.target(), s.date_after(1 + data.len() % 5));
            }
        }
        // The same bytes as a panel, its first column the id.
        if let Some(id) = header.first() {
            let spec = crate::forecast::panel::PanelSpec {
                data: path.to_path_buf(),
                id_column: id.clone(),
                column: None,
                date_column: None,
                fill,
            };
            let _ = crate::forecast::panel::parse_panel(&text, &spec, &mut |_| {});
        }
    }
}

/// A CoNLL-U file on arbitrary bytes: parsed for UPOS and XPOS, written back.
pub fn conllu(data: &[u8]) {
    use crate::tag::conllu::{parse_conllu, write_conllu};
    let path = Path::new("fuzz.conllu");
    let Ok(text) = decode_text(data, path) else {
        return;
    };
    for column in [3, 4] {
        if let Ok(sents) = parse_conllu(&text, path, column) {
            let mut out = String::new();
            for s in &sents {
                write_conllu(&s.words, &s.tags, column, &mut out);
            }
        }
    }
}

/// A labelled-text file (classification data) on arbitrary bytes, in every format the
/// detector knows and two encodings; then the word vocabulary of what it read.
pub fn labelled_text(data: &[u8]) {
    use crate::classify::read::{parse_labelled, ReadOptions};
    use recurrent::text::corpus::decode;
    use recurrent::text::words::{word_vocab, words};
    for encoding in [None, Some("windows-1252")] {
        let Ok(text) = decode(data, Path::new("fuzz.txt"), encoding) else {
            continue;
        };
        let named = ReadOptions {
            text_column: Some("text".into()),
            label_column: Some("label".into()),
            ..ReadOptions::default()
        };
        for (name, opts) in [
            ("fuzz.txt", ReadOptions::default()),
            ("fuzz.tsv", ReadOptions::default()),
            ("fuzz.csv", named),
        ] {
            if let Ok((examples, _)) = parse_labelled(&text, Path::new(name), &opts) {
                let tokens: Vec<Vec<String>> =
                    examples.iter().map(|e| words(&e.text, true)).collect();
                let _ = word_vocab(tokens.iter().map(|t| t.as_slice()), 1);
            }
        }
    }
}

/// The 8x8 digits CSV (sequential digits task) on arbitrary bytes: parse, split, batch.
pub fn digits_csv(data: &[u8]) {
    use crate::lab::tasks::parse_digits;
    let path = Path::new("fuzz.csv");
    let Ok(text) = decode_text(data, path) else {
        return;
    };
    if let Ok(d) = parse_digits(&text, path) {
        if let Ok((train, test)) = d.split(0.2, 0) {
            let _ = d.batch(&train);
            let _ = d.batch(&test);
        }
    }
}

/// A word-vectors text file on arbitrary bytes, against a vocabulary of the file's own
/// first words and a width taken from the input.
pub fn word_vectors(data: &[u8]) {
    use recurrent::text::vectors::parse_vectors;
    let path = Path::new("fuzz.vec");
    let head = String::from_utf8_lossy(&data[..data.len().min(256)]).into_owned();
    let vocab = Vocab::words(&head, 1);
    let dim = 1 + data.last().map_or(0, |&v| v as usize % 8);
    let _ = parse_vectors(data, path, &vocab, dim, data.len().is_multiple_of(2));
}

/// Any task's checkpoint on arbitrary bytes: read, then each task's loader (classifier,
/// tagger, forecaster of one series or of a panel, long-range model), which checks every shape before allocating.
pub fn task_checkpoint(data: &[u8]) {
    use crate::classify::train as classify;
    use crate::forecast;
    use crate::lab::longrange;
    use crate::tag::train as tag;
    let path = Path::new("fuzz.safetensors");
    let Ok(ck) = checkpoint::read_bytes(data, "fuzz.safetensors") else {
        return;
    };
    let _ = classify::classifier_from_checkpoint(&ck, path);
    let _ = tag::tagger_from_checkpoint(&ck, path);
    let _ = forecast::forecaster_from_checkpoint(&ck, path);
    let _ = forecast::panel::panel_from_checkpoint(&ck, path);
    let _ = longrange::long_range_from_checkpoint(&ck, path);
}

/// A parallel corpus on arbitrary bytes: parse, tokenise and detokenise both sides, split,
/// group by source, and BLEU of the targets against the sources.
pub fn parallel_corpus(data: &[u8]) {
    use crate::translate::parallel::{
        detokenize, group_by_source, parse_parallel, split_pairs, tokenize,
    };
    let Ok(pairs) = parse_parallel(data, Path::new("fuzz.tsv")) else {
        return;
    };
    for p in &pairs {
        let _ = detokenize(&tokenize(&p.src, true));
        let _ = detokenize(&tokenize(&p.tgt, false));
    }
    let s = split_pairs(pairs.clone(), data.len() as u64, 0.2, 0.3);
    let groups = group_by_source(&s.test);
    let hyps: Vec<String> = groups.iter().map(|g| g.0.clone()).collect();
    let refs: Vec<Vec<String>> = groups.into_iter().map(|g| g.1).collect();
    let _ = crate::translate::bleu::corpus_bleu(&hyps, &refs, data.len().is_multiple_of(2));
}

/// A translation checkpoint on arbitrary bytes: read, check and build the model its
/// metadata describes, and translate a sentence greedily.
pub fn translate_checkpoint(data: &[u8]) {
    let Ok(ck) = checkpoint::read_bytes(data, "fuzz.safetensors") else {
        return;
    };
    if let Ok((model, meta)) =
        crate::translate::load_translator_from(&ck, Path::new("fuzz.safetensors"))
    {
        let _ = crate::translate::translate_greedy(&model, &meta, &["a b".to_string()], 100);
    }
}

/// An ABC file on arbitrary bytes: records, tokens (which must join back to the text),
/// parse, playback, MIDI, validity measures.
pub fn abc_tunes(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for t in crate::music::corpus::tunes_of(&text, "fuzz.abc") {
        let joined: String = crate::music::tokenize(&t.text)
            .iter()
            .map(|k| k.text(&t.text))
            .collect();
        assert_eq!(joined, t.text, "the tokens must join back to the text");
        if let Ok(p) = crate::music::parse_tune(&t.text, Path::new("fuzz.abc"), t.line) {
            let _ = crate::music::midi::render(&p);
        }
    }
    let tunes = crate::music::validity::tunes_in(&text);
    let _ = crate::music::validity::measure(&tunes, None);
}

/// The WAV reader on arbitrary bytes, then features of what it read (bounded: at most a
/// second of audio goes through the filterbank).
pub fn wav_read(data: &[u8]) {
    if let Ok(a) = crate::speech::audio::read_wav_bytes(data, Path::new("fuzz.wav")) {
        let n = a.samples.len().min(8000);
        if let Ok(x) = crate::speech::audio::resample::resample(
            &a.samples[..n],
            a.sample_rate.min(48_000),
            8000,
        ) {
            if let Ok(ex) = crate::speech::audio::MelExtractor::new(&Default::default()) {
                let _ = ex.features(&x);
            }
        }
    }
}
