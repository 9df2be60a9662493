fn main() {
    println!("recurrent {}", env!("CARGO_PKG_VERSION"));
}
