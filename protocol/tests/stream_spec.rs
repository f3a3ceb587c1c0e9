//! docs/PROTOCOL.md's example session is real: its hex blocks are exactly what a client and a
//! server built on this codec write, step by step.

use std::path::PathBuf;

use ringwire_protocol::stream::{Connection, ErrorCode, Event, Role, Settings};

/// The ```` ```hex c2s ```` / ```` ```hex s2c ```` blocks of the spec, in order: direction and
/// bytes. Each line is hex groups of whole bytes; `#` starts a comment.
fn blocks() -> Vec<(String, Vec<u8>)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/PROTOCOL.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut blocks = Vec::new();
    let mut current: Option<(String, Vec<u8>)> = None;
    for line in text.lines() {
        if let Some(dir) = line.strip_prefix("```hex ") {
            current = Some((dir.trim().to_string(), Vec::new()));
        } else if line.starts_with("```") {
            blocks.extend(current.take());
        } else if let Some((_, bytes)) = current.as_mut() {
            let code = line.split('#').next().unwrap();
            for group in code.split_whitespace() {
                assert!(group.len() % 2 == 0, "odd hex group {group:?}");
                for i in (0..group.len()).step_by(2) {
                    bytes.push(u8::from_str_radix(&group[i..i + 2], 16).expect("hex"));
                }
            }
        }
    }
    blocks
}

/// Decodes all of `input`; the server side echoes DATA and consumes it.
fn pump(conn: &mut Connection, input: &[u8], out: &mut Vec<u8>) {
    let mut pos = 0;
    loop {
        match conn.decode(&input[pos..], out) {
            Ok((n, Some(Event::Data { id, data, end }))) => {
                pos += n;
                if conn.role() == Role::Server {
                    assert_eq!(conn.send_data(id, data, end, out), Ok(data.len()));
                }
                conn.consume(id, data.len(), out).unwrap();
            }
            Ok((n, Some(_))) => pos += n,
            Ok((n, None)) => {
                assert_eq!(pos + n, input.len());
                return;
            }
            Err(e) => {
                assert!(e.is_fatal());
                return;
            }
        }
    }
}

/// What the client writes at each step of the example.
fn client_step(i: usize, c: &mut Connection, out: &mut Vec<u8>) {
    match i {
        0 => c.hello(out).unwrap(),
        1 => {
            let id = c.open_stream("echo", out).unwrap();
            assert_eq!(c.send_data(id, b"hello", true, out), Ok(5));
        }
        2 => c.ping([0, 0, 0, 0, 0, 0, 0, 1], out).unwrap(),
        // A broken client: DATA on a stream it never opened, written by hand.
        _ => out.extend_from_slice(&[1, 2, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, b'x']),
    }
}

#[test]
fn example_session_matches_the_codec_byte_for_byte() {
    let blocks = blocks();
    let dirs: Vec<&str> = blocks.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(
        dirs,
        ["c2s", "s2c", "c2s", "s2c", "c2s", "s2c", "c2s", "s2c"]
    );
    let mut client = Connection::new(Role::Client, Settings::default()).unwrap();
    let mut server = Connection::new(Role::Server, Settings::default()).unwrap();
    let mut sent = Vec::new();
    let mut scratch = Vec::new();
    for i in 0..4 {
        sent.clear();
        client_step(i, &mut client, &mut sent);
        assert_eq!(sent, blocks[2 * i].1, "client block {}", 2 * i);
        let mut reply = Vec::new();
        pump(&mut server, &sent, &mut reply);
        if i == 2 {
            server
                .goaway(ErrorCode::NO_ERROR, b"draining", &mut reply)
                .unwrap();
        }
        assert_eq!(reply, blocks[2 * i + 1].1, "server block {}", 2 * i + 1);
        scratch.clear();
        pump(&mut client, &reply, &mut scratch);
    }
    assert_eq!(
        server.error().and_then(|e| e.code()),
        Some(ErrorCode::PROTOCOL_ERROR)
    );
}
