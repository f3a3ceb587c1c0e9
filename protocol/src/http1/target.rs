//! Request-target forms (RFC 9112 §3.2) and authority syntax (RFC 3986 §3.2, RFC 9110 §7.2).

use super::chars::{hex_val, is_ip_literal, is_path, is_reg_name, pct_ok};
use super::error::Error;
use super::head::Method;

/// The request-target, classified by form. All strings borrow the read buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// `/path?query`, the form of almost every request.
    Origin {
        /// The absolute path, starting with `/`, still percent-encoded.
        path: &'a str,
        /// What follows the first `?`, if there is one (possibly empty).
        query: Option<&'a str>,
    },
    /// `http://authority/path?query`, sent to proxies; servers must accept it too (§3.2.2).
    Absolute {
        /// `http` or `https`, as sent (any case).
        scheme: &'a str,
        /// `host[:port]`, never empty.
        authority: &'a str,
        /// The path, or `/` when the target has none.
        path: &'a str,
        /// What follows the first `?`, if there is one.
        query: Option<&'a str>,
    },
    /// `host:port`, only with CONNECT.
    Authority(&'a str),
    /// `*`, only with OPTIONS.
    Asterisk,
}

impl<'a> Target<'a> {
    /// The path: the absolute path for origin and absolute forms, `*` for the asterisk form,
    /// and empty for the authority form (CONNECT has no path).
    pub fn path(&self) -> &'a str {
        match *self {
            Target::Origin { path, .. } | Target::Absolute { path, .. } => path,
            Target::Authority(_) => "",
            Target::Asterisk => "*",
        }
    }

    /// The query, without its `?`.
    pub fn query(&self) -> Option<&'a str> {
        match *self {
            Target::Origin { query, .. } | Target::Absolute { query, .. } => query,
            _ => None,
        }
    }
}

/// Classifies and validates `raw` for `method`.
///
/// Paths must be RFC 3986 path characters with valid pct-encoding. Queries are held only to
/// visible ASCII without `#`: browsers send `|`, `{`, `^` and stray `%` there unencoded, and
/// rejecting them would break real clients without closing any smuggling hole.
pub(crate) fn parse<'a>(method: &Method<'_>, raw: &'a str) -> Result<Target<'a>, Error> {
    let bytes = raw.as_bytes();
    let connect = matches!(method, Method::Connect);
    if bytes.first() == Some(&b'/') && !connect {
        let (path, query) = path_and_query(raw)?;
        return Ok(Target::Origin { path, query });
    }
    if !bytes.iter().all(|b| b.is_ascii_graphic()) || bytes.contains(&b'#') {
        return Err(Error::InvalidTarget);
    }
    if raw == "*" {
        return match method {
            Method::Options => Ok(Target::Asterisk),
            _ => Err(Error::TargetFormNotAllowed),
        };
    }
    if connect {
        // CONNECT needs host and port (RFC 9110 §9.3.6); any other form is the wrong form.
        return match authority(bytes, true) {
            Ok(()) => Ok(Target::Authority(raw)),
            Err(_) if bytes.first() == Some(&b'/') || raw.contains("://") => {
                Err(Error::TargetFormNotAllowed)
            }
            Err(e) => Err(e),
        };
    }
    absolute(raw)
}

/// Splits `path[?query]` and validates both in one pass over the bytes: this runs for nearly
/// every request, so it must not walk the target several times.
fn path_and_query(s: &str) -> Result<(&str, Option<&str>), Error> {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if is_path(c) {
            if c == b'%' {
                match b.get(i + 1..i + 3) {
                    Some(&[x, y]) if hex_val(x).is_some() && hex_val(y).is_some() => i += 2,
                    _ => return Err(Error::InvalidTarget),
                }
            }
            i += 1;
        } else if c == b'?' {
            if !b[i + 1..]
                .iter()
                .all(|&q| q.is_ascii_graphic() && q != b'#')
            {
                return Err(Error::InvalidTarget);
            }
            // `?` is ASCII, so both slices fall on char boundaries.
            return Ok((&s[..i], Some(&s[i + 1..])));
        } else {
            return Err(Error::InvalidTarget);
        }
    }
    Ok((s, None))
}

fn absolute(raw: &str) -> Result<Target<'_>, Error> {
    let (scheme, rest) = raw.split_once("://").ok_or(Error::InvalidTarget)?;
    let scheme_ok = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    if !scheme_ok {
        // A server is not a proxy: it has no business with other schemes.
        return Err(Error::InvalidTarget);
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (auth, rest) = rest.split_at(end);
    authority(auth.as_bytes(), false)?;
    if host_of(auth.as_bytes()).is_empty() {
        // RFC 9110 §4.2.1: an http URI with an empty host is invalid.
        return Err(Error::InvalidHost);
    }
    let (path, query) = path_and_query(rest)?;
    let path = if path.is_empty() { "/" } else { path };
    Ok(Target::Absolute {
        scheme,
        authority: auth,
        path,
        query,
    })
}

fn host_of(a: &[u8]) -> &[u8] {
    if a.first() == Some(&b'[') {
        match a.iter().position(|&c| c == b']') {
            Some(i) => &a[..=i],
            None => a,
        }
    } else {
        match a.iter().position(|&c| c == b':') {
            Some(i) => &a[..i],
            None => a,
        }
    }
}

/// `uri-host [ ":" port ]` as in a Host field; `port_required` for CONNECT's authority form.
///
/// Userinfo (`user@host`) is refused: RFC 9110 §4.2.4 tells recipients to treat it as an
/// error, since it is how phishing URIs disguise their real host.
pub(crate) fn authority(a: &[u8], port_required: bool) -> Result<(), Error> {
    let host = host_of(a);
    let rest = &a[host.len()..];
    let host_ok = match host {
        [b'[', inner @ .., b']'] => !inner.is_empty() && inner.iter().all(|&c| is_ip_literal(c)),
        _ => host.iter().all(|&c| is_reg_name(c)) && pct_ok(host),
    };
    let port = match rest {
        [] => None,
        [b':', port @ ..] => Some(port),
        _ => return Err(Error::InvalidHost),
    };
    let port_ok = match port {
        None | Some([]) => !port_required,
        Some(p) => {
            p.len() <= 5
                && p.iter().all(u8::is_ascii_digit)
                && p.iter()
                    .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'))
                    <= 65535
        }
    };
    if host_ok && port_ok && !(port_required && host.is_empty()) {
        Ok(())
    } else {
        Err(Error::InvalidHost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_form_splits_path_and_query() {
        let t = parse(&Method::Get, "/a/b?x=1&y=%zz|{").unwrap();
        assert_eq!(t.path(), "/a/b");
        assert_eq!(t.query(), Some("x=1&y=%zz|{"));
        assert_eq!(parse(&Method::Get, "/a?").unwrap().query(), Some(""));
        assert_eq!(parse(&Method::Get, "/a").unwrap().query(), None);
    }

    #[test]
    fn rfc3986_path_characters_and_pct_encoding() {
        for bad in ["/a|b", "/a%2", "/a%g0", "/a\"b", "/a{b", "/a\\b", "/a#frag"] {
            assert_eq!(parse(&Method::Get, bad), Err(Error::InvalidTarget), "{bad}");
        }
        assert!(parse(&Method::Get, "/a%20b;p=1:@!$&'()*+,=~._-").is_ok());
    }

    #[test]
    fn absolute_form_http_only_with_host() {
        let t = parse(&Method::Get, "HTTP://example.com:8080?q").unwrap();
        assert_eq!(
            t,
            Target::Absolute {
                scheme: "HTTP",
                authority: "example.com:8080",
                path: "/",
                query: Some("q")
            }
        );
        assert_eq!(parse(&Method::Get, "ftp://x/"), Err(Error::InvalidTarget));
        assert_eq!(parse(&Method::Get, "http:///x"), Err(Error::InvalidHost));
        assert_eq!(parse(&Method::Get, "http://u@x/"), Err(Error::InvalidHost));
        assert_eq!(
            parse(&Method::Get, "example.com:80"),
            Err(Error::InvalidTarget)
        );
    }

    #[test]
    fn authority_shapes() {
        assert!(authority(b"", false).is_ok());
        assert!(authority(b"a.b:", false).is_ok());
        assert!(authority(b"[::1]:443", true).is_ok());
        assert!(authority(b"a%41.b", false).is_ok());
        assert_eq!(authority(b"a.b", true), Err(Error::InvalidHost));
        assert_eq!(authority(b":80", true), Err(Error::InvalidHost));
        assert_eq!(authority(b"a:65536", false), Err(Error::InvalidHost));
        assert_eq!(authority(b"a:1:2", false), Err(Error::InvalidHost));
        assert_eq!(authority(b"[::1", false), Err(Error::InvalidHost));
        assert_eq!(authority(b"[]", false), Err(Error::InvalidHost));
        assert_eq!(authority(b"a b", false), Err(Error::InvalidHost));
    }
}
