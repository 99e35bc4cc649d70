//! Runs the quick-start app on 127.0.0.1:3000 (`QUICKSTART_SECRET` sets the HMAC secret).

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("QUICKSTART_SECRET")
        .map_err(|_| "set QUICKSTART_SECRET to a random string of at least 32 bytes")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, axum_quickstart::app(secret.as_bytes())?).await?;
    Ok(())
}
