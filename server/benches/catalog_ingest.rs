//! Catalog ingestion targets: a lineage of synthetic 1,000,000-line `borg list --json-lines`
//! listings (`common/listing.rs`: the first archive all new, each later one with 1 % of its
//! files changed and 0.1 % left out). Per archive: entries/s, versions written and closed, peak
//! RSS; then the database bytes of the catalog after the first and after the last archive,
//! browsing one directory, the history of one path, and pruning an archive in the middle and
//! the newest one.
//!
//! Run: `cargo bench -p server --bench catalog_ingest` (SQLite), and with
//! `CYBORG_BENCH_PG=postgres://postgres@127.0.0.1:5432/postgres` also PostgreSQL (a fresh
//! database is created and dropped). `CYBORG_BENCH_LINES` changes the size (default 1,000,000),
//! `CYBORG_BENCH_ARCHIVES` the number of archives (default 2; 30 for the storage target).
//! `CYBORG_BENCH_LISTINGS=a.jsonl,b.jsonl` ingests those files (real borg listings, see
//! scripts/bench-borg-listing.sh) as the lineage's archives instead.
use std::{
    path::Path,
    time::{Duration, Instant},
};

use cyborg_core::{
    catalog,
    entities::{archive, repository},
};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Database, DatabaseConnection, Set, Statement};

#[path = "common/listing.rs"]
mod listing;

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
            name: Set(format!("rootfs-web-{:03}", i + 1)),
            created: Set(now + chrono::Duration::seconds(i as i64)),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
        ids.push(a.id);
    }
    ids
}

/// The bytes the catalog's tables and indexes take.
async fn catalog_bytes(db: &DatabaseConnection) -> i64 {
    let sql = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => {
            "SELECT CAST(pg_total_relation_size('catalog_versions') + \
             pg_total_relation_size('catalog_paths') + pg_total_relation_size('catalog_lineages') \
             AS BIGINT)"
        }
        // The whole file's pages in use (the other tables are a few pages).
        _ => {
            "SELECT (p.page_count - f.freelist_count) * s.page_size \
              FROM pragma_page_count() p, pragma_freelist_count() f, pragma_page_size() s"
        }
    };
    db.query_one(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

fn mb(bytes: i64) -> f64 {
    bytes as f64 / 1_000_000.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn run(label: &str, db: &DatabaseConnection, dir: &Path, n: usize) {
    let given: Vec<String> = std::env::var("CYBORG_BENCH_LISTINGS")
        .map(|v| v.split(',').map(String::from).collect())
        .unwrap_or_default();
    let archives: usize = if given.is_empty() {
        std::env::var("CYBORG_BENCH_ARCHIVES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2)
    } else {
        given.len()
    };
    let ids = setup(db, archives).await;
    let generated = dir.join("list.jsonl");
    let mut leaves = Vec::new();
    let mut first_bytes = 0;
    for (i, id) in ids.iter().enumerate() {
        let file = match given.get(i) {
            Some(f) => Path::new(f).to_path_buf(),
            None => {
                let mut out = std::io::BufWriter::with_capacity(
                    1 << 20,
                    std::fs::File::create(&generated).unwrap(),
                );
                leaves = listing::write(&mut out, n, i + 1);
                generated.clone()
            }
        };
        reset_peak();
        let rss_before = status("VmRSS:");
        let f = tokio::fs::File::open(&file).await.unwrap();
        let reader = tokio::io::BufReader::with_capacity(1 << 16, f);
        let t = Instant::now();
        let stats = catalog::ingest(db, *id, reader).await.unwrap();
        let dt = t.elapsed();
        println!(
            "{label}: archive {}: {} lines, {} entries in {:.2} s = {:.0} entries/s \
             ({} versions written, {} closed, {} new paths; {} open versions loaded in {:.2} s, \
             listing streamed in {:.2} s); RSS before {} MB, peak {} MB",
            i + 1,
            stats.lines,
            stats.entries,
            dt.as_secs_f64(),
            stats.lines as f64 / dt.as_secs_f64(),
            stats.versions,
            stats.closed,
            stats.new_paths,
            stats.open_versions,
            stats.load_micros as f64 / 1e6,
            stats.stream_micros as f64 / 1e6,
            rss_before / 1024,
            status("VmHWM:") / 1024,
        );
        if i == 0 {
            first_bytes = catalog_bytes(db).await;
        }
    }
    let last_bytes = catalog_bytes(db).await;
    println!(
        "{label}: catalog bytes: {:.1} MB after archive 1, {:.1} MB after {} archives ({:.2}x)",
        mb(first_bytes),
        mb(last_bytes),
        ids.len(),
        last_bytes as f64 / first_bytes as f64
    );
    let last = *ids.last().unwrap();
    if !given.is_empty() {
        // Real listings: the synthetic layout's directories and paths are not theirs.
        return;
    }
    // Browsing one directory (100 files) of the newest archive.
    let mut times = Vec::new();
    for i in 0..200 {
        let dir = &leaves[(i * 7919) % leaves.len()];
        let t = Instant::now();
        let (items, _) = catalog::browse(db, last, dir, "", 1000).await.unwrap();
        times.push(t.elapsed());
        assert!(!items.is_empty(), "{dir}");
    }
    times.sort();
    println!(
        "{label}: browse one directory (≤100 items) of the newest archive: median {:.2} ms, \
         worst {:.2} ms",
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );
    // The history of one file across the lineage.
    let mut times = Vec::new();
    for i in 0..200 {
        // A file of a full leaf directory (the last one may be cut short).
        let leaf = (i * 31) % (leaves.len() - 1);
        let f = i % 100;
        let path = format!(
            "{}/image-{f:04}-{}x{}.jpg",
            leaves[leaf],
            100 + f,
            200 + leaf % 10
        );
        let t = Instant::now();
        let h = catalog::history(db, &path, Default::default())
            .await
            .unwrap();
        times.push(t.elapsed());
        assert!(!h.is_empty(), "{path}");
    }
    times.sort();
    println!(
        "{label}: history of one path over {} archives: median {:.2} ms, worst {:.2} ms",
        ids.len(),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );
    let mut order: Vec<(&str, i32)> = Vec::new();
    if ids.len() > 2 {
        order.push(("an archive in the middle", ids[ids.len() / 2]));
    }
    order.push(("the newest archive", last));
    for (what, id) in order {
        let t = Instant::now();
        let removed = catalog::remove_archive(db, id).await.unwrap();
        println!(
            "{label}: prune {what}: {} entries listed, {} versions and {} paths deleted in {:.3} s",
            removed.entries,
            removed.versions,
            removed.paths,
            t.elapsed().as_secs_f64()
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` too — run the small size there.
    let quick = std::env::args().any(|a| a == "--test") || std::env::args().all(|a| a != "--bench");
    let n: usize = std::env::var("CYBORG_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 10_000 } else { 1_000_000 });
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}/bench.db?mode=rwc", dir.path().display());
        let db = cyborg_core::db::connect(&url).await.unwrap();
        run("SQLite", &db, dir.path(), n).await;
        db.close().await.ok();

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
            run("PostgreSQL", &db, dir.path(), n).await;
            db.close().await.ok();
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .unwrap();
        }
    });
}
