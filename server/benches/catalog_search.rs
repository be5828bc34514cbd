//! Catalog search targets over a lineage of archives stored as versions: `GET
//! /api/v1/catalogs/?path__icontains=X` through the same code as the API
//! (`services::catalogs::list_in`, the list engine), on SQLite and PostgreSQL: one page of 25
//! with its count, for answers from one entry to about 100,000.
//!
//! Run: `cargo bench -p server --bench catalog_search` (SQLite), and with
//! `CYBORG_BENCH_PG=postgres://postgres@127.0.0.1:5432/postgres` also PostgreSQL (a fresh
//! database is created and dropped). The catalog is 30 archives (`CYBORG_BENCH_ARCHIVES`) of
//! the 1,000,000-line listings of `common/listing.rs` (`CYBORG_BENCH_PATHS`; 1 % of the files
//! changed each time), ingested by `catalog::ingest` (not what is measured): 30,000,000 entries.
//! Each search is measured with the in-memory path index (`catalog::search_index`, built once
//! after the setup; its build time and size are printed), and with `CYBORG_BENCH_SCAN=1` also
//! without it (the database scan).
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use cyborg_core::{
    catalog::{self, search_index::SearchIndex},
    entities::{archive, repository},
    services::{catalogs, list::ListRequest},
};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Database, DatabaseConnection, Set};

#[path = "common/listing.rs"]
mod listing;

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
    let t = Instant::now();
    let mut entries = 0;
    for i in 0..n_archives {
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
        let mut text = Vec::with_capacity(n_paths * 270);
        listing::write(&mut text, n_paths, i + 1);
        entries += catalog::ingest(db, a.id, &text[..]).await.unwrap().entries;
    }
    println!(
        "setup: {n_archives} archives of {n_paths} lines = {entries} entries in {:.1} s",
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
        (
            "path__icontains",
            "site042.example.com/htdocs/wp-content/uploads3",
        ),
        ("path__icontains", "site042.example.com"),
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
    let n_archives = env("CYBORG_BENCH_ARCHIVES", if quick { 2 } else { 30 });
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
