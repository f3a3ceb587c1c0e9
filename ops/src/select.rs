//! Waiting on two futures at once, without pulling in a futures crate for one function.

use std::{future::Future, pin::pin, task::Poll};

pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

/// The first of `a` and `b` to finish (`a` wins a tie); the other is dropped, so pass
/// `Pin<&mut F>` for one that must go on.
pub(crate) async fn select<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        b.as_mut().poll(cx).map(Either::Right)
    })
    .await
}
