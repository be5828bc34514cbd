use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A policy as it appears in the all-policies calendar.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CalendarPolicy {
    pub id: i32,
    pub name: String,
    pub policy_type: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CalendarSchedule {
    pub id: i32,
    pub name: String,
}

/// One enabled policy's runs in the asked month (`GET /api/v1/calendar/`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CalendarEntry {
    pub policy: CalendarPolicy,
    pub schedule: CalendarSchedule,
    pub runs: Vec<DateTime<Utc>>,
}

/// `POST /api/v1/schedules/preview/`: the next `count` runs of a crontab that is being typed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SchedulePreviewInput {
    pub crontab: Option<String>,
    /// How many runs, 1 to 100; 10 when absent.
    pub count: Option<i64>,
}

/// The dashboard's month grid (`services::calendar::month_view`): per day, how many runs each
/// enabled policy has, the first runs to list, and the conflicts (runs on the same repository
/// less than a minute apart). Counts, not every run: an every-minute policy has 44,640 runs in
/// a month, which the page must not have to draw.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CalendarMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// The weekday of the 1st, 0 = Monday.
    pub first_weekday: u32,
    /// The day of this month that is today (UTC), if it is this month.
    pub today: Option<u32>,
    /// The legend, in colour order; `MonthDay::per_policy` and `DayRun::policy` index it.
    pub policies: Vec<MonthPolicy>,
    /// One per day of the month, from the 1st.
    pub days: Vec<MonthDay>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MonthPolicy {
    pub id: i32,
    pub name: String,
    pub policy_type: String,
    pub schedule_name: String,
    pub repository_id: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MonthDay {
    pub day: u32,
    pub total: u64,
    /// Runs of this day that are in a conflict.
    pub conflicts: u64,
    /// Runs per policy, aligned with `CalendarMonth::policies`.
    pub per_policy: Vec<u64>,
    /// In time order: every run in a conflict and the earliest others, at most
    /// `DAY_RUNS_SHOWN` in all unless the conflicts alone are more.
    pub runs: Vec<DayRun>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DayRun {
    pub at: DateTime<Utc>,
    /// Index into `CalendarMonth::policies`.
    pub policy: usize,
    pub conflict: bool,
}

/// Runs a day of the month grid lists (the rest are counted).
pub const DAY_RUNS_SHOWN: usize = 50;
