//! The `ringwire` binary.

fn main() {
    let rt = ringwire_reactor::Runtime::new().expect("runtime");
    println!("ringwire {} on {}", env!("CARGO_PKG_VERSION"), rt.backend());
}
