use super::*;
use proptest::prelude::*;

/// A stand-in for the configuration's size parser: digits and an optional binary unit.
fn size(s: &str) -> Result<u64, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("bad size {s:?}"))?;
    let shift = match unit {
        "" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        _ => return Err(format!("bad unit in {s:?}")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| "too large".to_string())
}

/// A stand-in for the configuration's duration parser: digits and one unit.
fn duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("bad duration {s:?}"))?;
    Ok(match unit {
        "ns" => Duration::from_nanos(n),
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "d" => Duration::from_secs(n * 86_400),
        _ => return Err(format!("bad unit in {s:?}")),
    })
}

fn parse(text: &str) -> Result<Durability, String> {
    Durability::parse(text, size, duration)
}

fn m(p: &str, c: &str) -> bool {
    Pattern::parse(p).unwrap().matches(c)
}

#[test]
fn globs() {
    assert!(m("orders", "orders"));
    assert!(!m("orders", "orders.eu"));
    assert!(m("orders.*", "orders.eu"));
    assert!(!m("orders.*", "orders"));
    assert!(!m("orders.*", "orders.eu.x"));
    assert!(m("orders.>", "orders.eu"));
    assert!(m("orders.>", "orders.eu.x.y"));
    assert!(!m("orders.>", "orders"));
    assert!(m(">", "a"));
    assert!(m("*.b.>", "a.b.c"));
    assert!(!m("*.b.>", "a.c.c"));
    assert!(!m("orders", "orders2"));
}

#[test]
fn bad_patterns_say_why() {
    for (p, why) in [
        ("", "empty"),
        ("a..b", "empty token"),
        (".a", "empty token"),
        ("a.", "empty token"),
        ("a.>.b", "last token"),
        ("ord*", "whole token"),
        ("a.b>", "whole token"),
        ("a b", "A-Z"),
        ("a/b", "A-Z"),
    ] {
        let e = Pattern::parse(p).unwrap_err();
        assert!(e.contains(why), "{p:?}: {e}");
    }
    assert!(Pattern::parse(&"a".repeat(65)).unwrap_err().contains("64"));
    assert!(Pattern::parse(&"a".repeat(64)).is_ok());
}

#[test]
fn parses_entries_first_match_wins() {
    let d =
        parse(" orders.* ; max_age=7d ;max_bytes=1GiB , audit,,orders.>;max_count=10 ").unwrap();
    assert_eq!(d.entries.len(), 3);
    let r = d.lookup("orders.eu").unwrap();
    assert_eq!(r.max_age, Some(Duration::from_secs(7 * 86_400)));
    assert_eq!(r.max_bytes, Some(1 << 30));
    assert_eq!(r.max_count, None);
    assert!(d.lookup("audit").unwrap().is_unbounded());
    assert_eq!(d.lookup("orders.eu.x").unwrap().max_count, Some(10));
    assert!(d.lookup("other").is_none());
    assert!(d.lookup("orders").is_none());
    assert_eq!(
        d.lookup("orders.eu").unwrap().to_trim(),
        Trim {
            max_count: None,
            max_bytes: Some(1 << 30),
            max_age: Some(Duration::from_secs(7 * 86_400)),
        }
    );
    assert_eq!(
        d.to_string(),
        "orders.*;max_bytes=1GiB;max_age=7d,audit,orders.>;max_count=10"
    );
    assert!(parse("").unwrap().is_empty());
    assert!(parse("  ").unwrap().is_empty());
}

#[test]
fn bad_entries_name_the_entry_and_what_is_expected() {
    for (text, entry, why) in [
        ("a,b..c", "b..c", "empty token"),
        ("a;max_count", "a;max_count", "key=value"),
        ("a;max_count=x", "a;max_count=x", "whole number"),
        ("a;max_count=0", "a;max_count=0", "at least 1"),
        ("a;max_bytes=1q", "a;max_bytes=1q", "max_bytes: bad unit"),
        ("a;max_age=soon", "a;max_age=soon", "max_age: bad duration"),
        ("a;max_age=0s", "a;max_age=0s", "more than 0"),
        ("a;max_count=1;max_count=2", "max_count=2", "twice"),
        ("a;ttl=5", "a;ttl=5", "unknown key \"ttl\""),
        ("  ;max_count=1", ";max_count=1", "empty pattern"),
    ] {
        let e = parse(text).unwrap_err();
        assert!(e.contains(entry), "{text:?}: {e}");
        assert!(e.contains(why), "{text:?}: {e}");
    }
}

#[test]
fn shows_units() {
    assert_eq!(show_size(1000), "1000");
    assert_eq!(show_size(0), "0");
    assert_eq!(show_size(3 << 10), "3KiB");
    assert_eq!(show_size(5 << 20), "5MiB");
    assert_eq!(show_size(1 << 40), "1024GiB");
    assert_eq!(show_duration(Duration::from_secs(90)), "90s");
    assert_eq!(show_duration(Duration::from_secs(120)), "2m");
    assert_eq!(show_duration(Duration::from_secs(7200)), "2h");
    assert_eq!(show_duration(Duration::from_millis(1500)), "1500ms");
    assert_eq!(show_duration(Duration::from_nanos(7)), "7ns");
}

/// The obviously correct matcher the glob is checked against.
fn reference(pattern: &[&str], channel: &[&str]) -> bool {
    match (pattern.split_first(), channel.split_first()) {
        (None, None) => true,
        (Some((&">", [])), Some(_)) => true,
        (Some((p, pr)), Some((c, cr))) => (*p == "*" || p == c) && reference(pr, cr),
        _ => false,
    }
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        "[a-c:_-]{1,3}"
    ]
}

fn pattern_token() -> impl Strategy<Value = String> {
    prop_oneof![token(), Just("*".to_string())]
}

fn retention() -> impl Strategy<Value = Retention> {
    (
        proptest::option::of(1u64..u64::MAX),
        proptest::option::of(prop_oneof![
            1u64..5000,
            (1u64..1 << 20).prop_map(|n| n << 10)
        ]),
        proptest::option::of(prop_oneof![
            (1u64..1 << 40).prop_map(Duration::from_nanos),
            (1u64..1 << 30).prop_map(Duration::from_millis),
            (1u64..1 << 30).prop_map(|n| Duration::from_secs(n * 60)),
        ]),
    )
        .prop_map(|(max_count, max_bytes, max_age)| Retention {
            max_count,
            max_bytes,
            max_age,
        })
}

proptest! {
    #[test]
    fn glob_matches_like_a_reference(
        mut pat in proptest::collection::vec(pattern_token(), 1..5),
        tail in any::<bool>(),
        chan in proptest::collection::vec(token(), 1..6),
    ) {
        if tail {
            pat.push(">".into());
        }
        let text = pat.join(".");
        prop_assume!(text.len() <= MAX_PATTERN);
        let p = Pattern::parse(&text).unwrap();
        let pat_refs: Vec<&str> = pat.iter().map(String::as_str).collect();
        let chan_refs: Vec<&str> = chan.iter().map(String::as_str).collect();
        prop_assert_eq!(p.matches(&chan.join(".")), reference(&pat_refs, &chan_refs));
        // A channel spelled like the literal pattern always matches itself.
        if !tail && !pat.iter().any(|t| t == "*") {
            prop_assert!(p.matches(&text));
        }
    }

    #[test]
    fn parse_display_round_trip(
        entries in proptest::collection::vec(
            (proptest::collection::vec(pattern_token(), 1..4), any::<bool>(), retention()),
            0..5,
        ),
    ) {
        let d = Durability {
            entries: entries
                .into_iter()
                .map(|(mut toks, tail, r)| {
                    if tail {
                        toks.push(">".into());
                    }
                    (Pattern::parse(&toks.join(".")).unwrap(), r)
                })
                .collect(),
        };
        let text = d.to_string();
        prop_assert_eq!(parse(&text), Ok(d), "{}", text);
    }

    #[test]
    fn parse_never_panics(text in "[a-z*>.,;=_ 0-9]{0,40}") {
        let _ = parse(&text);
    }
}
