//! Entry points shared by the fuzz targets (fuzz/) and by the regression test that replays
//! their corpus under `cargo test` (tests/fuzz_corpus.rs), so CI keeps the promise without
//! running the fuzzer: every reader of a user's file returns an error or a value, and never
//! panics, on any input.

use crate::checkpoint;
use crate::data::text::{decode_text, StreamBatcher};
use crate::data::{Tokenizer, Vocab};
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
    if let Ok(meta) = crate::train::lm::parse_meta(&ck, path) {
        let _ = crate::train::lm::model_from_meta(&meta, &ck);
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
