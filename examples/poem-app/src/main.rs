//! Runs the notes API on 127.0.0.1:3000.
//!
//! `NOTES_SECRET` (required) is the HMAC secret, at least 32 bytes; `NOTES_DATABASE_URL` the
//! database holding the `accounts` table (default `sqlite://notes.db?mode=rwc`).

#[tokio::main]
async fn main() -> Result<(), poem_app::BoxError> {
    let secret = std::env::var("NOTES_SECRET")
        .map_err(|_| "set NOTES_SECRET to a random string of at least 32 bytes")?;
    let database_url =
        std::env::var("NOTES_DATABASE_URL").unwrap_or_else(|_| "sqlite://notes.db?mode=rwc".to_owned());
    let app = poem_app::app(&database_url, secret.as_bytes()).await?;
    println!("notes API on http://127.0.0.1:3000");
    poem::Server::new(poem::listener::TcpListener::bind("127.0.0.1:3000")).run(app).await?;
    Ok(())
}
