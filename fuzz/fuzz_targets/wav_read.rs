//! Any bytes as a WAV file: chunk walk, decode, resample, log-mel features.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    recurrent_tasks::fuzzing::wav_read(data);
});
