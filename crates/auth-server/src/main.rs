//! The `portcullis` binary.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    auth_server::cli::run(auth_server::cli::Cli::parse()).await
}
