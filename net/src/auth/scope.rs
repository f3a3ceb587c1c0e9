//! Scopes: what a token grants, and the check a route or stream service asks for ([`Need`]).

use std::fmt;

/// One grant, parsed from its text form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `kv:read:<prefix>`: reading keys that start with the prefix (empty: every key).
    KvRead(Box<[u8]>),
    /// `kv:write:<prefix>`: writing (and deleting) keys that start with the prefix.
    KvWrite(Box<[u8]>),
    /// `pub:<glob>`: publishing to channels the glob matches.
    Pub(Glob),
    /// `sub:<glob>`: subscribing to channels the glob matches.
    Sub(Glob),
    /// `admin`: the admin listener's state-changing actions. Grants no data access.
    Admin,
}

/// Why a scope's text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeError {
    scope: String,
    reason: &'static str,
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad scope {:?}: {}; a scope is kv:read:<prefix>, kv:write:<prefix>, \
             pub:<channel-glob>, sub:<channel-glob> or admin",
            self.scope, self.reason
        )
    }
}

impl std::error::Error for ScopeError {}

/// A NATS-style channel glob over `.`-separated tokens: `*` is one token, `>` (only last) is
/// one or more tokens, anything else is a literal token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    text: Box<str>,
}

impl Glob {
    fn parse(text: &str) -> Result<Glob, &'static str> {
        if text.is_empty() {
            return Err("empty channel glob");
        }
        let count = text.split('.').count();
        for (i, token) in text.split('.').enumerate() {
            match token {
                "" => return Err("empty token in channel glob (two dots, or a dot at an end)"),
                ">" if i + 1 != count => return Err("`>` may only be the last token"),
                "*" | ">" => {}
                t if t.contains(['*', '>']) => {
                    return Err("`*` and `>` must be whole tokens");
                }
                t if t.contains(char::is_whitespace) => return Err("whitespace in channel glob"),
                _ => {}
            }
        }
        Ok(Glob { text: text.into() })
    }

    /// Whether `channel` matches.
    pub fn matches(&self, channel: &str) -> bool {
        let mut glob = self.text.split('.');
        let mut chan = channel.split('.');
        loop {
            match (glob.next(), chan.next()) {
                (Some(">"), Some(_)) => return true,
                (Some("*"), Some(_)) => {}
                (Some(g), Some(c)) if g == c => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Scope {
    /// Parses one scope's text form.
    pub fn parse(text: &str) -> Result<Scope, ScopeError> {
        let err = |reason| ScopeError {
            scope: text.to_string(),
            reason,
        };
        if text.contains(char::is_control) {
            return Err(err("control character"));
        }
        if text == "admin" {
            return Ok(Scope::Admin);
        }
        if let Some(prefix) = text.strip_prefix("kv:read:") {
            return Ok(Scope::KvRead(prefix.as_bytes().into()));
        }
        if let Some(prefix) = text.strip_prefix("kv:write:") {
            return Ok(Scope::KvWrite(prefix.as_bytes().into()));
        }
        if let Some(glob) = text.strip_prefix("pub:") {
            return Glob::parse(glob).map(Scope::Pub).map_err(err);
        }
        if let Some(glob) = text.strip_prefix("sub:") {
            return Glob::parse(glob).map(Scope::Sub).map_err(err);
        }
        if text == "kv:read" || text == "kv:write" {
            return Err(err(
                "missing `:` before the prefix (every key is `kv:read:`)",
            ));
        }
        Err(err("unknown kind"))
    }

    fn allows(&self, need: Need<'_>) -> bool {
        match (self, need) {
            (_, Need::Data) => true,
            (Scope::KvRead(p), Need::KvRead(key) | Need::KvScan(key)) => key.starts_with(p),
            (Scope::KvWrite(p), Need::KvWrite(key)) => key.starts_with(p),
            (Scope::Pub(g), Need::Pub(channel)) | (Scope::Sub(g), Need::Sub(channel)) => {
                g.matches(channel)
            }
            (Scope::Admin, Need::Admin) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
        match self {
            Scope::KvRead(p) => write!(f, "kv:read:{}", text(p)),
            Scope::KvWrite(p) => write!(f, "kv:write:{}", text(p)),
            Scope::Pub(g) => write!(f, "pub:{g}"),
            Scope::Sub(g) => write!(f, "sub:{g}"),
            Scope::Admin => f.write_str("admin"),
        }
    }
}

/// What a request needs, as a route or stream service declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need<'a> {
    /// Any valid token (or, without keys, any client protected mode lets in).
    Data,
    /// Reading this key.
    KvRead(&'a [u8]),
    /// Writing or deleting this key.
    KvWrite(&'a [u8]),
    /// A listing/scan from this prefix: allowed only if a kv:read prefix is a prefix of it.
    KvScan(&'a [u8]),
    /// Publishing to this channel.
    Pub(&'a str),
    /// Subscribing to this channel.
    Sub(&'a str),
    /// An admin action.
    Admin,
}

/// The scopes of one token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// Parses every scope; the first bad one is the error.
    pub fn parse_all<S: AsRef<str>>(texts: &[S]) -> Result<Scopes, ScopeError> {
        texts
            .iter()
            .map(|t| Scope::parse(t.as_ref()))
            .collect::<Result<_, _>>()
            .map(Scopes)
    }

    /// Whether any scope grants `need`. [`Need::Data`] is granted to every valid token, even
    /// one without scopes.
    pub fn allows(&self, need: Need<'_>) -> bool {
        matches!(need, Need::Data) || self.0.iter().any(|s| s.allows(need))
    }

    /// The scopes, in token order.
    pub fn iter(&self) -> std::slice::Iter<'_, Scope> {
        self.0.iter()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scopes(texts: &[&str]) -> Scopes {
        Scopes::parse_all(texts).unwrap()
    }

    #[test]
    fn parse_and_display_round_trip() {
        for text in [
            "kv:read:",
            "kv:read:users/",
            "kv:write:a:b",
            "pub:orders.>",
            "sub:a.*.c",
            "sub:>",
            "admin",
        ] {
            assert_eq!(Scope::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn bad_scopes_say_why() {
        for (text, why) in [
            ("", "unknown kind"),
            ("kv:read", "missing `:`"),
            ("kv:list:x", "unknown kind"),
            ("Admin", "unknown kind"),
            ("pub:", "empty channel glob"),
            ("pub:a..b", "empty token"),
            ("sub:a.>.b", "`>` may only be the last"),
            ("sub:a*", "whole tokens"),
            ("pub:a b", "whitespace"),
            ("kv:read:a\nb", "control"),
        ] {
            let e = Scope::parse(text).unwrap_err().to_string();
            assert!(e.contains(why), "{text:?}: {e}");
            assert!(e.contains("kv:read:<prefix>"), "lists the forms: {e}");
        }
    }

    #[test]
    fn globs_match_like_nats() {
        let g = |t| Glob::parse(t).unwrap();
        assert!(g(">").matches("a"));
        assert!(g(">").matches("a.b.c"));
        assert!(g("a.>").matches("a.b.c"));
        assert!(!g("a.>").matches("a"));
        assert!(g("a.*").matches("a.b"));
        assert!(!g("a.*").matches("a.b.c"));
        assert!(!g("a.*").matches("a"));
        assert!(g("*.b").matches("x.b"));
        assert!(!g("a").matches("ab"));
    }

    #[test]
    fn kinds_do_not_imply_each_other() {
        let all = [
            Need::KvRead(b"k"),
            Need::KvWrite(b"k"),
            Need::KvScan(b"k"),
            Need::Pub("c"),
            Need::Sub("c"),
            Need::Admin,
        ];
        let grants: [(&str, &[usize]); 5] = [
            ("kv:read:", &[0, 2]),
            ("kv:write:", &[1]),
            ("pub:>", &[3]),
            ("sub:>", &[4]),
            ("admin", &[5]),
        ];
        for (text, allowed) in grants {
            let s = scopes(&[text]);
            assert!(s.allows(Need::Data));
            for (i, need) in all.iter().enumerate() {
                assert_eq!(s.allows(*need), allowed.contains(&i), "{text} {need:?}");
            }
        }
        assert!(Scopes::default().allows(Need::Data));
        assert!(!Scopes::default().allows(Need::KvRead(b"")));
    }

    #[test]
    fn a_scan_needs_a_read_prefix_that_covers_it() {
        let s = scopes(&["kv:read:users/"]);
        assert!(s.allows(Need::KvScan(b"users/")));
        assert!(s.allows(Need::KvScan(b"users/a")));
        assert!(!s.allows(Need::KvScan(b"user")));
        assert!(!s.allows(Need::KvScan(b"")));
    }

    /// The reference: a glob matches when it has as many tokens (or, ending in `>`, fewer) and
    /// each token is `*` or equal; written over vectors rather than iterators.
    fn reference(glob: &str, channel: &str) -> bool {
        let g: Vec<&str> = glob.split('.').collect();
        let c: Vec<&str> = channel.split('.').collect();
        let (body, rest) = match g.split_last() {
            Some((&">", body)) => (body, true),
            _ => (&g[..], false),
        };
        let len_ok = if rest {
            c.len() > body.len()
        } else {
            c.len() == body.len()
        };
        len_ok && body.iter().zip(&c).all(|(g, c)| *g == "*" || g == c)
    }

    fn glob_strategy() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(prop::sample::select(vec!["a", "b", "ab", "*"]), 0..4),
            any::<bool>(),
        )
            .prop_filter_map("a glob has a token", |(mut toks, rest)| {
                if rest {
                    toks.push(">");
                }
                (!toks.is_empty()).then(|| toks.join("."))
            })
    }

    fn channel_strategy() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(vec!["a", "b", "ab", "c"]), 1..5)
            .prop_map(|t| t.join("."))
    }

    proptest! {
        #[test]
        fn glob_matches_agree_with_the_reference(g in glob_strategy(), c in channel_strategy()) {
            let scope = scopes(&[&format!("sub:{g}")]);
            prop_assert_eq!(scope.allows(Need::Sub(&c)), reference(&g, &c));
            prop_assert!(!scope.allows(Need::Pub(&c)));
        }

        #[test]
        fn prefixes_are_byte_prefixes(p in "[ab/]{0,4}", k in "[ab/]{0,6}") {
            let read = scopes(&[&format!("kv:read:{p}")]);
            let write = scopes(&[&format!("kv:write:{p}")]);
            let covered = k.len() >= p.len() && k.as_bytes()[..p.len()] == *p.as_bytes();
            prop_assert_eq!(read.allows(Need::KvRead(k.as_bytes())), covered);
            prop_assert_eq!(read.allows(Need::KvScan(k.as_bytes())), covered);
            prop_assert_eq!(write.allows(Need::KvWrite(k.as_bytes())), covered);
            prop_assert!(!read.allows(Need::KvWrite(k.as_bytes())));
            prop_assert!(!write.allows(Need::KvRead(k.as_bytes())));
            prop_assert!(!read.allows(Need::Admin) && !write.allows(Need::Admin));
        }

        #[test]
        fn any_of_several_scopes_suffices(ps in prop::collection::vec("[ab]{0,3}", 0..4), k in "[ab]{0,4}") {
            let texts: Vec<String> = ps.iter().map(|p| format!("kv:read:{p}")).collect();
            let s = Scopes::parse_all(&texts).unwrap();
            let expect = ps.iter().any(|p| k.starts_with(p.as_str()));
            prop_assert_eq!(s.allows(Need::KvRead(k.as_bytes())), expect);
        }

        /// Each kind grants only its own needs, whatever else the token holds: `admin` grants
        /// no data, and no data scope (even for every key or channel) grants `admin`.
        #[test]
        fn a_kind_grants_only_its_own_needs(kinds in prop::collection::vec(0usize..5, 0..5), need in 0usize..6) {
            const ALL: [&str; 5] = ["kv:read:", "kv:write:", "pub:>", "sub:>", "admin"];
            let texts: Vec<&str> = kinds.iter().map(|&k| ALL[k]).collect();
            let s = Scopes::parse_all(&texts).unwrap();
            let (need, kind) = [
                (Need::KvRead(b"k"), 0),
                (Need::KvScan(b"k"), 0),
                (Need::KvWrite(b"k"), 1),
                (Need::Pub("c.d"), 2),
                (Need::Sub("c.d"), 3),
                (Need::Admin, 4),
            ][need];
            prop_assert_eq!(s.allows(need), kinds.contains(&kind));
            prop_assert!(s.allows(Need::Data));
        }

        #[test]
        fn parse_never_panics_and_round_trips(text in "\\PC{0,12}") {
            if let Ok(scope) = Scope::parse(&text) {
                prop_assert_eq!(scope.to_string(), text);
            }
        }
    }
}
