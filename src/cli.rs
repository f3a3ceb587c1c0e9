//! The command line: subcommands, and one flag per configuration key.

use crate::config::{ConfigError, Settings, keys};
use crate::stream_cli;
use clap::{Arg, ArgMatches, Command};
use std::ffi::OsString;

/// What the user asked for.
pub enum Action {
    Serve(Box<Settings>),
    CheckConfig(Box<Settings>),
    ConfigDocs,
    /// `ringwire client ping|echo|pub|sub`.
    Client(Box<stream_cli::ClientArgs>),
    /// `ringwire bench-stream`.
    BenchStream(Box<stream_cli::BenchArgs>),
    /// `ringwire db backup|stats`.
    Db(crate::db_cli::DbArgs),
    /// `ringwire token keygen|issue`.
    Token(crate::token_cli::TokenArgs),
    /// `ringwire probe-io`.
    ProbeIo,
    /// `ringwire doctor`.
    Doctor(Box<crate::doctor_cli::DoctorArgs>),
    /// `ringwire upgrade`.
    Upgrade(Box<crate::upgrade_cli::UpgradeArgs>),
    /// `--help` or `--version` (of any subcommand): print this to stdout and exit 0.
    Print(String),
}

fn key_args() -> Vec<Arg> {
    let mut args = vec![
        Arg::new("config")
            .long("config")
            .short('c')
            .value_name("FILE")
            .help("TOML configuration file (also $RINGWIRE_CONFIG); flags and environment override it."),
    ];
    for k in keys::all() {
        let default = if k.default.is_empty() {
            "unset"
        } else {
            k.default
        };
        let mut arg = Arg::new(k.name)
            .long(k.flag)
            .value_name("VALUE")
            .help(format!(
                "{} [default: {default}] [env: {}]",
                k.help,
                keys::env_name(k)
            ));
        if k.kind == keys::Kind::Bool {
            // `--insecure-open` alone means true; `--stream-enabled false` still works.
            arg = arg.num_args(0..=1).default_missing_value("true");
        }
        args.push(arg);
    }
    args
}

/// The clap command tree.
pub fn command() -> Command {
    Command::new("ringwire")
        .version(env!("CARGO_PKG_VERSION"))
        .about("A thread-per-core HTTP/1.1 server on io_uring and epoll")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("serve")
                .about("Run the server")
                .args(key_args()),
        )
        .subcommand(
            Command::new("check-config")
                .about("Validate the configuration and print the effective settings as TOML")
                .args(key_args()),
        )
        .subcommand(stream_cli::client_command())
        .subcommand(stream_cli::bench_command())
        .subcommand(crate::db_cli::command())
        .subcommand(crate::token_cli::command())
        .subcommand(crate::doctor_cli::command().args(key_args()))
        .subcommand(crate::upgrade_cli::command().args(key_args()))
        .subcommand(Command::new("probe-io").about(
            "Say whether io_uring can be used here, and why not (exit 0 if it can, 1 if not)",
        ))
        .subcommand(
            Command::new("config-docs")
                .about("Print docs/CONFIG.md")
                .hide(true),
        )
}

/// Parses `args` and builds the settings from defaults, file, environment and flags.
pub fn parse<I, T>(args: I, env: Vec<(String, String)>) -> Result<Action, String>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let matches = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
            return match e.kind() {
                DisplayHelp | DisplayVersion => Ok(Action::Print(e.render().to_string())),
                _ => Err(e.render().to_string()),
            };
        }
    };
    match matches.subcommand() {
        Some(("serve", m)) => Ok(Action::Serve(Box::new(
            settings(m, env).map_err(|e| e.to_string())?,
        ))),
        Some(("check-config", m)) => Ok(Action::CheckConfig(Box::new(
            settings(m, env).map_err(|e| e.to_string())?,
        ))),
        Some(("config-docs", _)) => Ok(Action::ConfigDocs),
        Some(("client", m)) => Ok(Action::Client(Box::new(stream_cli::parse_client(m)?))),
        Some(("bench-stream", m)) => Ok(Action::BenchStream(Box::new(stream_cli::parse_bench(m)?))),
        Some(("db", m)) => Ok(Action::Db(crate::db_cli::parse(m)?)),
        Some(("token", m)) => Ok(Action::Token(crate::token_cli::parse(m)?)),
        Some(("probe-io", _)) => Ok(Action::ProbeIo),
        Some(("doctor", m)) => Ok(Action::Doctor(Box::new(crate::doctor_cli::parse(m, env)))),
        Some(("upgrade", m)) => {
            let settings = load(m, env.clone()).map_err(|e| e.to_string())?;
            Ok(Action::Upgrade(Box::new(crate::upgrade_cli::parse(
                m, env, settings,
            )?)))
        }
        _ => Err(command().render_help().to_string()),
    }
}

fn settings(m: &ArgMatches, env: Vec<(String, String)>) -> Result<Settings, ConfigError> {
    let s = load(m, env)?;
    s.validate()?;
    Ok(s)
}

/// The settings from defaults, file, environment and flags, not yet validated.
pub(crate) fn load(m: &ArgMatches, env: Vec<(String, String)>) -> Result<Settings, ConfigError> {
    let mut s = Settings::default();
    let file = m.get_one::<String>("config").cloned().or_else(|| {
        env.iter()
            .find(|(k, _)| k == "RINGWIRE_CONFIG")
            .map(|(_, v)| v.clone())
    });
    if let Some(file) = file {
        let text = std::fs::read_to_string(&file).map_err(|e| ConfigError::Read {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        s.apply_toml(&text, &file)?;
    }
    s.apply_env(env)?;
    for k in keys::all() {
        if let Some(v) = m.get_one::<String>(k.name) {
            s.apply_flag(k.name, v)?;
        }
    }
    Ok(s)
}

/// `docs/CONFIG.md`, generated from the key table so it cannot drift from the code.
pub fn config_docs() -> String {
    let mut out = String::from(
        "# Configuration\n\n\
         <!-- Generated by `ringwire config-docs`; a test fails if this file differs. -->\n\n\
         Settings come from, in increasing priority: the embedded defaults, a TOML file \
         (`--config FILE` or `$RINGWIRE_CONFIG`), `RINGWIRE_*` environment variables, and \
         command-line flags. `ringwire check-config` validates them and prints the effective \
         configuration as TOML (which is itself a valid configuration file). A bad value stops \
         the server at start with a message naming the key and where the value came from.\n\n\
         Sizes take `k`, `m`, `g` suffixes (powers of 1024); durations are written like `10s`, \
         `500ms`, `2m` (a bare number is seconds).\n\n\
         | key (TOML) | flag | environment | default | meaning |\n|---|---|---|---|---|\n",
    );
    for k in keys::all() {
        let default = if k.default.is_empty() {
            "(unset)".to_string()
        } else {
            format!("`{}`", k.default)
        };
        out.push_str(&format!(
            "| `{}` | `--{}` | `{}` | {} | {} |\n",
            k.name,
            k.flag,
            keys::env_name(k),
            default,
            k.help.replace('|', "\\|")
        ));
    }
    out.push_str("\nA sample file with every key at its default: [`ops/deploy/ringwire.toml`](../ops/deploy/ringwire.toml) once the control core lands; until then `ringwire check-config` prints one.\n");
    out
}
