//! The time and the identifiers every write stamps: a leaf module that the services, the engine
//! and the catalog all use, so none of them reaches into another for it.
use chrono::{DateTime, DurationRound, TimeDelta, Utc};

/// Now, at the microsecond precision both databases store, so an answer and a later read agree.
pub fn now() -> DateTime<Utc> {
    let t = Utc::now();
    t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t)
}

/// A new random identifier (UUID v4), as objects carry in `uuid`.
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}
