// TEMPORARY micro-measure (not to be committed).
use ringwire_db::{Config, Op, Store, Sync, block_on};
use std::time::Instant;

fn cpu_ticks() -> u64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn writer_ticks() -> u64 {
    let mut t = 0;
    for e in std::fs::read_dir("/proc/self/task").unwrap() {
        let p = e.unwrap().path();
        let s = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
        if s.contains("(ringwire-db-wri") {
            let rest = &s[s.rfind(')').unwrap() + 2..];
            let f: Vec<&str> = rest.split(' ').collect();
            t += f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        }
    }
    t
}

#[test]
#[ignore]
fn measure_appends() {
    for sync in [Sync::None, Sync::Always] {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config::new(dir.path());
        c.sync = sync;
        c.map_size = 1 << 30;
        let s = Store::open(c).unwrap();
        let total = 200_000;
        let chunk = 20_000;
        let (t0, c0, w0) = (Instant::now(), cpu_ticks(), writer_ticks());
        for _ in 0..total / chunk {
            let pend: Vec<_> = (0..chunk)
                .map(|_| s.write(vec![Op::append("ch/orders", vec![b'x'; 100])]))
                .collect();
            for p in pend {
                block_on(p).unwrap();
            }
        }
        let (wall, cpu, w) = (t0.elapsed(), cpu_ticks() - c0, writer_ticks() - w0);
        let snap = s.snapshot();
        eprintln!("writer cpu {:.2}s => {:.0} appends/writer-cpu-s; mean batch {:.0}", w as f64 / 100.0, total as f64 / (w as f64 / 100.0), snap.batch.mean());
        eprintln!(
            "sync={sync:?}: {total} appends in {wall:?}, cpu {:.2}s => {:.0} appends/cpu-s, {:.0}/s wall",
            cpu as f64 / 100.0,
            total as f64 / (cpu as f64 / 100.0),
            total as f64 / wall.as_secs_f64(),
        );
        s.close();
    }
}
