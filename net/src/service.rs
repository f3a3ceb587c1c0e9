//! The service API: what a route handler sees.
//!
//! ```
//! use ringwire_net::{Error, Request, Responder, Service};
//!
//! /// Answers `GET /hello` and echoes `POST /upper` bodies in upper case.
//! struct Hello;
//!
//! impl Service for Hello {
//!     async fn call(&self, req: &mut Request<'_>, res: &mut Responder<'_>) -> Result<(), Error> {
//!         match (req.method().as_str(), req.path()) {
//!             ("GET", "/hello") => res.send(200, &[("Content-Type", b"text/plain")], b"hello\n"),
//!             ("POST", "/upper") => {
//!                 res.start(200, &[("Content-Type", b"text/plain")], None)?; // chunked
//!                 while let Some(piece) = req.body().chunk().await? {
//!                     // `piece` borrows the receive buffer: no copy was made to get it here.
//!                     res.write(&piece.to_ascii_uppercase()).await?;
//!                 }
//!                 res.finish().await
//!             }
//!             _ => res.send(404, &[], b"not found\n"),
//!         }
//!     }
//! }
//! ```

use crate::auth::Need;
use crate::edge::{Denial, EdgeLocal, Principal};
use crate::{Error, Responder, body::Body};
use ringwire_protocol::http1::{Method, RequestHead};
use std::{cell::OnceCell, future::Future, net::IpAddr, rc::Rc, time::Instant};

/// A request handler, one instance per core (it need not be `Send` or `Sync`).
///
/// `call` answers one request through `res`. Returning without a response sends 500;
/// returning an error after a streamed response started closes the connection.
pub trait Service: 'static {
    /// Handles one request.
    fn call(
        &self,
        req: &mut Request<'_>,
        res: &mut Responder<'_>,
    ) -> impl Future<Output = Result<(), Error>>;
}

/// One request: its head, borrowed from the receive buffer (method, path, query, header
/// names and values are slices of it), and its body.
pub struct Request<'r> {
    pub(crate) head: RequestHead<'r>,
    pub(crate) body: Body<'r>,
    pub(crate) received: Instant,
    pub(crate) core: usize,
    pub(crate) request_id: crate::problem::RequestId<'r>,
    pub(crate) trace: Option<crate::trace::TraceContext>,
    pub(crate) peer: Option<IpAddr>,
    /// The identity of the connection's verified TLS client certificate.
    pub(crate) client: Option<Rc<str>>,
    pub(crate) edge: Rc<EdgeLocal>,
    /// Who the `Authorization` field says is asking, worked out on first use.
    pub(crate) principal: OnceCell<Principal>,
}

impl<'r> Request<'r> {
    /// The parsed head.
    pub fn head(&self) -> &RequestHead<'r> {
        &self.head
    }

    /// The method.
    pub fn method(&self) -> Method<'r> {
        self.head.method()
    }

    /// The path of the request target (percent-encoding untouched).
    pub fn path(&self) -> &'r str {
        self.head.path()
    }

    /// The query, without the `?`.
    pub fn query(&self) -> Option<&'r str> {
        self.head.query()
    }

    /// The first field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'r [u8]> {
        self.head.header(name)
    }

    /// The body, to read with [`Body::chunk`].
    pub fn body(&mut self) -> &mut Body<'r> {
        &mut self.body
    }

    /// When the loop saw the request's head complete.
    pub fn received_at(&self) -> Instant {
        self.received
    }

    /// Index of the worker core handling it.
    pub fn core(&self) -> usize {
        self.core
    }

    /// The request's id, also sent back in `X-Request-Id` and written in the access log: the
    /// client's `X-Request-Id` if it is 1 to 128 visible ASCII bytes, else one the server made
    /// (32 hex digits). Log it with anything the client is not told.
    pub fn request_id(&self) -> &str {
        self.request_id.as_str()
    }

    /// The request's trace (W3C Trace Context), when it came with a valid `traceparent` or
    /// `trace.sample` started one: pass [`crate::trace::TraceContext::traceparent`] on to
    /// calls made for it.
    pub fn trace(&self) -> Option<&crate::trace::TraceContext> {
        self.trace.as_ref()
    }
    /// The client's address.
    pub fn peer(&self) -> Option<IpAddr> {
        self.peer
    }

    /// Who is asking: the verified `Authorization: Bearer` token, if any (verified once per
    /// core and cached; see [`EdgeLocal::principal`]).
    pub fn principal(&self) -> &Principal {
        self.principal.get_or_init(|| {
            let mut fields = self.head.headers_named("authorization");
            let first = fields.next();
            if fields.next().is_some() {
                // RFC 9110 allows one Authorization field: with two, which one a proxy in front
                // honoured is unknown, so neither is.
                return Principal::Invalid;
            }
            match (first, &self.client) {
                // No token, a client certificate: its listed scopes (if any) decide.
                (None, Some(identity)) => self.edge.client_principal(identity),
                _ => self.edge.principal(bearer(first)),
            }
        })
    }

    /// Declares what this request needs and asks the edge: `Err(Error::Denied)` (return it
    /// with `?`) is answered by the connection loop with 401, 403 or 429.
    pub fn authorize(&self, need: Need<'_>) -> Result<(), Error> {
        self.edge
            .authorize(self.peer, self.principal(), need)
            .map_err(Error::Denied)
    }

    /// The checks the connection loop makes before any service: shedding, then the rate
    /// limits of the route.
    pub(crate) fn edge_checks(&self, now: Instant) -> Result<(), Denial> {
        self.edge.check_load(now)?;
        if self.edge.has_rules() {
            let edge = self.edge.clone();
            edge.rate(edge.http_rules(self.path()), self.peer, self.principal())?;
        }
        if self.edge.protects_path(self.path()) {
            self.edge
                .authorize(self.peer, self.principal(), Need::Data)?;
        }
        Ok(())
    }
}

/// The token of an `Authorization: Bearer <token>` field (RFC 6750 §2.1: the scheme is
/// case-insensitive); another scheme, or none, is no token.
pub fn bearer(field: Option<&[u8]>) -> Option<&[u8]> {
    let field = field?;
    let (scheme, rest) = field.split_at(field.iter().position(|&b| b == b' ')?);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn bearer_tokens_are_found_whatever_the_scheme_case() {
        assert_eq!(bearer(Some(b"Bearer abc.def")), Some(&b"abc.def"[..]));
        assert_eq!(bearer(Some(b"bearer   abc ")), Some(&b"abc"[..]));
        assert_eq!(bearer(Some(b"Basic dXNlcg==")), None);
        assert_eq!(bearer(Some(b"Bearer")), None);
        assert_eq!(bearer(Some(b"Bearer ")), None);
        assert_eq!(bearer(None), None);
    }
}
