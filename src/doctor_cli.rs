//! `ringwire doctor`: the command line around `ringwire_ops::doctor`. It loads the
//! configuration exactly as `serve` and `check-config` do (defaults, `--config`/
//! `$RINGWIRE_CONFIG`, `RINGWIRE_*`, flags), turns it into the values the checks compare with,
//! and prints the report. Exit status: 0 all pass, 1 something failed, 2 warnings only.

use crate::config::{ConfigError, ControlCpu, DbBackend, Settings};
use clap::{Arg, ArgAction, ArgMatches, Command};
use ringwire_ops::doctor::{self, Configured, Machine};
use std::io::Write;
use std::path::PathBuf;

/// What `ringwire doctor` was asked for.
pub struct DoctorArgs {
    /// The configuration, or why it could not be loaded.
    config: Result<Configured, String>,
    json: bool,
    machine: Machine,
}

/// The `doctor` subcommand (the configuration flags are added by `cli`).
pub fn command() -> Command {
    Command::new("doctor")
        .about(
            "Check this machine against the configuration and print what to fix (exit 0: all \
             pass, 1: something failed, 2: warnings only)",
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print the report as JSON"),
        )
        .arg(
            // A test hook: read DIR/proc/... and DIR/sys/... instead of the machine's
            // (`--root` is the static-files key's flag).
            Arg::new("doctor_root")
                .long("sys-root")
                .value_name("DIR")
                .hide(true),
        )
}

/// Reads the arguments; a configuration that does not load becomes a failed check, not a
/// usage error, so that the exit status keeps doctor's meaning.
pub fn parse(m: &ArgMatches, env: Vec<(String, String)>) -> DoctorArgs {
    let machine = Machine::from_env(m.get_one::<String>("doctor_root").map(PathBuf::from), &env);
    let config = match crate::cli::load(m, env) {
        Ok(s) => match s.validate() {
            // doctor reports CPUs that are missing or not allowed itself, with the fix.
            Ok(()) | Err(ConfigError::Invalid { key: "cpus", .. }) => Ok(configured(&s)),
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e.to_string()),
    };
    DoctorArgs {
        config,
        json: m.get_flag("json"),
        machine,
    }
}

/// The values the checks compare the machine with.
fn configured(s: &Settings) -> Configured {
    let mut listen_ports = vec![s.listen.port()];
    if s.stream_enabled {
        listen_ports.extend(s.stream_listen.map(|a| a.port()));
    }
    listen_ports.extend(s.admin.map(|a| a.port()));
    listen_ports.retain(|p| *p != 0);
    listen_ports.sort_unstable();
    listen_ports.dedup();
    let mut outbound = Vec::new();
    let mut extra_fds_per_worker = 0;
    if s.db.backend == DbBackend::Postgres {
        outbound.push("PostgreSQL (db.url)".to_string());
        extra_fds_per_worker += s.db.pg.pool.max + 1;
    }
    if !s.cluster.nats.is_empty() {
        outbound.push("NATS (cluster.nats)".to_string());
    }
    Configured {
        io: s.io,
        workers: s.workers,
        cpus: s.cpus.clone(),
        control_cpu: match s.control_cpu {
            ControlCpu::Cpu(c) => Some(c),
            ControlCpu::Auto | ControlCpu::None => None,
        },
        max_connections: s.max_connections,
        max_connections_total: s.edge.max_connections_total,
        backlog: s.backlog,
        listen_ports,
        ring_entries: s.ring_entries,
        recv_buffers: s.recv_buffers,
        recv_buffer_size: s.recv_buffer_size,
        extra_fds_per_worker,
        data_dir: (s.db.backend == DbBackend::Embedded).then(|| s.db.data_dir.clone()),
        outbound,
    }
}

/// Runs the checks and prints the report; returns the exit status.
pub fn run(args: DoctorArgs) -> i32 {
    let report = match args.config {
        Ok(cfg) => doctor::run(&cfg, &args.machine),
        Err(e) => doctor::Report {
            checks: vec![doctor::Check {
                name: "config",
                status: doctor::Status::Fail,
                finding: e,
                fix: Some(
                    "fix the configuration; `ringwire check-config` with the same flags shows it"
                        .into(),
                ),
            }],
        },
    };
    let out = if args.json {
        format!("{:#}\n", doctor::json(&report))
    } else {
        doctor::text(&report)
    };
    // A closed pipe (`ringwire doctor | head`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    report.exit_code()
}
