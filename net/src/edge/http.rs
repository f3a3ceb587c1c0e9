//! The HTTP answer to a [`Denial`]: status, the fields RFC 6750 and RFC 9110 ask for, and a
//! structured body ([`crate::problem`]) that says no more than the code.

use super::Denial;
use crate::{Error, Request, Responder, problem};

/// `WWW-Authenticate` for a request without a token (RFC 6750 §3: no error code then).
const CHALLENGE: &[u8] = b"Bearer realm=\"ringwire\"";
/// ... for a token that does not verify.
const INVALID: &[u8] = b"Bearer realm=\"ringwire\", error=\"invalid_token\"";
/// ... for a valid token without the scope.
const SCOPE: &[u8] = b"Bearer realm=\"ringwire\", error=\"insufficient_scope\"";

/// Answers `denial` to `req` (the connection stays open).
pub fn answer(req: &Request<'_>, res: &mut Responder<'_>, denial: Denial) -> Result<(), Error> {
    let retry = denial.retry_after_secs().map(|s| s.to_string());
    let mut headers: Vec<(&str, &[u8])> = Vec::with_capacity(2);
    match denial {
        Denial::MissingToken => headers.push(("WWW-Authenticate", CHALLENGE)),
        Denial::InvalidToken => headers.push(("WWW-Authenticate", INVALID)),
        Denial::Forbidden => headers.push(("WWW-Authenticate", SCOPE)),
        _ => {}
    }
    if let Some(secs) = &retry {
        headers.push(("Retry-After", secs.as_bytes()));
    }
    problem::send_error(
        req,
        res,
        denial.status(),
        denial.code(),
        denial.message(),
        &headers,
    )
}
