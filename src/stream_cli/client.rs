//! `ringwire client`: one connection, one small job, human-readable output.

use super::{ClientArgs, ClientCmd, Target};
use ringwire_net::stream::client::{Client, ErrorCode, Options, error_code};
use ringwire_reactor::{Runtime, time};
use std::{
    io::{self, Write},
    net::{SocketAddr, ToSocketAddrs},
    time::Duration,
};

/// Runs a `ringwire client` command; returns the exit code.
pub fn run(args: ClientArgs) -> i32 {
    let rt = match Runtime::builder().backend(args.target.io).build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ringwire client: {e}");
            return 1;
        }
    };
    match rt.block_on(command(args)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ringwire client: {}", explain(&e));
            1
        }
    }
}

/// `e`'s message, and for a refusal of this client what to do about it.
pub(super) fn explain(e: &io::Error) -> String {
    let hint = match error_code(e) {
        Some(ErrorCode::UNAUTHENTICATED) => {
            "\nhint: give a valid token with --token TOKEN or the RINGWIRE_TOKEN environment \
             variable (`ringwire token issue --key DIR/<kid>.key --sub NAME --scope ...` makes \
             one; check that it has not expired)"
        }
        Some(ErrorCode::FORBIDDEN) => {
            "\nhint: the token lacks the scope this needs (kv:read:, kv:write:, pub:, sub:; see \
             docs/SECURITY.md), or the server has no auth keys and serves only loopback clients \
             (its operator configures --auth-keys, or --insecure-open)"
        }
        Some(ErrorCode::RATE_LIMITED) => "\nhint: the server limits request rates; retry later",
        _ => "",
    };
    format!("{e}{hint}")
}

/// The first address `target.addr` resolves to.
pub(super) fn resolve(target: &Target) -> io::Result<SocketAddr> {
    target.addr.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} resolves to no address", target.addr),
        )
    })
}

/// The client library's options for `target` (reads the TLS files, if any).
pub(super) fn options(target: &Target) -> io::Result<Options> {
    let tls = match &target.tls {
        Some(tls) => Some(super::tls::options(tls, &target.addr, target.upgrade)?),
        None => None,
    };
    Ok(Options {
        upgrade: target.upgrade,
        timeout: target.timeout,
        token: target.token.clone(),
        tls,
        ..Options::default()
    })
}

/// Connects as `target` says.
pub(super) async fn connect(target: &Target) -> io::Result<Client> {
    let options = options(target)?;
    Client::connect_with(resolve(target)?, &options).await
}

async fn command(args: ClientArgs) -> io::Result<()> {
    let client = connect(&args.target).await?;
    let mut out = io::stdout().lock();
    match args.cmd {
        ClientCmd::Ping { count, interval } => ping(&client, count, interval, &mut out).await?,
        ClientCmd::Echo { message } => {
            let stream = client.open("echo").await?;
            stream.send(message.as_bytes()).await?;
            stream.finish()?;
            let mut echo = Vec::new();
            while let Some(b) = stream.recv().await? {
                echo.extend_from_slice(&b);
            }
            writeln!(out, "{}", String::from_utf8_lossy(&echo))?;
        }
        ClientCmd::Pub { channel, messages } => {
            super::channels::publish(&client, &channel, &messages, &mut out).await?;
        }
        ClientCmd::Sub {
            channel,
            count,
            opts,
        } => super::channels::subscribe(&client, &channel, count, &opts, &mut out).await?,
        ClientCmd::ChannelInfo { channel } => {
            super::channels::info(&client, &channel, &mut out).await?;
        }
        ClientCmd::Kv(cmd) => {
            if !super::kv::run(&client, cmd, &mut out).await? {
                return Err(io::Error::new(io::ErrorKind::NotFound, "not found"));
            }
        }
    }
    client.close().await
}

async fn ping(
    client: &Client,
    count: u64,
    interval: Duration,
    out: &mut impl Write,
) -> io::Result<()> {
    let mut rtts = Vec::new();
    for i in 0..count {
        if i > 0 {
            time::sleep(interval).await;
        }
        let rtt = client.ping().await?;
        writeln!(out, "pong from {}: seq={i} rtt={}", client.addr(), ms(rtt))?;
        rtts.push(rtt);
    }
    let min = rtts.iter().min().copied().unwrap_or_default();
    let max = rtts.iter().max().copied().unwrap_or_default();
    let avg = rtts.iter().sum::<Duration>() / rtts.len().max(1) as u32;
    writeln!(
        out,
        "{count} pings: min/avg/max = {}/{}/{}",
        ms(min),
        ms(avg),
        ms(max)
    )?;
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}
