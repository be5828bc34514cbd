//! Schedules over the API: crontab validation, next_run recomputation, calendars and the preview.

use crate::common::TestServer;
use chrono::{DateTime, Datelike, Duration, DurationRound, NaiveDate, Timelike, Utc, Weekday};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn time(v: &Value) -> DateTime<Utc> {
    let s = v.as_str().unwrap_or_else(|| panic!("not a datetime: {v}"));
    assert!(s.ends_with('Z'), "{s} is not UTC with Z");
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The next Monday 05:00 UTC strictly after `t`, found minute by minute (independent of the server).
fn next_monday_0500(t: DateTime<Utc>) -> DateTime<Utc> {
    let mut m = t.duration_trunc(Duration::minutes(1)).unwrap() + Duration::minutes(1);
    while !(m.weekday() == Weekday::Mon && m.hour() == 5 && m.minute() == 0) {
        m += Duration::minutes(1);
    }
    m
}

async fn schedule(s: &TestServer, name: &str, crontab: &str) -> i64 {
    s.create(
        "/api/v1/schedules/",
        json!({"name": name, "crontab": crontab}),
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

async fn policy(s: &TestServer, name: &str, schedule: i64, repository: i64) -> Value {
    s.create(
        "/api/v1/policies/",
        json!({"name": name, "policy_type": "config", "schedule": schedule, "repository": repository}),
    )
    .await
}

async fn repository(s: &TestServer) -> i64 {
    s.create(
        "/api/v1/repositories/",
        json!({"name": "R", "path": "/srv/r"}),
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn bad_crontabs_are_refused_with_the_field_and_reason() {
    let s = TestServer::start().await;
    for (crontab, needle) in [
        ("not a crontab", "expected 5 or 6 fields"),
        ("61 * * * * *", "minute"),
        ("* 24 * * * *", "hour"),
        ("* * * * FOO *", "day-of-week"),
        ("* * * 13 * *", "month"),
        ("0 0 30 2 * *", "never fires"),
        ("0 0 1 1 * 2020", "never fires"),
        ("*/0 * * * * *", "minute"),
        ("", "blank"),
    ] {
        let (status, body) = s
            .post(
                "/api/v1/schedules/",
                json!({"name": "x", "crontab": crontab}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{crontab:?}: {body}");
        let msg = body["crontab"][0]
            .as_str()
            .unwrap_or_else(|| panic!("{crontab:?}: {body}"));
        assert!(msg.contains(needle), "{crontab:?}: {msg}");
    }
    let (_, list) = s.get("/api/v1/schedules/").await;
    assert_eq!(list["count"], 0, "nothing was written");
    for ok in [
        "*/1 * * * * *",
        "0 5 * * MON *",
        "0 5 * * mon",
        "0 0 * * 0 *",
        "0 0 * * 7 *",
        "* * * * * 2099",
    ] {
        let (status, body) = s
            .post("/api/v1/schedules/", json!({"name": ok, "crontab": ok}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{ok}: {body}");
    }
}

#[tokio::test]
async fn next_run_follows_schedule_and_enabled_changes() {
    let s = TestServer::start().await;
    let repo = repository(&s).await;
    let weekly = schedule(&s, "Mondays", "0 5 * * MON *").await;
    let p = policy(&s, "P", weekly, repo).await;
    let id = p["id"].as_i64().unwrap();
    let before = Utc::now();
    assert_eq!(time(&p["next_run"]), next_monday_0500(before));
    let path = format!("/api/v1/policies/{id}/");

    // The schedule's crontab changes: every minute now.
    let (status, _) = s
        .patch(
            &format!("/api/v1/schedules/{weekly}/"),
            json!({"crontab": "* * * * * *"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, p) = s.get(&path).await;
    let next = time(&p["next_run"]);
    assert!(
        next > before && next <= Utc::now() + Duration::minutes(1),
        "{next}"
    );
    assert_eq!(next.second(), 0);

    // The schedule is disabled, then enabled again.
    s.patch(
        &format!("/api/v1/schedules/{weekly}/"),
        json!({"enabled": false}),
    )
    .await;
    let (_, p) = s.get(&path).await;
    assert!(p["next_run"].is_null(), "{p}");
    s.patch(
        &format!("/api/v1/schedules/{weekly}/"),
        json!({"enabled": true}),
    )
    .await;
    let (_, p) = s.get(&path).await;
    assert!(p["next_run"].is_string(), "{p}");

    // The policy is disabled, then moved to another schedule while enabled again.
    let (_, p) = s.patch(&path, json!({"enabled": false})).await;
    assert!(p["next_run"].is_null(), "{p}");
    let yearly = schedule(&s, "New year 2030", "0 0 1 1 * 2030").await;
    let (status, p) = s
        .patch(&path, json!({"enabled": true, "schedule": yearly}))
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["next_run"], "2030-01-01T00:00:00Z");

    // An unrelated edit does not move the next run.
    let (_, p2) = s.patch(&path, json!({"name": "Renamed"})).await;
    assert_eq!(p2["next_run"], p["next_run"]);

    // next_run is read-only.
    let (_, p3) = s
        .patch(&path, json!({"next_run": "2031-01-01T00:00:00Z"}))
        .await;
    assert_eq!(p3["next_run"], "2030-01-01T00:00:00Z");
}

#[tokio::test]
async fn policy_calendar_lists_every_run_of_the_month() {
    let s = TestServer::start().await;
    let repo = repository(&s).await;
    let weekly = policy(
        &s,
        "Weekly",
        schedule(&s, "Mondays", "0 5 * * MON *").await,
        repo,
    )
    .await;
    let minutely = policy(
        &s,
        "Minutely",
        schedule(&s, "Every minute", "*/1 * * * * *").await,
        repo,
    )
    .await;

    let (status, runs) = s
        .get(&format!(
            "/api/v1/policies/{}/calendar/?month=2026-12",
            weekly["id"]
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        runs,
        json!([
            "2026-12-07T05:00:00Z",
            "2026-12-14T05:00:00Z",
            "2026-12-21T05:00:00Z",
            "2026-12-28T05:00:00Z"
        ])
    );

    let (status, runs) = s
        .get(&format!(
            "/api/v1/policies/{}/calendar/?month=2028-02",
            minutely["id"]
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 29 * 24 * 60, "February 2028 is a leap month");
    assert_eq!(runs[0], "2028-02-01T00:00:00Z");
    assert_eq!(runs[runs.len() - 1], "2028-02-29T23:59:00Z");

    // Default: the current UTC month, past runs included.
    let today = Utc::now();
    let month = format!("{:04}-{:02}", today.year(), today.month());
    let (_, current) = s
        .get(&format!("/api/v1/policies/{}/calendar/", weekly["id"]))
        .await;
    let (_, explicit) = s
        .get(&format!(
            "/api/v1/policies/{}/calendar/?month={month}",
            weekly["id"]
        ))
        .await;
    assert_eq!(current, explicit);
    let first_of_month = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap();
    let mondays = (0..31)
        .filter_map(|d| first_of_month.checked_add_days(chrono::Days::new(d)))
        .filter(|d| d.month() == today.month() && d.weekday() == Weekday::Mon)
        .count();
    assert_eq!(current.as_array().unwrap().len(), mondays);

    for bad in ["2026-13", "2026-1", "abc", "2026-12-01"] {
        let (status, body) = s
            .get(&format!(
                "/api/v1/policies/{}/calendar/?month={bad}",
                weekly["id"]
            ))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["month"].is_array(), "{body}");
    }
    let (status, _) = s
        .get(&format!(
            "/api/v1/policies/{}/calendar/?mnth=2026-12",
            weekly["id"]
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s.get("/api/v1/policies/9999/calendar/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A disabled policy has no runs.
    s.patch(
        &format!("/api/v1/policies/{}/", weekly["id"]),
        json!({"enabled": false}),
    )
    .await;
    let (_, runs) = s
        .get(&format!(
            "/api/v1/policies/{}/calendar/?month=2026-12",
            weekly["id"]
        ))
        .await;
    assert_eq!(runs, json!([]));
}

#[tokio::test]
async fn the_all_policies_calendar_lists_enabled_policies() {
    let s = TestServer::start().await;
    let repo = repository(&s).await;
    let sched = schedule(&s, "Daily", "30 1 * * * *").await;
    let a = policy(&s, "A daily", sched, repo).await;
    let b = policy(&s, "B daily", sched, repo).await;
    s.patch(
        &format!("/api/v1/policies/{}/", b["id"]),
        json!({"enabled": false}),
    )
    .await;

    let (status, cal) = s.get("/api/v1/calendar/?month=2027-04").await;
    assert_eq!(status, StatusCode::OK, "{cal}");
    let cal = cal.as_array().unwrap();
    assert_eq!(cal.len(), 1, "only the enabled policy: {cal:?}");
    assert_eq!(
        cal[0]["policy"],
        json!({"id": a["id"], "name": "A daily", "policy_type": "config"})
    );
    assert_eq!(cal[0]["schedule"], json!({"id": sched, "name": "Daily"}));
    let runs = cal[0]["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 30);
    assert_eq!(runs[0], "2027-04-01T01:30:00Z");
    assert_eq!(runs[29], "2027-04-30T01:30:00Z");

    let (status, _) = s.get("/api/v1/calendar/?month=April").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s
        .raw(reqwest::Method::GET, "/api/v1/calendar/", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn preview_shows_next_runs_or_the_save_error() {
    let s = TestServer::start().await;
    let before = Utc::now();
    let (status, runs) = s
        .post(
            "/api/v1/schedules/preview/",
            json!({"crontab": "0 5 * * MON *", "count": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{runs}");
    let runs: Vec<DateTime<Utc>> = runs.as_array().unwrap().iter().map(time).collect();
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[0], next_monday_0500(before));
    assert_eq!(runs[1] - runs[0], Duration::weeks(1));
    assert_eq!(runs[2] - runs[1], Duration::weeks(1));

    let (_, runs) = s
        .post(
            "/api/v1/schedules/preview/",
            json!({"crontab": "* * * * *"}),
        )
        .await;
    assert_eq!(runs.as_array().unwrap().len(), 10, "default count");
    let (_, runs) = s
        .post(
            "/api/v1/schedules/preview/",
            json!({"crontab": "0 0 1 1 * 2099", "count": 100}),
        )
        .await;
    assert_eq!(
        runs,
        json!(["2099-01-01T00:00:00Z"]),
        "fewer runs when the schedule ends"
    );

    for count in [0, 101, -1] {
        let (status, body) = s
            .post(
                "/api/v1/schedules/preview/",
                json!({"crontab": "* * * * *", "count": count}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{count}");
        assert!(body["count"].is_array(), "{body}");
    }
    let (status, body) = s
        .post(
            "/api/v1/schedules/preview/",
            json!({"crontab": "* * * * FOO *"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, save) = s
        .post(
            "/api/v1/schedules/",
            json!({"name": "x", "crontab": "* * * * FOO *"}),
        )
        .await;
    assert_eq!(
        body["crontab"], save["crontab"],
        "the preview gives the error a save would give"
    );
    let (status, body) = s.post("/api/v1/schedules/preview/", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["crontab"][0], "This field is required.");
    let (status, _) = s
        .post("/api/v1/schedules/preview/", json!({"crontab": 5}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
