//! Fuzz target: the bearer-token decoder (`ringwire_net::auth::decode`); see
//! `ringwire_net::auth::fuzzing::token_decode` for the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringwire_net::auth::fuzzing::token_decode(data));
