//! Restore: `POST /api/v1/restore/` runs `borg extract` on a client over a real sshd;
//! the restored files equal the originals, a dry run writes nothing, and no item can escape the
//! destination folder.

use std::{
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::Path,
    time::Duration,
};

use crate::common::{
    TestServer,
    borg::{Borg, stdout, wait_done},
    sshd,
    tree::{make_tree, noise, walk},
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const WAIT: Duration = Duration::from_secs(180);

fn sha256(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    format!("{:x}", Sha256::digest(&bytes))
}

/// Every regular file and symlink under `root` (relative path → hash or link target).
fn contents(root: &Path) -> Vec<(String, String, u32)> {
    walk(root)
        .into_iter()
        .filter(|(_, m)| !m.is_dir())
        .map(|(rel, m)| {
            let p = root.join(&rel);
            let what = if m.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else {
                sha256(&p)
            };
            (rel, what, m.mode() & 0o7777)
        })
        .collect()
}

async fn restore(s: &TestServer, body: Value) -> (u16, Value) {
    let (st, answer) = s.post("/api/v1/restore/", body).await;
    (st.as_u16(), answer)
}

async fn job_count(s: &TestServer) -> i64 {
    s.get("/api/v1/jobs/").await.1["count"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restored_files_equal_the_originals_and_nothing_escapes() {
    if let Some(why) = sshd::unavailable() {
        panic!("the restore tests need a real sshd: {why}");
    }
    let s = TestServer::start().await;
    let b = Borg::new(&s).await;
    let tree = b.root.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    make_tree(&tree);
    // 5 MB that does not compress, in a folder restored on its own below.
    let big = noise(5_000_000, 0x2545_F491_4F6C_DD1D);
    std::fs::create_dir_all(tree.join("data")).unwrap();
    std::fs::write(tree.join("data/big.bin"), &big).unwrap();
    std::fs::set_permissions(
        tree.join("data/big.bin"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let (_, archive) = b.back_up(&s, "Restore me", &tree).await;
    let tree_in_archive = tree.to_str().unwrap().trim_start_matches('/').to_string();

    // The whole archive, into a folder that does not exist yet.
    let all = b.root.path().join("restored all");
    let (st, answer) = restore(
        &s,
        json!({"archive_name": archive, "client": b.client,
               "dest_folder": all.display().to_string()}),
    )
    .await;
    assert_eq!(st, 201, "{answer}");
    let job = wait_done(&s, answer["job"].as_i64().unwrap(), WAIT).await;
    assert_eq!(
        job["status"],
        "successful",
        "{job}\n{}",
        stdout(&s, answer["job"].as_i64().unwrap()).await
    );
    assert_eq!(job["job_type"], "restore");
    assert_eq!(job["client"], b.client);
    let restored_tree = all.join(&tree_in_archive);
    assert_eq!(
        contents(&restored_tree),
        contents(&tree),
        "every file, link and mode"
    );
    assert!(restored_tree.join("empty").is_dir(), "the empty folder");

    // One folder, given as the catalog shows it.
    let one = b.root.path().join("restored one");
    let (st, answer) = restore(
        &s,
        json!({"archive_name": archive, "client": b.client,
               "dest_folder": one.display().to_string(),
               "items": [format!("{tree_in_archive}/data")]}),
    )
    .await;
    assert_eq!(st, 201, "{answer}");
    let job = wait_done(&s, answer["job"].as_i64().unwrap(), WAIT).await;
    assert_eq!(job["status"], "successful", "{job}");
    let got = one.join(&tree_in_archive).join("data/big.bin");
    assert_eq!(sha256(&got), sha256(&tree.join("data/big.bin")));
    assert!(
        !one.join(&tree_in_archive).join("dir with space").exists(),
        "only the item was restored"
    );

    // A relaunch restores the same item again (the folder was lost meanwhile).
    std::fs::remove_dir_all(&one).unwrap();
    let (st, again) = s
        .post(
            &format!("/api/v1/jobs/{}/relaunch/", answer["job"]),
            json!({}),
        )
        .await;
    assert_eq!(st, 201, "{again}");
    let rid = again["job"].as_i64().unwrap();
    let rj = wait_done(&s, rid, WAIT).await;
    assert_eq!(rj["status"], "successful", "{rj}");
    assert_eq!(
        (&rj["job_type"], &rj["launch_type"]),
        (&json!("restore"), &json!("relaunch"))
    );
    assert_eq!(sha256(&got), sha256(&tree.join("data/big.bin")));
    assert!(!one.join(&tree_in_archive).join("dir with space").exists());

    // A dry run lists and writes nothing, not even the folder.
    let dry = b.root.path().join("dry");
    let (st, answer) = restore(
        &s,
        json!({"archive_name": archive, "client": b.client,
               "dest_folder": dry.display().to_string(), "dry_run": true}),
    )
    .await;
    assert_eq!(st, 201, "{answer}");
    let id = answer["job"].as_i64().unwrap();
    let job = wait_done(&s, id, WAIT).await;
    assert_eq!(job["status"], "successful", "{job}");
    assert!(
        job["job_explanation"].as_str().unwrap().contains("dry run"),
        "{job}"
    );
    assert!(
        stdout(&s, id).await.contains("big.bin"),
        "the dry run lists the files"
    );
    assert!(!dry.exists(), "a dry run wrote {}", dry.display());

    // Refused before any job exists: `..` in an item or the destination, a relative or missing
    // destination, an unknown archive or client; a regular user may not restore.
    let before = job_count(&s).await;
    let canary = b.root.path().join("escaped");
    for (body, field) in [
        (
            json!({"archive_name": archive, "client": b.client,
                "dest_folder": one.display().to_string(), "items": ["../../escaped"]}),
            "items",
        ),
        (
            json!({"archive_name": archive, "client": b.client,
                "dest_folder": one.display().to_string(),
                "items": [format!("{tree_in_archive}/../../../escaped")]}),
            "items",
        ),
        (
            json!({"archive_name": archive, "client": b.client,
                "dest_folder": format!("{}/../escaped", one.display())}),
            "dest_folder",
        ),
        (
            json!({"archive_name": archive, "client": b.client, "dest_folder": "relative/x"}),
            "dest_folder",
        ),
        (
            json!({"archive_name": archive, "client": b.client}),
            "dest_folder",
        ),
        (
            json!({"archive_name": "no-such-archive", "client": b.client, "dest_folder": "/tmp/x"}),
            "archive_name",
        ),
        (
            json!({"archive_name": archive, "client": 999_999, "dest_folder": "/tmp/x"}),
            "client",
        ),
        (
            json!({"archive_name": archive, "client": b.client, "dest_folder": "/tmp/x",
                "items": ["a\nb"]}),
            "items",
        ),
    ] {
        let (st, answer) = restore(&s, body.clone()).await;
        assert_eq!(st, 400, "{body}: {answer}");
        assert!(answer[field].is_array(), "{body}: {answer}");
    }
    let (st, _) = s
        .raw(
            reqwest::Method::POST,
            "/api/v1/restore/",
            Some(&s.regular_user("restorer@test.local").await.1),
            Some(json!({"archive_name": archive, "client": b.client, "dest_folder": "/tmp/x"})),
        )
        .await;
    assert_eq!(st.as_u16(), 403);
    let (st, _) = s
        .raw_bytes(
            reqwest::Method::POST,
            "/api/v1/restore/",
            Some(&s.admin_token.clone()),
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(st.as_u16(), 400);
    assert_eq!(job_count(&s).await, before, "no job was made");
    assert!(!canary.exists());
}

/// A symbolic link planted on the destination's path (by anyone who can write on the client
/// there) does not redirect a restore: the job fails, nothing is written where it points.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_never_follows_a_link_in_its_destination() {
    if let Some(why) = sshd::unavailable() {
        panic!("the restore tests need a real sshd: {why}");
    }
    let s = TestServer::start().await;
    let b = Borg::new(&s).await;
    let tree = b.root.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("passwd"), "restored content\n").unwrap();
    let (_, archive) = b.back_up(&s, "Linked", &tree).await;
    let target = b.root.path().join("precious");
    std::fs::create_dir_all(&target).unwrap();
    let planted = b.root.path().join("restores");
    std::os::unix::fs::symlink(&target, &planted).unwrap();
    for dest in [planted.join("today"), planted.clone()] {
        let (st, answer) = restore(
            &s,
            json!({"archive_name": archive, "client": b.client,
                   "dest_folder": dest.display().to_string()}),
        )
        .await;
        assert_eq!(st, 201, "{answer}");
        let j = wait_done(&s, answer["job"].as_i64().unwrap(), WAIT).await;
        assert_eq!(j["status"], "failed", "{j}");
        let why = j["job_explanation"].as_str().unwrap();
        assert!(why.contains("symbolic link"), "{why}");
        let written: Vec<_> = std::fs::read_dir(&target).unwrap().collect();
        assert!(
            written.is_empty(),
            "the restore wrote through the link: {written:?}"
        );
    }
}
