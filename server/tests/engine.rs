//! The job engine end to end: real borg on a "client" reached over a real sshd on 127.0.0.1
//! with the server's own key — backups, catalog, sizes, dedup, prune, the live stream, cancel,
//! injection and secrets. (Restart after SIGKILL and the scheduler are in `engine_process.rs`.)
mod common;

use std::{collections::BTreeMap, os::unix::fs::MetadataExt, path::Path, time::Duration};

use common::{
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_host_key_fails_the_job_with_an_explanation() {
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
    // The client is reinstalled: same port, new host key.
    let port = b.sshd.port;
    let (_, key) = s.get("/api/v1/settings/ssh_public_key/").await;
    let Borg {
        sshd: old, root, ..
    } = b;
    drop(old);
    let _new = sshd::TestSshd::start_on(port, key["pubkey"].as_str().unwrap());
    let _keep = root;
    let ids = launch(&s, policy).await;
    let j = wait_done(&s, ids[0], CHAIN).await;
    assert_eq!(j["status"], "error", "{j}");
    let why = j["job_explanation"].as_str().unwrap();
    assert!(why.contains("host key"), "{why}");
    assert!(why.contains("ssh-keygen -R"), "{why}");
}

/// An `ssh://` repository: the client reaches the repository host over SSH with the server's
/// key through the forwarded agent (the client has no key of its own for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_repository_through_the_forwarded_agent() {
    require_sshd();
    let s = TestServer::start().await;
    let b = Borg::new(&s).await;
    // The "repository host" is the same sshd; forget any key an earlier run left for its port in
    // the client's (root's) known_hosts, which BORG_RSH trusts on first use.
    let port = b.sshd.port;
    let _ = std::process::Command::new("ssh-keygen")
        .args(["-R", &format!("[127.0.0.1]:{port}")])
        .output();
    let remote_repo = b.root.path().join("remote repo");
    let repo = s
        .create(
            "/api/v1/repositories/",
            json!({"name": "Remote", "path": format!("ssh://root@127.0.0.1:{port}{}", remote_repo.display()),
                   "repository_key": PASSPHRASE}),
        )
        .await;
    let src = b.root.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), b"over ssh\n").unwrap();
    let policy = s
        .create(
            "/api/v1/policies/",
            json!({"name": "Remote", "policy_type": "folders", "repository": repo["id"],
                   "schedule": b.schedule, "clients": [b.client],
                   "extra_vars": json!({"folders": [src.display().to_string()]}).to_string()}),
        )
        .await;
    let ids = launch(&s, policy["id"].as_i64().unwrap()).await;
    for j in wait_chain(&s, ids[0], CHAIN).await {
        assert_eq!(
            j["status"],
            "successful",
            "{j}\n{}",
            stdout(&s, j["id"].as_i64().unwrap()).await
        );
    }
    // The client's borg logged in to the test sshd, which authorizes only the server's key, whose
    // private half lives in the server's data directory, not in ~/.ssh: the forwarded agent did it.
    assert!(remote_repo.join("config").exists());
}
