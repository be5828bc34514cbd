//! The server's own disaster recovery, end to end with real borg: a self-backup of a server
//! whose secret key lives in its data directory, the data directory and the database wiped,
//! `cyborgbackup restore-server` on the empty machine, and the server back with every object,
//! every stored secret still decryptable and the next backup of an existing policy working.
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{
    TestServer, backend,
    borg::{Borg, PASSPHRASE, launch, wait_chain},
    databases::psql,
    sshd,
};

const SELF_PASSPHRASE: &str = "self-backup-passphrase-2f9c";

async fn snapshot(s: &TestServer) -> Vec<Value> {
    let mut out = Vec::new();
    for list in [
        "/api/v1/repositories/?order_by=id",
        "/api/v1/clients/?order_by=id",
        "/api/v1/policies/?order_by=id",
        "/api/v1/schedules/?order_by=id",
        "/api/v1/users/?order_by=id",
        "/api/v1/archives/?order_by=id",
    ] {
        let (st, v) = s.get(list).await;
        assert_eq!(st, StatusCode::OK, "{list}: {v}");
        out.push(v["results"].clone());
    }
    out
}

async fn back_up_once(s: &TestServer, policy: i64) -> Vec<Value> {
    let ids = launch(s, policy).await;
    wait_chain(s, ids[0], Duration::from_secs(300)).await
}

#[tokio::test]
async fn a_wiped_server_comes_back_from_its_self_backup() {
    if let Some(why) = sshd::unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    // No configured secret key: the server keeps its own in the data directory, which is
    // exactly what a lost machine loses.
    let mut s = TestServer::spawn_node(None, &[("CYBORG_SECRET_KEY", "")]).await;
    assert!(s.data_dir.join("secret_key").exists());
    let b = Borg::new(&s).await;
    let src = b.root.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("file.txt"), "precious\n").unwrap();
    let policy = b
        .policy(
            &s,
            "Precious",
            json!({"folders": [src.display().to_string()]}),
            json!({}),
        )
        .await;
    let chain = back_up_once(&s, policy).await;
    assert!(
        chain.iter().all(|j| j["status"] == "successful"),
        "{chain:#?}"
    );

    let (st, v) = s.post("/api/v1/settings/self_backup/", json!({})).await;
    assert_eq!(st, StatusCode::CONFLICT, "no repository set: {v}");
    let (st, v) = s
        .patch(
            "/api/v1/settings/",
            json!({"self_backup_repository": 999999}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["self_backup_repository"].is_array(), "{v}");
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
            json!({"name": "Plain", "path": "/srv/plain", "encryption": "authenticated-blake2"}),
        )
        .await;
    let (st, v) = s
        .patch(
            "/api/v1/settings/",
            json!({"self_backup_repository": plain["id"]}),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::BAD_REQUEST,
        "an unencrypted target holds the key in clear: {v}"
    );
    let target = b.root.path().join("server-backups");
    let repo = s
        .create(
            "/api/v1/repositories/",
            json!({"name": "Server backups", "path": target.display().to_string(),
                   "repository_key": SELF_PASSPHRASE}),
        )
        .await;
    let (st, v) = s
        .patch(
            "/api/v1/settings/",
            json!({"self_backup_repository": repo["id"]}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, token) = s.regular_user("viewer@example.com").await;
    let st = s
        .raw(
            reqwest::Method::POST,
            "/api/v1/settings/self_backup/",
            Some(&token),
            Some(json!({})),
        )
        .await
        .0;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, run_row) = s.post("/api/v1/settings/self_backup/", json!({})).await;
    assert_eq!(st, StatusCode::OK, "{run_row}");
    assert_eq!(run_row["status"], "successful", "{run_row}");
    let archive = run_row["archive"].as_str().unwrap().to_string();
    assert!(archive.starts_with("cyborgbackup-server-"), "{archive}");
    let before = snapshot(&s).await;

    // The machine is lost: no data directory, no database.
    s.kill();
    std::fs::remove_dir_all(&s.data_dir).unwrap();
    match backend() {
        "postgres" => {
            let name = s.db_url.rsplit('/').next().unwrap().to_string();
            psql("postgres", &format!("DROP DATABASE {name} WITH (FORCE)"));
            psql("postgres", &format!("CREATE DATABASE {name}"));
        }
        _ => {
            let file = s
                .db_url
                .trim_start_matches("sqlite://")
                .split('?')
                .next()
                .unwrap()
                .to_string();
            std::fs::remove_file(&file).unwrap();
        }
    }
    let target_s = target.display().to_string();
    let out = s.run_command(
        &["restore-server", "--repository", &target_s],
        &[("BORG_PASSPHRASE", SELF_PASSPHRASE)],
    );
    assert!(
        out.status.success(),
        "restore-server: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&archive));
    // A second restore onto what is there now is refused.
    let again = s.run_command(
        &["restore-server", "--repository", &target_s],
        &[("BORG_PASSPHRASE", SELF_PASSPHRASE)],
    );
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("exists"),
        "{again:?}"
    );

    s.start_again().await;
    let after = snapshot(&s).await;
    assert_eq!(after, before);
    // The stored passphrase is still readable with the restored secret key.
    let (_, r) = s
        .get(&format!("/api/v1/repositories/{}/", b.repository))
        .await;
    assert_eq!(r["repository_key"], PASSPHRASE, "{r}");
    let (_, runs) = s.get("/api/v1/settings/self_backup/").await;
    assert_eq!(runs[0]["archive"], archive.as_str(), "{runs}");
    assert_eq!(runs[0]["status"], "successful", "{runs}");
    // The clients still trust the restored SSH key: the next backup of the policy works.
    let chain = back_up_once(&s, policy).await;
    assert!(
        chain.iter().all(|j| j["status"] == "successful"),
        "{chain:#?}"
    );
    assert_eq!(b.borg_archives().len(), 2);
}
