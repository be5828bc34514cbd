//! The nodes of this database (`GET /api/v1/nodes/`, the dashboard's Nodes page).
use std::collections::HashMap;

use cyborg_dto::{JobStatus, Node, Page};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::Actor;
use crate::{
    engine::cluster,
    entities::{job, node},
    error::{Error, Result},
    state::AppState,
};

/// Every node, live ones first (alive, draining, then stopped and dead), by id within each.
pub async fn list(st: &AppState, _actor: &Actor) -> Result<Page<Node>> {
    let now = cluster::db_now(&st.db).await.map_err(Error::Internal)?;
    let rows = node::Entity::find()
        .order_by_asc(node::Column::Id)
        .all(&st.db)
        .await?;
    let mut running: HashMap<String, u64> = HashMap::new();
    for j in job::Entity::find()
        .filter(job::Column::Status.eq(JobStatus::Running))
        .all(&st.db)
        .await?
    {
        *running.entry(j.runner_node).or_default() += 1;
    }
    let mut results: Vec<Node> = rows
        .into_iter()
        .map(|n| Node {
            heartbeat_age: ((now - n.heartbeat).num_milliseconds() as f64 / 1000.0).max(0.0),
            running: running.get(&n.id).copied().unwrap_or(0),
            labels: n
                .labels
                .split(',')
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
            id: n.id,
            hostname: n.hostname,
            version: n.version,
            started: n.started,
            heartbeat: n.heartbeat,
            capacity: n.capacity,
            state: n.state,
            taken_over_by: n.taken_over_by,
            taken_over: n.taken_over,
        })
        .collect();
    let rank = |s: &str| match s {
        cluster::ALIVE => 0,
        cluster::DRAINING => 1,
        cluster::STOPPED => 2,
        _ => 3,
    };
    results.sort_by_key(|n| rank(&n.state));
    Ok(Page {
        count: results.len() as u64,
        next: None,
        previous: None,
        results,
    })
}
