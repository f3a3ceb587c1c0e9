//! Fuzz target: see `ringwire_protocol::fuzzing::kv_request` for the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringwire_protocol::fuzzing::kv_request(data));
