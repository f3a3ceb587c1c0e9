//! What a connection holds besides its socket: its place in the core's registry, and the
//! per-core pooled kit a burst of requests borrows.

use super::output::Output;
use crate::{Config, Core, access::Access};
use ringwire_protocol::http1::Parser;
use std::time::Instant;

/// Removes the connection from the core's registry however its task ends (also when aborted).
pub(crate) struct Registration<'a> {
    pub(super) core: &'a Core,
    pub(super) key: usize,
}

impl<'a> Registration<'a> {
    pub(crate) fn new(core: &'a Core, key: usize) -> Self {
        Registration { core, key }
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.core.deregister(self.key);
    }
}

/// Requests answered but not yet written: their durations are recorded when the write ends.
pub(crate) struct Pending {
    pub(super) method: usize,
    pub(super) status: u16,
    pub(super) received: Instant,
    /// Set for requests picked by the access-log sampler.
    pub(super) access: Option<Box<Access>>,
}

/// What a burst needs besides the connection, pooled per core so a burst allocates nothing
/// but its own future: the parser with its header index, the output buffer, and the list of
/// answered-but-unwritten requests.
pub(crate) struct Kit {
    pub(crate) parser: Parser,
    pub(super) out: Output,
    pub(super) pending: Vec<Pending>,
}

impl Kit {
    pub(crate) fn new(config: &Config) -> Kit {
        Kit {
            parser: Parser::new(config.limits),
            out: Output::default(),
            pending: Vec::new(),
        }
    }
}
