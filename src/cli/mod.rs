use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod analyze;

/// Passive TCP/IP fingerprinting: which OS really opened this connection.
#[derive(Parser)]
#[command(name = "synprint", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fingerprint every SYN and SYN+ACK in capture files (pcap, pcapng, `-` for stdin).
    Analyze(analyze::AnalyzeArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => analyze::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("synprint: {e}");
            ExitCode::from(2)
        }
    }
}
