use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A policy as it appears in the all-policies calendar.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CalendarPolicy {
    pub id: i32,
    pub name: String,
    pub policy_type: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CalendarSchedule {
    pub id: i32,
    pub name: String,
}

/// One enabled policy's runs in the asked month (`GET /api/v1/calendar/`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CalendarEntry {
    pub policy: CalendarPolicy,
    pub schedule: CalendarSchedule,
    pub runs: Vec<DateTime<Utc>>,
}

/// `POST /api/v1/schedules/preview/`: the next `count` runs of a crontab that is being typed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SchedulePreviewInput {
    pub crontab: Option<String>,
    /// How many runs, 1 to 100; 10 when absent.
    pub count: Option<i64>,
}
