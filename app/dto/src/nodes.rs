//! The server processes that run jobs on one database (`GET /api/v1/nodes/`).
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One node: who it is, when it last beat, how many jobs it takes at once and runs now.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Node {
    pub id: String,
    pub hostname: String,
    pub version: String,
    pub started: DateTime<Utc>,
    pub heartbeat: DateTime<Utc>,
    /// Seconds since the heartbeat, by the database's clock.
    pub heartbeat_age: f64,
    /// Jobs it runs at once at most (`CYBORG_MAX_JOBS`).
    pub capacity: i32,
    pub labels: Vec<String>,
    /// `alive`, `draining` (stopping after SIGTERM), `stopped` (cleanly) or `dead` (taken over).
    pub state: String,
    /// Jobs running on it now.
    pub running: u64,
    /// The node that took over its jobs when it stopped answering, and when.
    pub taken_over_by: Option<String>,
    pub taken_over: Option<DateTime<Utc>>,
}
