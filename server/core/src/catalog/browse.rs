//! Browsing one directory of an archive's catalog, a page at a time.

use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait};

use super::{entry_id, hash, placeholder, stmt};
use crate::entities::archive;

/// One item of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub id: i64,
    pub path: String,
    pub mode: String,
    pub size: i64,
    pub owner: String,
    pub group: String,
    pub mtime: Option<chrono::DateTime<chrono::Utc>>,
    pub healthy: bool,
}

/// The items directly inside `dir` (`""` for the top level) in one archive, by path: an index
/// range of the `(parent_hash, path_hash)` index, with the parent re-checked so a hash collision
/// cannot leak in, each path's version in the archive found through `(path_id, lineage_id)`.
pub async fn browse(
    db: &DatabaseConnection,
    archive_id: i32,
    dir: &str,
    after: &str,
    limit: usize,
) -> anyhow::Result<(Vec<DirEntry>, Option<String>)> {
    let Some(archive) = archive::Entity::find_by_id(archive_id).one(db).await? else {
        return Ok((Vec::new(), None));
    };
    let (Some(lineage), Some(seq)) = (archive.lineage_id, archive.lineage_seq) else {
        return Ok((Vec::new(), None));
    };
    let backend = db.get_database_backend();
    let dir = dir.trim_end_matches('/');
    // CROSS JOIN: SQLite must start from the directory's paths, not the lineage's versions.
    let mut sql = String::from(
        "SELECT p.id, p.path, v.mode, v.size, v.owner, v.\"group\", v.mtime, v.healthy \
         FROM catalog_paths p CROSS JOIN catalog_versions v WHERE p.parent_hash = ",
    );
    placeholder(&mut sql, backend, 1);
    sql.push_str(" AND v.path_id = p.id AND v.lineage_id = ");
    placeholder(&mut sql, backend, 2);
    sql.push_str(" AND v.first_seq <= ");
    placeholder(&mut sql, backend, 3);
    sql.push_str(" AND v.last_seq >= ");
    placeholder(&mut sql, backend, 3);
    sql.push_str(" AND p.path > ");
    placeholder(&mut sql, backend, 4);
    sql.push_str(&format!(" ORDER BY p.path LIMIT {}", limit + 1));
    let values = vec![
        hash::dir_hash(dir).into(),
        lineage.into(),
        seq.into(),
        after.to_string().into(),
    ];
    let mut rows = db.query_all(stmt(backend, &sql, values)).await?;
    // One row more than a page says whether there is a next page, which starts after the
    // page's last row (a path whose hash only collides with the directory's counts too).
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last()
            .map(|r| r.try_get_by_index::<String>(1))
            .transpose()?
    } else {
        None
    };
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let path: String = row.try_get_by_index(1)?;
        if hash::parent_of(&path) != dir {
            continue;
        }
        out.push(DirEntry {
            id: entry_id(archive_id, row.try_get_by_index(0)?),
            path,
            mode: row.try_get_by_index(2)?,
            size: row.try_get_by_index(3)?,
            owner: row.try_get_by_index(4)?,
            group: row.try_get_by_index(5)?,
            mtime: row.try_get_by_index(6)?,
            healthy: row.try_get_by_index(7)?,
        });
    }
    Ok((out, next))
}
