//! The dashboard's overview: counts (no rows read), the statistics, the coming runs and the last
//! jobs, read side by side.
use chrono::{DateTime, TimeDelta, Utc};
use cyborg_dto::{CalendarEntry, NextRun, Overview};

use cyborg_dto::HealthState;

use super::{
    Actor, calendar, clients, health, jobs, list::ListRequest, policies, repositories, resource,
    schedules,
};
use crate::{error::Result, state::AppState};

/// How many coming runs and recent jobs the overview shows.
pub const OVERVIEW_ROWS: usize = 10;
/// How many late or failing pairs the overview lists.
pub const ATTENTION_ROWS: usize = 20;

pub async fn overview(st: &AppState, actor: &Actor) -> Result<Overview> {
    let day_ago =
        (Utc::now() - TimeDelta::hours(24)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let (all_clients, all_policies, all_repositories) = (
        ListRequest::of("/api/v1/clients/", &[]),
        ListRequest::of("/api/v1/policies/", &[]),
        ListRequest::of("/api/v1/repositories/", &[]),
    );
    let running = ListRequest::of("/api/v1/jobs/", &[("status", "running".into())]);
    let failed = ListRequest::of(
        "/api/v1/jobs/",
        &[
            ("status__in", "failed,error".into()),
            ("finished__gte", day_ago),
        ],
    );
    let last = ListRequest::of(
        "/api/v1/jobs/",
        &[
            ("page_size", OVERVIEW_ROWS.to_string()),
            ("order_by", "-id".into()),
        ],
    );
    let all_schedules = ListRequest::of("/api/v1/schedules/", &[]);
    let (clients, policies, repositories, schedules, jobs_running, jobs_failed_24h) = futures_util::try_join!(
        resource::count::<clients::Clients>(st, &all_clients),
        resource::count::<policies::Policies>(st, &all_policies),
        resource::count::<repositories::Repositories>(st, &all_repositories),
        resource::count::<schedules::Schedules>(st, &all_schedules),
        resource::count::<jobs::Jobs>(st, &running),
        resource::count::<jobs::Jobs>(st, &failed),
    )?;
    let rows = health::rows(&st.db, Utc::now()).await?;
    let summary = health::summary_of(&st.db, &rows).await?;
    let attention: Vec<_> = rows
        .into_iter()
        .filter(|r| {
            matches!(
                HealthState::parse(&r.state),
                Some(HealthState::Late | HealthState::Failing)
            )
        })
        .take(ATTENTION_ROWS)
        .collect();
    let (stats, next_runs, last_jobs) = futures_util::try_join!(
        jobs::stats(st, actor),
        next_runs(st, actor, Utc::now()),
        jobs::list(st, actor, &last),
    )?;
    let mut o = Overview {
        clients,
        policies,
        repositories,
        jobs_running,
        jobs_failed_24h,
        stats,
        next_runs,
        last_jobs: last_jobs.results,
        schedules,
        health: summary,
        attention,
        authorized_keys: None,
    };
    if o.first_steps().iter().any(|(_, _, done)| !done) {
        o.authorized_keys = Some(
            super::settings::ssh_public_key(st, actor)
                .await?
                .authorized_keys,
        );
    }
    Ok(o)
}

/// The first `OVERVIEW_ROWS` runs after `now` of every enabled policy: each policy's first
/// `OVERVIEW_ROWS` runs from the calendar service, merged in time order.
pub async fn next_runs(st: &AppState, actor: &Actor, now: DateTime<Utc>) -> Result<Vec<NextRun>> {
    let mut runs = coming(
        calendar::coming_runs(st, actor, now, OVERVIEW_ROWS).await?,
        now,
    );
    runs.sort_by(|a, b| {
        (a.at, &a.policy_name, a.policy_id).cmp(&(b.at, &b.policy_name, b.policy_id))
    });
    runs.truncate(OVERVIEW_ROWS);
    Ok(runs)
}

fn coming(entries: Vec<CalendarEntry>, now: DateTime<Utc>) -> Vec<NextRun> {
    let mut out = Vec::new();
    for e in entries {
        // Each policy's runs are ascending: its first OVERVIEW_ROWS after now are all it can add.
        for at in e.runs.into_iter().filter(|t| *t > now).take(OVERVIEW_ROWS) {
            out.push(NextRun {
                at,
                policy_id: e.policy.id,
                policy_name: e.policy.name.clone(),
                policy_type: e.policy.policy_type.clone(),
                schedule_name: e.schedule.name.clone(),
            });
        }
    }
    out
}
