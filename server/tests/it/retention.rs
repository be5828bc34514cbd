//! Retention decided by the server per lineage (repository, policy, client): the keep rules
//! answer what `borg prune --dry-run --list` answers on the same archives, a prune deletes only
//! its own lineage's archives (never another client's whose name shares the prefix, never
//! another policy's), and `GET /api/v1/policies/{id}/retention/` shows what the next prune
//! deletes.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    process::Command,
    time::Duration,
};

use crate::common::{
    TestServer,
    borg::{PASSPHRASE, launch, server_key, wait_chain},
    sshd::{self, TestSshd},
};
use chrono::{DateTime, TimeDelta, Utc};
use cyborg_core::engine::retention::{self, Rules};
use proptest::{prelude::*, test_runner::TestRunner};
use serde_json::{Value, json};

/// One keep rule set, as borg's options and as the server's rules.
#[derive(Debug, Clone)]
struct RuleSet {
    within: Option<(u32, char)>,
    counts: [Option<u32>; 6],
}

const COUNT_OPTIONS: [&str; 6] = [
    "--keep-last",
    "--keep-hourly",
    "--keep-daily",
    "--keep-weekly",
    "--keep-monthly",
    "--keep-yearly",
];

impl RuleSet {
    fn rules(&self) -> Rules {
        let [last, hourly, daily, weekly, monthly, yearly] = self.counts;
        Rules {
            within_hours: self
                .within
                .map(|(n, u)| retention::parse_within(&format!("{n}{u}")).unwrap()),
            last,
            hourly,
            daily,
            weekly,
            monthly,
            yearly,
        }
    }

    fn borg_args(&self) -> Vec<String> {
        let mut a: Vec<String> = self
            .counts
            .iter()
            .zip(COUNT_OPTIONS)
            .filter_map(|(n, opt)| n.map(|n| format!("{opt}={n}")))
            .collect();
        if let Some((n, u)) = self.within {
            a.push(format!("--keep-within={n}{u}"));
        }
        a
    }
}

fn rule_sets() -> impl Strategy<Value = RuleSet> {
    let count = prop::option::weighted(0.4, 0u32..6);
    let within = prop::option::weighted(
        0.3,
        (
            1u32..40,
            prop::sample::select(vec!['H', 'd', 'w', 'm', 'y']),
        ),
    );
    (
        within,
        [
            count.clone(),
            count.clone(),
            count.clone(),
            count.clone(),
            count.clone(),
            count,
        ],
    )
        .prop_map(|(within, counts)| RuleSet { within, counts })
        .prop_filter("borg needs a rule", |r| r.rules().any())
}

/// Archive ages in whole seconds before now: clustered within hours, days, months or years,
/// distinct (borg and the server order equal times differently, which decides nothing real).
fn ages() -> impl Strategy<Value = Vec<i64>> {
    let scale = prop_oneof![
        Just(6 * 3600i64),
        Just(3 * 86400),
        Just(90 * 86400),
        Just(3 * 365 * 86400),
    ];
    scale
        .prop_flat_map(|s| prop::collection::btree_set(60..s, 3..24))
        .prop_map(|set| set.into_iter().collect())
}

fn borg(base: &Path) -> Command {
    let mut c = Command::new("borg");
    c.env("BORG_BASE_DIR", base)
        .env("TZ", "UTC")
        .env("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "yes")
        .env("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes");
    c
}

fn run_ok(c: &mut Command) -> String {
    let out = c.output().expect("running borg");
    assert!(out.status.success(), "{c:?}: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What `borg prune --dry-run --list` says of each archive: `Some("daily #2")` kept, `None`
/// pruned.
fn borg_prune_dry_run(
    base: &Path,
    repo: &Path,
    rules: &RuleSet,
) -> BTreeMap<String, Option<String>> {
    let out = run_ok(
        borg(base)
            .args(["prune", "--dry-run", "--list"])
            .args(rules.borg_args())
            .arg(repo),
    );
    let mut seen = BTreeMap::new();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("Would prune:") {
            let name = rest.split_whitespace().next().unwrap().to_string();
            seen.insert(name, None);
        } else if let Some(rest) = line.strip_prefix("Keeping archive (rule: ") {
            let (rule, rest) = rest.split_once("):").unwrap();
            let name = rest.split_whitespace().next().unwrap().to_string();
            seen.insert(name, Some(rule.to_string()));
        }
    }
    seen
}

fn server_decisions(
    names: &[String],
    times: &[DateTime<Utc>],
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> BTreeMap<String, Option<String>> {
    names
        .iter()
        .cloned()
        .zip(retention::decide(times, &rules.rules(), now))
        .map(|(n, k)| (n, k.map(|k| format!("{} #{}", k.borg_rule(), k.number))))
        .collect()
}

/// The property: for random archive times and random rules, the server keeps and deletes
/// exactly what borg 1.2's own prune would, with the same rule and number. A few archive sets
/// (each made with `borg create --timestamp`) times many rule sets each.
#[test]
fn keep_rules_answer_what_borg_prune_answers() {
    if crate::common::backend() != "sqlite" {
        eprintln!("the keep rules do not depend on the database: checked in the SQLite run");
        return;
    }
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 6,
        max_shrink_iters: 20,
        ..ProptestConfig::default()
    });
    let strategy = (ages(), prop::collection::vec(rule_sets(), 10));
    runner
        .run(&strategy, |(ages, rule_sets)| {
            let tmp = tempfile::tempdir().unwrap();
            let repo = tmp.path().join("repo");
            let base = tmp.path().join("base");
            let file = tmp.path().join("f");
            std::fs::write(&file, "x").unwrap();
            run_ok(borg(&base).args(["init", "--encryption=none"]).arg(&repo));
            let start = Utc::now();
            let mut names = Vec::new();
            let mut times = Vec::new();
            for (i, age) in ages.iter().enumerate() {
                let t = (start - TimeDelta::seconds(*age))
                    .with_timezone(&Utc)
                    .format("%Y-%m-%dT%H:%M:%S")
                    .to_string();
                let name = format!("a-{i:02}");
                run_ok(
                    borg(&base)
                        .args(["create", "--timestamp", &t])
                        .arg(format!("{}::{name}", repo.display()))
                        .arg(&file),
                );
                times.push(
                    chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S")
                        .unwrap()
                        .and_utc(),
                );
                names.push(name);
            }
            let mut compared = 0;
            for rules in &rule_sets {
                let before = Utc::now();
                let theirs = borg_prune_dry_run(&base, &repo, rules);
                let after = Utc::now();
                let ours = server_decisions(&names, &times, rules, before);
                // keep_within counts back from "now": an archive on the boundary while borg ran
                // decides nothing about the rules; such a rule set is skipped.
                if ours != server_decisions(&names, &times, rules, after) {
                    continue;
                }
                prop_assert_eq!(&ours, &theirs, "rules {:?}, times {:?}", rules, times);
                compared += 1;
            }
            // Boundary skips are rare: nearly every rule set must have been compared.
            prop_assert!(compared + 2 >= rule_sets.len(), "only {compared} compared");
            Ok(())
        })
        .unwrap();
}

/// Rules of only zeros: borg refuses to prune ("At least one … must be specified"), and the
/// server keeps everything (no prune) rather than reading `keep_daily=0` as "keep nothing".
#[test]
fn rules_of_only_zeros_prune_nothing_like_borg() {
    if crate::common::backend() != "sqlite" {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let base = tmp.path().join("base");
    run_ok(borg(&base).args(["init", "--encryption=none"]).arg(&repo));
    let zeros = RuleSet {
        within: None,
        counts: [Some(0); 6],
    };
    let out = borg(&base)
        .args(["prune", "--dry-run", "--list"])
        .args(zeros.borg_args())
        .arg(&repo)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert!(!zeros.rules().any());
}

/// A host-name prefix and a shared repository used to cost archives: pruning policy A on
/// `web1` with `borg prune --glob-archives 'folders-web1-*'` also deleted the archives of
/// client `web1-db` and of policy B on `web1`. Three policies, two clients, one repository:
/// A's prune deletes A's older archives and nothing else, in borg and in the catalog; the
/// preview shows beforehand exactly what a prune deletes.
#[tokio::test]
async fn a_prune_deletes_only_its_own_lineage() {
    if let Some(why) = sshd::unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let s = TestServer::spawn_process_with_hosts(&["web1", "web1-db"]).await;
    let sshd = TestSshd::start(&server_key(&s).await);
    let root = tempfile::tempdir().unwrap();
    let repo_path = root.path().join("repo");
    let src = root.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("data.txt"), "some data").unwrap();
    let client = |host: &str| {
        json!({"hostname": host, "port": sshd.port, "username": "root",
               "host_key": sshd.host_public_key()})
    };
    let web1 = s.create("/api/v1/clients/", client("web1")).await["id"].clone();
    let web1_db = s.create("/api/v1/clients/", client("web1-db")).await["id"].clone();
    let repository = s
        .create(
            "/api/v1/repositories/",
            json!({"name": "Shared", "path": repo_path.display().to_string(),
                   "repository_key": PASSPHRASE}),
        )
        .await["id"]
        .clone();
    let schedule = s
        .create(
            "/api/v1/schedules/",
            json!({"name": "New year", "crontab": "0 0 1 1 * *"}),
        )
        .await["id"]
        .clone();
    let policy = |name: &str, clients: Value, keep: Value| {
        let mut body = json!({
            "name": name, "policy_type": "folders", "repository": repository,
            "schedule": schedule, "clients": clients,
            "extra_vars": json!({"folders": [src.display().to_string()]}).to_string(),
        });
        for (k, v) in keep.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let a = s
        .create(
            "/api/v1/policies/",
            policy("A", json!([web1, web1_db]), json!({"keep_last": 1})),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let b = s
        .create("/api/v1/policies/", policy("B", json!([web1]), json!({})))
        .await["id"]
        .as_i64()
        .unwrap();
    let c = s
        .create(
            "/api/v1/policies/",
            policy("C", json!([web1_db]), json!({"keep_daily": 5})),
        )
        .await["id"]
        .as_i64()
        .unwrap();

    let mut made: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    let mut last_prunes = Vec::new();
    for p in [b, c, a, b, c, a] {
        for backup in launch(&s, p).await {
            let chain = wait_chain(&s, backup, Duration::from_secs(300)).await;
            assert!(
                chain.iter().all(|j| j["status"] == "successful"),
                "{chain:#?}"
            );
            made.entry(p)
                .or_default()
                .push(chain[0]["archive_name"].as_str().unwrap().to_string());
            if p == a {
                last_prunes.extend(
                    chain
                        .iter()
                        .filter(|j| j["job_type"] == "prune")
                        .map(|j| j["id"].as_i64().unwrap()),
                );
            }
        }
    }
    let listed = borg_list(&repo_path);
    // B and C keep everything they made; A keeps its newest archive of each client.
    for p in [b, c] {
        for name in &made[&p] {
            assert!(
                listed.contains(name),
                "{name} of policy {p} was deleted: {listed:?}"
            );
            assert!(catalogued(&s, name).await, "{name} lost its catalog");
        }
    }
    let a_made = &made[&a];
    assert_eq!(a_made.len(), 4);
    for (i, name) in a_made.iter().enumerate() {
        let newest = i >= 2;
        assert_eq!(listed.contains(name), newest, "{name}: {listed:?}");
        assert_eq!(catalogued(&s, name).await, newest, "catalog of {name}");
    }
    assert_eq!(listed.len(), 2 + 2 + 2, "{listed:?}");

    // Without auto_prune a third run of A leaves two archives per client; the preview says
    // the next prune deletes the older one of each. A prune of one client (a relaunch of its
    // last prune job) deletes exactly what the preview showed for that client.
    s.patch("/api/v1/settings/", json!({"auto_prune": false}))
        .await;
    for backup in launch(&s, a).await {
        let chain = wait_chain(&s, backup, Duration::from_secs(300)).await;
        assert!(chain.iter().all(|j| j["job_type"] != "prune"), "{chain:#?}");
    }
    let (st, preview) = s.get(&format!("/api/v1/policies/{a}/retention/")).await;
    assert_eq!(st.as_u16(), 200, "{preview}");
    assert_eq!(preview["prunes"], false, "{preview}");
    assert_eq!(preview["rules"], json!(["keep_last=1"]));
    let lineages = preview["lineages"].as_array().unwrap();
    assert_eq!(lineages.len(), 2, "{preview:#}");
    let mut to_delete: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for l in lineages {
        let arch = l["archives"].as_array().unwrap();
        assert_eq!(
            (l["kept"].as_u64(), l["deleted"].as_u64()),
            (Some(1), Some(1)),
            "{l:#}"
        );
        assert_eq!(arch[0]["keep"], true);
        assert_eq!(arch[0]["rule"], "last");
        assert_eq!(arch[0]["rule_number"], 1);
        assert_eq!(arch[1]["keep"], false);
        assert_eq!(arch[1]["rule"], Value::Null);
        to_delete.insert(
            l["client"]["id"].as_i64().unwrap(),
            [arch[1]["name"].as_str().unwrap().to_string()].into(),
        );
    }
    let before = borg_list(&repo_path);
    let prune = *last_prunes.last().unwrap();
    let (_, job) = s.get(&format!("/api/v1/jobs/{prune}/")).await;
    let pruned_client = job["client"].as_i64().unwrap();
    let (st, relaunched) = s
        .post(&format!("/api/v1/jobs/{prune}/relaunch/"), json!({}))
        .await;
    assert_eq!(st.as_u16(), 201, "{relaunched}");
    let done = crate::common::borg::wait_done(
        &s,
        relaunched["job"].as_i64().unwrap(),
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(done["status"], "successful", "{done}");
    let after = borg_list(&repo_path);
    let gone: BTreeSet<String> = before.difference(&after).cloned().collect();
    assert_eq!(gone, to_delete[&pruned_client]);
    drop(sshd);
}

fn borg_list(repo: &Path) -> BTreeSet<String> {
    let out = Command::new("borg")
        .args(["list", "--short"])
        .arg(repo)
        .env("BORG_PASSPHRASE", PASSPHRASE)
        .env("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

async fn catalogued(s: &TestServer, archive: &str) -> bool {
    let (st, body) = s
        .get(&crate::common::with_query(
            "/api/v1/catalogs/",
            &[("archive_name", archive), ("page_size", "1")],
        ))
        .await;
    assert_eq!(st.as_u16(), 200, "{body}");
    body["count"].as_u64().unwrap() > 0
}
