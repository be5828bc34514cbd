//! Restore: `POST /api/v1/restore/` makes a `restore` job that runs `borg extract` on a
//! client, into a folder there. Everything is checked here, before the job exists; the engine
//! (`engine::exec`) only runs it.
use cyborg_dto::{Launched, RestoreInput};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

pub use crate::engine::plans::RestoreParams;

use super::{
    Actor, referenced,
    validate::{self, Check, REQUIRED},
};
use crate::{
    engine::launch::{self, LaunchType, SingleJob},
    entities::{archive, client},
    error::{Error, Result},
    state::AppState,
};

/// Most items one restore names (a whole folder is one item).
const MAX_ITEMS: usize = 10_000;

/// Checks the request and makes the job (superuser). 201 `{"job", "jobs": [job]}`.
pub async fn restore(st: &AppState, actor: &Actor, input: RestoreInput) -> Result<Launched> {
    actor.require_superuser()?;
    let mut c = Check::new();
    let name = input
        .archive_name
        .as_deref()
        .map(|n| c.line("archive_name", n, 255, false));
    if name.is_none() {
        c.error("archive_name", REQUIRED);
    }
    let mut arch = None;
    if let Some(n) = name.filter(|_| !c.has("archive_name")) {
        let mut q = archive::Entity::find().filter(archive::Column::Name.eq(n.clone()));
        if let Some(r) = input.repository {
            q = q.filter(archive::Column::RepositoryId.eq(r));
        }
        let found = q.all(&st.db).await?;
        match found.len() {
            0 => c.error("archive_name", format!("No archive is named {n:?}.")),
            1 => arch = found.into_iter().next(),
            _ => c.error(
                "repository",
                "Archives of this name exist in several repositories; give the repository.",
            ),
        }
    }
    let dest = match input.client {
        None => {
            c.error("client", REQUIRED);
            None
        }
        Some(id) => referenced::<client::Entity>(&mut c, &st.db, "client", "Client", id).await?,
    };
    let dest_folder = match input.dest_folder.as_deref() {
        None => {
            c.error("dest_folder", REQUIRED);
            String::new()
        }
        Some(d) => {
            c.rule("dest_folder", dest_folder(d));
            d.to_string()
        }
    };
    let mut items = Vec::new();
    for (i, it) in input.items.clone().unwrap_or_default().iter().enumerate() {
        match item(it) {
            Ok(p) => items.push(p),
            Err(m) => c.error("items", format!("Item {}: {m}", i + 1)),
        }
    }
    if items.len() > MAX_ITEMS {
        c.error(
            "items",
            format!("At most {MAX_ITEMS} items; restore their folder instead."),
        );
    }
    c.finish()?;
    let (Some(arch), Some(dest)) = (arch, dest) else {
        // Each None recorded a field error, which `finish` answered.
        return Err(Error::field("archive_name", REQUIRED));
    };
    let params = RestoreParams {
        dest_folder,
        items,
        dry_run: input.dry_run.unwrap_or(false),
    };
    let id = launch::single(
        &st.engine,
        SingleJob {
            name: format!(
                "Restore {} to {}:{}",
                arch.name, dest.hostname, params.dest_folder
            ),
            job_type: cyborg_dto::JobType::Restore,
            policy: arch.policy_id,
            client: dest.id,
            repository: arch.repository_id,
            archive_name: arch.name,
            params: serde_json::to_string(&params).expect("plain data serializes"),
            user: Some(actor.id()),
            launch_type: LaunchType::Manual,
            explanation: String::new(),
        },
    )
    .await?;
    Ok(Launched {
        job: id,
        jobs: vec![id],
    })
}

/// An absolute folder without `.`/`..` components: what is restored stays below it.
fn dest_folder(d: &str) -> std::result::Result<(), String> {
    validate::absolute_path(d)?;
    if d.split('/').any(|part| part == ".." || part == ".") {
        return Err("'.' and '..' are not allowed in the destination folder.".into());
    }
    Ok(())
}

/// An archive path as the catalog shows it (a leading `/` is dropped): no `..` (nothing may land
/// outside the destination), no control characters.
fn item(p: &str) -> std::result::Result<String, String> {
    let p = p.trim_start_matches('/');
    if p.is_empty() {
        return Err("an empty path; leave items out to restore everything.".into());
    }
    if p.chars().any(char::is_control) {
        return Err("control characters (such as newlines) are not allowed.".into());
    }
    if p.split('/').any(|part| part == "..") {
        return Err(format!("{p:?}: '..' is not allowed."));
    }
    Ok(p.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_and_destinations() {
        assert_eq!(item("/srv/www/a b").unwrap(), "srv/www/a b");
        assert_eq!(item("etc").unwrap(), "etc");
        for bad in ["", "/", "../etc", "srv/../../etc", "a\nb", "a/.."] {
            assert!(item(bad).is_err(), "{bad:?}");
        }
        assert!(dest_folder("/restore/here").is_ok());
        assert!(dest_folder("/").is_ok());
        for bad in ["relative", "/a/../b", "/a/./b", "/a\nb"] {
            assert!(dest_folder(bad).is_err(), "{bad:?}");
        }
    }
}
