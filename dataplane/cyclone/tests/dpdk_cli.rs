//! `cyclone serve --backend dpdk` and `cyclone fwd` refuse what cannot work with a clear
//! message and a non-zero exit, never a crash: bad EAL arguments, no ports, a vdev without a
//! driver, an unknown port, missing `--dpdk-args`; and a build without the `dpdk` feature says
//! which feature to enable. Each case runs the built binary, so the EAL starts in a process of
//! its own every time. The cases that start the EAL run as root; otherwise they print `SKIP`.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `cyclone` with `args` (no config file, no DPDK settings from the environment); kills
/// it if it is still running after 60 s (a case that unexpectedly started serving).
fn cyclone(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cyclone"))
        .args(args)
        .env_remove("CYCLONE_CONFIG")
        .env_remove("CYCLONE_DPDK_ARGS")
        .env_remove("CYCLONE_BACKEND")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cyclone runs");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "cyclone {args:?} still ran after 60 s:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// The run failed the orderly way (exit status 1, not a signal) and its stderr has `needle`.
fn assert_refused(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an orderly failure, not a crash: {:?}\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains(needle),
        "stderr lacks {needle:?}:\n{stderr}"
    );
}

#[cfg(not(feature = "dpdk"))]
#[test]
fn without_the_feature_the_dpdk_commands_name_it() {
    let out = cyclone(&[
        "serve",
        "--backend",
        "dpdk",
        "--dpdk-args",
        "-l 0",
        "--ip",
        "198.18.0.1/24",
    ]);
    assert_refused(&out, "--features dpdk");
    let out = cyclone(&["fwd", "--backend", "dpdk", "--dpdk-args", "-l 0"]);
    assert_refused(&out, "--features dpdk");
}

#[cfg(feature = "dpdk")]
mod with_dpdk {
    use super::*;

    /// `cyclone serve --backend dpdk` with `dpdk_args` and `extra` flags.
    fn serve(dpdk_args: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            "serve",
            "--backend",
            "dpdk",
            "--dpdk-args",
            dpdk_args,
            "--ip",
            "198.18.0.1/24",
        ];
        args.extend_from_slice(extra);
        cyclone(&args)
    }

    fn skip() -> bool {
        match cyclone_dpdk::env::skip_reason(&["net_null"]) {
            Some(why) => {
                println!("SKIP: {why}");
                true
            }
            None => false,
        }
    }

    #[test]
    fn missing_or_misplaced_dpdk_args_are_refused_before_anything_starts() {
        let out = cyclone(&["serve", "--backend", "dpdk", "--ip", "198.18.0.1/24"]);
        assert_refused(&out, "--dpdk-args");
        let out = serve("  ", &[]);
        assert_refused(&out, "needs its EAL arguments");
        let out = cyclone(&[
            "serve",
            "--backend",
            "memory",
            "--dpdk-args",
            "-l 0",
            "--ip",
            "198.18.0.1/24",
        ]);
        assert_refused(&out, "only applies to --backend dpdk");
        let out = cyclone(&["fwd", "--backend", "dpdk"]);
        assert_refused(&out, "--dpdk-args");
        let out = cyclone(&["fwd", "--backend", "memory", "--dpdk-args", "-l 0"]);
        assert_refused(&out, "only the dpdk backend forwards");
        let out = cyclone(&["fwd", "--mode", "sideways", "--dpdk-args", "-l 0"]);
        assert_refused(&out, "unknown forwarding mode");
    }

    #[test]
    fn bad_eal_arguments_are_a_clear_error() {
        if skip() {
            return;
        }
        let out = serve("-l 0 --no-pci --no-such-eal-option", &[]);
        assert_refused(&out, "cannot start the EAL");
        assert_refused(&out, "rte_eal_init");
        let out = cyclone(&[
            "fwd",
            "--dpdk-args",
            "-l 0 --no-such-eal-option",
            "--seconds",
            "1",
        ]);
        assert_refused(&out, "rte_eal_init");
    }

    #[test]
    fn no_ports_is_a_clear_error() {
        if skip() {
            return;
        }
        let out = serve("-l 0 --no-pci", &[]);
        assert_refused(&out, "cannot open DPDK port `0`");
        assert_refused(&out, "found no Ethernet port");
        let out = cyclone(&["fwd", "--dpdk-args", "-l 0 --no-pci", "--seconds", "1"]);
        assert_refused(&out, "found no Ethernet port");
    }

    #[test]
    fn a_vdev_without_a_driver_is_a_clear_error() {
        if skip() {
            return;
        }
        let out = serve("-l 0 --no-pci --vdev net_nosuchdriver0", &[]);
        assert_refused(&out, "net_nosuchdriver0");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("No such device") || stderr.contains("no driver created a port"),
            "{stderr}"
        );
    }

    #[test]
    fn an_unknown_port_is_a_clear_error_naming_the_ports_there_are() {
        if skip() {
            return;
        }
        let out = serve("-l 0 --no-pci --vdev net_null0", &["--iface", "net_null7"]);
        assert_refused(&out, "no DPDK port `net_null7`");
        assert_refused(&out, "0 (net_null0)");
        let out = serve("-l 0 --no-pci --vdev net_null0", &["--iface", "3"]);
        assert_refused(&out, "no DPDK port `3`");
    }

    #[test]
    fn fwd_runs_for_the_seconds_asked_and_prints_a_summary() {
        if skip() {
            return;
        }
        let out = cyclone(&[
            "fwd",
            "--mode",
            "macswap",
            "--dpdk-args",
            "-l 0-1 --no-pci --vdev net_null0 --vdev net_null1",
            "--seconds",
            "2",
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("second 2:"), "{stdout}");
        assert!(
            stdout.contains("summary: mode=macswap dpdk_cache=256 ports=net_null0,net_null1"),
            "{stdout}"
        );
    }

    #[test]
    fn fwd_without_seconds_runs_until_sigint_then_prints_its_summary() {
        if skip() {
            return;
        }
        let child = Command::new(env!("CARGO_BIN_EXE_cyclone"))
            .args(["fwd", "--dpdk-args", "-l 0-1 --no-pci --vdev net_null0"])
            .env_remove("CYCLONE_DPDK_ARGS")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cyclone runs");
        std::thread::sleep(Duration::from_millis(2500));
        let killed = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        let out = child.wait_with_output().expect("output");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{:?} {stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("second 1:"), "{stdout}");
        assert!(
            stdout.contains("ports=net_null0,net_null0"),
            "one port forwards to itself: {stdout}"
        );
    }
}
