//! Request fields the server interprets, over real sockets: a hostile value is ignored, never
//! a crash (the parsers are fuzzed in `ringwire-protocol`; this is the end-to-end check).

mod util;

use util::{Server, raw};

both_backends! {
    fn a_traceparent_with_a_multi_byte_character_is_ignored(io) {
        let s = Server::start(io, &["--access-log-sample", "1"]);
        // 'é' straddles byte 2, where the version ends: slicing there used to panic.
        let request = "GET /plaintext HTTP/1.1\r\nHost: x\r\n\
                       traceparent: aé-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n";
        let resp = raw(&s, request.as_bytes()).expect("a response, not a dropped connection");
        assert_eq!((resp.status, &resp.body[..]), (200, &b"Hello, World!"[..]));
        let good = "GET /plaintext HTTP/1.1\r\nHost: x\r\n\
                    traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n";
        assert_eq!(raw(&s, good.as_bytes()).unwrap().status, 200);
    }
}
