//! Server-side cookie sessions over real HTTP, both adapters, both databases: cookies and their
//! attributes, CSRF on unsafe methods, expiry by the injected clock, sign-out, sign-out-all, the
//! sessions list, password change (a new session id), and a fresh id at every sign-in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis::core::{AuthUser, UserStore};
use portcullis_tests::reqwest::{RequestBuilder, Response};
use portcullis_tests::serde_json::{Value, json};
use portcullis_tests::{TestServer, assert_error, http_test};

struct Browser {
    session: String,
    csrf: String,
}

impl Browser {
    fn cookies(&self) -> String {
        format!("__Host-portcullis_session={}; __Host-csrftoken={}", self.session, self.csrf)
    }

    fn send(&self, request: RequestBuilder) -> RequestBuilder {
        request.header("cookie", self.cookies())
    }

    fn unsafe_send(&self, request: RequestBuilder) -> RequestBuilder {
        self.send(request).header("x-csrf-token", &self.csrf)
    }
}

fn cookie_value(response: &Response, name: &str) -> (String, String) {
    let header = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"));
    let value = header.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
    (value, header)
}

async fn session_sign_in(srv: &TestServer, username: &str) -> Browser {
    let r = srv
        .client
        .post(srv.url("/api/auth/session/sign-in"))
        .header("user-agent", "Browser/1.0")
        .json(&json!({"username": username, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let (session, session_header) = cookie_value(&r, "__Host-portcullis_session");
    let (csrf, csrf_header) = cookie_value(&r, "__Host-csrftoken");
    let max_age = format!("Max-Age={}", srv.settings.session_ttl);
    for attribute in ["Path=/", "HttpOnly", "SameSite=Lax", "Secure", max_age.as_str()] {
        assert!(session_header.split("; ").any(|a| a == attribute), "{attribute} in {session_header}");
    }
    assert!(!csrf_header.contains("HttpOnly"), "the CSRF cookie is readable: {csrf_header}");
    assert!(csrf_header.contains("Secure") && csrf_header.contains("SameSite=Lax"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["username"], username);
    assert!(session.len() >= 43);
    Browser { session, csrf }
}

async fn me(srv: &TestServer, browser: &Browser) -> u16 {
    browser.send(srv.client.get(srv.url("/api/auth/me"))).send().await.unwrap().status().as_u16()
}

http_test!(session_sign_in_and_csrf, |srv: TestServer| async move {
    srv.register("sal", "correct horse battery").await;
    let browser = session_sign_in(&srv, "sal").await;
    assert_eq!(me(&srv, &browser).await, 200, "safe methods need no CSRF token");

    // Unsafe methods authenticated by the cookie need the CSRF token and a same-origin request.
    let r = browser.send(srv.client.post(srv.url("/api/auth/sign-out-all"))).send().await.unwrap();
    assert_error(r, 403, "permission_denied").await;
    let r = browser
        .send(srv.client.post(srv.url("/api/auth/sign-out-all")))
        .header("x-csrf-token", "wrong")
        .send()
        .await
        .unwrap();
    assert_error(r, 403, "permission_denied").await;
    let r = browser
        .unsafe_send(srv.client.post(srv.url("/api/auth/sign-out-all")))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = browser
        .unsafe_send(srv.client.post(srv.url("/api/auth/sign-out-all")))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(me(&srv, &browser).await, 200, "none of that did anything");

    // A forged or unknown session cookie is a 401, never anonymous.
    let forged = Browser { session: "A".repeat(43), csrf: browser.csrf.clone() };
    assert_eq!(me(&srv, &forged).await, 401);
    let garbage = Browser { session: "garbage".into(), csrf: browser.csrf.clone() };
    assert_eq!(me(&srv, &garbage).await, 401);

    // A fresh id at every sign-in: no fixation.
    let again = session_sign_in(&srv, "sal").await;
    assert_ne!(again.session, browser.session);
    assert_eq!(me(&srv, &browser).await, 200, "the other session lives on");
});

http_test!(session_sign_out_and_revocation, |srv: TestServer| async move {
    srv.register("tom", "correct horse battery").await;
    let a = session_sign_in(&srv, "tom").await;
    let b = session_sign_in(&srv, "tom").await;
    let c = session_sign_in(&srv, "tom").await;

    let r = a.send(srv.client.post(srv.url("/api/auth/session/sign-out"))).send().await.unwrap();
    assert_eq!(r.status(), 403, "sign-out is an unsafe method: CSRF applies");
    let r = a.unsafe_send(srv.client.post(srv.url("/api/auth/session/sign-out"))).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let cleared: Vec<String> =
        r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert_eq!(cleared.len(), 2);
    assert!(cleared.iter().all(|c| c.contains("Max-Age=0")), "{cleared:?}");
    assert_eq!(me(&srv, &a).await, 401);
    assert_eq!(me(&srv, &b).await, 200);

    // Listed in the sessions; deleting one ends it.
    let r = b.send(srv.client.get(srv.url("/api/auth/sessions"))).send().await.unwrap();
    let sessions: Vec<Value> = r.json().await.unwrap();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert!(sessions.iter().all(|s| s["user_agent"] == "Browser/1.0"));
    let other = sessions.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_owned();
    let r = b
        .unsafe_send(srv.client.delete(srv.url(&format!("/api/auth/sessions/{other}"))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(me(&srv, &c).await, 401);

    // A password change ends every session.
    let user = srv.auth().store().find_by_login("tom").await.unwrap().unwrap();
    srv.auth().set_password(&user.id(), "another long password").await.unwrap();
    assert_eq!(me(&srv, &b).await, 401);
});

http_test!(
    session_idle_and_absolute_timeouts,
    |s: &mut auth_server::Settings| {
        s.session_ttl = 3600;
        s.session_idle_ttl = 600;
    },
    |srv: TestServer| async move {
        srv.register("uli", "correct horse battery").await;
        let browser = session_sign_in(&srv, "uli").await;
        srv.clock.advance(chrono::Duration::seconds(500));
        assert_eq!(me(&srv, &browser).await, 200);
        srv.clock.advance(chrono::Duration::seconds(601));
        assert_eq!(me(&srv, &browser).await, 401, "idle");
        let browser = session_sign_in(&srv, "uli").await;
        for _ in 0..6 {
            srv.clock.advance(chrono::Duration::seconds(590));
            assert_eq!(me(&srv, &browser).await, 200);
        }
        srv.clock.advance(chrono::Duration::seconds(100));
        assert_eq!(me(&srv, &browser).await, 401, "absolute");
    }
);

http_test!(a_password_change_gives_the_session_a_new_id, |srv: TestServer| async move {
    srv.register("pam", "correct horse battery").await;
    let browser = session_sign_in(&srv, "pam").await;
    let body = json!({"current_password": "correct horse battery", "new_password": "a brand new passphrase"});
    let r = browser
        .unsafe_send(srv.client.post(srv.url("/api/auth/password/change")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (session, _) = cookie_value(&r, "__Host-portcullis_session");
    let (csrf, _) = cookie_value(&r, "__Host-csrftoken");
    assert_ne!(session, browser.session, "a new id");
    assert_ne!(csrf, browser.csrf, "a new CSRF token");
    // The old id died at once; the session goes on under the new one, signed in as before.
    assert_eq!(me(&srv, &browser).await, 401);
    let renewed = Browser { session, csrf };
    assert_eq!(me(&srv, &renewed).await, 200);
    let r = renewed.unsafe_send(srv.client.post(srv.url("/api/auth/session/sign-out"))).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
});

http_test!(sign_out_all_ends_sessions_and_every_other_credential, |srv: TestServer| async move {
    srv.register("vic", "correct horse battery").await;
    let browser = session_sign_in(&srv, "vic").await;
    let jwt = srv.sign_in("vic", "correct horse battery").await;
    let token: Value = srv
        .post("/api/auth/token/sign-in", json!({"username": "vic", "password": "correct horse battery"}))
        .await
        .json()
        .await
        .unwrap();
    let r = browser.unsafe_send(srv.client.post(srv.url("/api/auth/sign-out-all"))).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(me(&srv, &browser).await, 401);
    assert_eq!(srv.get_bearer("/api/auth/me", jwt["access"].as_str().unwrap()).await.status(), 401);
    let r = srv
        .client
        .get(srv.url("/api/auth/me"))
        .header("authorization", format!("Token {}", token["token"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
});

http_test!(typed_session_data_for_applications, |srv: TestServer| async move {
    use portcullis::core::Authenticator as _;
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Cart {
        items: Vec<String>,
    }
    srv.register("wyn", "correct horse battery").await;
    let browser = session_sign_in(&srv, "wyn").await;
    let auth = std::sync::Arc::clone(srv.auth());
    let authenticator = auth.session_authenticator();
    let head = || {
        portcullis_tests::http::Request::get("/anything")
            .header("cookie", browser.cookies())
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    let principal = authenticator.authenticate(&head()).await.unwrap().unwrap();
    assert_eq!(principal.session_value::<Cart>("cart").unwrap(), None);
    let cart = Cart { items: vec!["book".into(), "pen".into()] };
    auth.set_session_value(&principal, "cart", &cart).await.unwrap();
    auth.set_session_value(&principal, "visits", &3).await.unwrap_or_else(|e| panic!("{e}"));
    let again = authenticator.authenticate(&head()).await.unwrap().unwrap();
    assert_eq!(again.session_value::<u32>("visits").unwrap(), Some(3));
    assert!(again.session_value::<Cart>("visits").is_err(), "a value of another shape is an error");
    // Both writes from the same snapshot landed: the store changes one key at a time.
    assert_eq!(again.session_value::<Cart>("cart").unwrap(), Some(cart));
    auth.remove_session_value(&principal, "cart").await.unwrap();
    let third = authenticator.authenticate(&head()).await.unwrap().unwrap();
    assert_eq!(third.session_value::<Cart>("cart").unwrap(), None);
    assert_eq!(third.session_value::<u32>("visits").unwrap(), Some(3));
    // The session data is still served over HTTP: the session works.
    assert_eq!(me(&srv, &browser).await, 200);
    // Other credentials have no session data.
    let jwt = srv.sign_in("wyn", "correct horse battery").await;
    let bearer = auth.bearer_authenticator();
    let parts = portcullis_tests::http::Request::get("/")
        .header("authorization", format!("Bearer {}", jwt["access"].as_str().unwrap()))
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let principal = bearer.authenticate(&parts).await.unwrap().unwrap();
    assert!(matches!(
        auth.set_session_value(&principal, "x", &1).await,
        Err(portcullis::core::AuthError::Forbidden)
    ));
});

http_test!(
    a_cookie_session_write_from_the_same_host_over_another_scheme_is_refused,
    |srv: TestServer| async move {
        srv.register("sid", "correct horse battery").await;
        let browser = session_sign_in(&srv, "sid").await;
        let write = |origin: &'static str| {
            browser
                .unsafe_send(srv.client.post(srv.url("/api/auth/sign-out-all")))
                .header("host", "app.example.com")
                .header("origin", origin)
                .send()
        };
        let r = write("http://app.example.com").await.unwrap();
        assert_error(r, 403, "cross_origin_refused").await;
        assert_eq!(me(&srv, &browser).await, 200, "nothing was done");
        assert_eq!(write("https://app.example.com").await.unwrap().status(), 204);
        assert_eq!(me(&srv, &browser).await, 401, "signed out everywhere");
    }
);
