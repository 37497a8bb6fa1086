//! Builds `ebpf/xdp_steer.c` into `OUT_DIR/xdp_steer.o` with clang (`-O2 -g -target bpf`), for
//! `src/program.rs` to embed. Nothing generated is written outside `OUT_DIR`.
//!
//! Needs clang and the libbpf headers (`bpf/bpf_helpers.h`); the error says what to install.
//! This crate is not a default workspace member, so a plain `cargo build` never needs them.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let src = manifest.join("../../ebpf/xdp_steer.c");
    let out =
        PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("xdp_steer.o");
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-env-changed=CLANG");

    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    let mut cmd = Command::new(&clang);
    cmd.args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"]);
    // <asm/types.h>, which <linux/bpf.h> includes, lives in the multiarch directory on Debian.
    for dir in [
        "/usr/include/x86_64-linux-gnu",
        "/usr/include/aarch64-linux-gnu",
    ] {
        if std::path::Path::new(dir).is_dir() {
            cmd.arg(format!("-I{dir}"));
        }
    }
    cmd.arg("-c").arg(&src).arg("-o").arg(&out);

    let status = match cmd.status() {
        Ok(status) => status,
        Err(e) => panic!(
            "cyclone-afxdp: cannot run `{clang}` to build the XDP program ebpf/xdp_steer.c: {e}.\n\
             Install clang and the libbpf headers: `apt-get install clang libbpf-dev` \
             (or set CLANG=/path/to/clang)."
        ),
    };
    if !status.success() {
        panic!(
            "cyclone-afxdp: `{clang}` failed to build ebpf/xdp_steer.c ({status}).\n\
             If the error is a missing header (bpf/bpf_helpers.h, asm/types.h), install \
             `libbpf-dev` and `linux-libc-dev` (`apt-get install libbpf-dev linux-libc-dev`)."
        );
    }
}
