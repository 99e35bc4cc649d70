//! Runs the notes API on 127.0.0.1:3000.
//!
//! `NOTES_SECRET` (required) is the HMAC secret, at least 32 bytes; `NOTES_DATABASE_URL` the user
//! database (default `sqlite://notes.db?mode=rwc`).

#[tokio::main]
async fn main() -> Result<(), axum_app::BoxError> {
    let secret = std::env::var("NOTES_SECRET")
        .map_err(|_| "set NOTES_SECRET to a random string of at least 32 bytes")?;
    let database_url =
        std::env::var("NOTES_DATABASE_URL").unwrap_or_else(|_| "sqlite://notes.db?mode=rwc".to_owned());
    let app = axum_app::app(&database_url, secret.as_bytes()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("notes API on http://127.0.0.1:3000");
    axum::serve(listener, app).await?;
    Ok(())
}
