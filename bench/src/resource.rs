//! The resource-server benchmark's Portcullis side (`bench/resource-server.sh`).
//!
//! - `portcullis-resource-bench prepare DIR`: for RS256, ES256, EdDSA and HS256, a key (the public
//!   JWKS in `DIR/<alg>.jwks`, the public PEM in `DIR/<alg>.pub.pem`, the HMAC secret in
//!   `DIR/HS256.secret`) and an access token valid for a day in `DIR/<alg>.jwt` (issuer
//!   `https://issuer.bench`, audience `bench-api`).
//! - `portcullis-resource-bench serve ALG DIR PORT [cache]`: `GET /protected` behind a
//!   `ResourceServer` on 127.0.0.1:PORT; asymmetric keys come from a JWKS URL served by this
//!   process, the HMAC secret is static. `cache` turns on the verified-token cache.

use std::sync::Arc;

use axum::routing::get;
use portcullis::axum::{Auth, AuthContext};
use portcullis::core::{ManualClock, UserId};
use portcullis::jwt::{
    JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet, TokenContents, TokenKind, generate_key,
};
use portcullis::resource_server::{Issuer, ResourceServer};

const ISSUER: &str = "https://issuer.bench";
const AUDIENCE: &str = "bench-api";
const ALGS: [JwtAlgorithm; 4] =
    [JwtAlgorithm::RS256, JwtAlgorithm::ES256, JwtAlgorithm::EdDSA, JwtAlgorithm::HS256];
/// The HMAC secret (ASCII, so the peer can take it as a string).
const HMAC_SECRET: &str = "bench-hmac-secret-bench-hmac-secret-bench-hmac-secret-0123456789";

type Error = Box<dyn std::error::Error>;

fn prepare(dir: &std::path::Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir)?;
    for alg in ALGS {
        let key = if alg.is_hmac() {
            std::fs::write(dir.join(format!("{alg}.secret")), HMAC_SECRET)?;
            JwtKey::hmac(alg, HMAC_SECRET.as_bytes())?
        } else {
            let generated = generate_key(alg)?;
            std::fs::write(
                dir.join(format!("{alg}.pub.pem")),
                generated.public_pem.clone().unwrap_or_default(),
            )?;
            let key = generated.to_key()?;
            let jwks = KeySet::new(key.clone())?.jwks();
            std::fs::write(dir.join(format!("{alg}.jwks")), jwks.to_string())?;
            key
        };
        let config =
            JwtConfig::default().issuer(ISSUER).audience(AUDIENCE).access_ttl(chrono::Duration::days(1));
        let clock = Arc::new(ManualClock::starting_now());
        let jwt = JwtService::new(config, KeySet::new(key)?, clock)?;
        let token = jwt.issue(TokenKind::Access, &UserId::new("bench-user"), TokenContents::default())?.token;
        std::fs::write(dir.join(format!("{alg}.jwt")), token)?;
    }
    Ok(())
}

async fn serve(alg: JwtAlgorithm, dir: &std::path::Path, port: u16, cache: bool) -> Result<(), Error> {
    let issuer = if alg.is_hmac() {
        let secret = std::fs::read(dir.join(format!("{alg}.secret")))?;
        Issuer::static_keys(ISSUER, [JwtKey::hmac(alg, &secret)?])
    } else {
        let jwks = std::fs::read_to_string(dir.join(format!("{alg}.jwks")))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/jwks", listener.local_addr()?);
        let app = axum::Router::new().route("/jwks", get(move || async move { jwks }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Issuer::jwks_url(ISSUER, url).algorithms([alg])
    };
    let mut builder = ResourceServer::builder().issuer(issuer.audience(AUDIENCE));
    if cache {
        builder = builder.token_cache(100_000);
    }
    let verifier = builder.build()?;
    if !verifier.warm_up().await.is_empty() {
        return Err("the JWKS could not be fetched".into());
    }
    let _background = verifier.spawn_background();
    let context = AuthContext::new(Arc::new(verifier));
    let app = axum::Router::new()
        .route("/protected", get(|Auth(principal): Auth| async move { principal.user_id.to_string() }))
        .layer(context.layer());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["prepare", dir] => prepare(std::path::Path::new(dir)),
        ["serve", alg, dir, port, rest @ ..] => {
            let alg: JwtAlgorithm = alg.parse()?;
            let cache = rest.first() == Some(&"cache");
            runtime.block_on(serve(alg, std::path::Path::new(dir), port.parse()?, cache))
        }
        _ => Err("usage: portcullis-resource-bench prepare DIR | serve ALG DIR PORT [cache]".into()),
    }
}
