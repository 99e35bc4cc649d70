//! The `portcullis` binary.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than glibc's malloc: less time in the allocator on every path (feature
/// `mimalloc`, on by default).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    auth_server::cli::run(auth_server::cli::Cli::parse()).await
}
