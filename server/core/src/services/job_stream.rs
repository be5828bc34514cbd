//! The live view of jobs for server-sent events: for one job, its stored log lines after a given
//! counter, then new lines and status changes as they happen, ending when the job is over; for
//! all jobs, every status change (and the lines this process sees).
//!
//! Lines come from the engine's hub the moment they are printed; the database is also read
//! every `POLL` so that a job run by another server process, or lines a slow watcher missed
//! from the hub, still arrive — in order and once each (deduplicated by counter), at most
//! `LINES_PER_READ` at a time (a million-line log is never held whole).
//!
//! Every stream belongs to a [`Watch`]: the credentials that opened it are checked again every
//! few seconds and the stream ends once they no longer authenticate the same user (logged out,
//! session expired, password changed, token revoked); and a user holds at most
//! `MAX_STREAMS_PER_USER` streams at once (429 beyond).
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt, stream};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};

use super::{
    Actor,
    auth::{self, Credentials},
    find,
};
use crate::{
    engine::JobUpdate,
    entities::{job, job_event},
    error::{Error, Result},
    state::AppState,
};

const POLL: Duration = Duration::from_secs(1);
/// Most stored lines read (and sent) at a time.
const LINES_PER_READ: u64 = 1000;
/// How often a stream's credentials are checked again.
const RECHECK: Duration = Duration::from_secs(5);
/// Live streams one user may hold open at once.
pub const MAX_STREAMS_PER_USER: usize = 8;

/// The open streams of each user (see [`Watch`]).
#[derive(Default)]
pub struct StreamSlots(Mutex<HashMap<i32, usize>>);

/// One of a user's stream slots, given back when the stream ends (dropped).
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    user: i32,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.0.lock().expect("stream slots lock");
        if let Some(n) = open.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.user);
            }
        }
    }
}

/// Who a stream is for: re-checked every `RECHECK`, holding one of their stream slots.
pub struct Watch {
    st: AppState,
    credentials: Credentials,
    user: i32,
    checked: Instant,
    _slot: StreamSlot,
}

impl Watch {
    /// Takes a stream slot of the user `credentials` authenticated as `actor` (429 when they
    /// hold the most already).
    pub fn new(st: &AppState, actor: &Actor, credentials: Credentials) -> Result<Self> {
        let user = actor.id();
        {
            let mut open = st.streams.0.lock().expect("stream slots lock");
            let n = open.entry(user).or_default();
            if *n >= MAX_STREAMS_PER_USER {
                return Err(Error::TooManyRequests {
                    retry_after: 5,
                    message: format!(
                        "At most {MAX_STREAMS_PER_USER} live streams per user at once; close one."
                    ),
                });
            }
            *n += 1;
        }
        Ok(Self {
            st: st.clone(),
            credentials,
            user,
            checked: Instant::now(),
            _slot: StreamSlot {
                slots: st.streams.clone(),
                user,
            },
        })
    }

    /// Whether the credentials still authenticate the same user (checked at most every
    /// `RECHECK`).
    async fn allowed(&mut self) -> bool {
        if self.checked.elapsed() < RECHECK {
            return true;
        }
        self.checked = Instant::now();
        auth::resolve(&self.st, self.credentials.clone())
            .await
            .is_ok_and(|a| a.id() == self.user)
    }
}

/// One server-sent event: `event:` name, optional `id:` (the line counter), JSON `data:`.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    pub event: &'static str,
    pub id: Option<String>,
    pub data: String,
}

struct OneJob {
    st: AppState,
    watch: Watch,
    id: i32,
    rx: broadcast::Receiver<JobUpdate>,
    last_counter: i32,
    last_status: Option<(cyborg_dto::JobStatus, DateTime<Utc>)>,
    done: bool,
}

/// The stream of job `id`, starting after line `after` (0: the whole log).
pub async fn one(
    st: &AppState,
    watch: Watch,
    id: i32,
    after: i32,
) -> Result<impl Stream<Item = StreamEvent> + Send + 'static> {
    find::<job::Entity>(&st.db, id).await?;
    // Subscribe before reading the database: nothing printed in between is lost.
    let state = OneJob {
        watch,
        rx: st.engine.hub.subscribe(),
        st: st.clone(),
        id,
        last_counter: after.max(0),
        last_status: None,
        done: false,
    };
    Ok(stream::unfold(state, |mut s| async move {
        if s.done || !s.watch.allowed().await {
            return None;
        }
        let events = s.next_batch().await;
        Some((events, s))
    })
    .flat_map(stream::iter))
}

impl OneJob {
    /// Catches up from the database, then waits for the hub or the poll interval.
    async fn next_batch(&mut self) -> Vec<StreamEvent> {
        let mut out = self.catch_up().await;
        if self.done || !out.is_empty() {
            return out;
        }
        let wait = tokio::time::sleep(POLL);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                _ = &mut wait => return self.catch_up().await,
                u = self.rx.recv() => match u {
                    Ok(JobUpdate::Line { job, counter, stdout }) if job == self.id => {
                        if counter == self.last_counter + 1 {
                            self.last_counter = counter;
                            out.push(line_event(counter, &stdout));
                            return out;
                        }
                        // A gap (lines not yet seen): the database fills it.
                        return self.catch_up().await;
                    }
                    Ok(JobUpdate::Status { job, .. }) if job == self.id => {
                        return self.catch_up().await;
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => return self.catch_up().await,
                    Err(RecvError::Closed) => return self.catch_up().await,
                },
            }
        }
    }

    /// Stored lines after the last sent (a batch at most: the next call goes on), and the
    /// status when it changed.
    async fn catch_up(&mut self) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        let lines = job_event::Entity::find()
            .filter(job_event::Column::JobId.eq(self.id))
            .filter(job_event::Column::Counter.gt(self.last_counter))
            .order_by_asc(job_event::Column::Counter)
            .limit(LINES_PER_READ)
            .all(&self.st.db)
            .await;
        if let Ok(lines) = lines {
            let full = lines.len() as u64 == LINES_PER_READ;
            for l in lines {
                if l.counter > self.last_counter {
                    self.last_counter = l.counter;
                    out.push(line_event(l.counter, &l.stdout));
                }
            }
            if full {
                // More stored lines to send first; the status follows them.
                return out;
            }
        }
        match job::Entity::find_by_id(self.id).one(&self.st.db).await {
            Ok(Some(j)) => {
                let key = (j.status, j.modified);
                if self.last_status.as_ref() != Some(&key) {
                    self.last_status = Some(key);
                    out.push(status_event(&JobUpdate::status_of(&j)));
                }
                if j.status.is_finished() {
                    // Over: the last lines were written before the status; end the stream.
                    self.done = true;
                }
            }
            Ok(None) => {
                out.push(StreamEvent {
                    event: "deleted",
                    id: None,
                    data: json!({"job": self.id}).to_string(),
                });
                self.done = true;
            }
            Err(_) => {}
        }
        out
    }
}

struct AllJobs {
    st: AppState,
    watch: Watch,
    rx: broadcast::Receiver<JobUpdate>,
    since: DateTime<Utc>,
}

/// Every job update: status changes (also of jobs run by other processes, through the poll)
/// and the lines of the jobs this process runs.
pub async fn all(
    st: &AppState,
    watch: Watch,
) -> Result<impl Stream<Item = StreamEvent> + Send + 'static> {
    let state = AllJobs {
        watch,
        rx: st.engine.hub.subscribe(),
        st: st.clone(),
        since: super::now(),
    };
    Ok(stream::unfold(state, |mut s| async move {
        if !s.watch.allowed().await {
            return None;
        }
        let events = s.next_batch().await;
        Some((events, s))
    })
    .flat_map(stream::iter))
}

impl AllJobs {
    async fn next_batch(&mut self) -> Vec<StreamEvent> {
        tokio::select! {
            u = self.rx.recv() => match u {
                Ok(u @ JobUpdate::Status { .. }) => vec![status_event(&u)],
                Ok(JobUpdate::Line { job, counter, stdout }) => vec![StreamEvent {
                    event: "line",
                    id: None,
                    data: json!({"job": job, "counter": counter, "stdout": stdout}).to_string(),
                }],
                Err(RecvError::Lagged(n)) => vec![StreamEvent {
                    event: "lagged",
                    id: None,
                    data: json!({"missed": n}).to_string(),
                }],
                Err(RecvError::Closed) => {
                    tokio::time::sleep(POLL).await;
                    Vec::new()
                }
            },
            _ = tokio::time::sleep(POLL * 2) => self.poll().await,
        }
    }

    /// Status changes written by other processes since the last poll.
    async fn poll(&mut self) -> Vec<StreamEvent> {
        let Ok(rows) = job::Entity::find()
            .filter(job::Column::Modified.gt(self.since))
            .filter(job::Column::RunnerNode.ne(self.st.engine.node_id().unwrap_or("").to_string()))
            .order_by_asc(job::Column::Modified)
            .all(&self.st.db)
            .await
        else {
            return Vec::new();
        };
        if let Some(last) = rows.last() {
            self.since = last.modified;
        }
        rows.iter()
            .map(|j| status_event(&JobUpdate::status_of(j)))
            .collect()
    }
}

fn line_event(counter: i32, stdout: &str) -> StreamEvent {
    StreamEvent {
        event: "line",
        id: Some(counter.to_string()),
        data: json!({"counter": counter, "stdout": stdout}).to_string(),
    }
}

fn status_event(u: &JobUpdate) -> StreamEvent {
    StreamEvent {
        event: "status",
        id: None,
        data: serde_json::to_string(u).unwrap_or_default(),
    }
}
