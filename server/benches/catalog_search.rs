//! Issue 4 catalog search target: `GET /api/v1/catalogs/?path__icontains=X` over 10,000,000
//! catalog entries ≤ 100 ms, through the same code as the API (`services::catalogs::list_in`,
//! the list engine), on SQLite and PostgreSQL: one page of 25 with its count.
//!
//! Run: `cargo bench -p server --bench catalog_search` (SQLite), and with
//! `CYBORG_BENCH_PG=postgres://postgres@127.0.0.1:5432/postgres` also PostgreSQL (a fresh
//! database is created and dropped). The catalog is 10 archives (`CYBORG_BENCH_ARCHIVES`) of
//! the same 1,000,000 paths (`CYBORG_BENCH_PATHS`, the layout of the `catalog_ingest`
//! benchmark), as a client's successive archives share their paths: 10,000,000 entries over
//! 1,000,000 distinct paths. The setup writes the rows with bulk SQL (foreign-key checks off on
//! the setup connection only); it is not what is measured. Each search is measured with the
//! in-memory path index (`catalog::search_index`, built once after the setup; its build time
//! and size are printed), and with `CYBORG_BENCH_SCAN=1` also without it (the database scan).
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use cyborg_core::{
    catalog::{hash, search_index::SearchIndex},
    entities::{archive, repository},
    services::{catalogs, list::ListRequest},
};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, Set,
    sqlx::{self, Connection as _},
};

/// The paths of the `catalog_ingest` benchmark: 100 sites × 10 × 10 nested directories, files
/// in the leaves, directories before their contents.
fn paths(n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    'outer: for top in 0.. {
        let t = format!("srv/www/site{top:03}.example.com");
        out.push(t.clone());
        for a in 0..10 {
            let da = format!("{t}/htdocs/wp-content/uploads{a}");
            out.push(da.clone());
            for b in 0..10 {
                let db = format!("{da}/2024-{b:02} café");
                out.push(db.clone());
                for f in 0..100 {
                    if out.len() >= n {
                        break 'outer;
                    }
                    out.push(format!("{db}/image-{f:04}-{}x{}.jpg", 100 + f, 200 + b));
                }
            }
        }
    }
    out.truncate(n);
    out
}

async fn setup(db: &DatabaseConnection, n_paths: usize, n_archives: usize) {
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
    for i in 0..n_archives {
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
    let all = paths(n_paths);
    let t = Instant::now();
    match db.get_database_backend() {
        DatabaseBackend::Sqlite => {
            let mut conn = db.get_sqlite_connection_pool().acquire().await.unwrap();
            conn.close_on_drop();
            sqlx::raw_sql("PRAGMA foreign_keys = OFF; PRAGMA cache_size = -262144")
                .execute(&mut *conn)
                .await
                .unwrap();
            let mut txn = conn.begin().await.unwrap();
            for chunk in all.chunks(4096) {
                let mut sql = String::from(
                    "INSERT INTO catalog_paths (path, path_hash, parent_hash) VALUES ",
                );
                for i in 0..chunk.len() {
                    sql.push_str(if i > 0 { ",(?,?,?)" } else { "(?,?,?)" });
                }
                let mut q = sqlx::query(&sql);
                for p in chunk {
                    q = q
                        .bind(p.as_str())
                        .bind(hash::path_hash(p).to_vec())
                        .bind(hash::parent_hash(p));
                }
                q.execute(&mut *txn).await.unwrap();
            }
            txn.commit().await.unwrap();
            for id in &ids {
                sqlx::query(
                    "INSERT INTO catalog_entries \
                     (archive_id, path_id, mode, mtime, owner, \"group\", size, healthy) \
                     SELECT ?, id, '-rw-r--r--', '2024-05-06T07:08:09.123456+00:00', \
                     'www-data', 'www-data', id * 7919 % 1000003, 1 FROM catalog_paths ORDER BY id",
                )
                .bind(id)
                .execute(&mut *conn)
                .await
                .unwrap();
            }
        }
        DatabaseBackend::Postgres => {
            let mut conn = db.get_postgres_connection_pool().acquire().await.unwrap();
            conn.close_on_drop();
            sqlx::raw_sql("SET session_replication_role = replica")
                .execute(&mut *conn)
                .await
                .unwrap();
            for chunk in all.chunks(100_000) {
                let p: Vec<&str> = chunk.iter().map(String::as_str).collect();
                let h: Vec<Vec<u8>> = chunk.iter().map(|p| hash::path_hash(p).to_vec()).collect();
                let ph: Vec<i64> = chunk.iter().map(|p| hash::parent_hash(p)).collect();
                sqlx::query(
                    "INSERT INTO catalog_paths (path, path_hash, parent_hash) \
                     SELECT * FROM unnest($1::text[], $2::bytea[], $3::int8[])",
                )
                .bind(&p)
                .bind(&h)
                .bind(&ph)
                .execute(&mut *conn)
                .await
                .unwrap();
            }
            for id in &ids {
                sqlx::query(
                    "INSERT INTO catalog_entries \
                     (archive_id, path_id, mode, mtime, owner, \"group\", size, healthy) \
                     SELECT $1, id, '-rw-r--r--', '2024-05-06T07:08:09.123456Z', \
                     'www-data', 'www-data', id * 7919 % 1000003, true FROM catalog_paths ORDER BY id",
                )
                .bind(id)
                .execute(&mut *conn)
                .await
                .unwrap();
            }
            sqlx::raw_sql("ANALYZE catalog_paths, catalog_entries")
                .execute(&mut *conn)
                .await
                .unwrap();
        }
        other => panic!("unsupported {other:?}"),
    }
    println!(
        "setup: {} paths × {} archives = {} entries in {:.1} s",
        all.len(),
        n_archives,
        all.len() * n_archives,
        t.elapsed().as_secs_f64()
    );
}

async fn run(label: &str, db: &DatabaseConnection, n_paths: usize, n_archives: usize) {
    setup(db, n_paths, n_archives).await;
    let index = SearchIndex::new(usize::MAX);
    let t = Instant::now();
    assert!(index.refresh(db).await.unwrap());
    let snap = index.snapshot().unwrap();
    println!(
        "{label}: search index of {} paths built in {:.2} s, {:.1} MiB",
        snap.paths(),
        t.elapsed().as_secs_f64(),
        snap.bytes() as f64 / (1 << 20) as f64
    );
    // The database scan too (the answer when the index is off or out of date), when asked.
    let scan = std::env::var_os("CYBORG_BENCH_SCAN").is_some();
    // (parameter, value): from one path to a tenth of the catalog, ASCII and not.
    let cases: &[(&str, &str)] = &[
        (
            "path__icontains",
            "site042.example.com/htdocs/wp-content/uploads3/2024-05 café/image-0042",
        ),
        ("path__icontains", "image-0042-142x205"),
        ("path__icontains", "IMAGE-0042-142X205.JPG"),
        ("path__icontains", "CAFÉ/IMAGE-0042-142X205"),
        ("path__icontains", "été"),
        ("path__icontains", "uploads3/2024-05"),
        ("path__icontains", "no-such-file"),
        ("search", "image-0042-142x205"),
    ];
    for (key, value) in cases {
        let req = ListRequest::new(
            "/api/v1/catalogs/",
            vec![
                (key.to_string(), value.to_string()),
                ("page_size".into(), "25".into()),
            ],
        );
        let modes: &[(&str, Option<&Arc<SearchIndex>>, usize)] = if scan {
            &[("index", Some(&index), 10), ("scan", None, 3)]
        } else {
            &[("index", Some(&index), 10)]
        };
        for (mode, ix, samples) in modes {
            let mut times = Vec::with_capacity(*samples);
            let mut count = 0;
            for _ in 0..*samples {
                let t = Instant::now();
                let page = catalogs::list_in(db, *ix, &req).await.unwrap();
                times.push(t.elapsed());
                count = page.count;
                assert!(page.results.len() as u64 == count.min(25));
            }
            times.sort();
            println!(
                "{label} ({mode}): ?{key}={value:?}&page_size=25: count {count}, \
                 median {:.1} ms, best {:.1} ms, worst {:.1} ms",
                ms(times[times.len() / 2]),
                ms(times[0]),
                ms(times[times.len() - 1])
            );
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test") || std::env::args().all(|a| a != "--bench");
    let env = |name: &str, default: usize| -> usize {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let n_paths = env("CYBORG_BENCH_PATHS", if quick { 10_000 } else { 1_000_000 });
    let n_archives = env("CYBORG_BENCH_ARCHIVES", if quick { 2 } else { 10 });
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}/bench.db?mode=rwc", dir.path().display());
        let db = cyborg_core::db::connect(&url).await.unwrap();
        run("SQLite", &db, n_paths, n_archives).await;
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
            run("PostgreSQL", &db, n_paths, n_archives).await;
            db.close().await.ok();
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .unwrap();
        }
    });
}
