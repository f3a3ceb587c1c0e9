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

/// Parses an `If-Match`/`If-None-Match` value: `*`, or a comma-separated list of entity
/// tags. With `strong` (If-Match, RFC 9110 13.1.1) a weak tag `W/"..."` never matches and is
/// left out; otherwise (If-None-Match, 13.1.2) it compares by its opaque part. Our tags are a
/// version in decimal without leading zeros, compared byte for byte: `"05"` or `"+5"` is
/// someone else's tag and matches nothing. `None` when the field is malformed.
pub fn parse_etags(field: &[u8], strong: bool) -> Option<Tags> {
    let s = std::str::from_utf8(field).ok()?.trim();
    if s == "*" {
        return Some(Tags::Any);
    }
    let mut out = Vec::new();
    for tag in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (weak, tag) = match tag.strip_prefix("W/") {
            Some(t) => (true, t),
            None => (false, tag),
        };
        let inner = tag.strip_prefix('"')?.strip_suffix('"')?;
        let ours = !inner.is_empty()
            && inner.bytes().all(|b| b.is_ascii_digit())
            && !(inner.len() > 1 && inner.starts_with('0'));
        if ours && !(weak && strong) {
            if let Ok(v) = inner.parse() {
                out.push(v);
            }
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
        assert_eq!(parse_etags(b"*", true), Some(Tags::Any));
        assert_eq!(parse_etags(b"\"3\"", true), Some(Tags::List(vec![3])));
        let list = b"\"3\", W/\"4\" ,\"x\"";
        assert_eq!(parse_etags(list, false), Some(Tags::List(vec![3, 4])));
        // If-Match compares strongly: a weak tag never matches.
        assert_eq!(parse_etags(list, true), Some(Tags::List(vec![3])));
        // Byte for byte: these are not the tag "5".
        let lookalikes = b"\"05\", \"+5\", \" 5\"";
        assert_eq!(parse_etags(lookalikes, false), Some(Tags::List(vec![])));
        assert_eq!(parse_etags(b"3", true), None);
        assert_eq!(parse_etags(b"\"3", true), None);
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
            prop_assert_eq!(parse_etags(etag(v).as_bytes(), true), Some(Tags::List(vec![v])));
        }

        #[test]
        fn parsing_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_etags(&b, true);
            let _ = decode(&String::from_utf8_lossy(&b));
        }
    }
}
