//! # auth-server
//!
//! The ready-to-run Portcullis auth server (binary `portcullis`) and its admin subcommands, like
//! Django's `manage.py`: `serve`, `migrate`, `keygen`, `user create|set-password|deactivate`.
//!
//! The library half lets tests and examples start the same server in-process
//! ([`app::start`]) with an injected clock.
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---------|---------|--------------|
//! | (none)  |         | SQLite and PostgreSQL, both adapters (axum, poem), `/readyz`, metrics |
//! | `mimalloc` | yes  | the binary allocates with mimalloc |
//! | `redis` |         | rate-limit counters in Redis (`PORTCULLIS_RATE_LIMIT_STORE=redis://...`) |

#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
pub mod django;
pub mod metrics;

use portcullis::core::SystemClock;

pub use config::{Adapter, ConfigError, Settings};

/// Installs the tracing subscriber: structured logs on standard error, filter from `PORTCULLIS_LOG`.
pub fn init_tracing(filter: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// Serves until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn serve(settings: Settings) -> Result<(), app::StartError> {
    let server = app::start(&settings, SystemClock::shared()).await?;
    tracing::info!(addr = %server.addr, database = %redact_url(&settings.database_url), "portcullis listening");
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await?;
    Ok(())
}

/// The database URL without its password, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_are_redacted() {
        assert_eq!(super::redact_url("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(super::redact_url("sqlite://x.db?mode=rwc"), "sqlite://x.db?mode=rwc");
    }
}
