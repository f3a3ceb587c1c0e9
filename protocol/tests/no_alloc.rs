//! The common path allocates nothing: parsing heads, decoding bodies and encoding into a
//! buffer with capacity touch the heap zero times once the parser exists.
//!
//! One test in this binary on purpose: the counting allocator is global, and a second test
//! running in parallel would count its own allocations here.

use ringwire_protocol::http1::{
    BodyDecoder, Event, Framing, Limits, Parser, Response, ResponseBody, Status, TraceParent,
    http_date,
};
mod alloc_util;

use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const PIPELINE: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: server\r\nUser-Agent: Mozilla/5.0\r\n\
Accept: text/plain,text/html;q=0.9\r\nConnection: keep-alive\r\n\r\n\
POST /upload?x=1 HTTP/1.1\r\nHost: server\r\nTransfer-Encoding: chunked\r\n\r\n\
5;e=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n\
PUT /f HTTP/1.1\r\nHost: server\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc";

fn serve(parser: &mut Parser, limits: &Limits, out: &mut Vec<u8>, date: &[u8; 29]) -> usize {
    let mut pos = 0;
    let mut bytes = 0;
    while pos < PIPELINE.len() {
        let Ok(Status::Complete(head)) = parser.parse(&PIPELINE[pos..]) else {
            panic!("pipeline must parse")
        };
        assert!(head.header("host").is_some());
        let reply = head.reply();
        let framing = head.framing();
        pos += head.len();
        let mut body = BodyDecoder::new(framing, limits);
        loop {
            let (n, ev) = body.decode(&PIPELINE[pos..]).unwrap();
            pos += n;
            match ev {
                Event::Data(d) => bytes += d.len(),
                Event::End => break,
                Event::NeedMore => panic!("whole pipeline is present"),
            }
        }
        out.clear();
        Response::new(200, ResponseBody::Length(13), date)
            .encode(reply, out)
            .unwrap();
        assert!(matches!(
            framing,
            Framing::None | Framing::Length(_) | Framing::Chunked
        ));
    }
    bytes
}

#[test]
fn common_path_makes_no_heap_allocation() {
    let limits = Limits::default();
    let mut parser = Parser::new(limits);
    let mut out = Vec::with_capacity(4096);
    let date = http_date(1_700_000_000);
    // Warm up once (nothing should allocate here either, but the assertion is on the loop).
    assert_eq!(serve(&mut parser, &limits, &mut out, &date), 14);

    alloc_util::assert_no_allocation(GLOBAL, || {
        assert_eq!(serve(&mut parser, &limits, &mut out, &date), 14);
        // A traced request: its traceparent is read and written on the stack.
        let tp = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(&TraceParent::parse(tp).unwrap().encode(), tp);
    });
}
