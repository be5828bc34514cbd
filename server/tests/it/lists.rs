//! The lists of every list endpoint: pagination and its links, ordering, filters with every
//! lookup, `search`, and 400 (never 500) for anything malformed.

use std::collections::BTreeSet;

use crate::common::{TestServer, seed_archive, with_query};
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Query pairs.
type Pairs<'a> = Vec<(&'a str, &'a str)>;

/// Every list endpoint.
const LISTS: &[&str] = &[
    "/api/v1/users/",
    "/api/v1/clients/",
    "/api/v1/schedules/",
    "/api/v1/repositories/",
    "/api/v1/policies/",
    "/api/v1/catalogs/",
];

fn results(v: &Value) -> &Vec<Value> {
    v["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {v}"))
}

fn ids(v: &Value) -> Vec<i64> {
    results(v)
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect()
}

fn strs(v: &Value, key: &str) -> Vec<String> {
    results(v)
        .iter()
        .map(|o| {
            o[key]
                .as_str()
                .unwrap_or_else(|| panic!("{key} in {o}"))
                .to_string()
        })
        .collect()
}

/// GETs a list, asserting 200 and the exact page shape.
async fn list(s: &TestServer, path: &str) -> Value {
    let (status, body) = s.get(path).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    let keys: BTreeSet<&str> = body
        .as_object()
        .unwrap_or_else(|| panic!("GET {path}: {body}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["count", "next", "previous", "results"]),
        "{path}"
    );
    assert!(body["count"].is_u64(), "{path}: {body}");
    body
}

/// GETs `path` with a query built from `pairs` (values percent-encoded).
async fn query(s: &TestServer, path: &str, pairs: &[(&str, &str)]) -> Value {
    list(s, &with_query(path, pairs)).await
}

/// Ids matched by `pairs`, as a sorted set.
async fn matched(s: &TestServer, path: &str, pairs: &[(&str, &str)]) -> BTreeSet<i64> {
    let body = query(s, path, pairs).await;
    let found: BTreeSet<i64> = ids(&body).into_iter().collect();
    assert_eq!(
        body["count"],
        found.len(),
        "{path} {pairs:?}: count vs results"
    );
    found
}

/// Asserts a 400 whose body names `key` with a list of messages.
async fn refused(s: &TestServer, path: &str, pairs: &[(&str, &str)], key: &str) {
    let url = with_query(path, pairs);
    let (status, body) = s.get(&url).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "GET {url}: {body}");
    let messages = body[key]
        .as_array()
        .unwrap_or_else(|| panic!("GET {url}: no '{key}' in {body}"));
    assert!(
        !messages.is_empty()
            && messages
                .iter()
                .all(|m| m.as_str().is_some_and(|m| !m.is_empty())),
        "GET {url}: {body}"
    );
}

/// The query pairs of a relative link, `page` apart, and its page number.
fn link_parts(link: &str) -> (String, Vec<(String, String)>, u64) {
    assert!(link.starts_with('/'), "links are relative: {link}");
    assert!(!link.contains("://"), "links are relative: {link}");
    let url = reqwest::Url::parse("http://localhost")
        .unwrap()
        .join(link)
        .unwrap();
    let mut page = None;
    let mut rest = Vec::new();
    for (k, v) in url.query_pairs() {
        if k == "page" {
            assert!(page.is_none(), "one page parameter in {link}");
            page = Some(v.parse().unwrap());
        } else {
            rest.push((k.into_owned(), v.into_owned()));
        }
    }
    (url.path().to_string(), rest, page.expect("page in link"))
}

/// Follows `next` from `first` to the end, checking every link; answers all results in order.
async fn walk(s: &TestServer, endpoint: &str, pairs: &[(&str, &str)]) -> Vec<Value> {
    let expected: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| *k != "page")
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut url = with_query(endpoint, pairs);
    let mut seen = Vec::new();
    let mut pages: Vec<Value> = Vec::new();
    let mut count = None;
    loop {
        let body = list(s, &url).await;
        let n = pages.len() as u64 + 1;
        match count {
            None => count = Some(body["count"].as_u64().unwrap()),
            Some(c) => assert_eq!(body["count"], c, "count changes between pages at {url}"),
        }
        match body["previous"].as_str() {
            None => assert_eq!(n, 1, "previous is null only on page 1: {url}"),
            Some(prev) => {
                assert!(n > 1, "page 1 has no previous: {url}");
                let (path, rest, p) = link_parts(prev);
                assert_eq!(path, endpoint);
                assert_eq!(rest, expected, "previous keeps the other parameters");
                assert_eq!(p, n - 1);
                let again = list(s, prev).await;
                assert_eq!(
                    again["results"],
                    pages[(n - 2) as usize]["results"],
                    "{prev}"
                );
            }
        }
        seen.extend(results(&body).iter().cloned());
        let next = body["next"].as_str().map(str::to_string);
        pages.push(body);
        match next {
            Some(next) => {
                let (path, rest, p) = link_parts(&next);
                assert_eq!(path, endpoint);
                assert_eq!(rest, expected, "next keeps the other parameters: {next}");
                assert_eq!(p, n + 1);
                url = next;
            }
            None => break,
        }
        assert!(pages.len() < 1000, "runaway pagination");
    }
    let count = count.unwrap();
    assert_eq!(
        seen.len() as u64,
        count,
        "{endpoint} {pairs:?}: every object once"
    );
    let unique: BTreeSet<i64> = seen.iter().map(|o| o["id"].as_i64().unwrap()).collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "{endpoint} {pairs:?}: no object twice"
    );
    if let Some(size) = pairs.iter().find(|(k, _)| *k == "page_size") {
        let size: usize = size.1.parse().unwrap();
        let full = pages.len().saturating_sub(1);
        assert!(pages[..full].iter().all(|p| results(p).len() == size));
        assert!((1..=size).contains(&results(pages.last().unwrap()).len()) || count == 0);
        assert_eq!(pages.len() as u64, count.div_ceil(size as u64).max(1));
    }
    seen
}

async fn client(s: &TestServer, body: Value) -> Value {
    s.create("/api/v1/clients/", body).await
}

/// `n` objects of every kind (users besides the admin), with a catalog of `n` files.
async fn seed_every_kind(s: &TestServer, n: usize) {
    let mut clients = Vec::new();
    for i in 0..n {
        s.create(
            "/api/v1/users/",
            json!({"email": format!("user{i}@example.com"), "first_name": format!("User{i}")}),
        )
        .await;
        let c = client(s, json!({"hostname": format!("host{i}.example.com")})).await;
        clients.push(c["id"].clone());
        s.create(
            "/api/v1/schedules/",
            json!({"name": format!("Schedule {i}"), "crontab": format!("{i} 3 * * * *")}),
        )
        .await;
        s.create(
            "/api/v1/repositories/",
            json!({"name": format!("Repo {i}"), "path": format!("/srv/borg/r{i}")}),
        )
        .await;
    }
    let (_, repos) = s.get("/api/v1/repositories/").await;
    let (_, scheds) = s.get("/api/v1/schedules/").await;
    let repo = results(&repos)[0]["id"].as_i64().unwrap();
    let sched = results(&scheds)[0]["id"].as_i64().unwrap();
    for (i, c) in clients.iter().enumerate() {
        s.create(
            "/api/v1/policies/",
            json!({"name": format!("Policy {i}"), "policy_type": "config", "repository": repo,
                   "schedule": sched, "clients": [c]}),
        )
        .await;
    }
    let files: Vec<String> = (0..n).map(|i| format!("etc/file{i}.conf")).collect();
    let files: Vec<(&str, i64)> = files.iter().map(|f| (f.as_str(), 10)).collect();
    seed_archive(s, repo, "config-host0-2024-05-06_07-08", &files).await;
}

#[tokio::test]
async fn every_list_pages_orders_and_refuses_bad_parameters() {
    let s = TestServer::start().await;
    seed_every_kind(&s, 7).await;
    for &endpoint in LISTS {
        let all = list(&s, endpoint).await;
        let expected = if endpoint == "/api/v1/users/" { 8 } else { 7 };
        assert_eq!(all["count"], expected, "{endpoint}");
        assert!(
            all["next"].is_null() && all["previous"].is_null(),
            "{endpoint}"
        );
        let all_ids = ids(&all);
        assert_eq!(all_ids.len(), expected, "{endpoint}");
        assert!(
            all_ids.windows(2).all(|w| w[0] > w[1]),
            "{endpoint}: default order is -id: {all_ids:?}"
        );
        for o in results(&all) {
            let id = o["id"].as_i64().unwrap();
            assert_eq!(o["url"], format!("{endpoint}{id}/"), "{endpoint}");
        }

        // Following next links with several page sizes sees every object exactly once.
        for size in ["1", "2", "3", "7", "100"] {
            let seen = walk(&s, endpoint, &[("page_size", size)]).await;
            let seen: Vec<i64> = seen.iter().map(|o| o["id"].as_i64().unwrap()).collect();
            assert_eq!(seen, all_ids, "{endpoint} page_size={size}");
        }
        let asc = walk(&s, endpoint, &[("order_by", "id"), ("page_size", "3")]).await;
        let asc: Vec<i64> = asc.iter().map(|o| o["id"].as_i64().unwrap()).collect();
        let mut sorted = all_ids.clone();
        sorted.sort();
        assert_eq!(asc, sorted, "{endpoint} order_by=id");
        let desc = query(&s, endpoint, &[("order", "-id")]).await;
        assert_eq!(ids(&desc), all_ids, "{endpoint} order=-id");

        // The last page exists, the one after it is a 404 with a detail.
        let last = query(&s, endpoint, &[("page", "3"), ("page_size", "3")]).await;
        assert_eq!(results(&last).len(), expected - 6, "{endpoint}");
        assert!(last["next"].is_null());
        for page in ["4", "1000", "18446744073709551615"] {
            let url = with_query(endpoint, &[("page", page), ("page_size", "3")]);
            let (status, body) = s.get(&url).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{url}: {body}");
            assert!(body["detail"].is_string(), "{url}: {body}");
        }
        let big = query(&s, endpoint, &[("page_size", "10000")]).await;
        assert_eq!(ids(&big), all_ids, "{endpoint} page_size=10000");

        // Malformed paging, ordering and filters: 400 under the parameter's name.
        for (k, v) in [
            ("page", "0"),
            ("page", "-1"),
            ("page", "abc"),
            ("page", "1.5"),
            ("page", "99999999999999999999999"),
            ("page_size", "0"),
            ("page_size", "-3"),
            ("page_size", "10001"),
            ("page_size", "x"),
            ("order_by", "nope"),
            ("order_by", "id,nope"),
            ("order", "-nope"),
            ("nope", "1"),
            ("id", "abc"),
            ("id", "99999999999999999999"),
            ("id__gt", "1.5"),
            ("id__in", "1,x"),
            ("id__bogus", "1"),
            ("id__icontains", "1"),
            ("id__isnull", "perhaps"),
            ("id", "1\u{0}"),
        ] {
            refused(&s, endpoint, &[(k, v)], k).await;
        }
        // Other parameters do not hide the bad one.
        refused(&s, endpoint, &[("page_size", "2"), ("zzz", "1")], "zzz").await;

        // Filters on the id, and a search that matches nothing.
        let (first, second) = (all_ids[0].to_string(), all_ids[1].to_string());
        let two = matched(&s, endpoint, &[("id__in", &format!("{first},{second}"))]).await;
        assert_eq!(two, BTreeSet::from([all_ids[0], all_ids[1]]), "{endpoint}");
        let one = matched(&s, endpoint, &[("id", &first)]).await;
        assert_eq!(one, BTreeSet::from([all_ids[0]]), "{endpoint}");
        let gt = matched(&s, endpoint, &[("id__gt", &second)]).await;
        assert_eq!(gt, BTreeSet::from([all_ids[0]]), "{endpoint}");
        let lte = matched(&s, endpoint, &[("id__lte", &second)]).await;
        assert_eq!(lte.len(), expected - 1, "{endpoint}");
        let none = matched(&s, endpoint, &[("search", "zz-no-such-thing-zz")]).await;
        assert!(none.is_empty(), "{endpoint}");
        let blank = matched(&s, endpoint, &[("search", "")]).await;
        assert_eq!(
            blank.len(),
            expected,
            "{endpoint}: an empty search is no filter"
        );
        let empty_page = query(
            &s,
            endpoint,
            &[("search", "zz-no-such-thing-zz"), ("page", "1")],
        )
        .await;
        assert_eq!(empty_page["count"], 0, "page 1 of an empty list is a 200");
        assert!(empty_page["next"].is_null() && empty_page["previous"].is_null());
    }
}

#[tokio::test]
async fn pagination_follows_next_links_to_the_end_and_keeps_other_parameters() {
    let s = TestServer::start().await;
    let mut made = Vec::new();
    for i in 0..23 {
        let c = client(
            &s,
            json!({"hostname": format!("node{:02}.example.com", (i * 7) % 23), "enabled": i % 3 != 0}),
        )
        .await;
        made.push(c);
    }
    let all = walk(&s, "/api/v1/clients/", &[("page_size", "5")]).await;
    assert_eq!(all.len(), 23);
    let mut expected: Vec<i64> = made.iter().map(|c| c["id"].as_i64().unwrap()).collect();
    expected.reverse();
    let seen: Vec<i64> = all.iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(seen, expected, "default order -id across pages");

    // Page 1 and the last page, explicitly.
    let first = query(&s, "/api/v1/clients/", &[("page_size", "5")]).await;
    assert_eq!(first["count"], 23);
    assert!(first["previous"].is_null());
    assert_eq!(first["next"], "/api/v1/clients/?page_size=5&page=2");
    let last = query(&s, "/api/v1/clients/", &[("page_size", "5"), ("page", "5")]).await;
    assert!(last["next"].is_null());
    assert_eq!(last["previous"], "/api/v1/clients/?page_size=5&page=4");
    assert_eq!(results(&last).len(), 3);

    // A filter and an order survive the links; the pages hold only matches, in order.
    let enabled = walk(
        &s,
        "/api/v1/clients/",
        &[
            ("enabled", "true"),
            ("order_by", "-hostname"),
            ("page_size", "4"),
        ],
    )
    .await;
    let want: Vec<&Value> = made.iter().filter(|c| c["enabled"] == true).collect();
    assert_eq!(enabled.len(), want.len());
    assert!(enabled.iter().all(|c| c["enabled"] == true));
    let names: Vec<&str> = enabled
        .iter()
        .map(|c| c["hostname"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(names, sorted);

    // Values that need escaping come back escaped in the links and still work.
    let odd = walk(
        &s,
        "/api/v1/clients/",
        &[("search", "node 1&x=%"), ("page_size", "1")],
    )
    .await;
    assert!(odd.is_empty());
    let odd = walk(
        &s,
        "/api/v1/clients/",
        &[
            ("hostname__icontains", ".EXAMPLE."),
            ("order", "hostname"),
            ("page_size", "6"),
        ],
    )
    .await;
    assert_eq!(odd.len(), 23);
    let p2 = query(
        &s,
        "/api/v1/clients/",
        &[("hostname__icontains", "a+b&c"), ("page_size", "1")],
    )
    .await;
    assert_eq!(p2["count"], 0);

    // page=1 in the request is replaced in the links, not repeated.
    let explicit = query(
        &s,
        "/api/v1/clients/",
        &[("page", "1"), ("page_size", "10")],
    )
    .await;
    assert_eq!(explicit["next"], "/api/v1/clients/?page_size=10&page=2");
    let middle = query(
        &s,
        "/api/v1/clients/",
        &[("page", "2"), ("page_size", "10")],
    )
    .await;
    assert_eq!(middle["previous"], "/api/v1/clients/?page_size=10&page=1");
    assert_eq!(middle["next"], "/api/v1/clients/?page_size=10&page=3");

    // Past the end: 404 with a detail.
    for page in ["6", "7", "100"] {
        let (status, body) = s
            .get(&with_query(
                "/api/v1/clients/",
                &[("page_size", "5"), ("page", page)],
            ))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "page {page}: {body}");
        assert!(body["detail"].is_string());
    }
}

#[tokio::test]
async fn default_page_size_is_100_and_10000_is_allowed() {
    let s = TestServer::start().await;
    for i in 0..101 {
        client(&s, json!({"hostname": format!("h{i}.example.com")})).await;
    }
    let first = list(&s, "/api/v1/clients/").await;
    assert_eq!(first["count"], 101);
    assert_eq!(results(&first).len(), 100, "default page size");
    assert_eq!(first["next"], "/api/v1/clients/?page=2");
    let second = list(&s, "/api/v1/clients/?page=2").await;
    assert_eq!(results(&second).len(), 1);
    assert_eq!(second["previous"], "/api/v1/clients/?page=1");
    assert!(second["next"].is_null());
    let all = list(&s, "/api/v1/clients/?page_size=10000").await;
    assert_eq!(results(&all).len(), 101);
    assert!(all["next"].is_null());
    refused(
        &s,
        "/api/v1/clients/",
        &[("page_size", "10001")],
        "page_size",
    )
    .await;
    let seen = walk(&s, "/api/v1/clients/", &[("page_size", "9")]).await;
    assert_eq!(seen.len(), 101);
}

#[tokio::test]
async fn ordering_by_fields_both_ways_with_aliases_and_lists() {
    let s = TestServer::start().await;
    let names = [
        "mike", "alpha", "zulu", "echo", "bravo", "kilo", "charlie", "delta",
    ];
    let mut made = Vec::new();
    for (i, n) in names.iter().enumerate() {
        made.push(
            client(
                &s,
                json!({"hostname": format!("{n}.example.com"), "enabled": i % 2 == 0}),
            )
            .await,
        );
    }
    let mut asc: Vec<String> = names.iter().map(|n| format!("{n}.example.com")).collect();
    asc.sort();
    let mut desc = asc.clone();
    desc.reverse();

    let got = query(&s, "/api/v1/clients/", &[("order_by", "hostname")]).await;
    assert_eq!(strs(&got, "hostname"), asc);
    let got = query(&s, "/api/v1/clients/", &[("order_by", "-hostname")]).await;
    assert_eq!(strs(&got, "hostname"), desc);
    let got = query(&s, "/api/v1/clients/", &[("order", "hostname")]).await;
    assert_eq!(strs(&got, "hostname"), asc, "order is an alias of order_by");
    let got = query(&s, "/api/v1/clients/", &[("order", "-hostname")]).await;
    assert_eq!(strs(&got, "hostname"), desc);
    let paged = walk(
        &s,
        "/api/v1/clients/",
        &[("order_by", "hostname"), ("page_size", "3")],
    )
    .await;
    let paged: Vec<&str> = paged
        .iter()
        .map(|c| c["hostname"].as_str().unwrap())
        .collect();
    assert_eq!(paged, asc, "the order holds across pages");

    // A comma list: disabled first, newest first within each group.
    let mut want: Vec<(bool, i64)> = made
        .iter()
        .map(|c| (c["enabled"].as_bool().unwrap(), c["id"].as_i64().unwrap()))
        .collect();
    want.sort_by_key(|(e, id)| (*e, -id));
    let want: Vec<i64> = want.into_iter().map(|(_, id)| id).collect();
    let got = query(&s, "/api/v1/clients/", &[("order_by", "enabled,-id")]).await;
    assert_eq!(ids(&got), want);
    let got = query(&s, "/api/v1/clients/", &[("order_by", " enabled , -id ")]).await;
    assert_eq!(ids(&got), want, "blanks around the items are ignored");

    // Enabled first, then by hostname.
    let mut want: Vec<(bool, String)> = made
        .iter()
        .map(|c| {
            (
                c["enabled"].as_bool().unwrap(),
                c["hostname"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    want.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let want: Vec<String> = want.into_iter().map(|(_, h)| h).collect();
    let got = query(&s, "/api/v1/clients/", &[("order_by", "-enabled,hostname")]).await;
    assert_eq!(strs(&got, "hostname"), want);

    // Equal values: the id breaks ties, so pages never overlap.
    let ties = walk(
        &s,
        "/api/v1/clients/",
        &[("order_by", "port"), ("page_size", "3")],
    )
    .await;
    let tie_ids: Vec<i64> = ties.iter().map(|c| c["id"].as_i64().unwrap()).collect();
    let mut sorted = tie_ids.clone();
    sorted.sort();
    assert_eq!(tie_ids, sorted, "all ports equal: ascending id");

    // Ordering on the other lists by a text field, both ways.
    for (endpoint, field, items) in [
        (
            "/api/v1/schedules/",
            "name",
            vec!["Weekly", "Daily", "Monthly", "Hourly"],
        ),
        (
            "/api/v1/repositories/",
            "name",
            vec!["Zeta", "Alpha", "Mid"],
        ),
        (
            "/api/v1/users/",
            "email",
            vec!["zed@x.org", "amy@x.org", "kim@x.org"],
        ),
    ] {
        for (i, item) in items.iter().enumerate() {
            let body = match endpoint {
                "/api/v1/schedules/" => json!({"name": item, "crontab": format!("{i} 1 * * *")}),
                "/api/v1/repositories/" => json!({"name": item, "path": format!("/srv/{i}")}),
                _ => json!({"email": item}),
            };
            s.create(endpoint, body).await;
        }
        let got = strs(&query(&s, endpoint, &[("order_by", field)]).await, field);
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(got, sorted, "{endpoint} order_by={field}");
        let got_desc = strs(
            &query(&s, endpoint, &[("order_by", &format!("-{field}"))]).await,
            field,
        );
        sorted.reverse();
        assert_eq!(got_desc, sorted, "{endpoint} order_by=-{field}");
    }
    let (_, sched) = s.get("/api/v1/schedules/").await;
    let repo = s
        .create(
            "/api/v1/repositories/",
            json!({"name": "R", "path": "/srv/r"}),
        )
        .await;
    for name in ["b-policy", "c-policy", "a-policy"] {
        s.create(
            "/api/v1/policies/",
            json!({"name": name, "policy_type": "config", "repository": repo["id"],
                   "schedule": results(&sched)[0]["id"]}),
        )
        .await;
    }
    let got = query(&s, "/api/v1/policies/", &[("order_by", "-name")]).await;
    assert_eq!(strs(&got, "name"), ["c-policy", "b-policy", "a-policy"]);

    // Unknown fields and fields reached through a join table cannot order.
    refused(&s, "/api/v1/clients/", &[("order_by", "nope")], "order_by").await;
    refused(
        &s,
        "/api/v1/clients/",
        &[("order_by", "hostname,-nope")],
        "order_by",
    )
    .await;
    refused(&s, "/api/v1/clients/", &[("order", "--hostname")], "order").await;
    refused(
        &s,
        "/api/v1/clients/",
        &[("order_by", "policies")],
        "order_by",
    )
    .await;
    refused(
        &s,
        "/api/v1/policies/",
        &[("order_by", "clients")],
        "order_by",
    )
    .await;
    refused(
        &s,
        "/api/v1/users/",
        &[("order_by", "password")],
        "order_by",
    )
    .await;
    refused(
        &s,
        "/api/v1/users/",
        &[("order_by", "password_hash")],
        "order_by",
    )
    .await;
}

/// Five clients that exercise every lookup.
async fn lookup_clients(s: &TestServer) -> [i64; 5] {
    let rows = [
        json!({"hostname": "alpha.example.com", "hypervisor_name": "ProxMox-1", "port": 22}),
        json!({"hostname": "beta.example.org", "hypervisor_name": "proxmox-2", "port": 2222,
               "bandwidth_limit": 100, "enabled": false}),
        json!({"hostname": "gamma.test.net", "hypervisor_name": "VMware", "port": 22022,
               "bandwidth_limit": 5000}),
        json!({"hostname": "delta.example.com", "hypervisor_name": "50%_off", "port": 23,
               "enabled": false}),
        json!({"hostname": "epsilon.local", "hypervisor_name": "50x xoff", "port": 22}),
    ];
    let mut out = [0; 5];
    for (i, r) in rows.into_iter().enumerate() {
        out[i] = client(s, r).await["id"].as_i64().unwrap();
    }
    out
}

#[tokio::test]
async fn filters_with_every_lookup_on_clients() {
    let s = TestServer::start().await;
    let [a, b, g, d, e] = lookup_clients(&s).await;
    let c = "/api/v1/clients/";
    let set = |v: &[i64]| v.iter().copied().collect::<BTreeSet<i64>>();
    let cases: Vec<(Pairs, BTreeSet<i64>)> = vec![
        (vec![("hostname", "alpha.example.com")], set(&[a])),
        (vec![("hostname", "ALPHA.example.com")], set(&[])),
        (vec![("hostname__iexact", "ALPHA.example.com")], set(&[a])),
        (vec![("hostname__icontains", "EXAMPLE")], set(&[a, b, d])),
        (vec![("hostname__contains", "example")], set(&[a, b, d])),
        (vec![("hostname__startswith", "de")], set(&[d])),
        (vec![("hostname__istartswith", "DE")], set(&[d])),
        (vec![("hostname__endswith", ".com")], set(&[a, d])),
        (vec![("hostname__iendswith", ".COM")], set(&[a, d])),
        (
            vec![("hostname__in", "alpha.example.com,gamma.test.net,nope")],
            set(&[a, g]),
        ),
        (vec![("hostname__in", "")], set(&[])),
        // Case-sensitive on both databases (SQLite's LIKE would not be).
        (vec![("hypervisor_name__contains", "Prox")], set(&[a])),
        (vec![("hypervisor_name__contains", "prox")], set(&[b])),
        (vec![("hypervisor_name__startswith", "prox")], set(&[b])),
        (vec![("hypervisor_name__startswith", "Prox")], set(&[a])),
        (vec![("hypervisor_name__endswith", "ware")], set(&[g])),
        (vec![("hypervisor_name__endswith", "WARE")], set(&[])),
        (vec![("hypervisor_name__icontains", "PROX")], set(&[a, b])),
        (vec![("hypervisor_name__iexact", "vmware")], set(&[g])),
        // LIKE wildcards in values are literal characters.
        (vec![("hypervisor_name__icontains", "%")], set(&[d])),
        (vec![("hypervisor_name__icontains", "_")], set(&[d])),
        (vec![("hypervisor_name__icontains", "50%")], set(&[d])),
        (vec![("hypervisor_name__contains", "%_")], set(&[d])),
        (vec![("hypervisor_name__istartswith", "50%")], set(&[d])),
        (vec![("hypervisor_name__startswith", "50%")], set(&[d])),
        (vec![("hypervisor_name__iendswith", "_OFF")], set(&[d])),
        (vec![("hypervisor_name__endswith", "_off")], set(&[d])),
        (vec![("hypervisor_name", "50%_off")], set(&[d])),
        (vec![("hypervisor_name", "50%")], set(&[])),
        (vec![("hypervisor_name__icontains", "\\")], set(&[])),
        (vec![("search", "%")], set(&[d])),
        (vec![("search", "_")], set(&[d])),
        // Integers.
        (vec![("port", "22")], set(&[a, e])),
        (vec![("port", " 22")], set(&[a, e])),
        (vec![("port__gt", "22")], set(&[b, g, d])),
        (vec![("port__gte", "2222")], set(&[b, g])),
        (vec![("port__lt", "23")], set(&[a, e])),
        (vec![("port__lte", "23")], set(&[a, d, e])),
        (vec![("port__lt", "-5")], set(&[])),
        (vec![("port__in", "23,2222")], set(&[b, d])),
        (vec![("port", "9999999999")], set(&[])),
        (vec![("port__lt", "9999999999")], set(&[a, b, g, d, e])),
        (vec![("bandwidth_limit", "100")], set(&[b])),
        (vec![("bandwidth_limit__gte", "100")], set(&[b, g])),
        (vec![("bandwidth_limit__isnull", "true")], set(&[a, d, e])),
        (vec![("bandwidth_limit__isnull", "false")], set(&[b, g])),
        (vec![("bandwidth_limit__isnull", "False")], set(&[b, g])),
        (vec![("port__isnull", "true")], set(&[])),
        // Booleans.
        (vec![("enabled", "false")], set(&[b, d])),
        (vec![("enabled", "0")], set(&[b, d])),
        (vec![("enabled", "True")], set(&[a, g, e])),
        (vec![("enabled__in", "false")], set(&[b, d])),
        (vec![("ready", "true")], set(&[])),
        // Search over the text fields, case-insensitively.
        (vec![("search", "EXAMPLE")], set(&[a, b, d])),
        (vec![("search", "vmWARE")], set(&[g])),
        (vec![("search", "  ")], set(&[a, b, g, d, e])),
        // Combined filters AND together.
        (
            vec![("enabled", "true"), ("hostname__endswith", ".com")],
            set(&[a]),
        ),
        (vec![("enabled", "false"), ("port__gt", "100")], set(&[b])),
        (vec![("search", "example"), ("port", "22")], set(&[a])),
        (
            vec![("hostname__icontains", "a"), ("hostname__icontains", "l")],
            set(&[a, b, d, e]),
        ),
        (
            vec![("port__gte", "23"), ("port__lte", "2222")],
            set(&[b, d]),
        ),
    ];
    for (pairs, want) in cases {
        assert_eq!(matched(&s, c, &pairs).await, want, "{pairs:?}");
    }

    // The policies a client is in, and the `related.policies` link of a client.
    let repo = s
        .create("/api/v1/repositories/", json!({"name": "R", "path": "/r"}))
        .await;
    let sched = s
        .create(
            "/api/v1/schedules/",
            json!({"name": "S", "crontab": "0 1 * * *"}),
        )
        .await;
    let p = s
        .create(
            "/api/v1/policies/",
            json!({"name": "P", "policy_type": "rootfs", "repository": repo["id"],
                   "schedule": sched["id"], "clients": [a, g]}),
        )
        .await;
    let pid = p["id"].as_i64().unwrap().to_string();
    assert_eq!(matched(&s, c, &[("policies", &pid)]).await, set(&[a, g]));
    assert_eq!(matched(&s, c, &[("policies", "999999")]).await, set(&[]));
    let (_, alpha) = s.get(&format!("/api/v1/clients/{a}/")).await;
    let related = alpha["related"]["policies"].as_str().unwrap().to_string();
    let via_link = list(&s, &related).await;
    assert_eq!(ids(&via_link), vec![p["id"].as_i64().unwrap()]);

    // Malformed values, unknown fields and lookups: 400 under the parameter's name.
    for (k, v) in [
        ("port", "abc"),
        ("port", ""),
        ("port__gt", "1.5"),
        ("port__lte", "1e3"),
        ("port", "99999999999999999999"),
        ("port__in", "22,x"),
        ("enabled", "maybe"),
        ("enabled", ""),
        ("enabled__gt", "true"),
        ("enabled__icontains", "t"),
        ("port__startswith", "2"),
        ("created", "yesterday"),
        ("created__gte", "2024-13-01"),
        ("created__lt", "2024-01-01T25:00:00Z"),
        ("created__contains", "2024"),
        ("bandwidth_limit__isnull", "perhaps"),
        ("hostname__isnull", ""),
        ("nosuch", "1"),
        ("hostname__bogus", "x"),
        ("hostname__", "x"),
        ("__in", "x"),
        ("hostname__icontains__x", "x"),
        ("password", "x"),
        ("policies", "abc"),
        ("policies__gt", "1"),
        ("policies__icontains", "1"),
        ("hostname", "a\u{0}b"),
    ] {
        refused(&s, c, &[(k, v)], k).await;
    }
    let long = "x".repeat(5000);
    refused(
        &s,
        c,
        &[("hostname__icontains", &long)],
        "hostname__icontains",
    )
    .await;
    refused(&s, c, &[("search", &long)], "search").await;
    let many: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    refused(&s, c, &[("id__in", &many.join(","))], "id__in").await;
}

#[tokio::test]
async fn datetime_filters_compare_instants() {
    let s = TestServer::start().await;
    let mut made = Vec::new();
    for i in 0..5 {
        made.push(client(&s, json!({"hostname": format!("t{i}.example.com")})).await);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let times: Vec<(i64, DateTime<Utc>, String)> = made
        .iter()
        .map(|c| {
            let raw = c["created"].as_str().unwrap().to_string();
            (
                c["id"].as_i64().unwrap(),
                DateTime::parse_from_rfc3339(&raw).unwrap().to_utc(),
                raw,
            )
        })
        .collect();
    let pick = |f: &dyn Fn(&DateTime<Utc>) -> bool| -> BTreeSet<i64> {
        times
            .iter()
            .filter(|(_, t, _)| f(t))
            .map(|(id, _, _)| *id)
            .collect()
    };
    let c = "/api/v1/clients/";
    let (_, mid, raw) = times[2].clone();
    assert_eq!(
        matched(&s, c, &[("created__gt", &raw)]).await,
        pick(&|t| *t > mid)
    );
    assert_eq!(
        matched(&s, c, &[("created__gte", &raw)]).await,
        pick(&|t| *t >= mid)
    );
    assert_eq!(
        matched(&s, c, &[("created__lt", &raw)]).await,
        pick(&|t| *t < mid)
    );
    assert_eq!(
        matched(&s, c, &[("created__lte", &raw)]).await,
        pick(&|t| *t <= mid)
    );
    assert_eq!(
        matched(&s, c, &[("created", &raw)]).await,
        BTreeSet::from([times[2].0])
    );
    assert_eq!(
        pick(&|t| *t > mid).len(),
        2,
        "the clients were made in order"
    );

    // The same instant written with another offset, and with an explicit +00:00.
    let plus2 = mid
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap())
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
    assert!(plus2.contains("+02:00"), "{plus2}");
    assert_eq!(
        matched(&s, c, &[("created__gt", &plus2)]).await,
        pick(&|t| *t > mid)
    );
    assert_eq!(
        matched(&s, c, &[("created", &plus2)]).await,
        BTreeSet::from([times[2].0])
    );
    let utc = mid.to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
    assert_eq!(
        matched(&s, c, &[("created__lte", &utc)]).await,
        pick(&|t| *t <= mid)
    );
    let between = [
        ("created__gt", times[0].2.as_str()),
        ("created__lt", times[4].2.as_str()),
    ];
    assert_eq!(
        matched(&s, c, &between).await,
        BTreeSet::from([times[1].0, times[2].0, times[3].0])
    );

    // Whole dates.
    let all: BTreeSet<i64> = times.iter().map(|t| t.0).collect();
    assert_eq!(matched(&s, c, &[("created__gte", "2000-01-01")]).await, all);
    assert_eq!(
        matched(&s, c, &[("created__lt", "2000-01-01")]).await,
        BTreeSet::new()
    );
    assert_eq!(
        matched(&s, c, &[("modified__gt", "2000-01-01T00:00:00Z")]).await,
        all
    );
    let tomorrow = (Utc::now() + chrono::Duration::days(2))
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(matched(&s, c, &[("created__lt", &tomorrow)]).await, all);
    assert_eq!(
        matched(&s, c, &[("created__gt", &tomorrow)]).await,
        BTreeSet::new()
    );
    assert_eq!(matched(&s, c, &[("created__isnull", "false")]).await, all);

    // Ordering by a datetime follows the instants.
    let got = query(&s, c, &[("order_by", "-created")]).await;
    let mut want: Vec<i64> = times.iter().map(|t| t.0).collect();
    want.reverse();
    assert_eq!(ids(&got), want);
}

#[tokio::test]
async fn policy_filters_by_clients_repository_and_schedule() {
    let s = TestServer::start().await;
    let r1 = s
        .create(
            "/api/v1/repositories/",
            json!({"name": "R1", "path": "/r1"}),
        )
        .await["id"]
        .clone();
    let r2 = s
        .create(
            "/api/v1/repositories/",
            json!({"name": "R2", "path": "/r2"}),
        )
        .await["id"]
        .clone();
    let s1 = s
        .create(
            "/api/v1/schedules/",
            json!({"name": "S1", "crontab": "0 1 * * *"}),
        )
        .await["id"]
        .clone();
    let s2 = s
        .create(
            "/api/v1/schedules/",
            json!({"name": "S2", "crontab": "0 2 * * *"}),
        )
        .await["id"]
        .clone();
    let c1 = client(&s, json!({"hostname": "c1.example.com"})).await["id"].clone();
    let c2 = client(&s, json!({"hostname": "c2.example.com"})).await["id"].clone();
    let c3 = client(&s, json!({"hostname": "c3.example.com"})).await["id"].clone();
    let mk = |name: &str, r: &Value, sc: &Value, cl: Value, extra: Value| {
        let mut body = json!({"name": name, "policy_type": "config", "repository": r,
                              "schedule": sc, "clients": cl});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let p1 = s
        .create(
            "/api/v1/policies/",
            mk("Etc web", &r1, &s1, json!([c1]), json!({"keep_daily": 7})),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let p2 = s
        .create(
            "/api/v1/policies/",
            mk(
                "Mail",
                &r1,
                &s2,
                json!([c1, c2]),
                json!({"policy_type": "mail", "enabled": false}),
            ),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let p3 = s
        .create(
            "/api/v1/policies/",
            mk("Etc db", &r2, &s2, json!([]), json!({"keep_daily": 3})),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let p = "/api/v1/policies/";
    let set = |v: &[i64]| v.iter().copied().collect::<BTreeSet<i64>>();
    let (c1, c2, c3) = (c1.to_string(), c2.to_string(), c3.to_string());
    let (r1, r2, s1, s2) = (
        r1.to_string(),
        r2.to_string(),
        s1.to_string(),
        s2.to_string(),
    );
    let both = format!("{c2},{c3}");
    let repos = format!("{r1},{r2}");
    let cases: Vec<(Pairs, BTreeSet<i64>)> = vec![
        (vec![("clients", &c1)], set(&[p1, p2])),
        (vec![("clients", &c2)], set(&[p2])),
        (vec![("clients", &c3)], set(&[])),
        (vec![("clients__in", &both)], set(&[p2])),
        (vec![("clients", "999999")], set(&[])),
        (vec![("repository", &r1)], set(&[p1, p2])),
        (vec![("repository", &r2)], set(&[p3])),
        (vec![("schedule", &s2)], set(&[p2, p3])),
        (vec![("schedule", &s1)], set(&[p1])),
        (vec![("repository", &r1), ("schedule", &s2)], set(&[p2])),
        (vec![("clients", &c1), ("repository", &r2)], set(&[])),
        (vec![("clients", &c1), ("enabled", "true")], set(&[p1])),
        (vec![("repository__in", &repos)], set(&[p1, p2, p3])),
        (vec![("policy_type", "mail")], set(&[p2])),
        (vec![("keep_daily__isnull", "true")], set(&[p2])),
        (vec![("keep_daily__gte", "5")], set(&[p1])),
        (vec![("keep_weekly__isnull", "false")], set(&[])),
        (vec![("name__istartswith", "etc")], set(&[p1, p3])),
        (vec![("search", "ETC")], set(&[p1, p3])),
        (vec![("search", "mail")], set(&[p2])),
        (vec![("next_run__isnull", "true")], set(&[p2])),
        (vec![("next_run__gt", "2000-01-01")], set(&[p1, p3])),
    ];
    for (pairs, want) in cases {
        assert_eq!(matched(&s, p, &pairs).await, want, "{pairs:?}");
    }
    // Each result carries exactly the clients it was given.
    let got = query(&s, p, &[("clients", &c1), ("order_by", "id")]).await;
    let (id1, id2): (i64, i64) = (c1.parse().unwrap(), c2.parse().unwrap());
    assert_eq!(results(&got)[1]["clients"], json!([id1, id2]));
    for (k, v) in [
        ("clients", "abc"),
        ("clients", ""),
        ("clients__in", "1,x"),
        ("clients__gt", "1"),
        ("clients__isnull", "true"),
        ("repository", "x"),
        ("schedule__gte", "soon"),
        ("keep_daily__isnull", "maybe"),
        ("next_run__lt", "tomorrow"),
        ("repository__name", "R1"),
    ] {
        refused(&s, p, &[(k, v)], k).await;
    }
}

#[tokio::test]
async fn filters_on_users_schedules_and_repositories() {
    let s = TestServer::start().await;
    let u = "/api/v1/users/";
    let ada = s
        .create(
            u,
            json!({"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let bob = s
        .create(
            u,
            json!({"email": "bob@sample.org", "first_name": "adam", "last_name": "Smith"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let (_, me) = s.get("/api/v1/me/").await;
    let admin = results(&me)[0]["id"].as_i64().unwrap();
    let set = |v: &[i64]| v.iter().copied().collect::<BTreeSet<i64>>();
    for (pairs, want) in [
        (vec![("first_name__contains", "Ada")], set(&[ada])),
        (vec![("first_name__contains", "ada")], set(&[bob])),
        (vec![("first_name__icontains", "ADA")], set(&[ada, bob])),
        (vec![("first_name", "Ada")], set(&[ada])),
        (vec![("email__endswith", "@sample.org")], set(&[bob])),
        (vec![("email__istartswith", "ADA@")], set(&[ada])),
        (vec![("is_superuser", "true")], set(&[admin])),
        (vec![("is_superuser", "false")], set(&[ada, bob])),
        (vec![("search", "lovelace")], set(&[ada])),
        (vec![("search", "SAMPLE")], set(&[bob])),
        (vec![("search", "ada")], set(&[ada, bob])),
        (vec![("created_by", &admin.to_string())], set(&[ada, bob])),
        (vec![("created_by__isnull", "true")], set(&[admin])),
    ] {
        assert_eq!(matched(&s, u, &pairs).await, want, "{pairs:?}");
    }
    let olga = s
        .create(
            u,
            json!({"email": "olga@example.com", "first_name": "Ölga", "last_name": "ÉCOLE"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    for (pairs, want) in [
        (vec![("first_name__icontains", "ölga")], set(&[olga])),
        (vec![("last_name__iexact", "école")], set(&[olga])),
        (vec![("search", "école")], set(&[olga])),
        (vec![("first_name__contains", "Ölg")], set(&[olga])),
        (vec![("first_name__contains", "ölg")], set(&[])),
        (vec![("first_name__startswith", "Öl")], set(&[olga])),
        (vec![("last_name__endswith", "OLE")], set(&[olga])),
    ] {
        assert_eq!(matched(&s, u, &pairs).await, want, "{pairs:?}");
    }
    refused(&s, u, &[("password", "x")], "password").await;
    refused(
        &s,
        u,
        &[("password_hash__startswith", "$argon")],
        "password_hash__startswith",
    )
    .await;
    refused(&s, u, &[("is_superuser", "admin")], "is_superuser").await;

    let sc = "/api/v1/schedules/";
    let nightly = s
        .create(sc, json!({"name": "Nightly", "crontab": "0 3 * * * *"}))
        .await["id"]
        .as_i64()
        .unwrap();
    let weekly = s
        .create(
            sc,
            json!({"name": "Weekly Mon", "crontab": "0 5 * * MON *", "enabled": false}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    for (pairs, want) in [
        (vec![("enabled", "false")], set(&[weekly])),
        (vec![("crontab__contains", "MON")], set(&[weekly])),
        (vec![("crontab__contains", "mon")], set(&[])),
        (vec![("crontab__icontains", "mon")], set(&[weekly])),
        (vec![("crontab__startswith", "0 3 ")], set(&[nightly])),
        (
            vec![("name__in", "Nightly,Weekly Mon")],
            set(&[nightly, weekly]),
        ),
        (vec![("search", "night")], set(&[nightly])),
        (vec![("search", "* MON")], set(&[weekly])),
    ] {
        assert_eq!(matched(&s, sc, &pairs).await, want, "{pairs:?}");
    }
    // Comparisons on text compare strings; they are allowed.
    assert_eq!(
        matched(&s, sc, &[("crontab__gt", "0 4")]).await,
        set(&[weekly])
    );

    let rp = "/api/v1/repositories/";
    let local = s
        .create(
            rp,
            json!({"name": "Local", "path": "/srv/borg/local", "repository_key": "k1-key"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let remote = s
        .create(
            rp,
            json!({"name": "Remote", "path": "borg@backup.example.com:/repo", "enabled": false}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    for (pairs, want) in [
        (vec![("path__startswith", "/srv")], set(&[local])),
        (vec![("path__icontains", "EXAMPLE.COM")], set(&[remote])),
        (vec![("enabled", "true")], set(&[local])),
        (vec![("original_size__gte", "0")], set(&[local, remote])),
        (vec![("original_size__gt", "0")], set(&[])),
        (vec![("search", "backup.example")], set(&[remote])),
        (vec![("name__iexact", "LOCAL")], set(&[local])),
    ] {
        assert_eq!(matched(&s, rp, &pairs).await, want, "{pairs:?}");
    }
    // The passphrase is neither searchable nor filterable.
    assert!(matched(&s, rp, &[("search", "k1")]).await.is_empty());
    refused(&s, rp, &[("repository_key", "k1")], "repository_key").await;
}

#[tokio::test]
async fn long_query_strings_are_refused_without_harm() {
    let s = TestServer::start().await;
    client(&s, json!({"hostname": "only.example.com"})).await;
    for &endpoint in LISTS {
        // A hundred filters are fine.
        let q: Vec<String> = (0..100).map(|i| format!("id__gt={}", -i)).collect();
        let (status, body) = s.get(&format!("{endpoint}?{}", q.join("&"))).await;
        assert_eq!(status, StatusCode::OK, "{endpoint}: {body}");
        // Far more used to overflow the server's stack (the whole process died): now a 400.
        for n in [101, 1500, 4000] {
            let q: Vec<&str> = (0..n).map(|_| "id__gt=1").collect();
            let (status, body) = s.get(&format!("{endpoint}?{}", q.join("&"))).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{endpoint} with {n} filters: {body}"
            );
            assert!(body["detail"].is_string(), "{body}");
            let q: Vec<&str> = (0..n).map(|_| "search=a").collect();
            let (status, _) = s.get(&format!("{endpoint}?{}", q.join("&"))).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{endpoint} with {n} searches"
            );
        }
        let (status, pong) = s
            .raw(reqwest::Method::GET, "/api/v1/ping/", None, None)
            .await;
        assert_eq!(status, StatusCode::OK, "the server is still up: {pong}");
    }
    let (_, all) = s.get("/api/v1/clients/").await;
    assert_eq!(all["count"], 1);
}
