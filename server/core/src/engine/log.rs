//! Job logs: every line a job prints is stored as a numbered `job_events` row and pushed at once
//! to the live watchers (the server-sent-event streams) through one broadcast hub, together with
//! the jobs' status changes.
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use cyborg_dto::{JobStatus, JobType};
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
        status: JobStatus,
        failed: bool,
        job_type: JobType,
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
            status: j.status,
            failed: j.failed,
            job_type: j.job_type,
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

/// Shortest secret (passphrase, database password) accepted when saved.
pub const MIN_SECRET: usize = 4;

/// `text` with `secret` replaced; a secret shorter than [`MIN_SECRET`] (stored before that
/// rule) only where it stands as a word of its own, not inside every word that contains it.
fn redact_one(text: &str, secret: &str) -> String {
    if secret.chars().count() >= MIN_SECRET {
        return text.replace(secret, "[redacted]");
    }
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (i, _) in text.match_indices(secret) {
        let end = i + secret.len();
        if i < last || word(text[..i].chars().next_back()) || word(text[end..].chars().next()) {
            continue;
        }
        out.push_str(&text[last..i]);
        out.push_str("[redacted]");
        last = end;
    }
    out.push_str(&text[last..]);
    out
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

    /// Never logs `secret`. Secrets shorter than [`MIN_SECRET`] are refused when saved
    /// (redacting "a" everywhere would wreck the log and protect nothing); one stored before
    /// that rule is still redacted, whole words only.
    pub fn hide(&mut self, secret: &str) {
        if !secret.is_empty() {
            self.secrets.push(secret.to_string());
        }
    }

    /// `text` with every secret of this job replaced by `[redacted]`: the one redaction of
    /// everything stored about a job (its lines and its explanation).
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_string();
        for s in &self.secrets {
            if text.contains(s.as_str()) {
                text = redact_one(&text, s);
            }
        }
        text
    }

    pub fn line(&mut self, text: impl Into<String>) {
        let text = self.redact(&text.into());
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
            created: Set(crate::stamps::now()),
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

#[cfg(test)]
mod tests {
    use super::redact_one;

    #[test]
    fn secrets_are_redacted_short_ones_as_words_only() {
        assert_eq!(
            redact_one("pw=s3cret! s3cret", "s3cret"),
            "pw=[redacted]! [redacted]"
        );
        assert_eq!(
            redact_one("abc abcd xabc abc", "abc"),
            "[redacted] abcd xabc [redacted]"
        );
        assert_eq!(redact_one("key=ab.", "ab"), "key=[redacted].");
    }
}
