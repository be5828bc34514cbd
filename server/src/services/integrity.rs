//! Integrity checks (issue 6): `POST /api/v1/repositories/{id}/integrity/` makes an `integrity`
//! job — `borg check` of the repository, then a restore test of a sample of the newest archive
//! of a policy (see `engine::exec::integrity`).
use app::dto::{IntegrityInput, Launched};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};

use super::{Actor, find, validate::Check};
use crate::{
    engine::launch::{self, LaunchType, SingleJob},
    entities::{archive, client, policy, policy_client, repository},
    error::{Error, Result},
    state::AppState,
};

/// Files sampled when the request names no number.
pub const DEFAULT_SAMPLE: u32 = 20;
pub const MAX_SAMPLE: u32 = 1000;

/// What an integrity job keeps in `jobs.extra_vars`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrityParams {
    pub sample: u32,
    pub verify_data: bool,
}

pub async fn launch(
    st: &AppState,
    actor: &Actor,
    repository_id: i32,
    input: IntegrityInput,
) -> Result<Launched> {
    actor.require_superuser()?;
    let repo = find::<repository::Entity>(&st.db, repository_id).await?;
    let mut c = Check::new();
    let sample = input.sample.unwrap_or(DEFAULT_SAMPLE);
    if sample > MAX_SAMPLE {
        c.error("sample", format!("At most {MAX_SAMPLE} files."));
    }
    let chosen = match input.policy {
        Some(id) => match policy::Entity::find_by_id(id).one(&st.db).await? {
            Some(p) if p.repository_id == repo.id => Some(p),
            Some(_) => {
                c.error("policy", "This policy backs up into another repository.");
                None
            }
            None => {
                c.error("policy", format!("Policy {id} does not exist."));
                None
            }
        },
        None => None,
    };
    c.finish()?;
    let params = IntegrityParams {
        sample,
        verify_data: input.verify_data.unwrap_or(false),
    };
    let job = plan(
        &st.db,
        &repo,
        chosen,
        params,
        Some(actor.id()),
        LaunchType::Manual,
    )
    .await?;
    let id = launch::single(&st.engine, job).await?;
    Ok(Launched {
        job: id,
        jobs: vec![id],
    })
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
        job_type: "integrity",
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
