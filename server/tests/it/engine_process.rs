//! The engine across process lives: a server killed with SIGKILL in the middle of a backup and
//! started again, and the scheduler (once per minute; with two server processes on one
//! PostgreSQL, each run exactly once).

use std::{
    collections::BTreeMap,
    path::Path,
    time::{Duration, Instant},
};

use crate::common::{
    TestServer, backend,
    borg::{Borg, launch, stdout, wait_chain, wait_done, wait_remote_pid},
    free_port, sshd,
};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::json;

const CHAIN: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_backup_then_restart() {
    if let Some(why) = sshd::unavailable() {
        panic!("this test needs a real sshd: {why}");
    }
    let mut s = TestServer::spawn_process().await;
    let b = Borg::new(&s).await;
    let (policy, src) = b.slow_policy(&s, "Killed").await;
    let ids = launch(&s, policy).await;
    let pid = wait_remote_pid(&s, ids[0]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(Path::new(&format!("/proc/{pid}")).exists(), "borg runs");

    s.kill_and_restart().await;
    // Recovery ran before the restarted server answered.
    let j = wait_done(&s, ids[0], Duration::from_secs(5)).await;
    assert_eq!(j["status"], "error", "{j}");
    let why = j["job_explanation"].as_str().unwrap();
    assert!(
        why.contains("The server stopped while this job was running"),
        "{why}"
    );
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "borg {pid} survived the restart"
    );
    let log = stdout(&s, ids[0]).await;
    assert!(log.contains("recovering at start-up"), "{log}");

    // The next launch succeeds: no stale lock, no leftover process in the way.
    std::fs::remove_file(src.join("huge.img")).unwrap();
    std::fs::write(src.join("a.txt"), b"a\n").unwrap();
    let again = launch(&s, policy).await;
    for j in wait_chain(&s, again[0], CHAIN).await {
        assert_eq!(
            j["status"],
            "successful",
            "{j}\n{}",
            stdout(&s, j["id"].as_i64().unwrap()).await
        );
    }
    assert_eq!(b.borg_archives().len(), 1);
}

/// The scheduled backup jobs of `policy`, by creation time.
async fn scheduled_backups(s: &TestServer, policy: i64) -> Vec<DateTime<Utc>> {
    let (_, list) = s
        .get(&format!(
            "/api/v1/jobs/?policy={policy}&job_type=job&launch_type=scheduled&order_by=id&page_size=1000"
        ))
        .await;
    list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            DateTime::parse_from_rfc3339(j["created"].as_str().unwrap())
                .unwrap()
                .to_utc()
        })
        .collect()
}

/// A policy on `crontab` whose only client has a closed SSH port: its jobs fail at once, so
/// what is tested is the launching.
async fn closed_port_policy(s: &TestServer, crontab: &str) -> i64 {
    let client = s
        .create(
            "/api/v1/clients/",
            json!({"hostname": "127.0.0.1", "port": free_port()}),
        )
        .await;
    let repo = s
        .create(
            "/api/v1/repositories/",
            json!({"name": "R", "path": "/srv/borg/sched", "repository_key": "k-e-y-1"}),
        )
        .await;
    let schedule = s
        .create(
            "/api/v1/schedules/",
            json!({"name": "Schedule", "crontab": crontab}),
        )
        .await;
    s.create(
        "/api/v1/policies/",
        json!({"name": "Scheduled", "policy_type": "config", "repository": repo["id"],
               "schedule": schedule["id"], "clients": [client["id"]]}),
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

/// Watches an every-minute policy for `minutes` full minutes on `servers` and checks that
/// each minute's run was launched exactly once, within seconds of its time.
async fn every_minute_exactly_once(servers: &[&TestServer], minutes: i64) {
    let s = servers[0];
    let start = Utc::now();
    let policy = closed_port_policy(s, "*/1 * * * * *").await;
    let first = start.duration_trunc(TimeDelta::minutes(1)).unwrap() + TimeDelta::minutes(1);
    let last = first + TimeDelta::minutes(minutes - 1);
    // Until the last run plus the scheduler's poll and some slack.
    let until = last + TimeDelta::seconds(15);
    let wait = (until - Utc::now()).to_std().unwrap_or_default();
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let created = scheduled_backups(s, policy).await;
    let mut per_minute: BTreeMap<DateTime<Utc>, usize> = BTreeMap::new();
    for c in &created {
        let minute = c.duration_trunc(TimeDelta::minutes(1)).unwrap();
        assert!(
            *c - minute <= TimeDelta::seconds(12),
            "run of {minute} launched late at {c}"
        );
        *per_minute.entry(minute).or_default() += 1;
    }
    let want: BTreeMap<DateTime<Utc>, usize> = (0..minutes)
        .map(|i| (first + TimeDelta::minutes(i), 1))
        .collect();
    assert_eq!(
        per_minute, want,
        "scheduled launches by minute: {created:?}"
    );
    // next_run moved past the last run.
    let (_, p) = s.get(&format!("/api/v1/policies/{policy}/")).await;
    let next = DateTime::parse_from_rfc3339(p["next_run"].as_str().unwrap()).unwrap();
    assert!(next.to_utc() > last, "{p}");
    // Both servers see the same jobs; the jobs ran (and failed on the closed port), none stuck.
    for other in &servers[1..] {
        assert_eq!(scheduled_backups(other, policy).await, created);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_launches_each_minute_exactly_once() {
    if backend() == "postgres" {
        // Two server processes, each with its own node, on one PostgreSQL database.
        let a = TestServer::spawn_process().await;
        let b = a.another_process().await;
        every_minute_exactly_once(&[&a, &b], 5).await;
    } else {
        let s = TestServer::start().await;
        every_minute_exactly_once(&[&s], 2).await;
    }
}

/// A run whose time passed while no server ran is launched once at start-up, with the missed
/// times in its explanation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_run_is_launched_once_and_explained() {
    let s = TestServer::start().await;
    let policy = closed_port_policy(&s, "0 * * * * *").await;
    // As if the server had been down since three hours ago: next_run is in the past.
    let past = (Utc::now() - TimeDelta::hours(3))
        .duration_trunc(TimeDelta::hours(1))
        .unwrap();
    {
        use sea_orm::{ActiveModelTrait, ActiveValue::Set};
        cyborg_core::entities::policy::ActiveModel {
            id: Set(policy as i32),
            next_run: Set(Some(past)),
            ..Default::default()
        }
        .update(&s.db().await)
        .await
        .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let created = loop {
        let c = scheduled_backups(&s, policy).await;
        if !c.is_empty() || Instant::now() > deadline {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(created.len(), 1, "{created:?}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        scheduled_backups(&s, policy).await.len(),
        1,
        "launched once only"
    );
    let (_, list) = s
        .get(&format!("/api/v1/jobs/?policy={policy}&job_type=job"))
        .await;
    let why = list["results"][0]["job_explanation"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(why.contains("the server was not running"), "{why}\n{list}");
    assert!(why.contains("later scheduled run(s) were missed"), "{why}");
    let (_, p) = s.get(&format!("/api/v1/policies/{policy}/")).await;
    let next = DateTime::parse_from_rfc3339(p["next_run"].as_str().unwrap()).unwrap();
    assert!(next.to_utc() > Utc::now(), "{p}");
}
