//! Backups of a command's output: `postgresql` and `mysql` dumps of the machine's own
//! PostgreSQL and MariaDB, and `piped`, through a real sshd and borg — restored from the archive
//! and compared, a failing command failing its job, and the database password kept out of argv,
//! logs and API answers.

use std::time::Duration;

use crate::common::{
    TestServer,
    borg::{Borg, launch, ps_args, stdout, wait_chain},
    databases::{mysql, psql, psql_script, run},
    sshd,
};
use serde_json::{Value, json};

const CHAIN: Duration = Duration::from_secs(180);
const DB_PASSWORD: &str = "db-Pass-4c1e8a-never-in-argv";

fn require_sshd() {
    if let Some(why) = sshd::unavailable() {
        panic!("these tests need a real sshd: {why}");
    }
}

/// A name no other test run uses.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// Launches `policy`, waits for its chain, and answers the chain (asserting all successful).
async fn run_ok(s: &TestServer, policy: i64) -> Vec<Value> {
    let ids = launch(s, policy).await;
    let chain = wait_chain(s, ids[0], CHAIN).await;
    for j in &chain {
        if j["status"] != "successful" {
            let mut logs = String::new();
            for j in &chain {
                logs.push_str(&stdout(s, j["id"].as_i64().unwrap()).await);
            }
            panic!("{j}\n{logs}");
        }
    }
    chain
}

/// The password is in no log of the chain, and no API answer shows it, to anyone.
async fn password_stays_hidden(s: &TestServer, policy: i64, chain: &[Value]) {
    for j in chain {
        let log = stdout(s, j["id"].as_i64().unwrap()).await;
        assert!(!log.contains(DB_PASSWORD), "password in the log of {j}");
        assert!(!j.to_string().contains(DB_PASSWORD), "{j}");
    }
    let (_, token) = s.regular_user(&format!("{}@test.local", unique("r"))).await;
    for t in [None, Some(token.as_str())] {
        for path in [
            format!("/api/v1/policies/{policy}/"),
            "/api/v1/policies/".to_string(),
        ] {
            let (st, body) = match t {
                None => s.get(&path).await,
                Some(t) => s.raw(reqwest::Method::GET, &path, Some(t), None).await,
            };
            assert_eq!(st.as_u16(), 200, "{path}: {body}");
            let text = body.to_string();
            assert!(!text.contains(DB_PASSWORD), "{path}: {body}");
            assert!(!text.contains("enc:v1:"), "ciphertext answered: {body}");
            assert!(text.contains("$encrypted$"), "{path}: {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_dump_is_restored_with_psql() {
    require_sshd();
    let s = TestServer::start().await;
    let b = Borg::new(&s).await;
    let db = unique("cyborg_dump");
    psql("postgres", &format!("CREATE DATABASE {db}"));
    psql(
        &db,
        "CREATE TABLE items (id int PRIMARY KEY, label text, price numeric(10,2));
         INSERT INTO items SELECT i, 'item ''' || i || ' \u{e9}' || E'\\t' || md5(i::text), i * 1.25
         FROM generate_series(1, 5000) i;",
    );
    let digest_sql = "SELECT count(*) || ':' || md5(string_agg(id || '|' || label || '|' || price, \
                      ',' ORDER BY id)) FROM items";
    let before = psql(&db, digest_sql);
    assert!(before.starts_with("5000:"), "{before}");

    let policy = b
        .typed_policy(
            &s,
            "Postgres dump",
            json!({"databases": [db], "user": "postgres", "host": "127.0.0.1",
                   "password": DB_PASSWORD}),
            json!({"policy_type": "postgresql"}),
        )
        .await;
    let chain = run_ok(&s, policy).await;
    let archive = chain[0]["archive_name"].as_str().unwrap().to_string();
    assert!(archive.starts_with("postgresql-127.0.0.1-"), "{archive}");
    let (_, cat) = s
        .get(&format!(
            "/api/v1/catalogs/?archive_name={archive}&page_size=10"
        ))
        .await;
    assert_eq!(cat["count"], 1, "one item, the dump: {cat}");
    assert_eq!(cat["results"][0]["path"], "postgresql.sql", "{cat}");

    psql("postgres", &format!("DROP DATABASE {db}"));
    let dump = b.extract_stdout(&archive, "postgresql.sql");
    psql_script("postgres", &dump);
    assert_eq!(psql(&db, digest_sql), before, "the restored rows");
    psql("postgres", &format!("DROP DATABASE {db}"));
    password_stays_hidden(&s, policy, &chain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_dump_is_restored_with_mysql() {
    require_sshd();
    let s = TestServer::start().await;
    let b = Borg::new(&s).await;
    let db = unique("cyborg_dump");
    mysql(&format!(
        "CREATE DATABASE {db}; USE {db};
         CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(200), price DECIMAL(10,2))
           CHARACTER SET utf8mb4;
         INSERT INTO items SELECT seq, CONCAT('item ''', seq, ' \u{e9}\\t', MD5(seq)), seq * 1.25
           FROM seq_1_to_5000;"
    ));
    let digest_sql = format!(
        "SELECT CONCAT(COUNT(*), ':', MD5(GROUP_CONCAT(id, '|', label, '|', price ORDER BY id \
         SEPARATOR ','))) FROM {db}.items"
    );
    // GROUP_CONCAT is cut at group_concat_max_len: make it whole.
    let digest = || {
        mysql(&format!(
            "SET SESSION group_concat_max_len = 100000000; {digest_sql}"
        ))
    };
    let before = digest();
    assert!(before.starts_with("5000:"), "{before}");
    // A user that only the password lets in: the dump proves the password reached mysqldump.
    let user = unique("cyborg_u");
    for host in ["127.0.0.1", "localhost", "%"] {
        mysql(&format!(
            "CREATE USER '{user}'@'{host}' IDENTIFIED BY '{DB_PASSWORD}';
             GRANT ALL ON {db}.* TO '{user}'@'{host}';"
        ));
    }

    let policy = b
        .typed_policy(
            &s,
            "MariaDB dump",
            json!({"databases": [db], "user": user, "host": "127.0.0.1",
                   "password": DB_PASSWORD}),
            json!({"policy_type": "mysql"}),
        )
        .await;
    let chain = run_ok(&s, policy).await;
    let archive = chain[0]["archive_name"].as_str().unwrap().to_string();

    mysql(&format!("DROP DATABASE {db}"));
    let dump = b.extract_stdout(&archive, "mysql.sql");
    run("mysql", &["-h", "127.0.0.1", "-u", "root"], &dump);
    assert_eq!(digest(), before, "the restored rows");
    mysql(&format!("DROP DATABASE {db}"));
    for host in ["127.0.0.1", "localhost", "%"] {
        mysql(&format!("DROP USER '{user}'@'{host}'"));
    }
    password_stays_hidden(&s, policy, &chain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_output_round_trips_and_a_failing_command_fails_its_job() {
    require_sshd();
    let s = TestServer::start().await;
    let b = Borg::new(&s).await;
    // 3 MB of every byte value, in a file the command prints after a pause (long enough to look
    // at every process's argv while it runs), followed by a digest of the password it was given.
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let file = b.root.path().join("payload.bin");
    std::fs::write(&file, &data).unwrap();
    let command = format!(
        "sleep 2; cat '{}'; printf '%s' \"$CYBORG_PASSWORD\" | sha256sum",
        file.display()
    );
    let policy = b
        .typed_policy(
            &s,
            "Piped",
            json!({"command": command, "stdin_name": "exports/payload.bin",
                   "password": DB_PASSWORD}),
            json!({"policy_type": "piped"}),
        )
        .await;
    let ids = launch(&s, policy).await;
    // While the command sleeps: no process's argv holds the password.
    for _ in 0..10 {
        assert!(
            !ps_args().contains(DB_PASSWORD),
            "the password is on a command line"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let chain = wait_chain(&s, ids[0], CHAIN).await;
    assert!(
        chain.iter().all(|j| j["status"] == "successful"),
        "{chain:?}\n{}",
        stdout(&s, ids[0]).await
    );
    let archive = chain[0]["archive_name"].as_str().unwrap();
    let got = b.extract_stdout(archive, "exports/payload.bin");
    let mut want = data.clone();
    want.extend(format!("{}  -\n", sha256_hex(DB_PASSWORD.as_bytes())).into_bytes());
    assert!(
        got == want,
        "archived {} bytes, expected {}",
        got.len(),
        want.len()
    );
    password_stays_hidden(&s, policy, &chain).await;

    // A command that fails after writing part of its output fails the job; the partial archive
    // is not kept, and nothing follows the failed backup.
    let failing = b
        .typed_policy(
            &s,
            "Piped failing",
            json!({"command": "printf 'half a dump'; exit 3"}),
            json!({"policy_type": "piped"}),
        )
        .await;
    let ids = launch(&s, failing).await;
    let chain = wait_chain(&s, ids[0], CHAIN).await;
    let backup = &chain[0];
    assert_eq!(backup["status"], "failed", "{backup}");
    let why = backup["job_explanation"].as_str().unwrap();
    assert!(why.contains("status 3"), "{why}");
    assert!(why.contains("was deleted"), "{why}");
    let name = backup["archive_name"].as_str().unwrap();
    assert!(!name.is_empty());
    assert!(
        !b.borg_archives().iter().any(|a| a == name),
        "the partial archive {name} is still in the repository"
    );
    assert!(
        chain[1..].iter().all(|j| j["status"] == "canceled"),
        "{chain:?}"
    );
    let (_, archives) = s
        .get(&format!("/api/v1/catalogs/?archive_name={name}"))
        .await;
    assert_eq!(archives["count"], 0, "{archives}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_policies_are_checked_when_saved() {
    let s = TestServer::start_api_only().await;
    let f = s.fixture().await;
    let base = json!({"name": "x", "repository": f.repository, "schedule": f.schedule,
                      "clients": [f.client]});
    for (t, ev, field_text) in [
        (
            "postgresql",
            json!({"databases": ["host=evil.example"]}),
            "database name",
        ),
        ("mysql", json!({"port": 0}), "port"),
        ("mysql", json!({"password": 5}), "password"),
        ("mysql", json!({"password": "a\nb"}), "password"),
        ("piped", json!({}), "command"),
        (
            "piped",
            json!({"command": "x", "stdin_name": "../up"}),
            "stdin_name",
        ),
        (
            "mysql",
            json!({"password": "$encrypted$"}),
            "no password is stored",
        ),
    ] {
        let mut body = base.clone();
        body["policy_type"] = json!(t);
        body["extra_vars"] = json!(ev.to_string());
        let (st, answer) = s.post("/api/v1/policies/", body).await;
        assert_eq!(st.as_u16(), 400, "{t} {ev}: {answer}");
        let msg = answer["extra_vars"][0].as_str().unwrap_or_default();
        assert!(msg.contains(field_text), "{t} {ev}: {answer}");
    }
    let (_, list) = s.get("/api/v1/policies/").await;
    assert_eq!(list["count"], 1, "nothing but the fixture's policy: {list}");

    // The stored password: encrypted, masked in answers, kept when the mask comes back, replaced
    // by a new one, removed by an empty one.
    let mut body = base.clone();
    body["policy_type"] = json!("mysql");
    body["extra_vars"] = json!(json!({"user": "u", "password": DB_PASSWORD}).to_string());
    let p = s.create("/api/v1/policies/", body).await;
    let id = p["id"].as_i64().unwrap();
    let shown: Value = serde_json::from_str(p["extra_vars"].as_str().unwrap()).unwrap();
    assert_eq!(shown, json!({"user": "u", "password": "$encrypted$"}));
    let stored = || async {
        use sea_orm::EntityTrait;
        cyborg_core::entities::policy::Entity::find_by_id(id as i32)
            .one(&s.db().await)
            .await
            .unwrap()
            .unwrap()
            .extra_vars
    };
    let first = stored().await;
    assert!(
        !first.contains(DB_PASSWORD) && first.contains("enc:v1:"),
        "{first}"
    );
    let (st, _) = s
        .patch(
            &format!("/api/v1/policies/{id}/"),
            json!({"extra_vars": json!({"user": "v", "password": "$encrypted$"}).to_string()}),
        )
        .await;
    assert_eq!(st.as_u16(), 200);
    let kept = stored().await;
    assert_eq!(
        cyborg_core::engine::sources::stored_password(&kept),
        cyborg_core::engine::sources::stored_password(&first),
        "the mask keeps the stored password"
    );
    assert!(kept.contains("\"user\":\"v\""), "{kept}");
    let (st, _) = s
        .patch(
            &format!("/api/v1/policies/{id}/"),
            json!({"extra_vars": json!({"user": "v", "password": ""}).to_string()}),
        )
        .await;
    assert_eq!(st.as_u16(), 200);
    assert_eq!(
        cyborg_core::engine::sources::stored_password(&stored().await),
        None
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    let out = run("sha256sum", &[], bytes);
    out.split_whitespace().next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_borg_and_the_command_feeding_it() {
    require_sshd();
    let s = TestServer::start().await;
    let b = Borg::new(&s).await;
    // A duration no other process on the machine sleeps, to find the command by.
    let marker = format!("{}.5", 4000 + std::process::id() % 1000);
    let policy = b
        .typed_policy(
            &s,
            "Endless",
            json!({"command": format!("echo start; sleep {marker}; echo never")}),
            json!({"policy_type": "piped"}),
        )
        .await;
    let ids = launch(&s, policy).await;
    crate::common::borg::wait_remote_pid(&s, ids[0]).await;
    let sleeping = || {
        ps_args()
            .lines()
            .any(|l| l.trim() == format!("sleep {marker}"))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !sleeping() {
        assert!(
            std::time::Instant::now() < deadline,
            "the command never ran"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (st, _) = s
        .post(&format!("/api/v1/jobs/{}/cancel/", ids[0]), json!({}))
        .await;
    assert_eq!(st.as_u16(), 202);
    let done = crate::common::borg::wait_done(&s, ids[0], CHAIN).await;
    assert_eq!(done["status"], "canceled", "{done}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sleeping() {
        assert!(
            std::time::Instant::now() < deadline,
            "the command feeding borg outlived the cancel"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxmox_guests_are_dumped_into_one_archive() {
    require_sshd();
    let s = TestServer::start().await;
    // There is no Proxmox host here: stand-ins for vzdump, qm and pct come first on the
    // client's PATH. vzdump writes the guest's known bytes, or fails for a guest it lacks.
    let tools = tempfile::tempdir().unwrap();
    let dir = tools.path().display().to_string();
    let guest = |id: u32| -> Vec<u8> {
        (0..2_000_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(id) >> 24) as u8)
            .collect()
    };
    for id in [100, 101] {
        std::fs::write(tools.path().join(format!("guest-{id}")), guest(id)).unwrap();
    }
    let script = |name: &str, body: String| {
        use std::os::unix::fs::PermissionsExt;
        let p = tools.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    script(
        "vzdump",
        format!(
            "[ \"$2\" = --stdout ] && [ $# -eq 2 ] || {{ echo \"vzdump: bad arguments: $*\" >&2; \
             exit 9; }}\n[ -f '{dir}/guest-'\"$1\" ] || {{ echo \"no guest $1\" >&2; exit 3; }}\n\
             exec cat '{dir}/guest-'\"$1\"\n"
        ),
    );
    script(
        "qm",
        "echo '      VMID NAME    STATUS     MEM(MB)    BOOTDISK(GB) PID'\n\
         echo '       100 web     running    2048       32.00        1234'\n"
            .into(),
    );
    script(
        "pct",
        "echo 'VMID       Status     Lock         Name'\necho '101        running                   db'\n"
            .into(),
    );
    let sshd = sshd::TestSshd::start_with_path_first(
        &crate::common::borg::server_key(&s).await,
        tools.path(),
    );
    let b = Borg::with_sshd(&s, sshd).await;

    // Every guest of the node (from qm list and pct list), each dump an item of one archive.
    let all = b
        .typed_policy(&s, "Node", json!({}), json!({"policy_type": "proxmox"}))
        .await;
    let chain = run_ok(&s, all).await;
    let archive = chain[0]["archive_name"].as_str().unwrap().to_string();
    assert!(archive.starts_with("proxmox-127.0.0.1-"), "{archive}");
    for id in [100, 101] {
        let got = b.extract_stdout(&archive, &format!("vzdump-{id}.vma"));
        assert!(got == guest(id), "guest {id}: {} bytes archived", got.len());
    }
    let (_, cat) = s
        .get(&format!(
            "/api/v1/catalogs/?archive_name={archive}&path__startswith=vzdump-"
        ))
        .await;
    assert_eq!(cat["count"], 2, "{cat}");
    assert_eq!(cat["results"][0]["size"], 2_000_000, "{cat}");

    // A guest whose dump fails fails the job; its partial archive is not kept.
    let some = b
        .typed_policy(
            &s,
            "Some guests",
            json!({"vmids": [101, 666]}),
            json!({"policy_type": "proxmox"}),
        )
        .await;
    let ids = launch(&s, some).await;
    let chain = wait_chain(&s, ids[0], CHAIN).await;
    let backup = &chain[0];
    assert_eq!(backup["status"], "failed", "{backup}");
    let why = backup["job_explanation"].as_str().unwrap();
    assert!(
        why.contains("vzdump of guest(s) 101, 666") && why.contains("status 3"),
        "{why}"
    );
    let log = stdout(&s, ids[0]).await;
    assert!(
        log.contains("guest 666: vzdump exited with status 3"),
        "{log}"
    );
    let name = backup["archive_name"].as_str().unwrap();
    assert!(!b.borg_archives().iter().any(|a| a == name), "{name} kept");

    // A `vm` policy with the Proxmox provider backs up the same way.
    let vm = b
        .typed_policy(
            &s,
            "VM guests",
            json!({"vmids": [100]}),
            json!({"policy_type": "vm", "vmprovider": "proxmox"}),
        )
        .await;
    let chain = run_ok(&s, vm).await;
    let archive = chain[0]["archive_name"].as_str().unwrap().to_string();
    assert!(archive.starts_with("vm-127.0.0.1-"), "{archive}");
    assert!(b.extract_stdout(&archive, "vzdump-100.vma") == guest(100));
}
