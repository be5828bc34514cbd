//! Catalog ingestion from real `borg list --json-lines` output (borg 1.2 at /usr/bin/borg) into
//! the real database, checked through the HTTP API; path sharing, pruning and bad input.

use std::{
    collections::{BTreeMap, BTreeSet},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::Stdio,
};

use crate::common::{
    TestServer, seed_archive,
    tree::{make_tree, mode_string, walk},
    with_query,
};
use cyborg_core::{
    catalog,
    entities::{catalog_entry, catalog_path},
};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, Statement};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::BufReader;

struct Borg {
    dir: TempDir,
}

impl Borg {
    fn new() -> Self {
        let b = Borg {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(b.base()).unwrap();
        let out = b
            .cmd()
            .args(["init", "-e", "none"])
            .arg(b.repo())
            .output()
            .unwrap();
        assert!(out.status.success(), "borg init: {out:?}");
        b
    }
    fn base(&self) -> PathBuf {
        self.dir.path().join("base")
    }
    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }
    fn cmd(&self) -> std::process::Command {
        let mut c = std::process::Command::new("/usr/bin/borg");
        c.env("BORG_PASSPHRASE", "")
            .env("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "yes")
            .env("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes")
            .env("BORG_BASE_DIR", self.base())
            .env("TZ", "UTC");
        c
    }
    /// `borg create REPO::name .` inside `src`.
    fn create(&self, name: &str, src: &Path) {
        let out = self
            .cmd()
            .current_dir(src)
            .arg("create")
            .arg(format!("{}::{name}", self.repo().display()))
            .arg(".")
            .output()
            .unwrap();
        assert!(out.status.success(), "borg create: {out:?}");
    }
    /// `borg list --json-lines REPO::name`, streamed from the running process into the catalog.
    async fn ingest(
        &self,
        db: &DatabaseConnection,
        name: &str,
        archive: i32,
    ) -> catalog::IngestStats {
        let mut child = tokio::process::Command::from(self.cmd())
            .arg("list")
            .arg("--json-lines")
            .arg(format!("{}::{name}", self.repo().display()))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stats = catalog::ingest(db, archive, BufReader::new(stdout))
            .await
            .expect("ingest");
        assert!(child.wait().await.unwrap().success());
        stats
    }
    fn list_lines(&self, name: &str) -> Vec<Value> {
        let out = self
            .cmd()
            .arg("list")
            .arg("--json-lines")
            .arg(format!("{}::{name}", self.repo().display()))
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

async fn api_entries(s: &TestServer, archive: i32) -> BTreeMap<String, Value> {
    let url = with_query(
        "/api/v1/catalogs/",
        &[("archive", &archive.to_string()), ("page_size", "10000")],
    );
    let (status, body) = s.get(&url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(body["count"], results.len());
    results
        .iter()
        .map(|e| (e["path"].as_str().unwrap().to_string(), e.clone()))
        .collect()
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

#[tokio::test]
async fn real_borg_archive_is_catalogued_exactly() {
    let s = TestServer::start().await;
    let fx = s.fixture().await;
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path());
    let borg = Borg::new();
    borg.create("a", src.path());
    let (_, archive) = seed_archive(&s, fx.repository, "a", &[]).await;
    let db = s.db().await;
    let stats = borg.ingest(&db, "a", archive).await;

    let fs = walk(src.path());
    assert_eq!(stats.entries as usize, fs.len(), "{stats:?}");
    assert_eq!(stats.new_paths as usize, fs.len());
    let borg_lines: BTreeMap<String, Value> = borg
        .list_lines("a")
        .into_iter()
        .map(|v| (v["path"].as_str().unwrap().to_string(), v))
        .collect();
    let api = api_entries(&s, archive).await;
    assert_eq!(
        api.keys().collect::<BTreeSet<_>>(),
        fs.keys().collect::<BTreeSet<_>>(),
        "every file, directory (the empty one too) and symlink, by its exact name"
    );
    for (path, m) in &fs {
        let e = &api[path];
        let b = &borg_lines[path];
        assert_eq!(e["archive_name"], "a");
        assert_eq!(e["mode"], mode_string(m), "{path}: {e}");
        assert_eq!(e["owner"], b["user"], "{path}");
        assert_eq!(e["group"], b["group"], "{path}");
        assert_eq!(
            e["owner"],
            if m.uid() == 0 {
                "root"
            } else {
                e["owner"].as_str().unwrap()
            }
        );
        assert_eq!(e["healthy"], true);
        let size = if m.is_dir() { 0 } else { m.len() as i64 };
        assert_eq!(e["size"], size, "{path}: {e}");
        // borg keeps microseconds; with TZ=UTC its naive time is UTC.
        let mtime = chrono::DateTime::parse_from_rfc3339(e["mtime"].as_str().unwrap())
            .unwrap()
            .to_utc();
        let want = chrono::DateTime::from_timestamp(m.mtime(), m.mtime_nsec() as u32).unwrap();
        let diff = (mtime - want).num_microseconds().unwrap().abs();
        assert!(diff <= 1, "{path}: {mtime} vs {want}");
    }
    assert_eq!(
        api["Été ünï/link"]["size"],
        "../dir with space/a file.txt".len()
    );
    assert_eq!(api["Été ünï/日本語/ファイル 1.bin"]["size"], 100_000);

    // The directory listing of one folder.
    let (listing, next) = catalog::browse(&db, archive, "Été ünï", "", 100)
        .await
        .unwrap();
    assert_eq!(next, None);
    let names: Vec<&str> = listing.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(
        names,
        ["Été ünï/link", "Été ünï/naïve.txt", "Été ünï/日本語"]
    );
    // Each listed item carries what the catalog API answers for it.
    for d in &listing {
        let e = &api[&d.path];
        assert_eq!(e["id"], json!(d.id), "{}", d.path);
        assert_eq!(e["mode"], json!(d.mode), "{}", d.path);
        assert_eq!(e["size"], json!(d.size), "{}", d.path);
        assert_eq!(e["owner"], json!(d.owner), "{}", d.path);
        assert_eq!(e["group"], json!(d.group), "{}", d.path);
        assert_eq!(e["healthy"], json!(d.healthy), "{}", d.path);
        let mtime: Option<chrono::DateTime<chrono::Utc>> =
            serde_json::from_value(e["mtime"].clone()).unwrap();
        assert_eq!(mtime, d.mtime, "{}", d.path);
    }
    let (top, _) = catalog::browse(&db, archive, "", "", 100).await.unwrap();
    assert_eq!(top.len(), 5, "{top:?}"); // ".", 3 directories, 50%_off.conf
    // Page by page: two items a page, each page after the last path of the one before, the
    // whole directory once and in order.
    let mut paged = Vec::new();
    let mut after = String::new();
    loop {
        let (page, next) = catalog::browse(&db, archive, "", &after, 2).await.unwrap();
        assert!(page.len() <= 2);
        paged.extend(page.into_iter().map(|d| d.path));
        match next {
            Some(n) => after = n,
            None => break,
        }
    }
    let whole: Vec<String> = top.iter().map(|d| d.path.clone()).collect();
    assert_eq!(paged, whole);

    // Ingesting again replaces, never duplicates.
    let again = borg.ingest(&db, "a", archive).await;
    assert_eq!(again.entries, stats.entries);
    // (Re-cataloguing first removes the old rows, and with them the paths only `a` held.)
    assert_eq!(again.new_paths, stats.new_paths);
    let strip = |m: BTreeMap<String, Value>| -> Vec<Value> {
        m.into_values()
            .map(|mut v| {
                let o = v.as_object_mut().unwrap();
                o.remove("id");
                o.remove("url");
                v
            })
            .collect()
    };
    assert_eq!(strip(api_entries(&s, archive).await), strip(api));
}

#[tokio::test]
async fn archives_share_paths_and_pruning_removes_rows() {
    let s = TestServer::start().await;
    let fx = s.fixture().await;
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path());
    let borg = Borg::new();
    borg.create("a", src.path());
    std::fs::write(
        src.path().join("dir with space/a file.txt"),
        b"changed content\n",
    )
    .unwrap();
    std::fs::write(src.path().join("only in b.txt"), b"b").unwrap();
    std::fs::remove_file(src.path().join("50%_off.conf")).unwrap();
    borg.create("b", src.path());
    let (_, a) = seed_archive(&s, fx.repository, "a", &[]).await;
    let (_, b) = seed_archive(&s, fx.repository, "b", &[]).await;
    let db = s.db().await;
    let sa = borg.ingest(&db, "a", a).await;
    let sb = borg.ingest(&db, "b", b).await;
    assert_eq!(sa.entries, 12);
    assert_eq!(sb.entries, 12);
    assert_eq!(sb.new_paths, 1, "only `only in b.txt` is new");
    assert_eq!(catalog_path::Entity::find().count(&db).await.unwrap(), 13);
    assert_eq!(catalog_entry::Entity::find().count(&db).await.unwrap(), 24);
    let api_b = api_entries(&s, b).await;
    assert_eq!(api_b["dir with space/a file.txt"]["size"], 16);
    assert_eq!(
        api_entries(&s, a).await["dir with space/a file.txt"]["size"],
        6
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM (SELECT path FROM catalog_paths GROUP BY path HAVING COUNT(*) > 1) d"
        )
        .await,
        0
    );

    // Pruning a: its entries go, and `50%_off.conf`, which only a had; b is untouched.
    let removed = catalog::remove_archive(&db, a).await.unwrap();
    assert_eq!(removed.entries, 12);
    assert_eq!(removed.paths, 1);
    assert!(api_entries(&s, a).await.is_empty());
    assert_eq!(api_entries(&s, b).await, api_b);
    assert_eq!(catalog_path::Entity::find().count(&db).await.unwrap(), 12);
    let removed = catalog::remove_archive(&db, b).await.unwrap();
    assert_eq!((removed.entries, removed.paths), (12, 12));
    assert_eq!(catalog_entry::Entity::find().count(&db).await.unwrap(), 0);
    assert_eq!(catalog_path::Entity::find().count(&db).await.unwrap(), 0);
    assert_eq!(
        catalog::remove_archive(&db, b).await.unwrap(),
        Default::default()
    );
}

fn line(path: &str, size: i64) -> String {
    serde_json::json!({
        "type": "-", "mode": "-rw-r--r--", "user": "root", "group": "root", "uid": 0, "gid": 0,
        "path": path, "healthy": size != 13, "source": "", "linktarget": "", "flags": 0,
        "size": size, "mtime": "2024-05-06T07:08:09.000000"
    })
    .to_string()
}

#[tokio::test]
async fn batches_long_paths_and_bad_lines() {
    let s = TestServer::start().await;
    let fx = s.fixture().await;
    let (_, archive) = seed_archive(&s, fx.repository, "synthetic", &[]).await;
    let db = s.db().await;

    // More than one batch, 4,000-byte paths (beyond a PostgreSQL btree row), an unhealthy file
    // and a path listed twice.
    let n = catalog::BATCH_LINES + 1234;
    let long = "x".repeat(3990);
    let mut text = String::new();
    for i in 0..n {
        let path = if i % 1000 == 0 {
            format!("{long}/{i:08}")
        } else {
            format!("d{}/sub {}/f{i}.txt", i % 97, i % 7)
        };
        text.push_str(&line(&path, i as i64));
        text.push('\n');
    }
    text.push_str(&line("d1/sub 1/f1.txt", 1));
    text.push('\n');
    let stats = catalog::ingest(&db, archive, text.as_bytes())
        .await
        .unwrap();
    assert_eq!(stats.entries as usize, n);
    assert_eq!(stats.new_paths as usize, n);
    assert_eq!(stats.batches, 2);
    let db_n = count(
        &db,
        &format!("SELECT COUNT(*) FROM catalog_entries WHERE archive_id = {archive}"),
    )
    .await;
    assert_eq!(db_n as usize, n);
    let url = with_query("/api/v1/catalogs/", &[("healthy", "false")]);
    let (_, body) = s.get(&url).await;
    assert_eq!(body["count"], 1);
    assert_eq!(body["results"][0]["path"], "d13/sub 6/f13.txt");
    let url = with_query("/api/v1/catalogs/", &[("path__startswith", &long)]);
    let (_, body) = s.get(&url).await;
    assert_eq!(body["count"], n.div_ceil(1000));

    // A malformed line fails with its number and leaves no entry behind.
    let mut bad = String::new();
    for i in 0..(catalog::BATCH_LINES + 10) {
        bad.push_str(&line(&format!("ok/{i}"), 1));
        bad.push('\n');
    }
    bad.push_str("{\"type\": \"-\", \"mode\": \"-rw-r--r--\"}\n");
    let err = catalog::ingest(&db, archive, bad.as_bytes())
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains(&format!("line {}", catalog::BATCH_LINES + 11)),
        "{msg}"
    );
    assert_eq!(
        count(
            &db,
            &format!("SELECT COUNT(*) FROM catalog_entries WHERE archive_id = {archive}")
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM catalog_paths WHERE path LIKE 'ok/%'"
        )
        .await,
        0
    );
    for (input, line_no) in [
        ("not json\n", 1),
        (
            "\n{\"type\": \"?\", \"mode\": \"-rw-r--r--\", \"path\": \"a\"}\n",
            2,
        ),
        ("\u{feff}x\n", 1),
    ] {
        let err = catalog::ingest(&db, archive, input.as_bytes())
            .await
            .unwrap_err();
        assert!(
            format!("{err:#}").contains(&format!("line {line_no}")),
            "{err:#}"
        );
    }
    let huge = format!("{}\n", "x".repeat(2 << 20));
    let err = catalog::ingest(&db, archive, huge.as_bytes())
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("line 1: longer than"),
        "{err:#}"
    );
    let err = catalog::ingest(&db, archive, &b"\xff\xfe\n"[..])
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("line 1"), "{err:#}");
    let err = catalog::ingest(&db, 999_999, &b""[..]).await.unwrap_err();
    assert!(format!("{err:#}").contains("999999"), "{err:#}");
}

/// `n` synthetic lines under `dir/`, one per path.
fn lines_under(dir: &str, n: usize) -> String {
    (0..n)
        .map(|i| line(&format!("{dir}/f{i}.txt"), i as i64) + "\n")
        .collect()
}

async fn entries_of(db: &DatabaseConnection, archive: i32) -> i64 {
    count(
        db,
        &format!("SELECT COUNT(*) FROM catalog_entries WHERE archive_id = {archive}"),
    )
    .await
}

/// Deleting an archive deletes its catalog entries (a view of the versions its lineage holds
/// at its position), directly or through its repository's deletion (which removes the
/// lineages too); an archive deleted while its catalog is being written fails the ingestion
/// at its commit, which undoes what it wrote.
#[tokio::test]
async fn deleted_archives_take_their_catalog_entries() {
    let s = TestServer::start().await;
    let fx = s.fixture().await;
    let other = s
        .create(
            "/api/v1/repositories/",
            json!({"name": "Other", "path": "/srv/borg/other"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let (_, a1) = seed_archive(&s, fx.repository, "one", &[]).await;
    let (_, a2) = seed_archive(&s, other, "two", &[]).await;
    let (_, a3) = seed_archive(&s, other, "three", &[]).await;
    let db = s.db().await;
    for (a, dir) in [(a1, "one"), (a2, "two"), (a3, "three")] {
        let text = lines_under(dir, 100);
        catalog::ingest(&db, a, text.as_bytes()).await.unwrap();
        assert_eq!(entries_of(&db, a).await, 100);
    }
    db.execute_unprepared(&format!("DELETE FROM archives WHERE id = {a1}"))
        .await
        .unwrap();
    assert_eq!(entries_of(&db, a1).await, 0);
    assert_eq!(entries_of(&db, a2).await + entries_of(&db, a3).await, 200);
    let (status, body) = s.delete(&format!("/api/v1/repositories/{other}/")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM catalog_entries").await, 0);

    // The archive goes while its first batch is committed and the second is being read.
    let (_, a4) = seed_archive(&s, fx.repository, "four", &[]).await;
    let (mut feed, pipe) = tokio::io::duplex(1 << 16);
    let ingesting = {
        let db = db.clone();
        // As the engine runs it: the ingestion future is not `Send` (see engine/exec.rs).
        let rt = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            rt.block_on(catalog::ingest(&db, a4, BufReader::new(pipe)))
        })
    };
    use tokio::io::AsyncWriteExt;
    feed.write_all(lines_under("first", catalog::BATCH_LINES + 1).as_bytes())
        .await
        .unwrap();
    // The first batch is written (not visible: the archive is committed last).
    let versions_before = count(&db, "SELECT COUNT(*) FROM catalog_versions").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while count(&db, "SELECT COUNT(*) FROM catalog_versions").await == versions_before {
        assert!(
            std::time::Instant::now() < deadline,
            "first batch never written"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    db.execute_unprepared(&format!("DELETE FROM archives WHERE id = {a4}"))
        .await
        .unwrap();
    feed.write_all(lines_under("second", catalog::BATCH_LINES).as_bytes())
        .await
        .unwrap();
    drop(feed);
    let err = ingesting.await.unwrap().unwrap_err();
    assert!(format!("{err:#}").contains("deleted meanwhile"), "{err:#}");
    assert_eq!(entries_of(&db, a4).await, 0);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM catalog_versions").await,
        versions_before,
        "what the failed ingestion wrote is undone"
    );
}

/// A listing that names every path twice, the second time in reverse order and in another
/// batch (overlapping sources): one entry a path, and no deadlock between batches written
/// side by side (PostgreSQL writes them on two connections). The paths are known from an
/// earlier archive, so the batches meet only on their entries.
#[tokio::test]
async fn a_path_listed_twice_across_batches_is_catalogued_once() {
    let s = TestServer::start().await;
    let fx = s.fixture().await;
    // The earlier archive in another repository: its versions are not the lineage's (which
    // would make every line of the second listing unchanged, nothing to write).
    let other = s
        .create(
            "/api/v1/repositories/",
            json!({"name": "Other", "path": "/srv/borg/other"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let (_, earlier) = seed_archive(&s, other, "earlier", &[]).await;
    let (_, archive) = seed_archive(&s, fx.repository, "twice", &[]).await;
    let db = s.db().await;
    // Two batches, the second the first backwards: written side by side, their entry inserts
    // run towards each other.
    let n = catalog::BATCH_LINES;
    let listing = |order: &mut dyn Iterator<Item = usize>| -> String {
        order
            .map(|i| line(&format!("d{}/f{i}.txt", i % 50), i as i64) + "\n")
            .collect()
    };
    let once = listing(&mut (0..n));
    catalog::ingest(&db, earlier, once.as_bytes())
        .await
        .unwrap();
    let twice = listing(&mut (0..n).chain((0..n).rev()));
    let stats = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        catalog::ingest(&db, archive, twice.as_bytes()),
    )
    .await
    .expect("ingestion finishes")
    .unwrap();
    assert_eq!(stats.lines as usize, 2 * n);
    assert_eq!(stats.entries as usize, n);
    assert_eq!(stats.new_paths, 0);
    assert_eq!(stats.batches, 2);
    assert_eq!(entries_of(&db, archive).await as usize, n);
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT COUNT(*) FROM catalog_entries e JOIN catalog_paths p ON p.id = e.path_id \
                 WHERE e.archive_id = {archive} AND p.path <> 'd' || (e.size % 50) || '/f' || e.size || '.txt'"
            )
        )
        .await,
        0,
        "every entry carries its own path's size"
    );
}

/// The PostgreSQL migration that replaced the entries' foreign keys by one lock a batch and a
/// trigger rolls back (keys back, trigger gone) and forward again; on SQLite it changes nothing.
#[tokio::test]
async fn the_catalog_references_migration_rolls_back_and_forward() {
    use migrations::MigratorTrait;
    let s = TestServer::start().await;
    let db = s.db().await;
    let postgres = db.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
    // (foreign keys of catalog_entries, triggers deleting the entries of deleted archives)
    let shape = |db: DatabaseConnection| async move {
        if !postgres {
            let keys = count(
                &db,
                "SELECT COUNT(*) FROM pragma_foreign_key_list('catalog_entries')",
            )
            .await;
            let triggers = count(
                &db,
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'",
            )
            .await;
            return (keys, triggers);
        }
        let keys = count(
            &db,
            "SELECT COUNT(*) FROM pg_constraint \
             WHERE conrelid = 'catalog_entries'::regclass AND contype = 'f'",
        )
        .await;
        let triggers = count(
            &db,
            "SELECT COUNT(*) FROM pg_trigger WHERE tgname = 'archives_delete_catalog_entries'",
        )
        .await;
        (keys, triggers)
    };
    // Since m20261203_000010 `catalog_entries` is a view of the versions: no keys, no trigger.
    let migrated = (0, 0);
    assert_eq!(shape(db.clone()).await, migrated);
    // Back over the newest migrations, down to before this one (m20261128_000007), which the
    // later one (m20261202_000008: columns only) must let through both ways.
    let applied = migrations::Migrator::get_applied_migrations(&db)
        .await
        .unwrap();
    let after = applied
        .iter()
        .rev()
        .take_while(|m| m.name() != "m20261128_000007_catalog_pg_references")
        .count() as u32;
    migrations::Migrator::down(&db, Some(after + 1))
        .await
        .unwrap();
    assert_eq!(shape(db.clone()).await, (2, 0));
    migrations::Migrator::up(&db, None).await.unwrap();
    assert_eq!(shape(db.clone()).await, migrated);
}
