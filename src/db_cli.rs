//! `ringwire db backup|stats`: the store from outside the server (while it runs, or not).

use clap::{Arg, ArgMatches, Command};
use std::path::PathBuf;

/// What `ringwire db` was asked to do.
pub enum DbArgs {
    Backup { data_dir: PathBuf, out: PathBuf },
    Stats { data_dir: PathBuf },
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
        .about("Back up the store or show its numbers (works while the server runs)")
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
        _ => Err(command().render_help().to_string()),
    }
}

/// Runs it; the process exit code.
pub fn run(args: DbArgs) -> i32 {
    match args {
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
