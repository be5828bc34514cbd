//! `/api/v1/settings/`: defaults, PATCH validation and permissions, and the server's SSH key pair.

use std::os::unix::fs::PermissionsExt;

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, TestServer};
use cyborg_core::{config::Config, entities::setting};
use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

const PATH: &str = "/api/v1/settings/";
const KEY_PATH: &str = "/api/v1/settings/ssh_public_key/";

fn defaults() -> Value {
    json!({"catalog_enabled": true, "auto_prune": true, "backup_user": "root",
           "failing_after": 1, "job_log_retention_days": 90,
           "allow_unencrypted_repositories": false, "self_backup_repository": null,
           "self_backup_schedule": null})
}

#[tokio::test]
async fn defaults_patch_and_validation() {
    let s = TestServer::start().await;
    let (st, v) = s.get(PATH).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v, defaults());
    assert_eq!(s.get("/api/v1/settings").await.1, defaults());

    let (st, v) = s.patch(PATH, json!({"catalog_enabled": false})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"catalog_enabled": false, "auto_prune": true, "backup_user": "root",
               "failing_after": 1, "job_log_retention_days": 90,
           "allow_unencrypted_repositories": false, "self_backup_repository": null,
           "self_backup_schedule": null})
    );
    let (st, v) = s
        .patch(
            PATH,
            json!({"auto_prune": false, "backup_user": "borg_backup"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let changed = json!({"catalog_enabled": false, "auto_prune": false, "backup_user": "borg_backup",
               "failing_after": 1, "job_log_retention_days": 90,
           "allow_unencrypted_repositories": false, "self_backup_repository": null,
           "self_backup_schedule": null});
    assert_eq!(v, changed);
    assert_eq!(s.get(PATH).await.1, changed);

    // Stored as key -> JSON value.
    let db = s.db().await;
    let mut rows: Vec<(String, String)> = setting::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.value))
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![
            ("auto_prune".into(), "false".into()),
            ("backup_user".into(), "\"borg_backup\"".into()),
            ("catalog_enabled".into(), "false".into()),
        ]
    );

    // Invalid bodies are 400s naming each bad key, and nothing of them is written.
    for (body, bad) in [
        (json!({"catalog_enabled": "yes"}), vec!["catalog_enabled"]),
        (json!({"auto_prune": 1}), vec!["auto_prune"]),
        (json!({"auto_prune": null}), vec!["auto_prune"]),
        (json!({"backup_user": "-root"}), vec!["backup_user"]),
        (json!({"backup_user": ".hidden"}), vec!["backup_user"]),
        (json!({"backup_user": "a b"}), vec!["backup_user"]),
        (json!({"backup_user": ""}), vec!["backup_user"]),
        (json!({"backup_user": "x".repeat(33)}), vec!["backup_user"]),
        (json!({"backup_user": 5}), vec!["backup_user"]),
        (json!({"nope": true}), vec!["nope"]),
        (
            json!({"catalog_enabled": true, "backup_user": "ok", "colour": "red"}),
            vec!["colour"],
        ),
        (
            json!({"catalog_enabled": true, "auto_prune": "no", "backup_user": "bad user"}),
            vec!["auto_prune", "backup_user"],
        ),
    ] {
        let (st, v) = s.patch(PATH, body.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, bad, "{body}: {v}");
        assert_eq!(s.get(PATH).await.1, changed, "nothing written by {body}");
    }
    for raw in [&b"{"[..], b"[1]", b"true"] {
        let (st, v) = s
            .raw_bytes(Method::PATCH, PATH, Some(&s.admin_token), raw.to_vec())
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        assert!(v["detail"].is_string(), "{v}");
    }
    // An empty body changes nothing.
    let (st, v) = s.patch(PATH, json!({})).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v, changed);
    // Back to the defaults.
    let (_, v) = s.patch(PATH, defaults()).await;
    assert_eq!(v, defaults());
    // Other methods are not allowed.
    assert_eq!(
        s.post(PATH, json!({})).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    db.close().await.ok();
}

#[tokio::test]
async fn permissions_and_anonymous() {
    let s = TestServer::start().await;
    let (_, user) = s.regular_user("reader@test.local").await;
    let (st, v) = s.raw(Method::GET, PATH, Some(&user), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v, defaults());
    let (st, v) = s
        .raw(
            Method::PATCH,
            PATH,
            Some(&user),
            Some(json!({"auto_prune": false})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert!(v["detail"].is_string());
    // Refused before validation, and nothing written.
    let (st, _) = s
        .raw(Method::PATCH, PATH, Some(&user), Some(json!({"nope": 1})))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(s.get(PATH).await.1, defaults());
    let (st, v) = s.raw(Method::GET, KEY_PATH, Some(&user), None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(v["pubkey"].as_str().unwrap().starts_with("ssh-ed25519 "));

    for (method, path) in [
        (Method::GET, PATH),
        (Method::PATCH, PATH),
        (Method::GET, KEY_PATH),
        (Method::GET, "/api/v1/settings/ssh_public_key"),
    ] {
        let resp = s
            .http
            .request(method.clone(), s.url(path))
            .json(&json!({"auto_prune": false}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        assert!(resp.headers().contains_key("www-authenticate"));
    }
    assert_eq!(s.get(PATH).await.1, defaults());
}

#[tokio::test]
async fn ssh_key_pair_is_made_once_and_kept() {
    let s = TestServer::start().await;
    let (st, v) = s.get(KEY_PATH).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let pubkey = v["pubkey"].as_str().unwrap().to_string();
    assert!(pubkey.starts_with("ssh-ed25519 AAAA"), "{pubkey}");
    assert!(pubkey.contains(" cyborgbackup@"), "{pubkey}");
    assert!(!pubkey.contains('\n'));
    assert_eq!(v.as_object().unwrap().len(), 2);
    assert_eq!(
        v["authorized_keys"],
        format!("restrict,port-forwarding {pubkey}").as_str()
    );

    let ssh = s.data_dir.join("ssh");
    let private = ssh.join("id_ed25519");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&private), 0o600);
    assert_eq!(mode(&ssh), 0o700);
    assert!(
        std::fs::read_to_string(&private)
            .unwrap()
            .contains("OPENSSH PRIVATE KEY")
    );
    assert_eq!(
        std::fs::read_to_string(ssh.join("id_ed25519.pub"))
            .unwrap()
            .trim(),
        pubkey
    );

    // A second server on the same data directory and database keeps the pair.
    let config = Config {
        database_url: Some(s.db_url.clone()),
        database_url_file: None,
        data_dir: s.data_dir.clone(),
        site_addr: "127.0.0.1:0".parse().unwrap(),
        site_root: s.data_dir.join("site").display().to_string(),
        admin_email: Some(ADMIN_EMAIL.into()),
        admin_password: Some(ADMIN_PASSWORD.into()),
        admin_password_file: None,
        secret_key: Some("test-secret-key".into()),
        secret_key_file: None,
        // The first server holds this data directory's engine lock.
        engine: false,
        scheduler: false,
        catalog_index_mb: 0,
        trusted_proxies: Vec::new(),
        metrics_token: None,
        metrics_token_file: None,
        metrics_addr: None,
        log: "warn".into(),
        node: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(server::start(config, Some(listener)));
    let mut answer = None;
    for _ in 0..200 {
        if let Ok(r) = s
            .http
            .get(format!("http://{addr}{KEY_PATH}"))
            .basic_auth(ADMIN_EMAIL, Some(ADMIN_PASSWORD))
            .send()
            .await
            && r.status() == StatusCode::OK
        {
            answer = Some(r.json::<Value>().await.unwrap());
            break;
        }
        assert!(
            !task.is_finished(),
            "the second server stopped while starting"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    task.abort();
    let answer = answer.expect("the second server answered");
    assert_eq!(answer["pubkey"], pubkey.as_str());
    assert_eq!(mode(&private), 0o600);
}

/// The binary on a fresh machine without an admin password: the data directory is owner-only
/// (0700), so is the SQLite database (0600, its WAL too), the generated password is in an
/// owner-only file and never in the log, and secrets are read from files (`*_FILE`): the
/// secret key, and with PostgreSQL the database URL.
#[tokio::test]
async fn a_first_start_keeps_its_secrets_owner_only_and_out_of_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let key_file = tmp.path().join("secret-key");
    std::fs::write(&key_file, "a-secret-key-from-a-file\n").unwrap();
    let port = crate::common::free_port();
    let log = tmp.path().join("server.log");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cyborgbackup"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("CYBORG_DATA_DIR", &data)
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("LEPTOS_SITE_ROOT", tmp.path().join("site"))
        .env("CYBORG_SECRET_KEY_FILE", &key_file)
        .env("CYBORG_ENGINE", "false")
        .env("RUST_LOG", "info")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(tmp.path().join("stderr.log")).unwrap());
    let (url, pg) = TestServer::new_database(tmp.path()).await;
    if pg.is_some() {
        let url_file = tmp.path().join("database-url");
        std::fs::write(&url_file, format!("{url}\n")).unwrap();
        cmd.env("DATABASE_URL_FILE", &url_file);
    }
    let mut child = cmd.spawn().unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..600 {
        if http
            .get(format!("{base}/api/v1/ping/"))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
        {
            up = true;
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the server exited");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(up, "the server did not answer");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    if pg.is_none() {
        let db = data.join("cyborgbackup.db");
        assert_eq!(mode(&db), 0o600);
        let wal = data.join("cyborgbackup.db-wal");
        if wal.exists() {
            assert_eq!(mode(&wal), 0o600);
        }
    }
    let password_file = data.join("initial-admin-password");
    assert_eq!(mode(&password_file), 0o600);
    let password = std::fs::read_to_string(&password_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(password.len() >= 16, "{password:?}");
    let r = http
        .post(format!("{base}/api/token/obtain/"))
        .json(&json!({"email": "admin@cyborg.local", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The secret key came from the file: nothing was generated in its place.
    assert!(!data.join("secret_key").exists());
    let _ = child.kill();
    let _ = child.wait();
    let out = std::fs::read_to_string(&log).unwrap()
        + &std::fs::read_to_string(tmp.path().join("stderr.log")).unwrap();
    assert!(out.contains("initial-admin-password"), "{out}");
    assert!(
        !out.contains(&password),
        "the password is in the log: {out}"
    );
    if let Some(name) = pg {
        crate::common::drop_pg_database(name);
    }
}

/// Clients that versions before key pinning trusted on first use (their keys in the data
/// directory's `known_hosts`) are pinned to those keys at start: their backups go on, and a
/// client never seen there stays unconfirmed.
#[tokio::test]
async fn keys_trusted_before_pinning_are_pinned() {
    let s = TestServer::start_api_only().await;
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    let known = s
        .create(
            "/api/v1/clients/",
            json!({"hostname": "web1.example.com", "port": 2222}),
        )
        .await;
    let unknown = s
        .create("/api/v1/clients/", json!({"hostname": "web2.example.com"}))
        .await;
    std::fs::write(
        s.data_dir.join("ssh/known_hosts"),
        format!("[web1.example.com]:2222 {key}\nweb3.example.com {key}\n"),
    )
    .unwrap();
    let db = s.db().await;
    let pinned = cyborg_core::engine::host_keys::pin_legacy_keys(&db, &s.data_dir)
        .await
        .unwrap();
    assert_eq!(pinned, 1);
    let (_, c) = s.get(&format!("/api/v1/clients/{}/", known["id"])).await;
    assert_eq!(c["host_key_status"], "pinned", "{c}");
    assert_eq!(c["host_key"], key);
    let (_, c) = s.get(&format!("/api/v1/clients/{}/", unknown["id"])).await;
    assert_ne!(c["host_key_status"], "pinned", "{c}");
}

/// The first superuser is held to the rules of every user: a short `CYBORG_ADMIN_PASSWORD` is
/// refused at start (it was once kept as given), a bad email too, and nothing is created.
#[tokio::test]
async fn first_superuser_follows_the_user_rules() {
    use cyborg_core::{entities::user, services::auth::ensure_first_superuser};
    use sea_orm::{EntityTrait, PaginatorTrait};

    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("db.sqlite3").display()
    );
    let db = cyborg_core::db::connect(&url).await.unwrap();
    cyborg_core::db::migrate(&db).await.unwrap();

    let short = ensure_first_superuser(&db, Some("admin@example.org"), Some("short"))
        .await
        .expect_err("a 5-character password is refused");
    assert!(
        short.client_message().contains("CYBORG_ADMIN_PASSWORD"),
        "{}",
        short.client_message()
    );
    let bad_email = ensure_first_superuser(&db, Some("not-an-email"), Some("long-enough-1"))
        .await
        .expect_err("a malformed email is refused");
    assert!(bad_email.client_message().contains("CYBORG_ADMIN_EMAIL"));
    assert_eq!(user::Entity::find().count(&db).await.unwrap(), 0);

    let made = ensure_first_superuser(&db, Some("Admin@Example.org"), Some("long-enough-1"))
        .await
        .unwrap();
    assert_eq!(made, Some(("admin@example.org".to_string(), None)));
    let admin = user::Entity::find().one(&db).await.unwrap().unwrap();
    assert!(admin.is_superuser);
    assert!(admin.password_hash.starts_with("$argon2id$"));
}
