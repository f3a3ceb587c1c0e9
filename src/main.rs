//! The `ringwire` binary: `serve`, `check-config`, `client`, `bench-stream`.
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
// unsafe code lives only in the reactor, buffer code and db/src/env.rs (ARCHITECTURE.md).
#![forbid(unsafe_code)]

mod channel_metrics;
mod cli;
mod cluster;
mod config;
mod db_cli;
mod doctor_cli;
mod edge_metrics;
mod files;
#[cfg(feature = "otlp")]
mod otlp;
mod pg_metrics;
mod routes;
mod serve;
mod storage;
mod stream_cli;
mod tls;
mod token_cli;
mod upgrade;
mod upgrade_cli;

fn main() {
    let code = match cli::parse(std::env::args_os(), std::env::vars().collect()) {
        Ok(cli::Action::Serve(settings)) => serve::run(*settings),
        Ok(cli::Action::CheckConfig(settings)) => {
            println!(
                "# ringwire {}: configuration is valid\n{}",
                env!("CARGO_PKG_VERSION"),
                settings.to_toml()
            );
            0
        }
        Ok(cli::Action::ConfigDocs) => {
            print!("{}", cli::config_docs());
            0
        }
        Ok(cli::Action::Client(args)) => stream_cli::run_client(*args),
        Ok(cli::Action::BenchStream(args)) => stream_cli::run_bench(*args),
        Ok(cli::Action::Db(args)) => db_cli::run(args),
        Ok(cli::Action::Token(args)) => token_cli::run(args),
        Ok(cli::Action::Doctor(args)) => doctor_cli::run(*args),
        Ok(cli::Action::Upgrade(args)) => upgrade_cli::run(*args),
        Ok(cli::Action::ProbeIo) => match ringwire_reactor::testing::uring_unavailable() {
            None => {
                println!("io_uring: available (io = auto uses it)");
                0
            }
            Some(why) => {
                println!("io_uring: unavailable: {why} (io = auto falls back to epoll)");
                1
            }
        },
        Ok(cli::Action::Print(text)) => {
            print!("{text}");
            0
        }
        Err(msg) => {
            eprintln!("{}", msg.trim_end());
            2
        }
    };
    std::process::exit(code);
}
