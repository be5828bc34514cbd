//! Knowing when backups stop: health per policy and client, alerts and their notifications
//! (real HTTP and SMTP receivers on 127.0.0.1), `/metrics` read by a real exposition-format
//! parser, personal API tokens, job-log retention and the job time limit.
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use cyborg_core::{
    entities::{api_token, job, job_event, notification_outbox},
    secrets::Secrets,
    services::alerts,
};
use cyborg_dto::{JobStatus, JobType, LaunchType};
use hmac::{Hmac, Mac};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    Set,
};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::{
    Options, TestServer,
    borg::{Borg, launch, wait_chain},
    receivers::{HttpReceiver, SmtpSink},
    sshd,
};

async fn seed_backup(
    db: &DatabaseConnection,
    policy: i64,
    client: i64,
    repository: i64,
    status: JobStatus,
    finished_ago: TimeDelta,
) -> i32 {
    let finished = Utc::now() - finished_ago;
    job::ActiveModel {
        uuid: Set(uuid::Uuid::new_v4().to_string()),
        name: Set("seeded".into()),
        job_type: Set(JobType::Backup),
        launch_type: Set(LaunchType::Scheduled),
        status: Set(status),
        failed: Set(status != JobStatus::Successful),
        started: Set(Some(finished - TimeDelta::minutes(5))),
        finished: Set(Some(finished)),
        elapsed: Set(300.0),
        policy_id: Set(Some(policy as i32)),
        client_id: Set(Some(client as i32)),
        repository_id: Set(Some(repository as i32)),
        archive_name: Set(format!("seeded-{}", finished.timestamp())),
        original_size: Set(1000),
        compressed_size: Set(500),
        deduplicated_size: Set(100),
        job_explanation: Set(if status == JobStatus::Successful {
            String::new()
        } else {
            "ssh: connect to host refused".into()
        }),
        created: Set(finished),
        modified: Set(finished),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("seed job")
    .id
}

fn state_of(page: &Value, client: i64) -> String {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["client"] == client)
        .map(|r| r["state"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no row for client {client}: {page}"))
}

/// A mail's headers with folded lines joined again (RFC 5322 folding).
fn unfolded(data: &str) -> String {
    data.replace("\r\n ", " ").replace("\n ", " ")
}

fn signature_ok(secret: &str, body: &[u8], header: &str) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    header == format!("sha256={hex}")
}

#[tokio::test]
async fn personal_tokens_read_write_expire_and_revoke() {
    let s = TestServer::start_api_only().await;
    let admin = s.admin_token.clone();
    let bearer = |t: &str| format!("Bearer {t}");
    for (body, field) in [
        (json!({"scope": "read"}), "name"),
        (json!({"name": "ci", "scope": "admin"}), "scope"),
        (json!({"name": "ci"}), "scope"),
        (
            json!({"name": "ci", "scope": "read", "expires": "tomorrow"}),
            "expires",
        ),
        (
            json!({"name": "ci", "scope": "read", "expires": "2001-01-01T00:00:00Z"}),
            "expires",
        ),
    ] {
        let (st, e) = s.post("/api/v1/me/tokens/", body.clone()).await;
        assert_eq!(st.as_u16(), 400, "{body}: {e}");
        assert!(e[field].is_array(), "{body}: {e}");
    }
    assert_eq!(
        s.get("/api/v1/me/tokens/").await.1,
        json!([]),
        "a refused create made nothing"
    );
    let (st, read) = s
        .post(
            "/api/v1/me/tokens/",
            json!({"name": "grafana", "scope": "read"}),
        )
        .await;
    assert_eq!(st.as_u16(), 201, "{read}");
    let read_token = read["token"].as_str().unwrap().to_string();
    assert!(read_token.starts_with("cbt_"));
    let (_, write) = s
        .post(
            "/api/v1/me/tokens/",
            json!({"name": "deploy", "scope": "write", "expires": (Utc::now() + TimeDelta::days(30)).to_rfc3339()}),
        )
        .await;
    let write_token = write["token"].as_str().unwrap().to_string();

    // The list never shows a secret again, and the database holds only digests.
    let (_, list) = s.get("/api/v1/me/tokens/").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("token").is_none()),
        "{list}"
    );
    let db = s.db().await;
    for row in api_token::Entity::find().all(&db).await.unwrap() {
        assert_ne!(row.token_hash, read_token);
        assert_ne!(row.token_hash, write_token);
        assert_eq!(row.token_hash.len(), 64);
    }

    let call = |method: reqwest::Method, path: &str, token: &str, body: Option<Value>| {
        let mut r = s
            .http
            .request(method, s.url(path))
            .header("authorization", bearer(token));
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send()
    };
    let r = call(reqwest::Method::GET, "/api/v1/clients/", &read_token, None)
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    for (method, path) in [
        (reqwest::Method::POST, "/api/v1/clients/"),
        (reqwest::Method::PATCH, "/api/v1/settings/"),
        (reqwest::Method::POST, "/api/v1/me/tokens/"),
        (reqwest::Method::DELETE, "/api/v1/users/1/"),
    ] {
        let r = call(
            method.clone(),
            path,
            &read_token,
            Some(json!({"hostname": "x.example.com"})),
        )
        .await
        .unwrap();
        assert_eq!(
            r.status().as_u16(),
            403,
            "{method} {path} with a read token"
        );
    }
    assert_eq!(
        s.get("/api/v1/clients/").await.1["count"],
        0,
        "the refused writes changed nothing"
    );
    let r = call(
        reqwest::Method::POST,
        "/api/v1/clients/",
        &write_token,
        Some(json!({"hostname": "w.example.com"})),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let (_, list) = s.get("/api/v1/me/tokens/").await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|t| t["last_used"].is_string()),
        "both were used: {list}"
    );

    // Another user cannot see or revoke them; the owner can.
    let (_, other) = s.regular_user("ops@test.local").await;
    let r = s
        .http
        .delete(s.url(&format!("/api/v1/me/tokens/{}/", read["id"])))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let (st, _) = s
        .delete(&format!("/api/v1/me/tokens/{}/", read["id"]))
        .await;
    assert_eq!(st.as_u16(), 204);
    let r = call(reqwest::Method::GET, "/api/v1/clients/", &read_token, None)
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "a revoked token is refused");

    // An expired token is refused.
    api_token::Entity::update_many()
        .col_expr(
            api_token::Column::Expires,
            sea_orm::sea_query::Expr::value(Utc::now() - TimeDelta::seconds(1)),
        )
        .exec(&db)
        .await
        .unwrap();
    let r = call(reqwest::Method::GET, "/api/v1/clients/", &write_token, None)
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let _ = admin;
}

#[tokio::test]
async fn health_alerts_and_their_messages_follow_the_jobs() {
    let s = TestServer::start_api_only().await;
    let f = s.fixture().await; // daily at 03:00, one client
    let db = s.db().await;
    let mut clients = vec![f.client];
    for host in [
        "late.example.com",
        "failing.example.com",
        "never.example.com",
        "off.example.com",
    ] {
        let enabled = host != "off.example.com";
        let c = s
            .create(
                "/api/v1/clients/",
                json!({"hostname": host, "enabled": enabled}),
            )
            .await;
        clients.push(c["id"].as_i64().unwrap());
    }
    let (st, p) = s
        .patch(
            &format!("/api/v1/policies/{}/", f.policy),
            json!({"clients": clients}),
        )
        .await;
    assert_eq!(st.as_u16(), 200, "{p}");
    let [ok, late, failing, never, off] = clients[..] else {
        unreachable!()
    };
    seed_backup(
        &db,
        f.policy,
        ok,
        f.repository,
        JobStatus::Successful,
        TimeDelta::hours(2),
    )
    .await;
    seed_backup(
        &db,
        f.policy,
        late,
        f.repository,
        JobStatus::Successful,
        TimeDelta::days(3),
    )
    .await;
    seed_backup(
        &db,
        f.policy,
        failing,
        f.repository,
        JobStatus::Successful,
        TimeDelta::hours(3),
    )
    .await;
    let failed_job = seed_backup(
        &db,
        f.policy,
        failing,
        f.repository,
        JobStatus::Error,
        TimeDelta::hours(1),
    )
    .await;

    let (st, page) = s.get("/api/v1/health/").await;
    assert_eq!(st.as_u16(), 200, "{page}");
    assert_eq!(page["count"], 5);
    assert_eq!(state_of(&page, ok), "ok");
    assert_eq!(state_of(&page, late), "late");
    assert_eq!(state_of(&page, failing), "failing");
    assert_eq!(state_of(&page, never), "never");
    assert_eq!(state_of(&page, off), "disabled");
    let order: Vec<&str> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        ["late", "failing", "never", "ok", "disabled"],
        "worst first"
    );
    let failing_row = &page["results"][1];
    assert_eq!(failing_row["last_attempt_job"], failed_job);
    assert!(
        failing_row["reason"].as_str().unwrap().contains("refused"),
        "{failing_row}"
    );
    assert!(page["results"][0]["late_after"].is_string());

    let (_, only_late) = s.get("/api/v1/health/?state=late").await;
    assert_eq!(only_late["count"], 1);
    let (_, two) = s
        .get("/api/v1/health/?state__in=ok,never&page_size=1")
        .await;
    assert_eq!(two["count"], 2);
    assert_eq!(two["results"].as_array().unwrap().len(), 1);
    assert!(two["next"].as_str().unwrap().contains("page=2"), "{two}");
    let (_, by_name) = s.get("/api/v1/health/?search=NEVER.example").await;
    assert_eq!(by_name["count"], 1);
    for bad in [
        "/api/v1/health/?state=sleepy",
        "/api/v1/health/?client=x",
        "/api/v1/health/?colour=red",
    ] {
        let (st, e) = s.get(bad).await;
        assert_eq!(st.as_u16(), 400, "{bad}: {e}");
    }
    let (_, summary) = s.get("/api/v1/stats/health/").await;
    assert_eq!(
        summary,
        json!({"ok": 1, "late": 1, "failing": 1, "never": 1, "disabled": 1, "alerts_open": 0})
    );
    let (st, repos) = s.get("/api/v1/health/repositories/").await;
    assert_eq!(st.as_u16(), 200);
    assert_eq!(repos[0]["added_per_day"].as_array().unwrap().len(), 30);
    let added: i64 = repos[0]["added_per_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_i64().unwrap())
        .sum();
    assert_eq!(added, 300, "three successes within 30 days added 100 each");

    // A webhook for every event and one for integrity only: the rules raise two alerts, each
    // queued once for the first channel, never for the second.
    let receiver = HttpReceiver::start().await;
    let (st, hook) = s
        .post(
            "/api/v1/notifications/",
            json!({"name": "ops", "kind": "webhook", "url": receiver.url("/hook")}),
        )
        .await;
    assert_eq!(st.as_u16(), 201, "{hook}");
    let secret = hook["secret"].as_str().expect("generated once").to_string();
    let (_, shown) = s
        .get(&format!("/api/v1/notifications/{}/", hook["id"]))
        .await;
    assert!(
        shown.get("secret").is_none() && shown["has_secret"] == true,
        "{shown}"
    );
    s.create(
        "/api/v1/notifications/",
        json!({"name": "storage", "kind": "slack", "url": receiver.url("/slack"),
               "events": ["integrity_failed"]}),
    )
    .await;

    let now = Utc::now();
    let c = alerts::evaluate(&db, now).await.unwrap();
    assert_eq!((c.raised, c.resolved), (2, 0));
    let again = alerts::evaluate(&db, now).await.unwrap();
    assert_eq!(
        (again.raised, again.resolved),
        (0, 0),
        "nothing raised twice"
    );
    let (_, open) = s
        .get("/api/v1/alerts/?resolved__isnull=true&order_by=kind")
        .await;
    let kinds: Vec<&str> = open["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["backup_failed", "backup_late"]);
    assert_eq!(s.get("/api/v1/stats/health/").await.1["alerts_open"], 2);
    let late_alert = open["results"][1]["id"].as_i64().unwrap();
    let (st, acked) = s
        .post(
            &format!("/api/v1/alerts/{late_alert}/acknowledge/"),
            json!({}),
        )
        .await;
    assert_eq!(st.as_u16(), 200, "{acked}");
    assert_eq!(acked["state"], "acknowledged");

    // The late client backs up: its alert resolves, once.
    seed_backup(
        &db,
        f.policy,
        late,
        f.repository,
        JobStatus::Successful,
        TimeDelta::minutes(1),
    )
    .await;
    let c = alerts::evaluate(&db, Utc::now()).await.unwrap();
    assert_eq!((c.raised, c.resolved), (0, 1));
    assert_eq!(
        alerts::evaluate(&db, Utc::now()).await.unwrap(),
        Default::default()
    );
    let (_, resolved) = s.get(&format!("/api/v1/alerts/{late_alert}/")).await;
    assert_eq!(resolved["state"], "resolved");
    let (st, _) = s
        .post(
            &format!("/api/v1/alerts/{late_alert}/acknowledge/"),
            json!({}),
        )
        .await;
    assert_eq!(st.as_u16(), 409);

    let queued = notification_outbox::Entity::find()
        .count(&db)
        .await
        .unwrap();
    assert_eq!(queued, 3, "raised ×2 and resolved ×1, for the webhook only");
    let secrets = Secrets::from_secret("test-secret-key");
    // The receiver is down: nothing is lost, the messages wait for their retry.
    *receiver.failing.lock().unwrap() = true;
    assert_eq!(cyborg_core::notify::round(&db, &secrets).await.unwrap(), 3);
    let waiting = notification_outbox::Entity::find()
        .filter(notification_outbox::Column::Sent.is_null())
        .all(&db)
        .await
        .unwrap();
    assert_eq!(waiting.len(), 3);
    assert!(
        waiting
            .iter()
            .all(|m| m.attempts == 1 && m.last_error.contains("503")),
        "{waiting:?}"
    );
    *receiver.failing.lock().unwrap() = false;
    notification_outbox::Entity::update_many()
        .col_expr(
            notification_outbox::Column::NextAttempt,
            sea_orm::sea_query::Expr::value(Utc::now() - TimeDelta::seconds(1)),
        )
        .exec(&db)
        .await
        .unwrap();
    cyborg_core::notify::round(&db, &secrets).await.unwrap();
    let got = receiver.received();
    assert_eq!(got.len(), 3, "{got:?}");
    let mut events = Vec::new();
    for r in &got {
        assert_eq!(r.path, "/hook");
        let sig = r.headers["x-cyborg-signature"].to_str().unwrap();
        assert!(
            signature_ok(&secret, &r.body, sig),
            "the signature verifies"
        );
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        events.push(format!(
            "{} {}",
            body["event"].as_str().unwrap(),
            body["kind"].as_str().unwrap()
        ));
    }
    events.sort();
    assert_eq!(
        events,
        [
            "raised backup_failed",
            "raised backup_late",
            "resolved backup_late"
        ]
    );
    assert_eq!(
        cyborg_core::notify::round(&db, &secrets).await.unwrap(),
        0,
        "all sent"
    );
}

#[tokio::test]
async fn notification_channels_are_validated_superuser_only_and_tested_for_real() {
    let s = TestServer::start_api_only().await;
    for (body, field) in [
        (
            json!({"name": "a", "kind": "webhook", "url": "not a url"}),
            "url",
        ),
        (
            json!({"name": "a", "kind": "webhook", "url": "ftp://x.example.com/"}),
            "url",
        ),
        (
            json!({"name": "a", "kind": "pager", "url": "https://x.example.com/"}),
            "kind",
        ),
        (
            json!({"name": "a", "kind": "email", "url": "https://x.example.com/"}),
            "url",
        ),
        (
            json!({"name": "a", "kind": "email", "url": "smtp://mail.example.com"}),
            "email_from",
        ),
        (
            json!({"name": "a", "kind": "email", "url": "smtp://u:p@mail.example.com",
                "email_from": "a@b.example", "email_to": ["c@d.example"]}),
            "url",
        ),
        (
            json!({"name": "a", "kind": "ntfy", "url": "https://ntfy.sh/x", "events": ["everything"]}),
            "events",
        ),
        (
            json!({"name": "a", "kind": "webhook", "url": "https://x.example.com/", "secret": "short"}),
            "secret",
        ),
        (
            json!({"kind": "webhook", "url": "https://x.example.com/"}),
            "name",
        ),
    ] {
        let (st, e) = s.post("/api/v1/notifications/", body.clone()).await;
        assert_eq!(st.as_u16(), 400, "{body}: {e}");
        assert!(e[field].is_array(), "{body}: {e}");
    }
    assert_eq!(s.get("/api/v1/notifications/").await.1["count"], 0);

    let (_, user) = s.regular_user("viewer@test.local").await;
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/notifications/"),
        (reqwest::Method::POST, "/api/v1/notifications/"),
    ] {
        let r = s
            .http
            .request(method, s.url(path))
            .bearer_auth(&user)
            .json(&json!({"name": "x", "kind": "slack", "url": "https://h.example.com/"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403);
    }

    // Email over a real SMTP conversation; the password is stored encrypted, never answered.
    let sink = SmtpSink::start().await;
    let (st, mail) = s
        .post(
            "/api/v1/notifications/",
            json!({"name": "mail", "kind": "email", "url": sink.url(),
                   "email_from": "cyborg@backup.example", "email_to": ["ops@backup.example", "oncall@backup.example"],
                   "username": "", "password": "smtp-Pa55word-x9", "events": ["backup_late"]}),
        )
        .await;
    assert_eq!(st.as_u16(), 201, "{mail}");
    assert!(
        mail.get("password").is_none() && mail["has_password"] == true,
        "{mail}"
    );
    let db = s.db().await;
    let raw = cyborg_core::entities::notification_channel::Entity::find_by_id(
        mail["id"].as_i64().unwrap() as i32,
    )
    .one(&db)
    .await
    .unwrap()
    .unwrap();
    assert!(!raw.password.contains("smtp-Pa55word-x9"));
    let (st, test) = s
        .post(
            &format!("/api/v1/notifications/{}/test/", mail["id"]),
            json!({}),
        )
        .await;
    assert_eq!(st.as_u16(), 200, "{test}");
    assert_eq!(test["sent"], true, "{test}");
    let got = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].from, "cyborg@backup.example");
    assert_eq!(got[0].to, ["ops@backup.example", "oncall@backup.example"]);
    assert!(
        unfolded(&got[0].data).contains("Subject: [CyBorgBackup] TEST test"),
        "{}",
        got[0].data
    );

    // ntfy and Slack formats against the HTTP receiver; a dead URL answers sent=false.
    let receiver = HttpReceiver::start().await;
    let ntfy = s
        .create(
            "/api/v1/notifications/",
            json!({"name": "phone", "kind": "ntfy", "url": receiver.url("/backups")}),
        )
        .await;
    let (_, t) = s
        .post(
            &format!("/api/v1/notifications/{}/test/", ntfy["id"]),
            json!({}),
        )
        .await;
    assert_eq!(t["sent"], true, "{t}");
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].path, "/backups");
    assert!(
        got[0].query.contains("title=%5BCyBorgBackup%5D+TEST+test"),
        "{}",
        got[0].query
    );
    assert!(String::from_utf8_lossy(&got[0].body).contains("this channel works"));
    let dead = s
        .create(
            "/api/v1/notifications/",
            json!({"name": "dead", "kind": "slack",
                   "url": format!("http://127.0.0.1:{}/x", sshd::free_port())}),
        )
        .await;
    let (_, t) = s
        .post(
            &format!("/api/v1/notifications/{}/test/", dead["id"]),
            json!({}),
        )
        .await;
    assert_eq!(t["sent"], false);
    assert!(!t["detail"].as_str().unwrap().is_empty());

    // PATCH keeps what is not sent; a password set to null is removed.
    let (st, changed) = s
        .patch(
            &format!("/api/v1/notifications/{}/", mail["id"]),
            json!({"password": null, "enabled": false}),
        )
        .await;
    assert_eq!(st.as_u16(), 200, "{changed}");
    assert_eq!(changed["has_password"], false);
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["email_to"].as_array().unwrap().len(), 2);
    let (st, _) = s
        .delete(&format!("/api/v1/notifications/{}/", mail["id"]))
        .await;
    assert_eq!(st.as_u16(), 204);
}

#[tokio::test]
async fn metrics_are_valid_exposition_format_behind_a_token() {
    let open_addr: std::net::SocketAddr =
        format!("127.0.0.1:{}", sshd::free_port()).parse().unwrap();
    let s = TestServer::start_with(Options {
        engine: false,
        scheduler: false,
        metrics_token: Some("metrics-token-0123456789"),
        metrics_addr: Some(open_addr),
    })
    .await;
    let f = s.fixture().await;
    let r = s.http.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = s
        .http
        .get(s.url("/metrics"))
        .bearer_auth("wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let text = s
        .http
        .get(s.url("/metrics"))
        .bearer_auth("metrics-token-0123456789")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the exposition format parses");
    let names: std::collections::BTreeSet<&str> =
        scrape.samples.iter().map(|s| s.metric.as_str()).collect();
    for expected in [
        "cyborg_health_state",
        "cyborg_jobs",
        "cyborg_repository_size_bytes",
        "cyborg_alerts_open",
        "cyborg_notifications_pending",
        "cyborg_catalog_entries",
        "cyborg_db_pool_connections",
        "cyborg_http_requests_total",
    ] {
        assert!(
            names.contains(expected),
            "{expected} missing from {names:?}"
        );
    }
    assert!(
        scrape
            .docs
            .contains_key("cyborg_http_request_duration_seconds"),
        "{:?}",
        scrape.docs.keys()
    );
    let never = scrape
        .samples
        .iter()
        .find(|x| {
            x.metric == "cyborg_health_state"
                && x.labels.get("client") == Some("web1.example.com")
                && x.labels.get("state") == Some("never")
        })
        .expect("the fixture's pair");
    assert!(matches!(never.value, prometheus_parse::Value::Gauge(v) if v == 1.0));
    let created = scrape.samples.iter().any(|x| {
        x.metric == "cyborg_http_requests_total"
            && x.labels.get("route") == Some("/api/v1/policies/")
            && x.labels.get("method") == Some("POST")
            && x.labels.get("status") == Some("201")
    });
    assert!(created, "the fixture's POST is counted under its route");
    // A user's read token reads it too.
    let (_, t) = s
        .post(
            "/api/v1/me/tokens/",
            json!({"name": "prom", "scope": "read"}),
        )
        .await;
    let r = s
        .http
        .get(s.url("/metrics"))
        .bearer_auth(t["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // The separate listener serves /metrics without credentials, and nothing else.
    let open = reqwest::get(format!("http://{open_addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(open.status().as_u16(), 200);
    assert!(open.text().await.unwrap().contains("cyborg_health_state"));
    let other = reqwest::get(format!("http://{open_addr}/api/v1/clients/"))
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 404);
    let _ = f;
}

#[tokio::test]
async fn old_job_logs_go_and_their_jobs_stay() {
    let s = TestServer::start_api_only().await;
    let f = s.fixture().await;
    let db = s.db().await;
    let old = seed_backup(
        &db,
        f.policy,
        f.client,
        f.repository,
        JobStatus::Successful,
        TimeDelta::days(120),
    )
    .await;
    let recent = seed_backup(
        &db,
        f.policy,
        f.client,
        f.repository,
        JobStatus::Successful,
        TimeDelta::days(10),
    )
    .await;
    for j in [old, recent] {
        for n in 1..=3 {
            job_event::ActiveModel {
                job_id: Set(j),
                counter: Set(n),
                stdout: Set(format!("line {n}")),
                created: Set(Utc::now()),
                ..Default::default()
            }
            .insert(&db)
            .await
            .unwrap();
        }
    }
    let lines = |j: i32| {
        let db = db.clone();
        async move {
            job_event::Entity::find()
                .filter(job_event::Column::JobId.eq(j))
                .count(&db)
                .await
                .unwrap()
        }
    };
    let (st, _) = s
        .patch("/api/v1/settings/", json!({"job_log_retention_days": 365}))
        .await;
    assert_eq!(st.as_u16(), 200);
    assert_eq!(
        cyborg_core::engine::monitor::prune_job_logs(&db)
            .await
            .unwrap(),
        0
    );
    assert_eq!(lines(old).await, 3);
    let (st, e) = s
        .patch("/api/v1/settings/", json!({"job_log_retention_days": 0}))
        .await;
    assert_eq!(st.as_u16(), 400, "{e}");
    let (st, _) = s
        .patch("/api/v1/settings/", json!({"job_log_retention_days": 90}))
        .await;
    assert_eq!(st.as_u16(), 200);
    assert_eq!(
        cyborg_core::engine::monitor::prune_job_logs(&db)
            .await
            .unwrap(),
        3
    );
    assert_eq!(lines(old).await, 0);
    assert_eq!(lines(recent).await, 3);
    let (st, j) = s.get(&format!("/api/v1/jobs/{old}/")).await;
    assert_eq!(st.as_u16(), 200, "the job row stays");
    assert_eq!(j["original_size"], 1000);
}

/// The scenario over a real sshd and borg: the client's sshd stops, the pair becomes
/// late, an alert is raised and each channel gets exactly one message; sshd back and a
/// successful run resolve it with exactly one "resolved" message each.
#[tokio::test]
async fn a_client_that_stops_answering_is_late_alerted_and_resolved() {
    if let Some(why) = sshd::unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let s = TestServer::start().await;
    let mut b = Borg::new(&s).await;
    // One failed attempt alone does not make the pair `failing` (no backup_failed alert to time).
    let (st, _) = s
        .patch("/api/v1/settings/", json!({"failing_after": 2}))
        .await;
    assert_eq!(st.as_u16(), 200);
    let receiver = HttpReceiver::start().await;
    let sink = SmtpSink::start().await;
    s.create(
        "/api/v1/notifications/",
        json!({"name": "hook", "kind": "webhook", "url": receiver.url("/hook")}),
    )
    .await;
    s.create(
        "/api/v1/notifications/",
        json!({"name": "mail", "kind": "email", "url": sink.url(), "events": ["backup_late"],
               "email_from": "cyborg@backup.example", "email_to": ["ops@backup.example"]}),
    )
    .await;
    let src = b.root.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.txt"), "hello").unwrap();
    // Late 36 s after the last success.
    let policy = b
        .policy(
            &s,
            "nightly",
            json!({"folders": [src.display().to_string()]}),
            json!({"max_age_hours": 0.01}),
        )
        .await;
    let chain = wait_chain(&s, launch(&s, policy).await[0], Duration::from_secs(300)).await;
    assert!(
        chain.iter().all(|j| j["status"] == "successful"),
        "{chain:?}"
    );

    b.sshd.stop();
    let chain = wait_chain(&s, launch(&s, policy).await[0], Duration::from_secs(120)).await;
    assert!(chain.iter().any(|j| j["status"] == "error"), "{chain:?}");

    let wait_alert = |kind: &'static str, open: bool| {
        let s = &s;
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            loop {
                let (_, page) = s
                    .get(&format!(
                        "/api/v1/alerts/?kind={kind}&resolved__isnull={open}"
                    ))
                    .await;
                if page["count"] == 1 {
                    return page["results"][0].clone();
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "{kind} open={open}: {page}"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    let late = wait_alert("backup_late", true).await;
    assert_eq!(late["policy"], policy);
    let (_, h) = s.get(&format!("/api/v1/health/?policy={policy}")).await;
    assert_eq!(h["results"][0]["state"], "late", "{h}");
    wait_alert("client_unreachable", true).await;
    let got = receiver.wait_for(2, Duration::from_secs(60)).await;
    let mails = sink.wait_for(1, Duration::from_secs(60)).await;
    assert!(
        unfolded(&mails[0].data).contains("RAISED backup_late"),
        "{}",
        mails[0].data
    );
    let text = s
        .http
        .get(s.url("/metrics"))
        .bearer_auth(&s.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("cyborg_health_state{")
            && l.contains("state=\"late\"")
            && l.contains("policy=\"nightly\"")
            && l.ends_with(" 1")),
        "{text}"
    );

    b.sshd.restart();
    let chain = wait_chain(&s, launch(&s, policy).await[0], Duration::from_secs(300)).await;
    assert!(
        chain.iter().all(|j| j["status"] == "successful"),
        "{chain:?}"
    );
    wait_alert("backup_late", false).await;
    wait_alert("client_unreachable", false).await;
    receiver.wait_for(4, Duration::from_secs(60)).await;
    sink.wait_for(2, Duration::from_secs(60)).await;
    // Evaluations go on: nothing is sent twice.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let mut events: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            format!(
                "{} {}",
                v["event"].as_str().unwrap(),
                v["kind"].as_str().unwrap()
            )
        })
        .collect();
    events.sort();
    assert_eq!(
        events,
        [
            "raised backup_late",
            "raised client_unreachable",
            "resolved backup_late",
            "resolved client_unreachable"
        ]
    );
    let mails = sink.received();
    assert_eq!(mails.len(), 2);
    assert!(
        unfolded(&mails[1].data).contains("RESOLVED backup_late"),
        "{}",
        mails[1].data
    );
    let _ = got;
}

/// A job running past its policy's time limit is stopped like a cancel and ends in error with
/// the reason.
#[tokio::test]
async fn a_job_past_its_time_limit_is_stopped() {
    if let Some(why) = sshd::unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let s = TestServer::start().await;
    let b = Borg::new(&s).await;
    let (policy, src) = b.slow_policy(&s, "huge").await;
    let (st, p) = s
        .patch(
            &format!("/api/v1/policies/{policy}/"),
            json!({"time_limit_hours": 0.002}),
        )
        .await;
    assert_eq!(st.as_u16(), 200, "{p}");
    let (st, e) = s
        .patch(
            &format!("/api/v1/policies/{policy}/"),
            json!({"time_limit_hours": -1}),
        )
        .await;
    assert_eq!(st.as_u16(), 400, "{e}");
    assert!(e["time_limit_hours"].is_array());
    let started = std::time::Instant::now();
    let chain = wait_chain(&s, launch(&s, policy).await[0], Duration::from_secs(120)).await;
    assert_eq!(chain[0]["status"], "error", "{chain:?}");
    assert!(
        chain[0]["job_explanation"]
            .as_str()
            .unwrap()
            .contains("time limit"),
        "{}",
        chain[0]["job_explanation"]
    );
    assert!(started.elapsed() < Duration::from_secs(90));
    assert!(
        !crate::common::borg::process_running(&src.display().to_string()),
        "borg was stopped"
    );
}
