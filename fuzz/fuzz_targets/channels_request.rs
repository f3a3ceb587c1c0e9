//! Fuzz target: see `ringwire_protocol::fuzzing::channels_request` for the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringwire_protocol::fuzzing::channels_request(data));
