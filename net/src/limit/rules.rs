//! Rate-limit rules: which requests a limit applies to, what it counts against, how fast.
//!
//! Text form of one rule (CLI `--rate-limit`, env; a list is comma-separated):
//! `<pattern>;key=<ip|sub>;rate=<n>/<s|m|h|d>;burst=<n>`, e.g. `/kv/*;key=ip;rate=100/s;burst=200`.
//! `key` defaults to `ip`, `burst` to the rate's count. `rate` is required. Patterns:
//! `/kv/*` (every path starting `/kv/`), `/*` (every path), `/exact` (that path only),
//! `stream:kv` (that stream service), `stream:*` (every stream service). `*` only at the end.

use std::{fmt, str::FromStr};

use super::gcra::Rate;

/// What a rule's requests are counted under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// The client address (`key=ip`).
    Ip,
    /// The token subject (`key=sub`); a request without a token counts under its address.
    Sub,
}

impl FromStr for KeyKind {
    type Err = String;

    fn from_str(s: &str) -> Result<KeyKind, String> {
        match s.trim() {
            "ip" => Ok(KeyKind::Ip),
            "sub" => Ok(KeyKind::Sub),
            other => Err(format!("unknown key `{other}` (expected `ip` or `sub`)")),
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::Ip => "ip",
            KeyKind::Sub => "sub",
        })
    }
}

/// Which requests a rule applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// Exactly this HTTP path.
    Path(Box<str>),
    /// Every HTTP path starting with this prefix (written with a trailing `*`).
    PathPrefix(Box<str>),
    /// This stream service (`stream:<name>`).
    Service(Box<str>),
    /// Every stream service (`stream:*`).
    AnyService,
}

impl Pattern {
    /// Whether the rule applies to an HTTP request for `path` (a query string is ignored).
    pub fn matches_path(&self, path: &str) -> bool {
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        match self {
            Pattern::Path(p) => **p == *path,
            Pattern::PathPrefix(p) => path.starts_with(&**p),
            Pattern::Service(_) | Pattern::AnyService => false,
        }
    }

    /// Whether the rule applies to opening the stream service `name`.
    pub fn matches_service(&self, name: &str) -> bool {
        match self {
            Pattern::Service(s) => **s == *name,
            Pattern::AnyService => true,
            Pattern::Path(_) | Pattern::PathPrefix(_) => false,
        }
    }
}

impl FromStr for Pattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Pattern, String> {
        let s = s.trim();
        if let Some(bad) = s
            .chars()
            .find(|c| c.is_whitespace() || matches!(c, ',' | ';' | '?'))
        {
            return Err(format!("pattern `{s}` contains {bad:?}"));
        }
        if let Some(name) = s.strip_prefix("stream:") {
            return match name {
                "*" => Ok(Pattern::AnyService),
                "" => Err(format!("pattern `{s}` names no stream service")),
                n if n.contains('*') => Err(format!(
                    "pattern `{s}`: a stream pattern is one service name or `stream:*`"
                )),
                n => Ok(Pattern::Service(n.into())),
            };
        }
        if !s.starts_with('/') {
            return Err(format!(
                "pattern `{s}` must start with `/` (an HTTP path) or `stream:` (a stream service)"
            ));
        }
        match s.strip_suffix('*') {
            Some(prefix) if !prefix.contains('*') => Ok(Pattern::PathPrefix(prefix.into())),
            None if !s.contains('*') => Ok(Pattern::Path(s.into())),
            _ => Err(format!("pattern `{s}`: `*` is allowed only at the end")),
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Path(p) => f.write_str(p),
            Pattern::PathPrefix(p) => write!(f, "{p}*"),
            Pattern::Service(n) => write!(f, "stream:{n}"),
            Pattern::AnyService => f.write_str("stream:*"),
        }
    }
}

/// One rate limit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// Which requests it applies to.
    pub pattern: Pattern,
    /// What it counts against.
    pub key: KeyKind,
    /// The sustained rate.
    pub rate: Rate,
    /// How many requests a key at rest may send at once (≥ 1).
    pub burst: u32,
}

/// A rule that did not parse: names the rule and the part that is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    /// The rule's text as given.
    pub rule: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rate limit rule `{}`: {}", self.rule, self.reason)
    }
}

impl std::error::Error for RuleError {}

impl Rule {
    /// A rule from its parts (the TOML form); `burst` `None` = the rate's count.
    pub fn new(
        pattern: &str,
        key: KeyKind,
        rate: Rate,
        burst: Option<u32>,
    ) -> Result<Rule, RuleError> {
        let err = |reason: String| RuleError {
            rule: pattern.to_string(),
            reason,
        };
        let pattern: Pattern = pattern.parse().map_err(err)?;
        let burst = burst.unwrap_or(rate.count());
        if burst == 0 {
            return Err(RuleError {
                rule: pattern.to_string(),
                reason: "burst must be at least 1".into(),
            });
        }
        Ok(Rule {
            pattern,
            key,
            rate,
            burst,
        })
    }
}

impl FromStr for Rule {
    type Err = RuleError;

    fn from_str(text: &str) -> Result<Rule, RuleError> {
        let err = |reason: String| RuleError {
            rule: text.trim().to_string(),
            reason,
        };
        let mut parts = text.split(';');
        let pattern: Pattern = parts.next().unwrap_or_default().parse().map_err(err)?;
        let (mut key, mut rate, mut burst) = (None, None, None);
        for part in parts {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| err(format!("`{}` is not `name=value`", part.trim())))?;
            let (name, value) = (name.trim(), value.trim());
            let dup = |seen: bool| {
                if seen {
                    Err(err(format!("`{name}` given twice")))
                } else {
                    Ok(())
                }
            };
            match name {
                "key" => {
                    dup(key.is_some())?;
                    key = Some(value.parse::<KeyKind>().map_err(err)?);
                }
                "rate" => {
                    dup(rate.is_some())?;
                    rate = Some(value.parse::<Rate>().map_err(|e| err(e.to_string()))?);
                }
                "burst" => {
                    dup(burst.is_some())?;
                    let b = value
                        .parse::<u32>()
                        .ok()
                        .filter(|&b| b >= 1)
                        .ok_or_else(|| err(format!("burst `{value}` is not a whole number ≥ 1")))?;
                    burst = Some(b);
                }
                other => {
                    return Err(err(format!(
                        "unknown setting `{other}` (expected key=, rate=, burst=)"
                    )));
                }
            }
        }
        let rate = rate.ok_or_else(|| err("missing `rate=` (e.g. `rate=100/s`)".into()))?;
        Ok(Rule {
            pattern,
            key: key.unwrap_or(KeyKind::Ip),
            rate,
            burst: burst.unwrap_or(rate.count()),
        })
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};key={};rate={};burst={}",
            self.pattern, self.key, self.rate, self.burst
        )
    }
}

/// The configured rules, in order; a rule's index is its identity in a [`super::RateTable`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    list: Vec<Rule>,
}

impl Rules {
    /// At most this many rules (indices are `u16`).
    pub const MAX: usize = u16::MAX as usize;

    /// Parses a comma-separated list of rules in the text form; empty entries are skipped, so
    /// an empty string is no rules.
    pub fn parse(text: &str) -> Result<Rules, RuleError> {
        let list = text
            .split(',')
            .filter(|r| !r.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<Rule>, _>>()?;
        Rules::from_vec(list)
    }

    /// Rules from a list (the TOML form).
    pub fn from_vec(list: Vec<Rule>) -> Result<Rules, RuleError> {
        if list.len() > Self::MAX {
            return Err(RuleError {
                rule: format!("#{}", list.len()),
                reason: format!("at most {} rate limit rules", Self::MAX),
            });
        }
        Ok(Rules { list })
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// How many rules.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Every rule with its index.
    pub fn iter(&self) -> impl Iterator<Item = (u16, &Rule)> {
        // from_vec bounds the length to u16::MAX, so the index fits.
        self.list.iter().enumerate().map(|(i, r)| (i as u16, r))
    }

    /// The rules that apply to an HTTP request for `path`: all of them apply.
    pub fn for_path<'a>(&'a self, path: &'a str) -> impl Iterator<Item = (u16, &'a Rule)> + 'a {
        self.iter()
            .filter(move |(_, r)| r.pattern.matches_path(path))
    }

    /// The rules that apply to opening stream service `name`: all of them apply.
    pub fn for_service<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (u16, &'a Rule)> + 'a {
        self.iter()
            .filter(move |(_, r)| r.pattern.matches_service(name))
    }
}

impl fmt::Display for Rules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.list.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limit::Unit;
    use proptest::prelude::*;

    #[test]
    fn parses_the_documented_form() {
        let r: Rule = "/kv/*;key=ip;rate=100/s;burst=200".parse().unwrap();
        assert_eq!(r.pattern, Pattern::PathPrefix("/kv/".into()));
        assert_eq!(r.key, KeyKind::Ip);
        assert_eq!(r.rate, Rate::new(100, Unit::Second).unwrap());
        assert_eq!(r.burst, 200);
        assert_eq!(r.to_string(), "/kv/*;key=ip;rate=100/s;burst=200");
        let d: Rule = " stream:kv ; rate=10/m ".parse().unwrap();
        assert_eq!(d.to_string(), "stream:kv;key=ip;rate=10/m;burst=10");
        let t = Rule::new("/kv/*", KeyKind::Sub, "5/h".parse().unwrap(), None).unwrap();
        assert_eq!(t.to_string(), "/kv/*;key=sub;rate=5/h;burst=5");
    }

    #[test]
    fn errors_name_the_bad_part() {
        let cases = [
            ("kv/*;rate=1/s", "must start with `/`"),
            ("/kv/*/x*;rate=1/s", "`*` is allowed only at the end"),
            ("/kv/*;rate=1/w", "unit must be one of"),
            ("/kv/*;rate=0/s", "at least 1"),
            ("/kv/*;key=user;rate=1/s", "unknown key `user`"),
            ("/kv/*;rate=1/s;burst=0", "burst `0`"),
            ("/kv/*;rate=1/s;burst=x", "burst `x`"),
            ("/kv/*;rate=1/s;brust=3", "unknown setting `brust`"),
            ("/kv/*;key=ip", "missing `rate=`"),
            ("/kv/*;rate", "`rate` is not `name=value`"),
            ("/kv/*;rate=1/s;rate=2/s", "`rate` given twice"),
            ("stream:;rate=1/s", "names no stream service"),
            ("stream:k*;rate=1/s", "one service name"),
            ("/a b;rate=1/s", "contains ' '"),
        ];
        for (text, want) in cases {
            let e = text.parse::<Rule>().unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
            assert!(e.starts_with("rate limit rule `"), "{e}");
        }
        let e = Rules::parse("/*;rate=1/s,/kv/*;rate=1/q").unwrap_err();
        assert_eq!(e.rule, "/kv/*;rate=1/q");
    }

    #[test]
    fn matching() {
        let rules = Rules::parse(
            "/kv/*;rate=1/s,/*;rate=9/s,/json;rate=2/s,stream:kv;rate=3/s,stream:*;rate=4/s,",
        )
        .unwrap();
        let idx =
            |it: &mut dyn Iterator<Item = (u16, &Rule)>| it.map(|(i, _)| i).collect::<Vec<_>>();
        assert_eq!(idx(&mut rules.for_path("/kv/a")), [0, 1]);
        assert_eq!(idx(&mut rules.for_path("/kv/?x=1")), [0, 1]);
        assert_eq!(idx(&mut rules.for_path("/kv")), [1]);
        assert_eq!(idx(&mut rules.for_path("/json")), [1, 2]);
        assert_eq!(idx(&mut rules.for_path("/json?x")), [1, 2]);
        assert_eq!(idx(&mut rules.for_path("/jsonx")), [1]);
        assert_eq!(idx(&mut rules.for_service("kv")), [3, 4]);
        assert_eq!(idx(&mut rules.for_service("channels")), [4]);
        assert!(Rules::parse(" ").unwrap().is_empty());
    }

    fn rule_strategy() -> impl Strategy<Value = Rule> {
        let pattern = prop_oneof![
            "/[a-z0-9/._-]{0,12}".prop_map(|p| p.parse::<Pattern>().unwrap()),
            "/[a-z0-9/._-]{0,12}".prop_map(|p| format!("{p}*").parse::<Pattern>().unwrap()),
            "[a-z][a-z0-9_.-]{0,8}".prop_map(|n| Pattern::Service(n.into())),
            Just(Pattern::AnyService),
        ];
        let unit = prop_oneof![
            Just(Unit::Second),
            Just(Unit::Minute),
            Just(Unit::Hour),
            Just(Unit::Day)
        ];
        (pattern, any::<bool>(), 1u32.., unit, 1u32..).prop_map(
            |(pattern, sub, count, unit, burst)| Rule {
                pattern,
                key: if sub { KeyKind::Sub } else { KeyKind::Ip },
                rate: Rate::new(count, unit).unwrap(),
                burst,
            },
        )
    }

    proptest! {
        #[test]
        fn display_round_trips(list in prop::collection::vec(rule_strategy(), 0..6)) {
            let rules = Rules::from_vec(list).unwrap();
            let text = rules.to_string();
            prop_assert_eq!(Rules::parse(&text).unwrap(), rules);
        }
    }
}
