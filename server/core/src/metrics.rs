//! `/metrics` in Prometheus' text format, by the `prometheus` crate. Two kinds of series:
//! - counted by this process as things happen (jobs finished and their durations, scheduler
//!   lag, HTTP requests and latencies): they start at zero with the process, as counters do;
//! - read from the database at each scrape (health per policy and client, last success, jobs
//!   by status, repository sizes, open alerts, pending notifications, catalog entries): the
//!   same on every node.
use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use chrono::Utc;
use cyborg_dto::{HealthState, JobStatus, JobType};
use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QuerySelect, Statement,
};

use crate::{
    entities::{alert, job, notification_outbox, repository},
    services::health,
};

/// The series this process counts.
pub struct Metrics {
    registry: Registry,
    jobs_finished: IntCounterVec,
    job_duration: HistogramVec,
    scheduler_lag: Histogram,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    /// The catalog's row count is costly on a large catalog: read at most every `CATALOG_TTL`.
    catalog_entries: Mutex<Option<(Instant, i64)>>,
}

const CATALOG_TTL: Duration = Duration::from_secs(300);

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let jobs_finished = IntCounterVec::new(
            Opts::new(
                "cyborg_jobs_finished_total",
                "Jobs this process finished, by type and final status.",
            ),
            &["type", "status"],
        )
        .expect("valid metric");
        let job_duration = HistogramVec::new(
            HistogramOpts::new(
                "cyborg_job_duration_seconds",
                "Run time of the jobs this process finished, by type.",
            )
            .buckets(vec![
                1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0,
                86400.0,
            ]),
            &["type"],
        )
        .expect("valid metric");
        let scheduler_lag = Histogram::with_opts(
            HistogramOpts::new(
                "cyborg_scheduler_lag_seconds",
                "How long after its scheduled time this process launched a run.",
            )
            .buckets(vec![0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0]),
        )
        .expect("valid metric");
        let http_requests = IntCounterVec::new(
            Opts::new(
                "cyborg_http_requests_total",
                "HTTP requests answered, by method, route pattern and status.",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "cyborg_http_request_duration_seconds",
                "Time to answer HTTP requests (until the headers), by method and route pattern.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
            &["method", "route"],
        )
        .expect("valid metric");
        for c in [
            Box::new(jobs_finished.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(job_duration.clone()),
            Box::new(scheduler_lag.clone()),
            Box::new(http_requests.clone()),
            Box::new(http_duration.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        Self {
            registry,
            jobs_finished,
            job_duration,
            scheduler_lag,
            http_requests,
            http_duration,
            catalog_entries: Mutex::new(None),
        }
    }

    pub fn job_finished(&self, job_type: JobType, status: JobStatus, seconds: f64) {
        self.jobs_finished
            .with_label_values(&[job_type.as_str(), status.as_str()])
            .inc();
        self.job_duration
            .with_label_values(&[job_type.as_str()])
            .observe(seconds.max(0.0));
    }

    pub fn scheduler_lag(&self, seconds: f64) {
        self.scheduler_lag.observe(seconds.max(0.0));
    }

    /// `route`: the pattern the request matched (`/api/v1/jobs/{id}/`), never the raw path, so
    /// the series stay few whatever clients ask for.
    pub fn http_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.http_requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.http_duration
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// Every series, in the text exposition format.
    pub async fn render(&self, db: &DatabaseConnection) -> anyhow::Result<String> {
        let scrape = Registry::new();
        self.read_database(db, &scrape).await?;
        let mut families = self.registry.gather();
        families.extend(scrape.gather());
        let mut out = Vec::new();
        TextEncoder::new().encode(&families, &mut out)?;
        Ok(String::from_utf8(out)?)
    }

    async fn read_database(&self, db: &DatabaseConnection, reg: &Registry) -> anyhow::Result<()> {
        let now = Utc::now();
        let rows = health::rows(db, now).await?;
        let state = IntGaugeVec::new(
            Opts::new(
                "cyborg_health_state",
                "1 for the current health state of each policy and client, 0 for the others.",
            ),
            &["policy", "client", "state"],
        )?;
        let last_success = GaugeVec::new(
            Opts::new(
                "cyborg_backup_last_success_timestamp_seconds",
                "Unix time of the newest successful backup of each policy and client.",
            ),
            &["policy", "client"],
        )?;
        let late_after = GaugeVec::new(
            Opts::new(
                "cyborg_backup_late_after_timestamp_seconds",
                "Unix time from which each policy and client is late without a new success.",
            ),
            &["policy", "client"],
        )?;
        for r in &rows {
            for s in HealthState::NAMES {
                state
                    .with_label_values(&[r.policy_name.as_str(), r.client_hostname.as_str(), s])
                    .set(i64::from(r.state == *s));
            }
            if let Some(t) = r.last_success {
                last_success
                    .with_label_values(&[&r.policy_name, &r.client_hostname])
                    .set(t.timestamp() as f64);
            }
            if let Some(t) = r.late_after {
                late_after
                    .with_label_values(&[&r.policy_name, &r.client_hostname])
                    .set(t.timestamp() as f64);
            }
        }
        let jobs = IntGaugeVec::new(
            Opts::new("cyborg_jobs", "Jobs in the database, by type and status."),
            &["type", "status"],
        )?;
        let counts: Vec<(JobType, JobStatus, i64)> = job::Entity::find()
            .select_only()
            .column(job::Column::JobType)
            .column(job::Column::Status)
            .column_as(job::Column::Id.count(), "n")
            .group_by(job::Column::JobType)
            .group_by(job::Column::Status)
            .into_tuple()
            .all(db)
            .await?;
        for t in JobType::ALL {
            for s in JobStatus::ALL {
                jobs.with_label_values(&[t.as_str(), s.as_str()]).set(0);
            }
        }
        for (t, s, n) in counts {
            jobs.with_label_values(&[t.as_str(), s.as_str()]).set(n);
        }
        let repo_size = IntGaugeVec::new(
            Opts::new(
                "cyborg_repository_size_bytes",
                "Repository sizes from the last borg info: original, compressed, deduplicated.",
            ),
            &["repository", "kind"],
        )?;
        for r in repository::Entity::find().all(db).await? {
            for (kind, v) in [
                ("original", r.original_size),
                ("compressed", r.compressed_size),
                ("deduplicated", r.deduplicated_size),
            ] {
                repo_size.with_label_values(&[&r.name, kind]).set(v);
            }
        }
        let alerts = IntGaugeVec::new(
            Opts::new("cyborg_alerts_open", "Alerts not resolved, by kind."),
            &["kind"],
        )?;
        let open: Vec<(cyborg_dto::AlertKind, i64)> = alert::Entity::find()
            .select_only()
            .column(alert::Column::Kind)
            .column_as(alert::Column::Id.count(), "n")
            .filter(alert::Column::Resolved.is_null())
            .group_by(alert::Column::Kind)
            .into_tuple()
            .all(db)
            .await?;
        for k in cyborg_dto::AlertKind::NAMES {
            alerts.with_label_values(&[k]).set(0);
        }
        for (k, n) in open {
            alerts.with_label_values(&[k.as_str()]).set(n);
        }
        let pending = IntGauge::new(
            "cyborg_notifications_pending",
            "Notification messages not yet accepted by their channel.",
        )?;
        pending.set(
            notification_outbox::Entity::find()
                .filter(notification_outbox::Column::Sent.is_null())
                .count(db)
                .await? as i64,
        );
        let catalog = IntGauge::new(
            "cyborg_catalog_entries",
            "Rows of the file catalog (refreshed at most every 5 minutes).",
        )?;
        catalog.set(self.catalog_entries(db).await?);
        let pool = IntGaugeVec::new(
            Opts::new(
                "cyborg_db_pool_connections",
                "Database connections of this process's pool, by state.",
            ),
            &["state"],
        )?;
        let (size, idle) = pool_usage(db);
        pool.with_label_values(&["idle"]).set(idle);
        pool.with_label_values(&["in_use"]).set(size - idle);
        for c in [
            Box::new(state) as Box<dyn prometheus::core::Collector>,
            Box::new(last_success),
            Box::new(late_after),
            Box::new(jobs),
            Box::new(repo_size),
            Box::new(alerts),
            Box::new(pending),
            Box::new(catalog),
            Box::new(pool),
        ] {
            reg.register(c)?;
        }
        Ok(())
    }

    async fn catalog_entries(&self, db: &DatabaseConnection) -> anyhow::Result<i64> {
        if let Some((at, n)) = *self.catalog_entries.lock().expect("metrics lock")
            && at.elapsed() < CATALOG_TTL
        {
            return Ok(n);
        }
        let backend = db.get_database_backend();
        let row = db
            .query_one(Statement::from_string(
                backend,
                // Each archive records its item count at ingestion: no scan of the view.
                "SELECT CAST(COALESCE(SUM(entries), 0) AS BIGINT) FROM archives",
            ))
            .await?;
        let n: i64 = row.map(|r| r.try_get_by_index(0)).transpose()?.unwrap_or(0);
        *self.catalog_entries.lock().expect("metrics lock") = Some((Instant::now(), n));
        Ok(n)
    }
}

/// (connections open, of which idle) in the database pool.
fn pool_usage(db: &DatabaseConnection) -> (i64, i64) {
    match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let p = db.get_postgres_connection_pool();
            (i64::from(p.size()), p.num_idle() as i64)
        }
        DatabaseBackend::Sqlite => {
            let p = db.get_sqlite_connection_pool();
            (i64::from(p.size()), p.num_idle() as i64)
        }
        _ => (0, 0),
    }
}
