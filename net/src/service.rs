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

use crate::{Error, Responder, body::Body};
use ringwire_protocol::http1::{Method, RequestHead};
use std::{future::Future, time::Instant};

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
}
