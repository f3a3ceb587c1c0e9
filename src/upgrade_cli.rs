//! `ringwire upgrade`: asks the running server (its admin listener, from the same
//! configuration `serve` reads) to start the binary now installed at its path and hand its
//! listeners over (`POST /admin/upgrade`; see `upgrade.rs`). Exit 0 once the new process
//! serves, 1 if the upgrade failed (the old process goes on serving), 2 on a usage error.

use clap::{Arg, ArgMatches, Command};
use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

/// What `ringwire upgrade` was given.
pub struct UpgradeArgs {
    admin: SocketAddr,
    token: Option<String>,
}

/// The subcommand (the configuration flags are added by the caller).
pub fn command() -> Command {
    Command::new("upgrade")
        .about("Replace the running server with the binary now at its path, dropping no connection (see docs/OPERATIONS.md, \"Upgrade it\")")
        .arg(
            Arg::new("token")
                .long("token")
                .value_name("TOKEN")
                .help("A token with the admin scope, when auth.keys is set (also $RINGWIRE_TOKEN)"),
        )
}

/// Reads the admin address from the configuration and the token.
pub fn parse(
    m: &ArgMatches,
    env: Vec<(String, String)>,
    settings: crate::config::Settings,
) -> Result<UpgradeArgs, String> {
    let admin = settings
        .admin
        .ok_or("the configuration has no admin listener (admin): nothing to ask")?;
    let token = m.get_one::<String>("token").cloned().or_else(|| {
        env.iter()
            .find(|(k, _)| k == "RINGWIRE_TOKEN")
            .map(|(_, v)| v.clone())
    });
    Ok(UpgradeArgs { admin, token })
}

/// Sends the request and reports the answer.
pub fn run(args: UpgradeArgs) -> i32 {
    match request(&args) {
        Ok((202, body)) => {
            println!("upgraded: {}", body.trim());
            0
        }
        Ok((status, body)) => {
            eprintln!(
                "ringwire upgrade: the server answered {status}: {}",
                body.trim()
            );
            1
        }
        Err(e) => {
            eprintln!(
                "ringwire upgrade: cannot reach the admin listener on {}: {e}",
                args.admin
            );
            1
        }
    }
}

fn request(args: &UpgradeArgs) -> std::io::Result<(u16, String)> {
    let mut sock = TcpStream::connect_timeout(&args.admin, Duration::from_secs(5))?;
    // The server waits for its successor to be ready (up to a minute).
    let wait = crate::upgrade::READY_TIMEOUT + Duration::from_secs(10);
    sock.set_read_timeout(Some(wait))?;
    let auth = args
        .token
        .as_ref()
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "POST /admin/upgrade HTTP/1.1\r\nHost: {}\r\n{auth}Content-Length: 0\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        args.admin
    );
    sock.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    sock.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {text:.80}")))?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    Ok((status, body.to_string()))
}
