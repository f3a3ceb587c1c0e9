//! The small adapter that lets `tokio-postgres` talk over a ringwire socket: tokio's
//! `AsyncRead`/`AsyncWrite` on top of the reactor's completion-style `TcpStream`.
//!
//! No tokio runtime is involved: tokio-postgres only needs the two I/O traits, and everything
//! it awaits is woken by this core's reactor.
//!
//! - **Reads** take the bytes the reactor received (a provided-buffer ring slot on io_uring, a
//!   pooled buffer on epoll), copy what fits into the caller's buffer and keep the rest in a
//!   small buffer of our own, so the ring slot goes back at once.
//! - **Writes** copy the caller's bytes into an owned buffer and start one write operation
//!   that owns it (the kernel may read it after the call returns). The bytes are reported
//!   written at once; a later write or flush first waits for that operation, and reports its
//!   error if it failed. tokio-postgres flushes after every message batch, so nothing waits
//!   in the buffer.

use ringwire_reactor::net::TcpStream;
use std::{
    future::Future,
    io,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll, ready},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

type Writing = Pin<Box<dyn Future<Output = io::Result<()>>>>;

/// A connected socket that tokio-postgres can drive.
pub(crate) struct PgSocket {
    stream: Rc<TcpStream>,
    /// Received bytes not yet handed to the reader.
    spill: Vec<u8>,
    spill_at: usize,
    writing: Option<Writing>,
    eof: bool,
    shut: bool,
}

impl PgSocket {
    pub(crate) fn new(stream: TcpStream) -> PgSocket {
        PgSocket {
            stream: Rc::new(stream),
            spill: Vec::new(),
            spill_at: 0,
            writing: None,
            eof: false,
            shut: false,
        }
    }

    /// Waits for the write in flight, if any.
    fn poll_written(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(w) = self.writing.as_mut() {
            let r = ready!(w.as_mut().poll(cx));
            self.writing = None;
            r?;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for PgSocket {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.spill_at < this.spill.len() {
            let rest = &this.spill[this.spill_at..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.spill_at += n;
            if this.spill_at == this.spill.len() {
                this.spill.clear();
                this.spill_at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        if this.eof || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        match ready!(this.stream.poll_recv(cx))? {
            None => {
                this.eof = true;
                Poll::Ready(Ok(()))
            }
            Some(received) => {
                let n = received.len().min(buf.remaining());
                buf.put_slice(&received[..n]);
                this.spill.extend_from_slice(&received[n..]);
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl AsyncWrite for PgSocket {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_written(cx))?;
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let stream = self.stream.clone();
        let owned = data.to_vec();
        let mut w: Writing = Box::pin(async move { stream.write_all(owned).await.0 });
        // Started now: the operation is queued (or done) before we report the bytes taken.
        match w.as_mut().poll(cx) {
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => {}
            Poll::Pending => self.writing = Some(w),
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_written(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_written(cx))?;
        if self.shut {
            return Poll::Ready(Ok(()));
        }
        self.shut = true;
        let stream = self.stream.clone();
        let mut w: Writing =
            Box::pin(async move { stream.shutdown(std::net::Shutdown::Write).await });
        match w.as_mut().poll(cx) {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => {
                self.writing = Some(w);
                Poll::Pending
            }
        }
    }
}
