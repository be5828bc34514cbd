//! Catalog path search (`path__icontains`, `search`) over ingested archives: the distinct-paths
//! first form of `services::catalogs` finds exactly what the list engine's plain `icontains`
//! over the joined rows finds, for ASCII and non-ASCII values, LIKE/GLOB wildcards and odd case
//! mappings, before and after an archive is removed and re-ingested.

use std::{collections::BTreeSet, sync::Arc};

use crate::common::{TestServer, seed_archive};
use cyborg_core::{
    catalog::{self, search_index::SearchIndex},
    services::{
        catalogs,
        list::{self, ListRequest},
    },
};
use sea_orm::{
    ConnectionTrait, DatabaseConnection,
    sea_query::{Alias, Expr, JoinType, Query},
};
use serde_json::json;

const PATHS: &[&str] = &[
    "etc/hosts",
    "etc/HOSTS.allow",
    "Été/index.html",
    "été/x",
    "ÉTÉ/y",
    "var/ölga.txt",
    "var/ÖLGA.TXT",
    "straße/a",
    "STRASSE/b",
    "kelvin/\u{212A}elvin",
    "kelvin/Kelvin",
    "odd/50%_off\\x[1]*?.conf",
    "odd/50 off x1.conf",
    "Ωmega/σς/Σ",
    "İstanbul/i",
    "dotless/ı",
    "title/ǅ",
    "title/ǆ",
    "emoji/😀 smile",
];

const QUERIES: &[&str] = &[
    "",
    "e",
    "ét",
    "Été",
    "ÉTÉ/",
    "été/X",
    "hosts",
    "HOSTS",
    "ölga",
    "ÖLGA.txt",
    "r/Ö",
    "ß",
    "ss",
    "SS",
    "straße",
    "k",
    "K",
    "\u{212A}",
    "\u{212A}elvin",
    "50%",
    "%_",
    "\\x",
    "[1]",
    "*?",
    "_",
    "%",
    "σ",
    "Σ",
    "ς",
    "ΩMEGA",
    "i",
    "I",
    "İ",
    "ı",
    "ǅ",
    "ǆ",
    "Ǆ",
    "😀 S",
    "/",
    "no-such-path",
];

fn line(path: &str) -> String {
    json!({"type": "-", "mode": "-rw-r--r--", "user": "root", "group": "root", "uid": 0,
           "gid": 0, "path": path, "healthy": true, "size": 1,
           "mtime": "2024-05-06T07:08:09.000000"})
    .to_string()
}

async fn ingest(db: &DatabaseConnection, archive: i32, paths: &[&str]) {
    let text: String = paths.iter().map(|p| line(p) + "\n").collect();
    catalog::ingest(db, archive, text.as_bytes()).await.unwrap();
}

/// Entry ids the API answers for one parameter, with the database scan.
async fn api_ids(db: &DatabaseConnection, key: &str, value: &str) -> BTreeSet<i64> {
    indexed_ids(db, None, key, value).await
}

/// Entry ids the API answers for one parameter, with `index` when it is current.
async fn indexed_ids(
    db: &DatabaseConnection,
    index: Option<&Arc<SearchIndex>>,
    key: &str,
    value: &str,
) -> BTreeSet<i64> {
    let req = ListRequest::new(
        "/api/v1/catalogs/",
        vec![
            (key.into(), value.into()),
            ("page_size".into(), "10000".into()),
        ],
    );
    let page = catalogs::list_in(db, index, &req).await.unwrap();
    let ids: BTreeSet<i64> = page.results.iter().map(|e| e.id).collect();
    assert_eq!(page.count as usize, ids.len(), "{key}={value:?}");
    ids
}

/// Entry ids found by the list engine's `icontains` applied to every joined row, as the
/// catalog list did before its distinct-paths-first form.
async fn reference_ids(db: &DatabaseConnection, value: &str, with_archive: bool) -> BTreeSet<i64> {
    let backend = db.get_database_backend();
    let (e, p, a) = (Alias::new("e"), Alias::new("p"), Alias::new("a"));
    let path = list::icontains(
        Expr::col((p.clone(), Alias::new("path"))).into(),
        value,
        backend,
    );
    let cond = if with_archive {
        path.or(list::icontains(
            Expr::col((a.clone(), Alias::new("name"))).into(),
            value,
            backend,
        ))
    } else {
        path
    };
    let query = Query::select()
        .column((e.clone(), Alias::new("id")))
        .from_as(Alias::new("catalog_entries"), e.clone())
        .join_as(
            JoinType::InnerJoin,
            Alias::new("catalog_paths"),
            p.clone(),
            Expr::col((p.clone(), Alias::new("id"))).equals((e.clone(), Alias::new("path_id"))),
        )
        .join_as(
            JoinType::InnerJoin,
            Alias::new("archives"),
            a.clone(),
            Expr::col((a.clone(), Alias::new("id"))).equals((e.clone(), Alias::new("archive_id"))),
        )
        .and_where(cond)
        .to_owned();
    db.query_all(backend.build(&query))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get_by_index::<i64>(0).unwrap())
        .collect()
}

/// Every query, answered by the database scan and by a freshly built index, equals the
/// reference.
async fn check_all(db: &DatabaseConnection, expect_some: bool) {
    let index = SearchIndex::new(1 << 20);
    assert!(index.refresh(db).await.unwrap());
    // The index answers (it is current): "e" is in most paths, "no-such-path" in none.
    assert!(
        index
            .candidates(db, "e")
            .await
            .is_some_and(|c| !c.is_empty())
            == expect_some
    );
    assert_eq!(index.candidates(db, "no-such-path").await, Some(vec![]));
    let mut found = 0;
    for q in QUERIES {
        let want = reference_ids(db, q, false).await;
        for ix in [None, Some(&index)] {
            assert_eq!(
                indexed_ids(db, ix, "path__icontains", q).await,
                want,
                "path__icontains={q:?}, index: {}",
                ix.is_some()
            );
        }
        found += want.len();
        if !q.trim().is_empty() {
            let want = reference_ids(db, q, true).await;
            for ix in [None, Some(&index)] {
                assert_eq!(
                    indexed_ids(db, ix, "search", q).await,
                    want,
                    "search={q:?}, index: {}",
                    ix.is_some()
                );
            }
        }
    }
    assert_eq!(found > 0, expect_some);
}

#[tokio::test]
async fn an_index_older_than_the_catalog_is_not_used() {
    let s = TestServer::start().await;
    let fx = s.fixture().await;
    let (_, a) = seed_archive(&s, fx.repository, "folders-a-2024-05-06_07-08", &[]).await;
    let (_, b) = seed_archive(&s, fx.repository, "folders-b-2024-05-07_07-08", &[]).await;
    let db = s.db().await;
    ingest(&db, a, &PATHS[..4]).await;
    let index = SearchIndex::new(1 << 20);
    assert!(index.refresh(&db).await.unwrap());
    assert_eq!(index.candidates(&db, "ölga").await, Some(vec![]));
    // New paths: the index is out of date and must not answer (it would miss them).
    ingest(&db, b, PATHS).await;
    assert_eq!(index.candidates(&db, "ölga").await, None);
    assert_eq!(
        indexed_ids(&db, Some(&index), "path__icontains", "ölga")
            .await
            .len(),
        2
    );
    // Re-ingesting known paths adds none: the index stays current.
    assert!(index.refresh(&db).await.unwrap());
    ingest(&db, a, &PATHS[..4]).await;
    assert_eq!(
        index.candidates(&db, "ölga").await.map(|c| c.len()),
        Some(2)
    );
    // Too small a budget: no index, the scan answers.
    let tiny = SearchIndex::new(16);
    assert!(!tiny.refresh(&db).await.unwrap());
    assert_eq!(tiny.candidates(&db, "ölga").await, None);
}

#[tokio::test]
async fn path_search_matches_the_plain_icontains() {
    let s = TestServer::start().await;
    let fx = s.fixture().await;
    let (_, a) = seed_archive(&s, fx.repository, "folders-a-2024-05-06_07-08", &[]).await;
    let (_, b) = seed_archive(&s, fx.repository, "folders-b-2024-05-07_07-08", &[]).await;
    let db = s.db().await;
    ingest(&db, a, PATHS).await;
    ingest(&db, b, &PATHS[..8]).await;
    check_all(&db, true).await;

    // Known answers, so the reference itself is checked too.
    let paths_of = |ids: BTreeSet<i64>| ids.len();
    assert_eq!(paths_of(api_ids(&db, "path__icontains", "ÉTÉ/").await), 6);
    assert_eq!(paths_of(api_ids(&db, "path__icontains", "ölga").await), 4);
    assert_eq!(paths_of(api_ids(&db, "path__icontains", "50%_").await), 1);
    assert_eq!(paths_of(api_ids(&db, "path__icontains", "[1]*?").await), 1);
    assert_eq!(paths_of(api_ids(&db, "path__icontains", "x1").await), 1);

    // The search follows removals and re-ingestions.
    catalog::remove_archive(&db, a).await.unwrap();
    check_all(&db, true).await;
    assert!(api_ids(&db, "path__icontains", "kelvin").await.is_empty());
    catalog::remove_archive(&db, b).await.unwrap();
    check_all(&db, false).await;
    ingest(&db, a, PATHS).await;
    check_all(&db, true).await;
    assert_eq!(api_ids(&db, "path__icontains", "KELVIN/").await.len(), 2);
}

#[tokio::test]
async fn search_parameters_are_still_validated() {
    let s = TestServer::start().await;
    let db = s.db().await;
    for (key, value) in [
        ("path__icontains", "a\0b".to_string()),
        ("search", "x".repeat(5000)),
    ] {
        let req = ListRequest::new("/api/v1/catalogs/", vec![(key.into(), value)]);
        assert!(catalogs::list_in(&db, None, &req).await.is_err(), "{key}");
    }
}

/// Deleting a repository takes its archives' catalog with it (removed archive by archive, in
/// bounded transactions) and leaves other catalogs alone.
#[tokio::test]
async fn deleting_a_repository_removes_its_catalog() {
    let s = TestServer::start().await;
    let fx = s.fixture().await;
    let spare = s
        .create(
            "/api/v1/repositories/",
            json!({"name": "Spare", "path": "/srv/borg/spare", "repository_key": "k-e-y"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let (_, kept) = seed_archive(&s, fx.repository, "folders-a-2024-05-06_07-08", &[]).await;
    let (_, gone) = seed_archive(&s, spare, "folders-b-2024-05-07_07-08", &[]).await;
    let db = s.db().await;
    ingest(&db, kept, &PATHS[..8]).await;
    ingest(&db, gone, PATHS).await;
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            let backend = db.get_database_backend();
            db.query_one(sea_orm::Statement::from_string(backend, sql))
                .await
                .unwrap()
                .unwrap()
                .try_get_by_index::<i64>(0)
                .unwrap()
        }
    };
    let entries = "SELECT COUNT(*) FROM catalog_entries";
    let paths = "SELECT COUNT(*) FROM catalog_paths";
    assert_eq!(count(entries).await, (8 + PATHS.len()) as i64);
    let (status, _) = s.delete(&format!("/api/v1/repositories/{spare}/")).await;
    assert_eq!(status, 204);
    assert_eq!(count(entries).await, 8);
    // The paths only the deleted archive held are gone too.
    assert_eq!(count(paths).await, 8);
    assert_eq!(api_ids(&db, "path__icontains", "").await.len(), 8);
}
