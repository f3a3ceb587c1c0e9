use super::*;

#[test]
fn defaults_are_the_documented_ones() {
    let s = Settings::default();
    assert_eq!(s.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(s.io, Backend::Auto);
    assert_eq!(s.head_timeout, Duration::from_secs(10));
    assert_eq!(s.keepalive_timeout, Duration::from_secs(60));
    assert_eq!(s.body_timeout, Duration::from_secs(10));
    assert_eq!(s.write_timeout, Duration::from_secs(30));
    assert_eq!(s.max_body, 1 << 20);
    assert_eq!(s.shutdown_timeout, Duration::from_secs(25));
    assert!(s.validate().is_ok());
}

#[test]
fn layers_apply_in_order_file_env_flag() {
    let mut s = Settings::default();
    s.apply_toml("listen = \"127.0.0.1:9000\"\nworkers = 3\n[timeouts]\nhead = \"5s\"\n[limits]\nmax_body = \"2m\"\n", "test.toml").unwrap();
    assert_eq!(s.listen.port(), 9000);
    assert_eq!(s.workers, 3);
    assert_eq!(s.max_body, 2 << 20);
    s.apply_env([
        ("RINGWIRE_TIMEOUTS_HEAD".to_string(), "7s".to_string()),
        ("UNRELATED".to_string(), "x".to_string()),
    ])
    .unwrap();
    assert_eq!(s.head_timeout, Duration::from_secs(7));
    s.apply_flag("timeouts.head", "9s").unwrap();
    assert_eq!(s.head_timeout, Duration::from_secs(9));
}

#[test]
fn errors_name_the_key_and_the_source() {
    let mut s = Settings::default();
    let e = s
        .apply_toml("[timeouts]\nhead = \"soon\"\n", "/etc/ringwire.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("timeouts.head") && e.contains("/etc/ringwire.toml"),
        "{e}"
    );
    let e = s
        .apply_toml("[limits]\nmax_bodyy = 1\n", "f.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown configuration key \"limits.max_bodyy\""),
        "{e}"
    );
    let e = s
        .apply_env([("RINGWIRE_WORKERS".into(), "many".into())])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("workers") && e.contains("$RINGWIRE_WORKERS"),
        "{e}"
    );
    let e = s.apply_flag("io", "kqueue").unwrap_err().to_string();
    assert!(
        e.contains("io") && e.contains("--io") && e.contains("kqueue"),
        "{e}"
    );
    let e = s
        .apply_toml("listen = [", "bad.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot parse bad.toml"), "{e}");
}

#[test]
fn cross_key_rules_are_checked() {
    let s = Settings {
        root: Some("/definitely/not/here".into()),
        ..Default::default()
    };
    assert!(s.validate().unwrap_err().to_string().contains("root"));
}

#[test]
fn printed_config_reads_back_to_the_same_settings() {
    let mut s = Settings::default();
    s.apply_flag("cpus", "0").unwrap();
    s.apply_flag("head-timeout", "1500ms").unwrap();
    // limits.* keys are declared in two places: the table must still be written once.
    s.apply_flag("rate-limit", "/kv/*;key=sub;rate=10/m;burst=3")
        .unwrap();
    s.apply_flag("insecure-open", "true").unwrap();
    let text = s.to_toml();
    let mut back = Settings::default();
    back.apply_toml(&text, "printed").unwrap();
    assert_eq!(back, s, "{text}");
}

#[test]
fn every_key_has_a_unique_flag_env_and_valid_default() {
    let mut flags = std::collections::HashSet::new();
    let mut envs = std::collections::HashSet::new();
    for k in keys::all() {
        assert!(flags.insert(k.flag), "duplicate flag {}", k.flag);
        assert!(
            envs.insert(keys::env_name(k)),
            "duplicate env for {}",
            k.name
        );
        assert!(!k.help.is_empty());
        let mut s = Settings::default();
        (k.set)(&mut s, k.default).unwrap();
    }
}

#[test]
fn stream_switch_and_deadlines_reach_the_connection_config() {
    let mut s = Settings::default();
    assert!(s.stream_enabled);
    let d = s.net_config().stream;
    assert_eq!(d, ringwire_net::StreamTimeouts::default());
    s.apply_toml(
        "[stream]\nenabled = false\nhandshake_timeout = \"2s\"\nframe_timeout = \"3s\"\nping_interval = \"4s\"\nping_timeout = \"5s\"\n",
        "test.toml",
    )
    .unwrap();
    assert!(!s.stream_enabled);
    let d = s.net_config().stream;
    let secs = |n| Duration::from_secs(n);
    assert_eq!(
        (d.handshake, d.frame, d.ping_interval, d.ping_timeout),
        (secs(2), secs(3), secs(4), secs(5))
    );
    assert!(
        s.to_toml().contains("enabled = false\n"),
        "written bare, as TOML"
    );
    let e = s.apply_flag("stream.frame_timeout", "0s").unwrap_err();
    assert!(e.to_string().contains("greater than zero"), "{e}");
}

#[test]
fn the_data_dir_answers_to_its_short_variable_and_the_long_one_wins() {
    let mut s = Settings::default();
    assert_eq!(s.db.data_dir, std::path::PathBuf::from("ringwire-data"));
    s.apply_env([("RINGWIRE_DATA_DIR".to_string(), "/srv/a".to_string())])
        .unwrap();
    assert_eq!(s.db.data_dir, std::path::PathBuf::from("/srv/a"));
    s.apply_env([
        ("RINGWIRE_DB_DATA_DIR".to_string(), "/srv/long".to_string()),
        ("RINGWIRE_DATA_DIR".to_string(), "/srv/short".to_string()),
    ])
    .unwrap();
    assert_eq!(s.db.data_dir, std::path::PathBuf::from("/srv/long"));
    s.apply_flag("data-dir", "/srv/flag").unwrap();
    assert_eq!(s.db.data_dir, std::path::PathBuf::from("/srv/flag"));
    assert!(s.apply_flag("db-sync", "sometimes").is_err());
    assert!(s.apply_flag("db-backend", "mysql").is_err());
    assert!(s.apply_flag("db-map-size", "1k").is_err());
}

#[test]
fn the_postgres_backend_is_chosen_by_flag_or_environment_and_its_password_stays_hidden() {
    let mut s = Settings::default();
    assert_eq!(s.db.backend, DbBackend::Embedded);
    s.apply_env([
        ("RINGWIRE_DB_BACKEND".to_string(), "postgres".to_string()),
        (
            "RINGWIRE_DB_URL".to_string(),
            "postgres://app:s3cret@db.internal:5432/app".to_string(),
        ),
    ])
    .unwrap();
    assert_eq!(s.db.backend, DbBackend::Postgres);
    assert_eq!(
        s.db.pg_settings().url,
        "postgres://app:s3cret@db.internal:5432/app"
    );
    let shown = keys::find("db.url").map(|k| (k.get)(&s)).unwrap();
    assert_eq!(shown, "postgres://app:***@db.internal:5432/app");
    s.apply_flag("db-pool-max", "4").unwrap();
    s.apply_flag("db-pool-acquire-timeout", "500ms").unwrap();
    s.apply_flag("db-breaker-threshold", "0.25").unwrap();
    let pg = s.db.pg_settings();
    assert_eq!(pg.pool.max, 4);
    assert_eq!(pg.pool.acquire_timeout, Duration::from_millis(500));
    assert_eq!(pg.breaker.threshold, 0.25);
    assert_eq!(pg.max_value, s.db.max_value);
    for (flag, bad) in [
        ("db-breaker-threshold", "0"),
        ("db-breaker-threshold", "1.5"),
        ("db-pool-max", "0"),
        ("db-pool-acquire-timeout", "0s"),
        ("db-url", " "),
    ] {
        assert!(
            s.apply_flag(flag, bad).is_err(),
            "{flag} = {bad:?} is refused"
        );
    }
}

#[test]
fn rate_limits_are_read_from_arrays_of_tables() {
    let mut s = Settings::default();
    let text = r#"
[[limits.rate]]
match = "/kv/*"
key = "ip"
rate = "100/s"
burst = 200

[[limits.rate]]
match = "stream:kv"
key = "sub"
rate = "10/m"
"#;
    s.apply_toml(text, "t.toml").unwrap();
    let rules: Vec<String> = s.edge.rules.iter().map(|(_, r)| r.to_string()).collect();
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert!(
        rules[0].starts_with("/kv/*;key=ip;rate=100/s;burst=200"),
        "{rules:?}"
    );
    assert!(
        rules[1].starts_with("stream:kv;key=sub;rate=10/m"),
        "{rules:?}"
    );
    let bad = "[[limits.rate]]\nmatch = \"/kv/*\"\nrate = \"lots\"\n";
    let err = Settings::default().apply_toml(bad, "t.toml").unwrap_err();
    assert!(err.to_string().contains("limits.rate"), "{err}");
}
