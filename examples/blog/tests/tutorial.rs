//! The DRF authentication tutorial, step by step, over real HTTP: register, sign in, me, refresh;
//! articles with public reads, drafts, ownership and the editor role, walked with each credential
//! kind (JWT, opaque token, cookie session, API key); the staff-only stats; the OpenAPI document.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use portcullis::core::Registration;
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

const SECRET: &[u8] = b"blog-test-secret-of-at-least-32-bytes!";
const ROOT: (&str, &str) = ("root", "root's long password");
const ALICE: (&str, &str) = ("alice", "alice's long password");
const BOB: (&str, &str) = ("bob", "bob's long password");
const EVE: (&str, &str) = ("eve", "eve's long password");

/// A running blog: its base URL, an HTTP client, and the superuser `root` (created from code, as
/// the public endpoint never creates one).
struct Blog {
    base: String,
    client: Client,
}

impl Blog {
    async fn start() -> Self {
        let auth = blog::auth("sqlite::memory:", SECRET).await.unwrap();
        auth.accounts().register(Registration::new(ROOT.0, None, ROOT.1).superuser(true)).await.unwrap();
        let app = blog::router(auth);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, client: Client::new() }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST /api/auth/register`: the new user's id.
    async fn register(&self, (username, password): (&str, &str)) -> String {
        let r = self
            .client
            .post(self.url("/api/auth/register"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let user: Value = r.json().await.unwrap();
        assert_eq!(user["username"], username);
        user["id"].as_str().unwrap().to_owned()
    }

    /// `POST /api/auth/mobile/sign-in`: the token pair.
    async fn token_pair(&self, (username, password): (&str, &str)) -> Value {
        let r = self
            .client
            .post(self.url("/api/auth/mobile/sign-in"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// A credential of `kind` for the user.
    async fn sign_in(&self, kind: Kind, user: (&str, &str), scopes: &[&str]) -> Credential {
        let (username, password) = user;
        let body = json!({"username": username, "password": password});
        match kind {
            Kind::Jwt => {
                Credential::Bearer(self.token_pair(user).await["access"].as_str().unwrap().to_owned())
            }
            Kind::OpaqueToken => {
                let r =
                    self.client.post(self.url("/api/auth/token/sign-in")).json(&body).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                let token: Value = r.json().await.unwrap();
                Credential::Token(token["token"].as_str().unwrap().to_owned())
            }
            Kind::Session => {
                let r =
                    self.client.post(self.url("/api/auth/session/sign-in")).json(&body).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                let cookies: Vec<String> = r
                    .headers()
                    .get_all("set-cookie")
                    .iter()
                    .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
                    .filter(|c| c.starts_with("__Host-"))
                    .collect();
                assert!(cookies.iter().any(|c| c.starts_with("__Host-portcullis_session=")));
                let csrf =
                    cookies.iter().find_map(|c| c.strip_prefix("__Host-csrftoken=")).unwrap().to_owned();
                Credential::Session { cookies: cookies.join("; "), csrf }
            }
            Kind::ApiKey => {
                // Keys are created with the user's own (recent) sign-in, never with another key.
                let access = self.token_pair(user).await["access"].as_str().unwrap().to_owned();
                let r = self
                    .client
                    .post(self.url("/api/auth/api-keys"))
                    .bearer_auth(access)
                    .json(&json!({"name": format!("{username}'s script"), "scopes": scopes}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
                let key: Value = r.json().await.unwrap();
                let mut sorted = scopes.to_vec();
                sorted.sort_unstable();
                assert_eq!(key["scopes"], json!(sorted), "stored sorted");
                Credential::ApiKey(key["key"].as_str().unwrap().to_owned())
            }
        }
    }

    /// A request with `credential` (`None`: anonymous).
    fn request(&self, method: Method, path: &str, credential: Option<&Credential>) -> RequestBuilder {
        let unsafe_method = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
        let builder = self.client.request(method, self.url(path));
        match credential {
            None => builder,
            Some(credential) => credential.apply(builder, unsafe_method),
        }
    }

    async fn status(&self, method: Method, path: &str, credential: Option<&Credential>) -> StatusCode {
        self.request(method, path, credential).send().await.unwrap().status()
    }

    /// `GET /api/articles`: the titles the caller sees.
    async fn titles(&self, credential: Option<&Credential>) -> Vec<String> {
        let r = self.request(Method::GET, "/api/articles", credential).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let list: Vec<Value> = r.json().await.unwrap();
        list.iter().map(|a| a["title"].as_str().unwrap().to_owned()).collect()
    }

    /// `POST /api/articles`: the created article.
    async fn create(&self, credential: &Credential, title: &str, published: bool) -> Value {
        let r = self
            .request(Method::POST, "/api/articles", Some(credential))
            .json(&json!({"title": title, "body": format!("{title}..."), "published": published}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{title}");
        r.json().await.unwrap()
    }

    async fn patch(&self, credential: &Credential, id: u64, change: Value) -> reqwest::Response {
        let path = format!("/api/articles/{id}");
        self.request(Method::PATCH, &path, Some(credential)).json(&change).send().await.unwrap()
    }

    /// `PATCH /api/auth/admin/users/{id} {"roles": roles}` by the superuser.
    async fn set_roles(&self, root: &str, user_id: &str, roles: &[&str]) {
        let r = self
            .client
            .patch(self.url(&format!("/api/auth/admin/users/{user_id}")))
            .bearer_auth(root)
            .json(&json!({"roles": roles}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let user: Value = r.json().await.unwrap();
        assert_eq!(user["assigned_roles"], json!(roles));
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Jwt,
    OpaqueToken,
    Session,
    ApiKey,
}

/// One credential, and how it travels.
#[derive(Debug, Clone)]
enum Credential {
    /// `Authorization: Bearer <jwt>`.
    Bearer(String),
    /// `Authorization: Token <token>`.
    Token(String),
    /// The session and CSRF cookies; `X-CSRF-Token` on unsafe methods.
    Session { cookies: String, csrf: String },
    /// `X-API-Key: <key>`.
    ApiKey(String),
}

impl Credential {
    fn apply(&self, builder: RequestBuilder, unsafe_method: bool) -> RequestBuilder {
        match self {
            Self::Bearer(token) => builder.bearer_auth(token),
            Self::Token(token) => builder.header("authorization", format!("Token {token}")),
            Self::Session { cookies, csrf } => {
                let builder = builder.header("cookie", cookies);
                if unsafe_method { builder.header("x-csrf-token", csrf) } else { builder }
            }
            Self::ApiKey(key) => builder.header("x-api-key", key),
        }
    }
}

/// What an API key needs to do everything this walk does: the permissions it uses (and, for
/// ownership, `owns_or` asks for the scope too) and the scope of creating articles.
const KEY_SCOPES: &[&str] = &["articles:create", "articles:edit", "articles:delete", "articles:view_drafts"];

/// The article walk with credentials of `kind` for every actor (the superuser administers with a
/// JWT, as an admin console would).
async fn article_walk(kind: Kind) {
    let blog = Blog::start().await;
    let alice_id = blog.register(ALICE).await;
    blog.register(BOB).await;
    let eve_id = blog.register(EVE).await;
    let root = blog.token_pair(ROOT).await["access"].as_str().unwrap().to_owned();
    let alice = blog.sign_in(kind, ALICE, KEY_SCOPES).await;
    let bob = blog.sign_in(kind, BOB, KEY_SCOPES).await;

    // Reads are public, writes need a credential: 401 with Portcullis's body.
    assert_eq!(blog.titles(None).await, Vec::<String>::new());
    let r = blog.request(Method::POST, "/api/articles", None).json(&json!({"title": "x"})).send().await;
    let r = r.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{kind:?}");
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "not_authenticated");

    // The author comes from the credential; naming one in the body is an unknown field.
    let r = blog
        .request(Method::POST, "/api/articles", Some(&alice))
        .json(&json!({"title": "forged", "body": "", "author": "someone-else"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{kind:?}");
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "invalid_input");
    let r = blog.request(Method::POST, "/api/articles", Some(&alice)).json(&json!({"title": " "})).send();
    assert_eq!(r.await.unwrap().status(), StatusCode::BAD_REQUEST);

    let hello = blog.create(&alice, "hello", true).await;
    let draft = blog.create(&alice, "draft", false).await;
    let later = blog.create(&alice, "later", true).await;
    assert_eq!(hello["author"], alice_id.as_str());
    assert_eq!(draft["published"], false);
    let (hello, draft, later) =
        (hello["id"].as_u64().unwrap(), draft["id"].as_u64().unwrap(), later["id"].as_u64().unwrap());

    // The public list shows the published articles; the author also sees her draft; bob does not.
    assert_eq!(blog.titles(None).await, ["hello", "later"]);
    assert_eq!(blog.titles(Some(&alice)).await, ["hello", "draft", "later"], "{kind:?}");
    assert_eq!(blog.titles(Some(&bob)).await, ["hello", "later"], "{kind:?}");

    // A draft is a 404 for everyone but its author: its existence is not revealed.
    let draft_path = format!("/api/articles/{draft}");
    assert_eq!(blog.status(Method::GET, &draft_path, None).await, StatusCode::NOT_FOUND);
    assert_eq!(blog.status(Method::GET, &draft_path, Some(&bob)).await, StatusCode::NOT_FOUND);
    assert_eq!(blog.status(Method::GET, &draft_path, Some(&alice)).await, StatusCode::OK);
    assert_eq!(blog.status(Method::GET, &format!("/api/articles/{hello}"), None).await, StatusCode::OK);

    // Bob may not touch alice's articles: the draft is still a 404, a published one a 403.
    assert_eq!(blog.patch(&bob, draft, json!({"title": "mine"})).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(blog.status(Method::DELETE, &draft_path, Some(&bob)).await, StatusCode::NOT_FOUND);
    let r = blog.patch(&bob, hello, json!({"title": "mine"})).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "{kind:?}");
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "permission_denied");
    let hello_path = format!("/api/articles/{hello}");
    assert_eq!(blog.status(Method::DELETE, &hello_path, Some(&bob)).await, StatusCode::FORBIDDEN);

    // The author edits her own article; unknown fields are refused.
    let r = blog.patch(&alice, draft, json!({"body": "almost there"})).await;
    assert_eq!(r.status(), StatusCode::OK, "{kind:?}");
    assert_eq!(r.json::<Value>().await.unwrap()["body"], "almost there");
    assert_eq!(blog.patch(&alice, draft, json!({"author": "x"})).await.status(), StatusCode::BAD_REQUEST);

    // The superuser makes eve an editor through Portcullis's admin API.
    blog.set_roles(&root, &eve_id, &["editor"]).await;
    let eve = blog.sign_in(kind, EVE, KEY_SCOPES).await;
    assert_eq!(blog.titles(Some(&eve)).await, ["hello", "draft", "later"], "an editor sees every draft");
    let r = blog.patch(&eve, draft, json!({"title": "edited by eve"})).await;
    assert_eq!(r.status(), StatusCode::OK, "{kind:?}");
    let edited: Value = r.json().await.unwrap();
    assert_eq!(
        (edited["title"].as_str(), edited["author"].as_str()),
        (Some("edited by eve"), Some(&*alice_id))
    );
    assert_eq!(blog.status(Method::DELETE, &hello_path, Some(&eve)).await, StatusCode::NO_CONTENT);
    assert_eq!(blog.status(Method::GET, &hello_path, None).await, StatusCode::NOT_FOUND);

    // The role removed: eve's very next edit is refused, with the same credential.
    blog.set_roles(&root, &eve_id, &[]).await;
    let r = blog.patch(&eve, later, json!({"title": "again"})).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "{kind:?}");
    assert_eq!(blog.status(Method::GET, &draft_path, Some(&eve)).await, StatusCode::NOT_FOUND);
    assert_eq!(blog.titles(Some(&eve)).await, ["later"]);

    // The author deletes her own draft.
    assert_eq!(blog.status(Method::DELETE, &draft_path, Some(&alice)).await, StatusCode::NO_CONTENT);
    assert_eq!(blog.status(Method::GET, &draft_path, Some(&alice)).await, StatusCode::NOT_FOUND);
    assert_eq!(blog.status(Method::DELETE, &draft_path, Some(&alice)).await, StatusCode::NOT_FOUND);

    // Stats are for staff: 403 for alice, 401 anonymous, 200 for the superuser.
    assert_eq!(blog.status(Method::GET, "/api/stats", Some(&alice)).await, StatusCode::FORBIDDEN);
    assert_eq!(blog.status(Method::GET, "/api/stats", None).await, StatusCode::UNAUTHORIZED);
    let r = blog.client.get(blog.url("/api/stats")).bearer_auth(&root).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"articles": 1, "published": 1, "drafts": 0, "authors": 1})
    );
}

#[tokio::test]
async fn article_walk_with_jwt_bearer() {
    article_walk(Kind::Jwt).await;
}

#[tokio::test]
async fn article_walk_with_opaque_token() {
    article_walk(Kind::OpaqueToken).await;
}

#[tokio::test]
async fn article_walk_with_cookie_session() {
    article_walk(Kind::Session).await;
}

#[tokio::test]
async fn article_walk_with_api_key() {
    article_walk(Kind::ApiKey).await;
}

/// The tutorial's authentication steps: register, sign in, the current user, refresh.
#[tokio::test]
async fn register_sign_in_me_refresh() {
    let blog = Blog::start().await;
    let id = blog.register(ALICE).await;

    // Registering the same username again is a 409; a wrong password a 401.
    let r = blog
        .client
        .post(blog.url("/api/auth/register"))
        .json(&json!({"username": "alice", "password": "another long password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = blog
        .client
        .post(blog.url("/api/auth/mobile/sign-in"))
        .json(&json!({"username": "alice", "password": "wrong password!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let pair = blog.token_pair(ALICE).await;
    assert_eq!(pair["token_type"], "Bearer");
    let me = |access: String| blog.client.get(blog.url("/api/auth/me")).bearer_auth(access).send();
    let r = me(pair["access"].as_str().unwrap().to_owned()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let user: Value = r.json().await.unwrap();
    assert_eq!((user["id"].as_str(), user["username"].as_str()), (Some(&*id), Some("alice")));

    // No or a bad token: 401 with the Bearer challenge.
    let r = blog.client.get(blog.url("/api/auth/me")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    assert_eq!(me("not-a-token".to_owned()).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let r = blog.client.get(blog.url("/api/articles")).bearer_auth("not-a-token").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "an invalid credential is a 401, even on a public read");

    // Refresh: a new pair; the new access token works; the old refresh token is spent.
    let refresh = |token: Value| {
        blog.client.post(blog.url("/api/auth/mobile/token-refresh")).json(&json!({"refresh": token})).send()
    };
    let r = refresh(pair["refresh"].clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let renewed: Value = r.json().await.unwrap();
    assert_ne!(renewed["refresh"], pair["refresh"]);
    let r = me(renewed["access"].as_str().unwrap().to_owned()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let access = renewed["access"].as_str().unwrap();
    let r = blog
        .client
        .post(blog.url("/api/articles"))
        .bearer_auth(access)
        .json(&json!({"title": "after refresh", "published": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(refresh(pair["refresh"].clone()).await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

/// An API key holds only what its scopes name: creating needs `articles:create`, and ownership
/// alone is not enough to edit or delete (`owns_or` asks for the scope too), nor to see drafts.
#[tokio::test]
async fn an_api_key_is_limited_to_its_scopes() {
    let blog = Blog::start().await;
    blog.register(ALICE).await;
    let alice = blog.sign_in(Kind::Jwt, ALICE, &[]).await;
    let draft = blog.create(&alice, "draft", false).await["id"].as_u64().unwrap();
    let path = format!("/api/articles/{draft}");

    let reader = blog.sign_in(Kind::ApiKey, ALICE, &[]).await;
    let r = blog.request(Method::POST, "/api/articles", Some(&reader)).json(&json!({"title": "x"})).send();
    let r = r.await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "insufficient_scope");
    assert_eq!(blog.titles(Some(&reader)).await, Vec::<String>::new(), "drafts need the scope");
    assert_eq!(blog.status(Method::GET, &path, Some(&reader)).await, StatusCode::NOT_FOUND);

    let writer = blog.sign_in(Kind::ApiKey, ALICE, &["articles:view_drafts", "articles:edit"]).await;
    assert_eq!(blog.patch(&writer, draft, json!({"title": "edited"})).await.status(), StatusCode::OK);
    let r = blog.request(Method::DELETE, &path, Some(&writer)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no `articles:delete` scope");
    assert_eq!(blog.status(Method::DELETE, &path, Some(&alice)).await, StatusCode::NO_CONTENT);

    // An invalid key is a 401, not an anonymous read.
    let bogus = Credential::ApiKey("pck_not-a-real-key".to_owned());
    assert_eq!(blog.status(Method::GET, "/api/articles", Some(&bogus)).await, StatusCode::UNAUTHORIZED);
}

/// A cookie session's unsafe requests need the CSRF header; staff see the stats.
#[tokio::test]
async fn cookie_sessions_need_csrf_and_staff_see_stats() {
    let blog = Blog::start().await;
    blog.register(ALICE).await;
    let Credential::Session { cookies, csrf } = blog.sign_in(Kind::Session, ALICE, &[]).await else {
        unreachable!()
    };
    let post = |token: Option<&str>| {
        let builder = blog.client.post(blog.url("/api/articles")).header("cookie", &cookies);
        let builder = match token {
            Some(token) => builder.header("x-csrf-token", token),
            None => builder,
        };
        builder.json(&json!({"title": "hello", "published": true})).send()
    };
    assert_eq!(post(None).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(post(Some("wrong")).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(post(Some(&csrf)).await.unwrap().status(), StatusCode::CREATED);

    // The superuser makes alice staff through the admin API: the stats open to her session.
    let root = blog.token_pair(ROOT).await["access"].as_str().unwrap().to_owned();
    let session = Credential::Session { cookies: cookies.clone(), csrf };
    assert_eq!(blog.status(Method::GET, "/api/stats", Some(&session)).await, StatusCode::FORBIDDEN);
    let users: Value = blog
        .client
        .get(blog.url("/api/auth/admin/users?q=alice"))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = users["results"][0]["id"].as_str().unwrap().to_owned();
    let r = blog
        .client
        .patch(blog.url(&format!("/api/auth/admin/users/{id}")))
        .bearer_auth(&root)
        .json(&json!({"is_staff": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = blog.request(Method::GET, "/api/stats", Some(&session)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["articles"], 1);

    // A non-superuser may not use the admin API.
    let r = blog.request(Method::GET, "/api/auth/admin/users", Some(&session)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

/// The Swagger UI shows the blog's routes next to Portcullis's, under one set of security schemes.
#[tokio::test]
async fn openapi_document_lists_both() {
    let blog = Blog::start().await;
    let r = blog.client.get(blog.url("/api/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/articles",
        "/api/articles/{id}",
        "/api/stats",
        "/api/auth/mobile/sign-in",
        "/api/auth/admin/users",
    ] {
        assert!(paths.contains_key(path), "{path} is documented");
    }
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for scheme in ["bearer", "token", "apiKey", "sessionCookie"] {
        assert!(schemes.contains_key(scheme), "{scheme}");
    }
    let create = &doc["paths"]["/api/articles"]["post"];
    let named: Vec<&str> = create["security"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_object().unwrap().keys())
        .map(|k| k.as_str())
        .collect();
    assert_eq!(named, ["bearer", "token", "sessionCookie", "apiKey"]);
    assert!(doc["components"]["schemas"]["Article"].is_object());

    let r = blog.client.get(blog.url("/api/docs/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the Swagger UI");
}
