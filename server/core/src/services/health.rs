//! Health of every (policy, client) pair and of every repository, computed from the jobs on each
//! read: the API, the overview, the alert rules and `/metrics` all see the same answer.
//!
//! A pair is, from the worst: `disabled` (its policy, client or schedule is: nothing is
//! expected), `late` (no success since the deadline: `max_age_hours` after the last success,
//! or else the schedule's first run after it plus half the gap to the run after that, i.e. 1.5
//! gaps on a regular schedule and no false alarm over a weekday schedule's weekend), `failing`
//! (the last `failing_after` attempts failed), `never` (no success yet) or `ok`.
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Days, TimeDelta, Utc};
use cyborg_dto::{HealthRow, HealthState, HealthSummary, JobStatus, JobType, RepositoryHealth};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Statement,
};

use super::{Actor, list::ListRequest};
use crate::{
    crontab::Crontab,
    entities::{alert, archive, client, job, policy, policy_client, repository, schedule},
    error::{Error, Result},
    state::AppState,
};

/// What decides one pair's state.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    pub enabled: Option<&'static str>,
    pub last_success: Option<DateTime<Utc>>,
    pub failures: u64,
    pub last_failure: String,
}

/// The state, its reason and the deadline after which the pair is late.
pub fn judge(
    ev: &Evidence,
    crontab: Option<&Crontab>,
    max_age_hours: Option<f64>,
    failing_after: u64,
    now: DateTime<Utc>,
) -> (HealthState, String, Option<DateTime<Utc>>) {
    let late_after = ev
        .last_success
        .and_then(|ok| deadline(ok, crontab, max_age_hours));
    if let Some(what) = ev.enabled {
        return (
            HealthState::Disabled,
            format!("The {what} is disabled."),
            late_after,
        );
    }
    if let (Some(ok), Some(d)) = (ev.last_success, late_after)
        && d < now
    {
        let mut why = format!(
            "No successful backup since {} (expected by {}).",
            ok.format("%Y-%m-%d %H:%M UTC"),
            d.format("%Y-%m-%d %H:%M UTC")
        );
        if ev.failures > 0 {
            why.push_str(&format!(" {} failed attempts since.", ev.failures));
        }
        return (HealthState::Late, why, late_after);
    }
    if ev.failures >= failing_after.max(1) {
        let mut why = match ev.failures {
            1 => "The last attempt failed".to_string(),
            n => format!("The last {n} attempts failed"),
        };
        if ev.last_failure.is_empty() {
            why.push('.');
        } else {
            why.push_str(&format!(": {}", ev.last_failure));
        }
        return (HealthState::Failing, why, late_after);
    }
    if ev.last_success.is_none() {
        return (
            HealthState::Never,
            "No successful backup yet.".into(),
            late_after,
        );
    }
    (HealthState::Ok, String::new(), late_after)
}

/// When a pair whose last success is `ok` becomes late.
fn deadline(
    ok: DateTime<Utc>,
    crontab: Option<&Crontab>,
    max_age_hours: Option<f64>,
) -> Option<DateTime<Utc>> {
    if let Some(h) = max_age_hours {
        return Some(ok + TimeDelta::milliseconds((h * 3_600_000.0) as i64));
    }
    let c = crontab?;
    let first = c.next_after(ok)?;
    let second = c.next_after(first)?;
    Some(first + (second - first) / 2)
}

/// One job's fields the health reads.
type JobFacts = (
    i32,
    Option<i32>,
    Option<i32>,
    JobStatus,
    Option<DateTime<Utc>>,
    String,
    i64,
    String,
);

/// The newest job id per (policy, client) among backups with `status`: one index seek per
/// pair (`idx_jobs_pair_health`), where a GROUP BY would read every backup ever run on each
/// health read.
async fn newest_backup_ids(
    db: &impl ConnectionTrait,
    status: JobStatus,
) -> Result<HashMap<(i32, i32), i32>> {
    let sql = format!(
        "SELECT pc.policy_id, pc.client_id, (SELECT MAX(j.id) FROM jobs j \
           WHERE j.policy_id = pc.policy_id AND j.client_id = pc.client_id \
             AND j.job_type = '{b}' AND j.status = '{s}') \
         FROM policy_clients pc",
        b = JobType::Backup.as_str(),
        s = status.as_str(),
    );
    let mut out = HashMap::new();
    let rows = db
        .query_all(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    for r in rows {
        if let Some(id) = r.try_get_by_index::<Option<i32>>(2)? {
            out.insert((r.try_get_by_index(0)?, r.try_get_by_index(1)?), id);
        }
    }
    Ok(out)
}

/// Per (policy, client): the newest successful backup, and the newest finished attempt
/// (successful, failed or error).
#[allow(clippy::type_complexity)]
async fn newest_backups(
    db: &impl ConnectionTrait,
) -> Result<(HashMap<(i32, i32), JobFacts>, HashMap<(i32, i32), JobFacts>)> {
    let successes = newest_backup_ids(db, JobStatus::Successful).await?;
    let mut attempts = successes.clone();
    for status in [JobStatus::Failed, JobStatus::Error] {
        for (pair, id) in newest_backup_ids(db, status).await? {
            let e = attempts.entry(pair).or_insert(id);
            *e = (*e).max(id);
        }
    }
    let mut ids: Vec<i32> = successes
        .values()
        .chain(attempts.values())
        .copied()
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut facts: HashMap<i32, JobFacts> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows: Vec<JobFacts> = job::Entity::find()
            .select_only()
            .columns([
                job::Column::Id,
                job::Column::PolicyId,
                job::Column::ClientId,
                job::Column::Status,
                job::Column::Finished,
                job::Column::ArchiveName,
                job::Column::OriginalSize,
                job::Column::JobExplanation,
            ])
            .filter(job::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        facts.extend(rows.into_iter().map(|r| (r.0, r)));
    }
    let pick = |m: HashMap<(i32, i32), i32>| {
        m.into_iter()
            .filter_map(|(pair, id)| facts.get(&id).map(|f| (pair, f.clone())))
            .collect()
    };
    Ok((pick(successes), pick(attempts)))
}

/// Failed attempts per pair since its last success (all of them without one).
async fn failures_since_success(db: &impl ConnectionTrait) -> Result<HashMap<(i32, i32), u64>> {
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT j.policy_id, j.client_id, COUNT(*) FROM jobs j \
         WHERE j.job_type = '{b}' AND j.status IN ('{f}', '{e}') \
           AND j.policy_id IS NOT NULL AND j.client_id IS NOT NULL \
           AND j.id > COALESCE((SELECT MAX(s.id) FROM jobs s WHERE s.job_type = '{b}' \
               AND s.status = '{ok}' AND s.policy_id = j.policy_id \
               AND s.client_id = j.client_id), 0) \
         GROUP BY j.policy_id, j.client_id",
        b = JobType::Backup.as_str(),
        f = JobStatus::Failed.as_str(),
        e = JobStatus::Error.as_str(),
        ok = JobStatus::Successful.as_str(),
    );
    let rows = db.query_all(Statement::from_string(backend, sql)).await?;
    let mut out = HashMap::new();
    for r in rows {
        let p: i32 = r.try_get_by_index(0)?;
        let c: i32 = r.try_get_by_index(1)?;
        let n: i64 = r.try_get_by_index(2)?;
        out.insert((p, c), n.max(0) as u64);
    }
    Ok(out)
}

/// Every pair's row, ordered by policy then client name.
pub async fn rows(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<Vec<HealthRow>> {
    let failing_after = u64::from(crate::settings::load(db).await?.failing_after);
    let policies: HashMap<i32, policy::Model> = policy::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let clients: HashMap<i32, client::Model> = client::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let schedules: HashMap<i32, schedule::Model> = schedule::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let repositories: HashMap<i32, String> = repository::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect();
    let pairs = policy_client::Entity::find().all(db).await?;
    let (successes, attempts) = newest_backups(db).await?;
    let failures = failures_since_success(db).await?;
    let crontabs: HashMap<i32, Crontab> = schedules
        .values()
        .filter_map(|s| Crontab::parse(&s.crontab).ok().map(|c| (s.id, c)))
        .collect();

    let mut out = Vec::with_capacity(pairs.len());
    for pc in pairs {
        let (Some(p), Some(c)) = (policies.get(&pc.policy_id), clients.get(&pc.client_id)) else {
            continue;
        };
        let key = (p.id, c.id);
        let sched = schedules.get(&p.schedule_id);
        let success = successes.get(&key);
        let attempt = attempts.get(&key);
        let ev = Evidence {
            enabled: if !p.enabled {
                Some("policy")
            } else if !c.enabled {
                Some("client")
            } else if !sched.is_some_and(|s| s.enabled) {
                Some("schedule")
            } else {
                None
            },
            last_success: success.and_then(|s| s.4),
            failures: failures.get(&key).copied().unwrap_or(0),
            last_failure: attempt
                .filter(|a| a.3 != JobStatus::Successful)
                .map(|a| format!("job {} {}: {}", a.0, a.3, a.7))
                .unwrap_or_default(),
        };
        let (state, reason, late_after) = judge(
            &ev,
            crontabs.get(&p.schedule_id),
            p.max_age_hours,
            failing_after,
            now,
        );
        out.push(HealthRow {
            policy: p.id,
            policy_name: p.name.clone(),
            client: c.id,
            client_hostname: c.hostname.clone(),
            repository: p.repository_id,
            repository_name: repositories
                .get(&p.repository_id)
                .cloned()
                .unwrap_or_default(),
            state: state.to_string(),
            reason,
            last_success: ev.last_success,
            last_success_job: success.map(|s| s.0),
            last_archive: success.map(|s| s.5.clone()).unwrap_or_default(),
            last_size: success.map(|s| s.6).unwrap_or(0),
            last_attempt: attempt.and_then(|a| a.4),
            last_attempt_job: attempt.map(|a| a.0),
            last_attempt_status: attempt.map(|a| a.3.to_string()).unwrap_or_default(),
            failures: ev.failures,
            next_run: p.next_run.filter(|_| ev.enabled.is_none()),
            late_after,
        });
    }
    out.sort_by(|a, b| {
        (rank(&a.state), &a.policy_name, &a.client_hostname).cmp(&(
            rank(&b.state),
            &b.policy_name,
            &b.client_hostname,
        ))
    });
    Ok(out)
}

/// Worst first: the order of `HealthState::ALL`.
fn rank(state: &str) -> usize {
    HealthState::NAMES
        .iter()
        .position(|s| *s == state)
        .unwrap_or(usize::MAX)
}

/// Filters of `GET /api/v1/health/`: the rows are computed, so they are filtered here.
const FILTERS: &str = "state, state__in, policy, client, repository, search";

/// One page of the rows, worst first; `state`, `state__in`, `policy`, `client`, `repository`,
/// `search` (policy name, client hostname, repository name, reason), `page`, `page_size`.
pub async fn list(
    st: &AppState,
    _actor: &Actor,
    req: &ListRequest,
) -> Result<cyborg_dto::Page<HealthRow>> {
    let mut rows = rows(&st.db, Utc::now()).await?;
    let mut page = 1u64;
    let mut page_size = 100u64;
    for (k, v) in &req.params {
        let id = || {
            v.trim()
                .parse::<i32>()
                .map_err(|_| Error::field(k, format!("'{v}' is not a whole number.")))
        };
        match k.as_str() {
            "page" | "page_size" => {
                let n = v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n >= 1 && (k == "page" || *n <= 10_000))
                    .ok_or_else(|| Error::field(k, "A positive whole number is expected."))?;
                if k == "page" {
                    page = n;
                } else {
                    page_size = n;
                }
            }
            "state" | "state__in" => {
                let wanted: Vec<&str> = v.split(',').map(str::trim).collect();
                if let Some(bad) = wanted.iter().find(|s| HealthState::parse(s).is_none()) {
                    return Err(Error::field(
                        k,
                        format!("'{bad}' is not a state: {}.", HealthState::NAMES.join(", ")),
                    ));
                }
                rows.retain(|r| wanted.contains(&r.state.as_str()));
            }
            "policy" => {
                let id = id()?;
                rows.retain(|r| r.policy == id);
            }
            "client" => {
                let id = id()?;
                rows.retain(|r| r.client == id);
            }
            "repository" => {
                let id = id()?;
                rows.retain(|r| r.repository == id);
            }
            "search" => {
                let needle = v.to_lowercase();
                rows.retain(|r| {
                    [
                        &r.policy_name,
                        &r.client_hostname,
                        &r.repository_name,
                        &r.reason,
                    ]
                    .iter()
                    .any(|s| s.to_lowercase().contains(&needle))
                });
            }
            _ => {
                return Err(Error::field(
                    k,
                    format!("Unknown filter: {FILTERS}, page, page_size."),
                ));
            }
        }
    }
    let count = rows.len() as u64;
    let offset = (page - 1).saturating_mul(page_size);
    if page > 1 && offset >= count {
        return Err(Error::NotFound("Invalid page.".into()));
    }
    let results: Vec<HealthRow> = rows
        .into_iter()
        .skip(offset as usize)
        .take(page_size as usize)
        .collect();
    let plan = super::list::Plan {
        condition: sea_orm::Condition::all(),
        order: Vec::new(),
        page,
        page_size,
    };
    Ok(super::list::page(req, &plan, count, results))
}

/// The number of pairs in each state and of open alerts.
pub async fn summary(st: &AppState, _actor: &Actor) -> Result<HealthSummary> {
    summary_of(&st.db, &rows(&st.db, Utc::now()).await?).await
}

pub async fn summary_of(db: &impl ConnectionTrait, rows: &[HealthRow]) -> Result<HealthSummary> {
    let mut s = HealthSummary::default();
    for r in rows {
        match HealthState::parse(&r.state) {
            Some(HealthState::Ok) => s.ok += 1,
            Some(HealthState::Late) => s.late += 1,
            Some(HealthState::Failing) => s.failing += 1,
            Some(HealthState::Never) => s.never += 1,
            Some(HealthState::Disabled) | None => s.disabled += 1,
        }
    }
    s.alerts_open = alert::Entity::find()
        .filter(alert::Column::Resolved.is_null())
        .count(db)
        .await?;
    Ok(s)
}

/// An integrity job: id, repository, status, finished.
type CheckFacts = (i32, Option<i32>, JobStatus, Option<DateTime<Utc>>);

/// Every repository's integrity checks and newest archive, without the daily growth (what the
/// alert rules read every few seconds).
pub async fn repository_checks(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<Vec<RepositoryHealth>> {
    let repos = repository::Entity::find().all(db).await?;
    let crontabs: HashMap<i32, Crontab> = schedule::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .filter(|s| s.enabled)
        .filter_map(|s| Crontab::parse(&s.crontab).ok().map(|c| (s.id, c)))
        .collect();
    let newest: HashMap<i32, Option<DateTime<Utc>>> = archive::Entity::find()
        .select_only()
        .column(archive::Column::RepositoryId)
        .column_as(archive::Column::Created.max(), "created")
        .group_by(archive::Column::RepositoryId)
        .into_tuple::<(i32, Option<DateTime<Utc>>)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let checks: Vec<CheckFacts> = job::Entity::find()
        .select_only()
        .columns([
            job::Column::Id,
            job::Column::RepositoryId,
            job::Column::Status,
            job::Column::Finished,
        ])
        .filter(job::Column::JobType.eq(JobType::Integrity))
        .filter(job::Column::Status.is_in([
            JobStatus::Successful,
            JobStatus::Failed,
            JobStatus::Error,
        ]))
        .into_tuple()
        .all(db)
        .await?;
    // (newest check, newest successful check) per repository.
    type Check = (i32, JobStatus, Option<DateTime<Utc>>);
    let mut by_repo: HashMap<i32, (Option<Check>, Option<Check>)> = HashMap::new();
    for (id, repo, status, finished) in checks {
        let Some(repo) = repo else { continue };
        let e = by_repo.entry(repo).or_default();
        if e.0.as_ref().is_none_or(|c| c.0 < id) {
            e.0 = Some((id, status, finished));
        }
        if status == JobStatus::Successful && e.1.as_ref().is_none_or(|c| c.0 < id) {
            e.1 = Some((id, status, finished));
        }
    }
    Ok(repos
        .into_iter()
        .map(|r| {
            let (newest_check, last_ok) = by_repo.remove(&r.id).unwrap_or_default();
            let overdue_from = last_ok.as_ref().and_then(|c| c.2).unwrap_or(r.created);
            let check_overdue = r
                .integrity_schedule_id
                .and_then(|s| crontabs.get(&s))
                .and_then(|c| deadline(overdue_from, Some(c), None))
                .is_some_and(|d| d < now);
            RepositoryHealth {
                repository: r.id,
                name: r.name,
                size: r.deduplicated_size,
                last_check_success: last_ok.as_ref().and_then(|c| c.2),
                last_check_job: last_ok.as_ref().map(|c| c.0),
                last_check_status: newest_check
                    .as_ref()
                    .map(|c| c.1.to_string())
                    .unwrap_or_default(),
                check_overdue,
                newest_archive: newest.get(&r.id).copied().flatten(),
                added_per_day: Vec::new(),
            }
        })
        .collect())
}

/// Every repository's integrity checks, newest archive and the bytes its successful backups
/// added on each of the last 30 days (oldest first).
pub async fn repositories(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<Vec<RepositoryHealth>> {
    let mut repos = repository_checks(db, now).await?;
    let first_day = now.date_naive() - Days::new(29);
    let since = first_day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    let added: Vec<(Option<i32>, Option<DateTime<Utc>>, i64)> = job::Entity::find()
        .select_only()
        .columns([
            job::Column::RepositoryId,
            job::Column::Finished,
            job::Column::DeduplicatedSize,
        ])
        .filter(job::Column::JobType.eq(JobType::Backup))
        .filter(job::Column::Status.eq(JobStatus::Successful))
        .filter(job::Column::Finished.gte(since))
        .into_tuple()
        .all(db)
        .await?;
    let mut growth: HashMap<i32, BTreeMap<i64, i64>> = HashMap::new();
    for (repo, finished, bytes) in added {
        if let (Some(repo), Some(f)) = (repo, finished) {
            let day = (f.date_naive() - first_day).num_days();
            *growth.entry(repo).or_default().entry(day).or_default() += bytes;
        }
    }
    for r in &mut repos {
        let days = growth.remove(&r.repository).unwrap_or_default();
        r.added_per_day = (0..30)
            .map(|d| days.get(&d).copied().unwrap_or(0))
            .collect();
    }
    Ok(repos)
}

/// `GET /api/v1/health/repositories/`.
pub async fn repository_list(st: &AppState, _actor: &Actor) -> Result<Vec<RepositoryHealth>> {
    repositories(&st.db, Utc::now()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_daily_schedule_is_late_after_a_day_and_a_half() {
        let daily = Crontab::parse("0 3 * * * *").unwrap();
        let ev = Evidence {
            last_success: Some(t("2026-12-01T03:10:00Z")),
            ..Default::default()
        };
        // First run after the success is 12-02 03:00, the next 12-03 03:00: late from 12-02 15:00.
        let (s, _, d) = judge(&ev, Some(&daily), None, 1, t("2026-12-02T14:00:00Z"));
        assert_eq!(s, HealthState::Ok);
        assert_eq!(d, Some(t("2026-12-02T15:00:00Z")));
        let (s, why, _) = judge(&ev, Some(&daily), None, 1, t("2026-12-02T15:01:00Z"));
        assert_eq!(s, HealthState::Late);
        assert!(why.contains("2026-12-01 03:10"), "{why}");
    }

    #[test]
    fn a_weekday_schedule_is_not_late_over_the_weekend() {
        let weekdays = Crontab::parse("0 3 * * MON-FRI *").unwrap();
        // Friday 2026-12-04 success; next runs Monday 12-07 and Tuesday 12-08.
        let ev = Evidence {
            last_success: Some(t("2026-12-04T03:20:00Z")),
            ..Default::default()
        };
        let sunday = t("2026-12-06T12:00:00Z");
        assert_eq!(
            judge(&ev, Some(&weekdays), None, 1, sunday).0,
            HealthState::Ok
        );
        let monday_night = t("2026-12-07T16:00:00Z");
        assert_eq!(
            judge(&ev, Some(&weekdays), None, 1, monday_night).0,
            HealthState::Late
        );
    }

    #[test]
    fn max_age_overrides_and_the_order_of_states_holds() {
        let hourly = Crontab::parse("0 * * * * *").unwrap();
        let ok = t("2026-12-01T00:30:00Z");
        let now = t("2026-12-01T05:00:00Z");
        let ev = Evidence {
            last_success: Some(ok),
            ..Default::default()
        };
        assert_eq!(judge(&ev, Some(&hourly), None, 1, now).0, HealthState::Late);
        assert_eq!(
            judge(&ev, Some(&hourly), Some(6.0), 1, now).0,
            HealthState::Ok
        );
        let failing = Evidence {
            failures: 2,
            last_failure: "job 9 error: ssh: connect refused".into(),
            ..ev.clone()
        };
        let (s, why, _) = judge(&failing, Some(&hourly), Some(6.0), 1, now);
        assert_eq!(s, HealthState::Failing);
        assert!(
            why.contains("last 2 attempts") && why.contains("job 9"),
            "{why}"
        );
        assert_eq!(
            judge(&failing, Some(&hourly), Some(6.0), 3, now).0,
            HealthState::Ok
        );
        assert_eq!(
            judge(&failing, Some(&hourly), None, 1, now).0,
            HealthState::Late
        );
        let disabled = Evidence {
            enabled: Some("client"),
            ..failing.clone()
        };
        assert_eq!(
            judge(&disabled, Some(&hourly), None, 1, now).0,
            HealthState::Disabled
        );
        let never = Evidence::default();
        assert_eq!(
            judge(&never, Some(&hourly), None, 1, now).0,
            HealthState::Never
        );
        let never_failing = Evidence {
            failures: 1,
            ..Evidence::default()
        };
        assert_eq!(
            judge(&never_failing, Some(&hourly), None, 1, now).0,
            HealthState::Failing
        );
    }
}
