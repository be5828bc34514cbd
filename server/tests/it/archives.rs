//! Repositories and archives as first-class objects, against real borg over a real sshd:
//! repository options validated and reaching borg, encryption fixed once initialised,
//! append-only never pruned; archives listed, detailed with borg's stats, diffed with a known
//! change set, renamed and deleted (never while a job runs on the repository); break-lock only
//! while no job runs; key export; archives made elsewhere imported as foreign.
use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use chrono::Utc;
use cyborg_core::entities::job;
use cyborg_dto::{JobStatus, JobType, LaunchType};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};
use serde_json::{Value, json};

use crate::common::{
    ADMIN_EMAIL, TestServer,
    borg::{Borg, PASSPHRASE, launch, wait_chain, wait_done},
    sshd,
};

const CHAIN: Duration = Duration::from_secs(300);

/// borg run here on the test repository (the "client" is this machine).
fn local_borg(args: &[&str]) -> std::process::Output {
    Command::new("borg")
        .args(args)
        .env("BORG_PASSPHRASE", PASSPHRASE)
        .env("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes")
        .output()
        .expect("running borg")
}

fn local_ok(args: &[&str]) -> String {
    let out = local_borg(args);
    assert!(
        out.status.success(),
        "borg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A job of ours "running" on the repository, as another node's would look in the database.
async fn running_job(db: &DatabaseConnection, b: &Borg) -> i32 {
    let t = Utc::now();
    job::ActiveModel {
        uuid: Set(uuid::Uuid::new_v4().to_string()),
        name: Set("Backup Job elsewhere".into()),
        job_type: Set(JobType::Backup),
        launch_type: Set(LaunchType::Manual),
        status: Set(JobStatus::Running),
        failed: Set(false),
        started: Set(Some(t)),
        client_id: Set(Some(b.client as i32)),
        repository_id: Set(Some(b.repository as i32)),
        archive_name: Set(String::new()),
        job_explanation: Set(String::new()),
        runner_node: Set("node-elsewhere".into()),
        elapsed: Set(0.0),
        original_size: Set(0),
        compressed_size: Set(0),
        deduplicated_size: Set(0),
        cancel_requested: Set(false),
        extra_vars: Set(String::new()),
        created: Set(t),
        modified: Set(t),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("a running job")
    .id
}

async fn end_job(db: &DatabaseConnection, id: i32) {
    let mut j: job::ActiveModel = job::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .into();
    j.status = Set(JobStatus::Successful);
    j.finished = Set(Some(Utc::now()));
    j.update(db).await.unwrap();
}

async fn run_chain(s: &TestServer, policy: i64) -> Vec<Value> {
    let ids = launch(s, policy).await;
    let chain = wait_chain(s, ids[0], CHAIN).await;
    assert!(
        chain.iter().all(|j| j["status"] == "successful"),
        "{chain:#?}"
    );
    chain
}

fn write(p: &Path, text: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[tokio::test]
async fn repository_options_are_validated_and_reach_borg() {
    if let Some(why) = sshd::unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let s = TestServer::start().await;
    let repos = |v: &Value| v["count"].as_u64().unwrap();
    let before = repos(&s.get("/api/v1/repositories/").await.1);
    let (st, v) = s
        .post(
            "/api/v1/repositories/",
            json!({"name": "Bad", "path": "/srv/borg/bad", "encryption": "rot13",
                   "compression": "zstd,23", "quota": "5X", "upload_ratelimit": 0}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    for field in ["encryption", "compression", "quota", "upload_ratelimit"] {
        assert!(v[field].is_array(), "{field} named: {v}");
    }
    let (st, v) = s
        .post(
            "/api/v1/repositories/",
            json!({"name": "Plain", "path": "/srv/borg/plain", "encryption": "none"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["encryption"][0]
            .as_str()
            .unwrap()
            .contains("allow_unencrypted_repositories"),
        "{v}"
    );
    assert_eq!(repos(&s.get("/api/v1/repositories/").await.1), before);
    let (st, v) = s
        .patch(
            "/api/v1/settings/",
            json!({"allow_unencrypted_repositories": true}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let plain = s
        .create(
            "/api/v1/repositories/",
            json!({"name": "Plain", "path": "/srv/borg/plain", "encryption": "none"}),
        )
        .await;
    assert_eq!(plain["encryption"], "none");

    let b = Borg::new(&s).await;
    let repo = format!("/api/v1/repositories/{}/", b.repository);
    let (_, r) = s.get(&repo).await;
    assert_eq!(
        (r["encryption"].as_str(), r["compression"].as_str()),
        (Some("repokey-blake2"), Some("lz4")),
        "defaults: {r}"
    );
    let (st, r) = s
        .patch(
            &repo,
            json!({"compression": "auto, zstd,7", "quota": "2g", "upload_ratelimit": 100000}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["compression"], "auto,zstd,7");
    assert_eq!(r["quota"], "2G");
    let src = b.root.path().join("src");
    write(&src.join("a.txt"), "alpha\n");
    write(&src.join("sub/b.txt"), "beta\n");
    let policy = b
        .policy(
            &s,
            "Options",
            json!({"folders": [src.display().to_string()]}),
            json!({"keep_daily": 1}),
        )
        .await;
    let chain = run_chain(&s, policy).await;
    let repo_path = b.repo_path.display().to_string();
    let info: Value = serde_json::from_str(&local_ok(&["info", "--json", &repo_path])).unwrap();
    assert_eq!(info["encryption"]["mode"], "repokey-blake2");
    assert_eq!(
        local_ok(&["config", &repo_path, "storage_quota"]).trim(),
        "2000000000"
    );
    // The archive detail carries borg's own view, with the options on its command line.
    let (_, list) = s
        .get(&format!("/api/v1/archives/?repository={}", b.repository))
        .await;
    assert_eq!(list["count"], 1, "{list}");
    let id = list["results"][0]["id"].as_i64().unwrap();
    let (st, d) = s.get(&format!("/api/v1/archives/{id}/")).await;
    assert_eq!(st, StatusCode::OK, "{d}");
    let cmd: Vec<&str> = d["borg"]["command_line"]
        .as_array()
        .unwrap_or_else(|| panic!("borg info: {d}"))
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    let after = |opt: &str| cmd.iter().position(|w| *w == opt).map(|i| cmd[i + 1]);
    assert_eq!(after("--compression"), Some("auto,zstd,7"), "{cmd:?}");
    assert_eq!(after("--upload-ratelimit"), Some("100000"), "{cmd:?}");
    assert_eq!(d["borg"]["nfiles"], 2, "{d}");
    assert_eq!(d["name"], chain[0]["archive_name"]);

    // Encryption is fixed once borg has the repository.
    let (st, v) = s.patch(&repo, json!({"encryption": "repokey"})).await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert_eq!(s.get(&repo).await.1["encryption"], "repokey-blake2");

    // Append-only: borg is asked for it by the next prepare job, and nothing is pruned.
    let (st, r) = s.patch(&repo, json!({"append_only": true})).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["ready"], false, "the change waits for a prepare job: {r}");
    let chain = run_chain(&s, policy).await;
    let types: Vec<&str> = chain
        .iter()
        .map(|j| j["job_type"].as_str().unwrap())
        .collect();
    assert!(!types.contains(&"prune"), "{types:?}");
    assert_eq!(local_ok(&["config", &repo_path, "append_only"]).trim(), "1");
    let (_, preview) = s
        .get(&format!("/api/v1/policies/{policy}/retention/"))
        .await;
    assert_eq!(preview["prunes"], false, "{preview}");
    let (_, list) = s
        .get(&format!("/api/v1/archives/?repository={}", b.repository))
        .await;
    let id = list["results"][0]["id"].as_i64().unwrap();
    let (st, v) = s.delete(&format!("/api/v1/archives/{id}/")).await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert_eq!(b.borg_archives().len(), 2);
}

#[tokio::test]
async fn archives_are_listed_diffed_renamed_and_deleted() {
    if let Some(why) = sshd::unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let s = TestServer::start().await;
    let b = Borg::new(&s).await;
    let src = b.root.path().join("src");
    write(&src.join("kept.txt"), "unchanged\n");
    write(&src.join("grows.txt"), "one\n");
    write(&src.join("gone.txt"), "bye\n");
    let policy = b
        .policy(
            &s,
            "Diffed",
            json!({"folders": [src.display().to_string()]}),
            json!({}),
        )
        .await;
    let first = run_chain(&s, policy).await[0]["archive_name"]
        .as_str()
        .unwrap()
        .to_string();
    write(&src.join("grows.txt"), "one\ntwo three\n");
    std::fs::remove_file(src.join("gone.txt")).unwrap();
    write(&src.join("new/fresh.txt"), "fresh!\n");
    let second = run_chain(&s, policy).await[0]["archive_name"]
        .as_str()
        .unwrap()
        .to_string();

    let (st, list) = s
        .get(&format!(
            "/api/v1/archives/?policy={policy}&order_by=-created"
        ))
        .await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list["count"], 2);
    let names: Vec<&str> = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [second.as_str(), first.as_str()]);
    let (new_id, old_id) = (
        list["results"][0]["id"].as_i64().unwrap(),
        list["results"][1]["id"].as_i64().unwrap(),
    );
    assert_eq!(list["results"][0]["catalogued"], true);
    assert_eq!(list["results"][0]["foreign"], false);
    let (_, one) = s.get(&format!("/api/v1/archives/?name={first}")).await;
    assert_eq!(one["count"], 1);
    let (st, v) = s.get("/api/v1/archives/?created__gte=yesterday").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");

    // The diff, whichever way round it is asked.
    let (st, d) = s
        .get(&format!("/api/v1/archives/{new_id}/diff/?other={old_id}"))
        .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    assert_eq!(d["from"]["name"], first.as_str());
    assert_eq!(d["to"]["name"], second.as_str());
    let rel = |p: &str| {
        format!("{}/{p}", src.display())
            .trim_start_matches('/')
            .to_string()
    };
    let by_path = |d: &Value, p: &str| -> Value {
        d["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["path"] == rel(p).as_str())
            .cloned()
            .unwrap_or_else(|| panic!("{p} not in {d:#}"))
    };
    assert_eq!(
        (d["added"].as_u64(), d["removed"].as_u64()),
        (Some(2), Some(1)),
        "{d:#}"
    );
    let fresh = by_path(&d, "new/fresh.txt");
    assert_eq!(
        (fresh["change"].as_str(), fresh["size_after"].as_i64()),
        (Some("added"), Some(7))
    );
    let gone = by_path(&d, "gone.txt");
    assert_eq!(
        (gone["change"].as_str(), gone["size_before"].as_i64()),
        (Some("removed"), Some(4))
    );
    let grows = by_path(&d, "grows.txt");
    assert_eq!(grows["change"], "changed");
    assert!(
        grows["what"]
            .as_array()
            .unwrap()
            .contains(&json!("content")),
        "{grows}"
    );
    assert_eq!(
        (grows["size_before"].as_i64(), grows["size_after"].as_i64()),
        (Some(4), Some(14)),
        "sizes from the catalog: {grows}"
    );
    assert!(
        grows["mtime_before"].is_string() && grows["mtime_after"].is_string(),
        "{grows}"
    );
    assert!(
        !d["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["path"] == rel("kept.txt").as_str()),
        "an unchanged file is not in the diff: {d:#}"
    );
    let (_, swapped) = s
        .get(&format!("/api/v1/archives/{old_id}/diff/?other={new_id}"))
        .await;
    assert_eq!(swapped["results"], d["results"]);
    let (_, only) = s
        .get(&format!(
            "/api/v1/archives/{new_id}/diff/?other={old_id}&change=removed"
        ))
        .await;
    assert_eq!(only["count"], 1, "{only}");
    let (_, paged) = s
        .get(&format!(
            "/api/v1/archives/{new_id}/diff/?other={old_id}&page_size=1"
        ))
        .await;
    assert_eq!(paged["results"].as_array().unwrap().len(), 1);
    assert!(
        paged["next"].as_str().unwrap().contains("other="),
        "{paged}"
    );
    for bad in ["", "&other=x", "&other=999999", "&change=moved", "&zzz=1"] {
        let (st, v) = s
            .get(&format!("/api/v1/archives/{new_id}/diff/?page=1{bad}"))
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }

    // Rename: validated, refused for a regular user, done in borg and here.
    let (_, token) = s.regular_user("viewer@example.com").await;
    let old = format!("/api/v1/archives/{old_id}/");
    let st = s
        .raw(
            reqwest::Method::PATCH,
            &old,
            Some(&token),
            Some(json!({"name": "x"})),
        )
        .await
        .0;
    assert_eq!(st, StatusCode::FORBIDDEN);
    for bad in ["a/b", "-x", "", " padded", "a::b", second.as_str()] {
        let (st, v) = s.patch(&old, json!({"name": bad})).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad:?}: {v}");
        assert!(v["name"].is_array(), "{v}");
    }
    let (st, v) = s.patch(&old, json!({"name": "renamed first"})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["name"], "renamed first");
    let listed = b.borg_archives();
    assert!(
        listed.contains(&"renamed first".to_string()) && !listed.contains(&first),
        "{listed:?}"
    );
    let (_, cat) = s
        .get("/api/v1/catalogs/?archive_name=renamed%20first")
        .await;
    assert!(
        cat["count"].as_u64().unwrap() >= 3,
        "the catalog follows: {cat}"
    );

    // Delete: never while a job runs on the repository (any node's), then only that archive.
    let db = s.db().await;
    let busy = running_job(&db, &b).await;
    let (st, v) = s.delete(&old).await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert!(
        v["detail"].as_str().unwrap().contains(&busy.to_string()),
        "{v}"
    );
    let (st, v) = s.patch(&old, json!({"name": "again"})).await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    end_job(&db, busy).await;
    let st = s
        .raw(reqwest::Method::DELETE, &old, Some(&token), None)
        .await
        .0;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, v) = s.delete(&old).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(b.borg_archives(), vec![second.clone()]);
    assert_eq!(s.get(&old).await.0, StatusCode::NOT_FOUND);
    let (_, cat) = s
        .get("/api/v1/catalogs/?archive_name=renamed%20first")
        .await;
    assert_eq!(cat["count"], 0, "{cat}");
    let (_, r) = s
        .get(&format!("/api/v1/repositories/{}/", b.repository))
        .await;
    assert_eq!(r["held_for"], "", "the hold is released: {r}");
    // A job launched now runs (nothing holds the repository any more).
    let chain = run_chain(&s, policy).await;
    assert_eq!(chain[0]["status"], "successful");
}

/// `borg with-lock REPO sleep 120` here: a lock held by something that is not a job of ours.
fn hold_lock(repo: &Path) -> Child {
    let mut child = Command::new("borg")
        .args(["with-lock", "--"])
        .arg(repo)
        .args(["sleep", "120"])
        .env("BORG_PASSPHRASE", PASSPHRASE)
        .env("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("borg with-lock");
    let lock = repo.join("lock.exclusive");
    for _ in 0..100 {
        if lock.exists() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("borg with-lock took no lock");
}

#[tokio::test]
async fn locks_keys_and_foreign_archives() {
    if let Some(why) = sshd::unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let s = TestServer::start().await;
    let b = Borg::new(&s).await;
    let src = b.root.path().join("src");
    write(&src.join("f.txt"), "f\n");
    let policy = b
        .policy(
            &s,
            "Locks",
            json!({"folders": [src.display().to_string()]}),
            json!({}),
        )
        .await;
    run_chain(&s, policy).await;
    let repo = format!("/api/v1/repositories/{}/", b.repository);
    let (st, l) = s.get(&format!("{repo}lock/")).await;
    assert_eq!(
        (st, l["state"].as_str()),
        (StatusCode::OK, Some("free")),
        "{l}"
    );

    let mut holder = hold_lock(&b.repo_path);
    let (_, l) = s.get(&format!("{repo}lock/")).await;
    assert_eq!(l["state"], "locked", "{l}");
    let pid = holder.id();
    assert!(
        l["holder"]
            .as_str()
            .unwrap()
            .ends_with(&format!(", pid {pid}")),
        "the holder is named: {l}"
    );
    let since = chrono::DateTime::parse_from_rfc3339(l["locked_since"].as_str().unwrap()).unwrap();
    assert!(
        (Utc::now() - since.with_timezone(&Utc)).num_seconds() < 120,
        "{l}"
    );
    let db = s.db().await;
    let busy = running_job(&db, &b).await;
    let (_, l) = s.get(&format!("{repo}lock/")).await;
    assert_eq!(
        (l["state"].as_str(), l["job"].as_i64()),
        (Some("busy"), Some(busy as i64))
    );
    let (st, v) = s.post(&format!("{repo}break-lock/"), json!({})).await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert!(
        b.repo_path.join("lock.exclusive").exists(),
        "nothing was broken"
    );
    end_job(&db, busy).await;
    let (_, token) = s.regular_user("viewer@example.com").await;
    let st = s
        .raw(
            reqwest::Method::POST,
            &format!("{repo}break-lock/"),
            Some(&token),
            Some(json!({})),
        )
        .await
        .0;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, l) = s.post(&format!("{repo}break-lock/"), json!({})).await;
    assert_eq!(st, StatusCode::OK, "{l}");
    assert_eq!(l["state"], "free", "{l}");
    assert_eq!(l["lock_broken_by"], ADMIN_EMAIL, "{l}");
    assert!(!b.repo_path.join("lock.exclusive").exists());
    holder.kill().ok();
    holder.wait().ok();
    let (_, r) = s.get(&repo).await;
    assert_eq!(r["lock_broken_by"], ADMIN_EMAIL);
    assert!(r["lock_broken"].is_string(), "{r}");

    // The key, as borg exports it, for the repository's own id; superusers only.
    let (st, k) = s.get(&format!("{repo}key/")).await;
    assert_eq!(st, StatusCode::OK, "{k}");
    let repo_path = b.repo_path.display().to_string();
    let info: Value = serde_json::from_str(&local_ok(&["info", "--json", &repo_path])).unwrap();
    let id = info["repository"]["id"].as_str().unwrap();
    assert!(
        k["key"]
            .as_str()
            .unwrap()
            .starts_with(&format!("BORG_KEY {id}\n")),
        "{k}"
    );
    assert!(
        k["paper"].as_str().unwrap().contains("BORG PAPER KEY v1"),
        "{k}"
    );
    let key_file = b.root.path().join("exported.key");
    std::fs::write(&key_file, k["key"].as_str().unwrap()).unwrap();
    // The exported key restores a repository whose own key is gone: copy it, drop the key
    // from its config, import the export, and read it.
    let copy = b.root.path().join("copy");
    assert!(
        Command::new("cp")
            .arg("-a")
            .arg(&b.repo_path)
            .arg(&copy)
            .status()
            .unwrap()
            .success()
    );
    let copy_s = copy.display().to_string();
    let config = std::fs::read_to_string(copy.join("config")).unwrap();
    let stripped: String = config
        .lines()
        .take_while(|l| !l.starts_with("key ="))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(copy.join("config"), stripped).unwrap();
    assert!(
        !local_borg(&["list", &copy_s]).status.success(),
        "keyless copy opened"
    );
    local_ok(&["key", "import", &copy_s, key_file.to_str().unwrap()]);
    assert_eq!(local_ok(&["list", "--short", &copy_s]).lines().count(), 1);
    let st = s
        .raw(
            reqwest::Method::GET,
            &format!("{repo}key/"),
            Some(&token),
            None,
        )
        .await
        .0;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // An archive made by someone else is imported as foreign, catalogued, never pruned.
    let other = b.root.path().join("elsewhere");
    write(&other.join("x.txt"), "made by hand\n");
    local_ok(&[
        "create",
        &format!("{repo_path}::by-hand"),
        other.to_str().unwrap(),
    ]);
    let (st, imp) = s.post(&format!("{repo}import/"), json!({})).await;
    assert_eq!(st, StatusCode::OK, "{imp}");
    assert_eq!(imp["imported"], json!(["by-hand"]), "{imp}");
    assert_eq!(imp["known"], 1);
    let job = imp["jobs"][0].as_i64().unwrap();
    let j = wait_done(&s, job, CHAIN).await;
    assert_eq!(j["status"], "successful", "{j}");
    let (_, f) = s
        .get(&format!(
            "/api/v1/archives/?repository={}&foreign=true",
            b.repository
        ))
        .await;
    assert_eq!(f["count"], 1, "{f}");
    assert_eq!(f["results"][0]["name"], "by-hand");
    assert_eq!(f["results"][0]["catalogued"], true, "{f}");
    let (_, again) = s.post(&format!("{repo}import/"), json!({})).await;
    assert_eq!(again["imported"], json!([]), "{again}");
    // A prune of the policy keeps it (it belongs to no policy's lineage).
    let (st, v) = s
        .patch(
            &format!("/api/v1/policies/{policy}/"),
            json!({"keep_last": 1}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    run_chain(&s, policy).await;
    let listed = b.borg_archives();
    assert!(listed.contains(&"by-hand".to_string()), "{listed:?}");
    assert_eq!(
        listed.len(),
        2,
        "one of the policy's, and the foreign one: {listed:?}"
    );
}
