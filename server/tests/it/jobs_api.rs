//! The jobs read API, job logs, the delete rules and `/api/v1/stats/`, over jobs and job events
//! seeded straight into the database (the engine that makes jobs comes later).

use crate::common::{Fixture, TestServer, with_query};
use chrono::{DateTime, Days, NaiveDate, Utc};
use cyborg_core::entities::{job, job_event};
use cyborg_dto::{JobStatus, JobType, LaunchType};
use reqwest::{Method, StatusCode};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    Set,
};
use serde_json::{Value, json};

const LIST: &str = "/api/v1/jobs/";

/// Query parameters of one list request.
type Pairs<'a> = Vec<(&'a str, &'a str)>;

/// What differs between seeded jobs; the rest gets neutral values.
#[derive(Clone)]
struct Seed {
    name: &'static str,
    job_type: &'static str,
    launch_type: &'static str,
    status: &'static str,
    started: Option<DateTime<Utc>>,
    finished: Option<DateTime<Utc>>,
    linked: bool,
    archive_name: &'static str,
    sizes: (i64, i64, i64),
    master_job: Option<i32>,
    depends_on: Option<i32>,
}

impl Default for Seed {
    fn default() -> Self {
        Seed {
            name: "job",
            job_type: "job",
            launch_type: "manual",
            status: "successful",
            started: None,
            finished: None,
            linked: false,
            archive_name: "",
            sizes: (0, 0, 0),
            master_job: None,
            depends_on: None,
        }
    }
}

async fn seed_job(db: &DatabaseConnection, f: &Fixture, s: Seed) -> i32 {
    let t = Utc::now();
    let link = |id: i64| s.linked.then_some(id as i32);
    job::ActiveModel {
        uuid: Set(uuid::Uuid::new_v4().to_string()),
        name: Set(s.name.into()),
        job_type: Set(JobType::parse(s.job_type).expect("a job type")),
        launch_type: Set(LaunchType::parse(s.launch_type).expect("a launch type")),
        status: Set(JobStatus::parse(s.status).expect("a job status")),
        failed: Set(matches!(s.status, "failed" | "error")),
        started: Set(s.started),
        finished: Set(s.finished),
        elapsed: Set(match (s.started, s.finished) {
            (Some(a), Some(b)) => (b - a).num_milliseconds() as f64 / 1000.0,
            _ => 0.0,
        }),
        policy_id: Set(link(f.policy)),
        client_id: Set(link(f.client)),
        repository_id: Set(link(f.repository)),
        archive_name: Set(s.archive_name.into()),
        original_size: Set(s.sizes.0),
        compressed_size: Set(s.sizes.1),
        deduplicated_size: Set(s.sizes.2),
        job_explanation: Set(String::new()),
        master_job_id: Set(s.master_job),
        depends_on_id: Set(s.depends_on),
        created: Set(t),
        modified: Set(t),
        created_by: Set(None),
        modified_by: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("seed job")
    .id
}

async fn seed_events(db: &DatabaseConnection, job_id: i32, lines: &[(i32, &str)]) {
    for (counter, line) in lines {
        job_event::ActiveModel {
            job_id: Set(job_id),
            counter: Set(*counter),
            stdout: Set(line.to_string()),
            created: Set(Utc::now()),
            ..Default::default()
        }
        .insert(db)
        .await
        .expect("seed event");
    }
}

async fn event_count(db: &DatabaseConnection, job_id: i32) -> u64 {
    job_event::Entity::find()
        .filter(job_event::Column::JobId.eq(job_id))
        .count(db)
        .await
        .unwrap()
}

fn at(day: NaiveDate, h: u32, m: u32, s: u32) -> DateTime<Utc> {
    day.and_hms_opt(h, m, s).unwrap().and_utc()
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn days_ago(n: u64) -> NaiveDate {
    today().checked_sub_days(Days::new(n)).unwrap()
}

fn ids(v: &Value) -> Vec<i64> {
    v["results"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {v}"))
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect()
}

struct Seeded {
    s: TestServer,
    f: Fixture,
    /// Successful linked backup, two days ago, with events.
    backup: i32,
    /// Failed linked backup, today.
    failed: i32,
    /// Running check that depends on `backup`.
    running: i32,
    /// Successful prune whose master job is `backup`.
    prune: i32,
    /// Successful unlinked backup, 40 days ago.
    old: i32,
}

async fn seeded() -> Seeded {
    let s = TestServer::start_api_only().await;
    let f = s.fixture().await;
    let db = s.db().await;
    let backup = seed_job(
        &db,
        &f,
        Seed {
            name: "Backup web1",
            linked: true,
            archive_name: "web1-2026-01-01",
            started: Some(at(days_ago(2), 3, 0, 0)),
            finished: Some(at(days_ago(2), 3, 10, 0)),
            sizes: (1000, 500, 200),
            ..Seed::default()
        },
    )
    .await;
    let failed = seed_job(
        &db,
        &f,
        Seed {
            name: "Backup web1 FAILED",
            launch_type: "scheduled",
            status: "failed",
            linked: true,
            started: Some(at(today(), 0, 0, 1)),
            finished: Some(at(today(), 0, 0, 2)),
            sizes: (10, 5, 2),
            ..Seed::default()
        },
    )
    .await;
    let running = seed_job(
        &db,
        &f,
        Seed {
            name: "Check web1",
            job_type: "check",
            launch_type: "dependency",
            status: "running",
            linked: true,
            started: Some(Utc::now()),
            depends_on: Some(backup),
            sizes: (20, 0, 0),
            ..Seed::default()
        },
    )
    .await;
    let prune = seed_job(
        &db,
        &f,
        Seed {
            name: "Prune web1",
            job_type: "prune",
            linked: true,
            started: Some(at(today(), 0, 0, 3)),
            finished: Some(at(today(), 0, 0, 4)),
            master_job: Some(backup),
            sizes: (30, 0, 0),
            ..Seed::default()
        },
    )
    .await;
    let old = seed_job(
        &db,
        &f,
        Seed {
            name: "Old backup",
            archive_name: "old-archive",
            started: Some(at(days_ago(40), 1, 0, 0)),
            finished: Some(at(days_ago(40), 2, 0, 0)),
            sizes: (40, 0, 0),
            ..Seed::default()
        },
    )
    .await;
    seed_events(
        &db,
        backup,
        &[
            (3, "third line"),
            (1, "first line"),
            (5, "fifth line: Été ✓"),
            (2, "second line"),
            (4, "fourth line"),
        ],
    )
    .await;
    db.close().await.ok();
    Seeded {
        s,
        f,
        backup,
        failed,
        running,
        prune,
        old,
    }
}

#[tokio::test]
async fn anonymous_callers_get_401_everywhere() {
    let Seeded { s, backup, .. } = seeded().await;
    for (method, path) in [
        (Method::GET, LIST.to_string()),
        (Method::GET, format!("/api/v1/jobs/{backup}/")),
        (Method::DELETE, format!("/api/v1/jobs/{backup}/")),
        (
            Method::GET,
            format!("/api/v1/jobs/{backup}/stdout/?format=txt"),
        ),
        (
            Method::GET,
            format!("/api/v1/jobs/{backup}/stdout/?format=json"),
        ),
        (Method::GET, format!("/api/v1/jobs/{backup}/events/")),
        (Method::GET, "/api/v1/stats/".to_string()),
        (Method::GET, "/api/v1/stats".to_string()),
    ] {
        let resp = s
            .http
            .request(method.clone(), s.url(&path))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        assert!(
            resp.headers().contains_key("www-authenticate"),
            "{method} {path}"
        );
    }
    // Nothing was deleted by the anonymous DELETE.
    assert_eq!(
        s.get(&format!("/api/v1/jobs/{backup}/")).await.0,
        StatusCode::OK
    );
    // The index lists the new sub-APIs.
    let (_, index) = s.raw(Method::GET, "/api/v1/", None, None).await;
    assert_eq!(index["jobs"], "/api/v1/jobs/");
    assert_eq!(index["stats"], "/api/v1/stats/");
    assert_eq!(index["settings"], "/api/v1/settings/");
}

#[tokio::test]
async fn list_filters_search_order_and_pages() {
    let Seeded {
        s,
        f,
        backup,
        failed,
        running,
        prune,
        old,
    } = seeded().await;
    let list = |pairs: &[(&str, &str)]| with_query(LIST, pairs);

    let (st, all) = s.get(LIST).await;
    assert_eq!(st, StatusCode::OK, "{all}");
    assert_eq!(all["count"], 5);
    assert_eq!(
        ids(&all),
        [old, prune, running, failed, backup].map(i64::from),
        "default order -id"
    );
    assert!(all["next"].is_null() && all["previous"].is_null());

    let p = f.policy.to_string();
    let c = f.client.to_string();
    let r = f.repository.to_string();
    let since = at(days_ago(3), 0, 0, 0).to_rfc3339();
    let today_start = today().format("%Y-%m-%d").to_string();
    let cases: Vec<(Pairs, Vec<i32>)> = vec![
        (vec![("status", "successful")], vec![old, prune, backup]),
        (
            vec![("status__in", "failed,error,running")],
            vec![running, failed],
        ),
        (vec![("job_type", "job")], vec![old, failed, backup]),
        (vec![("job_type", "check")], vec![running]),
        (vec![("launch_type", "scheduled")], vec![failed]),
        (vec![("launch_type", "dependency")], vec![running]),
        (
            vec![("policy", p.as_str())],
            vec![prune, running, failed, backup],
        ),
        (
            vec![("client", c.as_str()), ("job_type", "job")],
            vec![failed, backup],
        ),
        (
            vec![("repository", r.as_str()), ("status", "successful")],
            vec![prune, backup],
        ),
        (vec![("repository__isnull", "true")], vec![old]),
        (vec![("archive_name", "web1-2026-01-01")], vec![backup]),
        (vec![("archive_name__startswith", "old")], vec![old]),
        (vec![("failed", "true")], vec![failed]),
        (
            vec![("failed", "false"), ("job_type", "job")],
            vec![old, backup],
        ),
        (vec![("finished__isnull", "true")], vec![running]),
        (
            vec![("finished__gte", since.as_str())],
            vec![prune, failed, backup],
        ),
        (
            vec![("finished__gte", today_start.as_str())],
            vec![prune, failed],
        ),
        (vec![("started__lt", since.as_str())], vec![old]),
        (vec![("created__lte", "2000-01-01")], vec![]),
        (
            vec![("created__gte", "2000-01-01")],
            vec![old, prune, running, failed, backup],
        ),
        // search looks in name and archive_name, case-insensitively
        (vec![("search", "failed")], vec![failed]),
        (vec![("search", "WEB1-2026")], vec![backup]),
        (
            vec![("search", "web1")],
            vec![prune, running, failed, backup],
        ),
        (vec![("search", "nothing-like-this")], vec![]),
    ];
    for (q, want) in cases {
        let (st, v) = s.get(&list(&q)).await;
        assert_eq!(st, StatusCode::OK, "{q:?}: {v}");
        let want: Vec<i64> = want.iter().map(|&i| i as i64).collect();
        assert_eq!(ids(&v), want, "{q:?}");
        assert_eq!(v["count"], want.len(), "{q:?}");
    }

    // Ordering on a field, both ways (sizes are distinct).
    let (_, v) = s.get(&list(&[("order_by", "-original_size")])).await;
    assert_eq!(
        ids(&v),
        [backup, old, prune, running, failed].map(i64::from)
    );
    let (_, v) = s.get(&list(&[("order", "original_size")])).await;
    assert_eq!(
        ids(&v),
        [failed, running, prune, old, backup].map(i64::from)
    );
    let (_, v) = s.get(&list(&[("order_by", "job_type,-id")])).await;
    assert_eq!(
        ids(&v),
        [running, old, failed, backup, prune].map(i64::from)
    );

    // Pages of two keep the other parameters in their links.
    let (_, p1) = s
        .get(&list(&[("order_by", "id"), ("page_size", "2")]))
        .await;
    assert_eq!(p1["count"], 5);
    assert_eq!(ids(&p1), [backup, failed].map(i64::from));
    assert_eq!(p1["next"], "/api/v1/jobs/?order_by=id&page_size=2&page=2");
    assert!(p1["previous"].is_null());
    let (_, p3) = s
        .get(
            p1["next"]
                .as_str()
                .unwrap()
                .replace("page=2", "page=3")
                .as_str(),
        )
        .await;
    assert_eq!(ids(&p3), vec![old as i64]);
    assert!(p3["next"].is_null());
    assert_eq!(
        p3["previous"],
        "/api/v1/jobs/?order_by=id&page_size=2&page=2"
    );
    let (st, v) = s.get(&list(&[("page_size", "2"), ("page", "4")])).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");

    // Malformed queries are 400s under the parameter's name.
    for q in [
        vec![("bogus", "1")],
        vec![("failed", "maybe")],
        vec![("policy", "abc")],
        vec![("finished__gte", "yesterday")],
        vec![("order_by", "nope")],
        vec![("status__bogus", "x")],
    ] {
        let (st, v) = s.get(&list(&q)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{q:?}: {v}");
        assert!(v.get(q[0].0).is_some(), "{q:?}: {v}");
    }
}

#[tokio::test]
async fn detail_has_the_seed_shape() {
    let Seeded {
        s,
        f,
        backup,
        running,
        prune,
        old,
        ..
    } = seeded().await;
    let (st, j) = s.get(&format!("/api/v1/jobs/{backup}/")).await;
    assert_eq!(st, StatusCode::OK, "{j}");
    let base = format!("/api/v1/jobs/{backup}/");
    assert_eq!(j["id"], backup);
    assert_eq!(j["type"], "job");
    assert_eq!(j["url"], base);
    assert_eq!(
        j["related"],
        json!({
            "stdout": format!("{base}stdout/"),
            "events": format!("{base}events/"),
            "stream": format!("{base}stream/"),
            "cancel": format!("{base}cancel/"),
            "relaunch": format!("{base}relaunch/"),
            "policy": format!("/api/v1/policies/{}/", f.policy),
            "client": format!("/api/v1/clients/{}/", f.client),
            "repository": format!("/api/v1/repositories/{}/", f.repository),
        })
    );
    assert_eq!(
        j["summary_fields"],
        json!({
            "policy": {"id": f.policy, "name": "Web config", "policy_type": "config"},
            "client": {"id": f.client, "hostname": "web1.example.com"},
            "repository": {"id": f.repository, "name": "Main"},
        })
    );
    assert_eq!(j["name"], "Backup web1");
    assert_eq!(j["job_type"], "job");
    assert_eq!(j["launch_type"], "manual");
    assert_eq!(j["status"], "successful");
    assert_eq!(j["failed"], false);
    let started = at(days_ago(2), 3, 0, 0);
    let finished = at(days_ago(2), 3, 10, 0);
    let parse = |v: &Value| {
        let text = v.as_str().unwrap_or_else(|| panic!("a datetime: {v}"));
        assert!(text.ends_with('Z'), "{text}");
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    };
    assert_eq!(parse(&j["started"]), started);
    assert_eq!(parse(&j["finished"]), finished);
    parse(&j["created"]);
    parse(&j["modified"]);
    assert_eq!(j["elapsed"], 600.0);
    assert_eq!(j["policy"], f.policy);
    assert_eq!(j["client"], f.client);
    assert_eq!(j["repository"], f.repository);
    assert_eq!(j["archive_name"], "web1-2026-01-01");
    assert_eq!(j["original_size"], 1000);
    assert_eq!(j["compressed_size"], 500);
    assert_eq!(j["deduplicated_size"], 200);
    assert_eq!(j["job_explanation"], "");
    assert!(j["master_job"].is_null());
    assert_eq!(j["dependent_jobs"], json!([running]));
    assert!(j["created_by"].is_null() && j["modified_by"].is_null());

    let (_, p) = s.get(&format!("/api/v1/jobs/{prune}/")).await;
    assert_eq!(p["master_job"], backup);
    assert_eq!(p["related"]["master_job"], base);
    assert_eq!(p["dependent_jobs"], json!([]));
    let (_, r) = s.get(&format!("/api/v1/jobs/{running}/")).await;
    assert!(r["finished"].is_null());
    assert_eq!(r["status"], "running");

    // An unlinked job has neither links nor small copies of policy, client or repository.
    let (_, o) = s.get(&format!("/api/v1/jobs/{old}/")).await;
    assert!(o["policy"].is_null() && o["client"].is_null() && o["repository"].is_null());
    assert_eq!(o["summary_fields"], json!({}));
    for key in ["policy", "client", "repository"] {
        assert!(o["related"].get(key).is_none(), "{o}");
    }

    // The list holds the same objects as the detail.
    let (_, l) = s
        .get(&with_query(LIST, &[("id", &backup.to_string())]))
        .await;
    assert_eq!(l["results"][0], j);

    // Missing and malformed ids.
    for path in [
        "/api/v1/jobs/999999/",
        "/api/v1/jobs/abc/",
        "/api/v1/jobs/0/",
    ] {
        let (st, v) = s.get(path).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}: {v}");
        assert_eq!(v["detail"], "Not found.");
    }
    // Jobs are not written through the API.
    let (st, _) = s.post(LIST, json!({"name": "x"})).await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn delete_only_finished_jobs_as_superuser() {
    let Seeded {
        s,
        f,
        backup,
        failed,
        running,
        prune,
        ..
    } = seeded().await;
    let db = s.db().await;
    let pending = seed_job(
        &db,
        &f,
        Seed {
            status: "pending",
            ..Seed::default()
        },
    )
    .await;
    let (_, user) = s.regular_user("reader@test.local").await;

    // A regular user may read but not delete.
    let path = format!("/api/v1/jobs/{failed}/");
    let (st, _) = s.raw(Method::GET, &path, Some(&user), None).await;
    assert_eq!(st, StatusCode::OK);
    let (st, v) = s.raw(Method::DELETE, &path, Some(&user), None).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert!(v["detail"].is_string());
    assert_eq!(s.get(&path).await.0, StatusCode::OK);

    // Active jobs are a 409 and stay.
    for id in [running, pending] {
        let path = format!("/api/v1/jobs/{id}/");
        let (st, v) = s.delete(&path).await;
        assert_eq!(st, StatusCode::CONFLICT, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("finished"), "{v}");
        assert_eq!(s.get(&path).await.0, StatusCode::OK);
    }

    // A finished job goes, with its log; the jobs pointing at it lose the link.
    assert_eq!(event_count(&db, backup).await, 5);
    let (st, v) = s.delete(&format!("/api/v1/jobs/{backup}/")).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    assert!(v.is_null());
    assert_eq!(
        s.get(&format!("/api/v1/jobs/{backup}/")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(event_count(&db, backup).await, 0);
    let (_, p) = s.get(&format!("/api/v1/jobs/{prune}/")).await;
    assert!(p["master_job"].is_null(), "{p}");
    assert_eq!(
        s.get(&format!("/api/v1/jobs/{backup}/stdout/")).await.0,
        StatusCode::NOT_FOUND
    );
    // Failed (and canceled) jobs are finished too.
    assert_eq!(s.delete(&path).await.0, StatusCode::NO_CONTENT);
    let canceled = seed_job(
        &db,
        &f,
        Seed {
            status: "canceled",
            ..Seed::default()
        },
    )
    .await;
    assert_eq!(
        s.delete(&format!("/api/v1/jobs/{canceled}/")).await.0,
        StatusCode::NO_CONTENT
    );
    // Missing ids.
    let (st, v) = s.delete("/api/v1/jobs/999999/").await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    let (_, rest) = s.get(LIST).await;
    assert_eq!(rest["count"], 4);
    db.close().await.ok();
}

#[tokio::test]
async fn stdout_and_events_follow_the_counter() {
    let Seeded {
        s, backup, failed, ..
    } = seeded().await;
    let expected =
        "first line\nsecond line\nthird line\nfourth line\nfifth line: Été ✓".to_string();

    // txt, the default: text/plain.
    for q in ["", "?format=txt"] {
        let resp = s
            .http
            .get(s.url(&format!("/api/v1/jobs/{backup}/stdout/{q}")))
            .bearer_auth(&s.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/plain"), "{ct}");
        assert_eq!(resp.text().await.unwrap(), expected);
    }
    let (st, v) = s
        .get(&format!("/api/v1/jobs/{backup}/stdout/?format=json"))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"content": expected}));
    // Without the trailing slash too.
    let (st, v) = s
        .get(&format!("/api/v1/jobs/{backup}/stdout?format=json"))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["content"], expected);
    // A job without a log has empty content.
    let (_, v) = s
        .get(&format!("/api/v1/jobs/{failed}/stdout/?format=json"))
        .await;
    assert_eq!(v, json!({"content": ""}));
    // Other formats and parameters are 400; missing jobs 404.
    for q in ["?format=html", "?format=", "?format=txt&bogus=1"] {
        let (st, v) = s.get(&format!("/api/v1/jobs/{backup}/stdout/{q}")).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{q}: {v}");
    }
    let (st, _) = s.get("/api/v1/jobs/999999/stdout/?format=txt").await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Events: numbered lines, counter ascending by default, paginated.
    let base = format!("/api/v1/jobs/{backup}/events/");
    let (st, all) = s.get(&base).await;
    assert_eq!(st, StatusCode::OK, "{all}");
    assert_eq!(all["count"], 5);
    let counters: Vec<i64> = all["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["counter"].as_i64().unwrap())
        .collect();
    assert_eq!(counters, [1, 2, 3, 4, 5]);
    let lines: Vec<&str> = all["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["stdout"].as_str().unwrap())
        .collect();
    assert_eq!(lines.join("\n"), expected, "events agree with stdout");
    let first = &all["results"][0];
    let keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(keys.len(), 4, "{first}");
    assert!(first["id"].is_i64() && first["created"].as_str().unwrap().ends_with('Z'));

    let (_, p1) = s.get(&format!("{base}?page_size=2")).await;
    assert_eq!(p1["count"], 5);
    assert_eq!(p1["results"][0]["stdout"], "first line");
    assert_eq!(p1["results"][1]["stdout"], "second line");
    assert_eq!(p1["next"], format!("{base}?page_size=2&page=2"));
    assert!(p1["previous"].is_null());
    let (_, p3) = s.get(&format!("{base}?page_size=2&page=3")).await;
    assert_eq!(p3["results"].as_array().unwrap().len(), 1);
    assert_eq!(p3["results"][0]["counter"], 5);
    assert!(p3["next"].is_null());
    assert_eq!(p3["previous"], format!("{base}?page_size=2&page=2"));
    let (st, _) = s.get(&format!("{base}?page_size=2&page=4")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    let (_, desc) = s
        .get(&format!("{base}?order_by=-counter&page_size=1"))
        .await;
    assert_eq!(desc["results"][0]["counter"], 5);
    let (_, found) = s.get(&with_query(&base, &[("search", "ÉTÉ")])).await;
    assert_eq!(found["count"], 1, "{found}");
    let (_, gt) = s.get(&format!("{base}?counter__gt=3")).await;
    assert_eq!(gt["count"], 2);
    let (st, _) = s.get(&format!("{base}?bogus=1")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (_, none) = s.get(&format!("/api/v1/jobs/{failed}/events/")).await;
    assert_eq!(none["count"], 0);
    assert_eq!(none["results"], json!([]));
    let (st, _) = s.get("/api/v1/jobs/999999/events/").await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Regular users may read logs.
    let (_, user) = s.regular_user("reader@test.local").await;
    let (st, v) = s
        .raw(
            Method::GET,
            &format!("/api/v1/jobs/{backup}/stdout/?format=json"),
            Some(&user),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["content"], expected);
}

#[tokio::test]
async fn stats_cover_thirty_days() {
    let s = TestServer::start_api_only().await;
    let f = s.fixture().await;
    let db = s.db().await;
    let done = |status: &'static str, job_type: &'static str, day: NaiveDate, sizes| Seed {
        status,
        job_type,
        linked: true,
        started: Some(at(day, 0, 0, 0)),
        finished: Some(at(day, 0, 0, 1)),
        sizes,
        ..Seed::default()
    };
    for seed in [
        // today: two successful backups, a successful prune, a failed backup, a canceled one
        done("successful", "job", today(), (50, 30, 10)),
        done("successful", "job", today(), (5, 3, 1)),
        done("successful", "prune", today(), (1000, 1000, 1000)),
        done("failed", "job", today(), (77, 77, 77)),
        done("canceled", "job", today(), (88, 88, 88)),
        // yesterday: an error
        done("error", "check", days_ago(1), (99, 99, 99)),
        // two days ago: one backup
        done("successful", "job", days_ago(2), (1000, 500, 200)),
        // the oldest day of the window, and the day before it (left out)
        done("successful", "job", days_ago(29), (7, 5, 3)),
        Seed {
            finished: Some(at(days_ago(30), 23, 59, 59)),
            ..done("successful", "job", days_ago(30), (123, 123, 123))
        },
        // running and unfinished jobs count nowhere
        Seed {
            status: "running",
            finished: None,
            ..done("running", "job", today(), (9, 9, 9))
        },
    ] {
        seed_job(&db, &f, seed).await;
    }
    db.close().await.ok();

    let (st, rows) = s.get("/api/v1/stats/").await;
    assert_eq!(st, StatusCode::OK, "{rows}");
    let rows = rows.as_array().expect("a bare array");
    assert_eq!(rows.len(), 30);
    for (i, row) in rows.iter().enumerate() {
        let day = days_ago(29 - i as u64);
        assert_eq!(row["date"], day.format("%Y-%m-%d").to_string(), "row {i}");
        let want = match 29 - i {
            0 => json!({"size": 55, "dedup": 11, "success": 3, "failed": 1}),
            1 => json!({"size": 0, "dedup": 0, "success": 0, "failed": 1}),
            2 => json!({"size": 1000, "dedup": 200, "success": 1, "failed": 0}),
            29 => json!({"size": 7, "dedup": 3, "success": 1, "failed": 0}),
            _ => json!({"size": 0, "dedup": 0, "success": 0, "failed": 0}),
        };
        for key in ["size", "dedup", "success", "failed"] {
            assert_eq!(row[key], want[key], "{key} of {row}");
        }
        assert_eq!(row.as_object().unwrap().len(), 5, "{row}");
    }
    // Regular users may read the statistics; without the trailing slash too.
    let (_, user) = s.regular_user("reader@test.local").await;
    let (st, v) = s.raw(Method::GET, "/api/v1/stats", Some(&user), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v.as_array().unwrap().len(), 30);
}
