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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(args) => match cyclone::demo::run(&args) {
            Ok(report) => {
                cyclone::demo::print(&report, &args);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cyclone demo: {e}");
                let mut source = std::error::Error::source(&e);
                while let Some(cause) = source {
                    eprintln!("  caused by: {cause}");
                    source = cause.source();
                }
                ExitCode::FAILURE
            }
        },
    }
}
