//! The edge on a stream connection: the handshake decides who the client is (a token in the
//! HELLO's AUTH frame, or none), protected mode may refuse it there, and every OPEN is checked
//! against the service's need and rate limits before a service sees the stream.

use crate::auth::Need;
use crate::edge::{
    Access, Denial, DenialKind, EdgeLocal, PROTECTED_MESSAGE, Principal, is_loopback,
};
use ringwire_protocol::stream::ErrorCode;
use std::{net::IpAddr, rc::Rc, time::Instant};

/// A refused handshake: the GOAWAY's code and debug text.
pub(crate) type Refusal = (ErrorCode, &'static [u8]);

/// One connection's client, as the edge sees it.
pub(crate) struct Admission {
    edge: Rc<EdgeLocal>,
    peer: Option<IpAddr>,
    principal: Principal,
}

impl Admission {
    /// A connection from `peer`; `client`: its verified TLS certificate's identity, whose
    /// listed scopes (`tls.client_scopes`) are its principal until an AUTH token replaces it.
    pub(crate) fn new(
        edge: Rc<EdgeLocal>,
        peer: Option<IpAddr>,
        client: Option<Rc<str>>,
    ) -> Admission {
        let principal = client.map_or(Principal::Anonymous, |id| edge.client_principal(&id));
        Admission {
            edge,
            peer,
            principal,
        }
    }

    /// Before any frame: protected mode refuses a stranger at once, with a GOAWAY as the
    /// server's first frame (the handshake allows it), so the client reads the refusal
    /// before anything else.
    pub(crate) fn at_connect(&self) -> Result<(), Refusal> {
        self.protected()
    }

    /// The client's HELLO came with `token`: `Ok` to answer with our HELLO.
    pub(crate) fn on_auth(&mut self, token: &[u8]) -> Result<(), Refusal> {
        if !self.edge.edge().has_keys() {
            return Ok(()); // a token means nothing without keys; loopback or open, as above
        }
        self.principal = self.edge.principal(Some(token));
        match self.principal {
            Principal::Invalid => {
                self.edge.edge().counters().denied(DenialKind::InvalidToken);
                Err((ErrorCode::UNAUTHENTICATED, b"invalid token"))
            }
            _ => Ok(()),
        }
    }

    /// Protected mode refuses the connection itself: nothing on it would be served.
    fn protected(&self) -> Result<(), Refusal> {
        let edge = self.edge.edge();
        let client = matches!(self.principal, Principal::Client { .. });
        if client
            || edge.has_keys()
            || edge.config().insecure_open
            || self.peer.is_some_and(is_loopback)
        {
            return Ok(());
        }
        edge.counters().denied(DenialKind::ProtectedMode);
        Err((ErrorCode::FORBIDDEN, PROTECTED_MESSAGE.as_bytes()))
    }

    /// Whether the public service `name` needs a token anyway (`auth.protect`).
    pub(crate) fn protects(&self, name: &str) -> bool {
        self.edge.protects_service(name)
    }

    /// A stream opened to `service`, which needs `need` (`None`: public, like `echo`): the
    /// service's handle on the client, or why the stream is refused.
    pub(crate) fn open(
        &self,
        service: &'static str,
        need: Option<Need<'_>>,
        now: Instant,
    ) -> Result<Access, Denial> {
        self.edge.check_load(now)?;
        if let Some(need) = need {
            self.edge.authorize(self.peer, &self.principal, need)?;
        }
        let access = Access::new(
            self.edge.clone(),
            self.peer,
            self.principal.clone(),
            service,
        );
        access.admit()?;
        Ok(access)
    }
}
