//! The scopes of TLS client certificates: which verified certificate identity (subject CN,
//! else its first DNS name) may do what, from a file an operator writes, reloaded on SIGHUP
//! with the keys (`tls.client_scopes`). A client that presents such a certificate needs no
//! token; a token, when presented, decides instead.
//!
//! ```text
//! # identity          scopes...
//! backup-job          kv:read:
//! billing.internal    kv:write:invoices/ pub:billing.>
//! ```

use super::Scopes;
use std::{collections::HashMap, path::Path, sync::Arc};

/// Scopes by client-certificate identity.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ClientScopes(HashMap<String, Arc<Scopes>>);

impl ClientScopes {
    /// Reads `path`: one identity and its scopes per line, `#` comments. An error names the
    /// file and the line.
    pub fn load(path: &Path) -> Result<ClientScopes, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<ClientScopes, String> {
        let mut map = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            let mut words = line.split_whitespace();
            let Some(identity) = words.next() else {
                continue;
            };
            let scopes: Vec<&str> = words.collect();
            if scopes.is_empty() {
                return Err(format!(
                    "line {}: `{identity}` has no scopes (an identity and at least one scope per line)",
                    i + 1
                ));
            }
            let scopes = Scopes::parse_all(&scopes).map_err(|e| format!("line {}: {e}", i + 1))?;
            if map.insert(identity.to_string(), Arc::new(scopes)).is_some() {
                return Err(format!("line {}: `{identity}` is listed twice", i + 1));
            }
        }
        Ok(ClientScopes(map))
    }

    /// The scopes of `identity`, if listed.
    pub fn get(&self, identity: &str) -> Option<&Arc<Scopes>> {
        self.0.get(identity)
    }

    /// How many identities are listed.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Need;

    #[test]
    fn identities_get_their_scopes_and_nothing_else() {
        let c = ClientScopes::parse(
            "# who   what\nbackup-job kv:read:\n\nbilling  kv:write:inv/ pub:billing.>  # trailing\n",
        )
        .unwrap();
        assert_eq!(c.len(), 2);
        let b = c.get("backup-job").unwrap();
        assert!(b.allows(Need::KvRead(b"any")));
        assert!(!b.allows(Need::KvWrite(b"any")));
        let bill = c.get("billing").unwrap();
        assert!(bill.allows(Need::KvWrite(b"inv/7")));
        assert!(!bill.allows(Need::KvWrite(b"other")));
        assert!(c.get("stranger").is_none());
        assert!(c.get("Backup-Job").is_none(), "identities compare exactly");
    }

    #[test]
    fn bad_lines_are_named() {
        for (text, needle) in [
            ("alone\n", "line 1: `alone` has no scopes"),
            ("a kv:read:\nb kv:bogus\n", "line 2: bad scope"),
            ("a admin\na admin\n", "line 2: `a` is listed twice"),
        ] {
            let e = ClientScopes::parse(text).unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
        let e = ClientScopes::load(Path::new("/nonexistent/scopes")).unwrap_err();
        assert!(e.starts_with("/nonexistent/scopes: cannot read"), "{e}");
    }
}
