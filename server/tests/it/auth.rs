//! Authentication (tokens, HTTP Basic, the dashboard session cookie) and permissions.

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, TestServer};
use base64::{Engine, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::{
    Method, StatusCode,
    header::{AUTHORIZATION, COOKIE, HeaderValue, SET_COOKIE},
};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

/// Sends a request with the given `Authorization` header value (or none) and answers status and JSON.
async fn with_authorization(
    s: &TestServer,
    method: Method,
    path: &str,
    authorization: Option<HeaderValue>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = s.http.request(method, s.url(path));
    if let Some(v) = authorization {
        req = req.header(AUTHORIZATION, v);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value)
}

fn basic(email: &str, password: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "Basic {}",
        STANDARD.encode(format!("{email}:{password}"))
    ))
    .unwrap()
}

fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
}

/// GET /api/v1/me/ with the given header; answers status and the caller's email (if any).
async fn me_with(s: &TestServer, authorization: HeaderValue) -> (StatusCode, Value) {
    with_authorization(s, Method::GET, "/api/v1/me/", Some(authorization), None).await
}

fn assert_detail(status: StatusCode, expected: StatusCode, body: &Value, what: &str) {
    assert_eq!(status, expected, "{what}: {body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{what}: no detail in {body}"
    );
}

async fn count(s: &TestServer, path: &str) -> u64 {
    let (status, body) = s.get(path).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    body["count"].as_u64().expect("count")
}

async fn admin_id(s: &TestServer) -> i64 {
    let (_, me) = s.get("/api/v1/me/").await;
    me["results"][0]["id"].as_i64().unwrap()
}

/// Every key anywhere in `v` (objects inside arrays and objects included).
fn keys(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, inner) in m {
                out.push(k.clone());
                keys(inner, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|i| keys(i, out)),
        _ => {}
    }
}

fn assert_no_password(v: &Value, secret: &str, what: &str) {
    let mut ks = Vec::new();
    keys(v, &mut ks);
    assert!(
        !ks.iter().any(|k| k.contains("password")),
        "{what}: a password key in {v}"
    );
    let text = v.to_string();
    assert!(!text.contains(secret), "{what}: the password itself in {v}");
    assert!(!text.contains("$argon2"), "{what}: a password hash in {v}");
}

// ---------------------------------------------------------------------------------------------
// Tokens

#[tokio::test]
async fn token_obtain_answers_a_pair_for_good_credentials_and_401_otherwise() {
    let s = TestServer::start().await;
    let (status, pair) = s
        .raw(
            Method::POST,
            "/api/token/obtain/",
            None,
            Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let access = pair["access"].as_str().expect("access");
    let refresh = pair["refresh"].as_str().expect("refresh");
    assert!(!access.is_empty() && !refresh.is_empty());
    assert_ne!(access, refresh);

    // The email is not case-sensitive, the password is.
    let (status, pair) = s
        .raw(
            Method::POST,
            "/api/token/obtain",
            None,
            Some(json!({"email": ADMIN_EMAIL.to_uppercase(), "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "upper-case email: {pair}");

    for (email, password, what) in [
        (ADMIN_EMAIL, "wrong-password", "wrong password"),
        (ADMIN_EMAIL, "ADMIN-PASSWORD", "password in the wrong case"),
        (ADMIN_EMAIL, "", "empty password"),
        ("nobody@test.local", ADMIN_PASSWORD, "unknown email"),
        ("", "", "empty credentials"),
        ("admin\0@test.local", ADMIN_PASSWORD, "NUL in the email"),
        (ADMIN_EMAIL, "admin-pass\0word", "NUL in the password"),
    ] {
        let (status, body) = s
            .raw(
                Method::POST,
                "/api/token/obtain/",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_detail(status, StatusCode::UNAUTHORIZED, &body, what);
        assert!(body.get("access").is_none(), "{what}: {body}");
    }
}

#[tokio::test]
async fn token_endpoints_answer_400_to_malformed_bodies() {
    let s = TestServer::start().await;
    // Missing fields, a JSON value that is not an object, broken JSON: 400 with a detail.
    for body in [
        &b"{}"[..],
        br#"{"email": "admin@test.local"}"#,
        br#"{"password": "admin-password"}"#,
        b"{",
        b"not json",
        b"[]",
        br#"["admin@test.local", "admin-password"]"#,
        b"null",
        b"42",
        b"",
    ] {
        let (status, answer) = s
            .raw_bytes(Method::POST, "/api/token/obtain/", None, body.to_vec())
            .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{}: {answer}",
            String::from_utf8_lossy(body)
        );
        assert!(
            answer.is_object() && !answer.as_object().unwrap().is_empty(),
            "{}: {answer}",
            String::from_utf8_lossy(body)
        );
        assert!(answer.get("access").is_none());
    }
    // Wrong types: 400 under the field's name.
    for (body, field) in [
        (json!({"email": 1, "password": "admin-password"}), "email"),
        (json!({"email": ADMIN_EMAIL, "password": true}), "password"),
        (
            json!({"email": [ADMIN_EMAIL], "password": ADMIN_PASSWORD}),
            "email",
        ),
        (json!({"email": ADMIN_EMAIL, "password": null}), "password"),
    ] {
        let (status, answer) = s
            .raw(Method::POST, "/api/token/obtain/", None, Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(
            answer[field][0].as_str().is_some_and(|m| !m.is_empty()),
            "{body}: no message under {field}: {answer}"
        );
    }
    for body in [&b"{}"[..], b"{", br#"{"refresh": 5}"#, b"[]"] {
        let (status, answer) = s
            .raw_bytes(Method::POST, "/api/token/refresh/", None, body.to_vec())
            .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "refresh {}: {answer}",
            String::from_utf8_lossy(body)
        );
    }
}

#[tokio::test]
async fn bearer_tokens_authenticate_and_forged_ones_do_not() {
    let s = TestServer::start().await;
    let (status, me) = me_with(&s, bearer(&s.admin_token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["results"][0]["email"], ADMIN_EMAIL);

    let (_, pair) = s
        .raw(
            Method::POST,
            "/api/token/obtain/",
            None,
            Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
        )
        .await;
    let refresh = pair["refresh"].as_str().unwrap().to_string();

    // Forge: keep the real signature but claim another payload; or keep the payload and break
    // the signature.
    let (payload, sig) = s.admin_token.split_once('.').expect("payload.signature");
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).expect("claims are JSON");
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 365 * 86400);
    let forged_payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut bad_sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    bad_sig[0] ^= 1;
    let forged = [
        "garbage".to_string(),
        String::new(),
        format!("{forged_payload}.{sig}"),
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(&bad_sig)),
        format!("{payload}."),
        payload.to_string(),
        format!("{}x", s.admin_token),
        refresh.clone(),
    ];
    for token in &forged {
        let resp = s
            .http
            .get(s.url("/api/v1/me/"))
            .header(AUTHORIZATION, bearer(token))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "token {token:?}");
        assert!(resp.headers().get("www-authenticate").is_some());
        let body: Value = resp.json().await.unwrap();
        assert!(body["detail"].is_string(), "{body}");
    }
    // A forged token writes nothing either.
    let (status, _) = with_authorization(
        &s,
        Method::POST,
        "/api/v1/clients/",
        Some(bearer(&forged[2])),
        Some(json!({"hostname": "forged.example.com"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(count(&s, "/api/v1/clients/").await, 0);
    // The refresh token was not spent by being shown as a bearer token.
    let (status, body) = s
        .raw(
            Method::POST,
            "/api/token/refresh/",
            None,
            Some(json!({"refresh": refresh})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn refresh_gives_a_new_pair_and_each_refresh_token_works_once() {
    let s = TestServer::start().await;
    let (_, first) = s
        .raw(
            Method::POST,
            "/api/token/obtain/",
            None,
            Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
        )
        .await;
    let refresh1 = first["refresh"].as_str().unwrap().to_string();

    let (status, second) = s
        .raw(
            Method::POST,
            "/api/token/refresh/",
            None,
            Some(json!({"refresh": refresh1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let access2 = second["access"].as_str().expect("access").to_string();
    let refresh2 = second["refresh"].as_str().expect("refresh").to_string();
    assert_ne!(refresh2, refresh1, "a new refresh token");
    let (status, me) = me_with(&s, bearer(&access2)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["results"][0]["email"], ADMIN_EMAIL);

    // The same refresh token a second time: 401, and it was copied, so its whole family is
    // revoked: the pair it was exchanged for dies with it.
    let (status, body) = s
        .raw(
            Method::POST,
            "/api/token/refresh/",
            None,
            Some(json!({"refresh": refresh1})),
        )
        .await;
    assert_detail(
        status,
        StatusCode::UNAUTHORIZED,
        &body,
        "spent refresh token",
    );
    assert!(body.get("access").is_none());
    let (status, _) = s
        .raw(
            Method::POST,
            "/api/token/refresh/",
            None,
            Some(json!({"refresh": refresh2})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the family's newest refresh token"
    );
    assert_eq!(
        me_with(&s, bearer(&access2)).await.0,
        StatusCode::UNAUTHORIZED,
        "the family's access token"
    );
    // Another login's family is untouched.
    let (_, other) = s
        .raw(
            Method::POST,
            "/api/token/obtain/",
            None,
            Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(me_with(&s, bearer(&s.admin_token)).await.0, StatusCode::OK);
    let (status, third) = s
        .raw(
            Method::POST,
            "/api/token/refresh/",
            None,
            Some(json!({"refresh": other["refresh"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{third}");
    let refresh2 = third["refresh"].as_str().unwrap().to_string();
    let access2 = third["access"].as_str().unwrap().to_string();

    // The new one works (once), an access token or garbage does not.
    for (token, expected) in [
        (refresh2.as_str(), StatusCode::OK),
        (refresh2.as_str(), StatusCode::UNAUTHORIZED),
        (access2.as_str(), StatusCode::UNAUTHORIZED),
        ("garbage", StatusCode::UNAUTHORIZED),
        ("", StatusCode::UNAUTHORIZED),
        ("nul\0token", StatusCode::UNAUTHORIZED),
    ] {
        let (status, body) = s
            .raw(
                Method::POST,
                "/api/token/refresh/",
                None,
                Some(json!({"refresh": token})),
            )
            .await;
        assert_eq!(status, expected, "refresh with {token:?}: {body}");
    }
}

#[tokio::test]
async fn access_tokens_and_basic_credentials_die_when_the_password_changes() {
    let s = TestServer::start().await;
    let (uid, token) = s.regular_user("reg@test.local").await;
    let old_basic = basic("reg@test.local", "user-password");
    // Used once so that a cached Basic credential exists.
    assert_eq!(me_with(&s, old_basic.clone()).await.0, StatusCode::OK);
    assert_eq!(me_with(&s, bearer(&token)).await.0, StatusCode::OK);

    // The user changes their own password: only with the present one, which a stolen token
    // does not give.
    for (current, what) in [
        (None, "no current_password"),
        (Some("not-it-at-all"), "a wrong current_password"),
    ] {
        let mut change = json!({"password": "a-new-password"});
        if let Some(c) = current {
            change["current_password"] = json!(c);
        }
        let (status, body) = s
            .raw(
                Method::PATCH,
                &format!("/api/v1/users/{uid}/"),
                Some(&token),
                Some(change),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert!(body["current_password"].is_array(), "{what}: {body}");
        assert_eq!(
            me_with(&s, bearer(&token)).await.0,
            StatusCode::OK,
            "{what}"
        );
    }
    let (status, body) = s
        .raw(
            Method::PATCH,
            &format!("/api/v1/users/{uid}/"),
            Some(&token),
            Some(json!({"password": "a-new-password", "current_password": "user-password"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_no_password(&body, "a-new-password", "PATCH answer");

    let (status, body) = me_with(&s, bearer(&token)).await;
    assert_detail(status, StatusCode::UNAUTHORIZED, &body, "old access token");
    let (status, body) = me_with(&s, old_basic).await;
    assert_detail(
        status,
        StatusCode::UNAUTHORIZED,
        &body,
        "old Basic password",
    );
    let (status, _) = s
        .raw(
            Method::POST,
            "/api/token/obtain/",
            None,
            Some(json!({"email": "reg@test.local", "password": "user-password"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "old password");
    let new_token = s.token("reg@test.local", "a-new-password").await;
    let (status, me) = me_with(&s, bearer(&new_token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["results"][0]["id"], uid);

    // A superuser resetting the password kills the user's tokens as well.
    let (status, _) = s
        .patch(
            &format!("/api/v1/users/{uid}/"),
            json!({"password": "reset-by-admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        me_with(&s, bearer(&new_token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        me_with(&s, basic("reg@test.local", "reset-by-admin"))
            .await
            .0,
        StatusCode::OK
    );
    // Changing only the names keeps tokens alive.
    let token = s.token("reg@test.local", "reset-by-admin").await;
    let (status, _) = s
        .raw(
            Method::PATCH,
            &format!("/api/v1/users/{uid}/"),
            Some(&token),
            Some(json!({"first_name": "Still"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me_with(&s, bearer(&token)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn refresh_tokens_die_when_the_password_changes() {
    let s = TestServer::start().await;
    let (uid, _) = s.regular_user("stolen@test.local").await;
    let (_, pair) = s
        .raw(
            Method::POST,
            "/api/token/obtain/",
            None,
            Some(json!({"email": "stolen@test.local", "password": "user-password"})),
        )
        .await;
    // The password is reset (say, because the refresh token leaked).
    let (status, _) = s
        .patch(
            &format!("/api/v1/users/{uid}/"),
            json!({"password": "a-fresh-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = s
        .raw(
            Method::POST,
            "/api/token/refresh/",
            None,
            Some(json!({"refresh": pair["refresh"]})),
        )
        .await;
    assert_detail(
        status,
        StatusCode::UNAUTHORIZED,
        &body,
        "a refresh token issued before the password change",
    );
    // Tokens of other users are untouched.
    let (_, admin_pair) = s
        .raw(
            Method::POST,
            "/api/token/obtain/",
            None,
            Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
        )
        .await;
    s.patch(
        &format!("/api/v1/users/{uid}/"),
        json!({"password": "yet-another-password"}),
    )
    .await;
    let (status, _) = s
        .raw(
            Method::POST,
            "/api/token/refresh/",
            None,
            Some(json!({"refresh": admin_pair["refresh"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_deleted_user_is_locked_out_everywhere() {
    let s = TestServer::start().await;
    let (uid, token) = s.regular_user("gone@test.local").await;
    let (_, pair) = s
        .raw(
            Method::POST,
            "/api/token/obtain/",
            None,
            Some(json!({"email": "gone@test.local", "password": "user-password"})),
        )
        .await;
    let session = s
        .http
        .post(s.url("/api/session/"))
        .json(&json!({"email": "gone@test.local", "password": "user-password"}))
        .send()
        .await
        .unwrap();
    let cookie = session.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let credentials = basic("gone@test.local", "user-password");
    assert_eq!(me_with(&s, credentials.clone()).await.0, StatusCode::OK);

    let (status, _) = s.delete(&format!("/api/v1/users/{uid}/")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        me_with(&s, bearer(&token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(me_with(&s, credentials).await.0, StatusCode::UNAUTHORIZED);
    let resp = s
        .http
        .get(s.url("/api/v1/me/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = s
        .raw(
            Method::POST,
            "/api/token/refresh/",
            None,
            Some(json!({"refresh": pair["refresh"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

// ---------------------------------------------------------------------------------------------
// HTTP Basic

#[tokio::test]
async fn http_basic_works_and_bad_or_malformed_authorization_is_401() {
    let s = TestServer::start().await;
    let (status, me) = me_with(&s, basic(ADMIN_EMAIL, ADMIN_PASSWORD)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["results"][0]["email"], ADMIN_EMAIL);
    // Basic can write, too.
    let (status, body) = with_authorization(
        &s,
        Method::POST,
        "/api/v1/schedules/",
        Some(basic(ADMIN_EMAIL, ADMIN_PASSWORD)),
        Some(json!({"name": "Via basic", "crontab": "0 1 * * * *"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["summary_fields"]["created_by"]["email"], ADMIN_EMAIL);

    // Passwords may hold colons: only the first one separates the email.
    let (uid, _) = s.regular_user("colon@test.local").await;
    s.patch(
        &format!("/api/v1/users/{uid}/"),
        json!({"password": "pa:ss:wo:rd"}),
    )
    .await;
    let (status, me) = me_with(&s, basic("colon@test.local", "pa:ss:wo:rd")).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["results"][0]["id"], uid);
    // Once the email changes, the old one no longer logs in, even right after a success.
    let (status, _) = s
        .patch(
            &format!("/api/v1/users/{uid}/"),
            json!({"email": "renamed@test.local"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        me_with(&s, basic("colon@test.local", "pa:ss:wo:rd"))
            .await
            .0,
        StatusCode::UNAUTHORIZED,
        "the old email"
    );
    assert_eq!(
        me_with(&s, basic("renamed@test.local", "pa:ss:wo:rd"))
            .await
            .0,
        StatusCode::OK
    );

    let malformed = [
        basic(ADMIN_EMAIL, "wrong-password"),
        basic("nobody@test.local", ADMIN_PASSWORD),
        basic(ADMIN_EMAIL, ""),
        basic("", ""),
        basic("admin\0@test.local", ADMIN_PASSWORD),
        HeaderValue::from_static("Basic"),
        HeaderValue::from_static("Basic "),
        HeaderValue::from_static("Basic !!!not-base64!!!"),
        HeaderValue::from_str(&format!("Basic {}", STANDARD.encode("no-colon-here"))).unwrap(),
        HeaderValue::from_str(&format!(
            "Basic {}",
            STANDARD.encode([0xff, 0xfe, b':', b'x'])
        ))
        .unwrap(),
        HeaderValue::from_static("Bearer"),
        HeaderValue::from_static("Token abcdef"),
        HeaderValue::from_static("Digest username=\"admin\""),
        HeaderValue::from_static("garbage"),
        HeaderValue::from_bytes(b"Basic \xff\xfe").unwrap(),
    ];
    for value in malformed {
        let resp = s
            .http
            .get(s.url("/api/v1/me/"))
            .header(AUTHORIZATION, value.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{value:?}");
        assert!(
            resp.headers().get("www-authenticate").is_some(),
            "{value:?}"
        );
        let body: Value = resp.json().await.unwrap();
        assert!(body["detail"].is_string(), "{value:?}: {body}");
    }
    // A wrong Basic credential writes nothing.
    let (status, _) = with_authorization(
        &s,
        Method::POST,
        "/api/v1/schedules/",
        Some(basic(ADMIN_EMAIL, "wrong-password")),
        Some(json!({"name": "Refused", "crontab": "0 1 * * * *"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(count(&s, "/api/v1/schedules/").await, 1);
}

// ---------------------------------------------------------------------------------------------
// Dashboard session

fn session_value(set_cookie: &str) -> String {
    let first = set_cookie.split(';').next().unwrap().trim();
    let (name, value) = first.split_once('=').expect("name=value");
    assert_eq!(name, "cyborg_session", "{set_cookie}");
    value.to_string()
}

fn attributes(set_cookie: &str) -> Vec<String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

#[tokio::test]
async fn session_cookie_logs_in_authenticates_and_logs_out() {
    let s = TestServer::start().await;
    let resp = s
        .http
        .post(s.url("/api/session/"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let set_cookie = resp
        .headers()
        .get(SET_COOKIE)
        .expect("Set-Cookie")
        .to_str()
        .unwrap()
        .to_string();
    let user: Value = resp.json().await.unwrap();
    assert_eq!(user["email"], ADMIN_EMAIL);
    assert_eq!(user["type"], "user");
    assert_eq!(user["is_superuser"], true);
    assert_no_password(&user, ADMIN_PASSWORD, "session answer");

    let value = session_value(&set_cookie);
    assert!(value.len() >= 20, "a long random value: {set_cookie}");
    let attrs = attributes(&set_cookie);
    for wanted in ["httponly", "samesite=strict", "path=/"] {
        assert!(
            attrs.iter().any(|a| a == wanted),
            "{wanted} in {set_cookie}"
        );
    }
    assert!(
        !attrs.iter().any(|a| a == "secure"),
        "plain HTTP: {set_cookie}"
    );

    // The cookie alone authenticates.
    let cookie = format!("other=1; cyborg_session={value}; theme=dark");
    let resp = s
        .http
        .get(s.url("/api/v1/me/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let me: Value = resp.json().await.unwrap();
    assert_eq!(me["results"][0]["email"], ADMIN_EMAIL);
    // A wrong cookie value does not.
    let resp = s
        .http
        .get(s.url("/api/v1/me/"))
        .header(COOKIE, format!("cyborg_session={value}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // Logout clears the cookie and ends the session on the server.
    let resp = s
        .http
        .delete(s.url("/api/session/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let cleared = resp
        .headers()
        .get(SET_COOKIE)
        .expect("Set-Cookie on logout")
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(session_value(&cleared), "", "{cleared}");
    let attrs = attributes(&cleared);
    assert!(attrs.iter().any(|a| a == "max-age=0"), "{cleared}");
    assert!(attrs.iter().any(|a| a == "path=/"), "{cleared}");

    let resp = s
        .http
        .get(s.url("/api/v1/me/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert!(body["detail"].is_string(), "{body}");
}

#[tokio::test]
async fn session_login_refuses_bad_credentials_and_marks_the_cookie_secure_behind_tls() {
    let s = TestServer::start().await;
    for body in [
        json!({"email": ADMIN_EMAIL, "password": "wrong-password"}),
        json!({"email": "nobody@test.local", "password": ADMIN_PASSWORD}),
    ] {
        let resp = s
            .http
            .post(s.url("/api/session/"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{body}");
        assert!(resp.headers().get(SET_COOKIE).is_none(), "{body}");
        let answer: Value = resp.json().await.unwrap();
        assert!(answer["detail"].is_string(), "{answer}");
    }
    let (status, body) = s
        .raw_bytes(Method::POST, "/api/session/", None, b"{".to_vec())
        .await;
    assert_detail(status, StatusCode::BAD_REQUEST, &body, "broken JSON");

    let resp = s
        .http
        .post(s.url("/api/session/"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let set_cookie = resp.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(
        attributes(&set_cookie).iter().any(|a| a == "secure"),
        "{set_cookie}"
    );
}

// ---------------------------------------------------------------------------------------------
// Permissions

#[tokio::test]
async fn regular_users_can_read_every_list_and_detail() {
    let s = TestServer::start().await;
    let f = s.fixture().await;
    let (uid, token) = s.regular_user("reader@test.local").await;
    let admin = admin_id(&s).await;
    for (list, id) in [
        ("/api/v1/users/", uid),
        ("/api/v1/users/", admin),
        ("/api/v1/clients/", f.client),
        ("/api/v1/schedules/", f.schedule),
        ("/api/v1/repositories/", f.repository),
        ("/api/v1/policies/", f.policy),
    ] {
        let (status, page) = s.raw(Method::GET, list, Some(&token), None).await;
        assert_eq!(status, StatusCode::OK, "{list}: {page}");
        let (_, admin_page) = s.get(list).await;
        assert_eq!(page["count"], admin_page["count"], "{list}");
        assert!(page["count"].as_u64().unwrap() >= 1, "{list}: {page}");
        let path = format!("{list}{id}/");
        let (status, one) = s.raw(Method::GET, &path, Some(&token), None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {one}");
        assert_eq!(one["id"], id);
        assert_eq!(one["url"], path);
    }
    for path in ["/api/v1/catalogs/", "/api/v1/config/", "/api/v1/"] {
        let (status, body) = s.raw(Method::GET, path, Some(&token), None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (status, me) = s.raw(Method::GET, "/api/v1/me/", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["results"][0]["id"], uid);
    assert_eq!(me["results"][0]["is_superuser"], false);
}

#[tokio::test]
async fn regular_users_get_403_on_every_write_and_nothing_changes() {
    let s = TestServer::start().await;
    let f = s.fixture().await;
    let (uid, token) = s.regular_user("writer@test.local").await;
    let admin = admin_id(&s).await;
    let creates = [
        ("/api/v1/clients/", json!({"hostname": "new.example.com"})),
        (
            "/api/v1/schedules/",
            json!({"name": "New", "crontab": "0 4 * * * *"}),
        ),
        (
            "/api/v1/repositories/",
            json!({"name": "New", "path": "/srv/borg/new"}),
        ),
        (
            "/api/v1/policies/",
            json!({"name": "New", "policy_type": "rootfs", "repository": f.repository,
                   "schedule": f.schedule, "clients": [f.client]}),
        ),
        (
            "/api/v1/users/",
            json!({"email": "new@test.local", "password": "new-password"}),
        ),
    ];
    for (list, body) in &creates {
        let before = count(&s, list).await;
        let (status, answer) = s
            .raw(Method::POST, list, Some(&token), Some(body.clone()))
            .await;
        assert_detail(
            status,
            StatusCode::FORBIDDEN,
            &answer,
            &format!("POST {list}"),
        );
        assert_eq!(count(&s, list).await, before, "POST {list} wrote");
    }
    let items = [
        (
            format!("/api/v1/clients/{}/", f.client),
            json!({"hostname": "changed.example.com", "enabled": false}),
        ),
        (
            format!("/api/v1/schedules/{}/", f.schedule),
            json!({"name": "Changed", "crontab": "0 5 * * * *"}),
        ),
        (
            format!("/api/v1/repositories/{}/", f.repository),
            json!({"name": "Changed", "path": "/srv/changed"}),
        ),
        (
            format!("/api/v1/policies/{}/", f.policy),
            json!({"name": "Changed", "policy_type": "rootfs", "repository": f.repository,
                   "schedule": f.schedule, "enabled": false}),
        ),
        (
            format!("/api/v1/users/{admin}/"),
            json!({"email": "taken@test.local", "first_name": "Changed", "is_superuser": false}),
        ),
    ];
    for (path, body) in &items {
        let (_, before) = s.get(path).await;
        for method in [Method::PUT, Method::PATCH, Method::DELETE] {
            let send = (method != Method::DELETE).then(|| body.clone());
            let (status, answer) = s.raw(method.clone(), path, Some(&token), send).await;
            assert_detail(
                status,
                StatusCode::FORBIDDEN,
                &answer,
                &format!("{method} {path}"),
            );
            let (status, after) = s.get(path).await;
            assert_eq!(status, StatusCode::OK, "{method} {path} deleted it");
            assert_eq!(after, before, "{method} {path} changed it");
        }
    }
    // The caller is still who they were.
    let (_, me) = s.get(&format!("/api/v1/users/{uid}/")).await;
    assert_eq!(me["is_superuser"], false);
}

#[tokio::test]
async fn regular_users_may_change_their_own_profile_but_not_is_superuser_or_others() {
    let s = TestServer::start().await;
    let (uid, token) = s.regular_user("self@test.local").await;
    let (other, _) = s.regular_user("other@test.local").await;
    let admin = admin_id(&s).await;
    let me_path = format!("/api/v1/users/{uid}/");

    let (status, body) = s
        .raw(
            Method::PATCH,
            &me_path,
            Some(&token),
            Some(json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@test.local"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["first_name"], "Ada");
    assert_eq!(body["last_name"], "Lovelace");
    assert_eq!(body["email"], "ada@test.local");
    assert_eq!(body["is_superuser"], false);
    assert_eq!(body["modified_by"], uid, "the user changed themselves");
    assert_eq!(body["created_by"], admin);
    let (_, stored) = s.get(&me_path).await;
    assert_eq!(stored, body);
    // A new email ends the tokens issued for the old one, the caller's included (an access
    // token is checked against the email and password it was issued for).
    assert_eq!(
        me_with(&s, bearer(&token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let token = s.token("ada@test.local", "user-password").await;
    // Sending the unchanged is_superuser is harmless.
    let (status, body) = s
        .raw(
            Method::PATCH,
            &me_path,
            Some(&token),
            Some(json!({"is_superuser": false, "last_name": "King"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["last_name"], "King");

    // Promoting oneself: 403 and nothing changes, not even the other fields sent along.
    for method in [Method::PATCH, Method::PUT] {
        let (status, answer) = s
            .raw(
                method.clone(),
                &me_path,
                Some(&token),
                Some(
                    json!({"email": "ada@test.local", "is_superuser": true, "first_name": "Root"}),
                ),
            )
            .await;
        assert_detail(
            status,
            StatusCode::FORBIDDEN,
            &answer,
            &format!("{method} self"),
        );
        let (_, after) = s.get(&me_path).await;
        assert_eq!(after["is_superuser"], false);
        assert_eq!(after["first_name"], "Ada");
    }
    // The token still belongs to a non-superuser.
    let (status, _) = s
        .raw(
            Method::POST,
            "/api/v1/clients/",
            Some(&token),
            Some(json!({"hostname": "x.example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Other users, including a superuser, are out of reach.
    for id in [other, admin] {
        let path = format!("/api/v1/users/{id}/");
        let (_, before) = s.get(&path).await;
        let (status, answer) = s
            .raw(
                Method::PATCH,
                &path,
                Some(&token),
                Some(json!({"first_name": "Hacked", "password": "hacked-password"})),
            )
            .await;
        assert_detail(status, StatusCode::FORBIDDEN, &answer, &path);
        let (_, after) = s.get(&path).await;
        assert_eq!(after, before, "{path}");
    }
    let (status, _) = s
        .raw(
            Method::POST,
            "/api/token/obtain/",
            None,
            Some(json!({"email": "other@test.local", "password": "hacked-password"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the password was not changed"
    );
    // Nor may a regular user delete themselves.
    let (status, _) = s.raw(Method::DELETE, &me_path, Some(&token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(s.get(&me_path).await.0, StatusCode::OK);
    // Their own changes still go through validation.
    let (status, answer) = s
        .raw(
            Method::PATCH,
            &me_path,
            Some(&token),
            Some(json!({"email": ADMIN_EMAIL})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer["email"].is_array(), "{answer}");
}

#[tokio::test]
async fn repository_key_is_shown_to_superusers_only_and_exactly() {
    let s = TestServer::start().await;
    let passphrase = "  correct horse ♞ battery: staple \"quoted\" $(not run) ";
    let repo = s
        .create(
            "/api/v1/repositories/",
            json!({"name": "Secret", "path": "/srv/borg/secret", "repository_key": passphrase}),
        )
        .await;
    assert_eq!(repo["repository_key"], passphrase, "the create answer");
    let path = format!("/api/v1/repositories/{}/", repo["id"]);
    let (_, detail) = s.get(&path).await;
    assert_eq!(detail["repository_key"], passphrase);
    let (_, list) = s.get("/api/v1/repositories/").await;
    assert_eq!(list["results"][0]["repository_key"], passphrase);

    let (_, token) = s.regular_user("nosecret@test.local").await;
    let (status, detail) = s.raw(Method::GET, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(detail.get("repository_key").is_none(), "{detail}");
    assert_eq!(detail["name"], "Secret");
    let (_, list) = s
        .raw(Method::GET, "/api/v1/repositories/", Some(&token), None)
        .await;
    assert_eq!(list["count"], 1);
    assert!(list["results"][0].get("repository_key").is_none(), "{list}");
    for (what, v) in [("detail", &detail), ("list", &list)] {
        assert!(
            !v.to_string().contains("battery"),
            "{what} leaks the passphrase: {v}"
        );
    }
    // Not through a policy's summary either.
    let f = s.fixture().await;
    let (_, policy) = s
        .raw(
            Method::GET,
            &format!("/api/v1/policies/{}/", f.policy),
            Some(&token),
            None,
        )
        .await;
    assert!(
        !policy.to_string().contains("s3cret-passphrase"),
        "{policy}"
    );
    // The passphrase is not stored in clear text.
    let db = s.db().await;
    let rows = cyborg_core::entities::repository::Entity::find()
        .all(&db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        assert!(
            !r.repository_key.contains("battery") && !r.repository_key.contains("s3cret"),
            "stored in clear: {}",
            r.repository_key
        );
    }
}

#[tokio::test]
async fn password_never_appears_in_any_user_answer() {
    let s = TestServer::start().await;
    let secret = "very-secret-password";
    let created = s
        .create(
            "/api/v1/users/",
            json!({"email": "pw@test.local", "password": secret, "first_name": "P"}),
        )
        .await;
    assert_no_password(&created, secret, "create");
    let id = created["id"].as_i64().unwrap();
    let path = format!("/api/v1/users/{id}/");
    let token = s.token("pw@test.local", secret).await;
    let (_, detail) = s.get(&path).await;
    assert_no_password(&detail, secret, "detail");
    let (_, list) = s.get("/api/v1/users/").await;
    assert_eq!(list["count"], 2);
    assert_no_password(&list, secret, "list");
    let (_, list) = s.get("/api/v1/users/?search=pw").await;
    assert_no_password(&list, secret, "search");
    let (_, me) = s.raw(Method::GET, "/api/v1/me/", Some(&token), None).await;
    assert_no_password(&me, secret, "me");
    let (status, patched) = s
        .patch(&path, json!({"password": "another-secret-pw"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_no_password(&patched, "another-secret-pw", "patch");
    let (status, put) = s
        .put(
            &path,
            json!({"email": "pw@test.local", "password": "third-secret-pw"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_no_password(&put, "third-secret-pw", "put");
    // Stored as an argon2id hash, not as typed.
    let db = s.db().await;
    let row = cyborg_core::entities::user::Entity::find_by_id(id as i32)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert!(
        row.password_hash.starts_with("$argon2id$"),
        "{}",
        row.password_hash
    );
    assert!(!row.password_hash.contains("third-secret-pw"));
}

#[tokio::test]
async fn the_last_superuser_cannot_be_deleted_or_demoted() {
    let s = TestServer::start().await;
    let admin = admin_id(&s).await;
    let admin_path = format!("/api/v1/users/{admin}/");
    let (status, body) = s.delete(&admin_path).await;
    assert_detail(
        status,
        StatusCode::CONFLICT,
        &body,
        "delete the last superuser",
    );
    for method in [Method::PATCH, Method::PUT] {
        let (status, body) = s
            .raw(
                method.clone(),
                &admin_path,
                Some(&s.admin_token),
                Some(json!({"email": ADMIN_EMAIL, "is_superuser": false, "first_name": "Demoted"})),
            )
            .await;
        assert_detail(
            status,
            StatusCode::CONFLICT,
            &body,
            &format!("{method} is_superuser false"),
        );
    }
    let (_, me) = s.get(&admin_path).await;
    assert_eq!(me["is_superuser"], true);
    assert_eq!(me["first_name"], "", "the refused update changed nothing");

    // With a second superuser, the first may be demoted; the second is then the last one.
    let second = s
        .create(
            "/api/v1/users/",
            json!({"email": "second@test.local", "password": "second-password", "is_superuser": true}),
        )
        .await;
    let second_id = second["id"].as_i64().unwrap();
    let second_path = format!("/api/v1/users/{second_id}/");
    let second_token = s.token("second@test.local", "second-password").await;
    let (status, body) = s.patch(&admin_path, json!({"is_superuser": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["is_superuser"], false);
    let (status, body) = s
        .raw(Method::DELETE, &second_path, Some(&second_token), None)
        .await;
    assert_detail(
        status,
        StatusCode::CONFLICT,
        &body,
        "delete the new last superuser",
    );
    let (status, body) = s
        .raw(
            Method::PATCH,
            &second_path,
            Some(&second_token),
            Some(json!({"is_superuser": false})),
        )
        .await;
    assert_detail(
        status,
        StatusCode::CONFLICT,
        &body,
        "demote the new last superuser",
    );
    // The demoted admin can no longer write.
    let (status, _) = s.delete(&second_path).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Promote the first again, then the second superuser may delete it: objects it made keep
    // existing, without their creator.
    let client = s
        .raw(
            Method::POST,
            "/api/v1/clients/",
            Some(&second_token),
            Some(json!({"hostname": "kept.example.com"})),
        )
        .await
        .1;
    let (status, _) = s
        .raw(
            Method::PATCH,
            &admin_path,
            Some(&second_token),
            Some(json!({"is_superuser": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = s
        .raw(Method::DELETE, &second_path, Some(&s.admin_token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(s.get(&second_path).await.0, StatusCode::NOT_FOUND);
    let (status, kept) = s.get(&format!("/api/v1/clients/{}/", client["id"])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(kept["created_by"].is_null(), "{kept}");
    assert!(kept["summary_fields"].get("created_by").is_none(), "{kept}");
    let (status, _) = s.delete(&admin_path).await;
    assert_eq!(status, StatusCode::CONFLICT, "the only superuser again");
}

#[tokio::test]
async fn created_by_and_modified_by_record_the_caller() {
    let s = TestServer::start().await;
    let admin = admin_id(&s).await;
    let f = s.fixture().await;
    for path in [
        format!("/api/v1/clients/{}/", f.client),
        format!("/api/v1/schedules/{}/", f.schedule),
        format!("/api/v1/repositories/{}/", f.repository),
        format!("/api/v1/policies/{}/", f.policy),
    ] {
        let (_, v) = s.get(&path).await;
        assert_eq!(v["created_by"], admin, "{path}: {v}");
        assert_eq!(v["modified_by"], admin, "{path}");
        assert_eq!(v["summary_fields"]["created_by"]["id"], admin, "{path}");
        assert_eq!(
            v["summary_fields"]["created_by"]["email"], ADMIN_EMAIL,
            "{path}"
        );
        assert_eq!(
            v["summary_fields"]["modified_by"]["email"], ADMIN_EMAIL,
            "{path}"
        );
        assert_eq!(
            v["related"]["created_by"],
            format!("/api/v1/users/{admin}/"),
            "{path}"
        );
    }

    let other = s
        .create(
            "/api/v1/users/",
            json!({"email": "editor@test.local", "password": "editor-password",
                   "is_superuser": true, "first_name": "Ed"}),
        )
        .await;
    assert_eq!(other["created_by"], admin);
    let other_id = other["id"].as_i64().unwrap();
    let token = s.token("editor@test.local", "editor-password").await;
    let path = format!("/api/v1/clients/{}/", f.client);
    let (_, before) = s.get(&path).await;
    let (status, after) = s
        .raw(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"hypervisor_name": "pve1"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["created_by"], admin);
    assert_eq!(after["modified_by"], other_id);
    assert_eq!(after["summary_fields"]["created_by"]["email"], ADMIN_EMAIL);
    assert_eq!(
        after["summary_fields"]["modified_by"]["email"],
        "editor@test.local"
    );
    assert_eq!(after["summary_fields"]["modified_by"]["first_name"], "Ed");
    assert_eq!(
        after["related"]["modified_by"],
        format!("/api/v1/users/{other_id}/")
    );
    assert_eq!(after["created"], before["created"]);
    let time = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    assert!(
        time(&after["modified"]) >= time(&before["modified"]),
        "{before} {after}"
    );

    let created = s
        .raw(
            Method::POST,
            "/api/v1/schedules/",
            Some(&token),
            Some(json!({"name": "By editor", "crontab": "0 2 * * * *"})),
        )
        .await
        .1;
    assert_eq!(created["created_by"], other_id, "{created}");
    assert_eq!(
        created["summary_fields"]["created_by"]["email"],
        "editor@test.local"
    );
}

#[tokio::test]
async fn the_configured_superuser_exists_at_first_start() {
    let s = TestServer::start().await;
    let (status, list) = s.get("/api/v1/users/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["count"], 1, "exactly one user at first start: {list}");
    let admin = &list["results"][0];
    assert_eq!(admin["email"], ADMIN_EMAIL);
    assert_eq!(admin["is_superuser"], true);
    assert!(admin["created_by"].is_null(), "made by the system: {admin}");
    let (status, me) = me_with(&s, basic(ADMIN_EMAIL, ADMIN_PASSWORD)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["results"][0]["id"], admin["id"]);

    let db = s.db().await;
    let rows = cyborg_core::entities::user::Entity::find()
        .all(&db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].is_superuser);
    assert!(rows[0].password_hash.starts_with("$argon2id$"));
}

/// Superusers demoting (or deleting) each other at the same moment: at least one must stay, and
/// nobody gets a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn superusers_removing_each_other_at_once_leave_at_least_one() {
    const RING: usize = 6;
    let s = TestServer::start().await;
    // A superuser known to remain, and its token; at the start of a round the only one.
    let mut boss = (admin_id(&s).await, s.admin_token.clone());
    for round in 0..4 {
        // A ring of superusers, each removing the next one, all at once.
        let mut ring = vec![boss.clone()];
        while ring.len() < RING {
            let email = format!("race{round}-{}@test.local", ring.len());
            let (status, u) = s
                .raw(
                    Method::POST,
                    "/api/v1/users/",
                    Some(&boss.1),
                    Some(
                        json!({"email": email, "password": "race-password", "is_superuser": true}),
                    ),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{u}");
            ring.push((
                u["id"].as_i64().unwrap(),
                s.token(&email, "race-password").await,
            ));
        }
        let tasks: Vec<_> = (0..RING)
            .map(|i| {
                let url = s.url(&format!("/api/v1/users/{}/", ring[(i + 1) % RING].0));
                let req = if round % 2 == 0 {
                    s.http.patch(url).json(&json!({"is_superuser": false}))
                } else {
                    s.http.delete(url)
                };
                let req = req.bearer_auth(&ring[i].1);
                tokio::spawn(async move {
                    let resp = req.send().await.expect("request");
                    (resp.status(), resp.text().await.unwrap_or_default())
                })
            })
            .collect();
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.expect("request task"));
        }
        for (status, body) in &answers {
            assert!(!status.is_server_error(), "round {round}: {status} {body}");
        }
        let statuses: Vec<u16> = answers.iter().map(|a| a.0.as_u16()).collect();
        // Whoever is left reads who the superusers are.
        let mut supers = None;
        for (_, token) in &ring {
            let (status, list) = s
                .raw(
                    Method::GET,
                    "/api/v1/users/?is_superuser=true",
                    Some(token),
                    None,
                )
                .await;
            if status == StatusCode::OK {
                supers = Some(list);
                break;
            }
        }
        let supers = supers.expect("a ring member is left");
        assert!(
            supers["count"].as_u64().unwrap() >= 1,
            "round {round}: no superuser left after {statuses:?}"
        );
        // The first survivor leads the next round, alone.
        let ids: Vec<i64> = supers["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_i64().unwrap())
            .collect();
        boss = ring
            .iter()
            .find(|r| r.0 == ids[0])
            .expect("a ring member")
            .clone();
        for id in &ids[1..] {
            let (status, body) = s
                .raw(
                    Method::PATCH,
                    &format!("/api/v1/users/{id}/"),
                    Some(&boss.1),
                    Some(json!({"is_superuser": false})),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
}
