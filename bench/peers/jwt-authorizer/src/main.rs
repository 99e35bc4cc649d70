//! `jwt-authorizer-peer serve ALG DIR PORT`: `GET /protected` behind jwt-authorizer 0.15 on
//! 127.0.0.1:PORT, for the files `portcullis-resource-bench prepare DIR` wrote. Asymmetric keys
//! come from a JWKS URL served by this process, the HMAC secret is static, as on the Portcullis side.

use axum::{routing::get, Router};
use jwt_authorizer::{Authorizer, IntoLayer, JwtAuthorizer, JwtClaims, RegisteredClaims, Validation};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [cmd, alg, dir, port] = args.as_slice() else { panic!("usage: serve ALG DIR PORT") };
    assert_eq!(cmd, "serve");
    let validation = Validation::new().iss(&["https://issuer.bench"]).aud(&["bench-api"]);
    let builder: jwt_authorizer::AuthorizerBuilder<RegisteredClaims> = if alg == "HS256" {
        let secret = std::fs::read_to_string(format!("{dir}/{alg}.secret")).unwrap();
        JwtAuthorizer::from_secret(&secret)
    } else {
        let jwks = std::fs::read_to_string(format!("{dir}/{alg}.jwks")).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let app = Router::new().route("/jwks", get(move || async move { jwks }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        JwtAuthorizer::from_jwks_url(&url)
    };
    let authorizer: Authorizer<RegisteredClaims> = builder.validation(validation).build().await.unwrap();
    let app = Router::new()
        .route("/protected", get(|JwtClaims(claims): JwtClaims<RegisteredClaims>| async move { claims.sub.unwrap_or_default() }))
        .layer(authorizer.into_layer());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>().unwrap())).await.unwrap();
    axum::serve(listener, app).await.unwrap();
}
