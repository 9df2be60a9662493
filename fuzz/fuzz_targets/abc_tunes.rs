//! Any bytes as an ABC file: records, tokens, parse, MIDI, validity.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    recurrent_tasks::fuzzing::abc_tunes(data);
});
