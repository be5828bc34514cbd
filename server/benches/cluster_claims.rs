//! What the cluster machinery costs: `CYBORG_BENCH_POLICIES` (default 10,000) policies, each on a
//! client of its own, over `CYBORG_BENCH_REPOSITORIES` (default 100) repositories, all due in
//! the same minute, on `CYBORG_BENCH_NODES` (default 3) nodes — three job engines in this
//! process, each with its own data directory and database pool, schedulers on — whose jobs end
//! `successful` the moment they are claimed (`Engine::end_jobs_at_once`): only launching and
//! claiming are measured. Capacity per node `CYBORG_BENCH_CAPACITY` (default 4, twice the cores
//! of the machine the numbers in docs/PERFORMANCE.md come from).
//!
//! Prints the time until every policy was launched, until every job was claimed and ended,
//! claims a second, how the claims spread over the nodes, then the database's transactions a
//! second per idle node over `CYBORG_BENCH_IDLE_SECONDS` (default 60, after 15 s of settling:
//! the monitor's first evaluations of the new pairs; PostgreSQL's `pg_stat_database`, the bench
//! itself silent meanwhile).
//!
//! Run: `cargo bench -p server --bench cluster_claims` (PostgreSQL on 127.0.0.1:5432; a new
//! database, dropped after).
use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use chrono::{TimeDelta, Utc};
use cyborg_core::{
    config::NodeConfig,
    db,
    entities::{client, policy, policy_client, repository, schedule},
    secrets::Secrets,
    state::AppState,
};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, EntityTrait, Set, Statement};

#[path = "common/fleet.rs"]
mod fleet;

const PG_BASE: &str = "postgres://postgres@127.0.0.1:5432";

fn env(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

#[tokio::main]
async fn main() {
    let policies = env("CYBORG_BENCH_POLICIES", 10_000);
    let repositories = env("CYBORG_BENCH_REPOSITORIES", 100);
    let nodes = env("CYBORG_BENCH_NODES", 3);
    let capacity = env("CYBORG_BENCH_CAPACITY", 4);
    let idle = env("CYBORG_BENCH_IDLE_SECONDS", 60);
    let name = format!("cyborg_bench_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(format!("{PG_BASE}/postgres"))
        .await
        .expect("PostgreSQL on 127.0.0.1:5432");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create the bench database");
    let url = format!("{PG_BASE}/{name}");
    let conn = db::connect(&url).await.expect("database");
    db::migrate(&conn).await.expect("migrations");
    seed(&conn, policies, repositories).await;
    conn.execute_unprepared("ANALYZE").await.unwrap();
    println!(
        "{policies} policies (one client each) over {repositories} repositories, {nodes} nodes \
         of capacity {capacity}, jobs ending at once"
    );

    let dirs: Vec<_> = (0..nodes).map(|_| tempfile::tempdir().unwrap()).collect();
    let started = Instant::now();
    let mut states = Vec::new();
    for d in &dirs {
        let node_db = db::connect(&url).await.expect("node database");
        let st = AppState::new(
            node_db,
            Secrets::from_secret("bench-secret"),
            d.path().to_path_buf(),
            0,
        );
        st.engine.end_jobs_at_once();
        st.engine
            .start(
                true,
                &NodeConfig {
                    max_jobs: Some(capacity),
                    ..NodeConfig::default()
                },
            )
            .await
            .expect("engine");
        states.push(st);
    }

    // Launched: a backup job per policy; done: no job queued or running, all of them ended.
    let mut launched = None;
    let done = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let backups = scalar(&conn, "SELECT COUNT(*) FROM jobs WHERE job_type = 'job'").await;
        if launched.is_none() && backups as usize == policies {
            launched = Some(started.elapsed());
        }
        let open = scalar(
            &conn,
            "SELECT COUNT(*) FROM jobs WHERE status IN ('new', 'pending', 'waiting', 'running')",
        )
        .await;
        if launched.is_some() && open == 0 {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(3600),
            "not done after an hour"
        );
    };
    let launched = launched.unwrap();
    let jobs = scalar(&conn, "SELECT COUNT(*) FROM jobs").await;
    let ok = scalar(
        &conn,
        "SELECT COUNT(*) FROM jobs WHERE status = 'successful'",
    )
    .await;
    assert_eq!(ok, jobs, "every job ended successful");
    println!(
        "all {policies} policies launched after {:.1} s; all {jobs} jobs claimed and ended after \
         {:.1} s: {:.0} claims/s",
        launched.as_secs_f64(),
        done.as_secs_f64(),
        jobs as f64 / done.as_secs_f64()
    );
    let rows = conn
        .query_all(Statement::from_string(
            conn.get_database_backend(),
            "SELECT runner_node, COUNT(*) FROM jobs GROUP BY runner_node",
        ))
        .await
        .unwrap();
    let per_node: BTreeMap<String, i64> = rows
        .iter()
        .map(|r| {
            (
                r.try_get_by_index::<String>(0).unwrap(),
                r.try_get_by_index::<i64>(1).unwrap(),
            )
        })
        .collect();
    println!(
        "claims per node: {:?}",
        per_node.values().collect::<Vec<_>>()
    );

    // Idle: every node beats, polls for work, the schedulers look for due policies.
    let xacts = format!(
        "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database WHERE datname = '{name}'"
    );
    tokio::time::sleep(Duration::from_secs(15)).await;
    let before = scalar(&admin, &xacts).await;
    tokio::time::sleep(Duration::from_secs(idle as u64)).await;
    let after = scalar(&admin, &xacts).await;
    println!(
        "idle: {:.1} transactions/s per node ({} over {idle} s, {nodes} nodes)",
        (after - before) as f64 / idle as f64 / nodes as f64,
        after - before
    );

    drop(states);
    conn.close().await.ok();
    admin
        .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .ok();
}

/// The repositories, a schedule that does not come again during the bench, one client per
/// policy, and the policies, due now.
async fn seed(conn: &DatabaseConnection, policies: usize, repositories: usize) {
    let t = Utc::now();
    schedule::Entity::insert(schedule::ActiveModel {
        uuid: Set("s".into()),
        name: Set("new year".into()),
        crontab: Set("0 0 1 1 * *".into()),
        enabled: Set(true),
        created: Set(t),
        modified: Set(t),
        ..Default::default()
    })
    .exec(conn)
    .await
    .unwrap();
    let repos: Vec<repository::ActiveModel> = (1..=repositories)
        .map(|i| fleet::repository(i, t))
        .collect();
    repository::Entity::insert_many(repos)
        .exec(conn)
        .await
        .unwrap();
    for chunk in (1..=policies).collect::<Vec<_>>().chunks(1000) {
        let clients: Vec<client::ActiveModel> =
            chunk.iter().map(|i| fleet::client(*i, t)).collect();
        client::Entity::insert_many(clients)
            .exec(conn)
            .await
            .unwrap();
        let rows: Vec<policy::ActiveModel> = chunk
            .iter()
            .map(|i| {
                let repository = (*i % repositories) as i32 + 1;
                fleet::policy(*i, repository, 1, None, t - TimeDelta::seconds(1), t)
            })
            .collect();
        policy::Entity::insert_many(rows).exec(conn).await.unwrap();
        let links: Vec<policy_client::ActiveModel> = chunk
            .iter()
            .map(|i| policy_client::ActiveModel {
                policy_id: Set(*i as i32),
                client_id: Set(*i as i32),
            })
            .collect();
        policy_client::Entity::insert_many(links)
            .exec(conn)
            .await
            .unwrap();
    }
}
