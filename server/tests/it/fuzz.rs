//! Property test: random JSON bodies, random bytes and random query strings thrown at every write
//! and list endpoint. For every request: never a 5xx, the server still answers ping, a 4xx
//! changed nothing (every list compared before and after), a read changed nothing, and every
//! answer has the documented shape (docs/API.md). One server per database; `FUZZ_CASES` overrides the
//! number of cases (500 by default).

use std::{
    cell::{Cell, RefCell},
    collections::BTreeMap,
    time::{Duration, Instant},
};

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, TestServer, backend, seed_archive};
use proptest::{
    collection::{btree_map, vec},
    prelude::*,
    sample::select,
    test_runner::{Config, TestCaseError, TestRunner},
};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

const LISTS: [&str; 6] = [
    "/api/v1/users/",
    "/api/v1/clients/",
    "/api/v1/schedules/",
    "/api/v1/repositories/",
    "/api/v1/policies/",
    "/api/v1/catalogs/",
];

/// The writable resources: list path, the fields their bodies take, and the query fields.
const USER_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "email",
    "is_superuser",
    "password",
];
const CLIENT_FIELDS: &[&str] = &[
    "hostname",
    "ip",
    "version",
    "ready",
    "hypervisor_ready",
    "hypervisor_name",
    "enabled",
    "port",
    "username",
    "bandwidth_limit",
];
const SCHEDULE_FIELDS: &[&str] = &["name", "crontab", "enabled"];
const REPOSITORY_FIELDS: &[&str] = &["name", "path", "repository_key", "ready", "enabled"];
const POLICY_FIELDS: &[&str] = &[
    "name",
    "extra_vars",
    "clients",
    "repository",
    "schedule",
    "policy_type",
    "keep_hourly",
    "keep_daily",
    "keep_weekly",
    "keep_monthly",
    "keep_yearly",
    "vmprovider",
    "mode_pull",
    "enabled",
];
/// Read-only or unknown keys a client might send anyway.
const EXTRA_FIELDS: &[&str] = &[
    "id",
    "type",
    "url",
    "uuid",
    "created",
    "modified",
    "created_by",
    "next_run",
    "original_size",
    "password_hash",
    "",
    "__all__",
];
const CATALOG_FIELDS: &[&str] = &[
    "archive_name",
    "path",
    "job",
    "mode",
    "mtime",
    "owner",
    "group",
    "size",
    "healthy",
    "archive",
    "repository",
    "client",
    "policy",
];
const LOOKUPS: &[&str] = &[
    "",
    "__exact",
    "__iexact",
    "__contains",
    "__icontains",
    "__startswith",
    "__istartswith",
    "__endswith",
    "__iendswith",
    "__in",
    "__gt",
    "__gte",
    "__lt",
    "__lte",
    "__isnull",
    "__bogus",
    "__",
    "__in__gt",
];

fn fields_of(list: &str) -> &'static [&'static str] {
    match list {
        "/api/v1/users/" => USER_FIELDS,
        "/api/v1/clients/" => CLIENT_FIELDS,
        "/api/v1/schedules/" => SCHEDULE_FIELDS,
        "/api/v1/repositories/" => REPOSITORY_FIELDS,
        "/api/v1/policies/" => POLICY_FIELDS,
        _ => CATALOG_FIELDS,
    }
}

#[derive(Debug, Clone)]
enum Body {
    Json(Value),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone)]
enum Req {
    /// A write as the admin (POST/PATCH/PUT), or an anonymous token request.
    Write {
        method: Method,
        path: String,
        body: Body,
        anonymous: bool,
    },
    /// A list read with a query string (already encoded).
    List { path: String },
}

/// Ids that exist when the fuzzing starts, for references and PATCH/PUT targets.
#[derive(Debug, Clone)]
struct Targets {
    user: i64,
    client: i64,
    schedule: i64,
    repository: i64,
    policy: i64,
    refresh: String,
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ]
}

/// Arbitrary JSON, nested a few levels deep.
fn json_any() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Strings that reach the validators' interesting branches, plus noise.
fn string_value(t: &Targets) -> impl Strategy<Value = String> + use<> {
    let pool: Vec<String> = [
        "",
        " ",
        "web2.example.com",
        "web1.example.com",
        "10.0.0.1",
        "10.0.0.1, ::1",
        "1.2.3.999",
        "-bad-.example",
        "root",
        "backup-user",
        "0 3 * * *",
        "*/1 * * * * *",
        "0 5 * * MON *",
        "0 0 30 2 * *",
        "61 * * * *",
        "* * * * * * * *",
        "/srv/borg/fuzz",
        "borg@backup.example.com:/repo",
        "ssh://borg@backup.example.com:2222/repo",
        "relative/path",
        "rootfs",
        "vm",
        "folders",
        "piped",
        "mysql",
        "proxmox",
        "nope",
        "{\"folders\": [\"/etc\"], \"exclude\": [\"/etc/ssl\"]}",
        "{\"command\": \"cat /etc/hostname\"}",
        "{}",
        "[1]",
        "not json",
        "fuzz@example.com",
        "Admin@Test.Local",
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
        "long-enough-password",
        "short",
        "a\u{0}b",
        "ölga Été ß",
        "line\nbreak",
        "tab\there",
        "%",
        "_",
        "\\",
        "'; DROP TABLE clients; --",
        "$(reboot)",
        "😀",
    ]
    .into_iter()
    .map(String::from)
    .chain([t.refresh.clone(), "x".repeat(300), "é".repeat(256)])
    .collect();
    prop_oneof![
        4 => select(pool),
        2 => any::<String>(),
        1 => "[a-z0-9.-]{1,40}",
    ]
}

/// A value for a named field: mostly plausible types, sometimes anything at all.
fn field_value(t: &Targets) -> impl Strategy<Value = Value> + use<> {
    let ids = vec![
        t.client,
        t.schedule,
        t.repository,
        t.policy,
        t.user,
        0,
        -1,
        999_999,
    ];
    let big: Vec<Value> = vec![
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(2_147_483_648_i64),
        json!(-2_147_483_649_i64),
        json!(65_536),
        json!(1.5),
        json!(1e308),
        json!(-0.0),
    ];
    prop_oneof![
        2 => Just(Value::Null),
        2 => any::<bool>().prop_map(Value::from),
        3 => (-3_i64..100_000).prop_map(Value::from),
        2 => select(ids.clone()).prop_map(Value::from),
        1 => select(big),
        6 => string_value(t).prop_map(Value::from),
        2 => vec(prop_oneof![select(ids), any::<i64>()], 0..4)
            .prop_map(|v| Value::Array(v.into_iter().map(Value::from).collect())),
        1 => json_any(),
    ]
}

/// An object built from the resource's real field names (and a few others), random values.
fn field_object(
    fields: &'static [&'static str],
    t: &Targets,
) -> impl Strategy<Value = Value> + use<> {
    let names: Vec<&'static str> = fields.iter().chain(EXTRA_FIELDS).copied().collect();
    vec(
        (
            prop_oneof![9 => select(fields.to_vec()), 1 => select(names)],
            field_value(t),
        ),
        0..8,
    )
    .prop_map(|pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

/// A body the resource would accept, with a few of its fields replaced by random values, so
/// that each validator is reached with everything else valid.
fn mutated_valid(
    list: &'static str,
    fields: &'static [&'static str],
    t: &Targets,
) -> impl Strategy<Value = Value> + use<> {
    let t2 = t.clone();
    (
        any::<u32>(),
        vec((select(fields.to_vec()), field_value(t)), 0..3),
    )
        .prop_map(move |(n, changes)| {
            let mut v = match list {
                "/api/v1/users/" => {
                    json!({"email": format!("fz{n}@example.com"), "first_name": "Fz",
                                       "password": "long-enough-password"})
                }
                "/api/v1/clients/" => {
                    json!({"hostname": format!("fz{n}.example.com"), "port": 2222})
                }
                "/api/v1/schedules/" => json!({"name": format!("fz {n}"), "crontab": "0 3 * * *"}),
                "/api/v1/repositories/" => {
                    json!({"name": format!("fz {n}"), "path": format!("/srv/borg/fz{n}")})
                }
                "/api/v1/policies/" => json!({"name": format!("fz {n}"), "policy_type": "config",
                        "repository": t2.repository, "schedule": t2.schedule,
                        "clients": [t2.client], "keep_daily": 3}),
                _ => {
                    json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "refresh": t2.refresh})
                }
            };
            for (k, value) in changes {
                v[k] = value;
            }
            v
        })
}

fn body(
    list: &'static str,
    fields: &'static [&'static str],
    t: &Targets,
) -> impl Strategy<Value = Body> + use<> {
    prop_oneof![
        4 => mutated_valid(list, fields, t).prop_map(Body::Json),
        6 => field_object(fields, t).prop_map(Body::Json),
        2 => json_any().prop_map(Body::Json),
        1 => vec(any::<u8>(), 0..64).prop_map(Body::Bytes),
        // Valid JSON cut short.
        1 => (field_object(fields, t), any::<prop::sample::Index>()).prop_map(|(v, i)| {
            let text = v.to_string().into_bytes();
            let cut = i.index(text.len().max(1));
            Body::Bytes(text[..cut].to_vec())
        }),
    ]
}

fn query_value() -> impl Strategy<Value = String> {
    let pool: Vec<String> = [
        "",
        "1",
        "0",
        "-1",
        "2",
        "22",
        "1.5",
        "1e3",
        "abc",
        "true",
        "false",
        "True",
        "maybe",
        "yes",
        "null",
        "9223372036854775807",
        "9223372036854775808",
        "99999999999999999999999999",
        "-9223372036854775808",
        "2024-05-06",
        "2024-05-06T07:08:09Z",
        "2024-05-06T07:08:09+02:00",
        "2024-13-45",
        "%",
        "_",
        "%_%",
        "\\",
        "\0",
        "a\0b",
        "1,2,3",
        "1,,x",
        ",",
        "id",
        "-id",
        "name,-id",
        "--id",
        "-",
        "ö",
        "Été",
        "😀",
        " ",
        "web1",
        "/srv",
        "etc/",
    ]
    .into_iter()
    .map(String::from)
    .chain(["9".repeat(400), "x".repeat(5000), "1,".repeat(1200)])
    .collect();
    prop_oneof![4 => select(pool), 2 => any::<String>(), 1 => "[0-9,]{0,20}"]
}

fn query_key(list: &'static str) -> impl Strategy<Value = String> {
    let mut names: Vec<&'static str> = fields_of(list).to_vec();
    names.extend([
        "id",
        "created",
        "modified",
        "created_by",
        "uuid",
        "policies",
        "clients",
    ]);
    prop_oneof![
        6 => (select(names), select(LOOKUPS.to_vec())).prop_map(|(f, l)| format!("{f}{l}")),
        3 => select(vec!["page", "page_size", "order_by", "order", "search"]).prop_map(String::from),
        1 => any::<String>(),
    ]
}

/// A valid filter (every list has these fields) with a short value, for long query strings
/// that still fit in a URL: every one gets past the checks and into the SQL condition.
fn short_pair() -> impl Strategy<Value = (String, String)> {
    let valid = vec![
        ("id__gt", "1"),
        ("id__lte", "99"),
        ("id__in", "1,2,3"),
        ("id__isnull", "false"),
        ("search", "a"),
        ("search", "%"),
        ("order_by", "-id"),
        ("page_size", "5"),
    ];
    select(valid).prop_map(|(k, v)| (k.to_string(), v.to_string()))
}

/// Raw query-string fragments, sent as they are (no encoding by us).
fn raw_query() -> impl Strategy<Value = String> {
    let bits: Vec<&'static str> = vec![
        "%",
        "%%",
        "%ZZ",
        "%00",
        "%FF%FE",
        "&",
        "&&",
        "=",
        "==",
        "a=b=c",
        "page=",
        "page=%00",
        "page_size=%2B5",
        "search=%C3",
        "order_by=%2C",
        "id__in=%2C%2C",
        "+",
        "%2B",
        "?",
        "#frag",
        "hostname__icontains=%25",
        "search=%5C",
        ";",
        "page=1&page=2",
    ];
    vec(select(bits), 1..6).prop_map(|v| v.concat())
}

fn list_request() -> impl Strategy<Value = Req> {
    select(LISTS.to_vec()).prop_flat_map(|list| {
        prop_oneof![
            4 => prop_oneof![
                9 => vec((query_key(list), query_value()), 0..5),
                // Long query strings: every filter deepens the SQL condition.
                1 => vec(short_pair(), 90..1200),
            ].prop_map(move |pairs| {
                let mut url = reqwest::Url::parse("http://localhost").unwrap().join(list).unwrap();
                url.query_pairs_mut().extend_pairs(pairs);
                Req::List {
                    path: format!("{}?{}", url.path(), url.query().unwrap_or("")),
                }
            }),
            1 => raw_query().prop_map(move |q| Req::List {
                path: format!("{list}?{q}"),
            }),
        ]
    })
}

fn write_request(t: &Targets) -> impl Strategy<Value = Req> + use<> {
    let resources: Vec<(&'static str, &'static [&'static str], i64)> = vec![
        ("/api/v1/users/", USER_FIELDS, t.user),
        ("/api/v1/clients/", CLIENT_FIELDS, t.client),
        ("/api/v1/schedules/", SCHEDULE_FIELDS, t.schedule),
        ("/api/v1/repositories/", REPOSITORY_FIELDS, t.repository),
        ("/api/v1/policies/", POLICY_FIELDS, t.policy),
    ];
    let t = t.clone();
    let target_ids: Vec<String> = ["0", "-1", "abc", "999999", "99999999999"]
        .into_iter()
        .map(String::from)
        .collect();
    (
        select(resources),
        select(vec![Method::POST, Method::PATCH, Method::PUT]),
        prop_oneof![9 => Just(None), 1 => select(target_ids).prop_map(Some)],
    )
        .prop_flat_map(move |((list, fields, id), method, other_id)| {
            let path = if method == Method::POST {
                list.to_string()
            } else {
                format!("{list}{}/", other_id.unwrap_or_else(|| id.to_string()))
            };
            body(list, fields, &t).prop_map(move |body| Req::Write {
                method: method.clone(),
                path: path.clone(),
                body,
                anonymous: false,
            })
        })
}

fn token_request(t: &Targets) -> impl Strategy<Value = Req> + use<> {
    prop_oneof![
        (
            select(vec!["/api/token/obtain/", "/api/token/refresh/"]),
            body("token", &["email", "password", "refresh"], t)
        )
            .prop_map(|(path, body)| Req::Write {
                method: Method::POST,
                path: path.to_string(),
                body,
                anonymous: true,
            }),
    ]
}

fn request(t: &Targets) -> impl Strategy<Value = Req> + use<> {
    prop_oneof![
        11 => write_request(t),
        7 => list_request(),
        2 => token_request(t),
    ]
}

/// Every list as the admin, everything on one page.
async fn snapshot(s: &TestServer) -> Vec<Value> {
    let mut out = Vec::new();
    for list in LISTS {
        let (status, body) = s.get(&format!("{list}?page_size=10000")).await;
        assert_eq!(status, StatusCode::OK, "snapshot of {list}: {body}");
        out.push(body);
    }
    out
}

/// A 4xx body: `{"detail": "…"}` or `{"field": ["…", …], …}`.
fn is_error_body(v: &Value) -> bool {
    let Some(obj) = v.as_object() else {
        return false;
    };
    if obj.len() == 1
        && let Some(d) = obj.get("detail")
    {
        return d.as_str().is_some_and(|d| !d.is_empty());
    }
    !obj.is_empty()
        && obj.values().all(|m| {
            m.as_array().is_some_and(|m| {
                !m.is_empty() && m.iter().all(|x| x.as_str().is_some_and(|x| !x.is_empty()))
            })
        })
}

#[derive(Default)]
struct Stats {
    cases: u32,
    by_class: BTreeMap<String, u32>,
    /// Requests, successes and time spent, by method and endpoint.
    time_by_kind: BTreeMap<String, (u32, u32, Duration)>,
}

async fn send(s: &TestServer, req: &Req) -> (StatusCode, Value) {
    match req {
        Req::List { path } => s.get(path).await,
        Req::Write {
            method,
            path,
            body,
            anonymous,
        } => {
            let token = if *anonymous {
                None
            } else {
                Some(s.admin_token.as_str())
            };
            match body {
                Body::Json(v) => s.raw(method.clone(), path, token, Some(v.clone())).await,
                Body::Bytes(b) => s.raw_bytes(method.clone(), path, token, b.clone()).await,
            }
        }
    }
}

fn kind(req: &Req) -> String {
    match req {
        Req::List { path } => format!("GET {}", path.split('?').next().unwrap_or("")),
        Req::Write { method, path, .. } => {
            let base: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).take(3).collect();
            format!("{method} /{}", base.join("/"))
        }
    }
}

async fn check(
    s: &TestServer,
    req: &Req,
    snap: &mut Vec<Value>,
    stats: &mut Stats,
) -> Result<(), TestCaseError> {
    let started = Instant::now();
    let (status, body) = send(s, req).await;
    let took = started.elapsed();
    let k = kind(req);
    let entry = stats.time_by_kind.entry(k.clone()).or_default();
    entry.0 += 1;
    entry.1 += u32::from(status.is_success());
    entry.2 += took;
    stats.cases += 1;
    *stats
        .by_class
        .entry(format!("{}xx", status.as_u16() / 100))
        .or_default() += 1;

    prop_assert!(status.as_u16() < 500, "{req:?} answered {status}: {body}");
    let (ping, pong) = s.raw(Method::GET, "/api/v1/ping/", None, None).await;
    prop_assert!(
        ping == StatusCode::OK && pong["ping"] == "pong",
        "no ping after {req:?}: {ping} {pong}"
    );

    let read_only = match req {
        Req::List { .. } => true,
        Req::Write { anonymous, .. } => *anonymous,
    };
    let after = snapshot(s).await;
    if status.is_client_error() {
        prop_assert!(
            is_error_body(&body),
            "{req:?}: {status} with a body of the wrong shape: {body}"
        );
        for (i, list) in LISTS.iter().enumerate() {
            prop_assert_eq!(
                &after[i],
                &snap[i],
                "{:?} answered {} ({}) but changed {}",
                req,
                status,
                body,
                list
            );
        }
    } else {
        prop_assert!(status.is_success(), "{req:?}: unexpected {status}: {body}");
        match req {
            Req::List { .. } => {
                let ok = body["count"].is_u64()
                    && body["results"].is_array()
                    && (body["next"].is_null() || body["next"].is_string())
                    && (body["previous"].is_null() || body["previous"].is_string());
                prop_assert!(ok, "{req:?}: not a page: {body}");
            }
            Req::Write {
                path,
                anonymous: true,
                ..
            } => {
                prop_assert!(
                    body["access"].is_string() && body["refresh"].is_string(),
                    "{path}: {body}"
                );
            }
            Req::Write { method, path, .. } => {
                prop_assert!(
                    body["id"].is_i64() && body["url"].is_string(),
                    "{method} {path}: {body}"
                );
                if *method == Method::POST {
                    prop_assert_eq!(status, StatusCode::CREATED, "{} {}", method, path);
                }
                prop_assert!(
                    body.get("password").is_none() && body.get("password_hash").is_none(),
                    "{body}"
                );
            }
        }
        if read_only {
            for (i, list) in LISTS.iter().enumerate() {
                prop_assert_eq!(&after[i], &snap[i], "the read {:?} changed {}", req, list);
            }
        }
    }
    *snap = after;
    Ok(())
}

#[test]
fn random_requests_never_break_the_server() {
    let cases: u32 = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let s = rt.block_on(TestServer::start_api_only());
    let targets = rt.block_on(async {
        let fx = s.fixture().await;
        seed_archive(
            &s,
            fx.repository,
            "config-web1-2024-05-06_07-08",
            &[("etc/hosts", 10), ("etc/Été", 20)],
        )
        .await;
        let user = s
            .create(
                "/api/v1/users/",
                json!({"email": "target@example.com", "first_name": "Target"}),
            )
            .await;
        let (status, pair) = s
            .raw(
                Method::POST,
                "/api/token/obtain/",
                None,
                Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{pair}");
        Targets {
            user: user["id"].as_i64().unwrap(),
            client: fx.client,
            schedule: fx.schedule,
            repository: fx.repository,
            policy: fx.policy,
            refresh: pair["refresh"].as_str().unwrap().to_string(),
        }
    });
    let snap = RefCell::new(rt.block_on(snapshot(&s)));
    let stats = RefCell::new(Stats::default());
    let failures = Cell::new(0u32);
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let started = Instant::now();
    let result = runner.run(&request(&targets), |req| {
        let r = rt.block_on(check(
            &s,
            &req,
            &mut snap.borrow_mut(),
            &mut stats.borrow_mut(),
        ));
        if r.is_err() {
            failures.set(failures.get() + 1);
        }
        r
    });
    let elapsed = started.elapsed();
    let stats = stats.into_inner();
    println!(
        "fuzz on {}: {} requests ({} passing cases asked, {} failing while shrinking) in {:.1}s; statuses {:?}",
        backend(),
        stats.cases,
        cases,
        failures.get(),
        elapsed.as_secs_f64(),
        stats.by_class
    );
    for (k, (n, ok, d)) in &stats.time_by_kind {
        println!(
            "  {k:<32} {n:>5} requests, {ok:>4} 2xx, {:>6.1} ms average",
            d.as_secs_f64() * 1000.0 / f64::from(*n)
        );
    }
    // The data the fuzzing left must still list cleanly.
    let final_snap = rt.block_on(snapshot(&s));
    assert_eq!(final_snap.len(), LISTS.len());
    drop(s);
    drop(rt);
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(stats.cases >= cases, "every case ran");
    let two = stats.by_class.get("2xx").copied().unwrap_or(0);
    let four = stats.by_class.get("4xx").copied().unwrap_or(0);
    assert!(
        two > 0 && four > 0,
        "both successes and refusals were exercised: {:?}",
        stats.by_class
    );
}

fn one_field(name: &str, value: &Value) -> Value {
    let mut m = Map::new();
    m.insert(name.to_string(), value.clone());
    Value::Object(m)
}

/// The nastiest values, deterministically, in every field of every writable resource (POST with
/// an otherwise valid body, PATCH and PUT of an existing object), then in the token endpoints:
/// the same checks as the property test.
#[tokio::test]
async fn nasty_values_in_every_field_are_handled() {
    let s = TestServer::start_api_only().await;
    let fx = s.fixture().await;
    let user = s
        .create("/api/v1/users/", json!({"email": "target@example.com"}))
        .await;
    let nasty = [
        json!("a\u{0}b"),
        json!(""),
        json!("x".repeat(100_000)),
        json!("é".repeat(300)),
        json!("line\nbreak"),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(2_147_483_648_i64),
        json!(-1),
        json!(1e308),
        json!(null),
        json!([i64::MAX, -1]),
        json!({"a": {"b": [1]}}),
    ];
    let resources: [(&str, &[&str], i64, Value); 5] = [
        (
            "/api/v1/users/",
            USER_FIELDS,
            user["id"].as_i64().unwrap(),
            json!({"email": "nasty@example.com", "password": "long-enough-password"}),
        ),
        (
            "/api/v1/clients/",
            CLIENT_FIELDS,
            fx.client,
            json!({"hostname": "nasty.example.com"}),
        ),
        (
            "/api/v1/schedules/",
            SCHEDULE_FIELDS,
            fx.schedule,
            json!({"name": "Nasty", "crontab": "0 3 * * *"}),
        ),
        (
            "/api/v1/repositories/",
            REPOSITORY_FIELDS,
            fx.repository,
            json!({"name": "Nasty", "path": "/srv/nasty"}),
        ),
        (
            "/api/v1/policies/",
            POLICY_FIELDS,
            fx.policy,
            json!({"name": "Nasty", "policy_type": "config", "repository": fx.repository,
                "schedule": fx.schedule, "clients": [fx.client]}),
        ),
    ];
    let mut snap = snapshot(&s).await;
    let mut stats = Stats::default();
    for (list, fields, id, valid) in resources {
        for field in fields.iter().chain(["id"].iter()) {
            for (i, value) in nasty.iter().enumerate() {
                let mut body = valid.clone();
                body[*field] = value.clone();
                let mut reqs = vec![
                    (Method::POST, list.to_string(), body.clone()),
                    (
                        Method::PATCH,
                        format!("{list}{id}/"),
                        one_field(field, value),
                    ),
                ];
                if i < 2 {
                    reqs.push((Method::PUT, format!("{list}{id}/"), body));
                }
                for (method, path, body) in reqs {
                    let req = Req::Write {
                        method,
                        path,
                        body: Body::Json(body),
                        anonymous: false,
                    };
                    if let Err(e) = check(&s, &req, &mut snap, &mut stats).await {
                        panic!("{e}");
                    }
                }
            }
        }
    }
    for path in ["/api/token/obtain/", "/api/token/refresh/"] {
        for field in ["email", "password", "refresh"] {
            for value in &nasty {
                let mut body =
                    json!({"email": ADMIN_EMAIL, "password": "wrong-password", "refresh": "x"});
                body[field] = value.clone();
                let req = Req::Write {
                    method: Method::POST,
                    path: path.to_string(),
                    body: Body::Json(body),
                    anonymous: true,
                };
                if let Err(e) = check(&s, &req, &mut snap, &mut stats).await {
                    panic!("{e}");
                }
            }
        }
    }
    // Bodies that are not JSON objects at all, or too big, or too deep.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    let bodies: Vec<Vec<u8>> = vec![
        deep,
        vec![b' '; 3 * 1024 * 1024],
        format!("{{\"hostname\": \"{}\"}}", "a".repeat(2 * 1024 * 1024)).into_bytes(),
        b"\xff\xfe{}".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"\"text\"".to_vec(),
        b"{\"hostname\": \"a.example.com\",}".to_vec(),
        b"{\"hostname\": \"a.example.com\"} trailing".to_vec(),
        b"{\"port\": 1e999}".to_vec(),
        b"{\"port\": 99999999999999999999999}".to_vec(),
        b"{\"hostname\": \"\\ud800\"}".to_vec(),
    ];
    for (list, id) in [
        ("/api/v1/clients/", fx.client),
        ("/api/v1/policies/", fx.policy),
        ("/api/token/obtain/", 0),
    ] {
        for b in &bodies {
            let (method, path) = if id == 0 {
                (Method::POST, list.to_string())
            } else {
                (Method::PATCH, format!("{list}{id}/"))
            };
            let req = Req::Write {
                method,
                path,
                body: Body::Bytes(b.clone()),
                anonymous: id == 0,
            };
            if let Err(e) = check(&s, &req, &mut snap, &mut stats).await {
                panic!("{e}");
            }
        }
    }
    // Query strings with many parameters, on every list.
    for list in LISTS {
        for n in [100, 101, 1500] {
            let q: Vec<&str> = (0..n).map(|_| "id__gt=1").collect();
            let req = Req::List {
                path: format!("{list}?{}", q.join("&")),
            };
            if let Err(e) = check(&s, &req, &mut snap, &mut stats).await {
                panic!("{e}");
            }
        }
    }
    println!(
        "nasty values: {} requests, statuses {:?}",
        stats.cases, stats.by_class
    );
    for (k, (n, ok, d)) in &stats.time_by_kind {
        println!(
            "  {k:<32} {n:>5} requests, {ok:>4} 2xx, {:>6.1} ms average",
            d.as_secs_f64() * 1000.0 / f64::from(*n)
        );
    }
    assert!(stats.by_class.get("4xx").copied().unwrap_or(0) > 0);
}
