//! Runs the sessions example on 127.0.0.1:3000.
//!
//! `SESSIONS_DATABASE_URL` is the database (default `sqlite://sessions.db?mode=rwc`). Cookies are
//! `Secure` with the `__Host-` prefix; browsers accept them from `http://localhost` but nowhere
//! else over plain HTTP. `SESSIONS_INSECURE_COOKIES=1` drops `Secure` (development only).

#[tokio::main]
async fn main() -> Result<(), axum_sessions::BoxError> {
    let database_url =
        std::env::var("SESSIONS_DATABASE_URL").unwrap_or_else(|_| "sqlite://sessions.db?mode=rwc".to_owned());
    let insecure = std::env::var("SESSIONS_INSECURE_COOKIES").is_ok_and(|v| v == "1");
    let app = axum_sessions::router(axum_sessions::auth(&database_url, insecure).await?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("sessions example on http://localhost:3000");
    axum::serve(listener, app).await?;
    Ok(())
}
