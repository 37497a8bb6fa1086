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
    /// Show the dataplane working over an in-memory link with faults and a pcap capture.
    Demo(cyclone::demo::DemoArgs),
    /// Serve HTTP (static files or echo) on a port, one thread per queue, until SIGINT/SIGTERM.
    Serve(cyclone::config::ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(args) => {
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
