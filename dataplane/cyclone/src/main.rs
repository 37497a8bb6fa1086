//! The `cyclone` command: runs the dataplane.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Cyclone, a kernel-bypass packet dataplane.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the dataplane working: over AF_XDP on a veth pair with the kernel as client (as
    /// root, with the `afxdp` feature), else over an in-memory link with faults and a pcap capture.
    Demo(cyclone::demo::DemoCommand),
    /// Serve HTTP (static files or echo) on a port, one thread per queue, until SIGINT/SIGTERM.
    Serve(cyclone::config::ServeArgs),
    /// Forward frames between DPDK ports 0 and 1 (or port 0 and itself), as `dpdk-testpmd`
    /// does, printing the rate each second (needs the `dpdk` feature).
    Fwd(FwdArgs),
}

/// The flags of `cyclone fwd`.
#[derive(Debug, clap::Args)]
struct FwdArgs {
    /// Packet I/O backend: only dpdk forwards.
    #[arg(long, default_value = "dpdk")]
    backend: String,
    /// Forwarding mode: io (as received) or macswap (source and destination MAC swapped).
    #[arg(long, default_value = "io")]
    mode: String,
    /// DPDK EAL arguments, e.g. "-l 0-1 --no-pci --vdev net_null0 --vdev net_null1".
    #[arg(
        long,
        env = "CYCLONE_DPDK_ARGS",
        value_name = "EAL ARGS",
        allow_hyphen_values = true
    )]
    dpdk_args: Option<String>,
    /// Seconds to forward; 0: until SIGINT/SIGTERM.
    #[arg(long, default_value_t = 0)]
    seconds: u64,
    /// Frames (mbufs) in the shared pool.
    #[arg(long, default_value_t = 32768)]
    frames: u32,
    /// DPDK mempool cache per lcore in front of the pool [default: 256].
    #[arg(long)]
    dpdk_cache: Option<u32>,
    /// Frame size: 2048 or 4096. 4096 by default: the mbuf headers of 4096-byte frames spread
    /// over 16 L1 cache sets (8 colours), those of 2048-byte frames over only 8, and forwarding
    /// measured 1.05–1.09× testpmd with 4096 against 0.82–0.95× with 2048.
    #[arg(long, default_value_t = 4096)]
    frame_size: u32,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(cmd) => {
            if !cmd.memory {
                match cyclone::demo::afxdp_unavailable() {
                    None => {
                        return match cyclone::demo::run_afxdp() {
                            Ok(()) => ExitCode::SUCCESS,
                            Err(e) => {
                                eprintln!("cyclone demo: {e}");
                                ExitCode::FAILURE
                            }
                        }
                    }
                    Some(why) => println!(
                        "cyclone demo: the AF_XDP demo cannot run here: {why}.\n\
                         Showing the in-memory demo instead (`cyclone demo --memory` asks for it).\n"
                    ),
                }
            }
            let args = cmd.args;
            let link = cyclone::demo::run(&args).map(|r| cyclone::demo::print(&r, &args));
            if let Err(e) = link {
                return fail("cyclone demo", &e);
            }
            println!();
            match cyclone::demo::run_stack(&args) {
                Ok(r) => cyclone::demo::print_stack(&r),
                Err(e) => return fail("cyclone demo", &e),
            }
            ExitCode::SUCCESS
        }
        Command::Serve(args) => match cyclone::serve::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail("cyclone serve", &e),
        },
        Command::Fwd(args) => fwd(&args),
    }
}

/// `cyclone fwd`: checks the backend, then runs the DPDK forwarder.
fn fwd(args: &FwdArgs) -> ExitCode {
    use cyclone::config::{Backend, ConfigError};
    let backend = match args.backend.parse::<Backend>() {
        Ok(b) => b,
        Err(e) => return fail("cyclone fwd", &e),
    };
    if backend != Backend::Dpdk {
        eprintln!("cyclone fwd: only the dpdk backend forwards: pass --backend dpdk");
        return ExitCode::FAILURE;
    }
    if !backend.is_built_in() {
        let e = ConfigError::BackendNotBuilt {
            backend,
            feature: "dpdk",
        };
        return fail("cyclone fwd", &e);
    }
    fwd_dpdk(args)
}

#[cfg(not(feature = "dpdk"))]
fn fwd_dpdk(_args: &FwdArgs) -> ExitCode {
    unreachable!("the dpdk backend is not built in: checked by the caller")
}

/// Forwards over DPDK until `--seconds` pass or SIGINT/SIGTERM; prints each second's rate and
/// a summary.
#[cfg(feature = "dpdk")]
fn fwd_dpdk(args: &FwdArgs) -> ExitCode {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use cyclone_dpdk::{EalConfig, FwdConfig, FwdMode};

    let mode: FwdMode = match args.mode.parse() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("cyclone fwd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(dpdk_args) = args.dpdk_args.as_deref().filter(|a| !a.trim().is_empty()) else {
        let e = cyclone::config::ConfigError::MissingDpdkArgs;
        return fail("cyclone fwd", &e);
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal exits at once (status 1).
        let installed = signal_hook::flag::register_conditional_shutdown(signal, 1, stop.clone())
            .and_then(|_| signal_hook::flag::register(signal, stop.clone()));
        if let Err(e) = installed {
            return fail("cyclone fwd: cannot install the signal handlers", &e);
        }
    }
    let config = FwdConfig {
        eal: EalConfig::parse(dpdk_args),
        mode,
        seconds: args.seconds,
        frames: args.frames,
        dpdk_cache: args
            .dpdk_cache
            .unwrap_or(cyclone_dpdk::pool::DEFAULT_DPDK_CACHE),
        frame_size: args.frame_size,
    };
    eprintln!(
        "cyclone fwd: {} forwarding over DPDK ({}); Ctrl-C stops",
        args.mode,
        if args.seconds == 0 {
            "until stopped".to_string()
        } else {
            format!("{} s", args.seconds)
        }
    );
    let result = cyclone_dpdk::fwd::run_until(&config, &stop, |s, mpps| {
        println!("second {s}: {mpps:.3} Mpps");
    });
    match result {
        Ok(sum) => {
            println!(
                "summary: mode={} dpdk_cache={} ports={} seconds={:.1} rx={} tx={} dropped={} \
                 median_mpps={:.3}",
                args.mode,
                config.dpdk_cache,
                sum.ports.join(","),
                sum.elapsed.as_secs_f64(),
                sum.rx,
                sum.tx,
                sum.dropped,
                sum.median_mpps()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail("cyclone fwd", &e),
    }
}

/// Prints an error with its chain of causes and returns failure.
fn fail(what: &str, e: &dyn std::error::Error) -> ExitCode {
    eprintln!("{what}: {e}");
    let mut source = e.source();
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
    ExitCode::FAILURE
}
