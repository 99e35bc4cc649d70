//! `cargo run -p resource-server` with `ISSUER_URL` and `AUDIENCE` set (see the crate docs).

use portcullis::resource_server::ResourceServer;
use resource_server::{Settings, app};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let settings = Settings::from_env()?;
    let verifier = ResourceServer::builder().issuer(settings.issuer()).build()?;
    for issuer in verifier.warm_up().await {
        eprintln!("warning: the keys of {issuer} could not be fetched yet; retrying on demand");
    }
    let _background = verifier.spawn_background();
    let listener = tokio::net::TcpListener::bind(&settings.bind).await?;
    eprintln!("resource server on http://{}", listener.local_addr()?);
    axum::serve(listener, app(verifier, &settings.admin_role)).await?;
    Ok(())
}
