//! Runs every checked-in seed of the connection layer's fuzz targets through the entry point
//! cargo-fuzz uses, so their invariants are checked on stable Rust in every CI run.

fn run(target: &str, check: fn(&[u8])) -> Vec<Vec<u8>> {
    ringwire_protocol::fuzzing::run_corpus(target, check)
}

#[test]
fn corpus_pubsub_command() {
    use ringwire_net::stream::{Command, parse_command};
    let seeds = run(
        "pubsub_command",
        ringwire_net::stream::fuzzing::pubsub_command,
    );
    // The seeds keep their point: both verbs parse, and most lines are refused.
    let parsed: Vec<_> = seeds.iter().filter_map(|s| parse_command(s)).collect();
    assert!(parsed.iter().any(|c| matches!(c, Command::Sub(_))));
    assert!(parsed.iter().any(|c| matches!(c, Command::Pub(_))));
    assert!(seeds.len() - parsed.len() >= 10, "too few refused lines");
}

#[test]
fn corpus_token_decode() {
    use ringwire_net::auth::{AuthError, decode};
    let seeds = run("token_decode", ringwire_net::auth::fuzzing::token_decode);
    // The seeds keep their point: some decode, most are refused, one for the length bound.
    let decoded = seeds.iter().filter(|s| decode(s).is_ok()).count();
    assert!(decoded >= 4, "too few tokens that decode: {decoded}");
    assert!(seeds.len() - decoded >= 10, "too few refused tokens");
    assert!(
        seeds
            .iter()
            .any(|s| s.len() > ringwire_net::auth::MAX_TOKEN_LEN
                && decode(s) == Err(AuthError::Malformed))
    );
}

#[test]
fn corpus_tls_server() {
    let seeds = run("tls_server", ringwire_net::tls::fuzzing::tls_server);
    // The seeds keep their point: every case, and a real ClientHello among them.
    for case in 0..3u8 {
        assert!(
            seeds.iter().any(|s| s.first().map(|c| c % 3) == Some(case)),
            "no seed for case {case}"
        );
    }
    assert!(
        seeds
            .iter()
            .any(|s| s.len() > 100 && s[0] % 3 == 0 && s[1] == 0x16),
        "no real ClientHello"
    );
}
