//! Any bytes as a language-model checkpoint: the file, its metadata (model config and
//! vocabulary JSON), and the model built from it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    recurrent_tasks::fuzzing::checkpoint_meta(data);
});
