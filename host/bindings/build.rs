//! `bindgen!` reads the WIT at compile time, but cargo does not know it: rebuild when it changes.

fn main() {
    println!("cargo:rerun-if-changed=../../wit");
}
