//! Pull mode with a real sshd, borg and socat: the client's sshd runs in a mount
//! namespace where the repository's folder is an empty read-only tmpfs, so the client can neither
//! see nor write the repository. A push-mode backup into it fails; a pull-mode one (the server
//! serves the repository through a socket forwarded over the job's own SSH connection) runs the
//! whole chain, and its files download and restore through the same kind of tunnel. Nothing of
//! the tunnels is left behind.

use std::time::{Duration, Instant, SystemTime};

use crate::common::{
    TestServer,
    borg::{
        Borg, PASSPHRASE, launch, ps_args, server_key, sparse_file, stdout, wait_chain, wait_done,
        wait_remote_pid,
    },
    sshd::{self, TestSshd},
    tree::{make_tree, noise},
    with_query,
};
use serde_json::json;

/// The tests run one after the other: each checks that no pull socket or `borg serve` is left,
/// which the other's running job would contradict.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A client whose sshd cannot see the folder `<root>/server only` (an empty read-only tmpfs in
/// its mount namespace), and the repository `<root>/server only/repo` on it.
async fn hidden_repository(s: &TestServer) -> (Borg, std::path::PathBuf) {
    if let Some(why) = sshd::unavailable() {
        panic!("the pull-mode tests need a real sshd: {why}");
    }
    let root = tempfile::tempdir().unwrap();
    let hidden = root.path().join("server only");
    std::fs::create_dir_all(&hidden).unwrap();
    let sshd = TestSshd::start_hiding(&server_key(s).await, &hidden);
    let repo_path = hidden.join("repo");
    let b = Borg::with_repository(s, sshd, root, repo_path.clone()).await;
    (b, repo_path)
}

/// Waits until no `borg serve` of `repo` runs and no pull socket made since `started` is left,
/// on either side.
async fn tunnels_gone(s: &TestServer, started: SystemTime) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let remote: Vec<_> = std::fs::read_dir("/tmp")
            .unwrap()
            .filter_map(|e| e.ok())
            // Only this test's: an earlier, interrupted run may have left some.
            .filter(|e| {
                e.metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t >= started)
            })
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("cyborg-pull-"))
            .collect();
        let local: Vec<_> = std::fs::read_dir(s.data_dir.join("ssh"))
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("pull-"))
            .collect();
        let serving = ps_args()
            .lines()
            .any(|l| l.contains("borg serve") && l.contains("server only"));
        if local.is_empty() && !serving && remote.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: client sockets {remote:?}, server sockets {local:?}, borg serve \
             running: {serving}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_mode_backs_up_into_a_repository_the_client_cannot_reach() {
    let _one_at_a_time = SERIAL.lock().await;
    let started = SystemTime::now();
    let s = TestServer::start().await;
    let (b, repo_path) = hidden_repository(&s).await;
    let tree = b.root.path().join("tree");
    std::fs::create_dir_all(tree.join("data")).unwrap();
    make_tree(&tree);
    let big = noise(3_000_000, 0x51_7CC1_B727_220A);
    std::fs::write(tree.join("data/big.bin"), &big).unwrap();
    let folders = json!({"folders": [tree.display().to_string()]});

    // Push mode: the client's borg cannot create the repository where the server keeps it.
    let push = b.policy(&s, "Push", folders.clone(), json!({})).await;
    let ids = launch(&s, push).await;
    let chain = wait_chain(&s, ids[0], Duration::from_secs(300)).await;
    assert!(
        chain.iter().all(|j| j["status"] != "successful"),
        "{chain:?}"
    );
    assert!(!repo_path.exists(), "the client wrote the server's folder");

    // Pull mode: check (borg init), backup, catalog and prune, all through the tunnel.
    let pull = b
        .policy(
            &s,
            "Pull",
            folders.clone(),
            json!({"mode_pull": true, "keep_daily": 1}),
        )
        .await;
    let ids = launch(&s, pull).await;
    let chain = wait_chain(&s, ids[0], Duration::from_secs(300)).await;
    assert!(
        chain.iter().all(|j| j["status"] == "successful"),
        "{chain:?}"
    );
    let types: Vec<&str> = chain
        .iter()
        .map(|j| j["job_type"].as_str().unwrap())
        .collect();
    for t in ["job", "check", "catalog", "prune"] {
        assert!(types.contains(&t), "{t} missing in {types:?}");
    }
    assert!(
        repo_path.join("config").exists(),
        "repository on the server"
    );
    let archive = chain[0]["archive_name"].as_str().unwrap().to_string();
    assert_eq!(b.borg_archives(), std::slice::from_ref(&archive));
    let in_archive = tree.to_str().unwrap().trim_start_matches('/').to_string();
    assert_eq!(
        b.extract_stdout(&archive, &format!("{in_archive}/data/big.bin")),
        big
    );
    let log = stdout(&s, ids[0]).await;
    assert!(log.contains("--rsh"), "{log}");
    assert!(log.contains("ssh://cyborg/"), "{log}");
    assert!(!log.contains(PASSPHRASE));

    // The catalog, and a download of one file through a new tunnel.
    let (_, page) = s
        .get(&with_query(
            "/api/v1/catalogs/",
            &[
                ("archive_name", archive.as_str()),
                ("path", &format!("{in_archive}/data/big.bin")),
            ],
        ))
        .await;
    assert_eq!(page["count"], 1, "{page}");
    assert_eq!(page["results"][0]["size"], big.len());
    let resp = s
        .http
        .get(s.url(&format!(
            "/api/v1/catalogs/{}/download/",
            page["results"][0]["id"]
        )))
        .bearer_auth(&s.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), big.as_slice());

    // A restore onto the client through the tunnel.
    let dest = b.root.path().join("restored");
    let (st, answer) = s
        .post(
            "/api/v1/restore/",
            json!({"archive_name": archive, "client": b.client,
                   "dest_folder": dest.display().to_string(),
                   "items": [format!("{in_archive}/data")]}),
        )
        .await;
    assert_eq!(st.as_u16(), 201, "{answer}");
    let job = wait_done(
        &s,
        answer["job"].as_i64().unwrap(),
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(job["status"], "successful", "{job}");
    assert_eq!(
        std::fs::read(dest.join(&in_archive).join("data/big.bin")).unwrap(),
        big
    );

    // No forwarded socket, local socket or borg serve is left.
    tunnels_gone(&s, started).await;
}

/// A canceled pull-mode backup stops borg on the client and the `borg serve` here, leaves no
/// tunnel and no lock: the next pull-mode backup into the same repository succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canceled_pull_backup_leaves_nothing_behind() {
    let _one_at_a_time = SERIAL.lock().await;
    let started = SystemTime::now();
    let s = TestServer::start().await;
    let (b, repo_path) = hidden_repository(&s).await;
    // 200 GiB of sparse file: borg reads it long enough to be canceled.
    let slow = b.root.path().join("slow");
    std::fs::create_dir_all(&slow).unwrap();
    sparse_file(&slow.join("huge.img"), 200);
    let policy = b
        .policy(
            &s,
            "Slow pull",
            json!({"folders": [slow.display().to_string()]}),
            json!({"mode_pull": true}),
        )
        .await;
    let ids = launch(&s, policy).await;
    let pid = wait_remote_pid(&s, ids[0]).await;
    // The client's borg connects through the tunnel to a `borg serve` here.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ps_args()
        .lines()
        .any(|l| l.contains("borg serve") && l.contains("server only"))
    {
        assert!(Instant::now() < deadline, "no borg serve for the backup");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (st, body) = s
        .post(&format!("/api/v1/jobs/{}/cancel/", ids[0]), json!({}))
        .await;
    assert_eq!(st.as_u16(), 202, "{body}");
    let done = wait_done(&s, ids[0], Duration::from_secs(120)).await;
    assert_eq!(done["status"], "canceled", "{done}");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "borg still runs"
    );
    tunnels_gone(&s, started).await;

    // The repository is not left locked.
    let tree = b.root.path().join("small");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("a.txt"), "after the cancel").unwrap();
    let small = b
        .policy(
            &s,
            "Small pull",
            json!({"folders": [tree.display().to_string()]}),
            json!({"mode_pull": true}),
        )
        .await;
    let ids = launch(&s, small).await;
    let chain = wait_chain(&s, ids[0], Duration::from_secs(300)).await;
    assert!(
        chain.iter().all(|j| j["status"] == "successful"),
        "{chain:?}"
    );
    assert!(repo_path.join("config").exists());
    tunnels_gone(&s, started).await;
}
