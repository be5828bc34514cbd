//! Issue 4 catalog targets: ingesting a synthetic 1,000,000-line `borg list --json-lines` file at
//! ≥ 200,000 entries/s into SQLite and ≥ 100,000 entries/s into PostgreSQL with a peak RSS
//! ≤ 150 MB; browsing one directory of a 1,000,000-entry archive ≤ 10 ms.
//!
//! Run: `cargo bench -p server --bench catalog_ingest` (SQLite), and with
//! `CYBORG_BENCH_PG=postgres://postgres@127.0.0.1:5432/postgres` also PostgreSQL (a fresh
//! database is created and dropped). `CYBORG_BENCH_LINES` changes the size (default 1,000,000),
//! `CYBORG_BENCH_ARCHIVES` the number of archives ingested (default 2: a first one where every
//! path is new, then one sharing all its paths, the common case for tens of archives a client).
use std::{
    io::Write,
    path::Path,
    time::{Duration, Instant},
};

use cyborg_core::{
    catalog,
    entities::{archive, repository},
};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Database, DatabaseConnection, Set, Statement};

/// Writes `n` lines like borg's: 100 top directories, 10 × 10 nested below each, files in the
/// leaves; directories come before their contents, as borg lists them.
fn generate(path: &Path, n: usize) -> Vec<String> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut written = 0;
    let mut leaves = Vec::new();
    let line = |out: &mut std::io::BufWriter<std::fs::File>, kind: &str, p: &str, size: u64| {
        let mode = if kind == "d" {
            "drwxr-xr-x"
        } else {
            "-rw-r--r--"
        };
        writeln!(
            out,
            r#"{{"type": "{kind}", "mode": "{mode}", "user": "www-data", "group": "www-data", "uid": 33, "gid": 33, "path": "{p}", "healthy": true, "source": "", "linktarget": "", "flags": 0, "size": {size}, "mtime": "2024-05-06T07:08:09.123456"}}"#
        )
        .unwrap();
    };
    'outer: for top in 0.. {
        let t = format!("srv/www/site{top:03}.example.com");
        line(&mut out, "d", &t, 0);
        written += 1;
        for a in 0..10 {
            let da = format!("{t}/htdocs/wp-content/uploads{a}");
            line(&mut out, "d", &da, 0);
            written += 1;
            for b in 0..10 {
                let db = format!("{da}/2024-{b:02} caf\\u00e9");
                line(&mut out, "d", &db, 0);
                written += 1;
                leaves.push(db.replace("\\u00e9", "é"));
                for f in 0..100 {
                    if written >= n {
                        break 'outer;
                    }
                    let p = format!("{db}/image-{f:04}-{}x{}.jpg", 100 + f, 200 + b);
                    line(&mut out, "-", &p, (f * 7919 + b * 31) as u64);
                    written += 1;
                }
            }
        }
    }
    out.flush().unwrap();
    leaves
}

fn status(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0), so each phase reports its own peak.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

async fn setup(db: &DatabaseConnection, archives: usize) -> Vec<i32> {
    cyborg_core::db::migrate(db).await.unwrap();
    let now = chrono::Utc::now();
    let repo = repository::ActiveModel {
        uuid: Set(uuid::Uuid::new_v4().to_string()),
        name: Set("bench".into()),
        path: Set("/srv/borg/bench".into()),
        repository_key: Set(String::new()),
        original_size: Set(0),
        compressed_size: Set(0),
        deduplicated_size: Set(0),
        ready: Set(true),
        enabled: Set(true),
        created: Set(now),
        modified: Set(now),
        created_by: Set(None),
        modified_by: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    let mut ids = Vec::new();
    for i in 0..archives {
        let a = archive::ActiveModel {
            repository_id: Set(repo.id),
            client_id: Set(None),
            policy_id: Set(None),
            job_id: Set(None),
            name: Set(format!("rootfs-web-2024-05-{:02}_03-00", i + 1)),
            created: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
        ids.push(a.id);
    }
    ids
}

async fn run(label: &str, db: &DatabaseConnection, file: &Path, n: usize, leaves: &[String]) {
    let archives: usize = std::env::var("CYBORG_BENCH_ARCHIVES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let ids = setup(db, archives).await;
    for (i, id) in ids.iter().enumerate() {
        reset_peak();
        let rss_before = status("VmRSS:");
        let f = tokio::fs::File::open(file).await.unwrap();
        let reader = tokio::io::BufReader::with_capacity(1 << 16, f);
        let t = Instant::now();
        let stats = catalog::ingest(db, *id, reader).await.unwrap();
        let dt = t.elapsed();
        assert_eq!(stats.entries as usize, n);
        println!(
            "{label}: archive {} ({}): {} entries, {} new paths in {:.2} s = {:.0} entries/s; \
             RSS before {} MB, peak {} MB",
            i + 1,
            if stats.new_paths > 0 {
                "new paths"
            } else {
                "paths shared"
            },
            stats.entries,
            stats.new_paths,
            dt.as_secs_f64(),
            stats.entries as f64 / dt.as_secs_f64(),
            rss_before / 1024,
            status("VmHWM:") / 1024,
        );
    }
    // Browsing one directory (100 files) of the last archive.
    let mut best = Duration::MAX;
    let mut total = Duration::ZERO;
    let samples = 200;
    for i in 0..samples {
        let dir = &leaves[(i * 7919) % leaves.len()];
        let t = Instant::now();
        let (items, _) = catalog::browse(db, *ids.last().unwrap(), dir, "", 1000)
            .await
            .unwrap();
        let dt = t.elapsed();
        assert!(!items.is_empty(), "{dir}");
        best = best.min(dt);
        total += dt;
    }
    println!(
        "{label}: browse one directory (≤100 items) of a {n}-entry archive: mean {:.2} ms, best {:.2} ms",
        total.as_secs_f64() * 1000.0 / samples as f64,
        best.as_secs_f64() * 1000.0
    );
    let t = Instant::now();
    let removed = catalog::remove_archive(db, ids[0]).await.unwrap();
    println!(
        "{label}: remove_archive (prune): {} entries, {} orphaned paths in {:.2} s",
        removed.entries,
        removed.paths,
        t.elapsed().as_secs_f64()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` too — run the small size there.
    let quick = std::env::args().any(|a| a == "--test") || std::env::args().all(|a| a != "--bench");
    let n: usize = std::env::var("CYBORG_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 10_000 } else { 1_000_000 });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("list.jsonl");
    let t = Instant::now();
    let leaves = generate(&file, n);
    println!(
        "generated {n} lines ({} MB) in {:.2} s",
        std::fs::metadata(&file).unwrap().len() / 1_000_000,
        t.elapsed().as_secs_f64()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}/bench.db?mode=rwc", dir.path().display());
        let db = cyborg_core::db::connect(&url).await.unwrap();
        run("SQLite", &db, &file, n, &leaves).await;
        db.close().await.ok();
        println!(
            "SQLite database file: {} MB",
            std::fs::metadata(dir.path().join("bench.db"))
                .unwrap()
                .len()
                / 1_000_000
        );

        if let Ok(admin_url) = std::env::var("CYBORG_BENCH_PG") {
            let name = format!("cyborg_bench_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(&admin_url).await.unwrap();
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            let base = admin_url.rsplit_once('/').unwrap().0;
            let db = cyborg_core::db::connect(&format!("{base}/{name}"))
                .await
                .unwrap();
            run("PostgreSQL", &db, &file, n, &leaves).await;
            let size = db
                .query_one(Statement::from_string(
                    db.get_database_backend(),
                    "SELECT pg_database_size(current_database())",
                ))
                .await
                .unwrap()
                .unwrap()
                .try_get_by_index::<i64>(0)
                .unwrap();
            println!("PostgreSQL database size: {} MB", size / 1_000_000);
            db.close().await.ok();
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .unwrap();
        }
    });
}
