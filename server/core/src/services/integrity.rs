//! Integrity checks: `POST /api/v1/repositories/{id}/integrity/` makes an `integrity`
//! job — `borg check` of the repository, then a restore test of a sample of the newest archive
//! of a policy (see `engine::exec::integrity`).
use cyborg_dto::{IntegrityInput, Launched};

use super::{Actor, find, referenced, validate::Check};
pub use crate::engine::plans::{DEFAULT_SAMPLE, IntegrityParams, MAX_SAMPLE, plan};
use crate::{
    engine::launch::{self, LaunchType},
    entities::{policy, repository},
    error::Result,
    state::AppState,
};

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
        Some(id) => {
            match referenced::<policy::Entity>(&mut c, &st.db, "policy", "Policy", id).await? {
                Some(p) if p.repository_id == repo.id => Some(p),
                Some(_) => {
                    c.error("policy", "This policy backs up into another repository.");
                    None
                }
                None => None,
            }
        }
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
