//! Integrity jobs over a real sshd and borg: `borg check` plus a restore test of the newest
//! archive's files against the catalog and the unchanged sources; a source that differs at the
//! same size and mtime, and a damaged repository segment, fail the job.

use std::{process::Command, time::Duration};

use crate::common::{
    TestServer,
    borg::{Borg, stdout, wait_done},
    sshd,
    tree::make_tree,
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(180);

async fn check(s: &TestServer, repo: i64, body: Value) -> Value {
    let (st, answer) = s
        .post(&format!("/api/v1/repositories/{repo}/integrity/"), body)
        .await;
    assert_eq!(st.as_u16(), 201, "{answer}");
    let id = answer["job"].as_i64().unwrap();
    let job = wait_done(s, id, WAIT).await;
    assert_eq!(job["job_type"], "integrity");
    let log = stdout(s, id).await;
    json!({"job": job, "log": log})
}

/// Sets a file's mtime (seconds) with `touch -d @N`.
fn set_mtime(path: &std::path::Path, secs: i64) {
    let st = Command::new("touch")
        .arg("-d")
        .arg(format!("@{secs}"))
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_restore_test_find_damage() {
    if let Some(why) = sshd::unavailable() {
        panic!("the integrity tests need a real sshd: {why}");
    }
    let s = TestServer::start().await;
    let b = Borg::new(&s).await;
    let tree = b.root.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    make_tree(&tree);
    let (policy, _) = b.back_up(&s, "Checked", &tree).await;

    // Everything as backed up: 5 regular files, all equal to their source.
    let r = check(&s, b.repository, json!({"sample": 100})).await;
    assert_eq!(r["job"]["status"], "successful", "{r}");
    let why = r["job"]["job_explanation"].as_str().unwrap();
    assert!(why.contains("borg check: no problem found"), "{why}");
    assert!(
        why.contains("5 file(s) of ") && why.contains("5 equal to their unchanged source"),
        "{why}"
    );
    assert_eq!(r["job"]["client"], b.client);

    // One source edited normally (changed since: not a problem); one altered behind borg's back
    // (same size, same mtime, other bytes): the restore test reports it.
    let edited = tree.join("dir with space/sub dir/script.sh");
    std::fs::write(&edited, b"#!/bin/sh\necho changed\n").unwrap();
    let altered = tree.join("dir with space/a file.txt");
    let mtime = std::fs::metadata(&altered)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    std::fs::write(&altered, b"HELLO\n").unwrap();
    set_mtime(&altered, mtime);
    let r = check(&s, b.repository, json!({"policy": policy, "sample": 100})).await;
    assert_eq!(r["job"]["status"], "failed", "{r}");
    let why = r["job"]["job_explanation"].as_str().unwrap();
    assert!(why.contains("1 problem(s)"), "{why}");
    assert!(
        why.contains("a file.txt: the extracted content differs from the source"),
        "{why}"
    );
    assert!(why.contains("1 changed since the backup"), "{why}");
    assert!(r["log"].as_str().unwrap().contains("PROBLEM"), "{r}");

    // A damaged segment: borg check fails the job.
    let mut segments: Vec<std::path::PathBuf> = walkdir(&b.repo_path.join("data"));
    segments.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    let biggest = segments.last().expect("a segment file").clone();
    let mut bytes = std::fs::read(&biggest).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0xA5;
    }
    std::fs::write(&biggest, bytes).unwrap();
    let r = check(&s, b.repository, json!({"sample": 0})).await;
    assert_eq!(r["job"]["status"], "failed", "{r}");
    assert!(
        r["job"]["job_explanation"]
            .as_str()
            .unwrap()
            .contains("borg check found problems"),
        "{r}"
    );

    // Refusals, before any job exists.
    let (st, body) = s
        .post(
            &format!("/api/v1/repositories/{}/integrity/", b.repository),
            json!({"sample": 5000}),
        )
        .await;
    assert_eq!(st.as_u16(), 400, "{body}");
    assert!(body["sample"].is_array(), "{body}");
    let lonely = s
        .create(
            "/api/v1/repositories/",
            json!({"name": "Unused", "path": "/srv/unused", "repository_key": "k-e-y"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let (st, body) = s
        .post(
            &format!("/api/v1/repositories/{lonely}/integrity/"),
            json!({"policy": policy}),
        )
        .await;
    assert_eq!(st.as_u16(), 400, "another repository's policy: {body}");
    let (st, body) = s
        .post(
            &format!("/api/v1/repositories/{lonely}/integrity/"),
            json!({}),
        )
        .await;
    assert_eq!(st.as_u16(), 409, "no client reaches it: {body}");
    let (st, _) = s
        .post("/api/v1/repositories/999999/integrity/", json!({}))
        .await;
    assert_eq!(st.as_u16(), 404);
    let (_, token) = s.regular_user("reader@test.local").await;
    let (st, _) = s
        .raw(
            reqwest::Method::POST,
            &format!("/api/v1/repositories/{}/integrity/", b.repository),
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(st.as_u16(), 403);
}

/// Every file below `dir`.
fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Integrity checks scheduled per repository: the repository's `integrity_schedule` gives its
/// `integrity_next_run`; when that time has come the scheduler launches one `scheduled`
/// integrity job (and moves the time to the next run); the schedule cannot be deleted while a
/// repository follows it; bad input changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrity_checks_follow_their_repository_schedule() {
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    if let Some(why) = sshd::unavailable() {
        panic!("the integrity tests need a real sshd: {why}");
    }
    let s = TestServer::start().await;
    let b = Borg::new(&s).await;
    let tree = b.root.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    make_tree(&tree);
    b.back_up(&s, "Scheduled checks", &tree).await;
    let path = format!("/api/v1/repositories/{}/", b.repository);

    // Refused: a schedule that does not exist, or not a number; nothing changes.
    let (_, before) = s.get(&path).await;
    assert!(before["integrity_schedule"].is_null(), "{before}");
    assert!(before["integrity_next_run"].is_null(), "{before}");
    for bad in [json!(999_999), json!("weekly")] {
        let (st, answer) = s.patch(&path, json!({"integrity_schedule": bad})).await;
        assert_eq!(st.as_u16(), 400, "{answer}");
        assert!(answer["integrity_schedule"].is_array(), "{answer}");
        assert_eq!(s.get(&path).await.1, before);
    }

    // A schedule of its own, on 1 January: that is the next check.
    let yearly = s
        .create(
            "/api/v1/schedules/",
            json!({"name": "Yearly checks", "crontab": "0 0 1 1 * *"}),
        )
        .await["id"]
        .clone();
    let (st, repo) = s.patch(&path, json!({"integrity_schedule": yearly})).await;
    assert_eq!(st.as_u16(), 200, "{repo}");
    assert_eq!(repo["integrity_schedule"], yearly);
    let next = repo["integrity_next_run"].as_str().unwrap().to_string();
    assert!(next.contains("-01-01T00:00:00"), "{next}");
    let (st, refused) = s.delete(&format!("/api/v1/schedules/{yearly}/")).await;
    assert_eq!(st.as_u16(), 409, "{refused}");
    assert!(refused.to_string().contains("Test repo"), "{refused}");

    // Its time has come (as if it were 1 January): one scheduled integrity job, successful.
    let db = s.db().await;
    let row = cyborg_core::entities::repository::Entity::find_by_id(b.repository as i32)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    let mut m = cyborg_core::entities::repository::ActiveModel::from(row);
    m.integrity_next_run = Set(Some(chrono::Utc::now() - chrono::Duration::seconds(5)));
    m.update(&db).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let job = loop {
        let (_, list) = s
            .get("/api/v1/jobs/?job_type=integrity&launch_type=scheduled")
            .await;
        if list["count"] == 1 {
            break list["results"][0].clone();
        }
        assert!(list["count"] == 0, "{list}");
        assert!(
            std::time::Instant::now() < deadline,
            "no scheduled integrity job"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let id = job["id"].as_i64().unwrap();
    let done = wait_done(&s, id, WAIT).await;
    assert_eq!(done["status"], "successful", "{done}");
    assert_eq!(done["repository"], b.repository);
    let (_, repo) = s.get(&path).await;
    assert_eq!(repo["integrity_next_run"].as_str().unwrap(), next);
    assert_eq!(repo["last_integrity"]["job"], id);
    // Several scheduler ticks later, still exactly one.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (_, list) = s.get("/api/v1/jobs/?job_type=integrity").await;
    assert_eq!(list["count"], 1, "{list}");
    // A relaunch checks the same archive again.
    let (st, again) = s
        .post(&format!("/api/v1/jobs/{id}/relaunch/"), json!({}))
        .await;
    assert_eq!(st.as_u16(), 201, "{again}");
    let rj = wait_done(&s, again["job"].as_i64().unwrap(), WAIT).await;
    assert_eq!(rj["status"], "successful", "{rj}");
    assert_eq!(rj["launch_type"], "relaunch");
    assert_eq!(rj["archive_name"], done["archive_name"]);

    // Unscheduled: no next check, and the schedule can go.
    let (_, repo) = s.patch(&path, json!({"integrity_schedule": null})).await;
    assert!(repo["integrity_schedule"].is_null(), "{repo}");
    assert!(repo["integrity_next_run"].is_null(), "{repo}");
    let (st, _) = s.delete(&format!("/api/v1/schedules/{yearly}/")).await;
    assert_eq!(st.as_u16(), 204);
}
