//! CRUD and validation of users, clients, schedules, repositories and policies.

use crate::common::{ADMIN_EMAIL, TestServer};
use chrono::{DateTime, Datelike, TimeZone, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const REQUIRED: &str = "This field is required.";

/// The fields every stored object carries.
const COMMON: &[&str] = &[
    "id",
    "type",
    "url",
    "related",
    "summary_fields",
    "created",
    "modified",
    "created_by",
    "modified_by",
];
/// The seed's fields of each resource, plus the ones this server adds.
const USER_FIELDS: &[&str] = &["first_name", "last_name", "email", "is_superuser"];
const CLIENT_FIELDS: &[&str] = &[
    "hostname",
    "ip",
    "version",
    "ready",
    "hypervisor_ready",
    "hypervisor_name",
    "enabled",
    "uuid",
    "port",
    "username",
    "bandwidth_limit",
];
const SCHEDULE_FIELDS: &[&str] = &["name", "crontab", "enabled", "uuid"];
const REPOSITORY_FIELDS: &[&str] = &[
    "name",
    "path",
    "repository_key",
    "original_size",
    "compressed_size",
    "deduplicated_size",
    "ready",
    "enabled",
    "uuid",
];
const POLICY_FIELDS: &[&str] = &[
    "uuid",
    "name",
    "extra_vars",
    "clients",
    "repository",
    "schedule",
    "policy_type",
    "keep_hourly",
    "keep_yearly",
    "keep_daily",
    "keep_weekly",
    "keep_monthly",
    "vmprovider",
    "next_run",
    "mode_pull",
    "enabled",
];

// ---------------------------------------------------------------------------------------------
// Helpers

async fn count(s: &TestServer, list: &str) -> u64 {
    let (status, body) = s.get(list).await;
    assert_eq!(status, StatusCode::OK, "GET {list}: {body}");
    body["count"].as_u64().expect("count")
}

async fn admin_id(s: &TestServer) -> i64 {
    let (_, me) = s.get("/api/v1/me/").await;
    me["results"][0]["id"].as_i64().unwrap()
}

fn time(v: &Value) -> DateTime<Utc> {
    let text = v
        .as_str()
        .unwrap_or_else(|| panic!("a datetime string: {v}"));
    assert!(text.ends_with('Z'), "UTC with Z: {text}");
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("RFC 3339 {text}: {e}"))
        .to_utc()
}

/// A created object: 201 answer with the common fields, the resource's fields, the right type,
/// url and audit fields, and every value sent echoed back.
async fn create_checked(
    s: &TestServer,
    list: &str,
    kind: &str,
    fields: &[&str],
    body: Value,
) -> Value {
    let admin = admin_id(s).await;
    let (status, v) = s.post(list, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "POST {list} {body}: {v}");
    for f in COMMON.iter().chain(fields) {
        assert!(v.get(*f).is_some(), "{kind}: {f} missing from {v}");
    }
    let id = v["id"].as_i64().expect("integer id");
    assert!(id > 0);
    assert_eq!(v["type"], kind);
    assert_eq!(v["url"], format!("{list}{id}/"));
    assert!(v["related"].is_object() && v["summary_fields"].is_object());
    let created = time(&v["created"]);
    let modified = time(&v["modified"]);
    assert!(modified >= created);
    assert!(
        (Utc::now() - created).num_seconds().abs() < 120,
        "{created}"
    );
    assert_eq!(v["created_by"], admin);
    assert_eq!(v["modified_by"], admin);
    assert_eq!(v["summary_fields"]["created_by"]["email"], ADMIN_EMAIL);
    if fields.contains(&"uuid") {
        uuid::Uuid::parse_str(v["uuid"].as_str().expect("uuid string")).expect("a UUID");
    }
    for (k, sent) in body.as_object().unwrap() {
        if k != "password" {
            assert_eq!(&v[k], sent, "{kind}.{k} not stored as sent: {v}");
        }
    }
    let (status, detail) = s.get(&format!("{list}{id}/")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail, v, "GET detail differs from the create answer");
    v
}

/// PATCH changes exactly the fields sent (and `modified`); answers the new object.
async fn patch_changes_only(s: &TestServer, path: &str, patch: Value) -> Value {
    let (_, before) = s.get(path).await;
    let (status, after) = s.patch(path, patch.clone()).await;
    assert_eq!(status, StatusCode::OK, "PATCH {path} {patch}: {after}");
    let b = before.as_object().unwrap();
    let a = after.as_object().unwrap();
    assert_eq!(
        b.keys().collect::<Vec<_>>(),
        a.keys().collect::<Vec<_>>(),
        "the same fields"
    );
    // What follows from the host reached (a path, a host name or a port sent): the host key
    // state and the lines to authorize.
    let moved = ["path", "hostname", "port"]
        .iter()
        .any(|f| patch.get(*f).is_some());
    let follows_host = |k: &str| {
        moved
            && matches!(
                k,
                "authorized_keys"
                    | "ssh_public_key"
                    | "host_key"
                    | "host_key_status"
                    | "host_key_fingerprint"
                    | "host_key_seen"
                    | "host_key_seen_fingerprint"
            )
    };
    for (k, old) in b {
        match patch.get(k) {
            Some(sent) => assert_eq!(&a[k], sent, "PATCH {path}: {k}"),
            None if k == "modified" => assert!(time(&a[k]) >= time(old)),
            None if follows_host(k) => {}
            None => assert_eq!(&a[k], old, "PATCH {path} {patch} changed {k}"),
        }
    }
    let (_, stored) = s.get(path).await;
    assert_eq!(stored, after, "GET after PATCH");
    after
}

/// PUT without a required field: exactly `{"field": ["This field is required."]}`, nothing changed.
async fn put_requires(s: &TestServer, path: &str, body: Value, field: &str) {
    let (_, before) = s.get(path).await;
    let (status, answer) = s.put(path, body.clone()).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "PUT {path} {body}: {answer}"
    );
    assert_eq!(answer, json!({ field: [REQUIRED] }), "PUT {path} {body}");
    let (_, after) = s.get(path).await;
    assert_eq!(after, before, "a refused PUT changed {path}");
}

/// DELETE answers 204 with no body; the object is then gone for GET, PATCH, PUT and DELETE.
async fn delete_then_gone(s: &TestServer, path: &str, list: &str) {
    let before = count(s, list).await;
    let (status, body) = s.delete(path).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "DELETE {path}: {body}");
    assert!(body.is_null(), "204 has no body: {body}");
    assert_eq!(count(s, list).await, before - 1);
    assert_missing(s, path).await;
}

async fn assert_missing(s: &TestServer, path: &str) {
    for method in [Method::GET, Method::PATCH, Method::PUT, Method::DELETE] {
        let body = (method == Method::PATCH || method == Method::PUT).then(|| json!({}));
        let (status, answer) = s
            .raw(method.clone(), path, Some(&s.admin_token), body)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
        assert!(answer["detail"].is_string(), "{method} {path}: {answer}");
    }
}

fn assert_field_error(status: StatusCode, answer: &Value, field: &str, what: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {answer}");
    let messages = answer[field]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no messages under {field:?}: {answer}"));
    assert!(!messages.is_empty(), "{what}: {answer}");
    for m in messages {
        assert!(
            m.as_str().is_some_and(|m| !m.trim().is_empty()),
            "{what}: {answer}"
        );
    }
}

/// POST answers 400 with a message under `field`, and nothing is written.
async fn refused(s: &TestServer, list: &str, body: Value, field: &str) -> Value {
    let before = count(s, list).await;
    let (status, answer) = s.post(list, body.clone()).await;
    assert_field_error(status, &answer, field, &format!("POST {list} {body}"));
    assert_eq!(count(s, list).await, before, "POST {list} {body} wrote");
    answer
}

/// PATCH answers 400 with a message under `field`, and the object is unchanged.
async fn refused_update(s: &TestServer, path: &str, body: Value, field: &str) {
    let (_, before) = s.get(path).await;
    let (status, answer) = s.patch(path, body.clone()).await;
    assert_field_error(status, &answer, field, &format!("PATCH {path} {body}"));
    let (_, after) = s.get(path).await;
    assert_eq!(after, before, "PATCH {path} {body} changed it");
}

async fn schedule(s: &TestServer, name: &str, crontab: &str) -> i64 {
    s.create(
        "/api/v1/schedules/",
        json!({"name": name, "crontab": crontab}),
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

async fn repository(s: &TestServer, name: &str, path: &str) -> i64 {
    s.create(
        "/api/v1/repositories/",
        json!({"name": name, "path": path, "repository_key": "k-e-y"}),
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

async fn client(s: &TestServer, hostname: &str) -> i64 {
    s.create("/api/v1/clients/", json!({"hostname": hostname}))
        .await["id"]
        .as_i64()
        .unwrap()
}

/// The next 1 January 05:00 UTC strictly after now: the run of `0 5 1 1 * *`.
fn next_new_year_5am() -> DateTime<Utc> {
    let now = Utc::now();
    let this = Utc.with_ymd_and_hms(now.year(), 1, 1, 5, 0, 0).unwrap();
    if this > now {
        this
    } else {
        Utc.with_ymd_and_hms(now.year() + 1, 1, 1, 5, 0, 0).unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// Happy paths

#[tokio::test]
async fn users_crud() {
    let s = TestServer::start().await;
    let list = "/api/v1/users/";
    // The seed's example body (no password: the user cannot log in until one is set).
    let u = create_checked(
        &s,
        list,
        "user",
        USER_FIELDS,
        json!({"first_name": "", "last_name": "", "email": "cyborg@agent.local", "is_superuser": true}),
    )
    .await;
    let (status, _) = s
        .raw(
            Method::POST,
            "/api/token/obtain/",
            None,
            Some(json!({"email": "cyborg@agent.local", "password": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no password, no login");

    let v = create_checked(
        &s,
        list,
        "user",
        USER_FIELDS,
        json!({"first_name": "Grace", "last_name": "Hopper", "email": "grace@test.local",
               "is_superuser": false, "password": "grace-password"}),
    )
    .await;
    assert!(v.get("password").is_none());
    s.token("grace@test.local", "grace-password").await;
    // Defaults, and the email is stored in lower case.
    let d = s
        .create(list, json!({"email": "Mixed.Case@Test.Local"}))
        .await;
    assert_eq!(d["email"], "mixed.case@test.local");
    assert_eq!(d["first_name"], "");
    assert_eq!(d["last_name"], "");
    assert_eq!(d["is_superuser"], false);

    let path = format!("{list}{}/", v["id"]);
    patch_changes_only(
        &s,
        &path,
        json!({"first_name": "Amazing", "last_name": "Grace"}),
    )
    .await;
    patch_changes_only(&s, &path, json!({"email": "hopper@test.local"})).await;
    put_requires(&s, &path, json!({"first_name": "No email"}), "email").await;
    let (status, put) = s
        .put(
            &path,
            json!({"email": "grace.h@test.local", "first_name": "G", "last_name": "H", "is_superuser": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["email"], "grace.h@test.local");
    assert_eq!(put["first_name"], "G");
    // The password survived the PUT that did not mention it.
    s.token("grace.h@test.local", "grace-password").await;

    assert_eq!(count(&s, list).await, 4);
    delete_then_gone(&s, &path, list).await;
    delete_then_gone(&s, &format!("{list}{}/", u["id"]), list).await;
    assert_missing(&s, "/api/v1/users/999999/").await;
}

#[tokio::test]
async fn clients_crud() {
    let s = TestServer::start().await;
    let list = "/api/v1/clients/";
    let c = create_checked(
        &s,
        list,
        "client",
        CLIENT_FIELDS,
        json!({"hostname": "lab.example.com", "ip": "", "version": "", "ready": false,
               "hypervisor_ready": false, "hypervisor_name": "", "enabled": true}),
    )
    .await;
    assert_eq!(c["port"], 22, "SSH port default");
    assert_eq!(c["username"], "root", "SSH user default");
    assert!(c["bandwidth_limit"].is_null());
    assert_eq!(c["summary_fields"]["policies"], json!([]));

    let full = create_checked(
        &s,
        list,
        "client",
        CLIENT_FIELDS,
        json!({"hostname": "10.0.0.7", "ip": "10.0.0.7", "version": "1.2.8", "ready": true,
               "hypervisor_ready": true, "hypervisor_name": "pve1", "enabled": false,
               "port": 2222, "username": "backup", "bandwidth_limit": 5000}),
    )
    .await;
    for ok in ["::1", "web-1", "a.b-c.example.org"] {
        let v = s.create(list, json!({ "hostname": ok })).await;
        assert_eq!(v["hostname"], ok);
    }
    // Host names are stored in lower case.
    let v = s
        .create(list, json!({"hostname": "UPPER.Example.COM"}))
        .await;
    assert_eq!(v["hostname"], "upper.example.com");

    let path = format!("{list}{}/", c["id"]);
    patch_changes_only(&s, &path, json!({"enabled": false, "port": 2200})).await;
    patch_changes_only(&s, &path, json!({"bandwidth_limit": 128})).await;
    patch_changes_only(&s, &path, json!({"bandwidth_limit": null})).await;
    patch_changes_only(
        &s,
        &path,
        json!({"hostname": "lab2.example.com", "username": "borg"}),
    )
    .await;
    // Re-sending its own hostname is not a duplicate.
    patch_changes_only(&s, &path, json!({"hostname": "lab2.example.com"})).await;
    put_requires(&s, &path, json!({"port": 22}), "hostname").await;
    let (status, put) = s
        .put(
            &path,
            json!({"hostname": "lab3.example.com", "enabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["hostname"], "lab3.example.com");
    assert_eq!(put["enabled"], true);

    delete_then_gone(&s, &path, list).await;
    delete_then_gone(&s, &format!("{list}{}/", full["id"]), list).await;
    assert_missing(&s, "/api/v1/clients/999999/").await;
}

#[tokio::test]
async fn schedules_crud() {
    let s = TestServer::start().await;
    let list = "/api/v1/schedules/";
    let v = create_checked(
        &s,
        list,
        "schedule",
        SCHEDULE_FIELDS,
        json!({"name": "Every Minutes", "crontab": "*/1 * * * * *", "enabled": true}),
    )
    .await;
    // The seed's PATCH example, a five-field crontab, and a default `enabled`.
    let path = format!("{list}{}/", v["id"]);
    patch_changes_only(
        &s,
        &path,
        json!({"name": "Every Monday", "crontab": "0 5 * * MON *"}),
    )
    .await;
    patch_changes_only(&s, &path, json!({"enabled": false})).await;
    let five = s
        .create(
            list,
            json!({"name": "Five fields", "crontab": "30 2 * * *"}),
        )
        .await;
    assert_eq!(five["crontab"], "30 2 * * *");
    assert_eq!(five["enabled"], true);

    put_requires(&s, &path, json!({"name": "Only a name"}), "crontab").await;
    put_requires(&s, &path, json!({"crontab": "0 1 * * * *"}), "name").await;
    let (status, put) = s
        .put(
            &path,
            json!({"name": "Replaced", "crontab": "0 1 * * * *", "enabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["name"], "Replaced");
    assert_eq!(put["crontab"], "0 1 * * * *");
    assert_eq!(put["enabled"], true);

    delete_then_gone(&s, &path, list).await;
    assert_missing(&s, "/api/v1/schedules/999999/").await;
}

#[tokio::test]
async fn repositories_crud() {
    let s = TestServer::start().await;
    let list = "/api/v1/repositories/";
    let v = create_checked(
        &s,
        list,
        "repository",
        REPOSITORY_FIELDS,
        json!({"name": "Main Repo", "path": "cyborgbackup@backup:/repository",
               "repository_key": "0123456789abcdef", "ready": true, "enabled": true}),
    )
    .await;
    for size in ["original_size", "compressed_size", "deduplicated_size"] {
        assert_eq!(v[size], 0, "{size}");
    }
    // Every form of a repository path.
    for (i, path) in [
        "/srv/borg/local",
        "user@host.example.com:/srv/borg",
        "ssh://user@host.example.com:2222/srv/borg",
        "ssh://user@host.example.com/srv/other",
        "u@10.0.0.1:/r",
        "backup@[fd00::7]:/srv/borg",
        "ssh://backup@[fd00::7]:22/srv/borg",
    ]
    .iter()
    .enumerate()
    {
        let r = s
            .create(list, json!({"name": format!("Form {i}"), "path": path}))
            .await;
        assert_eq!(r["path"], *path);
        assert_eq!(r["ready"], false);
        assert_eq!(r["enabled"], true);
        assert_eq!(r["repository_key"], "", "no passphrase");
    }

    let path = format!("{list}{}/", v["id"]);
    patch_changes_only(&s, &path, json!({"repository_key": "a new passphrase"})).await;
    patch_changes_only(
        &s,
        &path,
        json!({"name": "Renamed", "path": "/srv/borg/renamed", "enabled": false}),
    )
    .await;
    // Sizes are read-only: sending them changes nothing.
    let (status, after) = s
        .patch(&path, json!({"original_size": 5, "deduplicated_size": 7}))
        .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["original_size"], 0);
    assert_eq!(after["deduplicated_size"], 0);

    put_requires(&s, &path, json!({"name": "Renamed"}), "path").await;
    put_requires(&s, &path, json!({"path": "/srv/borg/renamed"}), "name").await;
    let (status, put) = s
        .put(&path, json!({"name": "Put", "path": "/srv/borg/put"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["name"], "Put");
    assert_eq!(
        put["repository_key"], "a new passphrase",
        "kept when not sent"
    );

    delete_then_gone(&s, &path, list).await;
    assert_missing(&s, "/api/v1/repositories/999999/").await;
}

#[tokio::test]
async fn policies_crud() {
    let s = TestServer::start().await;
    let list = "/api/v1/policies/";
    let sched = schedule(&s, "Each new year", "0 5 1 1 * *").await;
    let repo = repository(&s, "Main Repo", "cyborgbackup@backup:/repository").await;
    let c1 = client(&s, "lab.example.com").await;
    let c2 = client(&s, "lab2.example.com").await;
    // The seed's example body.
    let p = create_checked(
        &s,
        list,
        "policy",
        POLICY_FIELDS,
        json!({"name": "Full Features", "extra_vars": "", "clients": [c1], "repository": repo,
               "schedule": sched, "policy_type": "vm", "keep_hourly": 1, "keep_yearly": null,
               "keep_daily": null, "keep_weekly": null, "keep_monthly": null,
               "vmprovider": "proxmox", "mode_pull": false, "enabled": true}),
    )
    .await;
    assert_eq!(time(&p["next_run"]), next_new_year_5am(), "{p}");

    // Defaults.
    let d = s
        .create(
            list,
            json!({"name": "Defaults", "policy_type": "rootfs", "repository": repo, "schedule": sched}),
        )
        .await;
    assert_eq!(d["extra_vars"], "");
    assert_eq!(d["clients"], json!([]));
    for k in [
        "keep_hourly",
        "keep_daily",
        "keep_weekly",
        "keep_monthly",
        "keep_yearly",
    ] {
        assert!(d[k].is_null(), "{k}: {d}");
    }
    assert_eq!(d["vmprovider"], "");
    assert_eq!(d["mode_pull"], false);
    assert_eq!(d["enabled"], true);

    let path = format!("{list}{}/", p["id"]);
    patch_changes_only(&s, &path, json!({"keep_daily": 7, "keep_hourly": null})).await;
    // A remote repository is always served through this server, so pull mode on it changes
    // nothing and is accepted.
    let (status, pulled) = s.patch(&path, json!({"mode_pull": true})).await;
    assert_eq!(status, StatusCode::OK, "{pulled}");
    assert_eq!(
        s.patch(&path, json!({"mode_pull": false})).await.0,
        StatusCode::OK
    );
    let on_server = repository(&s, "Server repo", "/srv/borg/pulled").await;
    let (status, pulled) = s
        .patch(
            &path,
            json!({"name": "Renamed", "mode_pull": true, "repository": on_server}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{pulled}");
    assert_eq!(
        (&pulled["name"], &pulled["mode_pull"], &pulled["repository"]),
        (&json!("Renamed"), &json!(true), &json!(on_server))
    );
    assert_eq!(
        pulled["summary_fields"]["repository"]["path"],
        "/srv/borg/pulled"
    );
    // Changing the clients changes them and their summary, nothing else.
    let (_, before) = s.get(&path).await;
    let (status, after) = s.patch(&path, json!({"clients": [c2, c1]})).await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["clients"], json!([c1, c2]));
    assert_eq!(
        after["summary_fields"]["clients"],
        json!([{"id": c1, "hostname": "lab.example.com", "enabled": true},
               {"id": c2, "hostname": "lab2.example.com", "enabled": true}])
    );
    for k in [
        "name",
        "repository",
        "schedule",
        "keep_daily",
        "next_run",
        "extra_vars",
    ] {
        assert_eq!(after[k], before[k], "{k}");
    }
    let (_, after) = s.patch(&path, json!({"clients": []})).await;
    assert_eq!(after["clients"], json!([]));
    assert_eq!(after["summary_fields"]["clients"], json!([]));

    // mode_pull false: the policy is in pull mode by now, which `repo` (remote) cannot serve.
    let complete = json!({"name": "Put", "policy_type": "config", "repository": repo,
                          "schedule": sched, "clients": [c2], "mode_pull": false});
    for field in ["name", "policy_type", "repository", "schedule"] {
        let mut body = complete.clone();
        body.as_object_mut().unwrap().remove(field);
        put_requires(&s, &path, body, field).await;
    }
    let (status, put) = s.put(&path, complete.clone()).await;
    assert_eq!(status, StatusCode::OK, "{put}");
    for (k, v) in complete.as_object().unwrap() {
        assert_eq!(&put[k], v, "{k}");
    }

    delete_then_gone(&s, &path, list).await;
    assert_missing(&s, "/api/v1/policies/999999/").await;
    // Deleting a policy leaves its clients, schedule and repository alone.
    for p in [
        format!("/api/v1/clients/{c2}/"),
        format!("/api/v1/schedules/{sched}/"),
        format!("/api/v1/repositories/{repo}/"),
    ] {
        assert_eq!(s.get(&p).await.0, StatusCode::OK, "{p}");
    }
}

#[tokio::test]
async fn policies_link_their_schedule_repository_and_clients_both_ways() {
    let s = TestServer::start().await;
    let sched = schedule(&s, "Each new year", "0 5 1 1 * *").await;
    let repo = repository(
        &s,
        "Main Repo",
        "ssh://borg@store.example.com:2222/srv/main",
    )
    .await;
    let c1 = client(&s, "a.example.com").await;
    let c2 = client(&s, "b.example.com").await;
    let c3 = client(&s, "c.example.com").await;
    let p1 = s
        .create(
            "/api/v1/policies/",
            json!({"name": "P1", "policy_type": "rootfs", "repository": repo, "schedule": sched,
                   "clients": [c2, c1, c2]}),
        )
        .await;
    let p2 = s
        .create(
            "/api/v1/policies/",
            json!({"name": "P2", "policy_type": "mail", "repository": repo, "schedule": sched,
                   "clients": [c2], "enabled": false}),
        )
        .await;
    let id1 = p1["id"].as_i64().unwrap();
    let id2 = p2["id"].as_i64().unwrap();
    assert_eq!(
        p1["related"]["launch"],
        format!("/api/v1/policies/{id1}/launch/")
    );
    assert_eq!(
        p1["related"]["calendar"],
        format!("/api/v1/policies/{id1}/calendar/")
    );
    assert_eq!(
        p1["related"]["schedule"],
        format!("/api/v1/schedules/{sched}/")
    );
    assert_eq!(
        p1["related"]["repository"],
        format!("/api/v1/repositories/{repo}/")
    );
    assert_eq!(
        p1["summary_fields"]["repository"],
        json!({"id": repo, "name": "Main Repo", "path": "ssh://borg@store.example.com:2222/srv/main"})
    );
    assert_eq!(
        p1["summary_fields"]["schedule"],
        json!({"id": sched, "name": "Each new year", "crontab": "0 5 1 1 * *"})
    );
    // `clients` is a list of ids, each once.
    let mut ids: Vec<i64> = p1["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().expect("an integer id"))
        .collect();
    ids.sort();
    assert_eq!(ids, vec![c1, c2]);

    // The clients list the policies that use them.
    let policies_of = |v: &Value| -> Vec<(i64, String)> {
        v["summary_fields"]["policies"]
            .as_array()
            .unwrap_or_else(|| panic!("summary_fields.policies in {v}"))
            .iter()
            .map(|p| {
                (
                    p["id"].as_i64().unwrap(),
                    p["name"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let (_, v1) = s.get(&format!("/api/v1/clients/{c1}/")).await;
    assert_eq!(policies_of(&v1), vec![(id1, "P1".to_string())]);
    let (_, v2) = s.get(&format!("/api/v1/clients/{c2}/")).await;
    assert_eq!(
        policies_of(&v2),
        vec![(id1, "P1".to_string()), (id2, "P2".to_string())]
    );
    let (_, v3) = s.get(&format!("/api/v1/clients/{c3}/")).await;
    assert_eq!(policies_of(&v3), vec![]);
    // The list answers carry the same summaries as the details.
    let (_, page) = s.get("/api/v1/clients/?order_by=id").await;
    assert_eq!(page["results"][1], v2);
    let (_, page) = s.get("/api/v1/policies/?order_by=id").await;
    assert_eq!(page["results"][0], p1);

    // Summaries follow renames of the linked objects.
    s.patch(
        &format!("/api/v1/repositories/{repo}/"),
        json!({"name": "Renamed repo"}),
    )
    .await;
    let (_, p) = s.get(&format!("/api/v1/policies/{id1}/")).await;
    assert_eq!(p["summary_fields"]["repository"]["name"], "Renamed repo");
    s.patch(
        &format!("/api/v1/policies/{id1}/"),
        json!({"name": "P1 renamed"}),
    )
    .await;
    let (_, v1) = s.get(&format!("/api/v1/clients/{c1}/")).await;
    assert_eq!(policies_of(&v1), vec![(id1, "P1 renamed".to_string())]);
}

#[tokio::test]
async fn next_run_is_utc_for_enabled_policies_and_null_when_disabled() {
    let s = TestServer::start().await;
    let sched = schedule(&s, "Each new year", "0 5 1 1 * *").await;
    let repo = repository(&s, "R", "/srv/r").await;
    let p = s
        .create(
            "/api/v1/policies/",
            json!({"name": "P", "policy_type": "config", "repository": repo, "schedule": sched}),
        )
        .await;
    let path = format!("/api/v1/policies/{}/", p["id"]);
    let text = p["next_run"]
        .as_str()
        .expect("a string for an enabled policy");
    assert!(text.ends_with('Z'), "{text}");
    assert_eq!(time(&p["next_run"]), next_new_year_5am());
    assert!(time(&p["next_run"]) > Utc::now());

    let (_, disabled) = s.patch(&path, json!({"enabled": false})).await;
    assert!(disabled["next_run"].is_null(), "{disabled}");
    let (_, stored) = s.get(&path).await;
    assert!(stored["next_run"].is_null());
    let (_, enabled) = s.patch(&path, json!({"enabled": true})).await;
    assert_eq!(time(&enabled["next_run"]), next_new_year_5am());

    // Created disabled: null from the start. On a disabled schedule: null too.
    let off = s
        .create(
            "/api/v1/policies/",
            json!({"name": "Off", "policy_type": "config", "repository": repo,
                   "schedule": sched, "enabled": false}),
        )
        .await;
    assert!(off["next_run"].is_null(), "{off}");
    let paused = s
        .create(
            "/api/v1/schedules/",
            json!({"name": "Paused", "crontab": "0 5 1 1 * *", "enabled": false}),
        )
        .await;
    let on_paused = s
        .create(
            "/api/v1/policies/",
            json!({"name": "On paused", "policy_type": "config", "repository": repo,
                   "schedule": paused["id"]}),
        )
        .await;
    assert!(on_paused["next_run"].is_null(), "{on_paused}");
    // Moving it to an enabled schedule gives it a next run.
    let (_, moved) = s
        .patch(
            &format!("/api/v1/policies/{}/", on_paused["id"]),
            json!({"schedule": sched}),
        )
        .await;
    assert_eq!(time(&moved["next_run"]), next_new_year_5am(), "{moved}");
}

#[tokio::test]
async fn next_run_follows_changes_of_the_schedule() {
    let s = TestServer::start().await;
    let sched = schedule(&s, "Each new year", "0 5 1 1 * *").await;
    let repo = repository(&s, "R", "/srv/r").await;
    let p = s
        .create(
            "/api/v1/policies/",
            json!({"name": "P", "policy_type": "config", "repository": repo, "schedule": sched}),
        )
        .await;
    let path = format!("/api/v1/policies/{}/", p["id"]);
    let sched_path = format!("/api/v1/schedules/{sched}/");
    let (status, _) = s.patch(&sched_path, json!({"enabled": false})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, v) = s.get(&path).await;
    assert!(v["next_run"].is_null(), "disabled schedule: {v}");
    let (status, _) = s
        .patch(
            &sched_path,
            json!({"enabled": true, "crontab": "0 6 1 1 * *"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, v) = s.get(&path).await;
    assert_eq!(
        time(&v["next_run"]),
        next_new_year_5am() + chrono::TimeDelta::hours(1),
        "{v}"
    );
}

#[tokio::test]
async fn extra_vars_accepts_empty_object_text_and_objects() {
    let s = TestServer::start().await;
    let sched = schedule(&s, "S", "0 5 1 1 * *").await;
    let repo = repository(&s, "R", "/srv/r").await;
    let base = |name: &str, policy_type: &str, extra: Value| {
        json!({"name": name, "policy_type": policy_type, "repository": repo,
               "schedule": sched, "extra_vars": extra})
    };
    let p = s
        .create("/api/v1/policies/", base("Empty", "rootfs", json!("")))
        .await;
    assert_eq!(p["extra_vars"], "");
    let text = r#"{"folders": ["/srv/www", "/home/a b"], "exclude": ["*.tmp"]}"#;
    let p = s
        .create("/api/v1/policies/", base("Text", "folders", json!(text)))
        .await;
    assert_eq!(p["extra_vars"], text, "the text is stored as sent");
    let object = json!({"folders": ["/etc"], "exclude": ["*.bak"]});
    let p = s
        .create(
            "/api/v1/policies/",
            base("Object", "folders", object.clone()),
        )
        .await;
    let stored = p["extra_vars"].as_str().expect("stored as text");
    assert_eq!(
        serde_json::from_str::<Value>(stored).unwrap(),
        object,
        "{stored}"
    );
    let (_, again) = s.get(&format!("/api/v1/policies/{}/", p["id"])).await;
    assert_eq!(again["extra_vars"], stored);
    let piped = s
        .create(
            "/api/v1/policies/",
            base("Piped", "piped", json!({"command": "pg_dumpall"})),
        )
        .await;
    assert!(piped["extra_vars"].as_str().unwrap().contains("pg_dumpall"));
    // PATCH back to "" on a type that needs nothing.
    let path = format!("/api/v1/policies/{}/", p["id"]);
    let (status, v) = s
        .patch(&path, json!({"policy_type": "config", "extra_vars": ""}))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["extra_vars"], "");
}

// ---------------------------------------------------------------------------------------------
// Validation, resource by resource

#[tokio::test]
async fn client_fields_are_validated() {
    let s = TestServer::start().await;
    let list = "/api/v1/clients/";
    s.create(list, json!({"hostname": "dup.example.com"})).await;
    let long_label = format!("{}.example.com", "a".repeat(64));
    let too_long = ["abcdefghij"; 26].join(".");
    for hostname in [
        "web 1.example.com",
        "a;b",
        "a;reboot",
        "$(id)",
        "`id`",
        "'quoted'",
        "\"quoted\"",
        "a\nb",
        "a\0b",
        "-oProxyCommand=x",
        "-leading",
        "trailing-",
        "1.2.3.999",
        "a..b",
        "under_score.example.com",
        "",
        "   ",
        long_label.as_str(),
        too_long.as_str(),
        "dup.example.com",
        "DUP.Example.com",
    ] {
        refused(&s, list, json!({ "hostname": hostname }), "hostname").await;
    }
    refused(&s, list, json!({}), "hostname").await;
    refused(&s, list, json!({"hostname": null}), "hostname").await;
    for port in [json!(0), json!(70000), json!(-1), json!("x"), json!(22.5)] {
        refused(
            &s,
            list,
            json!({"hostname": "p.example.com", "port": port}),
            "port",
        )
        .await;
    }
    for username in ["-oProxyCommand=x", "a b", "root;id", "", "x\ny", "a\0b"] {
        refused(
            &s,
            list,
            json!({"hostname": "u.example.com", "username": username}),
            "username",
        )
        .await;
    }
    for limit in [json!(0), json!(-5), json!("x")] {
        refused(
            &s,
            list,
            json!({"hostname": "b.example.com", "bandwidth_limit": limit}),
            "bandwidth_limit",
        )
        .await;
    }
    refused(
        &s,
        list,
        json!({"hostname": "i.example.com", "ip": "not-an-ip"}),
        "ip",
    )
    .await;
    refused(
        &s,
        list,
        json!({"hostname": "v.example.com", "version": "1\0"}),
        "version",
    )
    .await;
    refused(
        &s,
        list,
        json!({"hostname": "h.example.com", "hypervisor_name": "x".repeat(256)}),
        "hypervisor_name",
    )
    .await;
    refused(
        &s,
        list,
        json!({"hostname": "e.example.com", "enabled": "yes"}),
        "enabled",
    )
    .await;
    // Several errors at once are all reported.
    let answer = refused(
        &s,
        list,
        json!({"hostname": "a b", "port": 0, "username": "-x"}),
        "hostname",
    )
    .await;
    assert!(
        answer["port"].is_array() && answer["username"].is_array(),
        "{answer}"
    );

    // The same rules on update.
    let id = client(&s, "ok.example.com").await;
    let path = format!("{list}{id}/");
    for (body, field) in [
        (json!({"hostname": "$(id)"}), "hostname"),
        (json!({"hostname": "dup.example.com"}), "hostname"),
        (json!({"hostname": ""}), "hostname"),
        (json!({"port": 70000}), "port"),
        (json!({"username": "-oProxyCommand=x"}), "username"),
        (json!({"bandwidth_limit": 0}), "bandwidth_limit"),
        (json!({"enabled": "yes"}), "enabled"),
    ] {
        refused_update(&s, &path, body, field).await;
    }
}

#[tokio::test]
async fn user_fields_are_validated() {
    let s = TestServer::start().await;
    let list = "/api/v1/users/";
    for email in [
        "not-an-email",
        "a@b",
        "@example.com",
        "a b@example.com",
        "a@exa mple.com",
        "a@1.2.3.4",
        "",
        "a\0@example.com",
        "a\n@example.com",
        ADMIN_EMAIL,
        "ADMIN@Test.Local",
    ] {
        refused(
            &s,
            list,
            json!({"email": email, "password": "long-enough"}),
            "email",
        )
        .await;
    }
    refused(&s, list, json!({"password": "long-enough"}), "email").await;
    let long_email = format!("{}@example.com", "a".repeat(250));
    refused(&s, list, json!({ "email": long_email }), "email").await;
    for password in [
        json!("short"),
        json!("1234567"),
        json!("x".repeat(1025)),
        json!("pass\0word-long"),
        json!(12345678),
    ] {
        refused(
            &s,
            list,
            json!({"email": "p@example.com", "password": password}),
            "password",
        )
        .await;
    }
    refused(
        &s,
        list,
        json!({"email": "n@example.com", "first_name": "x".repeat(151)}),
        "first_name",
    )
    .await;
    refused(
        &s,
        list,
        json!({"email": "n@example.com", "last_name": "a\0b"}),
        "last_name",
    )
    .await;
    refused(
        &s,
        list,
        json!({"email": "n@example.com", "is_superuser": "yes"}),
        "is_superuser",
    )
    .await;

    let (id, _) = s.regular_user("someone@example.com").await;
    let path = format!("{list}{id}/");
    for (body, field) in [
        (json!({"email": "broken"}), "email"),
        (json!({"email": ADMIN_EMAIL}), "email"),
        (json!({"email": ""}), "email"),
        (json!({"password": "short"}), "password"),
        (json!({"first_name": "x".repeat(151)}), "first_name"),
    ] {
        refused_update(&s, &path, body, field).await;
    }
    // The refused password change did not happen.
    s.token("someone@example.com", "user-password").await;
}

#[tokio::test]
async fn repository_fields_are_validated() {
    let s = TestServer::start().await;
    let list = "/api/v1/repositories/";
    s.create(list, json!({"name": "Taken", "path": "/srv/taken"}))
        .await;
    for path in [
        "relative/path",
        "srv/borg",
        "host:/r",
        "ssh://host/r",
        "ssh://u@host",
        "ssh://u@host:99999/r",
        "ssh://u@host:x/r",
        "/srv/a\nb",
        "/srv/a\0b",
        "-oProxyCommand=x@h:/r",
        "-o@h:/r",
        "u@host:relative",
        "u@bad host:/r",
        "u@$(id):/r",
        "ftp://u@h/r",
        "",
        "/srv/taken",
    ] {
        refused(
            &s,
            list,
            json!({"name": format!("N {path}"), "path": path}),
            "path",
        )
        .await;
    }
    refused(&s, list, json!({"name": "No path"}), "path").await;
    refused(&s, list, json!({"path": "/srv/no-name"}), "name").await;
    for name in [
        json!("Taken"),
        json!(""),
        json!("x".repeat(256)),
        json!("a\0b"),
        json!("a\nb"),
        json!(5),
    ] {
        refused(&s, list, json!({"name": name, "path": "/srv/new"}), "name").await;
    }
    for key in [json!("a\0b"), json!("x".repeat(1025)), json!(123)] {
        refused(
            &s,
            list,
            json!({"name": "K", "path": "/srv/k", "repository_key": key}),
            "repository_key",
        )
        .await;
    }
    let id = repository(&s, "Other", "/srv/other").await;
    let path = format!("{list}{id}/");
    for (body, field) in [
        (json!({"path": "relative"}), "path"),
        (json!({"path": "/srv/taken"}), "path"),
        (json!({"name": "Taken"}), "name"),
        (json!({"name": "x".repeat(256)}), "name"),
        (json!({"ready": "yes"}), "ready"),
    ] {
        refused_update(&s, &path, body, field).await;
    }
}

#[tokio::test]
async fn schedule_fields_are_validated() {
    let s = TestServer::start().await;
    let list = "/api/v1/schedules/";
    schedule(&s, "Taken", "0 3 * * * *").await;
    for crontab in [
        "garbage",
        "61 * * * * *",
        "0 25 * * * *",
        "0 0 32 * * *",
        "0 0 * 13 * *",
        "0 0 * * 8 *",
        "0 0 30 2 * *",
        "0 0 31 4 * *",
        "0 0 1 1 * 2020",
        "* * *",
        "",
        "0 3 * * * * * *",
        "0 3 * * * *\0",
        "*/0 * * * * *",
    ] {
        refused(
            &s,
            list,
            json!({"name": format!("N {crontab}"), "crontab": crontab}),
            "crontab",
        )
        .await;
    }
    refused(&s, list, json!({"name": "No crontab"}), "crontab").await;
    refused(&s, list, json!({"crontab": "0 3 * * * *"}), "name").await;
    for name in [
        json!("Taken"),
        json!(""),
        json!("x".repeat(256)),
        json!("a\0b"),
    ] {
        refused(
            &s,
            list,
            json!({"name": name, "crontab": "0 3 * * * *"}),
            "name",
        )
        .await;
    }
    refused(
        &s,
        list,
        json!({"name": "E", "crontab": "0 3 * * * *", "enabled": "yes"}),
        "enabled",
    )
    .await;
    let id = schedule(&s, "Other", "0 4 * * * *").await;
    let path = format!("{list}{id}/");
    for (body, field) in [
        (json!({"crontab": "0 0 30 2 * *"}), "crontab"),
        (json!({"crontab": "61 * * * * *"}), "crontab"),
        (json!({"name": "Taken"}), "name"),
        (json!({"enabled": "yes"}), "enabled"),
    ] {
        refused_update(&s, &path, body, field).await;
    }
}

#[tokio::test]
async fn policy_fields_are_validated() {
    let s = TestServer::start().await;
    let list = "/api/v1/policies/";
    let sched = schedule(&s, "S", "0 3 * * * *").await;
    let repo = repository(&s, "R", "/srv/r").await;
    let c = client(&s, "c.example.com").await;
    let valid = json!({"name": "Valid", "policy_type": "rootfs", "repository": repo,
                       "schedule": sched, "clients": [c]});
    let with = |changes: Value| {
        let mut b = valid.clone();
        for (k, v) in changes.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    s.create(list, with(json!({"name": "Taken"}))).await;

    for (changes, field) in [
        (json!({"policy_type": "unknown"}), "policy_type"),
        (json!({"policy_type": ""}), "policy_type"),
        (json!({"policy_type": "rootfs\0"}), "policy_type"),
        (json!({"policy_type": 3}), "policy_type"),
        (json!({"keep_daily": -1}), "keep_daily"),
        (json!({"keep_daily": "x"}), "keep_daily"),
        (json!({"keep_hourly": -5}), "keep_hourly"),
        (json!({"keep_weekly": 1.5}), "keep_weekly"),
        (json!({"keep_monthly": -1}), "keep_monthly"),
        (json!({"keep_yearly": "7"}), "keep_yearly"),
        (json!({"repository": 99999}), "repository"),
        (json!({"repository": "1"}), "repository"),
        (json!({"repository": null}), "repository"),
        (json!({"schedule": 99999}), "schedule"),
        (json!({"schedule": 0}), "schedule"),
        (json!({"clients": [99999]}), "clients"),
        (json!({"clients": [c, 99999]}), "clients"),
        (json!({"clients": "1"}), "clients"),
        (json!({"clients": ["x"]}), "clients"),
        (json!({"extra_vars": "{"}), "extra_vars"),
        (json!({"extra_vars": "not json"}), "extra_vars"),
        (json!({"extra_vars": "[1, 2]"}), "extra_vars"),
        (json!({"extra_vars": "\"text\""}), "extra_vars"),
        (json!({"extra_vars": [1, 2]}), "extra_vars"),
        (json!({"extra_vars": 5}), "extra_vars"),
        (json!({"extra_vars": true}), "extra_vars"),
        (json!({"extra_vars": {"exclude": ["a\nb"]}}), "extra_vars"),
        (
            json!({"policy_type": "folders", "extra_vars": ""}),
            "extra_vars",
        ),
        (
            json!({"policy_type": "folders", "extra_vars": "{}"}),
            "extra_vars",
        ),
        (
            json!({"policy_type": "folders", "extra_vars": {"folders": []}}),
            "extra_vars",
        ),
        (
            json!({"policy_type": "folders", "extra_vars": {"folders": ["relative"]}}),
            "extra_vars",
        ),
        (
            json!({"policy_type": "piped", "extra_vars": {"command": " "}}),
            "extra_vars",
        ),
        (json!({"policy_type": "vm"}), "__all__"),
        (json!({"policy_type": "vm", "vmprovider": ""}), "__all__"),
        (
            json!({"policy_type": "vm", "vmprovider": "vmware"}),
            "vmprovider",
        ),
        (json!({"name": "Taken"}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(256)}), "name"),
        (json!({"name": "a\0b"}), "name"),
        (json!({"name": "two\nlines"}), "name"),
        (json!({"enabled": "yes"}), "enabled"),
        (json!({"mode_pull": 1}), "mode_pull"),
    ] {
        refused(&s, list, with(changes), field).await;
    }
    for missing in ["name", "policy_type", "repository", "schedule"] {
        let mut body = valid.clone();
        body.as_object_mut().unwrap().remove(missing);
        let answer = refused(&s, list, body, missing).await;
        assert_eq!(answer[missing], json!([REQUIRED]));
    }

    let p = s.create(list, valid.clone()).await;
    let path = format!("{list}{}/", p["id"]);
    for (body, field) in [
        (json!({"policy_type": "unknown"}), "policy_type"),
        (json!({"keep_daily": -1}), "keep_daily"),
        (json!({"repository": 99999}), "repository"),
        (json!({"schedule": 99999}), "schedule"),
        (json!({"clients": [99999]}), "clients"),
        (json!({"clients": "1"}), "clients"),
        (json!({"extra_vars": "[1]"}), "extra_vars"),
        (json!({"policy_type": "folders"}), "extra_vars"),
        (json!({"policy_type": "vm"}), "__all__"),
        (json!({"name": "Taken"}), "name"),
        (json!({"enabled": "yes"}), "enabled"),
    ] {
        refused_update(&s, &path, body, field).await;
    }
}

/// A folders policy backs up `extra_vars.folders`, so one without it is refused —
/// also when `extra_vars` is not sent at all.
#[tokio::test]
async fn a_folders_or_piped_policy_without_extra_vars_is_refused() {
    let s = TestServer::start().await;
    let sched = schedule(&s, "S", "0 3 * * * *").await;
    let repo = repository(&s, "R", "/srv/r").await;
    for policy_type in ["folders", "piped"] {
        refused(
            &s,
            "/api/v1/policies/",
            json!({"name": policy_type, "policy_type": policy_type, "repository": repo,
                   "schedule": sched}),
            "extra_vars",
        )
        .await;
    }
}

#[tokio::test]
async fn malformed_bodies_are_400_and_write_nothing() {
    let s = TestServer::start().await;
    let f = s.fixture().await;
    let admin = admin_id(&s).await;
    let lists = [
        "/api/v1/users/",
        "/api/v1/clients/",
        "/api/v1/schedules/",
        "/api/v1/repositories/",
        "/api/v1/policies/",
    ];
    let items = [
        format!("/api/v1/users/{admin}/"),
        format!("/api/v1/clients/{}/", f.client),
        format!("/api/v1/schedules/{}/", f.schedule),
        format!("/api/v1/repositories/{}/", f.repository),
        format!("/api/v1/policies/{}/", f.policy),
    ];
    let bad: [&[u8]; 8] = [
        b"{",
        b"{\"name\": }",
        b"not json",
        b"{\"hostname\": \"x.example.com\"} trailing",
        b"[]",
        b"[{\"name\": \"x\"}]",
        br#"["Array", "0 3 * * * *", true]"#,
        b"\xff\xfe",
    ];
    for list in lists {
        let before = count(&s, list).await;
        for body in bad {
            let (status, answer) = s
                .raw_bytes(Method::POST, list, Some(&s.admin_token), body.to_vec())
                .await;
            let what = format!("POST {list} {}", String::from_utf8_lossy(body));
            assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {answer}");
            assert!(
                answer["detail"].as_str().is_some_and(|d| !d.is_empty()),
                "{what}: {answer}"
            );
        }
        assert_eq!(count(&s, list).await, before, "{list}");
    }
    for path in &items {
        let (_, before) = s.get(path).await;
        for method in [Method::PATCH, Method::PUT] {
            for body in bad {
                let (status, answer) = s
                    .raw_bytes(method.clone(), path, Some(&s.admin_token), body.to_vec())
                    .await;
                let what = format!("{method} {path} {}", String::from_utf8_lossy(body));
                assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {answer}");
                assert!(answer["detail"].is_string(), "{what}: {answer}");
            }
        }
        let (_, after) = s.get(path).await;
        assert_eq!(after, before, "{path} changed");
    }
    // Wrong JSON types: 400 under the field, nothing changed.
    for (path, body, field) in [
        (&items[0], json!({"is_superuser": "yes"}), "is_superuser"),
        (&items[0], json!({"email": 5}), "email"),
        (&items[1], json!({"enabled": "yes"}), "enabled"),
        (&items[1], json!({"hostname": 5}), "hostname"),
        (&items[1], json!({"port": "22"}), "port"),
        (&items[2], json!({"enabled": "yes"}), "enabled"),
        (&items[2], json!({"crontab": ["0", "3"]}), "crontab"),
        (&items[3], json!({"enabled": "yes"}), "enabled"),
        (&items[3], json!({"name": {"a": 1}}), "name"),
        (&items[4], json!({"enabled": "yes"}), "enabled"),
        (&items[4], json!({"clients": "1"}), "clients"),
        (&items[4], json!({"clients": 1}), "clients"),
        (&items[4], json!({"keep_daily": true}), "keep_daily"),
    ] {
        refused_update(&s, path, body, field).await;
    }
}

#[tokio::test]
async fn schedules_and_repositories_in_use_cannot_be_deleted() {
    let s = TestServer::start().await;
    let f = s.fixture().await;
    let policies = count(&s, "/api/v1/policies/").await;
    for path in [
        format!("/api/v1/schedules/{}/", f.schedule),
        format!("/api/v1/repositories/{}/", f.repository),
    ] {
        let (_, before) = s.get(&path).await;
        let (status, answer) = s.delete(&path).await;
        assert_eq!(status, StatusCode::CONFLICT, "DELETE {path}: {answer}");
        let detail = answer["detail"].as_str().expect("detail");
        assert!(detail.contains("Web config"), "names the policy: {detail}");
        let (status, after) = s.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path} was deleted");
        assert_eq!(after, before);
    }
    assert_eq!(count(&s, "/api/v1/policies/").await, policies);
    // Once the policy is gone, they can go.
    let (status, _) = s.delete(&format!("/api/v1/policies/{}/", f.policy)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    delete_then_gone(
        &s,
        &format!("/api/v1/schedules/{}/", f.schedule),
        "/api/v1/schedules/",
    )
    .await;
    delete_then_gone(
        &s,
        &format!("/api/v1/repositories/{}/", f.repository),
        "/api/v1/repositories/",
    )
    .await;
}

#[tokio::test]
async fn deleting_a_client_takes_it_out_of_its_policies() {
    let s = TestServer::start().await;
    let f = s.fixture().await;
    let other = client(&s, "web2.example.com").await;
    let policy_path = format!("/api/v1/policies/{}/", f.policy);
    let (status, p) = s
        .patch(&policy_path, json!({"clients": [f.client, other]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let mut ids: Vec<i64> = p["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    ids.sort();
    let mut expected = vec![f.client, other];
    expected.sort();
    assert_eq!(ids, expected);

    delete_then_gone(
        &s,
        &format!("/api/v1/clients/{}/", f.client),
        "/api/v1/clients/",
    )
    .await;
    let (status, p) = s.get(&policy_path).await;
    assert_eq!(status, StatusCode::OK, "the policy stays");
    assert_eq!(p["clients"], json!([other]));
    let summary: Vec<i64> = p["summary_fields"]["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(summary, vec![other]);
    // A policy whose last client went keeps existing with none.
    delete_then_gone(&s, &format!("/api/v1/clients/{other}/"), "/api/v1/clients/").await;
    let (_, p) = s.get(&policy_path).await;
    assert_eq!(p["clients"], json!([]));
    // Deleting the policy empties the client's summary.
    let third = client(&s, "web3.example.com").await;
    s.patch(&policy_path, json!({"clients": [third]})).await;
    let (_, c) = s.get(&format!("/api/v1/clients/{third}/")).await;
    assert_eq!(c["summary_fields"]["policies"][0]["id"], f.policy);
    s.delete(&policy_path).await;
    let (_, c) = s.get(&format!("/api/v1/clients/{third}/")).await;
    assert_eq!(c["summary_fields"]["policies"], json!([]));
}
