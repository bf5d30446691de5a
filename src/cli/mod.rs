// A command's error ends its run, once: its size costs nothing.
#![allow(clippy::result_large_err)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod analyze;
mod engine;
mod error;
mod learn;
mod replace;
mod serve;

/// Passive TCP/IP fingerprinting: which OS really opened this connection.
#[derive(Parser)]
#[command(name = "synprint", version, about, propagate_version = true)]
// The package description names JA4T; a build without it says so.
#[cfg_attr(
    not(feature = "ja4t"),
    command(
        about = "Passive TCP/IP fingerprinting: p0f-exact fingerprints, OS classification and a \
                 zardaxt-compatible API (built without JA4T)"
    )
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fingerprint every SYN and SYN+ACK in capture files (pcap, pcapng, either gzipped, `-` for stdin) or live on an interface.
    ///
    /// Records carry p0f 3.09b's signature and match, MTU, uptime, the OS
    /// classification and JA4T/JA4TS. JA4T and JA4TS are part of JA4+ by
    /// FoxIO, licensed under the FoxIO License 1.1 (build with
    /// `--no-default-features` to leave them out).
    #[cfg_attr(
        not(feature = "ja4t"),
        command(
            long_about = "Fingerprint every SYN and SYN+ACK in capture files (pcap, pcapng, either \
                          gzipped, `-` for stdin) or live on an interface.\n\nRecords carry p0f \
                          3.09b's signature and match, MTU, uptime and the OS classification \
                          (this build leaves out JA4T/JA4TS)."
        )
    )]
    Analyze(analyze::AnalyzeArgs),
    /// Learn OS knowledge from labelled traffic (capture + CSV) into a model file.
    Learn(learn::LearnArgs),
    /// Score the classifier on labelled traffic: accuracy, confusion, coverage, calibration.
    Eval(learn::EvalArgs),
    /// Fingerprint the visitors of a live site and answer per request over HTTP
    /// (zardaxt-compatible API; kernel saved SYNs, optional AF_PACKET capture).
    Serve(synprint::serve::ServeArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => analyze::run(args),
        Command::Learn(args) => learn::learn(args),
        Command::Eval(args) => learn::eval(args),
        Command::Serve(args) => serve::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            synprint::say!("synprint: {e}");
            ExitCode::from(2)
        }
    }
}
