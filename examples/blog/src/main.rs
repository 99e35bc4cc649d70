//! Runs the blog on 127.0.0.1:3000.
//!
//! `BLOG_SECRET` (required) is the HMAC secret of the JWTs, at least 32 bytes; `BLOG_DATABASE_URL`
//! the database of users, roles and credentials (default `sqlite://blog.db?mode=rwc`).
//! `BLOG_ADMIN` and `BLOG_ADMIN_PASSWORD`, when both set, create that superuser at start-up if
//! the username is free (the public `register` endpoint never creates one).

use portcullis::core::Registration;

#[tokio::main]
async fn main() -> Result<(), blog::BoxError> {
    let secret = std::env::var("BLOG_SECRET")
        .map_err(|_| "set BLOG_SECRET to a random string of at least 32 bytes")?;
    let database_url =
        std::env::var("BLOG_DATABASE_URL").unwrap_or_else(|_| "sqlite://blog.db?mode=rwc".to_owned());
    let auth = blog::auth(&database_url, secret.as_bytes()).await?;
    if let (Ok(admin), Ok(password)) = (std::env::var("BLOG_ADMIN"), std::env::var("BLOG_ADMIN_PASSWORD")) {
        match auth
            .accounts()
            .register(Registration::new(admin.as_str(), None, password).superuser(true))
            .await
        {
            Ok(_) => println!("created superuser {admin}"),
            Err(error) => println!("superuser {admin} not created: {error}"),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("blog on http://127.0.0.1:3000 (Swagger UI: http://127.0.0.1:3000/api/docs/)");
    axum::serve(listener, blog::router(auth)).await?;
    Ok(())
}
