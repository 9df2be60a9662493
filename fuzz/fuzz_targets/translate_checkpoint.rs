//! Any bytes through `recurrent_tasks::fuzzing::translate_checkpoint` (see its documentation).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    recurrent_tasks::fuzzing::translate_checkpoint(data);
});
