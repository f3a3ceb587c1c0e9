//! `js-publish`: JetStream publishes to a file-storage stream, `--in-flight` per connection,
//! each counted when its PublishAck arrives within the measured window. The acks of one
//! connection are awaited in publish order, like the answers of ringwire's pipelined PUBs.

use crate::{Common, fail, report};
use async_nats::{
    Subject,
    jetstream::{
        self,
        context::PublishAckFuture,
        stream::{Config, StorageType},
    },
};
use bytes::Bytes;
use clap::Args;
use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    path::PathBuf,
    rc::Rc,
    time::{Duration, Instant},
};

#[derive(Args)]
pub struct JsArgs {
    #[command(flatten)]
    common: Common,
    /// NATS server URL.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    url: String,
    /// Client connections, each with its own JetStream context.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Publishes awaiting their ack per connection.
    #[arg(long, default_value_t = 16)]
    in_flight: usize,
    /// The stream, created with file storage (and this one subject) if it does not exist.
    #[arg(long, default_value = "BENCH")]
    stream: String,
    /// The subject published to.
    #[arg(long, default_value = "bench.js")]
    subject: String,
    /// Require TLS (nats-server --tls), checking the server's certificate, against the URL's
    /// host, with --tls-ca only.
    #[arg(long, requires = "tls_ca")]
    tls: bool,
    /// CA certificate(s) (PEM) the server's certificate must chain to.
    #[arg(long, value_name = "FILE", requires = "tls")]
    tls_ca: Option<PathBuf>,
}

struct Shared {
    measure: Instant,
    end: Instant,
    acked: Cell<u64>,
    published: Cell<u64>,
    hist: RefCell<hdrhistogram::Histogram<u64>>,
    errors: RefCell<Vec<String>>,
}

impl Shared {
    fn error(&self, what: String) {
        let mut e = self.errors.borrow_mut();
        if e.len() < 10 {
            e.push(what);
        }
    }
}

pub async fn run(a: JsArgs) -> report::Summary {
    if let Err(e) = a.common.check(1) {
        fail(e);
    }
    if a.connections == 0 || a.in_flight == 0 {
        fail("--connections and --in-flight: at least 1");
    }
    let mut contexts = Vec::with_capacity(a.connections);
    for _ in 0..a.connections {
        let mut options = async_nats::ConnectOptions::new();
        if let (true, Some(ca)) = (a.tls, a.tls_ca.clone()) {
            options = options.require_tls(true).add_root_certificates(ca);
        }
        let client = options
            .connect(&a.url)
            .await
            .unwrap_or_else(|e| fail(format_args!("connect to {}: {e}", a.url)));
        contexts.push(
            jetstream::context::ContextBuilder::new()
                // Our own bound is --in-flight; the context's must not be the lower one.
                .max_ack_inflight(a.in_flight.max(1) * 2)
                .build(client),
        );
    }
    let config = Config {
        name: a.stream.clone(),
        subjects: vec![a.subject.clone()],
        storage: StorageType::File,
        ..Default::default()
    };
    if let Err(e) = contexts[0].get_or_create_stream(config).await {
        fail(format_args!(
            "create stream {} (is JetStream on: nats-server -js?): {e}",
            a.stream
        ));
    }
    let measure = Instant::now() + Duration::from_secs_f64(a.common.warmup);
    let shared = Rc::new(Shared {
        measure,
        end: measure + Duration::from_secs_f64(a.common.duration),
        acked: Cell::new(0),
        published: Cell::new(0),
        hist: RefCell::new(report::histogram()),
        errors: RefCell::new(Vec::new()),
    });
    let cpu = tokio::task::spawn_local(report::server_cpu(
        a.common.server_pids.clone(),
        shared.measure,
        shared.end,
    ));
    let payload = Bytes::from(vec![b'm'; a.common.size]);
    let subject = Subject::from(a.subject.as_str());
    let tasks: Vec<_> = contexts
        .into_iter()
        .map(|js| {
            tokio::task::spawn_local(publisher(
                js,
                subject.clone(),
                payload.clone(),
                a.in_flight,
                shared.clone(),
            ))
        })
        .collect();
    for t in tasks {
        if let Err(e) = t.await {
            fail(format_args!("a publisher task failed: {e}"));
        }
    }
    let server_cpu_s = cpu.await.unwrap_or_else(|e| fail(e));
    let hist = shared.hist.borrow();
    report::Summary {
        json_mode: a.common.json,
        mode: "js-publish",
        setup: format!(
            "{} connections x {} in flight to {}{}, stream {} (file storage), subject {}",
            a.connections,
            a.in_flight,
            a.url,
            if a.tls { " over TLS" } else { "" },
            a.stream,
            a.subject
        ),
        size: a.common.size,
        duration_s: a.common.duration,
        messages: shared.acked.get(),
        published: shared.published.get(),
        lost: 0,
        errors: shared.errors.borrow().clone(),
        latency: report::Summary::latency_of(&hist),
        server_cpu_s,
    }
}

async fn publisher(
    js: jetstream::Context,
    subject: Subject,
    payload: Bytes,
    depth: usize,
    s: Rc<Shared>,
) {
    let mut q: VecDeque<(Instant, PublishAckFuture)> = VecDeque::with_capacity(depth);
    loop {
        if Instant::now() < s.end {
            while q.len() < depth {
                match js.publish(subject.clone(), payload.clone()).await {
                    Ok(f) => {
                        let now = Instant::now();
                        if now >= s.measure && now < s.end {
                            s.published.set(s.published.get() + 1);
                        }
                        q.push_back((now, f));
                    }
                    Err(e) => {
                        s.error(format!("publish: {e}"));
                        return;
                    }
                }
            }
        }
        let Some((sent, ack)) = q.pop_front() else {
            return;
        };
        match ack.await {
            Ok(_) => {
                let now = Instant::now();
                if sent >= s.measure && now <= s.end {
                    s.acked.set(s.acked.get() + 1);
                    let ns = now.saturating_duration_since(sent).as_nanos() as u64;
                    s.hist.borrow_mut().saturating_record(ns.max(1));
                }
            }
            Err(e) => {
                s.error(format!("publish ack: {e}"));
                return;
            }
        }
    }
}
