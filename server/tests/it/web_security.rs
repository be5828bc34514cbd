//! The web surface as an attacker meets it: failed logins throttled on every path that checks a
//! password, cookie-authenticated writes refused from other sites, security headers (with the
//! page's script nonce), credential changes ending the other sessions and tokens, live streams
//! that end with their session and are limited per user, and job logs read page by page.

use std::time::{Duration, Instant};

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, TestServer};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode, header::HeaderValue};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};

/// A client that sends no `Sec-Fetch-Site` or `Origin` unless told: another site's page, a
/// script, or an old browser.
fn bare() -> reqwest::Client {
    reqwest::Client::new()
}

/// Logs in through `POST /api/session/` from this site's pages; answers the session token.
async fn session(s: &TestServer, email: &str, password: &str) -> String {
    let resp = s
        .http
        .post(s.url("/api/session/"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    cookie
        .strip_prefix("cyborg_session=")
        .and_then(|r| r.split(';').next())
        .unwrap()
        .to_string()
}

fn basic(email: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{email}:{password}"))
    )
}

#[tokio::test]
async fn failed_logins_are_throttled_on_every_password_path() {
    let s = TestServer::start_api_only().await;
    let obtain = |password: &'static str| {
        let s = &s;
        async move {
            s.raw(
                Method::POST,
                "/api/token/obtain/",
                None,
                Some(json!({"email": ADMIN_EMAIL, "password": password})),
            )
            .await
        }
    };
    for i in 0..5 {
        let (st, body) = obtain("wrong-password").await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "failure {i}: {body}");
    }
    // The account is blocked: even the right password is not checked.
    let resp = s
        .http
        .post(s.url("/api/token/obtain/"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((55..=60).contains(&retry), "Retry-After {retry}");
    // Every other path that checks this account's password: the session login (REST and the
    // dashboard's form) and HTTP Basic.
    let resp = s
        .http
        .post(s.url("/api/session/"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().get("retry-after").is_some());
    let resp = s
        .http
        .post(s.url("/rpc/login"))
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().get("retry-after").is_some());
    assert!(resp.headers().get("set-cookie").is_none());
    let resp = s
        .http
        .get(s.url("/api/v1/me/"))
        .header("authorization", basic(ADMIN_EMAIL, ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // A token obtained before still works: only password checks are throttled.
    let (st, _) = s.get("/api/v1/me/").await;
    assert_eq!(st, StatusCode::OK);
    // Another account from the same address is not blocked by one account's failures.
    s.regular_user("other@test.local").await;
    assert!(
        !s.token("other@test.local", "user-password")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn cross_site_writes_with_the_session_cookie_are_refused() {
    let s = TestServer::start_api_only().await;
    let token = session(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let cookie = format!("cyborg_session={token}");
    let count = || async { s.get("/api/v1/schedules/").await.1["count"].clone() };
    let schedule = json!({"name": "Forged", "crontab": "0 1 * * * *"});
    let host = s.addr.to_string();
    let forged: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("no Origin or Sec-Fetch-Site", vec![]),
        (
            "another Origin",
            vec![("origin", "http://evil.example".into())],
        ),
        ("Origin null", vec![("origin", "null".into())]),
        ("cross-site", vec![("sec-fetch-site", "cross-site".into())]),
        ("same-site", vec![("sec-fetch-site", "same-site".into())]),
    ];
    for (what, headers) in &forged {
        let mut req = bare()
            .post(s.url("/api/v1/schedules/"))
            .header("cookie", &cookie)
            .json(&schedule);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{what}");
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["detail"].as_str().unwrap().contains("Cross-site"),
            "{body}"
        );
    }
    // An HTML form can only send form encodings: refused even from this site.
    let resp = bare()
        .post(s.url("/api/v1/schedules/"))
        .header("cookie", &cookie)
        .header("origin", format!("http://{host}"))
        .form(&[("name", "Forged"), ("crontab", "0 1 * * * *")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(count().await, 0, "nothing was written");
    // The same write from this site's page goes through (Origin or Sec-Fetch-Site).
    let resp = bare()
        .post(s.url("/api/v1/schedules/"))
        .header("cookie", &cookie)
        .header("origin", format!("http://{host}"))
        .json(&schedule)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let id = resp.json::<Value>().await.unwrap()["id"].clone();
    // A forged delete changes nothing either.
    let resp = bare()
        .delete(s.url(&format!("/api/v1/schedules/{id}/")))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(count().await, 1);
    // The dashboard's server functions are guarded the same way.
    let resp = bare()
        .post(s.url("/rpc/delete_schedule"))
        .header("cookie", &cookie)
        .header("origin", "http://evil.example")
        .json(&json!({"id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(count().await, 1);
    // Logging in and out from another site: refused (a forged login signs the victim in as
    // the attacker).
    for path in ["/rpc/login", "/api/session/"] {
        let resp = bare()
            .post(s.url(path))
            .header("origin", "http://evil.example")
            .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(resp.headers().get("set-cookie").is_none(), "{path}");
    }
    let resp = bare()
        .post(s.url("/rpc/logout"))
        .header("cookie", &cookie)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // Scripts with Basic or Bearer credentials are not affected.
    let resp = bare()
        .post(s.url("/api/v1/schedules/"))
        .bearer_auth(&s.admin_token)
        .json(&json!({"name": "Scripted", "crontab": "0 2 * * * *"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn pages_and_answers_carry_the_security_headers() {
    let s = TestServer::start_api_only().await;
    let resp = bare().get(s.url("/login")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers().clone();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    let csp = h["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("object-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .expect("a nonce in the policy");
    let html = resp.text().await.unwrap();
    // Every inline script of the page carries this response's nonce.
    let scripts: Vec<&str> = html.split("<script").skip(1).collect();
    assert!(!scripts.is_empty(), "{html}");
    for tag in &scripts {
        let open = tag.split('>').next().unwrap();
        if !open.contains("src=") {
            assert!(
                open.contains(&format!("nonce=\"{nonce}\"")),
                "<script{open}>"
            );
        }
    }
    // A new nonce each time.
    let again = bare().get(s.url("/login")).send().await.unwrap();
    assert_ne!(
        again.headers()["content-security-policy"].to_str().unwrap(),
        csp
    );
    // API answers: nothing may run or frame them.
    let resp = bare().get(s.url("/api/v1/ping/")).send().await.unwrap();
    assert_eq!(
        resp.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert_eq!(resp.headers()["x-frame-options"], "DENY");
}

#[tokio::test]
async fn credential_changes_end_every_other_session_and_token() {
    let s = TestServer::start_api_only().await;
    let (uid, _) = s.regular_user("user@test.local").await;
    let here = session(&s, "user@test.local", "user-password").await;
    let elsewhere = session(&s, "user@test.local", "user-password").await;
    let (_, pair) = s
        .raw(
            Method::POST,
            "/api/token/obtain/",
            None,
            Some(json!({"email": "user@test.local", "password": "user-password"})),
        )
        .await;
    let me = |token: &str| {
        let req = s
            .http
            .get(s.url("/api/v1/me/"))
            .header("cookie", format!("cyborg_session={token}"));
        async move { req.send().await.unwrap().status() }
    };
    assert_eq!(me(&elsewhere).await, StatusCode::OK);
    // The user changes their password from one session.
    let resp = s
        .http
        .patch(s.url(&format!("/api/v1/users/{uid}/")))
        .header("cookie", format!("cyborg_session={here}"))
        .json(&json!({"password": "a-new-password", "current_password": "user-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        me(&here).await,
        StatusCode::OK,
        "the session that made the change"
    );
    assert_eq!(
        me(&elsewhere).await,
        StatusCode::UNAUTHORIZED,
        "another session"
    );
    let (st, _) = s
        .raw(
            Method::POST,
            "/api/token/refresh/",
            None,
            Some(json!({"refresh": pair["refresh"]})),
        )
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "a refresh token");
    let (st, _) = s
        .raw(Method::GET, "/api/v1/me/", pair["access"].as_str(), None)
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "an access token");
    // A superuser changing the user's email ends the user's sessions, all of them.
    let (st, _) = s
        .patch(
            &format!("/api/v1/users/{uid}/"),
            json!({"email": "renamed@test.local"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(me(&here).await, StatusCode::UNAUTHORIZED);
}

/// Reads a server-sent-event response until it ends; answers whether it ended within `limit`.
async fn ends_within(resp: reqwest::Response, limit: Duration) -> bool {
    let mut body = resp.bytes_stream();
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, body.next()).await {
            Ok(None) | Ok(Some(Err(_))) => return true,
            Ok(Some(Ok(_))) => {}
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn live_streams_end_with_their_session_and_are_limited_per_user() {
    let s = TestServer::start_api_only().await;
    let token = session(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let cookie = format!("cyborg_session={token}");
    let open = || {
        s.http
            .get(s.url("/api/v1/jobs/stream/"))
            .header("cookie", &cookie)
            .send()
    };
    let first = open().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let mut more = Vec::new();
    for _ in 1..8 {
        let r = open().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        more.push(r);
    }
    let ninth = open().await.unwrap();
    assert_eq!(ninth.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(ninth.headers().get("retry-after").is_some());
    // A stream closed gives its slot back.
    drop(more.pop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = open().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    drop(more);
    drop(again);
    // Logging out ends the stream the session opened.
    let resp = s
        .http
        .post(s.url("/rpc/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success() || resp.status().is_redirection());
    assert!(
        ends_within(first, Duration::from_secs(15)).await,
        "the stream outlived its session"
    );
}

#[tokio::test]
async fn a_long_log_is_read_page_by_page_and_whole() {
    use cyborg_core::entities::{job, job_event};
    let s = TestServer::start_api_only().await;
    let db = s.db().await;
    let t = chrono::Utc::now();
    let j = job::ActiveModel {
        uuid: Set(uuid::Uuid::new_v4().to_string()),
        name: Set("long log".into()),
        job_type: Set(cyborg_dto::JobType::Backup),
        launch_type: Set(cyborg_dto::LaunchType::Manual),
        status: Set(cyborg_dto::JobStatus::Successful),
        failed: Set(false),
        elapsed: Set(0.0),
        archive_name: Set(String::new()),
        original_size: Set(0),
        compressed_size: Set(0),
        deduplicated_size: Set(0),
        job_explanation: Set(String::new()),
        created: Set(t),
        modified: Set(t),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    // More lines than two pages, some with JSON's special characters.
    let lines: Vec<String> = (1..=12_345)
        .map(|i| format!("line {i} \"quoted\" \\ tab\t é"))
        .collect();
    for chunk in lines.chunks(1000).enumerate() {
        let (n, chunk) = chunk;
        job_event::Entity::insert_many(chunk.iter().enumerate().map(|(i, l)| {
            job_event::ActiveModel {
                job_id: Set(j.id),
                counter: Set((n * 1000 + i + 1) as i32),
                stdout: Set(l.clone()),
                created: Set(t),
                ..Default::default()
            }
        }))
        .exec(&db)
        .await
        .unwrap();
    }
    let text = s
        .http
        .get(s.url(&format!("/api/v1/jobs/{}/stdout/?format=txt", j.id)))
        .bearer_auth(&s.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        text.headers()["content-type"],
        HeaderValue::from_static("text/plain; charset=utf-8")
    );
    assert_eq!(text.text().await.unwrap(), lines.join("\n"));
    let (st, body) = s
        .get(&format!("/api/v1/jobs/{}/stdout/?format=json", j.id))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(body, json!({"content": lines.join("\n")}));
    // An empty log is an empty text.
    let (_, empty) = s.get("/api/v1/jobs/999999/stdout/").await;
    assert!(empty["detail"].is_string());
}
