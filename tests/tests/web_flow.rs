//! The web flow: refresh token only in an HttpOnly cookie, cross-origin checks and CORS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis_tests::reqwest::Response;
use portcullis_tests::serde_json::{Value, json};
use portcullis_tests::{TestServer, assert_error, http_test};

fn set_cookie(r: &Response) -> String {
    r.headers().get("set-cookie").expect("Set-Cookie").to_str().unwrap().to_owned()
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

async fn web_sign_in(srv: &TestServer, username: &str) -> (Value, String) {
    srv.register(username, "web password 1").await;
    let r =
        srv.post("/api/auth/web/sign-in", json!({"username": username, "password": "web password 1"})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    let cookie = set_cookie(&r);
    (r.json().await.unwrap(), cookie)
}

http_test!(web_sign_in_sets_a_strict_cookie, |srv: TestServer| async move {
    let (body, cookie) = web_sign_in(&srv, "wendy").await;
    assert!(body["access"].is_string());
    assert!(body.get("refresh").is_none(), "the refresh token never appears in the body");
    assert_eq!(body["token_type"], "Bearer");
    let attributes: Vec<&str> = cookie.split("; ").collect();
    assert!(attributes[0].starts_with("__Secure-portcullis_refresh="));
    for expected in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/api/auth/web", "Max-Age=86400"] {
        assert!(attributes.contains(&expected), "{expected} missing in {cookie}");
    }
});

http_test!(web_sign_in_failures_set_no_cookie, |srv: TestServer| async move {
    srv.register("wilma", "web password 1").await;
    let r =
        srv.post("/api/auth/web/sign-in", json!({"username": "wilma", "password": "wrong password"})).await;
    assert!(r.headers().get("set-cookie").is_none());
    assert_error(r, 401, "invalid_credentials").await;
    let r = srv.post("/api/auth/web/sign-in", json!({"username": "wilma"})).await;
    assert!(r.headers().get("set-cookie").is_none());
    assert_error(r, 400, "invalid_input").await;
});

http_test!(web_refresh_and_sign_out, |srv: TestServer| async move {
    let (_, cookie) = web_sign_in(&srv, "walter").await;
    let pair = cookie_pair(&cookie);
    let r =
        srv.client.post(srv.url("/api/auth/web/token-refresh")).header("cookie", &pair).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(srv.get_bearer("/api/auth/me", body["access"].as_str().unwrap()).await.status(), 200);

    let r = srv.client.post(srv.url("/api/auth/web/token-refresh")).send().await.unwrap();
    assert_error(r, 401, "not_authenticated").await;
    let r = srv
        .client
        .post(srv.url("/api/auth/web/token-refresh"))
        .header("cookie", "__Secure-portcullis_refresh=forged")
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "token_not_valid").await;

    let r = srv.client.post(srv.url("/api/auth/web/sign-out")).header("cookie", &pair).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let cleared = set_cookie(&r);
    assert!(cleared.starts_with("__Secure-portcullis_refresh=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0") && cleared.contains("Path=/api/auth/web"), "{cleared}");
});

http_test!(a_tossed_or_unprefixed_refresh_cookie_is_not_read, |srv: TestServer| async move {
    let (_, cookie) = web_sign_in(&srv, "wanda").await;
    let pair = cookie_pair(&cookie);
    let token = pair.split_once('=').unwrap().1;
    let refresh = |cookie: String| {
        let srv = &srv;
        async move {
            srv.client
                .post(srv.url("/api/auth/web/token-refresh"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
        }
    };
    // A cookie planted beside the real one (by a sibling subdomain or a plain-HTTP response, and
    // sent first): neither decides; the real one still works alone.
    let tossed = refresh(format!("__Secure-portcullis_refresh=planted; {pair}")).await;
    assert_error(tossed, 401, "not_authenticated").await;
    let tossed = refresh(format!("{pair}; __Secure-portcullis_refresh={token}")).await;
    assert_error(tossed, 401, "not_authenticated").await;
    // The unprefixed name is anyone's to set: not read when cookies are secure.
    let unprefixed = refresh(format!("portcullis_refresh={token}")).await;
    assert_error(unprefixed, 401, "not_authenticated").await;
    assert_eq!(refresh(pair).await.status(), 200);
});

http_test!(
    cross_origin_cookie_posts_are_refused,
    |s: &mut auth_server::Settings| {
        s.allowed_origins = vec!["https://app.example.com".into()];
    },
    |srv: TestServer| async move {
        let (_, cookie) = web_sign_in(&srv, "xena").await;
        let pair = cookie_pair(&cookie);
        for path in ["/api/auth/web/token-refresh", "/api/auth/web/sign-out"] {
            let r = srv
                .client
                .post(srv.url(path))
                .header("cookie", &pair)
                .header("origin", "https://evil.example")
                .send()
                .await
                .unwrap();
            assert_error(r, 403, "cross_origin_refused").await;
        }
        let r = srv
            .post_origin(
                "/api/auth/web/sign-in",
                "https://evil.example",
                json!({"username": "xena", "password": "web password 1"}),
            )
            .await;
        assert_error(r, 403, "cross_origin_refused").await;
        let r = srv
            .client
            .post(srv.url("/api/auth/web/token-refresh"))
            .header("cookie", &pair)
            .header("origin", "https://app.example.com")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let rotated = cookie_pair(&set_cookie(&r));
        let own = srv.server.url();
        let r = srv
            .client
            .post(srv.url("/api/auth/web/token-refresh"))
            .header("cookie", &rotated)
            .header("origin", own)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "same origin");
    }
);

http_test!(
    cors_only_for_allowed_origins,
    |s: &mut auth_server::Settings| {
        s.allowed_origins = vec!["https://app.example.com".into()];
    },
    |srv: TestServer| async move {
        let preflight = |origin: &'static str| {
            srv.client
                .request(portcullis_tests::reqwest::Method::OPTIONS, srv.url("/api/auth/web/token-refresh"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
                .send()
        };
        let r = preflight("https://app.example.com").await.unwrap();
        assert!(r.status().is_success());
        assert_eq!(r.headers().get("access-control-allow-origin").unwrap(), "https://app.example.com");
        assert_eq!(r.headers().get("access-control-allow-credentials").unwrap(), "true");
        let r = preflight("https://evil.example").await.unwrap();
        assert!(r.headers().get("access-control-allow-origin").is_none());
        let r = srv
            .client
            .get(srv.url("/healthz"))
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert!(r.headers().get("access-control-allow-origin").is_none());
    }
);

http_test!(
    insecure_cookies_switch_drops_secure,
    |s: &mut auth_server::Settings| {
        s.insecure_cookies = true;
    },
    |srv: TestServer| async move {
        let (_, cookie) = web_sign_in(&srv, "yusuf").await;
        assert!(!cookie.contains("Secure"), "{cookie}");
        assert!(cookie.starts_with("portcullis_refresh="), "no prefix without Secure: {cookie}");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    }
);

http_test!(no_cors_headers_without_configuration, |srv: TestServer| async move {
    let r =
        srv.client.get(srv.url("/healthz")).header("origin", "https://app.example.com").send().await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
});

/// A web-flow request as a browser at `https://app.example.com` would send it, except for `origin`.
async fn as_browser(
    srv: &TestServer,
    path: &str,
    cookie: Option<&str>,
    origin: &str,
    proto: Option<&str>,
) -> u16 {
    let mut request = srv
        .client
        .post(srv.url(path))
        .header("host", "app.example.com")
        .header("origin", origin)
        .json(&json!({"username": "olga", "password": "web password 1"}));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    if let Some(proto) = proto {
        request = request.header("x-forwarded-proto", proto);
    }
    request.send().await.unwrap().status().as_u16()
}

http_test!(the_origin_check_compares_scheme_host_and_port, |srv: TestServer| async move {
    let (_, cookie) = web_sign_in(&srv, "olga").await;
    let pair = cookie_pair(&cookie);
    // The cookie is `Secure`: a browser sends it over HTTPS only, so the request's own origin is
    // https://app.example.com; http:// on the same host is another origin.
    for origin in ["http://app.example.com", "https://app.example.com:8443", "https://app.example.com.evil"] {
        assert_eq!(
            as_browser(&srv, "/api/auth/web/token-refresh", Some(&pair), origin, None).await,
            403,
            "{origin}"
        );
        assert_eq!(as_browser(&srv, "/api/auth/web/sign-in", None, origin, None).await, 403, "{origin}");
    }
    assert_eq!(as_browser(&srv, "/api/auth/web/sign-in", None, "https://app.example.com", None).await, 200);
    // X-Forwarded-Proto from an untrusted peer is not believed.
    assert_eq!(
        as_browser(&srv, "/api/auth/web/sign-in", None, "http://app.example.com", Some("http")).await,
        403
    );
});

http_test!(
    a_trusted_proxy_or_the_public_url_says_which_scheme_the_browser_used,
    |s: &mut auth_server::Settings| s.trusted_proxies = "127.0.0.1".into(),
    |srv: TestServer| async move {
        srv.register("olga", "web password 1").await;
        let sign_in = "/api/auth/web/sign-in";
        assert_eq!(as_browser(&srv, sign_in, None, "http://app.example.com", Some("http")).await, 200);
        assert_eq!(as_browser(&srv, sign_in, None, "https://app.example.com", Some("http")).await, 403);
        assert_eq!(as_browser(&srv, sign_in, None, "https://app.example.com", Some("https")).await, 200);
        assert_eq!(as_browser(&srv, sign_in, None, "http://app.example.com", None).await, 403);
    }
);

http_test!(
    the_public_url_sets_the_expected_scheme,
    |s: &mut auth_server::Settings| s.public_url = Some("http://app.example.com".into()),
    |srv: TestServer| async move {
        srv.register("olga", "web password 1").await;
        let sign_in = "/api/auth/web/sign-in";
        assert_eq!(as_browser(&srv, sign_in, None, "http://app.example.com", None).await, 200);
        assert_eq!(as_browser(&srv, sign_in, None, "https://app.example.com", None).await, 403);
    }
);
