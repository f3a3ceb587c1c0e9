//! Who is asking: the principal of a request or a stream connection, and the handle a stream
//! service checks each request with.

use super::{Denial, EdgeLocal};
use crate::auth::{Need, Scopes, Verified};
use std::{net::IpAddr, rc::Rc, sync::Arc};

/// The client behind a request, as its token says.
#[derive(Clone, Default)]
pub enum Principal {
    /// No token.
    #[default]
    Anonymous,
    /// A token that did not verify.
    Invalid,
    /// A verified token.
    Token {
        /// Its claims.
        verified: Rc<Verified>,
        /// The keyring generation it was verified under.
        generation: u64,
    },
    /// A TLS client certificate that `tls.client_scopes` lists (and no token).
    Client {
        /// The certificate's identity (subject CN, else its first DNS name).
        identity: Rc<str>,
        /// What the file granted it.
        scopes: Arc<Scopes>,
        /// The edge generation the file was read under.
        generation: u64,
    },
}

impl Principal {
    /// The token's subject, if verified.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Principal::Token { verified, .. } => Some(&verified.sub),
            Principal::Client { identity, .. } => Some(identity),
            _ => None,
        }
    }
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::Anonymous => f.write_str("Anonymous"),
            Principal::Invalid => f.write_str("Invalid"),
            Principal::Token { verified, .. } => write!(f, "Token({})", verified.sub),
            Principal::Client { identity, .. } => write!(f, "Client({identity})"),
        }
    }
}

/// A stream's client, for the service serving it: every request it makes is checked here
/// (scope or protected mode, then the service's rate limits).
pub struct Access {
    local: Rc<EdgeLocal>,
    peer: Option<IpAddr>,
    principal: Principal,
    service: &'static str,
}

impl Access {
    pub(crate) fn new(
        local: Rc<EdgeLocal>,
        peer: Option<IpAddr>,
        principal: Principal,
        service: &'static str,
    ) -> Access {
        Access {
            local,
            peer,
            principal,
            service,
        }
    }

    /// Everything allowed, nothing limited: for services used outside a connection (tests,
    /// tools) and for servers that never configure an edge.
    pub fn open() -> Access {
        let edge = super::Edge::new(super::EdgeConfig {
            insecure_open: true,
            ..Default::default()
        })
        .expect("no keys to load");
        Access::new(EdgeLocal::new(edge), None, Principal::Anonymous, "")
    }

    /// Whether this client may do `need` now.
    pub fn check(&self, need: Need<'_>) -> Result<(), Denial> {
        self.local.authorize(self.peer, &self.principal, need)
    }

    /// One request of the service's rate limits (`stream:<service>` rules).
    pub fn admit(&self) -> Result<(), Denial> {
        if !self.local.has_rules() {
            return Ok(());
        }
        self.local.rate(
            self.local.service_rules(self.service),
            self.peer,
            &self.principal,
        )
    }

    /// [`check`](Self::check), then [`admit`](Self::admit).
    pub fn request(&self, need: Need<'_>) -> Result<(), Denial> {
        self.check(need)?;
        self.admit()
    }

    /// The client's address.
    pub fn peer(&self) -> Option<IpAddr> {
        self.peer
    }

    /// The client's principal.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }
}
