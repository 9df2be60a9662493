//! Any bytes through `recurrent::fuzzing::parallel_corpus` (see its documentation).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    recurrent::fuzzing::parallel_corpus(data);
});
