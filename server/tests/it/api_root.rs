//! The API root, ping, config, me, trailing slashes, anonymous access, 404/405 bodies, OpenAPI.

use crate::common::{ADMIN_EMAIL, TestServer};
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn ping_and_root_need_no_auth_and_answer_with_or_without_slash() {
    let s = TestServer::start().await;
    for path in ["/api/v1/ping", "/api/v1/ping/"] {
        let (status, body) = s.raw(Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body["ping"], "pong");
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    }
    for path in ["/api/v1", "/api/v1/"] {
        let (status, body) = s.raw(Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        for key in [
            "ping",
            "config",
            "me",
            "users",
            "clients",
            "schedules",
            "repositories",
            "policies",
            "catalogs",
        ] {
            assert!(
                body[key]
                    .as_str()
                    .is_some_and(|p| p.starts_with("/api/v1/")),
                "{key} in {body}"
            );
        }
    }
}

#[tokio::test]
async fn everything_else_is_401_for_anonymous_callers_with_a_challenge() {
    let s = TestServer::start().await;
    for path in [
        "/api/v1/config/",
        "/api/v1/me/",
        "/api/v1/users/",
        "/api/v1/users/1/",
        "/api/v1/clients/",
        "/api/v1/schedules/",
        "/api/v1/repositories/",
        "/api/v1/policies/",
        "/api/v1/catalogs/",
        "/api/v1/catalogs/1/",
        "/api/v1/openapi.json",
    ] {
        let resp = s.http.get(s.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert!(
            resp.headers().get("www-authenticate").is_some(),
            "{path} has no challenge"
        );
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(body["detail"].is_string(), "{path}: {body}");
    }
    let (status, _) = s
        .raw(
            Method::POST,
            "/api/v1/clients/",
            None,
            Some(serde_json::json!({"hostname": "a.b"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, list) = s.get("/api/v1/clients/").await;
    assert_eq!(list["count"], 0, "the anonymous write changed nothing");
}

#[tokio::test]
async fn config_and_me() {
    let s = TestServer::start().await;
    let (status, config) = s.get("/api/v1/config").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["version"], env!("CARGO_PKG_VERSION"));
    assert!(config["debug"].is_boolean());
    assert!(config["allowed_hosts"].is_array());
    assert_eq!(config["time_zone"], "UTC");

    let (status, me) = s.get("/api/v1/me/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["count"], 1);
    assert!(me["next"].is_null() && me["previous"].is_null());
    let user = &me["results"][0];
    assert_eq!(user["email"], ADMIN_EMAIL);
    assert_eq!(user["type"], "user");
    assert_eq!(user["is_superuser"], true);
    assert_eq!(user["url"], format!("/api/v1/users/{}/", user["id"]));
    assert!(user.get("password").is_none() && user.get("password_hash").is_none());
    let created = user["created"].as_str().unwrap();
    assert!(created.ends_with('Z'), "{created}");
    chrono::DateTime::parse_from_rfc3339(created).expect("RFC 3339");
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json() {
    let s = TestServer::start().await;
    let (status, body) = s.get("/api/v1/nothing-here/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["detail"].is_string(), "{body}");
    let (status, body) = s
        .raw(Method::DELETE, "/api/v1/ping/", Some(&s.admin_token), None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body["detail"].is_string(), "{body}");
    let (status, body) = s
        .raw(
            Method::POST,
            "/api/v1/catalogs/",
            Some(&s.admin_token),
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::METHOD_NOT_ALLOWED,
        "the catalog is read-only: {body}"
    );
    for path in [
        "/api/v1/clients/abc/",
        "/api/v1/clients/0/",
        "/api/v1/clients/99999999999/",
        "/api/v1/clients/-1/",
    ] {
        let (status, body) = s.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(body["detail"].is_string());
    }
}

#[tokio::test]
async fn openapi_document_describes_every_resource() {
    let s = TestServer::start().await;
    let (status, doc) = s.get("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/ping/",
        "/api/v1/me/",
        "/api/token/obtain/",
        "/api/token/refresh/",
        "/api/v1/users/",
        "/api/v1/users/{id}/",
        "/api/v1/clients/",
        "/api/v1/clients/{id}/",
        "/api/v1/schedules/{id}/",
        "/api/v1/repositories/{id}/",
        "/api/v1/policies/{id}/",
        "/api/v1/catalogs/",
        "/api/v1/catalogs/{id}/",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from {:?}",
            paths.keys().collect::<Vec<_>>()
        );
    }
    for verb in ["get", "put", "patch", "delete"] {
        assert!(paths["/api/v1/policies/{id}/"][verb].is_object(), "{verb}");
    }
    assert!(doc["components"]["schemas"]["Policy"].is_object());
}

#[tokio::test]
async fn the_dashboard_shell_renders_on_the_server() {
    let s = TestServer::start().await;
    // Without a session a dashboard page answers a redirect to the login page, whatever the
    // client accepts.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = http.get(s.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(resp.headers()["location"], "/login?next=/");
    let resp = s.http.get(s.url("/login")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("<title>Log in — CyBorgBackup</title>"),
        "{html}"
    );
    assert!(html.contains(r#"<label for="email">"#));
    assert!(
        html.contains("cyborgbackup_bg.wasm"),
        "hydration script is linked"
    );
    let resp = s.http.get(s.url("/no/such/page")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}
