//! Catalog path search (`path__icontains`, `search`) over ingested archives: the distinct-paths
//! first form of `services::catalogs` finds exactly what the list engine's plain `icontains`
//! over the joined rows finds, for ASCII and non-ASCII values, LIKE/GLOB wildcards and odd case
//! mappings, before and after an archive is removed and re-ingested.
mod common;

use std::collections::BTreeSet;

use common::{TestServer, seed_archive};
use sea_orm::{
    ConnectionTrait, DatabaseConnection,
    sea_query::{Alias, Expr, JoinType, Query},
};
use serde_json::json;
use server::{
    catalog,
    services::{
        catalogs,
        list::{self, ListRequest},
    },
};

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

/// Entry ids the API answers for one parameter.
async fn api_ids(db: &DatabaseConnection, key: &str, value: &str) -> BTreeSet<i64> {
    let req = ListRequest::new(
        "/api/v1/catalogs/",
        vec![
            (key.into(), value.into()),
            ("page_size".into(), "10000".into()),
        ],
    );
    let page = catalogs::list_in(db, &req).await.unwrap();
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

async fn check_all(db: &DatabaseConnection, expect_some: bool) {
    let mut found = 0;
    for q in QUERIES {
        let want = reference_ids(db, q, false).await;
        assert_eq!(
            api_ids(db, "path__icontains", q).await,
            want,
            "path__icontains={q:?}"
        );
        found += want.len();
        if !q.trim().is_empty() {
            let want = reference_ids(db, q, true).await;
            assert_eq!(api_ids(db, "search", q).await, want, "search={q:?}");
        }
    }
    assert_eq!(found > 0, expect_some);
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
        assert!(catalogs::list_in(&db, &req).await.is_err(), "{key}");
    }
}
