//! Any bytes as a language-model corpus: decode, vocabulary, encode, batch.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    recurrent_tasks::fuzzing::text_corpus(data);
});
