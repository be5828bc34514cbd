//! `GET /api/v1/catalogs/{id}/download/`: one archived file's bytes, or a folder as a tar stream,
//! read out of the archive on the client that made it (the repository path is that client's,
//! or in pull mode served to it from this server) and streamed as it arrives (see `engine::download`). Superusers only: the catalog tells what
//! exists, a download gives the content.
use sea_orm::{EntityTrait, QueryFilter};

use super::Actor;
use crate::{
    engine::{borg, download},
    entities::{archive, catalog_entry, catalog_path, client, policy, repository},
    error::{Error, Result},
    state::AppState,
};

/// A download about to stream.
pub struct Download {
    pub filename: String,
    pub content_type: &'static str,
    /// Known for a file (its size in the catalog); a tar's is not.
    pub length: Option<u64>,
    pub body: download::ByteStream,
}

pub async fn download(st: &AppState, actor: &Actor, id: i64) -> Result<Download> {
    actor.require_superuser()?;
    let db = &st.db;
    let entry = catalog_entry::Entity::find()
        .filter(crate::catalog::entry_condition(id))
        .one(db)
        .await?
        .ok_or_else(Error::not_found)?;
    let path = catalog_path::Entity::find_by_id(entry.path_id)
        .one(db)
        .await?
        .ok_or_else(Error::not_found)?
        .path;
    let arch = archive::Entity::find_by_id(entry.archive_id)
        .one(db)
        .await?
        .ok_or_else(Error::not_found)?;
    let repo = repository::Entity::find_by_id(arch.repository_id)
        .one(db)
        .await?
        .ok_or_else(Error::not_found)?;
    let from = match arch.client_id {
        Some(c) => client::Entity::find_by_id(c).one(db).await?,
        None => None,
    }
    .ok_or_else(|| {
        Error::Conflict(
            "The client that made this archive was deleted; restore the files onto another client \
             instead (POST /api/v1/restore/)."
                .into(),
        )
    })?;
    let mode_pull = match arch.policy_id {
        Some(p) => policy::Entity::find_by_id(p)
            .one(db)
            .await?
            .is_some_and(|p| p.mode_pull),
        None => false,
    };
    let access = st
        .engine
        .access(&from, &repo, mode_pull)
        .await
        .map_err(|e| Error::Conflict(format!("Reading {path} from {}: {e}", arch.name)))?;
    let location = access.location.clone();
    let base = path.rsplit('/').next().unwrap_or(&path).to_string();
    let (argv, filename, content_type, length) = match entry.mode.chars().next() {
        Some('d') => (
            borg::export_tar(&location, &arch.name, &path),
            format!("{base}.tar"),
            "application/x-tar",
            None,
        ),
        Some('-') => (
            borg::extract_stdout(&location, &arch.name, &path),
            base,
            "application/octet-stream",
            u64::try_from(entry.size).ok(),
        ),
        _ => {
            return Err(Error::Conflict(format!(
                "{path} is neither a regular file nor a folder (mode {}); restore it instead.",
                entry.mode
            )));
        }
    };
    let body = download::start(&access.target, &argv, &access.passphrase, access.tunnel)
        .await
        .map_err(|e| Error::BadGateway(format!("Reading {path} from {}: {e}", arch.name)))?;
    Ok(Download {
        filename,
        content_type,
        length,
        body,
    })
}

/// `attachment` with an ASCII fallback name and the exact UTF-8 one (RFC 6266 / 5987).
pub fn content_disposition(filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_names() {
        assert_eq!(
            content_disposition("a b.txt"),
            "attachment; filename=\"a b.txt\"; filename*=UTF-8''a%20b.txt"
        );
        assert_eq!(
            content_disposition("ファイル \"1\".bin"),
            "attachment; filename=\"____ _1_.bin\"; filename*=UTF-8''%E3%83%95%E3%82%A1%E3%82%A4%E3%83%AB%20%221%22.bin"
        );
    }
}
