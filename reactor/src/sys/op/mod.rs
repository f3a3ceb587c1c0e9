//! One file per operation, each carrying it out on both backends (the monoio shape): the
//! io_uring half builds an SQE over memory its data owns, the readiness half retries a
//! non-blocking system call between readiness events.

pub(crate) mod accept;
pub(crate) mod close;
pub(crate) mod connect;
pub(crate) mod read;
pub(crate) mod recv;
pub(crate) mod sendfile;
pub(crate) mod shutdown;
pub(crate) mod write;
pub(crate) mod writev;
