//! The time side of policies: month calendars and the crontab preview (SPEC §5–§6). All UTC.
use std::collections::HashMap;

use app::dto::{CalendarEntry, CalendarPolicy, CalendarSchedule, SchedulePreviewInput};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
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
    if !p.enabled || !s.enabled {
        return Vec::new();
    }
    // A stored crontab was valid when saved; one that no longer parses has no runs to show.
    Crontab::parse(&s.crontab)
        .map(|c| c.runs_between(from, to))
        .unwrap_or_default()
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

/// `GET /api/v1/calendar/`: the month's runs of every enabled policy, for the dashboard grid.
pub async fn all_calendars(
    st: &AppState,
    _actor: &Actor,
    month: Option<&str>,
) -> Result<Vec<CalendarEntry>> {
    let (from, to) = month_bounds(month, Utc::now())?;
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
            .or_insert_with(|| runs(&p, s, from, to))
            .clone();
        out.push(CalendarEntry {
            policy: CalendarPolicy {
                id: p.id,
                name: p.name,
                policy_type: p.policy_type,
            },
            schedule: CalendarSchedule {
                id: s.id,
                name: s.name.clone(),
            },
            runs,
        });
    }
    Ok(out)
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
