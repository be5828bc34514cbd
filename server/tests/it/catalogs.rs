//! The catalog read side: the seed's exact object shape, filters, search, ordering, pagination
//! and access, over archives seeded straight into the database (ingestion comes later).

use std::collections::BTreeSet;

use crate::common::{TestServer, seed_archive, with_query};
use cyborg_core::entities::{archive, catalog_path, job};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

const LIST: &str = "/api/v1/catalogs/";
const ARCHIVE_A: &str = "config-web1.example.com-2024-05-06_07-08";
const ARCHIVE_B: &str = "config-web1.example.com-2024-05-07_07-08";
const FILES_A: &[(&str, i64)] = &[
    ("etc/hosts", 120),
    ("etc/passwd", 2048),
    ("etc/ssh/sshd_config", 3500),
    ("var/www/Été/index.html", 512),
    ("etc/50%_off.conf", 7),
];
const FILES_B: &[(&str, i64)] = &[
    ("etc/hosts", 130),
    ("etc/passwd", 2048),
    ("home/ada/notes.txt", 99),
];

type Pairs<'a> = Vec<(&'a str, &'a str)>;

struct Seeded {
    s: TestServer,
    repository: i64,
    job_a: i64,
    job_b: i64,
    archive_a: i64,
    archive_b: i64,
}

async fn seeded() -> Seeded {
    let s = TestServer::start().await;
    let fx = s.fixture().await;
    let (job_a, archive_a) = seed_archive(&s, fx.repository, ARCHIVE_A, FILES_A).await;
    let (job_b, archive_b) = seed_archive(&s, fx.repository, ARCHIVE_B, FILES_B).await;
    Seeded {
        s,
        repository: fx.repository,
        job_a: job_a.into(),
        job_b: job_b.into(),
        archive_a: archive_a.into(),
        archive_b: archive_b.into(),
    }
}

fn results(v: &Value) -> &Vec<Value> {
    v["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {v}"))
}

async fn list(s: &TestServer, pairs: &[(&str, &str)]) -> Value {
    let url = with_query(LIST, pairs);
    let (status, body) = s.get(&url).await;
    assert_eq!(status, StatusCode::OK, "GET {url}: {body}");
    let n = results(&body).len() as u64;
    assert!(body["count"].as_u64().unwrap() >= n, "{url}: {body}");
    body
}

/// `(archive_name, path)` of every match, sorted.
async fn matches(s: &TestServer, pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    let body = list(s, &[pairs, &[("page_size", "10000")]].concat()).await;
    assert_eq!(body["count"], results(&body).len(), "{pairs:?}");
    results(&body)
        .iter()
        .map(|e| {
            (
                e["archive_name"].as_str().unwrap().to_string(),
                e["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn expect(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(a, p)| (a.to_string(), p.to_string()))
        .collect()
}

const SEED_KEYS: [&str; 11] = [
    "id",
    "url",
    "archive_name",
    "path",
    "job",
    "mode",
    "mtime",
    "owner",
    "group",
    "size",
    "healthy",
];

fn assert_seed_shape(e: &Value) {
    let keys: BTreeSet<&str> = e
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {e}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(SEED_KEYS),
        "exactly the seed's keys: {e}"
    );
    let id = e["id"].as_i64().expect("integer id");
    assert_eq!(e["url"], format!("/api/v1/catalogs/{id}/"));
    assert!(
        e["archive_name"].is_string() && e["path"].is_string(),
        "{e}"
    );
    assert!(e["job"].is_i64() || e["job"].is_null(), "{e}");
    assert_eq!(e["mode"], "-rw-r--r--");
    assert_eq!(e["mtime"], "2024-05-06T07:08:09Z");
    assert_eq!(e["owner"], "root");
    assert_eq!(e["group"], "root");
    assert!(e["size"].is_i64(), "{e}");
    assert_eq!(e["healthy"], true);
}

#[tokio::test]
async fn list_and_detail_have_exactly_the_seed_shape() {
    let t = seeded().await;
    let s = &t.s;
    let body = list(s, &[]).await;
    assert_eq!(body["count"], 8);
    assert!(body["next"].is_null() && body["previous"].is_null());
    let entries = results(&body);
    assert_eq!(entries.len(), 8);
    for e in entries {
        assert_seed_shape(e);
        let job = if e["archive_name"] == ARCHIVE_A {
            t.job_a
        } else {
            assert_eq!(e["archive_name"], ARCHIVE_B);
            t.job_b
        };
        assert_eq!(e["job"], job, "{e}");
    }
    let ids: Vec<i64> = entries.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "default order -id: {ids:?}"
    );

    // Every file of both archives, with its own size.
    let got: BTreeSet<(String, String, i64)> = entries
        .iter()
        .map(|e| {
            (
                e["archive_name"].as_str().unwrap().into(),
                e["path"].as_str().unwrap().into(),
                e["size"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut want = BTreeSet::new();
    for (name, files) in [(ARCHIVE_A, FILES_A), (ARCHIVE_B, FILES_B)] {
        for (p, size) in files {
            want.insert((name.to_string(), p.to_string(), *size));
        }
    }
    assert_eq!(got, want);

    // Shared paths are stored once.
    let db = s.db().await;
    assert_eq!(catalog_path::Entity::find().count(&db).await.unwrap(), 6);

    // The detail is the list's object, and nothing more.
    for e in entries {
        let (status, one) = s.get(e["url"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{e}");
        assert_seed_shape(&one);
        assert_eq!(&one, e);
        let id = e["id"].as_i64().unwrap();
        let (status, again) = s.get(&format!("/api/v1/catalogs/{id}")).await;
        assert_eq!(status, StatusCode::OK, "without the trailing slash");
        assert_eq!(&again, e);
    }
    for id in [
        "999999",
        "0",
        "-1",
        "abc",
        "1.5",
        "99999999999999999999",
        "%20",
    ] {
        let path = format!("/api/v1/catalogs/{id}/");
        let (status, body) = s.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert!(body["detail"].is_string(), "{path}: {body}");
    }

    // Once its job is deleted an entry keeps its archive, with `job: null`.
    db.execute_unprepared(&format!("DELETE FROM jobs WHERE id = {}", t.job_b))
        .await
        .unwrap();
    assert!(
        job::Entity::find_by_id(t.job_b as i32)
            .one(&db)
            .await
            .unwrap()
            .is_none()
    );
    let body = list(s, &[("archive_name", ARCHIVE_B)]).await;
    assert_eq!(body["count"], 3);
    for e in results(&body) {
        assert_seed_shape(e);
        assert!(e["job"].is_null(), "{e}");
    }
    let orphans = matches(s, &[("job__isnull", "true")]).await;
    assert_eq!(orphans.len(), 3);
    let (status, one) = s.get(results(&body)[0]["url"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(one["job"].is_null());

    // Deleting an archive takes its entries with it.
    archive::Entity::delete_by_id(t.archive_b as i32)
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(list(s, &[]).await["count"], 5);
}

#[tokio::test]
async fn filters_and_search() {
    let t = seeded().await;
    let s = &t.s;
    let (a, b) = (ARCHIVE_A, ARCHIVE_B);
    let (job_a, job_b) = (t.job_a.to_string(), t.job_b.to_string());
    let (arch_a, arch_b) = (t.archive_a.to_string(), t.archive_b.to_string());
    let repo = t.repository.to_string();
    let both_jobs = format!("{job_a},{job_b}");
    let every_a: Vec<(&str, &str)> = FILES_A.iter().map(|(p, _)| (a, *p)).collect();
    let every_b: Vec<(&str, &str)> = FILES_B.iter().map(|(p, _)| (b, *p)).collect();
    let all = [every_a.clone(), every_b.clone()].concat();
    // (query, expected (archive_name, path) matches)
    let cases: Vec<(Pairs, Pairs)> = vec![
        (vec![("archive_name", a)], every_a.clone()),
        (vec![("archive_name", b)], every_b.clone()),
        (vec![("archive_name", "nope")], vec![]),
        (
            vec![("archive_name__endswith", "07_07-08")],
            every_b.clone(),
        ),
        (vec![("job", &job_a)], every_a.clone()),
        (vec![("job", &job_b)], every_b.clone()),
        (vec![("job__in", &both_jobs)], all.clone()),
        (vec![("job", "999999")], vec![]),
        (vec![("archive", &arch_a)], every_a.clone()),
        (vec![("archive", &arch_b)], every_b.clone()),
        (vec![("repository", &repo)], all.clone()),
        (vec![("client__isnull", "true")], all.clone()),
        (
            vec![("path", "etc/passwd")],
            vec![(a, "etc/passwd"), (b, "etc/passwd")],
        ),
        (
            vec![("path", "etc/passwd"), ("archive_name", b)],
            vec![(b, "etc/passwd")],
        ),
        (vec![("path", "etc")], vec![]),
        (
            vec![("path__startswith", "etc/")],
            vec![
                (a, "etc/hosts"),
                (a, "etc/passwd"),
                (a, "etc/ssh/sshd_config"),
                (a, "etc/50%_off.conf"),
                (b, "etc/hosts"),
                (b, "etc/passwd"),
            ],
        ),
        (vec![("path__startswith", "ETC/")], vec![]),
        (
            vec![("path__startswith", "etc/ssh")],
            vec![(a, "etc/ssh/sshd_config")],
        ),
        (
            vec![("path__icontains", "SSH")],
            vec![(a, "etc/ssh/sshd_config")],
        ),
        (
            vec![("path__icontains", "%")],
            vec![(a, "etc/50%_off.conf")],
        ),
        (
            vec![("path__icontains", "_")],
            vec![(a, "etc/50%_off.conf"), (a, "etc/ssh/sshd_config")],
        ),
        (
            vec![("path__icontains", "été")],
            vec![(a, "var/www/Été/index.html")],
        ),
        (
            vec![("path__icontains", "ÉTÉ/")],
            vec![(a, "var/www/Été/index.html")],
        ),
        (vec![("path__contains", "été")], vec![]),
        (
            vec![("path__in", "etc/hosts,home/ada/notes.txt")],
            vec![
                (a, "etc/hosts"),
                (b, "etc/hosts"),
                (b, "home/ada/notes.txt"),
            ],
        ),
        (
            vec![("path__endswith", ".txt")],
            vec![(b, "home/ada/notes.txt")],
        ),
        (
            vec![("size__gt", "1000")],
            vec![
                (a, "etc/passwd"),
                (a, "etc/ssh/sshd_config"),
                (b, "etc/passwd"),
            ],
        ),
        (vec![("size", "130")], vec![(b, "etc/hosts")]),
        (
            vec![("size__lte", "99"), ("archive_name", b)],
            vec![(b, "home/ada/notes.txt")],
        ),
        (vec![("healthy", "true")], all.clone()),
        (vec![("healthy", "false")], vec![]),
        (vec![("mtime", "2024-05-06T07:08:09Z")], all.clone()),
        (vec![("mtime__lt", "2024-05-06")], vec![]),
        (
            vec![("mtime__gte", "2024-05-06T09:08:09+02:00")],
            all.clone(),
        ),
        (
            vec![("owner", "root"), ("group", "root"), ("mode", "-rw-r--r--")],
            all.clone(),
        ),
        // Search: over the path and the archive name, case-insensitively.
        (vec![("search", "NOTES")], vec![(b, "home/ada/notes.txt")]),
        (vec![("search", "2024-05-07")], every_b.clone()),
        (
            vec![("search", "passwd")],
            vec![(a, "etc/passwd"), (b, "etc/passwd")],
        ),
        (vec![("search", "été")], vec![(a, "var/www/Été/index.html")]),
        (vec![("owner", "root")], all.clone()),
        (
            vec![("search", "hosts"), ("archive_name", a)],
            vec![(a, "etc/hosts")],
        ),
        (vec![("search", "nothing-like-this")], vec![]),
        // Every file is owned by root, but no path or archive name holds "root": search finds
        // files by name, not by owner.
        (vec![("search", "root")], vec![]),
    ];
    for (pairs, want) in cases {
        assert_eq!(matches(s, &pairs).await, expect(&want), "{pairs:?}");
    }
    for (k, v) in [
        ("job", "abc"),
        ("archive", "x"),
        ("size__gt", "big"),
        ("healthy", "maybe"),
        ("mtime__lt", "soon"),
        ("path__bogus", "x"),
        ("job__icontains", "1"),
        ("nope", "1"),
        ("order_by", "nope"),
        ("path", "a\u{0}"),
        ("page_size", "0"),
    ] {
        let url = with_query(LIST, &[(k, v)]);
        let (status, body) = s.get(&url).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
        assert!(body[k].is_array(), "{url}: {body}");
    }
}

#[tokio::test]
async fn ordering_and_pagination() {
    let t = seeded().await;
    let s = &t.s;
    let all = list(s, &[("page_size", "10000")]).await;
    let entries = results(&all).clone();
    let key = |e: &Value| {
        (
            e["path"].as_str().unwrap().to_string(),
            e["id"].as_i64().unwrap(),
        )
    };

    // By path, ties broken by id ascending; and descending.
    let mut by_path: Vec<(String, i64)> = entries.iter().map(key).collect();
    by_path.sort();
    let got: Vec<(String, i64)> = results(&list(s, &[("order_by", "path")]).await)
        .iter()
        .map(key)
        .collect();
    assert_eq!(got, by_path);
    let got: Vec<String> = results(&list(s, &[("order_by", "-path")]).await)
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect();
    let mut desc: Vec<String> = by_path.iter().map(|(p, _)| p.clone()).collect();
    desc.reverse();
    assert_eq!(got, desc);

    // By size both ways, and a comma list.
    let sizes = |v: &Value| -> Vec<i64> {
        results(v)
            .iter()
            .map(|e| e["size"].as_i64().unwrap())
            .collect()
    };
    let mut want: Vec<i64> = entries
        .iter()
        .map(|e| e["size"].as_i64().unwrap())
        .collect();
    want.sort();
    assert_eq!(sizes(&list(s, &[("order_by", "size")]).await), want);
    want.reverse();
    assert_eq!(sizes(&list(s, &[("order", "-size")]).await), want);
    let got = list(s, &[("order_by", "archive_name,-size")]).await;
    let got: Vec<(String, i64)> = results(&got)
        .iter()
        .map(|e| {
            (
                e["archive_name"].as_str().unwrap().to_string(),
                -e["size"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(got, sorted);

    // Pages of 3 by path: every entry once, links keep the filter and the order.
    let mut url = with_query(LIST, &[("order_by", "path"), ("page_size", "3")]);
    let mut seen = Vec::new();
    let mut page = 1;
    loop {
        let (status, body) = s.get(&url).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        assert_eq!(body["count"], 8);
        assert_eq!(body["previous"].is_null(), page == 1, "{url}: {body}");
        seen.extend(results(&body).iter().map(key));
        match body["next"].as_str() {
            Some(next) => {
                assert_eq!(
                    next,
                    format!(
                        "/api/v1/catalogs/?order_by=path&page_size=3&page={}",
                        page + 1
                    )
                );
                url = next.to_string();
                page += 1;
            }
            None => break,
        }
    }
    assert_eq!(page, 3);
    assert_eq!(seen, by_path, "every entry once, in path order");
    let filtered = list(
        s,
        &[
            ("archive_name", ARCHIVE_A),
            ("page_size", "2"),
            ("page", "2"),
        ],
    )
    .await;
    assert_eq!(filtered["count"], 5);
    assert_eq!(
        filtered["next"],
        format!("/api/v1/catalogs/?archive_name={ARCHIVE_A}&page_size=2&page=3")
    );
    assert_eq!(
        filtered["previous"],
        format!("/api/v1/catalogs/?archive_name={ARCHIVE_A}&page_size=2&page=1")
    );
    let (status, body) = s
        .get(&with_query(LIST, &[("page", "4"), ("page_size", "3")]))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["detail"].is_string());
}

#[tokio::test]
async fn anonymous_callers_get_401_and_regular_users_can_read() {
    let t = seeded().await;
    let s = &t.s;
    let (_, all) = s.get(LIST).await;
    let first = results(&all)[0].clone();
    let detail = first["url"].as_str().unwrap();
    for path in [
        LIST,
        "/api/v1/catalogs",
        detail,
        "/api/v1/catalogs/?search=etc",
    ] {
        let resp = s.http.get(s.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert!(resp.headers().get("www-authenticate").is_some(), "{path}");
        let body: Value = resp.json().await.unwrap();
        assert!(body["detail"].is_string(), "{path}: {body}");
        assert!(body.get("results").is_none() && body.get("path").is_none());
    }
    let (status, _) = s.raw(Method::GET, LIST, Some("not-a-token"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (_, token) = s.regular_user("reader@example.com").await;
    let (status, body) = s.raw(Method::GET, LIST, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, all, "a regular user sees the same catalog");
    let (status, one) = s.raw(Method::GET, detail, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one, first);
    let url = with_query(LIST, &[("path__startswith", "etc/"), ("order_by", "-size")]);
    let (status, body) = s.raw(Method::GET, &url, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["count"], 6);

    // The catalog is read-only for everyone.
    for tok in [s.admin_token.clone(), token] {
        for (method, path) in [
            (Method::POST, LIST),
            (Method::PUT, detail),
            (Method::PATCH, detail),
            (Method::DELETE, detail),
        ] {
            let (status, body) = s
                .raw(method.clone(), path, Some(&tok), Some(json!({"path": "x"})))
                .await;
            assert_eq!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {body}"
            );
            assert!(body["detail"].is_string());
        }
    }
    let (_, after) = s.get(LIST).await;
    assert_eq!(after, all, "nothing changed");
}
