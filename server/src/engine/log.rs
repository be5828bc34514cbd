//! Job logs: every line a job prints is stored as a numbered `job_events` row and pushed at once
//! to the live watchers (the server-sent-event streams) through one broadcast hub, together with
//! the jobs' status changes.
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect,
};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::entities::{job, job_event};

/// What watchers are told.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum JobUpdate {
    /// A new log line of a job.
    Line {
        job: i32,
        counter: i32,
        stdout: String,
    },
    /// A job's status changed (or it was created).
    Status {
        job: i32,
        status: String,
        failed: bool,
        job_type: String,
        started: Option<DateTime<Utc>>,
        finished: Option<DateTime<Utc>>,
        elapsed: f64,
        job_explanation: String,
    },
}

impl JobUpdate {
    pub fn job(&self) -> i32 {
        match self {
            JobUpdate::Line { job, .. } | JobUpdate::Status { job, .. } => *job,
        }
    }

    pub fn status_of(j: &job::Model) -> Self {
        JobUpdate::Status {
            job: j.id,
            status: j.status.clone(),
            failed: j.failed,
            job_type: j.job_type.clone(),
            started: j.started,
            finished: j.finished,
            elapsed: j.elapsed,
            job_explanation: j.job_explanation.clone(),
        }
    }
}

/// The broadcast of every job update of this process. A watcher too slow to keep up misses
/// lines (and is told so by the stream); the stored log stays complete.
#[derive(Clone)]
pub struct Hub(broadcast::Sender<JobUpdate>);

impl Default for Hub {
    fn default() -> Self {
        Self(broadcast::channel(4096).0)
    }
}

impl Hub {
    pub fn send(&self, update: JobUpdate) {
        // No watcher is not an error.
        let _ = self.0.send(update);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<JobUpdate> {
        self.0.subscribe()
    }
}

/// Lines kept before a write; also written at least every `FLUSH_EVERY`.
const FLUSH_LINES: usize = 500;
const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// The log of one running job.
pub struct JobLog {
    db: DatabaseConnection,
    hub: Hub,
    job_id: i32,
    counter: i32,
    pending: Vec<job_event::ActiveModel>,
    last_flush: Instant,
    /// Replaced by `[redacted]` should it ever show up in a line (borg never prints the
    /// passphrase; this is the second lock on the door).
    secrets: Vec<String>,
}

impl JobLog {
    /// Continues the job's log after its last stored line.
    pub async fn open(db: &DatabaseConnection, hub: &Hub, job_id: i32) -> anyhow::Result<Self> {
        let last: Option<Option<i32>> = job_event::Entity::find()
            .select_only()
            .column_as(job_event::Column::Counter.max(), "m")
            .filter(job_event::Column::JobId.eq(job_id))
            .into_tuple()
            .one(db)
            .await?;
        Ok(Self {
            db: db.clone(),
            hub: hub.clone(),
            job_id,
            counter: last.flatten().unwrap_or(0),
            pending: Vec::new(),
            last_flush: Instant::now(),
            secrets: Vec::new(),
        })
    }

    /// Never logs `secret` (ignored when shorter than 4 characters: redacting "a" everywhere
    /// would wreck the log and protect nothing).
    pub fn hide(&mut self, secret: &str) {
        if secret.chars().count() >= 4 {
            self.secrets.push(secret.to_string());
        }
    }

    pub fn line(&mut self, text: impl Into<String>) {
        let mut text: String = text.into();
        for s in &self.secrets {
            if text.contains(s.as_str()) {
                text = text.replace(s.as_str(), "[redacted]");
            }
        }
        self.counter += 1;
        self.hub.send(JobUpdate::Line {
            job: self.job_id,
            counter: self.counter,
            stdout: text.clone(),
        });
        self.pending.push(job_event::ActiveModel {
            job_id: Set(self.job_id),
            counter: Set(self.counter),
            stdout: Set(text),
            created: Set(crate::services::now()),
            ..Default::default()
        });
    }

    /// Writes the kept lines when there are many or they have waited long enough.
    pub async fn maybe_flush(&mut self) -> anyhow::Result<()> {
        if self.pending.len() >= FLUSH_LINES || self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush().await?;
        }
        Ok(())
    }

    pub async fn flush(&mut self) -> anyhow::Result<()> {
        self.last_flush = Instant::now();
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending);
        job_event::Entity::insert_many(rows).exec(&self.db).await?;
        Ok(())
    }
}
