//! Crontab strings parsed into a typed schedule, and questions about when it runs.
//!
//! Format: `minute hour day-of-month month day-of-week [year]`, all times UTC, runs on whole
//! minutes. Five fields mean "any year".
//!
//! * minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or `JAN`…`DEC`, day-of-week 1-7 for
//!   Monday…Sunday (0 is Sunday too) or `MON`…`SUN`, year 1970-2099. Names in any case.
//! * Each field is a comma list of `*`, `v`, `a-b`, each optionally `/step`; `v/step` runs from
//!   `v` to the field's maximum. For day-of-week `*` is 1-7 (so `*/2` = Mon, Wed, Fri, Sun), and a
//!   range touching Sunday may name it at either end (`SUN-TUE`, `FRI-SUN`).
//! * Day-of-month and day-of-week must BOTH match when both are restricted (unlike Vixie cron,
//!   which ORs them).
//!
//! "Next run" questions are answered by the `cron` crate from the expression that
//! [`Crontab::to_cron_expression`] builds. [`Crontab::runs_between`] walks the typed sets itself:
//! the crate answers one run per call, which for an every-minute month is ~25x slower than
//! emitting runs day by day; the tests hold the two to the same answers.

mod field;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, TimeDelta, Timelike, Utc};

pub use field::FieldSet;
use field::{Kind, parse_field, render_numbers, render_weekdays, render_years};

/// Why a crontab string was rejected, or why it never fires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrontabError {
    /// The field at fault (`"minute"`, `"hour"`, `"day-of-month"`, `"month"`, `"day-of-week"`,
    /// `"year"`), or `None` when the problem is the expression as a whole.
    pub field: Option<&'static str>,
    pub message: String,
}

impl CrontabError {
    fn whole(message: String) -> Self {
        CrontabError {
            field: None,
            message,
        }
    }
}

impl fmt::Display for CrontabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for CrontabError {}

/// A parsed crontab: the allowed values of every field, plus the `cron` crate schedule built
/// from them.
#[derive(Clone)]
pub struct Crontab {
    minutes: FieldSet,
    hours: FieldSet,
    days_of_month: FieldSet,
    months: FieldSet,
    days_of_week: FieldSet,
    years: FieldSet,
    // Built once at parse time: parsing the cron expression costs far more than one query.
    schedule: cron::Schedule,
}

/// The typed fields before the cron schedule exists; the translation needs only these.
struct Fields {
    minutes: FieldSet,
    hours: FieldSet,
    days_of_month: FieldSet,
    months: FieldSet,
    days_of_week: FieldSet,
    years: FieldSet,
}

impl Fields {
    fn to_cron_expression(&self) -> String {
        format!(
            "0 {} {} {} {} {} {}",
            render_numbers(&self.minutes),
            render_numbers(&self.hours),
            render_numbers(&self.days_of_month),
            render_numbers(&self.months),
            render_weekdays(&self.days_of_week),
            render_years(&self.years),
        )
    }
}

// 2100-01-01T00:00:00Z: no run can be at or after it, since years stop at 2099.
const END_OF_YEARS: i64 = 4_102_444_800;

impl Crontab {
    /// Parses a five- or six-field crontab string.
    pub fn parse(s: &str) -> Result<Crontab, CrontabError> {
        let fields: Vec<&str> = s.split_whitespace().collect();
        let (m, h, dom, mon, dow, year) = match fields.as_slice() {
            [m, h, dom, mon, dow] => (*m, *h, *dom, *mon, *dow, None),
            [m, h, dom, mon, dow, year] => (*m, *h, *dom, *mon, *dow, Some(*year)),
            [] => {
                return Err(CrontabError::whole(
                    "expected 5 or 6 fields, found 0 (the expression is empty)".to_string(),
                ));
            }
            other => {
                return Err(CrontabError::whole(format!(
                    "expected 5 or 6 fields, found {}",
                    other.len()
                )));
            }
        };
        let fields = Fields {
            minutes: parse_field(Kind::Minute, m)?,
            hours: parse_field(Kind::Hour, h)?,
            days_of_month: parse_field(Kind::DayOfMonth, dom)?,
            months: parse_field(Kind::Month, mon)?,
            days_of_week: parse_field(Kind::DayOfWeek, dow)?,
            years: match year {
                Some(year) => parse_field(Kind::Year, year)?,
                None => FieldSet::full(Kind::Year),
            },
        };
        let expression = fields.to_cron_expression();
        let schedule = cron::Schedule::from_str(&expression).map_err(|e| {
            CrontabError::whole(format!(
                "internal error: the cron crate rejected {expression:?}: {e}"
            ))
        })?;
        let Fields {
            minutes,
            hours,
            days_of_month,
            months,
            days_of_week,
            years,
        } = fields;
        Ok(Crontab {
            minutes,
            hours,
            days_of_month,
            months,
            days_of_week,
            years,
            schedule,
        })
    }

    /// Allowed minutes (0-59).
    pub fn minutes(&self) -> &FieldSet {
        &self.minutes
    }

    /// Allowed hours (0-23).
    pub fn hours(&self) -> &FieldSet {
        &self.hours
    }

    /// Allowed days of the month (1-31).
    pub fn days_of_month(&self) -> &FieldSet {
        &self.days_of_month
    }

    /// Allowed months (1-12).
    pub fn months(&self) -> &FieldSet {
        &self.months
    }

    /// Allowed weekdays, ISO-numbered: 1 = Monday … 7 = Sunday.
    pub fn days_of_week(&self) -> &FieldSet {
        &self.days_of_week
    }

    /// Allowed years (1970-2099).
    pub fn years(&self) -> &FieldSet {
        &self.years
    }

    /// Whether day-of-month excludes some day (`*`, `*/1` and `1-31` are unrestricted).
    pub fn day_of_month_restricted(&self) -> bool {
        !self.days_of_month.is_full()
    }

    /// Whether day-of-week excludes some weekday (`*`, `0-6` and `MON-SUN` are unrestricted).
    pub fn day_of_week_restricted(&self) -> bool {
        !self.days_of_week.is_full()
    }

    /// The `cron` crate's seven-field form, `sec min hour dom month dow year`, of this schedule.
    ///
    /// Seconds are always `0`. Weekdays are written as names because the crate numbers them
    /// 1 = Sunday … 7 = Saturday. Years are always written out (`1970-2099` for any year) because
    /// the crate's `*` would include 2100. The crate ANDs day-of-month with day-of-week, which is
    /// this module's rule, so both are passed through as they are.
    pub fn to_cron_expression(&self) -> String {
        // Parse stored exactly this string in the schedule.
        self.schedule.source().to_string()
    }

    /// Whether the minute containing `t` is a run (seconds and below are ignored).
    pub fn matches(&self, t: DateTime<Utc>) -> bool {
        self.date_matches(t.date_naive())
            && self.hours.contains(t.hour())
            && self.minutes.contains(t.minute())
    }

    fn date_matches(&self, date: NaiveDate) -> bool {
        u32::try_from(date.year()).is_ok_and(|y| self.years.contains(y))
            && self.months.contains(date.month())
            && self.days_of_month.contains(date.day())
            && self
                .days_of_week
                .contains(date.weekday().number_from_monday())
    }

    /// The first run strictly after `t`, from the `cron` crate.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron_runs_after(t).next()
    }

    /// The cron crate's runs after `t`, guarded so that it never sees an instant it mishandles.
    fn cron_runs_after(&self, t: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        // The crate adds a second to `t` (which panics near `DateTime::MAX_UTC`) and casts the
        // year to u32 (so years before 0 would wrap): clamp into the range where runs can exist.
        let start = if t.timestamp() >= END_OF_YEARS {
            None
        } else if t < DateTime::UNIX_EPOCH {
            Some(DateTime::UNIX_EPOCH - TimeDelta::seconds(1))
        } else {
            Some(t)
        };
        start
            .into_iter()
            .flat_map(move |start| self.schedule.after(&start))
            // Both sides use the same sets and the same AND rule, so this never drops a run; it
            // keeps the answer consistent with `matches` should the crate's semantics drift.
            .filter(move |run| self.matches(*run))
    }

    /// Every run in `[from, to)`, ascending.
    ///
    /// Walks days, skipping years, months and days that cannot match, then emits the allowed
    /// hour/minute pairs, so a dense schedule costs one push per run. The result grows with the
    /// range: an every-minute schedule yields 1,440 runs a day.
    pub fn runs_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut runs = Vec::new();
        // First whole minute at or after `from`.
        let from_secs = from.timestamp() + i64::from(from.timestamp_subsec_nanos() > 0);
        let start = (from_secs.div_euclid(60) + i64::from(from_secs.rem_euclid(60) > 0)) * 60;
        let start = start.max(0);
        // A minute `m` is before `to` iff `m < to`, i.e. `m < to_secs` once a fractional `to`
        // is rounded up.
        let end = (to.timestamp() + i64::from(to.timestamp_subsec_nanos() > 0)).min(END_OF_YEARS);
        if start >= end {
            return runs;
        }
        let (Some(first), Some(last)) = (
            DateTime::from_timestamp(start, 0),
            DateTime::from_timestamp(end - 1, 0),
        ) else {
            return runs;
        };
        let hours: Vec<i64> = self.hours.iter().map(i64::from).collect();
        let minutes: Vec<i64> = self.minutes.iter().map(i64::from).collect();
        let last_date = last.date_naive();
        let mut date = first.date_naive();
        while date <= last_date {
            let jump = if !u32::try_from(date.year()).is_ok_and(|y| self.years.contains(y)) {
                NaiveDate::from_ymd_opt(date.year() + 1, 1, 1)
            } else if !self.months.contains(date.month()) {
                first_of_next_month(date)
            } else {
                if self.days_of_month.contains(date.day())
                    && self
                        .days_of_week
                        .contains(date.weekday().number_from_monday())
                {
                    let day = date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp();
                    push_day(&mut runs, day, &hours, &minutes, start, end);
                }
                date.succ_opt()
            };
            match jump {
                Some(next) => date = next,
                None => break,
            }
        }
        runs
    }

    /// Fails when the schedule has no run strictly after `now`: impossible dates (Feb 30,
    /// Apr 31, Feb 29 in a common year), years already past, or day-of-month/day-of-week
    /// combinations that never occur in the allowed years.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), CrontabError> {
        match self.next_after(now) {
            Some(_) => Ok(()),
            None => Err(CrontabError::whole(format!(
                "never fires after {}",
                now.to_rfc3339_opts(SecondsFormat::Secs, true)
            ))),
        }
    }
}

fn push_day(
    runs: &mut Vec<DateTime<Utc>>,
    day: i64,
    hours: &[i64],
    minutes: &[i64],
    start: i64,
    end: i64,
) {
    for &h in hours {
        let hour = day + h * 3600;
        if hour + 3600 <= start {
            continue;
        }
        if hour >= end {
            return;
        }
        for &m in minutes {
            let t = hour + m * 60;
            if t < start {
                continue;
            }
            if t >= end {
                return;
            }
            if let Some(run) = DateTime::from_timestamp(t, 0) {
                runs.push(run);
            }
        }
    }
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    if date.month() == 12 {
        NaiveDate::from_ymd_opt(date.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(date.year(), date.month() + 1, 1)
    }
}

impl FromStr for Crontab {
    type Err = CrontabError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Crontab::parse(s)
    }
}

impl PartialEq for Crontab {
    fn eq(&self, other: &Self) -> bool {
        // The cron schedule is derived from the sets, so the sets decide equality.
        self.minutes == other.minutes
            && self.hours == other.hours
            && self.days_of_month == other.days_of_month
            && self.months == other.months
            && self.days_of_week == other.days_of_week
            && self.years == other.years
    }
}

impl Eq for Crontab {}

impl fmt::Debug for Crontab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crontab")
            .field("minutes", &self.minutes)
            .field("hours", &self.hours)
            .field("days_of_month", &self.days_of_month)
            .field("months", &self.months)
            .field("days_of_week", &self.days_of_week)
            .field("years", &self.years)
            .field("cron", &self.schedule.source())
            .finish()
    }
}

/// Parses a crontab string; same as [`Crontab::parse`].
pub fn parse(s: &str) -> Result<Crontab, CrontabError> {
    Crontab::parse(s)
}

/// The next `count` runs strictly after `now`.
///
/// Fails with the parse error, or with [`Crontab::validate`]'s error when the schedule never
/// fires after `now`. Fewer than `count` runs come back when the schedule ends (year 2099 or its
/// last listed year) before that many.
pub fn preview(
    s: &str,
    now: DateTime<Utc>,
    count: usize,
) -> Result<Vec<DateTime<Utc>>, CrontabError> {
    let crontab = Crontab::parse(s)?;
    crontab.validate(now)?;
    Ok(crontab.cron_runs_after(now).take(count).collect())
}
