//! Fuzz target: see `ringwire_net::stream::fuzzing::pubsub_command` for the invariants it
//! checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringwire_net::stream::fuzzing::pubsub_command(data));
