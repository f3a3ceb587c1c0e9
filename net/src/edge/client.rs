//! Principals from TLS client certificates: a verified certificate whose identity
//! `tls.client_scopes` lists gets that file's scopes, as a token would.

use super::{Denial, EdgeLocal, Principal};
use crate::auth::{Need, Scopes};
use std::{
    rc::Rc,
    sync::{Arc, atomic::Ordering},
};

impl EdgeLocal {
    /// Who a verified TLS client certificate names, if `tls.client_scopes` lists it;
    /// [`Principal::Anonymous`] otherwise.
    pub fn client_principal(&self, identity: &Rc<str>) -> Principal {
        let generation = self.edge.generation.load(Ordering::Acquire);
        match self.edge.client_scopes(identity) {
            Some(scopes) => Principal::Client {
                identity: identity.clone(),
                scopes,
                generation,
            },
            None => Principal::Anonymous,
        }
    }

    /// A client certificate's scopes decide: those it was given when the connection began, or
    /// the list's current entry after a reload (none: refused as an invalid credential).
    pub(super) fn decide_client(
        &self,
        identity: &str,
        scopes: &Arc<Scopes>,
        listed_under: u64,
        need: Need<'_>,
    ) -> Result<(), Denial> {
        let now = self.edge.generation.load(Ordering::Acquire);
        let current = if listed_under == now {
            Some(scopes.clone())
        } else {
            self.edge.client_scopes(identity)
        };
        match current {
            None => Err(Denial::InvalidToken),
            Some(s) if s.allows(need) => Ok(()),
            Some(_) => Err(Denial::Forbidden),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::{Edge, EdgeConfig};
    use std::net::IpAddr;

    const STRANGER: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7)));

    #[test]
    fn listed_certificates_get_their_scopes_and_reloads_take_them_away() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("clients");
        std::fs::write(&file, "backup kv:read:\n").unwrap();
        let edge = Edge::new(EdgeConfig {
            client_scopes: Some(file.clone()),
            ..Default::default()
        })
        .unwrap();
        let local = EdgeLocal::new(edge.clone());
        let backup = local.client_principal(&Rc::from("backup"));
        assert_eq!(backup.subject(), Some("backup"));
        // No auth keys (protected mode), a stranger's address: the certificate decides.
        assert!(
            local
                .authorize(STRANGER, &backup, Need::KvRead(b"k"))
                .is_ok()
        );
        assert_eq!(
            local.authorize(STRANGER, &backup, Need::KvWrite(b"k")),
            Err(Denial::Forbidden)
        );
        let unlisted = local.client_principal(&Rc::from("intruder"));
        assert!(matches!(unlisted, Principal::Anonymous));
        assert_eq!(
            local.authorize(STRANGER, &unlisted, Need::KvRead(b"k")),
            Err(Denial::ProtectedMode)
        );
        // A reload that drops the identity: a principal made before it no longer passes.
        std::fs::write(&file, "other admin\n").unwrap();
        edge.reload().unwrap();
        assert_eq!(
            local.authorize(STRANGER, &backup, Need::KvRead(b"k")),
            Err(Denial::InvalidToken)
        );
        // A bad file keeps the old list.
        std::fs::write(&file, "other kv:nonsense\n").unwrap();
        assert!(edge.reload().unwrap_err().contains("line 1"));
        let other = local.client_principal(&Rc::from("other"));
        assert!(local.authorize(STRANGER, &other, Need::Admin).is_ok());
    }
}
