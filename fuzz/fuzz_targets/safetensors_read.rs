//! Any bytes given to the safetensors reader: an error or a checkpoint, never a panic or an
//! allocation beyond the input's size.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    recurrent_tasks::fuzzing::safetensors_read(data);
});
