//! Issue 5 speed targets, measured over real HTTP against the server running in this process on
//! a fresh SQLite database (engine and scheduler off, so nothing else runs):
//! - the server-side render of the overview (`GET /`, the whole HTML page, its data read through
//!   the service layer) ≤ 10 ms p50 with 1,000 jobs in the database;
//! - the calendar of an every-minute policy (44,640 runs in a 31-day month) renders its month
//!   (`GET /calendar?month=…`) in under one second;
//! - and, for the record, the jobs list (`GET /jobs`) with the same 1,000 jobs.
//!
//! Run: `cargo bench -p server --bench dashboard_render` (`CYBORG_BENCH_ROUNDS`, default 50
//! renders of each page after 5 warm-up ones). Prints p50, p90 and the worst time per page.
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use cyborg_core::{config::Config, entities::job};
use cyborg_dto::{JobStatus, JobType, LaunchType};
use sea_orm::{ActiveModelTrait, Database, Set};
use serde_json::{Value, json};

const EMAIL: &str = "bench@bench.local";
const PASSWORD: &str = "bench-password-123";
const JOBS: usize = 1000;

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn post(&self, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .basic_auth(EMAIL, Some(PASSWORD))
            .json(&body)
            .send()
            .await
            .expect("request");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.expect("json")
    }
}

/// Renders `path` `rounds` times (after 5 unmeasured) with the session cookie; answers the
/// sorted durations.
async fn measure(c: &Client, cookie: &str, path: &str, rounds: usize) -> Vec<Duration> {
    let get = || async {
        let t = Instant::now();
        let resp = c
            .http
            .get(format!("{}{path}", c.base))
            .header("cookie", cookie)
            .send()
            .await
            .expect("render");
        assert_eq!(resp.status(), 200, "{path}");
        let body = resp.text().await.expect("body");
        assert!(body.contains("</html>"), "{path}: a whole page");
        (t.elapsed(), body.len())
    };
    for _ in 0..5 {
        get().await;
    }
    let mut out = Vec::with_capacity(rounds);
    let mut size = 0;
    for _ in 0..rounds {
        let (d, n) = get().await;
        out.push(d);
        size = n;
    }
    out.sort();
    println!(
        "{path}: p50 {:.2} ms, p90 {:.2} ms, worst {:.2} ms over {rounds} renders ({size} bytes of HTML)",
        ms(out[out.len() / 2]),
        ms(out[out.len() * 9 / 10]),
        ms(out[out.len() - 1]),
    );
    out
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::var("CYBORG_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}/bench.db?mode=rwc", dir.path().display());
    let config = Config {
        database_url: Some(db_url.clone()),
        database_url_file: None,
        data_dir: dir.path().join("data"),
        site_addr: "127.0.0.1:0".parse().unwrap(),
        site_root: dir.path().join("site").display().to_string(),
        admin_email: Some(EMAIL.into()),
        admin_password: Some(PASSWORD.into()),
        admin_password_file: None,
        secret_key: Some("bench-secret-key".into()),
        secret_key_file: None,
        engine: false,
        scheduler: false,
        catalog_index_mb: 64,
        trusted_proxies: Vec::new(),
        metrics_token: None,
        metrics_token_file: None,
        metrics_addr: None,
        log: "warn".into(),
        node: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(server::start(config, Some(listener)));
    let c = Client {
        http: reqwest::Client::new(),
        base,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while c
        .http
        .get(format!("{}/api/v1/ping/", c.base))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A fleet's worth of objects: 20 clients, 5 repositories, 20 policies (one every minute,
    // the rest nightly), and 1,000 finished and running jobs spread over the last 30 days.
    let minute = c
        .post(
            "/api/v1/schedules/",
            json!({"name": "every minute", "crontab": "* * * * *"}),
        )
        .await;
    let nightly = c
        .post(
            "/api/v1/schedules/",
            json!({"name": "nightly", "crontab": "0 3 * * *"}),
        )
        .await;
    let mut repos = Vec::new();
    for r in 0..5 {
        repos.push(
            c.post(
                "/api/v1/repositories/",
                json!({"name": format!("repo{r}"), "path": format!("/srv/borg/repo{r}")}),
            )
            .await["id"]
                .clone(),
        );
    }
    let mut clients = Vec::new();
    for h in 0..20 {
        clients.push(
            c.post(
                "/api/v1/clients/",
                json!({"hostname": format!("host{h:02}.example.com")}),
            )
            .await["id"]
                .clone(),
        );
    }
    for p in 0..20 {
        let schedule = if p == 0 {
            &minute["id"]
        } else {
            &nightly["id"]
        };
        c.post(
            "/api/v1/policies/",
            json!({"name": format!("policy{p:02}"), "policy_type": "config",
                   "clients": [clients[p]], "repository": repos[p % 5], "schedule": schedule}),
        )
        .await;
    }
    let db = Database::connect(&db_url).await.expect("db");
    let now = Utc::now();
    let statuses = [
        JobStatus::Successful,
        JobStatus::Successful,
        JobStatus::Successful,
        JobStatus::Failed,
        JobStatus::Running,
    ];
    for i in 0..JOBS {
        let status = statuses[i % statuses.len()];
        let started = now - TimeDelta::minutes((i as i64) * 43);
        job::ActiveModel {
            uuid: Set(uuid::Uuid::new_v4().to_string()),
            name: Set(format!("policy{:02} backup", i % 20)),
            job_type: Set(JobType::Backup),
            launch_type: Set(LaunchType::Scheduled),
            status: Set(status),
            failed: Set(status == JobStatus::Failed),
            started: Set(Some(started)),
            finished: Set((status != JobStatus::Running).then(|| started + TimeDelta::minutes(3))),
            elapsed: Set(180.0),
            archive_name: Set(format!("config-host{:02}-{i}", i % 20)),
            original_size: Set(10_000_000 + i as i64),
            compressed_size: Set(5_000_000),
            deduplicated_size: Set(100_000),
            job_explanation: Set(String::new()),
            created: Set(started),
            modified: Set(started),
            ..Default::default()
        }
        .insert(&db)
        .await
        .expect("seed job");
    }

    let resp = c
        .http
        .post(format!("{}/api/session/", c.base))
        // The login refuses cross-site posts: a browser sends its page's origin.
        .header("origin", c.base.as_str())
        .json(&json!({"email": EMAIL, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();

    println!("{JOBS} jobs, 20 clients, 20 policies (one every minute), SQLite");
    let overview = measure(&c, &cookie, "/", rounds).await;
    let month = format!(
        "/calendar?month={}",
        (now + TimeDelta::days(40)).format("%Y-%m")
    );
    let calendar = measure(&c, &cookie, &month, rounds.min(20)).await;
    measure(&c, &cookie, "/jobs", rounds).await;
    let p50 = |v: &[Duration]| ms(v[v.len() / 2]);
    println!(
        "targets: overview p50 ≤ 10 ms: {} ({:.2} ms); every-minute calendar month < 1 s: {} (worst {:.2} ms)",
        if p50(&overview) <= 10.0 {
            "MET"
        } else {
            "MISSED"
        },
        p50(&overview),
        if ms(calendar[calendar.len() - 1]) < 1000.0 {
            "MET"
        } else {
            "MISSED"
        },
        ms(calendar[calendar.len() - 1]),
    );
}
