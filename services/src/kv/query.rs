//! The small parsers of the KV's HTTP surface: keys from paths, query values, entity tags.

use percent_encoding::percent_decode;

/// Percent-decodes a path segment or query value (`+` is not a space here: keys are bytes).
pub fn decode(s: &str) -> Vec<u8> {
    percent_decode(s.as_bytes()).collect()
}

/// The `ETag` of a version: a strong tag, `"<version>"`.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// What an `If-Match`/`If-None-Match` field asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tags {
    /// `*`: any current version.
    Any,
    /// These versions (tags that are not ours never match and are left out).
    List(Vec<u64>),
}

/// Parses an `If-Match`/`If-None-Match` value: `*`, or a comma-separated list of entity tags
/// (weak tags `W/"..."` compare by their opaque part, RFC 9110 13.1.2 for If-None-Match).
pub fn parse_etags(field: &[u8]) -> Option<Tags> {
    let s = std::str::from_utf8(field).ok()?.trim();
    if s == "*" {
        return Some(Tags::Any);
    }
    let mut out = Vec::new();
    for tag in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let tag = tag.strip_prefix("W/").unwrap_or(tag);
        let inner = tag.strip_prefix('"')?.strip_suffix('"')?;
        if let Ok(v) = inner.parse() {
            out.push(v);
        }
    }
    Some(Tags::List(out))
}

/// The value of `name` in a query string, percent-decoded.
pub(crate) fn param(query: Option<&str>, name: &str) -> Option<Vec<u8>> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| decode(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tags_parse_as_rfc_9110_writes_them() {
        assert_eq!(parse_etags(b"*"), Some(Tags::Any));
        assert_eq!(parse_etags(b"\"3\""), Some(Tags::List(vec![3])));
        assert_eq!(
            parse_etags(b"\"3\", W/\"4\" ,\"x\""),
            Some(Tags::List(vec![3, 4]))
        );
        assert_eq!(parse_etags(b"3"), None);
        assert_eq!(parse_etags(b"\"3"), None);
    }

    #[test]
    fn query_values_are_percent_decoded() {
        let q = Some("prefix=a%2Fb&limit=5&after");
        assert_eq!(param(q, "prefix"), Some(b"a/b".to_vec()));
        assert_eq!(param(q, "limit"), Some(b"5".to_vec()));
        assert_eq!(param(q, "after"), Some(Vec::new()));
        assert_eq!(param(q, "nope"), None);
        assert_eq!(param(None, "prefix"), None);
    }

    proptest! {
        #[test]
        fn every_version_round_trips_through_its_etag(v in any::<u64>()) {
            prop_assert_eq!(parse_etags(etag(v).as_bytes()), Some(Tags::List(vec![v])));
        }

        #[test]
        fn parsing_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_etags(&b);
            let _ = decode(&String::from_utf8_lossy(&b));
        }
    }
}
