//! `--tls`, `--tls-ca`, `--tls-server-name`, `--tls-cert`, `--tls-key` of `ringwire client`
//! and `ringwire bench-stream`: the stream protocol over TLS, trusting only the CA given.

use clap::{Arg, ArgAction, ArgMatches};
use ringwire_net::{
    stream::client::TlsOptions,
    tls::{ALPN_HTTP, ALPN_STREAM, client_config, client_config_with_identity},
};
use std::{io, path::PathBuf};

/// How to speak TLS to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsTarget {
    /// The CA (PEM) the server's certificate must chain to (`--tls-ca`).
    pub ca: PathBuf,
    /// The name the certificate must carry (`--tls-server-name`); `None`: the host of
    /// `--addr`.
    pub server_name: Option<String>,
    /// A client certificate and its key (PEM) to present if the server asks for one.
    pub identity: Option<(PathBuf, PathBuf)>,
}

pub(crate) fn args() -> Vec<Arg> {
    let file = |name: &'static str, help: &'static str| {
        Arg::new(name)
            .long(name)
            .global(true)
            .value_name("FILE")
            .value_parser(clap::value_parser!(PathBuf))
            .help(help)
    };
    vec![
        Arg::new("tls")
            .long("tls")
            .global(true)
            .action(ArgAction::SetTrue)
            .help(
                "Speak TLS (ALPN ringwire-stream/1: the server's TLS stream port, or its TLS \
                 HTTP port; with --upgrade, http/1.1 and the upgrade inside TLS). Needs --tls-ca",
            ),
        file(
            "tls-ca",
            "CA certificate(s) (PEM) the server's certificate must chain to; the system's \
             roots are not used",
        ),
        Arg::new("tls-server-name")
            .long("tls-server-name")
            .global(true)
            .value_name("NAME")
            .help(
                "Name the server's certificate must carry, sent as SNI [default: the host of \
                 --addr]",
            ),
        file(
            "tls-cert",
            "Client certificate (PEM) to present when the server asks (with --tls-key)",
        ),
        file("tls-key", "Private key (PEM) of --tls-cert"),
    ]
}

/// The TLS flags, checked: `None` without `--tls`.
pub(crate) fn parse(m: &ArgMatches) -> Result<Option<TlsTarget>, String> {
    let path = |name: &str| m.get_one::<PathBuf>(name).cloned();
    let name = m.get_one::<String>("tls-server-name").cloned();
    let (cert, key) = (path("tls-cert"), path("tls-key"));
    if !m.get_flag("tls") {
        let given = [
            ("--tls-ca", path("tls-ca").is_some()),
            ("--tls-server-name", name.is_some()),
            ("--tls-cert", cert.is_some()),
            ("--tls-key", key.is_some()),
        ];
        return match given.iter().find(|(_, on)| *on) {
            Some((flag, _)) => Err(format!("{flag} only works with --tls: add --tls")),
            None => Ok(None),
        };
    }
    let Some(ca) = path("tls-ca") else {
        return Err(
            "--tls needs --tls-ca FILE: the CA certificate (PEM) that signed the server's \
             certificate (the system's roots are not used)"
                .into(),
        );
    };
    if name.as_deref().is_some_and(str::is_empty) {
        return Err(
            "--tls-server-name: empty; give the name the server's certificate carries".into(),
        );
    }
    let identity = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together: give both or neither".into()),
    };
    Ok(Some(TlsTarget {
        ca,
        server_name: name,
        identity,
    }))
}

/// The host part of `HOST:PORT` (`[::1]:7070` gives `::1`).
pub(crate) fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// The client library's TLS options for `tls` towards `addr`; the CA and key files are read
/// here, and their errors name them. With `upgrade`, ALPN offers `http/1.1` (the upgrade runs
/// inside TLS), otherwise `ringwire-stream/1`.
pub(crate) fn options(tls: &TlsTarget, addr: &str, upgrade: bool) -> io::Result<TlsOptions> {
    let alpn: &[&[u8]] = if upgrade {
        &[ALPN_HTTP]
    } else {
        &[ALPN_STREAM]
    };
    let config = match &tls.identity {
        Some((cert, key)) => client_config_with_identity(&tls.ca, alpn, cert, key),
        None => client_config(&tls.ca, alpn),
    }
    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("TLS: {e}")))?;
    Ok(TlsOptions {
        config,
        server_name: tls
            .server_name
            .clone()
            .unwrap_or_else(|| host_of(addr).to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn the_server_name_defaults_to_the_host() {
        assert_eq!(host_of("localhost:7070"), "localhost");
        assert_eq!(host_of("127.0.0.1:7070"), "127.0.0.1");
        assert_eq!(host_of("[::1]:7070"), "::1");
        assert_eq!(host_of("example.com"), "example.com");
    }
}
