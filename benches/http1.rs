//! HTTP/1.1 codec benchmarks: head parsing (against bare httparse), chunked decoding
//! throughput and response encoding. Run: `cargo bench -p ringwire --bench http1`.

use std::hint::black_box;
use std::mem::MaybeUninit;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ringwire_protocol::http1::{
    BodyDecoder, CHUNK_END, ChunkHeader, Event, Framing, LAST_CHUNK, Limits, Parser, Reply,
    Response, ResponseBody, Status, Version, http_date,
};

const PLAINTEXT: &[u8] = b"GET /plaintext HTTP/1.1\r\n\
Host: server\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20130501 Firefox/30.0 AppleWebKit/600.00 Chrome/30.0.0000.0 Trident/10.0 Safari/600.00\r\n\
Accept: text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7\r\n\
Connection: keep-alive\r\n\r\n";

const BROWSER: &[u8] = b"GET /static/js/app.3f9c2b.js?v=20240101 HTTP/1.1\r\n\
Host: www.example.com\r\n\
Connection: keep-alive\r\n\
sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
sec-ch-ua-platform: \"Windows\"\r\n\
Accept: */*\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-Mode: no-cors\r\n\
Sec-Fetch-Dest: script\r\n\
Referer: https://www.example.com/products/widgets?page=2\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n\
Cookie: session=9f8e7d6c5b4a3210; theme=dark; _ga=GA1.2.1234567890.1700000000\r\n\
If-None-Match: \"5f3c-1a2b3c4d\"\r\n\r\n";

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for (name, req) in [("plaintext", PLAINTEXT), ("browser", BROWSER)] {
        g.throughput(Throughput::Elements(1));
        let mut parser = Parser::new(Limits::default());
        g.bench_function(format!("ringwire/{name}"), |b| {
            b.iter(|| match parser.parse(black_box(req)) {
                Ok(Status::Complete(h)) => (h.len(), h.keep_alive(), h.framing()),
                _ => unreachable!(),
            })
        });
        // The floor: tokenizing only, into a stack array of uninitialised headers, as the
        // ringwire parser does before its own checks.
        g.bench_function(format!("httparse/{name}"), |b| {
            b.iter(|| {
                let mut slots = [MaybeUninit::<httparse::Header<'_>>::uninit(); 100];
                let mut r = httparse::Request::new(&mut []);
                let cfg = httparse::ParserConfig::default();
                match cfg.parse_request_with_uninit_headers(&mut r, black_box(req), &mut slots) {
                    Ok(httparse::Status::Complete(n)) => (n, r.headers.len()),
                    _ => unreachable!(),
                }
            })
        });
    }
    // TechEmpower pipelines 16 requests per read.
    let pipelined = PLAINTEXT.repeat(16);
    g.throughput(Throughput::Elements(16));
    let mut parser = Parser::new(Limits::default());
    g.bench_function("ringwire/plaintext_pipelined_16", |b| {
        b.iter(|| {
            let mut pos = 0;
            while pos < pipelined.len() {
                match parser.parse(black_box(&pipelined[pos..])) {
                    Ok(Status::Complete(h)) => pos += h.len(),
                    _ => unreachable!(),
                }
            }
            pos
        })
    });
    g.finish();
}

fn chunked_body(total: usize, chunk: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    let mut out = Vec::with_capacity(total + total / chunk * 12 + 16);
    for piece in data.chunks(chunk) {
        out.extend_from_slice(ChunkHeader::new(piece.len() as u64).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(CHUNK_END);
    }
    out.extend_from_slice(LAST_CHUNK);
    out
}

fn chunked(c: &mut Criterion) {
    let mut g = c.benchmark_group("chunked");
    let limits = Limits {
        max_body: u64::MAX,
        ..Limits::default()
    };
    for chunk in [64usize, 4096] {
        let wire = chunked_body(1 << 20, chunk);
        g.throughput(Throughput::Bytes(1 << 20));
        g.bench_function(format!("decode_1MiB_in_{chunk}B_chunks"), |b| {
            b.iter(|| {
                let mut dec = BodyDecoder::new(Framing::Chunked, &limits);
                let (mut pos, mut sum) = (0, 0usize);
                loop {
                    let (n, ev) = dec.decode(black_box(&wire[pos..])).unwrap();
                    pos += n;
                    match ev {
                        Event::Data(d) => sum += d.len(),
                        Event::End => break sum,
                        Event::NeedMore => unreachable!(),
                    }
                }
            })
        });
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    let date = http_date(1_700_000_000);
    let headers: &[(&str, &[u8])] = &[("Content-Type", b"text/plain")];
    let reply = Reply {
        version: Version::Http11,
        keep_alive: true,
        head_request: false,
    };
    let mut out = Vec::with_capacity(512);
    g.throughput(Throughput::Elements(1));
    g.bench_function("plaintext_response_head", |b| {
        b.iter(|| {
            out.clear();
            let res = Response {
                headers,
                server: Some("ringwire"),
                ..Response::new(200, ResponseBody::Length(13), &date)
            };
            res.encode(black_box(reply), &mut out).unwrap();
            out.len()
        })
    });
    g.bench_function("http_date", |b| {
        b.iter(|| http_date(black_box(1_700_000_000)))
    });
    g.finish();
}

criterion_group!(benches, parse, chunked, encode);
criterion_main!(benches);
