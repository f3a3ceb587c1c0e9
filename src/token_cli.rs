//! `ringwire token keygen|issue`: Ed25519 key pairs for `--auth-keys`, and signed bearer
//! tokens (docs/SECURITY.md).

use clap::{Arg, ArgAction, ArgMatches, Command};
use ringwire_net::auth::{Claims, Scope, generate_keypair, load_signing_key, sign};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// What `ringwire token` was asked to do.
pub enum TokenArgs {
    /// Write a new key pair into `out`.
    Keygen { out: PathBuf },
    /// Print a token signed with the private key `key`.
    Issue {
        key: PathBuf,
        sub: String,
        scopes: Vec<String>,
        ttl_secs: u64,
    },
}

/// The `token` subcommand tree.
pub fn command() -> Command {
    Command::new("token")
        .about("Make Ed25519 signing keys and issue bearer tokens (see docs/SECURITY.md)")
        .subcommand_required(true)
        .subcommand(
            Command::new("keygen")
                .about("Write a new key pair: DIR/<kid>.key (private, mode 0600) and DIR/<kid>.pub (for the server's --auth-keys directory)")
                .arg(
                    Arg::new("out")
                        .long("out")
                        .value_name("DIR")
                        .required(true)
                        .help("Directory for the two files (created with mode 0700 if missing)"),
                ),
        )
        .subcommand(
            Command::new("issue")
                .about("Print a signed token (and a newline, nothing else) on stdout")
                .arg(
                    Arg::new("key")
                        .long("key")
                        .value_name("FILE")
                        .required(true)
                        .help("The private key from `token keygen` (DIR/<kid>.key); its kid is the file name"),
                )
                .arg(
                    Arg::new("sub")
                        .long("sub")
                        .value_name("NAME")
                        .required(true)
                        .help("Subject: who the token is for (logged; the key of key=sub rate limits)"),
                )
                .arg(
                    Arg::new("scope")
                        .long("scope")
                        .value_name("SCOPE")
                        .action(ArgAction::Append)
                        .help("A grant, repeatable or comma-separated: kv:read:<prefix>, kv:write:<prefix>, pub:<channel-glob>, sub:<channel-glob>, admin"),
                )
                .arg(
                    Arg::new("ttl")
                        .long("ttl")
                        .value_name("DURATION")
                        .default_value("1h")
                        .help("Lifetime: a number with s, m, h or d (a bare number is seconds)"),
                ),
        )
}

/// Reads the parsed `token` arguments; refuses a bad scope or lifetime with the reason.
pub fn parse(m: &ArgMatches) -> Result<TokenArgs, String> {
    let path = |m: &ArgMatches, name| PathBuf::from(m.get_one::<String>(name).expect("required"));
    match m.subcommand() {
        Some(("keygen", m)) => Ok(TokenArgs::Keygen {
            out: path(m, "out"),
        }),
        Some(("issue", m)) => {
            let sub = m.get_one::<String>("sub").expect("required").clone();
            if sub.is_empty() {
                return Err("ringwire token issue: --sub must not be empty".into());
            }
            let scopes: Vec<String> = m
                .get_many::<String>("scope")
                .into_iter()
                .flatten()
                .flat_map(|s| s.split(','))
                .map(str::to_string)
                .collect();
            for s in &scopes {
                Scope::parse(s).map_err(|e| format!("ringwire token issue: {e}"))?;
            }
            let ttl = m.get_one::<String>("ttl").expect("has a default");
            let ttl_secs = parse_ttl(ttl).map_err(|e| format!("ringwire token issue: {e}"))?;
            Ok(TokenArgs::Issue {
                key: path(m, "key"),
                sub,
                scopes,
                ttl_secs,
            })
        }
        _ => Err(command().render_help().to_string()),
    }
}

/// `90`, `90s`, `15m`, `1h`, `30d` as seconds (more than zero).
fn parse_ttl(text: &str) -> Result<u64, String> {
    let bad = || format!("bad --ttl {text:?}: expected a number with s, m, h or d, like 1h");
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    match n.checked_mul(per) {
        Some(0) => Err(format!(
            "bad --ttl {text:?}: a token must live more than 0 s"
        )),
        Some(secs) => Ok(secs),
        None => Err(bad()),
    }
}

/// Runs it; the process exit code.
pub fn run(args: TokenArgs) -> i32 {
    match args {
        TokenArgs::Keygen { out } => match generate_keypair(&out) {
            Ok((kid, key, public)) => {
                println!("kid: {kid}");
                println!(
                    "private key: {} (keep it secret: `ringwire token issue --key` signs with it)",
                    key.display()
                );
                println!(
                    "public key: {} (copy it into the server's --auth-keys directory)",
                    public.display()
                );
                0
            }
            Err(e) => {
                eprintln!("ringwire token keygen: {e}");
                1
            }
        },
        TokenArgs::Issue {
            key,
            sub,
            scopes,
            ttl_secs,
        } => match load_signing_key(&key) {
            Ok((kid, key)) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let claims = Claims::issue(&sub, scopes, now, ttl_secs);
                println!("{}", sign(&claims, &key, &kid));
                0
            }
            Err(e) => {
                eprintln!("ringwire token issue: {e}");
                1
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::parse_ttl;

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("90"), Ok(90));
        assert_eq!(parse_ttl("90s"), Ok(90));
        assert_eq!(parse_ttl("15m"), Ok(900));
        assert_eq!(parse_ttl("1h"), Ok(3600));
        assert_eq!(parse_ttl("30d"), Ok(30 * 86_400));
        for bad in [
            "",
            "h",
            "1w",
            "1.5h",
            "-1h",
            "0s",
            "99999999999999999999d",
            "1h30m",
        ] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }
}
