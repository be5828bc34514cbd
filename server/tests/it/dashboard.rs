//! The dashboard's server functions (`/rpc/…`) over real HTTP, and the backend's own logic (the
//! next runs merged across policies and months). Runs on SQLite and PostgreSQL (CYBORG_TEST_DB).

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, TestServer};
use app::dto::{FormOutcome, Overview, Page, Schedule, SchedulePreview, SessionUser};
use chrono::{DateTime, TimeDelta, Utc};
use cyborg_core::{
    entities::{job, user},
    secrets::Secrets,
    services::Actor,
    services::overview::next_runs,
    state::AppState,
};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::json;

/// Calls a server function with a JSON body (`input = Json`: every function but the login and
/// logout, which plain HTML forms post url-encoded).
async fn rpc(
    s: &TestServer,
    name: &str,
    body: serde_json::Value,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let req = s.http.post(s.url(&format!("/rpc/{name}"))).json(&body);
    send(req, cookie, headers).await
}

/// Calls the login or logout with a url-encoded form, as their HTML forms do.
async fn rpc_form(
    s: &TestServer,
    name: &str,
    form: &[(&str, &str)],
    cookie: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let req = s.http.post(s.url(&format!("/rpc/{name}"))).form(form);
    send(req, cookie, headers).await
}

async fn send(
    mut req: reqwest::RequestBuilder,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    if let Some(c) = cookie {
        req = req.header("cookie", format!("cyborg_session={c}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("rpc request")
}

/// Logs in through the server function; answers the session token and the Set-Cookie line.
async fn login(s: &TestServer, next: &str, headers: &[(&str, &str)]) -> (String, String, String) {
    let resp = rpc_form(
        s,
        "login",
        &[
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
            ("next", next),
        ],
        None,
        headers,
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let set_cookie = resp
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_string();
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let token = set_cookie
        .strip_prefix("cyborg_session=")
        .or_else(|| set_cookie.strip_prefix("__Host-cyborg_session="))
        .and_then(|r| r.split(';').next())
        .unwrap()
        .to_string();
    (token, set_cookie, location)
}

async fn seed_job(s: &TestServer, status: &str, finished_ago: Option<TimeDelta>) -> i32 {
    let t = Utc::now();
    job::ActiveModel {
        uuid: Set(uuid::Uuid::new_v4().to_string()),
        name: Set(format!("seeded {status}")),
        job_type: Set(cyborg_dto::JobType::Backup),
        launch_type: Set(cyborg_dto::LaunchType::Manual),
        status: Set(cyborg_dto::JobStatus::parse(status).expect("a job status")),
        failed: Set(matches!(status, "failed" | "error")),
        started: Set(finished_ago.map(|d| t - d - TimeDelta::minutes(1))),
        finished: Set(finished_ago.map(|d| t - d)),
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
    .insert(&s.db().await)
    .await
    .expect("seed job")
    .id
}

#[tokio::test]
async fn login_sets_the_same_cookie_as_the_api_and_refuses_wrong_passwords() {
    let s = TestServer::start_api_only().await;
    let wrong = rpc_form(
        &s,
        "login",
        &[("email", ADMIN_EMAIL), ("password", "wrong"), ("next", "/")],
        None,
        &[],
    )
    .await;
    // A refused pair is the form's answer (200 with the message), not a failed call: an error
    // status would be logged by the browser as a failed request.
    assert_eq!(wrong.status(), StatusCode::OK);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert!(wrong.text().await.unwrap().contains("No active account"));

    let (token, cookie, location) = login(&s, "/jobs?status=failed", &[]).await;
    assert_eq!(
        cookie,
        format!("cyborg_session={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200")
    );
    assert_eq!(location, "/jobs?status=failed");
    // The REST API's session login writes the very same cookie.
    let api = s
        .http
        .post(s.url("/api/session/"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let api_cookie = api.headers()["set-cookie"].to_str().unwrap().to_string();
    let api_token = api_cookie
        .strip_prefix("cyborg_session=")
        .and_then(|r| r.split(';').next())
        .unwrap();
    assert_eq!(api_cookie, cookie.replace(&token, api_token));

    // Behind a TLS proxy the cookie is Secure and `__Host-` (the browser then refuses it from
    // any other host or path); `next` only ever names a local path.
    let (_, secure, _) = login(&s, "/", &[("x-forwarded-proto", "https")]).await;
    assert!(secure.ends_with("; Secure"), "{secure}");
    assert!(secure.starts_with("__Host-cyborg_session="), "{secure}");
    for evil in [
        "//evil.example/x",
        "http://evil.example/",
        "/\\evil.example",
        "jobs",
        "",
    ] {
        let (_, _, location) = login(&s, evil, &[]).await;
        assert_eq!(location, "/", "next={evil:?}");
    }
}

#[tokio::test]
async fn session_user_and_logout() {
    let s = TestServer::start_api_only().await;
    let (token, _, _) = login(&s, "/", &[]).await;
    let me: Option<SessionUser> = rpc(&s, "session_user", json!({}), Some(&token), &[])
        .await
        .json()
        .await
        .unwrap();
    let me = me.expect("a live session");
    assert_eq!(me.email, ADMIN_EMAIL);
    assert!(me.is_superuser);
    let nobody: Option<SessionUser> = rpc(&s, "session_user", json!({}), None, &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(nobody, None);

    let out = rpc_form(&s, "logout", &[], Some(&token), &[]).await;
    assert_eq!(out.status(), StatusCode::OK);
    assert_eq!(out.headers()["location"], "/login");
    assert_eq!(
        out.headers()["set-cookie"],
        "cyborg_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
    );
    let gone: Option<SessionUser> = rpc(&s, "session_user", json!({}), Some(&token), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(gone, None, "the session is deleted, not just the cookie");
    let api = s
        .http
        .get(s.url("/api/v1/me/"))
        .header("cookie", format!("cyborg_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn overview_counts_stats_and_last_jobs() {
    let s = TestServer::start_api_only().await;
    let f = s.fixture().await;
    s.create("/api/v1/clients/", json!({"hostname": "db1.example.com"}))
        .await;
    let no_session = rpc(&s, "overview", json!({}), None, &[]).await;
    assert_eq!(no_session.status(), StatusCode::UNAUTHORIZED);
    let expired = rpc(&s, "overview", json!({}), Some("not-a-session"), &[]).await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);

    let (token, _, _) = login(&s, "/", &[]).await;
    let o: Overview = rpc(&s, "overview", json!({}), Some(&token), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            o.clients,
            o.policies,
            o.repositories,
            o.jobs_running,
            o.jobs_failed_24h
        ),
        (2, 1, 1, 0, 0)
    );
    assert_eq!(o.stats.len(), 30);
    assert!(o.last_jobs.is_empty());
    // "0 3 * * * *": daily at 03:00, so the next 10 runs are 10 days apart by one day each.
    assert_eq!(o.next_runs.len(), 10);
    let now = Utc::now();
    for w in o.next_runs.windows(2) {
        assert_eq!(w[1].at - w[0].at, TimeDelta::days(1));
    }
    assert!(
        o.next_runs
            .iter()
            .all(|r| r.at > now && r.policy_id == f.policy as i32)
    );

    let old_failure = seed_job(&s, "failed", Some(TimeDelta::days(2))).await;
    let failed = seed_job(&s, "failed", Some(TimeDelta::hours(1))).await;
    let error = seed_job(&s, "error", Some(TimeDelta::hours(5))).await;
    let running = seed_job(&s, "running", None).await;
    let ok = seed_job(&s, "successful", Some(TimeDelta::minutes(5))).await;
    let o: Overview = rpc(&s, "overview", json!({}), Some(&token), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((o.jobs_running, o.jobs_failed_24h), (1, 2));
    let ids: Vec<i32> = o.last_jobs.iter().map(|j| j.id).collect();
    assert_eq!(ids, vec![ok, running, error, failed, old_failure]);
    let today = o.stats.last().unwrap();
    assert_eq!(today.date, now.format("%Y-%m-%d").to_string());
    assert!(today.success >= 1);
}

async fn state_and_admin(s: &TestServer) -> (AppState, Actor) {
    let db = s.db().await;
    let admin = user::Entity::find().one(&db).await.unwrap().unwrap();
    let st = AppState::new(
        db,
        Secrets::from_secret("test-secret-key"),
        s.data_dir.clone(),
        // No path search index: these tests do not search the catalog.
        0,
    );
    (st, Actor::new(admin))
}

#[tokio::test]
async fn next_runs_merge_policies_in_time_order_across_a_month_end() {
    let s = TestServer::start_api_only().await;
    let repo = s
        .create(
            "/api/v1/repositories/",
            json!({"name": "R", "path": "/srv/r"}),
        )
        .await["id"]
        .clone();
    let client = s
        .create("/api/v1/clients/", json!({"hostname": "c.example.com"}))
        .await["id"]
        .clone();
    let policy = |name: &'static str, crontab: &'static str, enabled: bool| {
        let s = &s;
        let (repo, client) = (repo.clone(), client.clone());
        async move {
            let sched = s
                .create(
                    "/api/v1/schedules/",
                    json!({"name": name, "crontab": crontab}),
                )
                .await["id"]
                .clone();
            s.create(
                "/api/v1/policies/",
                json!({"name": name, "policy_type": "config", "repository": repo,
                       "schedule": sched, "clients": [client], "enabled": enabled}),
            )
            .await["id"]
                .as_i64()
                .unwrap() as i32
        }
    };
    let a = policy("A two-hourly", "0 */2 * * *", true).await;
    let b = policy("B hourly at half past", "30 * * * *", true).await;
    policy("C disabled", "*/5 * * * *", false).await;
    let (st, admin) = state_and_admin(&s).await;
    let now: DateTime<Utc> = "2026-11-30T20:10:00Z".parse().unwrap();
    let runs = next_runs(&st, &admin, now).await.unwrap();
    let got: Vec<(String, i32)> = runs
        .iter()
        .map(|r| (r.at.format("%d %H:%M").to_string(), r.policy_id))
        .collect();
    let want: Vec<(String, i32)> = [
        ("30 20:30", b),
        ("30 21:30", b),
        ("30 22:00", a),
        ("30 22:30", b),
        ("30 23:30", b),
        ("01 00:00", a),
        ("01 00:30", b),
        ("01 01:30", b),
        ("01 02:00", a),
        ("01 02:30", b),
    ]
    .into_iter()
    .map(|(t, p)| (t.to_string(), p))
    .collect();
    assert_eq!(got, want);

    // Mid-month, this month's runs suffice; the disabled policy never shows.
    let mid: DateTime<Utc> = "2026-11-10T00:00:00Z".parse().unwrap();
    let runs = next_runs(&st, &admin, mid).await.unwrap();
    assert_eq!(runs.len(), 10);
    assert!(runs.iter().all(|r| r.policy_id == a || r.policy_id == b));
    assert!(runs.windows(2).all(|w| w[0].at <= w[1].at));
}

#[test]
fn next_paths_must_be_local() {
    use app::dashboard::{login_url, safe_next};
    assert_eq!(safe_next("/jobs?status=failed"), "/jobs?status=failed");
    for evil in [
        "//evil.example",
        "http://evil.example/",
        "/\\evil",
        "evil",
        "",
        "/a\nb",
    ] {
        assert_eq!(safe_next(evil), "/", "{evil:?}");
    }
    assert_eq!(login_url("/jobs"), "/login?next=/jobs");
    assert_eq!(
        login_url("/clients?x=1&y=2"),
        "/login?next=/clients%3Fx%3D1%26y%3D2"
    );
    assert_eq!(login_url("//evil"), "/login?next=/");
}

/// The schedule editor's server functions: the preview (runs or the save's message, never an
/// error status), saves answering the service's messages by field, a delete refused while a
/// policy uses the schedule (naming it), and the list engine behind the page.
#[tokio::test]
async fn schedule_functions_preview_save_refuse_and_list() {
    let s = TestServer::start_api_only().await;
    let f = s.fixture().await;
    let (token, _, _) = login(&s, "/", &[]).await;
    let call = |name: &'static str, body: serde_json::Value| {
        let (s, token) = (&s, token.clone());
        async move { rpc(s, name, body, Some(&token), &[]).await }
    };

    let preview: SchedulePreview = call("schedule_preview", json!({"crontab": "*/20 * * * *"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(preview.error, "");
    assert_eq!(preview.runs.len(), 5);
    for w in preview.runs.windows(2) {
        assert_eq!(w[1] - w[0], TimeDelta::minutes(20));
    }
    let bad = call("schedule_preview", json!({"crontab": "61 * * * *"})).await;
    assert_eq!(bad.status(), StatusCode::OK);
    let bad: SchedulePreview = bad.json().await.unwrap();
    assert!(bad.runs.is_empty());
    assert!(bad.error.to_lowercase().contains("minute"), "{}", bad.error);

    let before = s.get("/api/v1/schedules/").await.1["count"].clone();
    let refused = call(
        "save_schedule",
        json!({"name": "", "crontab": "61 * * * *", "enabled": true}),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::OK);
    let FormOutcome::Invalid(fields) = refused.json::<FormOutcome<Schedule>>().await.unwrap()
    else {
        panic!("a blank name and a bad crontab are refused");
    };
    assert!(fields.contains_key("name"), "{fields:?}");
    assert!(fields.contains_key("crontab"), "{fields:?}");
    assert_eq!(s.get("/api/v1/schedules/").await.1["count"], before);

    let saved = call(
        "save_schedule",
        json!({"name": "Every quarter hour", "crontab": "*/15 * * * *", "enabled": true}),
    )
    .await
    .json::<FormOutcome<Schedule>>()
    .await
    .unwrap();
    let FormOutcome::Saved(created) = saved else {
        panic!("saved: {saved:?}");
    };
    assert_eq!(created.crontab, "*/15 * * * *");
    let updated = call(
        "save_schedule",
        json!({"id": created.id, "name": "Every quarter hour", "crontab": "5,20,35,50 * * * *", "enabled": false}),
    )
    .await
    .json::<FormOutcome<Schedule>>()
    .await
    .unwrap();
    assert!(
        matches!(&updated, FormOutcome::Saved(u) if u.id == created.id && !u.enabled && u.crontab == "5,20,35,50 * * * *"),
        "{updated:?}"
    );

    let used_by: Vec<String> = call("schedule_dependents", json!({"id": f.schedule}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(used_by, vec!["Web config".to_string()]);
    let in_use = call("delete_schedule", json!({"id": f.schedule})).await;
    assert_eq!(in_use.status(), StatusCode::OK);
    let message: Option<String> = in_use.json().await.unwrap();
    assert!(message.is_some_and(|m| !m.is_empty()));
    assert_eq!(
        s.get(&format!("/api/v1/schedules/{}/", f.schedule)).await.0,
        StatusCode::OK
    );
    let deleted: Option<String> = call("delete_schedule", json!({"id": created.id}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(deleted, None);
    assert_eq!(
        s.get(&format!("/api/v1/schedules/{}/", created.id)).await.0,
        StatusCode::NOT_FOUND
    );

    let page: Page<Schedule> = call(
        "schedules",
        json!({"search": "night", "order_by": "-name", "page": 1}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(page.count, 1);
    assert_eq!(page.results[0].name, "Nightly");
    // A sort the list engine does not know is the caller's mistake: 400, not 500.
    let wrong = call(
        "schedules",
        json!({"search": "", "order_by": "no_such_field", "page": 1}),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);

    // A regular user may read but not write: the refusal is the form's answer.
    s.regular_user("operator@test.local").await;
    let resp = rpc_form(
        &s,
        "login",
        &[
            ("email", "operator@test.local"),
            ("password", "user-password"),
            ("next", "/"),
        ],
        None,
        &[],
    )
    .await;
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    let user_session = cookie
        .trim_start_matches("cyborg_session=")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let forbidden = rpc(
        &s,
        "save_schedule",
        json!({"name": "mine", "crontab": "* * * * *", "enabled": true}),
        Some(&user_session),
        &[],
    )
    .await;
    assert_eq!(forbidden.status(), StatusCode::OK);
    let outcome: FormOutcome<Schedule> = forbidden.json().await.unwrap();
    assert!(
        matches!(&outcome, FormOutcome::Invalid(f) if f.contains_key("form")),
        "{outcome:?}"
    );
    assert_eq!(
        s.get("/api/v1/schedules/?name=mine").await.1["count"],
        json!(0)
    );
    // Calls that are not a form keep the service's status, as the REST API answers it:
    // forbidden 403, not found 404, a conflict 409 (once all 400).
    let client = s
        .create("/api/v1/clients/", json!({"hostname": "h.example.com"}))
        .await["id"]
        .clone();
    let folder = s
        .create(
            "/api/v1/repositories/",
            json!({"name": "Local", "path": "/srv/local"}),
        )
        .await["id"]
        .clone();
    let scan = json!({"kind": "client", "id": client, "op": "Scan"});
    let not_allowed = rpc(&s, "host_key", scan, Some(&user_session), &[]).await;
    assert_eq!(not_allowed.status(), StatusCode::FORBIDDEN);
    let admin_session = login(&s, "/", &[]).await.0;
    let read = |kind: &str, id: serde_json::Value| json!({"kind": kind, "id": id, "op": "Read"});
    let missing = rpc(
        &s,
        "host_key",
        read("client", json!(999999)),
        Some(&admin_session),
        &[],
    );
    assert_eq!(missing.await.status(), StatusCode::NOT_FOUND);
    let no_host = rpc(
        &s,
        "host_key",
        read("repository", folder),
        Some(&admin_session),
        &[],
    );
    let no_host = no_host.await;
    assert_eq!(no_host.status(), StatusCode::CONFLICT);
    let error = no_host.text().await.unwrap();
    assert!(
        error.starts_with("409|") && error.contains("folder"),
        "{error}"
    );
    let no_session = rpc(
        &s,
        "save_schedule",
        json!({"name": "x", "crontab": "* * * * *", "enabled": true}),
        None,
        &[],
    )
    .await;
    assert_eq!(no_session.status(), StatusCode::UNAUTHORIZED);
}

/// The resource pages' functions: rows of the API's objects with secrets left out, saves typed
/// from form values (the service's messages by field, nothing stored on refusal), partial
/// updates that keep an empty secret, pickers by name, dependents named, and refusals answered
/// as the form's message.
#[tokio::test]
async fn resource_functions_list_save_pick_and_delete() {
    use app::resources::{Choices, ResourceRow};
    let s = TestServer::start_api_only().await;
    let f = s.fixture().await;
    let (token, _, _) = login(&s, "/", &[]).await;
    let call = |name: &'static str, body: serde_json::Value| {
        let (s, token) = (&s, token.clone());
        async move { rpc(s, name, body, Some(&token), &[]).await }
    };
    let save = |body: serde_json::Value| {
        let (s, token) = (&s, token.clone());
        async move {
            s.http
                .post(s.url("/rpc/save_resource"))
                .header("cookie", format!("cyborg_session={token}"))
                .json(&body)
                .send()
                .await
                .expect("save_resource")
        }
    };

    // The repository list as rows: cells by column, the passphrase in neither cells nor values.
    let page: Page<ResourceRow> = call(
        "resources",
        json!({"kind": "repositories", "search": "", "order_by": "", "page": 1}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(page.count, 1);
    let main = &page.results[0];
    assert_eq!(main.id as i64, f.repository);
    assert_eq!(main.label, "Main");
    // One cell a column, made from the typed repository.
    assert_eq!(
        main.cells,
        [
            "Main",
            "/srv/borg/main",
            "0 B",
            "0 B",
            "no",
            "yes",
            "",
            "",
            "not_needed"
        ]
    );
    assert_eq!(main.values["repository_key"], "");
    let policies: Page<ResourceRow> = call(
        "resources",
        json!({"kind": "policies", "search": "", "order_by": "", "page": 1}),
    )
    .await
    .json()
    .await
    .unwrap();
    let web = &policies.results[0];
    assert_eq!(web.cells.len(), 7);
    assert_eq!(
        web.cells[..5],
        [
            "Web config",
            "config",
            "web1.example.com",
            "Main",
            "Nightly"
        ]
    );
    assert!(web.cells[5].ends_with('Z'), "next run: {:?}", web.cells);
    assert_eq!(web.cells[6], "yes");
    let raw = serde_json::to_string(&page).unwrap();
    assert!(!raw.contains("s3cret-passphrase"), "{raw}");

    // A refused client: mistyped port and blank hostname, both under their fields; nothing stored.
    let before = s.get("/api/v1/clients/").await.1["count"].clone();
    let refused = save(json!({"kind": "clients", "id": null, "values": {
        "hostname": "", "port": "22x", "username": "root", "enabled": "true"}}))
    .await;
    assert_eq!(refused.status(), StatusCode::OK);
    let FormOutcome::Invalid(fields) = refused.json::<FormOutcome<ResourceRow>>().await.unwrap()
    else {
        panic!("refused");
    };
    assert!(fields.contains_key("port"), "{fields:?}");
    let refused = save(json!({"kind": "clients", "id": null, "values": {
        "hostname": "", "port": "22", "username": "root", "enabled": "true"}}))
    .await
    .json::<FormOutcome<ResourceRow>>()
    .await
    .unwrap();
    assert!(
        matches!(&refused, FormOutcome::Invalid(f) if f.contains_key("hostname")),
        "{refused:?}"
    );
    assert_eq!(s.get("/api/v1/clients/").await.1["count"], before);

    let created = save(json!({"kind": "clients", "id": null, "values": {
        "hostname": "db1.example.com", "port": "2222", "username": "backup",
        "bandwidth_limit": "", "enabled": "true"}}))
    .await
    .json::<FormOutcome<ResourceRow>>()
    .await
    .unwrap();
    let FormOutcome::Saved(db1) = created else {
        panic!("{created:?}");
    };
    let (_, api) = s.get(&format!("/api/v1/clients/{}/", db1.id)).await;
    assert_eq!(api["port"], json!(2222));
    assert_eq!(api["username"], json!("backup"));
    assert_eq!(api["bandwidth_limit"], serde_json::Value::Null);

    // Editing the repository with an empty passphrase keeps the stored one.
    let edited = save(
        json!({"kind": "repositories", "id": f.repository, "values": {
        "name": "Main store", "path": "/srv/borg/main", "repository_key": "", "enabled": "true"}}),
    )
    .await
    .json::<FormOutcome<ResourceRow>>()
    .await
    .unwrap();
    assert!(
        matches!(&edited, FormOutcome::Saved(r) if r.label == "Main store"),
        "{edited:?}"
    );
    let (_, repo) = s
        .get(&format!("/api/v1/repositories/{}/", f.repository))
        .await;
    assert_eq!(repo["repository_key"], json!("s3cret-passphrase"));

    // The policy form picks by name.
    let choices: Choices = call("resource_choices", json!({"kind": "policies"}))
        .await
        .json()
        .await
        .unwrap();
    let labels =
        |field: &str| -> Vec<String> { choices[field].iter().map(|c| c.label.clone()).collect() };
    assert_eq!(labels("clients"), ["db1.example.com", "web1.example.com"]);
    assert_eq!(labels("repository"), ["Main store"]);
    assert!(labels("schedule")[0].starts_with("Nightly ("));
    let policy = save(json!({"kind": "policies", "id": null, "values": {
        "name": "DB folders", "policy_type": "folders",
        "extra_vars": "{\"folders\": [\"/srv/db\"]}",
        "clients": format!("{},{}", db1.id, f.client), "repository": f.repository.to_string(),
        "schedule": f.schedule.to_string(), "keep_daily": "7", "keep_hourly": "",
        "vmprovider": "", "mode_pull": "false", "enabled": "true"}}))
    .await
    .json::<FormOutcome<ResourceRow>>()
    .await
    .unwrap();
    let FormOutcome::Saved(policy) = policy else {
        panic!("{policy:?}");
    };
    let (_, api) = s.get(&format!("/api/v1/policies/{}/", policy.id)).await;
    assert_eq!(api["keep_daily"], json!(7));
    assert_eq!(api["keep_hourly"], serde_json::Value::Null);
    let mut clients: Vec<i64> = serde_json::from_value(api["clients"].clone()).unwrap();
    clients.sort_unstable();
    assert_eq!(
        clients,
        [f.client.min(db1.id as i64), f.client.max(db1.id as i64)]
    );

    // Dependents: the repository's policies; a repository in use is refused with the message.
    let names: Vec<String> = call(
        "resource_dependents",
        json!({"kind": "repositories", "id": f.repository}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(names, ["policy DB folders", "policy Web config"]);
    let in_use: Option<String> = call(
        "delete_resource",
        json!({"kind": "repositories", "id": f.repository}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(in_use.is_some_and(|m| m.contains("DB folders")));
    assert_eq!(
        s.get(&format!("/api/v1/repositories/{}/", f.repository))
            .await
            .0,
        StatusCode::OK
    );
    // A client's delete takes it out of its policies.
    let deleted: Option<String> = call("delete_resource", json!({"kind": "clients", "id": db1.id}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(deleted, None);
    let (_, api) = s.get(&format!("/api/v1/policies/{}/", policy.id)).await;
    assert_eq!(api["clients"], json!([f.client]));
    // The last superuser cannot go: the refusal is the delete's answer.
    let (_, me) = s.get("/api/v1/me/").await;
    let admin = me["results"][0]["id"].as_i64().unwrap();
    let last: Option<String> = call("delete_resource", json!({"kind": "users", "id": admin}))
        .await
        .json()
        .await
        .unwrap();
    assert!(last.is_some(), "the last superuser was deleted");
    // An unknown kind is the caller's mistake.
    let wrong = call(
        "resources",
        json!({"kind": "archives", "search": "", "order_by": "", "page": 1}),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    // So is a save whose JSON does not match the function's arguments.
    let malformed = save(json!({"kind": "clients", "values": "not a map"})).await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
}

/// The jobs pages' functions: the list filtered by status and newest first, a job with the end
/// of its log and the counter the browser follows from, a cancel of a finished job and a launch
/// of a policy without clients refused as the button's message, filters by name.
#[tokio::test]
async fn job_functions_list_show_and_refuse() {
    use app::{dashboard::JobOutcome, dto::JobView, resources::Choices};
    use cyborg_core::entities::job_event;
    let s = TestServer::start_api_only().await;
    let f = s.fixture().await;
    let (token, _, _) = login(&s, "/", &[]).await;
    let call = |name: &'static str, body: serde_json::Value| {
        let (s, token) = (&s, token.clone());
        async move { rpc(s, name, body, Some(&token), &[]).await }
    };
    let done = seed_job(&s, "successful", Some(TimeDelta::minutes(5))).await;
    let failed = seed_job(&s, "failed", Some(TimeDelta::minutes(2))).await;
    let db = s.db().await;
    for counter in 1..=3 {
        job_event::ActiveModel {
            job_id: Set(done),
            counter: Set(counter),
            stdout: Set(format!("line {counter}")),
            created: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
    }
    let list = |status: &str| {
        call(
            "jobs",
            json!({"status": status, "job_type": "", "policy": "", "client": "", "page": 1}),
        )
    };
    let all: Page<app::dto::Job> = list("").await.json().await.unwrap();
    assert_eq!(
        all.results.iter().map(|j| j.id).collect::<Vec<_>>(),
        [failed, done],
        "newest first"
    );
    let only: Page<app::dto::Job> = list("failed").await.json().await.unwrap();
    assert_eq!(only.count, 1);
    assert_eq!(only.results[0].id, failed);
    let none: Page<app::dto::Job> = list("nonsense").await.json().await.unwrap();
    assert_eq!(none.count, 0);

    let v: JobView = call("job", json!({"id": done})).await.json().await.unwrap();
    assert_eq!(v.job.id, done);
    assert_eq!(v.lines, ["line 1", "line 2", "line 3"]);
    assert_eq!(v.last_counter, 3);
    assert_eq!(v.total_lines, 3);
    assert_eq!(
        call("job", json!({"id": 999999})).await.status(),
        StatusCode::NOT_FOUND
    );
    // Arguments the function cannot decode (a mistyped id, a missing one, a body that is not
    // JSON, a url-encoded form) are the caller's mistake too, and change nothing.
    for body in [json!({"id": "seven"}), json!({}), json!([1, 2])] {
        assert_eq!(call("job", body).await.status(), StatusCode::BAD_REQUEST);
    }
    let not_json = s
        .http
        .post(s.url("/rpc/cancel_job"))
        .header("cookie", format!("cyborg_session={token}"))
        .header("content-type", "application/json")
        .body("{\"id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    // A form post with the session cookie is what a forged cross-site form sends: refused
    // before any argument is read.
    let form = rpc_form(&s, "cancel_job", &[("id", "1")], Some(&token), &[]).await;
    assert_eq!(form.status(), StatusCode::FORBIDDEN);

    let refused: JobOutcome = call("cancel_job", json!({"id": done}))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        matches!(refused, JobOutcome::Refused(ref m) if !m.is_empty()),
        "{refused:?}"
    );
    // A policy whose only client is disabled launches nothing, and says so.
    s.http
        .patch(s.url(&format!("/api/v1/clients/{}/", f.client)))
        .basic_auth(ADMIN_EMAIL, Some(ADMIN_PASSWORD))
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    let nothing: JobOutcome = call("launch_policy", json!({"id": f.policy}))
        .await
        .json()
        .await
        .unwrap();
    assert!(matches!(nothing, JobOutcome::Refused(_)), "{nothing:?}");
    assert_eq!(s.get("/api/v1/jobs/").await.1["count"], json!(2));

    let filters: Choices = call("job_filters", json!({})).await.json().await.unwrap();
    assert_eq!(filters["policy"][0].label, "Web config");
    assert_eq!(filters["client"][0].label, "web1.example.com");
}

/// The catalog browser's functions: the archives, the top of an archive of two `folders`
/// sources showing the folders above them (implied, not archived), one folder's items with
/// their details, and a path search.
#[tokio::test]
async fn catalog_functions_walk_from_the_top_and_search() {
    use app::dto::{ArchiveRef, CatalogDir, CatalogEntry, CatalogItem};
    use cyborg_core::catalog;
    let s = TestServer::start_api_only().await;
    let f = s.fixture().await;
    let (token, _, _) = login(&s, "/", &[]).await;
    let call = |name: &'static str, body: serde_json::Value| {
        let (s, token) = (&s, token.clone());
        async move { rpc(s, name, body, Some(&token), &[]).await }
    };
    let (_, archive) =
        crate::common::seed_archive(&s, f.repository, "folders-web1-2030", &[]).await;
    let line = |path: &str, dir: bool, size: i64| {
        json!({
            "type": if dir { "d" } else { "-" },
            "mode": if dir { "drwxr-xr-x" } else { "-rw-r-----" },
            "user": "www-data", "group": "adm", "uid": 33, "gid": 4, "path": path,
            "healthy": true, "source": "", "linktarget": "", "flags": 0, "size": size,
            "mtime": "2030-01-02T03:04:05.000000"
        })
        .to_string()
    };
    // borg lists each source with what is below it; the folders above (srv, home) are not items.
    let text = [
        line("srv/www", true, 0),
        line("srv/www/index.html", false, 1234),
        line("srv/www/img", true, 0),
        line("srv/www/img/Logo.PNG", false, 99),
        line("home/ann", true, 0),
        line("home/ann/notes.txt", false, 7),
    ]
    .join("\n");
    catalog::ingest(&s.db().await, archive, text.as_bytes())
        .await
        .unwrap();

    let archives: Vec<ArchiveRef> = call("catalog_archives", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(archives.len(), 1);
    assert_eq!(archives[0].name, "folders-web1-2030");
    let dir = |d: &'static str| {
        let call = &call;
        async move {
            let page: CatalogDir = call(
                "catalog_dir",
                json!({"archive": archive, "dir": d, "after": ""}),
            )
            .await
            .json()
            .await
            .unwrap();
            assert_eq!(page.next, None);
            page.items
        }
    };
    let names = |items: &[CatalogItem]| -> Vec<(String, bool, bool)> {
        items
            .iter()
            .map(|i| (i.name.clone(), i.is_dir, i.id > 0))
            .collect()
    };
    let top = dir("").await;
    assert_eq!(
        names(&top),
        [("home".into(), true, false), ("srv".into(), true, false)],
        "implied folders, not archived"
    );
    assert_eq!(names(&dir("srv").await), [("www".into(), true, true)]);
    let www = dir("srv/www").await;
    assert_eq!(
        names(&www),
        [
            ("img".into(), true, true),
            ("index.html".into(), false, true)
        ]
    );
    let index = &www[1];
    assert_eq!(
        (index.path.as_str(), index.size, index.mode.as_str()),
        ("srv/www/index.html", 1234, "-rw-r-----")
    );
    assert_eq!(
        (index.owner.as_str(), index.group.as_str()),
        ("www-data", "adm")
    );
    assert_eq!(
        index.mtime.unwrap().to_rfc3339(),
        "2030-01-02T03:04:05+00:00"
    );

    let hits: Page<CatalogEntry> = call("catalog_search", json!({"text": "logo.png"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(hits.count, 1);
    assert_eq!(hits.results[0].path, "srv/www/img/Logo.PNG");
    assert_eq!(hits.results[0].archive_name, "folders-web1-2030");
    // An unknown archive is not found, as in the REST API.
    let missing = call(
        "catalog_dir",
        json!({"archive": 999999, "dir": "", "after": ""}),
    )
    .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

/// The calendar's month grid: counts per day and policy (an every-minute policy counted, not
/// listed), conflicts only between policies of one repository less than a minute apart, the
/// day lists (conflicts first in, then the earliest runs, in time order), the weekday of the
/// 1st and today.
#[tokio::test]
async fn month_view_counts_lists_and_flags_conflicts() {
    use app::dto::DAY_RUNS_SHOWN;
    use cyborg_core::services::calendar::month_view;

    let s = TestServer::start_api_only().await;
    let client = s
        .create("/api/v1/clients/", json!({"hostname": "c.example.com"}))
        .await["id"]
        .clone();
    let repo1 = s
        .create(
            "/api/v1/repositories/",
            json!({"name": "R1", "path": "/srv/r1"}),
        )
        .await["id"]
        .clone();
    let repo2 = s
        .create(
            "/api/v1/repositories/",
            json!({"name": "R2", "path": "/srv/r2"}),
        )
        .await["id"]
        .clone();
    let policy = |name: &'static str, crontab: &'static str, repo: serde_json::Value| {
        let (s, client) = (&s, client.clone());
        async move {
            let sched = s
                .create(
                    "/api/v1/schedules/",
                    json!({"name": format!("{name} schedule"), "crontab": crontab}),
                )
                .await["id"]
                .clone();
            s.create(
                "/api/v1/policies/",
                json!({"name": name, "policy_type": "config", "repository": repo,
                       "schedule": sched, "clients": [client]}),
            )
            .await;
        }
    };
    // Names order the legend: a daily and an hourly policy meet at 02:00 on R1 (a conflict);
    // the every-minute one is alone on R2 (60 s apart is not a conflict).
    policy("a-daily", "0 2 * * *", repo1.clone()).await;
    policy("b-hourly", "0 * * * *", repo1).await;
    policy("c-every-minute", "* * * * *", repo2).await;
    let (st, admin) = state_and_admin(&s).await;
    let now: DateTime<Utc> = "2030-01-20T12:00:00Z".parse().unwrap();
    let m = month_view(&st, &admin, Some("2030-01"), None, now)
        .await
        .unwrap();
    assert_eq!(m.month, "2030-01");
    assert_eq!(m.first_weekday, 1, "1 January 2030 is a Tuesday");
    assert_eq!(m.today, Some(20));
    let names: Vec<&str> = m.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a-daily", "b-hourly", "c-every-minute"]);
    assert_eq!(m.days.len(), 31);
    for d in &m.days {
        assert_eq!(d.per_policy, vec![1, 24, 1440], "day {}", d.day);
        assert_eq!(d.total, 1465);
        assert_eq!(d.conflicts, 2, "day {}", d.day);
        assert_eq!(d.runs.len(), DAY_RUNS_SHOWN);
        assert!(
            d.runs
                .windows(2)
                .all(|w| (w[0].at, w[0].policy) <= (w[1].at, w[1].policy))
        );
        let conflicts: Vec<(String, usize)> = d
            .runs
            .iter()
            .filter(|r| r.conflict)
            .map(|r| (r.at.format("%H:%M").to_string(), r.policy))
            .collect();
        assert_eq!(
            conflicts,
            [("02:00".to_string(), 0), ("02:00".to_string(), 1)]
        );
    }
    // The list of a day: the two conflicts, then the earliest other runs (midnight onwards).
    let first = &m.days[14].runs;
    assert_eq!(first[0].at.to_rfc3339(), "2030-01-15T00:00:00+00:00");
    assert!(
        first
            .iter()
            .all(|r| r.at.format("%Y-%m-%d").to_string() == "2030-01-15")
    );

    // Another month: no today, and a month the calendar refuses is a field error.
    let feb = month_view(&st, &admin, Some("2030-02"), None, now)
        .await
        .unwrap();
    assert_eq!(
        (feb.days.len(), feb.today, feb.first_weekday),
        (28, None, 4)
    );
    assert!(
        month_view(&st, &admin, Some("2030-13"), None, now)
            .await
            .is_err()
    );

    // One policy's month: its runs alone, its conflicts with the other policy on its
    // repository still flagged, the day list filled with its own runs.
    let hourly = m.policies[1].id;
    let one = month_view(&st, &admin, Some("2030-01"), Some(hourly), now)
        .await
        .unwrap();
    assert_eq!(
        one.policies.iter().map(|p| p.id).collect::<Vec<_>>(),
        [hourly]
    );
    for d in &one.days {
        assert_eq!(
            (d.per_policy.clone(), d.total),
            (vec![24], 24),
            "day {}",
            d.day
        );
        assert_eq!(d.conflicts, 1, "day {}", d.day);
        assert_eq!(d.runs.len(), 24);
        assert!(d.runs.iter().all(|r| r.policy == 0));
        let flagged: Vec<String> = d
            .runs
            .iter()
            .filter(|r| r.conflict)
            .map(|r| r.at.format("%H:%M").to_string())
            .collect();
        assert_eq!(flagged, ["02:00"]);
    }
    // A policy without runs this month (unknown or not enabled): an empty month.
    let none = month_view(&st, &admin, Some("2030-01"), Some(999_999), now)
        .await
        .unwrap();
    assert!(none.policies.is_empty());
    assert!(none.days.iter().all(|d| d.total == 0 && d.runs.is_empty()));
}

#[tokio::test]
async fn overview_shows_what_needs_attention_and_the_first_steps() {
    let s = TestServer::start_api_only().await;
    let f = s.fixture().await;
    let (token, _, _) = login(&s, "/", &[]).await;
    let overview = || async {
        rpc(&s, "overview", json!({}), Some(&token), &[])
            .await
            .json::<Overview>()
            .await
            .unwrap()
    };
    let o = overview().await;
    let done: Vec<bool> = o.first_steps().iter().map(|s| s.2).collect();
    assert_eq!(done, [true, true, true, true, false], "no job yet");
    assert!(
        o.authorized_keys
            .as_deref()
            .is_some_and(|k| k.starts_with("restrict,port-forwarding ssh-ed25519 ")),
        "{:?}",
        o.authorized_keys
    );
    assert!(o.attention.is_empty());
    assert_eq!((o.health.never, o.health.late), (1, 0));

    // The fixture's pair last succeeded three days ago on a daily schedule: late.
    let db = s.db().await;
    let id = seed_job(&s, "successful", Some(TimeDelta::days(3))).await;
    job::Entity::update_many()
        .col_expr(
            job::Column::PolicyId,
            sea_orm::sea_query::Expr::value(f.policy as i32),
        )
        .col_expr(
            job::Column::ClientId,
            sea_orm::sea_query::Expr::value(f.client as i32),
        )
        .exec(&db)
        .await
        .unwrap();
    let o = overview().await;
    assert_eq!(o.health.late, 1);
    assert_eq!(o.attention.len(), 1);
    assert_eq!(o.attention[0].state, "late");
    assert_eq!(o.attention[0].last_attempt_job, Some(id));
    assert!(o.authorized_keys.is_none(), "every first step is done");

    // The page itself, rendered on the server: the row in red with its reason and job link.
    let html = s
        .http
        .get(s.url("/"))
        .header("cookie", format!("cyborg_session={token}"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"id="attention""#), "{html}");
    assert!(html.contains("health-row health-late"), "{html}");
    assert!(html.contains(&format!(r#"href="/jobs/{id}""#)), "{html}");
    assert!(html.contains("No successful backup since"), "{html}");
    assert!(!html.contains(r#"id="first-steps""#));
}
