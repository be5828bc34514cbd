//! The jobs pages' reads that are more than one service call: a job with the end of its log,
//! and the names the jobs list filters by.
use app::{
    dto::{JOB_LOG_LINES, JobView},
    resources::Choices,
};

use super::{
    query,
    resources::{client_choices, pickable, pickable_query},
};
use crate::{
    error::Result,
    services::{Actor, jobs, policies},
    state::AppState,
};

/// The job and its last `JOB_LOG_LINES` lines, read newest first in one query so the last
/// counter is the one of the lines answered (the browser follows the log after it).
pub async fn view(st: &AppState, actor: &Actor, id: i32) -> Result<JobView> {
    let job = jobs::get(st, actor, id).await?;
    let req = query(
        &format!("/api/v1/jobs/{id}/events/"),
        &[
            ("order_by", "-counter".into()),
            ("page_size", JOB_LOG_LINES.to_string()),
        ],
    );
    let page = jobs::events(st, actor, id, &req).await?;
    let last_counter = page.results.first().map(|e| e.counter).unwrap_or(0);
    let lines = page.results.into_iter().rev().map(|e| e.stdout).collect();
    Ok(JobView {
        job,
        lines,
        last_counter,
        total_lines: page.count,
    })
}

/// The policies (`policy`) and clients (`client`) by name, for the jobs list's filters.
pub async fn filters(st: &AppState, actor: &Actor) -> Result<Choices> {
    let mut out = Choices::new();
    let ps = policies::list(st, actor, &pickable_query("/api/v1/policies/", "name")).await?;
    out.insert(
        "policy".into(),
        pickable(ps.results.into_iter().map(|p| (p.id, p.name))),
    );
    out.insert("client".into(), client_choices(st, actor).await?);
    Ok(out)
}
