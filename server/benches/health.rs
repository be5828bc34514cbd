//! What knowing the fleet's health costs: every server process with the scheduler evaluates the
//! alert rules every 10 s, and the overview, `GET /api/v1/health/` and `/metrics` compute the
//! health of every (policy, client) pair on each read.
//!
//! A fleet of 50 clients and 20 policies over all of them (1,000 pairs), with
//! `CYBORG_BENCH_JOBS_PER_PAIR` (default 100) finished backups per pair — 100,000 jobs, about a
//! quarter of a year of nightly backups — a few failing. Times, over `CYBORG_BENCH_ROUNDS`
//! (default 20) rounds after 2 unmeasured: `health::rows` (every pair's state), one
//! `alerts::evaluate` with nothing to change (the monitor's steady state), and a `/metrics`
//! render (`Metrics::render`).
//!
//! Run: `cargo bench -p server --bench health` (SQLite in a temp dir), or with
//! `CYBORG_BENCH_DB=postgres` against a new database on 127.0.0.1:5432 (dropped after).
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use cyborg_core::{
    db,
    entities::{client, job, policy, policy_client, repository, schedule},
    metrics::Metrics,
    services::{alerts, health},
};
use cyborg_dto::{JobStatus, JobType, LaunchType};
use sea_orm::{ConnectionTrait, Database, EntityTrait, Set};

#[path = "common/fleet.rs"]
mod fleet;

const CLIENTS: i32 = 50;
const POLICIES: i32 = 20;
const PG_BASE: &str = "postgres://postgres@127.0.0.1:5432";

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{what}: p50 {:.1} ms, p90 {:.1} ms, worst {:.1} ms over {} rounds",
        ms(times[times.len() / 2]),
        ms(times[times.len() * 9 / 10]),
        ms(times[times.len() - 1]),
        times.len()
    );
}

#[tokio::main]
async fn main() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let rounds = env("CYBORG_BENCH_ROUNDS", 20);
    let per_pair = env("CYBORG_BENCH_JOBS_PER_PAIR", 100);
    let dir = tempfile::tempdir().expect("temp dir");
    let pg = std::env::var("CYBORG_BENCH_DB").is_ok_and(|v| v == "postgres");
    let (url, pg_name) = if pg {
        let name = format!("cyborg_bench_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(format!("{PG_BASE}/postgres"))
            .await
            .expect("PostgreSQL on 127.0.0.1:5432");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the bench database");
        (format!("{PG_BASE}/{name}"), Some(name))
    } else {
        (
            format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()),
            None,
        )
    };
    let conn = db::connect(&url).await.expect("database");
    db::migrate(&conn).await.expect("migrations");
    seed(&conn, per_pair).await;
    // Planner statistics, as autovacuum (PostgreSQL) or `PRAGMA optimize` would have them on a
    // server that has run for months; right after a bulk insert there are none.
    conn.execute_unprepared("ANALYZE").await.expect("ANALYZE");

    let metrics = Metrics::new();
    let now = Utc::now();
    let rows = health::rows(&conn, now).await.unwrap();
    let states = |s: &str| rows.iter().filter(|r| r.state == s).count();
    println!(
        "{} on {}: {} pairs ({} ok, {} failing, {} late), {} jobs",
        if pg { "PostgreSQL" } else { "SQLite" },
        url.split('?').next().unwrap_or(&url),
        rows.len(),
        states("ok"),
        states("failing"),
        states("late"),
        CLIENTS as usize * POLICIES as usize * per_pair,
    );
    alerts::evaluate(&conn, now).await.unwrap();
    let (mut t_rows, mut t_eval, mut t_metrics) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds + 2 {
        let t = Instant::now();
        health::rows(&conn, now).await.unwrap();
        let a = t.elapsed();
        let t = Instant::now();
        let changed = alerts::evaluate(&conn, now).await.unwrap();
        let b = t.elapsed();
        assert_eq!(
            changed.raised + changed.resolved,
            0,
            "the steady state changes nothing"
        );
        let t = Instant::now();
        let text = metrics.render(&conn).await.unwrap();
        let c = t.elapsed();
        if round == 0 {
            println!(
                "/metrics: {} bytes, {} lines",
                text.len(),
                text.lines().count()
            );
        }
        if round >= 2 {
            t_rows.push(a);
            t_eval.push(b);
            t_metrics.push(c);
        }
    }
    report("health::rows", t_rows);
    report("alerts::evaluate (nothing to change)", t_eval);
    report("Metrics::render", t_metrics);
    conn.close().await.ok();
    if let Some(name) = pg_name {
        let admin = Database::connect(format!("{PG_BASE}/postgres"))
            .await
            .unwrap();
        admin
            .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .await
            .ok();
    }
}

/// 50 clients, a repository, a nightly schedule, 20 policies over every client, and
/// `per_pair` backups a day apart per pair: the newest failed for every 10th pair, the newest
/// three days old for every 25th (late).
async fn seed(conn: &sea_orm::DatabaseConnection, per_pair: usize) {
    let t = Utc::now();
    schedule::Entity::insert(schedule::ActiveModel {
        uuid: Set("s".into()),
        name: Set("nightly".into()),
        crontab: Set("0 3 * * * *".into()),
        enabled: Set(true),
        created: Set(t),
        modified: Set(t),
        ..Default::default()
    })
    .exec(conn)
    .await
    .unwrap();
    repository::Entity::insert(fleet::repository(1, t))
        .exec(conn)
        .await
        .unwrap();
    let clients: Vec<client::ActiveModel> = (1..=CLIENTS as usize)
        .map(|i| fleet::client(i, t))
        .collect();
    client::Entity::insert_many(clients)
        .exec(conn)
        .await
        .unwrap();
    let policies: Vec<policy::ActiveModel> = (1..=POLICIES as usize)
        .map(|i| fleet::policy(i, 1, 1, Some(7), t + TimeDelta::hours(3), t))
        .collect();
    policy::Entity::insert_many(policies)
        .exec(conn)
        .await
        .unwrap();
    let links: Vec<policy_client::ActiveModel> = (1..=POLICIES)
        .flat_map(|p| {
            (1..=CLIENTS).map(move |c| policy_client::ActiveModel {
                policy_id: Set(p),
                client_id: Set(c),
            })
        })
        .collect();
    for chunk in links.chunks(500) {
        policy_client::Entity::insert_many(chunk.to_vec())
            .exec(conn)
            .await
            .unwrap();
    }
    let mut batch = Vec::new();
    let mut pair = 0;
    for p in 1..=POLICIES {
        for c in 1..=CLIENTS {
            pair += 1;
            let late = pair % 25 == 0;
            for k in (0..per_pair).rev() {
                let age =
                    TimeDelta::days(k as i64 + if late { 3 } else { 0 }) + TimeDelta::hours(1);
                let failed = k == 0 && pair % 10 == 0;
                let finished = t - age;
                batch.push(job::ActiveModel {
                    uuid: Set(format!("j{p}-{c}-{k}")),
                    name: Set("backup".into()),
                    job_type: Set(JobType::Backup),
                    launch_type: Set(LaunchType::Scheduled),
                    status: Set(if failed {
                        JobStatus::Error
                    } else {
                        JobStatus::Successful
                    }),
                    failed: Set(failed),
                    started: Set(Some(finished - TimeDelta::minutes(10))),
                    finished: Set(Some(finished)),
                    elapsed: Set(600.0),
                    policy_id: Set(Some(p)),
                    client_id: Set(Some(c)),
                    repository_id: Set(Some(1)),
                    archive_name: Set(format!("a-{p}-{c}-{k}")),
                    original_size: Set(1 << 30),
                    compressed_size: Set(1 << 29),
                    deduplicated_size: Set(1 << 20),
                    job_explanation: Set(if failed {
                        "SSH to root@host:22 failed: Connection refused".into()
                    } else {
                        String::new()
                    }),
                    created: Set(finished),
                    modified: Set(finished),
                    ..Default::default()
                });
                if batch.len() == 500 {
                    job::Entity::insert_many(std::mem::take(&mut batch))
                        .exec(conn)
                        .await
                        .unwrap();
                }
            }
        }
    }
    if !batch.is_empty() {
        job::Entity::insert_many(batch).exec(conn).await.unwrap();
    }
}
