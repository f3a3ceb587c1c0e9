//! Connection limits and overload shedding against the real server, both backends: a flood
//! from one address (127.0.0.2; all of 127.0.0.0/8 is loopback on Linux) is cut at
//! `--max-connections-per-ip` while requests from another address (127.0.0.1) keep
//! succeeding; a worker whose loop ran late answers 503 and closes new connections at once,
//! then recovers. Rate limits: tests/edge_limits.rs.

mod util;

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    thread,
    time::Duration,
};
use util::{
    Server,
    edge::{Conn, code, connect_from, metric},
};

const FLOODER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const PER_IP: usize = 20;

/// Opens a connection from `from` and sends one request: `Some(status)` if answered (the
/// connection then goes to `hold`), `None` if the server closed it without a byte.
fn try_request(s: &Server, from: IpAddr, hold: &mut Vec<Conn>) -> Option<u16> {
    let mut c = Conn::new(connect_from(from, s.addr).expect("connect"));
    let status = c.get_or_closed("/plaintext")?.status;
    hold.push(c);
    Some(status)
}

both_backends! {
    fn a_flood_from_one_address_does_not_starve_another(io) {
        let per_ip = PER_IP.to_string();
        let s = Server::start(io, &["--max-connections-per-ip", &per_ip]);
        // The flood takes its 20 connections and holds them open.
        let mut held = Vec::new();
        let mut served = 0;
        let mut refused = 0u64;
        for _ in 0..200 {
            match try_request(&s, FLOODER, &mut held) {
                Some(200) => served += 1,
                Some(other) => panic!("flood got {other}"),
                None => refused += 1,
            }
        }
        assert_eq!(served, PER_IP, "exactly the per-address limit is served");
        assert_eq!(refused, 180);

        // It keeps knocking while another address makes requests: every one succeeds.
        let stop = AtomicBool::new(false);
        let more_refused = AtomicU64::new(0);
        thread::scope(|scope| {
            scope.spawn(|| {
                let mut extra = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let got = try_request(&s, FLOODER, &mut extra);
                    assert_eq!(got, None, "the flood's extra connections are closed at once");
                    more_refused.fetch_add(1, Ordering::Relaxed);
                }
            });
            let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
            for i in 0..100 {
                let mut hold = Vec::new();
                let got = try_request(&s, local, &mut hold);
                assert_eq!(got, Some(200), "request {i} from 127.0.0.1 during the flood");
            }
            stop.store(true, Ordering::Relaxed);
        });
        let refused = refused + more_refused.load(Ordering::Relaxed);
        let counted =
            metric(&s, r#"ringwire_edge_connections_refused_total{reason="per_ip"}"#);
        assert!(counted >= refused as f64, "refused {refused}, counted {counted}");

        // The held connections still work; once they go, the address may connect again.
        for c in held.iter_mut() {
            assert_eq!(c.get("/plaintext", "").unwrap().status, 200);
        }
        drop(held);
        let mut again = Vec::new();
        let mut ok = false;
        for _ in 0..50 {
            if try_request(&s, FLOODER, &mut again) == Some(200) {
                ok = true;
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
        assert!(ok, "the flooder's permits come back when its connections close");
    }
}

both_backends! {
    fn a_late_worker_sheds_then_recovers(io) {
        let s = Server::start_with_env(
            io,
            &["--workers", "1", "--shed-queue-delay", "50ms"],
            &[("RINGWIRE_TEST_HOOKS", "1")],
        );
        let mut stalled = Conn::open(&s);
        let mut open = Conn::open(&s);
        assert_eq!(open.get("/plaintext", "").unwrap().status, 200);
        // A request sent while the only worker is blocked for 400 ms waits for it: the loop
        // turn that blocked ran past 50 ms, so that request is answered 503, not served late.
        let waiter = thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            let r = open.get("/plaintext", "").unwrap();
            (open, r)
        });
        let r = stalled.get("/debug/stall?ms=400", "").unwrap();
        assert_eq!(r.status, 200, "{r:?}");
        let (mut open, r) = waiter.join().unwrap();
        assert_eq!(r.status, 503, "a request that waited out the stall is shed: {r:?}");
        // And the core keeps shedding for the hold (1 s): the next request too.
        let r = open.get("/plaintext", "").unwrap();
        assert_eq!(r.status, 503, "{r:?}");
        let ra: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
        assert!(ra >= 1, "{r:?}");
        assert_eq!(code(&r), "server.overloaded", "{r:?}");
        // A new connection: closed at once, without a byte.
        let got = Conn::open(&s).get_or_closed("/plaintext");
        assert!(got.is_none(), "a new connection is refused while shedding: {got:?}");

        // The hold is 1 s after the last late probe: after 2 s all is well again.
        thread::sleep(Duration::from_secs(2));
        let mut fresh = Conn::open(&s);
        assert_eq!(fresh.get("/plaintext", "").unwrap().status, 200);
        let r = open.get("/plaintext", "");
        // The 503 may have closed the old connection; if not, it is served too.
        if let Some(r) = r {
            assert_eq!(r.status, 200, "{r:?}");
        }
        let overloaded = metric(&s, r#"ringwire_edge_denied_total{reason="overloaded"}"#);
        assert!(overloaded >= 1.0, "503s are counted: {overloaded}");
        let shed = metric(&s, r#"ringwire_edge_connections_refused_total{reason="shed"}"#);
        assert!(shed >= 1.0, "shed connections are counted: {shed}");
    }
}

both_backends! {
    fn the_total_connection_limit_holds_across_cores(io) {
        // Two workers, five connections in all: whichever cores they land on.
        let s = Server::start(io, &["--workers", "2", "--max-connections-total", "5"]);
        let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut held = Vec::new();
        let served = (0..5).filter(|_| try_request(&s, local, &mut held) == Some(200)).count();
        assert_eq!(served, 5, "the first five are served");
        // Whatever the address: over the total, closed at once.
        for from in [local, FLOODER] {
            assert_eq!(try_request(&s, from, &mut held), None, "a sixth from {from} is refused");
        }
        // The admin listener is not under the workers' limits: metrics can be read while the
        // total is used up (it was refused before that was fixed).
        let total = metric(&s, r#"ringwire_edge_connections_refused_total{reason="total"}"#);
        assert!(total >= 2.0, "refusals over the total are counted: {total}");
        // One goes away: its place is free again.
        drop(held.pop());
        let mut again = Vec::new();
        let freed = (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            try_request(&s, local, &mut again) == Some(200)
        });
        assert!(freed, "a closed connection gives its place back");
    }
}
