//! The `cyclone` command.

#![forbid(unsafe_code)]

fn main() {
    println!("cyclone: in progress");
}
