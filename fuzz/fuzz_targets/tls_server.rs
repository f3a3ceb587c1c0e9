//! Fuzz target: random bytes into the server side of TLS, before and after a handshake
//! (`ringwire_net::tls::fuzzing::tls_server` says what it checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringwire_net::tls::fuzzing::tls_server(data));
