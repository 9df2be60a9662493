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

/// The WAV reader on arbitrary bytes, then features of what it read (bounded: at most a
/// second of audio goes through the filterbank).
pub fn wav_read(data: &[u8]) {
    if let Ok(a) = crate::audio::read_wav_bytes(data, Path::new("fuzz.wav")) {
        let n = a.samples.len().min(8000);
        if let Ok(x) =
            crate::audio::resample::resample(&a.samples[..n], a.sample_rate.min(48_000), 8000)
        {
            if let Ok(ex) = crate::audio::MelExtractor::new(&Default::default()) {
                let _ = ex.features(&x);
            }
        }
    }
}
