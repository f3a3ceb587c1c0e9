//! Echo server on one ringwire core: every received buffer is written straight back (the
//! buffer the reactor received into is the one the write sends: no copy).

use clap::Parser;
use ringwire_reactor::{Backend, Runtime, net::TcpListener, spawn_local};

#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7000")]
    listen: std::net::SocketAddr,
    /// I/O backend: auto, uring or epoll.
    #[arg(long, default_value = "auto")]
    io: Backend,
}

fn main() {
    let args = Args::parse();
    let rt = Runtime::builder().backend(args.io).build().unwrap_or_else(|e| {
        eprintln!("ringwire-echo: {e}");
        std::process::exit(1)
    });
    eprintln!("ringwire-echo on {} with {}", args.listen, rt.backend());
    rt.block_on(async move {
        let std_listener = ringwire_perf_echo::listen(args.listen).expect("bind");
        let listener = TcpListener::from_std(std_listener).expect("listener");
        loop {
            let Ok(stream) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            spawn_local(async move {
                while let Ok(Some(buf)) = stream.recv().await {
                    if stream.write_all(buf).await.0.is_err() {
                        break;
                    }
                }
            });
        }
    });
}
