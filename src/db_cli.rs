//! `ringwire db backup|stats|migrate`: the store from outside the server (while it runs, or
//! not).

use clap::{Arg, ArgMatches, Command};
use std::path::PathBuf;

/// What `ringwire db` was asked to do.
pub enum DbArgs {
    Backup {
        data_dir: PathBuf,
        out: PathBuf,
    },
    Stats {
        data_dir: PathBuf,
    },
    /// Apply (or with `check`, only list) pending PostgreSQL migrations.
    Migrate {
        url: String,
        check: bool,
    },
}

fn data_dir() -> Arg {
    Arg::new("data-dir")
        .long("data-dir")
        .value_name("DIR")
        .env("RINGWIRE_DATA_DIR")
        .default_value("ringwire-data")
        .help("The server's data directory (db.data_dir).")
}

/// The `db` subcommand tree.
pub fn command() -> Command {
    Command::new("db")
        .about("Back up the store, show its numbers, or migrate a PostgreSQL schema (works while the server runs)")
        .subcommand_required(true)
        .subcommand(
            Command::new("backup")
                .about("Write a consistent, compacted copy of the store to a new file")
                .arg(data_dir())
                .arg(
                    Arg::new("out")
                        .long("out")
                        .value_name("FILE")
                        .required(true)
                        .help("The backup file to create (refused if it exists). Restore: see docs/STORAGE.md."),
                ),
        )
        .subcommand(
            Command::new("stats")
                .about("Print map size and use, entries and reader slots")
                .arg(data_dir()),
        )
        .subcommand(
            Command::new("migrate")
                .about("Apply pending PostgreSQL migrations (the server also applies them at start), under an advisory lock")
                .arg(
                    Arg::new("db-url")
                        .long("db-url")
                        .value_name("URL")
                        .env("RINGWIRE_DB_URL")
                        .required(true)
                        .help("postgres://user:password@host:port/database (db.url)"),
                )
                .arg(
                    Arg::new("check")
                        .long("check")
                        .action(clap::ArgAction::SetTrue)
                        .help("Change nothing: list what is pending and exit 1 if anything is"),
                ),
        )
}

/// Reads the parsed `db` arguments.
pub fn parse(m: &ArgMatches) -> Result<DbArgs, String> {
    let dir =
        |m: &ArgMatches| PathBuf::from(m.get_one::<String>("data-dir").expect("has a default"));
    match m.subcommand() {
        Some(("backup", m)) => Ok(DbArgs::Backup {
            data_dir: dir(m),
            out: PathBuf::from(m.get_one::<String>("out").expect("required")),
        }),
        Some(("stats", m)) => Ok(DbArgs::Stats { data_dir: dir(m) }),
        Some(("migrate", m)) => Ok(DbArgs::Migrate {
            url: m.get_one::<String>("db-url").expect("required").clone(),
            check: m.get_flag("check"),
        }),
        _ => Err(command().render_help().to_string()),
    }
}

/// Runs it; the process exit code.
pub fn run(args: DbArgs) -> i32 {
    match args {
        DbArgs::Migrate { url, check } => migrate(&url, check),
        DbArgs::Backup { data_dir, out } => match ringwire_db::backup(&data_dir, &out) {
            Ok(s) => {
                println!(
                    "backed up {} ({} keys, {} bytes of map in use) to {}",
                    data_dir.display(),
                    s.entries,
                    s.map_used,
                    out.display()
                );
                0
            }
            Err(e) => {
                eprintln!("ringwire db backup: {e}");
                1
            }
        },
        DbArgs::Stats { data_dir } => match ringwire_db::Store::stats_at(&data_dir) {
            Ok(s) => {
                println!("data_dir = {:?}", data_dir.display().to_string());
                println!("map_size_bytes = {}", s.map_size);
                println!("map_used_bytes = {}", s.map_used);
                println!(
                    "map_used_ratio = {:.4}",
                    s.map_used as f64 / s.map_size.max(1) as f64
                );
                println!("entries = {}", s.entries);
                println!("readers = {}", s.readers);
                println!("max_readers = {}", s.max_readers);
                0
            }
            Err(e) => {
                eprintln!("ringwire db stats: {e}");
                1
            }
        },
    }
}

fn migrate(url: &str, check: bool) -> i32 {
    use ringwire_db::pg::{PgSettings, PgStore, migrate};
    let shown = crate::config::redact(url);
    let fail = |e: &dyn std::fmt::Display| {
        eprintln!("ringwire db migrate: {shown}: {e}");
        1
    };
    let pg = match PgStore::open(PgSettings::new(url), 1) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let rt = match ringwire_reactor::Runtime::builder()
        .backend(ringwire_reactor::Backend::Poll)
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let report = match rt.block_on(migrate::run(&pg, !check)) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    for (v, name) in &report.applied {
        println!("applied {v:04}_{name}");
    }
    for (v, name) in &report.pending {
        println!("pending {v:04}_{name}");
    }
    for v in &report.unknown {
        println!(
            "unknown {v:04} (recorded in the database, not known to this binary: a newer ringwire ran)"
        );
    }
    let latest = migrate::MIGRATIONS.last().map_or(0, |m| m.version);
    if check && !report.pending.is_empty() {
        eprintln!(
            "ringwire db migrate --check: {} migration(s) pending on {shown}",
            report.pending.len()
        );
        return 1;
    }
    println!("schema of {shown} is at version {latest:04} or later");
    0
}
