//! The job engine end to end: real borg on a "client" reached over a real sshd on 127.0.0.1
//! with the server's own key — backups, catalog, sizes, dedup, prune, the live stream, cancel,
//! injection and secrets. (Restart after SIGKILL and the scheduler are in `engine_process.rs`.)

use std::{collections::BTreeMap, os::unix::fs::MetadataExt, path::Path, time::Duration};

use crate::common::{
    TestServer,
    borg::{
        Borg, PASSPHRASE, job, launch, process_running, ps_args, stdout, wait_chain, wait_done,
        wait_job, wait_remote_pid,
    },
    sshd,
    tree::{make_tree, mode_string, noise, walk},
    with_query,
};
use serde_json::{Value, json};

const CHAIN: Duration = Duration::from_secs(120);

fn require_sshd() {
    if let Some(why) = sshd::unavailable() {
        panic!("the engine tests need a real sshd: {why}");
    }
}

/// Every catalog entry of an archive, by path.
async fn catalog(s: &TestServer, archive_name: &str) -> BTreeMap<String, Value> {
    let url = with_query(
        "/api/v1/catalogs/",
        &[("archive_name", archive_name), ("page_size", "10000")],
    );
    let (st, body) = s.get(&url).await;
    assert_eq!(st.as_u16(), 200, "{body}");
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["path"].as_str().unwrap().to_string(), e.clone()))
        .collect()
}

/// borg's name of an absolute path: without the leading slash.
fn borg_path(p: &Path) -> String {
    p.to_str().unwrap().trim_start_matches('/').to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_backup_catalog_sizes_dedup_and_prune() {
    require_sshd();
    let s = TestServer::start().await;
    let b = Borg::new(&s).await;
    let tree = b.root.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    make_tree(&tree);
    // 10 MB that does not compress.
    let big = noise(10_000_000, 0x9E37_79B9_7F4A_7C15);
    std::fs::write(tree.join("big file.bin"), &big).unwrap();
    let policy = b
        .policy(
            &s,
            "Tree",
            json!({"folders": [tree.display().to_string()]}),
            json!({}),
        )
        .await;

    let first = launch(&s, policy).await;
    assert_eq!(first.len(), 1);
    let chain = wait_chain(&s, first[0], CHAIN).await;
    for j in &chain {
        assert_eq!(
            j["status"],
            "successful",
            "{j}\n{}",
            stdout(&s, j["id"].as_i64().unwrap()).await
        );
    }
    // check (client and repository not ready yet) → backup → catalog; no prune without keep_*.
    let types: Vec<&str> = chain
        .iter()
        .map(|j| j["job_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["job", "check", "catalog"], "{chain:?}");
    let backup = &chain[0];
    let name = backup["archive_name"].as_str().unwrap().to_string();
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(
        name.starts_with(&format!("folders-127.0.0.1-{today}_")),
        "{name}"
    );
    assert_eq!(
        name.len(),
        "folders-127.0.0.1-2026-11-27_10-05".len(),
        "{name}"
    );
    assert_eq!(b.borg_archives(), vec![name.as_str()]);
    let original = backup["original_size"].as_i64().unwrap();
    assert!(original >= 10_000_000, "{backup}");
    assert!(
        backup["deduplicated_size"].as_i64().unwrap() > 9_000_000,
        "{backup}"
    );
    assert_eq!(backup["launch_type"], "manual");
    assert_eq!(chain[2]["launch_type"], "dependency");
    assert_eq!(chain[2]["archive_name"], name);

    // The client and repository are ready now, with what borg said.
    let (_, client) = s.get(&format!("/api/v1/clients/{}/", b.client)).await;
    assert_eq!(client["ready"], true);
    assert!(
        client["version"].as_str().unwrap().starts_with("1."),
        "{client}"
    );
    assert_eq!(client["ip"], "127.0.0.1");
    let (_, repo) = s
        .get(&format!("/api/v1/repositories/{}/", b.repository))
        .await;
    assert_eq!(repo["ready"], true);
    for k in ["original_size", "compressed_size", "deduplicated_size"] {
        assert!(repo[k].as_i64().unwrap() > 0, "{k}: {repo}");
    }

    // The catalog holds every item with what stat says.
    let entries = catalog(&s, &name).await;
    let items = walk(&tree);
    for (rel, m) in &items {
        let path = if rel == "." {
            borg_path(&tree)
        } else {
            borg_path(&tree.join(rel))
        };
        let e = entries
            .get(&path)
            .unwrap_or_else(|| panic!("{path} not catalogued; have {:?}", entries.keys()));
        assert_eq!(e["mode"], mode_string(m), "{path}");
        assert_eq!(e["owner"], "root", "{path}");
        assert_eq!(e["group"], "root", "{path}");
        if m.is_file() {
            assert_eq!(e["size"].as_i64().unwrap(), m.len() as i64, "{path}");
        }
        let mtime = chrono::DateTime::parse_from_rfc3339(e["mtime"].as_str().unwrap())
            .unwrap()
            .to_utc();
        let want = chrono::DateTime::from_timestamp(m.mtime(), m.mtime_nsec() as u32).unwrap();
        assert!(
            (mtime - want).num_microseconds().unwrap().abs() <= 1,
            "{path}: {mtime} vs {want}"
        );
        assert_eq!(e["job"], backup["id"], "{path}");
    }

    // The log is stored (numbered) and streamed (the stream of a finished job replays it and ends).
    let log = stdout(&s, first[0]).await;
    assert!(log.contains("'borg' 'create' '--json'"), "{log}");
    assert!(!log.contains(PASSPHRASE), "passphrase in the log");
    let (_, events) = s.get(&format!("/api/v1/jobs/{}/events/", first[0])).await;
    assert_eq!(events["results"][0]["counter"], 1);
    let sse = s
        .http
        .get(s.url(&format!("/api/v1/jobs/{}/stream/", first[0])))
        .bearer_auth(&s.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        sse.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let body = tokio::time::timeout(Duration::from_secs(20), sse.text())
        .await
        .expect("the stream of a finished job ends")
        .unwrap();
    assert!(body.contains("event: line\n"), "{body}");
    assert!(body.contains("id: 1\n"), "{body}");
    assert!(body.contains("\"status\":\"successful\""), "{body}");
    assert!(!body.contains(PASSPHRASE));

    // A second run deduplicates against the first.
    std::fs::write(tree.join("new.txt"), b"one more file\n").unwrap();
    let second = launch(&s, policy).await;
    let chain2 = wait_chain(&s, second[0], CHAIN).await;
    for j in &chain2 {
        assert_eq!(j["status"], "successful", "{j}");
    }
    assert_eq!(chain2.len(), 2, "no check job once ready: {chain2:?}");
    let name2 = chain2[0]["archive_name"].as_str().unwrap().to_string();
    assert_ne!(name2, name);
    let dedup2 = chain2[0]["deduplicated_size"].as_i64().unwrap();
    assert!(
        dedup2 * 10 < original,
        "second run added {dedup2} bytes of {original}"
    );
    assert!(
        catalog(&s, &name2)
            .await
            .contains_key(&borg_path(&tree.join("new.txt")))
    );

    // keep_daily=1: the next launch prunes the policy's archives down to one and forgets the
    // catalogs of the pruned ones.
    let (st, body) = s
        .patch(
            &format!("/api/v1/policies/{policy}/"),
            json!({"keep_daily": 1}),
        )
        .await;
    assert_eq!(st.as_u16(), 200, "{body}");
    let third = launch(&s, policy).await;
    let chain3 = wait_chain(&s, third[0], CHAIN).await;
    let types: Vec<&str> = chain3
        .iter()
        .map(|j| j["job_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["job", "catalog", "prune"]);
    for j in &chain3 {
        assert_eq!(
            j["status"],
            "successful",
            "{j}\n{}",
            stdout(&s, j["id"].as_i64().unwrap()).await
        );
    }
    let name3 = chain3[0]["archive_name"].as_str().unwrap().to_string();
    assert_eq!(b.borg_archives(), vec![name3.as_str()]);
    assert!(catalog(&s, &name).await.is_empty());
    assert!(catalog(&s, &name2).await.is_empty());
    assert!(!catalog(&s, &name3).await.is_empty());
    let (_, repo2) = s
        .get(&format!("/api/v1/repositories/{}/", b.repository))
        .await;
    assert!(repo2["deduplicated_size"].as_i64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_borg_and_the_next_launch_succeeds() {
    require_sshd();
    let s = TestServer::start().await;
    let b = Borg::new(&s).await;
    let (policy, src) = b.slow_policy(&s, "Slow").await;
    let ids = launch(&s, policy).await;
    // A second launch while the first is active is refused.
    let (st, body) = s
        .post(&format!("/api/v1/policies/{policy}/launch/"), json!({}))
        .await;
    assert_eq!(st.as_u16(), 409, "{body}");

    let running = wait_job(&s, ids[0], CHAIN, "borg running", |j| {
        j["status"] == "running"
    })
    .await;
    // Wait for the remote pid: borg really runs.
    let pid = wait_remote_pid(&s, ids[0]).await;
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    // The passphrase is in no process's arguments while borg runs.
    for _ in 0..10 {
        assert!(!ps_args().contains(PASSPHRASE), "passphrase visible in ps");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Follow the live stream while borg runs: the lines so far arrive, then (after the cancel)
    // the `canceled` status, then the stream ends.
    let mut live = s
        .http
        .get(s.url(&format!("/api/v1/jobs/{}/stream/", ids[0])))
        .bearer_auth(&s.admin_token)
        .send()
        .await
        .unwrap();
    let mut seen = String::new();
    while !(seen.contains("'borg' 'create'") && seen.contains("\"status\":\"running\"")) {
        let chunk = tokio::time::timeout(Duration::from_secs(20), live.chunk())
            .await
            .expect("live lines")
            .unwrap()
            .expect("stream open while the job runs");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let (st, body) = s
        .post(&format!("/api/v1/jobs/{}/cancel/", ids[0]), json!({}))
        .await;
    assert_eq!(st.as_u16(), 202, "{body}");
    let rest = tokio::time::timeout(Duration::from_secs(90), async {
        let mut rest = String::new();
        while let Some(chunk) = live.chunk().await.unwrap() {
            rest.push_str(&String::from_utf8_lossy(&chunk));
        }
        rest
    })
    .await
    .expect("the stream ends when the job is over");
    assert!(rest.contains("cancel requested"), "{rest}");
    assert!(rest.contains("\"status\":\"canceled\""), "{rest}");
    let done = wait_done(&s, ids[0], Duration::from_secs(90)).await;
    assert_eq!(done["status"], "canceled", "{done}");
    assert_eq!(done["failed"], true);
    assert!(running["started"].is_string());
    // No borg of ours is left, on the client (pid) or locally (ssh).
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "borg {pid} still runs"
    );
    assert!(
        !process_running(&b.repo_path.display().to_string()),
        "{}",
        ps_args()
    );
    // The catalog job that waited on it was canceled, not run.
    let (_, deps) = s.get(&format!("/api/v1/jobs/?master_job={}", ids[0])).await;
    for d in deps["results"].as_array().unwrap() {
        if d["job_type"] == "catalog" {
            assert_eq!(d["status"], "canceled", "{d}");
        }
    }
    // Cancel of a finished job: 409.
    let (st, _) = s
        .post(&format!("/api/v1/jobs/{}/cancel/", ids[0]), json!({}))
        .await;
    assert_eq!(st.as_u16(), 409);

    // The next launch succeeds (no stale lock), now without the slow file.
    std::fs::remove_file(src.join("huge.img")).unwrap();
    std::fs::write(src.join("small.txt"), b"small\n").unwrap();
    let again = launch(&s, policy).await;
    for j in wait_chain(&s, again[0], CHAIN).await {
        assert_eq!(
            j["status"],
            "successful",
            "{j}\n{}",
            stdout(&s, j["id"].as_i64().unwrap()).await
        );
    }
    // Relaunch of a finished backup makes a new chain.
    let (st, body) = s
        .post(&format!("/api/v1/jobs/{}/relaunch/", again[0]), json!({}))
        .await;
    assert_eq!(st.as_u16(), 201, "{body}");
    let re = body["job"].as_i64().unwrap();
    let rj = wait_done(&s, re, CHAIN).await;
    assert_eq!(rj["launch_type"], "relaunch");
    assert_eq!(rj["status"], "successful", "{rj}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injection_is_refused_or_literal_and_secrets_stay_hidden() {
    require_sshd();
    let s = TestServer::start().await;
    let b = Borg::new(&s).await;
    let canary = b.root.path().join("CANARY");
    let c = canary.display().to_string();
    let nasty = [
        format!("; touch {c}"),
        format!("$(touch {c})"),
        format!("`touch {c}`"),
        format!("' ; touch {c} ; '"),
        format!("\" ; touch {c} ; \""),
        format!("a\ntouch {c}"),
    ];
    // Hostnames and ports: refused.
    for n in &nasty {
        let (st, body) = s
            .post("/api/v1/clients/", json!({"hostname": format!("h{n}")}))
            .await;
        assert_eq!(st.as_u16(), 400, "hostname {n:?}: {body}");
        assert!(body["hostname"].is_array(), "{body}");
        let (st, _) = s
            .post(
                "/api/v1/clients/",
                json!({"hostname": "ok.example.com", "port": format!("22{n}")}),
            )
            .await;
        assert_eq!(st.as_u16(), 400, "port {n:?}");
    }
    // A newline in a folder is refused; the rest is a literal folder name that really exists.
    let (st, body) = s
        .post(
            "/api/v1/policies/",
            json!({"name": "nl", "policy_type": "folders", "repository": b.repository,
                   "schedule": b.schedule, "clients": [b.client],
                   "extra_vars": json!({"folders": [format!("/tmp/a\ntouch {c}")]}).to_string()}),
        )
        .await;
    assert_eq!(st.as_u16(), 400, "{body}");
    let base = b.root.path().join("data");
    let mut folders = Vec::new();
    for n in nasty.iter().filter(|n| !n.contains('\n')) {
        let dir = base.join(format!("x{}", n.replace('/', "_")));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("f.txt"), b"literal\n").unwrap();
        folders.push(dir.display().to_string());
    }
    let excludes: Vec<String> = nasty
        .iter()
        .filter(|n| !n.contains('\n'))
        .map(|n| format!("*{n}*.skip"))
        .collect();
    // The repository path carries quotes and `$( )` too.
    let repo_path = b.root.path().join(format!("repo '$(touch {c})' \"q\""));
    let repo = s
        .create(
            "/api/v1/repositories/",
            json!({"name": "Nasty repo", "path": repo_path.display().to_string(),
                   "repository_key": PASSPHRASE}),
        )
        .await;
    let policy = s
        .create(
            "/api/v1/policies/",
            json!({"name": format!("p{}", nasty[1]), "policy_type": "folders",
                   "repository": repo["id"], "schedule": b.schedule, "clients": [b.client],
                   "extra_vars": json!({"folders": folders, "exclude": excludes}).to_string()}),
        )
        .await;
    let ids = launch(&s, policy["id"].as_i64().unwrap()).await;
    let chain = wait_chain(&s, ids[0], CHAIN).await;
    for j in &chain {
        if j["status"] != "successful" {
            let mut logs = String::new();
            for j in &chain {
                logs.push_str(&stdout(&s, j["id"].as_i64().unwrap()).await);
            }
            panic!("{j}\n{logs}");
        }
    }
    assert!(
        !canary.exists(),
        "the canary was created: a value reached a shell unquoted"
    );
    assert!(
        repo_path.join("config").exists(),
        "the repository is at its literal path"
    );
    let entries = catalog(&s, chain[0]["archive_name"].as_str().unwrap()).await;
    for f in &folders {
        let p = format!("{}/f.txt", f.trim_start_matches('/'));
        assert!(
            entries.contains_key(&p),
            "{p} missing: {:?}",
            entries.keys()
        );
    }

    // The passphrase: never in a log, and only superusers read it.
    for j in &chain {
        let log = stdout(&s, j["id"].as_i64().unwrap()).await;
        assert!(!log.contains(PASSPHRASE), "passphrase in the log of {j}");
    }
    let (_, token) = s.regular_user("reader@test.local").await;
    for path in [
        format!("/api/v1/repositories/{}/", repo["id"]),
        "/api/v1/repositories/".to_string(),
        format!("/api/v1/jobs/{}/", ids[0]),
        format!("/api/v1/jobs/{}/stdout/?format=json", ids[0]),
        format!("/api/v1/jobs/{}/events/", ids[0]),
    ] {
        let (st, body) = s.raw(reqwest::Method::GET, &path, Some(&token), None).await;
        assert_eq!(st.as_u16(), 200, "{path}: {body}");
        assert!(!body.to_string().contains(PASSPHRASE), "{path}: {body}");
    }
    // A regular user may not launch or cancel.
    let (st, _) = s
        .raw(
            reqwest::Method::POST,
            &format!("/api/v1/policies/{}/launch/", policy["id"]),
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(st.as_u16(), 403);
    let _ = job(&s, ids[0]).await;
}

/// A client that presents another host key than the pinned one runs nothing: the job ends in
/// `error` naming both fingerprints, the API shows the new key for review, a wrong fingerprint
/// pins nothing, the right one pins it and the next launch runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_host_key_fails_the_job_until_the_new_key_is_accepted() {
    require_sshd();
    let s = TestServer::start().await;
    let b = Borg::new(&s).await;
    let src = b.root.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a"), b"a\n").unwrap();
    let policy = b
        .policy(
            &s,
            "Hostkey",
            json!({"folders": [src.display().to_string()]}),
            json!({}),
        )
        .await;
    let ids = launch(&s, policy).await;
    for j in wait_chain(&s, ids[0], CHAIN).await {
        assert_eq!(j["status"], "successful", "{j}");
    }
    let client_url = format!("/api/v1/clients/{}/", b.client);
    let (_, before) = s.get(&client_url).await;
    assert_eq!(before["host_key_status"], "pinned", "{before}");
    let old_fp = before["host_key_fingerprint"].as_str().unwrap().to_string();
    assert!(old_fp.starts_with("SHA256:"), "{before}");
    // The client is reinstalled: same port, new host key.
    let port = b.sshd.port;
    let Borg {
        sshd: old, root, ..
    } = b;
    drop(old);
    let new = sshd::TestSshd::start_on(port, &crate::common::borg::server_key(&s).await);
    let new_fp = cyborg_core::engine::host_keys::HostKey::parse(&new.host_public_key())
        .unwrap()
        .fingerprint();
    let _keep = root;
    let ids = launch(&s, policy).await;
    let j = wait_done(&s, ids[0], CHAIN).await;
    assert_eq!(j["status"], "error", "{j}");
    let why = j["job_explanation"].as_str().unwrap();
    assert!(why.contains("not the pinned one"), "{why}");
    assert!(why.contains(&old_fp) && why.contains(&new_fp), "{why}");
    assert!(why.contains("host_key/accept"), "{why}");
    let (_, after) = s.get(&client_url).await;
    assert_eq!(after["host_key_status"], "changed", "{after}");
    assert_eq!(after["host_key_fingerprint"], old_fp.as_str());
    assert_eq!(after["host_key_seen_fingerprint"], new_fp.as_str());

    let accept = format!("{client_url}host_key/accept/");
    let (st, body) = s.post(&accept, json!({"fingerprint": old_fp})).await;
    assert_eq!(st.as_u16(), 400, "{body}");
    assert!(
        body["fingerprint"][0].as_str().unwrap().contains(&new_fp),
        "{body}"
    );
    let (_, unchanged) = s.get(&client_url).await;
    assert_eq!(unchanged["host_key_fingerprint"], old_fp.as_str());
    let (_, token) = s.regular_user("reader@test.local").await;
    let (st, _) = s
        .raw(
            reqwest::Method::POST,
            &accept,
            Some(&token),
            Some(json!({"fingerprint": new_fp})),
        )
        .await;
    assert_eq!(st.as_u16(), 403);
    let (st, body) = s.post(&accept, json!({"fingerprint": new_fp})).await;
    assert_eq!(st.as_u16(), 200, "{body}");
    assert_eq!(body["host_key_status"], "pinned");
    assert_eq!(body["host_key_fingerprint"], new_fp.as_str());
    let ids = launch(&s, policy).await;
    for j in wait_chain(&s, ids[0], CHAIN).await {
        assert_eq!(j["status"], "successful", "{j}");
    }
}

/// A client whose host key was never pinned is not trusted on first use: its job runs nothing
/// and ends in `error` with the fingerprint the host presents, which the API then shows; once
/// accepted, jobs run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unconfirmed_host_key_runs_nothing_until_accepted() {
    require_sshd();
    let s = TestServer::start().await;
    let b = Borg::new(&s).await;
    let unpinned = s
        .create(
            "/api/v1/clients/",
            json!({"hostname": "localhost", "port": b.sshd.port, "username": "root"}),
        )
        .await;
    let id = unpinned["id"].as_i64().unwrap();
    let src = b.root.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a"), b"a\n").unwrap();
    let policy = s
        .create(
            "/api/v1/policies/",
            json!({"name": "Unpinned", "policy_type": "folders", "repository": b.repository,
                   "schedule": b.schedule, "clients": [id],
                   "extra_vars": json!({"folders": [src.display().to_string()]}).to_string()}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let fp = cyborg_core::engine::host_keys::HostKey::parse(&b.sshd.host_public_key())
        .unwrap()
        .fingerprint();
    let ids = launch(&s, policy).await;
    let chain = wait_chain(&s, ids[0], CHAIN).await;
    let failed = chain
        .iter()
        .find(|j| j["status"] == "error")
        .expect("a job in error");
    let why = failed["job_explanation"].as_str().unwrap();
    assert!(why.contains("not confirmed"), "{why}");
    assert!(why.contains(&fp), "{why}");
    assert!(!b.repo_path.join("config").exists() || b.borg_archives().is_empty());
    let url = format!("/api/v1/clients/{id}/");
    let (_, c) = s.get(&url).await;
    assert_eq!(c["host_key_status"], "unconfirmed", "{c}");
    assert_eq!(c["host_key_seen_fingerprint"], fp.as_str());
    assert_eq!(c["host_key"], "");
    // Fetching again answers the same key.
    let (st, c) = s.post(&format!("{url}host_key/scan/"), json!({})).await;
    assert_eq!(st.as_u16(), 200, "{c}");
    assert_eq!(c["host_key_seen_fingerprint"], fp.as_str());
    let (st, c) = s
        .post(
            &format!("{url}host_key/accept/"),
            json!({"fingerprint": fp}),
        )
        .await;
    assert_eq!(st.as_u16(), 200, "{c}");
    let ids = launch(&s, policy).await;
    for j in wait_chain(&s, ids[0], CHAIN).await {
        assert_eq!(j["status"], "successful", "{j}");
    }
}

/// A repository on another host is reached by this server with the repository's own key and
/// relayed through the job's connection: the client gets no agent and nothing that logs in
/// anywhere. Its backup's command (a `piped` policy, whose output is archived) looks for an
/// agent and tries the repository host itself: no `SSH_AUTH_SOCK`, no agent, refused. The
/// repository host authorizes exactly the line the API shows, restricted to `borg serve`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_repository_is_relayed_and_the_client_holds_no_key() {
    require_sshd();
    let s = TestServer::start().await;
    let (_, server_key) = s.get("/api/v1/settings/ssh_public_key/").await;
    let client_line = server_key["authorized_keys"].as_str().unwrap();
    assert!(
        client_line.starts_with("restrict,port-forwarding ssh-ed25519 "),
        "{client_line}"
    );
    // The client authorizes the server exactly as the API says.
    let b = Borg::with_sshd(&s, sshd::TestSshd::start(client_line)).await;
    let remote_repo = b.root.path().join("remote repo");
    let port = crate::common::free_port();
    let repo = s
        .create(
            "/api/v1/repositories/",
            json!({"name": "Remote",
                   "path": format!("ssh://root@127.0.0.1:{port}{}", remote_repo.display()),
                   "repository_key": PASSPHRASE}),
        )
        .await;
    // The repository's host authorizes the repository's own key with the line the API shows.
    let line = repo["authorized_keys"].as_str().unwrap();
    assert_eq!(
        line,
        cyborg_core::ssh_keys::repository_authorized_line(
            &remote_repo.display().to_string(),
            &[],
            repo["ssh_public_key"].as_str().unwrap()
        )
    );
    assert!(
        line.starts_with("command=\"borg serve --restrict-to-repository '"),
        "{line}"
    );
    assert!(line.contains(",restrict ssh-ed25519 "), "{line}");
    assert_ne!(repo["ssh_public_key"], server_key["pubkey"]);
    assert_eq!(repo["host_key_status"], "unknown", "{repo}");
    let host = sshd::TestSshd::start_on(port, line);
    let (st, repo) = s
        .patch(
            &format!("/api/v1/repositories/{}/", repo["id"]),
            json!({"host_key": host.host_public_key()}),
        )
        .await;
    assert_eq!(st.as_u16(), 200, "{repo}");
    assert_eq!(repo["host_key_status"], "pinned");
    let probe = format!(
        "printf 'sock=%s\\n' \"${{SSH_AUTH_SOCK:-none}}\"; ssh-add -l >/dev/null 2>&1; \
         echo \"agent=$?\"; ssh -o BatchMode=yes -o StrictHostKeyChecking=no \
         -o UserKnownHostsFile=/dev/null -p {} root@127.0.0.1 true >/dev/null 2>&1; \
         echo \"login=$?\"",
        host.port
    );
    let policy = s
        .create(
            "/api/v1/policies/",
            json!({"name": "Remote", "policy_type": "piped", "repository": repo["id"],
                   "schedule": b.schedule, "clients": [b.client],
                   "extra_vars": json!({"command": probe}).to_string()}),
        )
        .await;
    let ids = launch(&s, policy["id"].as_i64().unwrap()).await;
    let chain = wait_chain(&s, ids[0], CHAIN).await;
    for j in &chain {
        assert_eq!(
            j["status"],
            "successful",
            "{j}\n{}",
            stdout(&s, j["id"].as_i64().unwrap()).await
        );
    }
    assert!(remote_repo.join("config").exists());
    let archive = chain[0]["archive_name"].as_str().unwrap();
    let out = std::process::Command::new("borg")
        .args(["extract", "--stdout", "--"])
        .arg(format!("{}::{archive}", remote_repo.display()))
        .arg("stdin")
        .env("BORG_PASSPHRASE", PASSPHRASE)
        .env("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes")
        .output()
        .unwrap();
    let seen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        seen, "sock=none\nagent=2\nlogin=255\n",
        "what the client saw during the backup"
    );
    // No job command line ever forwarded an agent.
    for j in &chain {
        let log = stdout(&s, j["id"].as_i64().unwrap()).await;
        assert!(!log.contains("SSH_AUTH_SOCK="), "{log}");
    }

    // The repository's host is replaced (same port, new host key): the relay refuses it, the
    // job ends in error naming both keys, and the API shows the new one for review.
    let pinned_fp = repo["host_key_fingerprint"].as_str().unwrap().to_string();
    let line = repo["authorized_keys"].as_str().unwrap().to_string();
    drop(host);
    let impostor = sshd::TestSshd::start_on(port, &line);
    let new_fp = cyborg_core::engine::host_keys::HostKey::parse(&impostor.host_public_key())
        .unwrap()
        .fingerprint();
    let ids = launch(&s, policy["id"].as_i64().unwrap()).await;
    let j = wait_done(&s, ids[0], CHAIN).await;
    assert_eq!(j["status"], "error", "{j}");
    let why = j["job_explanation"].as_str().unwrap();
    assert!(why.contains("repository host"), "{why}");
    assert!(why.contains(&pinned_fp) && why.contains(&new_fp), "{why}");
    let (_, r) = s
        .get(&format!("/api/v1/repositories/{}/", repo["id"]))
        .await;
    assert_eq!(r["host_key_status"], "changed", "{r}");
    assert_eq!(r["host_key_seen_fingerprint"], new_fp.as_str());
}

/// A job's explanation passes the same redaction as its log: a command that prints its
/// password after borg failed makes that line the last one, which the explanation quotes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_redacted_from_explanations_too() {
    require_sshd();
    let s = TestServer::start().await;
    let b = Borg::new(&s).await;
    let secret = "db-pass-5e1f-never-shown";
    let policy = b
        .typed_policy(
            &s,
            "Leaky",
            json!({"command": "sleep 3; echo \"the password is $CYBORG_PASSWORD\" >&2",
                   "password": secret}),
            json!({"policy_type": "piped"}),
        )
        .await;
    // A first backup makes the repository; then its passphrase is changed to a wrong one, so
    // the next borg create fails at once while the command is still sleeping.
    let ids = launch(&s, policy).await;
    for j in wait_chain(&s, ids[0], CHAIN).await {
        assert_eq!(j["status"], "successful", "{j}");
    }
    s.patch(
        &format!("/api/v1/repositories/{}/", b.repository),
        json!({"repository_key": "not-the-passphrase"}),
    )
    .await;
    let ids = launch(&s, policy).await;
    let j = wait_done(&s, ids[0], CHAIN).await;
    assert_eq!(j["status"], "failed", "{j}");
    let why = j["job_explanation"].as_str().unwrap();
    assert!(why.contains("the password is [redacted]"), "{why}");
    assert!(!why.contains(secret), "{why}");
    assert!(!stdout(&s, ids[0]).await.contains(secret));
}
