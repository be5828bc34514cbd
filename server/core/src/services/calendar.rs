//! The time side of policies: month calendars and the crontab preview. All UTC.
use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use cyborg_dto::{
    CalendarEntry, CalendarMonth, CalendarPolicy, CalendarSchedule, DAY_RUNS_SHOWN, DayRun,
    MonthDay, MonthPolicy, SchedulePreviewInput,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::{Actor, find, now, validate::Check};
use crate::{
    crontab::Crontab,
    entities::{policy, schedule},
    error::{Error, Result},
    state::AppState,
};

pub const DEFAULT_PREVIEW: i64 = 10;
pub const MAX_PREVIEW: i64 = 100;

/// `[first instant of the month, first instant of the next)` for `YYYY-MM`, or the current
/// UTC month when `month` is absent.
pub fn month_bounds(
    month: Option<&str>,
    today: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let first = match month {
        None => NaiveDate::from_ymd_opt(today.year(), today.month(), 1),
        Some(m) => parse_month(m),
    }
    .ok_or_else(|| {
        Error::field(
            "month",
            "Use YYYY-MM, e.g. 2026-11, with a year from 1970 to 2099.",
        )
    })?;
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    }
    .expect("the month after a valid month exists");
    Ok((
        first.and_hms_opt(0, 0, 0).unwrap().and_utc(),
        next.and_hms_opt(0, 0, 0).unwrap().and_utc(),
    ))
}

fn parse_month(s: &str) -> Option<NaiveDate> {
    let (y, m) = s.trim().split_once('-')?;
    if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (y, m) = (y.parse::<i32>().ok()?, m.parse::<u32>().ok()?);
    if !(1970..=2099).contains(&y) {
        return None;
    }
    NaiveDate::from_ymd_opt(y, m, 1)
}

/// Runs of a policy on its schedule in `[from, to)`; none when either is disabled, since those
/// runs will not happen.
fn runs(
    p: &policy::Model,
    s: &schedule::Model,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    runs_by(p, s, |c| c.runs_between(from, to))
}

/// `pick`'s runs of the policy's schedule; none when either is disabled.
fn runs_by(
    p: &policy::Model,
    s: &schedule::Model,
    pick: impl Fn(&Crontab) -> Vec<DateTime<Utc>>,
) -> Vec<DateTime<Utc>> {
    if !p.enabled || !s.enabled {
        return Vec::new();
    }
    // A stored crontab was valid when saved; one that no longer parses has no runs to show.
    Crontab::parse(&s.crontab)
        .map(|c| pick(&c))
        .unwrap_or_default()
}

/// The first `n` runs of a crontab strictly after `after`.
fn first_runs(c: &Crontab, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    let mut out = Vec::with_capacity(n);
    let mut t = after;
    while out.len() < n {
        let Some(next) = c.next_after(t) else { break };
        out.push(next);
        t = next;
    }
    out
}

/// `GET /api/v1/policies/{id}/calendar/`: every run of the month, past ones included.
pub async fn policy_calendar(
    st: &AppState,
    _actor: &Actor,
    id: i32,
    month: Option<&str>,
) -> Result<Vec<DateTime<Utc>>> {
    let p = find::<policy::Entity>(&st.db, id).await?;
    let (from, to) = month_bounds(month, Utc::now())?;
    let s = find::<schedule::Entity>(&st.db, p.schedule_id).await?;
    Ok(runs(&p, &s, from, to))
}

/// Every enabled policy on an enabled schedule, by name, with its runs in `[from, to)`.
async fn enabled_runs(
    st: &AppState,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(policy::Model, schedule::Model, Vec<DateTime<Utc>>)>> {
    enabled_with(st, |c| c.runs_between(from, to)).await
}

/// Every enabled policy on an enabled schedule, by name, with its first `n` runs after `after`
/// (the overview's coming runs: no month of runs is computed for that).
pub async fn coming_runs(
    st: &AppState,
    _actor: &Actor,
    after: DateTime<Utc>,
    n: usize,
) -> Result<Vec<CalendarEntry>> {
    Ok(entries(
        enabled_with(st, |c| first_runs(c, after, n)).await?,
    ))
}

/// Every enabled policy on an enabled schedule, by name, with `pick`'s runs of its schedule.
async fn enabled_with(
    st: &AppState,
    pick: impl Fn(&Crontab) -> Vec<DateTime<Utc>>,
) -> Result<Vec<(policy::Model, schedule::Model, Vec<DateTime<Utc>>)>> {
    let policies = policy::Entity::find()
        .filter(policy::Column::Enabled.eq(true))
        .order_by_asc(policy::Column::Name)
        .all(&st.db)
        .await?;
    let schedules: HashMap<i32, schedule::Model> = schedule::Entity::find()
        .filter(schedule::Column::Id.is_in(policies.iter().map(|p| p.schedule_id)))
        .all(&st.db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    // Policies sharing a schedule share its runs: compute each schedule once.
    let mut cache: HashMap<i32, Vec<DateTime<Utc>>> = HashMap::new();
    let mut out = Vec::new();
    for p in policies {
        let Some(s) = schedules.get(&p.schedule_id) else {
            continue;
        };
        if !s.enabled {
            continue;
        }
        let runs = cache
            .entry(s.id)
            .or_insert_with(|| runs_by(&p, s, &pick))
            .clone();
        out.push((p, s.clone(), runs));
    }
    Ok(out)
}

/// `GET /api/v1/calendar/`: the month's runs of every enabled policy, for the dashboard grid.
pub async fn all_calendars(
    st: &AppState,
    _actor: &Actor,
    month: Option<&str>,
) -> Result<Vec<CalendarEntry>> {
    let (from, to) = month_bounds(month, Utc::now())?;
    Ok(entries(enabled_runs(st, from, to).await?))
}

fn entries(
    policies: Vec<(policy::Model, schedule::Model, Vec<DateTime<Utc>>)>,
) -> Vec<CalendarEntry> {
    policies
        .into_iter()
        .map(|(p, s, runs)| CalendarEntry {
            policy: CalendarPolicy {
                id: p.id,
                name: p.name,
                policy_type: p.policy_type.to_string(),
            },
            schedule: CalendarSchedule {
                id: s.id,
                name: s.name,
            },
            runs,
        })
        .collect()
}

/// Two runs on one repository closer than this are a conflict: the second would find the
/// repository locked by the first (one borg process per repository).
pub const CONFLICT_WINDOW: TimeDelta = TimeDelta::minutes(1);

/// The dashboard's month grid: per day the runs of each enabled policy counted, the conflicts
/// (runs on the same repository less than `CONFLICT_WINDOW` apart) marked, and the first runs
/// listed. `month` is `YYYY-MM`, the current UTC month when absent.
pub async fn month_view(
    st: &AppState,
    _actor: &Actor,
    month: Option<&str>,
    focus: Option<i32>,
    today: DateTime<Utc>,
) -> Result<CalendarMonth> {
    let (from, to) = month_bounds(month, today)?;
    let policies = enabled_runs(st, from, to).await?;
    Ok(build_month(from, to, today, &policies, focus))
}

/// The month of `policies`, or with `focus` of that one policy alone: its runs counted and
/// listed, its conflicts still found against every policy on its repository (a policy that is
/// not enabled has no runs: an empty month).
fn build_month(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    today: DateTime<Utc>,
    policies: &[(policy::Model, schedule::Model, Vec<DateTime<Utc>>)],
    focus: Option<i32>,
) -> CalendarMonth {
    // The index of each shown policy among the shown ones (what the answer numbers them by).
    let mut shown_count = 0;
    let index_of: Vec<Option<usize>> = policies
        .iter()
        .map(|(p, _, _)| {
            focus.is_none_or(|f| p.id == f).then(|| {
                shown_count += 1;
                shown_count - 1
            })
        })
        .collect();
    let days_in_month = (to - from).num_days() as usize;
    // Every run as (time, policy index), per repository, to find the conflicts.
    let mut by_repository: HashMap<i32, Vec<(DateTime<Utc>, usize)>> = HashMap::new();
    for (i, (p, _, runs)) in policies.iter().enumerate() {
        by_repository
            .entry(p.repository_id)
            .or_default()
            .extend(runs.iter().map(|t| (*t, i)));
    }
    let mut conflicting: Vec<(DateTime<Utc>, usize)> = Vec::new();
    for runs in by_repository.values_mut() {
        runs.sort_unstable();
        for (i, (t, p)) in runs.iter().enumerate() {
            let close = |(u, _): &(DateTime<Utc>, usize)| (*u - *t).abs() < CONFLICT_WINDOW;
            let before = i > 0 && close(&runs[i - 1]);
            let after = runs.get(i + 1).is_some_and(close);
            if before || after {
                conflicting.push((*t, *p));
            }
        }
    }
    conflicting.sort_unstable();

    let mut days: Vec<MonthDay> = (0..days_in_month)
        .map(|d| MonthDay {
            day: d as u32 + 1,
            total: 0,
            conflicts: 0,
            per_policy: vec![0; shown_count],
            runs: Vec::new(),
        })
        .collect();
    let day_of = |t: &DateTime<Utc>| ((*t - from).num_days() as usize).min(days_in_month - 1);
    for (i, (_, _, runs)) in policies.iter().enumerate() {
        let Some(k) = index_of[i] else { continue };
        for t in runs {
            let day = &mut days[day_of(t)];
            day.total += 1;
            day.per_policy[k] += 1;
        }
    }
    for (t, p) in &conflicting {
        let Some(k) = index_of[*p] else { continue };
        let day = &mut days[day_of(t)];
        day.conflicts += 1;
        day.runs.push(DayRun {
            at: *t,
            policy: k,
            conflict: true,
        });
    }
    // The earliest runs of each day fill the list up to DAY_RUNS_SHOWN: merge the policies'
    // (sorted) runs day by day, taking only what is shown.
    let mut cursors = vec![0usize; policies.len()];
    for day in days.iter_mut() {
        let end = from + TimeDelta::days(day.day as i64);
        let mut shown = day.runs.len();
        while shown < DAY_RUNS_SHOWN {
            let next = policies
                .iter()
                .enumerate()
                .filter(|(i, _)| index_of[*i].is_some())
                .filter_map(|(i, (_, _, runs))| runs.get(cursors[i]).map(|t| (*t, i)))
                .filter(|(t, _)| *t < end)
                .min();
            let Some((t, i)) = next else { break };
            cursors[i] += 1;
            if conflicting.binary_search(&(t, i)).is_err() {
                day.runs.push(DayRun {
                    at: t,
                    policy: index_of[i].unwrap_or_default(),
                    conflict: false,
                });
                shown += 1;
            }
        }
        // The rest of the day is counted, not listed.
        for (cursor, (_, _, runs)) in cursors.iter_mut().zip(policies) {
            *cursor = (*cursor).max(runs.partition_point(|t| *t < end));
        }
        day.runs.sort_by_key(|r| (r.at, r.policy));
    }

    let first = from.date_naive();
    CalendarMonth {
        month: format!("{:04}-{:02}", first.year(), first.month()),
        first_weekday: first.weekday().num_days_from_monday(),
        today: (today >= from && today < to).then(|| today.day()),
        policies: policies
            .iter()
            .zip(&index_of)
            .filter(|(_, k)| k.is_some())
            .map(|((p, s, _), _)| MonthPolicy {
                id: p.id,
                name: p.name.clone(),
                policy_type: p.policy_type.to_string(),
                schedule_name: s.name.clone(),
                repository_id: p.repository_id,
            })
            .collect(),
        days,
    }
}

/// `POST /api/v1/schedules/preview/`: the next runs of a crontab, or the error a save would give.
pub async fn preview(
    _st: &AppState,
    _actor: &Actor,
    input: SchedulePreviewInput,
) -> Result<Vec<DateTime<Utc>>> {
    let mut c = Check::new();
    let text = c
        .required("crontab", input.crontab, None)
        .map(|t| c.line("crontab", &t, 255, false));
    let count = input.count.unwrap_or(DEFAULT_PREVIEW);
    if !(1..=MAX_PREVIEW).contains(&count) {
        c.error(
            "count",
            format!("Ensure this value is between 1 and {MAX_PREVIEW}."),
        );
    }
    let mut crontab = None;
    if let Some(t) = &text
        && !c.has("crontab")
    {
        match check_crontab(t) {
            Ok(parsed) => crontab = Some(parsed),
            Err(m) => c.error("crontab", m),
        }
    }
    c.finish()?;
    let crontab = crontab.expect("checked above");
    let mut out = Vec::with_capacity(count as usize);
    let mut t = now();
    while out.len() < count as usize {
        match crontab.next_after(t) {
            Some(next) => {
                out.push(next);
                t = next;
            }
            None => break,
        }
    }
    Ok(out)
}

/// The one crontab rule of schedules: it parses and fires at least once after now.
pub fn check_crontab(text: &str) -> std::result::Result<Crontab, String> {
    let parsed = Crontab::parse(text).map_err(|e| e.to_string())?;
    parsed.validate(now()).map_err(|e| e.to_string())?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months() {
        let today = "2026-11-27T13:00:00Z".parse().unwrap();
        let (a, b) = month_bounds(None, today).unwrap();
        assert_eq!(a.to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(b.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        let (a, b) = month_bounds(Some("2027-12"), today).unwrap();
        assert_eq!((a.month(), b.year(), b.month()), (12, 2028, 1));
        for bad in [
            "2026-13",
            "2026-00",
            "26-01",
            "2026-1",
            "2026/01",
            "",
            "abcd-ef",
            "2100-01",
            "1969-12",
            "2026-01-01",
        ] {
            assert!(month_bounds(Some(bad), today).is_err(), "{bad}");
        }
    }
}
