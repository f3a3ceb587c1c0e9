//! Closed-loop echo load: N connections, each sends a message and waits for all of it to come
//! back before sending the next. Prints one JSON line with the rate over the measured window,
//! latency percentiles, and (with `--server-pid`) the server's CPU seconds over that window.

use clap::Parser;
use hdrhistogram::Histogram;
use ringwire_reactor::{Backend, Runtime, net::TcpStream, spawn_local, time};
use std::{
    cell::{Cell, RefCell},
    rc::Rc,
    time::{Duration, Instant},
};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:7000")]
    addr: std::net::SocketAddr,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Message size in bytes.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Server process to charge CPU time to.
    #[arg(long)]
    server_pid: Option<u32>,
    #[arg(long, default_value = "auto")]
    io: Backend,
}

fn main() {
    let args = Args::parse();
    let rt = Runtime::builder().backend(args.io).build().expect("runtime");
    rt.block_on(async move {
        let measuring = Rc::new(Cell::new(false));
        let done = Rc::new(Cell::new(false));
        let count = Rc::new(Cell::new(0u64));
        let hist = Rc::new(RefCell::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap()));
        let mut conns = Vec::new();
        for i in 0..args.connections {
            let stream = TcpStream::connect(args.addr).await.unwrap_or_else(|e| panic!("connect {i}: {e}"));
            stream.set_nodelay(true).unwrap();
            let (measuring, done, count, hist) = (measuring.clone(), done.clone(), count.clone(), hist.clone());
            let size = args.size;
            conns.push(spawn_local(async move {
                let mut msg = vec![(i % 251) as u8; size];
                while !done.get() {
                    let start = Instant::now();
                    let (res, back) = stream.write_all(msg).await;
                    msg = back;
                    res.expect("write");
                    let mut got = 0;
                    while got < size {
                        match stream.recv().await.expect("recv") {
                            Some(b) => got += b.len(),
                            None => panic!("server closed the connection"),
                        }
                    }
                    if measuring.get() {
                        count.set(count.get() + 1);
                        let us = start.elapsed().as_micros().max(1) as u64;
                        let _ = hist.borrow_mut().record(us);
                    }
                }
            }));
        }
        time::sleep(Duration::from_secs_f64(args.warmup)).await;
        let cpu0 = args.server_pid.and_then(ringwire_perf_echo::cpu_seconds);
        let t0 = Instant::now();
        measuring.set(true);
        time::sleep(Duration::from_secs_f64(args.duration)).await;
        measuring.set(false);
        let secs = t0.elapsed().as_secs_f64();
        let cpu1 = args.server_pid.and_then(ringwire_perf_echo::cpu_seconds);
        done.set(true);
        let n = count.get();
        let h = hist.borrow();
        let server_cpu = cpu0.zip(cpu1).map(|(a, b)| b - a);
        let out = serde_json::json!({
            "connections": args.connections,
            "size": args.size,
            "seconds": secs,
            "messages": n,
            "rate": n as f64 / secs,
            "p50_us": h.value_at_quantile(0.5),
            "p99_us": h.value_at_quantile(0.99),
            "server_cpu_s": server_cpu,
            "per_cpu_s": server_cpu.filter(|c| *c > 0.0).map(|c| n as f64 / c),
        });
        println!("{out}");
        std::process::exit(0);
    });
}
