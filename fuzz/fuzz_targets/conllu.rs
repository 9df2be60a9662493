//! Any bytes through `recurrent_tasks::fuzzing::conllu` (see its doc comment): an error or a value, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    recurrent_tasks::fuzzing::conllu(data);
});
