//! The payloads of restore and integrity jobs (what they keep in `jobs.extra_vars`) and the
//! planner of an integrity job, shared by the services (a request) and the scheduler (a
//! repository's integrity schedule).
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};

use super::launch::{JobType, LaunchType, SingleJob};
use crate::{
    entities::{archive, client, policy, policy_client, repository},
    error::{Error, Result},
};

/// What a restore job keeps in `jobs.extra_vars`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreParams {
    pub dest_folder: String,
    /// Archive paths, without a leading `/`; empty: the whole archive.
    pub items: Vec<String>,
    pub dry_run: bool,
}

/// Files sampled when the request names no number.
pub const DEFAULT_SAMPLE: u32 = 20;
pub const MAX_SAMPLE: u32 = 1000;

/// What an integrity job keeps in `jobs.extra_vars`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrityParams {
    pub sample: u32,
    pub verify_data: bool,
}

/// The integrity job of `repo` (shared by the API and the scheduler): the newest archive of
/// `chosen` (else of the repository) is sampled, on a client that reaches the repository.
pub async fn plan(
    db: &impl ConnectionTrait,
    repo: &repository::Model,
    chosen: Option<policy::Model>,
    params: IntegrityParams,
    user: Option<i32>,
    launch_type: LaunchType,
) -> Result<SingleJob> {
    // The archive to sample: the newest of the chosen policy, else the newest of the repository.
    let mut q = archive::Entity::find().filter(archive::Column::RepositoryId.eq(repo.id));
    if let Some(p) = &chosen {
        q = q.filter(archive::Column::PolicyId.eq(p.id));
    }
    let newest = q
        .order_by_desc(archive::Column::Created)
        .order_by_desc(archive::Column::Id)
        .one(db)
        .await?;
    // borg runs on a client that reaches the repository (its path is that client's): the one
    // that made the archive, else an enabled client of a policy on this repository.
    let mut runner = match newest.as_ref().and_then(|a| a.client_id) {
        Some(id) => client::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    if runner.is_none() {
        let policies: Vec<i32> = match &chosen {
            Some(p) => vec![p.id],
            None => policy::Entity::find()
                .filter(policy::Column::RepositoryId.eq(repo.id))
                .all(db)
                .await?
                .into_iter()
                .map(|p| p.id)
                .collect(),
        };
        let ids: Vec<i32> = policy_client::Entity::find()
            .filter(policy_client::Column::PolicyId.is_in(policies))
            .all(db)
            .await?
            .into_iter()
            .map(|l| l.client_id)
            .collect();
        runner = client::Entity::find()
            .filter(client::Column::Id.is_in(ids))
            .filter(client::Column::Enabled.eq(true))
            .order_by_asc(client::Column::Id)
            .one(db)
            .await?;
    }
    let Some(runner) = runner else {
        return Err(Error::Conflict(
            "No client reaches this repository: no policy with an enabled client backs up into \
             it."
            .into(),
        ));
    };
    let archive_name = newest.as_ref().map(|a| a.name.clone()).unwrap_or_default();
    Ok(SingleJob {
        name: format!("Integrity check {} on {}", repo.name, runner.hostname),
        job_type: JobType::Integrity,
        policy: chosen.map(|p| p.id).or(newest.and_then(|a| a.policy_id)),
        client: runner.id,
        repository: repo.id,
        archive_name,
        params: serde_json::to_string(&params).expect("plain data serializes"),
        user,
        launch_type,
        explanation: String::new(),
    })
}
