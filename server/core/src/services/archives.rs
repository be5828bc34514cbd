//! Archives: `GET /api/v1/archives/` (filters, ordering), the detail with borg's own view
//! (`borg info --json`), rename and delete (superusers; the repository held so that no job
//! runs on it meanwhile, never an append-only repository's), the diff of two archives of one
//! repository, and the import of archives the server did not make (`foreign`).
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use cyborg_dto::{
    Archive, ArchiveBorgInfo, ArchiveDiff, ArchiveInput, ArchivesImported, DiffEntry, Page,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect, Set,
};

use super::{
    Actor, find,
    list::{self, Field, Kind, ListRequest, Plan},
    resource::{self, Resource},
};
use crate::{
    catalog,
    engine::{
        borg, direct, hold,
        launch::{self, JobType, LaunchType, SingleJob},
    },
    entities::{archive, catalog_entry, catalog_path, client, repository},
    error::{Error, Result},
    state::AppState,
};

const T: &str = "archives";
pub const FIELDS: &[Field] = &[
    Field::new("id", T, "id", Kind::Int),
    Field::new("name", T, "name", Kind::Text).searchable(),
    Field::new("repository", T, "repository_id", Kind::Int),
    Field::new("policy", T, "policy_id", Kind::Int),
    Field::new("client", T, "client_id", Kind::Int),
    Field::new("job", T, "job_id", Kind::Int),
    Field::new("created", T, "created", Kind::DateTime),
    Field::new("foreign", T, "foreign", Kind::Bool),
    Field::new("entries", T, "entries", Kind::Int),
];

/// How long borg gets for a detail or a diff (a diff of large archives reads both).
const READ_LIMIT: Duration = Duration::from_secs(300);
/// How long borg gets for a rename or a delete (with `borg compact`).
const CHANGE_LIMIT: Duration = Duration::from_secs(600);

pub struct Archives;

impl Resource for Archives {
    type Entity = archive::Entity;
    type Dto = Archive;
    const FIELDS: &'static [Field] = FIELDS;

    async fn to_dtos(
        st: &AppState,
        _actor: &Actor,
        rows: Vec<archive::Model>,
    ) -> Result<Vec<Archive>> {
        let repos: HashMap<i32, String> = repository::Entity::find()
            .filter(repository::Column::Id.is_in(rows.iter().map(|a| a.repository_id)))
            .all(&st.db)
            .await?
            .into_iter()
            .map(|r| (r.id, r.name))
            .collect();
        let clients: HashMap<i32, String> = client::Entity::find()
            .filter(client::Column::Id.is_in(rows.iter().filter_map(|a| a.client_id)))
            .all(&st.db)
            .await?
            .into_iter()
            .map(|c| (c.id, c.hostname))
            .collect();
        Ok(rows.into_iter().map(|a| dto(a, &repos, &clients)).collect())
    }
}

fn dto(a: archive::Model, repos: &HashMap<i32, String>, clients: &HashMap<i32, String>) -> Archive {
    let mut related = cyborg_dto::Related::new();
    related.insert(
        "repository".into(),
        format!("/api/v1/repositories/{}/", a.repository_id),
    );
    if let Some(p) = a.policy_id {
        related.insert("policy".into(), format!("/api/v1/policies/{p}/"));
    }
    if let Some(c) = a.client_id {
        related.insert("client".into(), format!("/api/v1/clients/{c}/"));
    }
    if let Some(j) = a.job_id {
        related.insert("job".into(), format!("/api/v1/jobs/{j}/"));
    }
    related.insert(
        "catalog".into(),
        format!("/api/v1/catalogs/?archive_name={}", url_word(&a.name)),
    );
    related.insert("diff".into(), format!("/api/v1/archives/{}/diff/", a.id));
    Archive {
        id: a.id,
        kind: "archive".into(),
        url: format!("/api/v1/archives/{}/", a.id),
        related,
        repository_name: repos.get(&a.repository_id).cloned().unwrap_or_default(),
        client_hostname: a
            .client_id
            .and_then(|c| clients.get(&c).cloned())
            .unwrap_or_default(),
        name: a.name,
        repository: a.repository_id,
        policy: a.policy_id,
        client: a.client_id,
        job: a.job_id,
        created: a.created,
        foreign: a.foreign,
        catalogued: a.lineage_id.is_some(),
        entries: a.entries,
        borg: None,
        borg_error: None,
    }
}

fn url_word(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub async fn list(st: &AppState, actor: &Actor, req: &ListRequest) -> Result<Page<Archive>> {
    resource::list::<Archives>(st, actor, req).await
}

/// The archive with what borg says of it now; a borg that cannot be asked leaves `borg` out
/// and says why in `borg_error` (the record is still worth showing).
pub async fn get(st: &AppState, actor: &Actor, id: i32) -> Result<Archive> {
    let a = find::<archive::Entity>(&st.db, id).await?;
    let r = find::<repository::Entity>(&st.db, a.repository_id).await?;
    let mut out = resource::one::<Archives>(st, actor, a.clone()).await?;
    match borg_info(st, &r, &a).await {
        Ok(info) => out.borg = Some(info),
        Err(e) => out.borg_error = Some(e.to_string()),
    }
    Ok(out)
}

async fn borg_info(
    st: &AppState,
    r: &repository::Model,
    a: &archive::Model,
) -> Result<ArchiveBorgInfo> {
    let through = direct::for_archive(&st.engine, r, a).await?;
    let out = direct::run(
        &through,
        &borg::info_archive(&through.access.location, &a.name),
        READ_LIMIT,
    )
    .await?;
    if !out.ok() {
        return Err(Error::BadGateway(format!(
            "borg info failed (exit {:?}): {}",
            out.code,
            out.last_line()
        )));
    }
    let i = borg::parse_archive_info(&out.stdout)
        .map_err(|e| Error::BadGateway(format!("borg info --json not understood: {e}")))?;
    Ok(ArchiveBorgInfo {
        original_size: i.stats.original_size,
        compressed_size: i.stats.compressed_size,
        deduplicated_size: i.stats.deduplicated_size,
        nfiles: i.stats.nfiles,
        duration: i.duration,
        start: i.start,
        end: i.end,
        hostname: i.hostname,
        username: i.username,
        command_line: i.command_line,
        comment: i.comment,
        borg_id: i.id,
    })
}

/// The rules of an archive name this server gives to borg: what borg accepts, and nothing
/// that reads as a path, an option or another archive.
pub fn archive_name(name: &str) -> std::result::Result<(), String> {
    if name.trim().is_empty() {
        return Err("This field may not be blank.".into());
    }
    if name.chars().count() > 200 {
        return Err("Ensure this field has no more than 200 characters.".into());
    }
    if name.contains('/') || name.contains("::") || name.chars().any(char::is_control) {
        return Err("An archive name holds no '/', no '::' and no control character.".into());
    }
    if name.starts_with('-') || name != name.trim() {
        return Err("An archive name neither starts with '-' nor with or ends in spaces.".into());
    }
    Ok(())
}

/// Refuses changes to an append-only repository's archives: borg would only pretend to
/// delete, and the operator chose that protection.
fn refuse_append_only(r: &repository::Model, what: &str) -> Result<()> {
    if r.append_only {
        return Err(Error::Conflict(format!(
            "{} is append-only: archives are not {what} through this server (lift append-only \
             on the repository first).",
            r.name
        )));
    }
    Ok(())
}

pub async fn rename(st: &AppState, actor: &Actor, id: i32, input: ArchiveInput) -> Result<Archive> {
    actor.require_superuser()?;
    let a = find::<archive::Entity>(&st.db, id).await?;
    let new = input
        .name
        .ok_or_else(|| Error::field("name", "This field is required."))?;
    archive_name(&new).map_err(|m| Error::field("name", m))?;
    if new == a.name {
        return resource::one::<Archives>(st, actor, a).await;
    }
    let taken = archive::Entity::find()
        .filter(archive::Column::RepositoryId.eq(a.repository_id))
        .filter(archive::Column::Name.eq(new.clone()))
        .one(&st.db)
        .await?
        .is_some();
    if taken {
        return Err(Error::field(
            "name",
            "An archive with this name exists in the repository.",
        ));
    }
    let r = find::<repository::Entity>(&st.db, a.repository_id).await?;
    refuse_append_only(&r, "renamed")?;
    let through = direct::for_archive(&st.engine, &r, &a).await?;
    let what = format!("renaming archive {} (by {})", a.name, actor.user.email);
    let db = st.db.clone();
    let row = hold::while_held(&st.engine, r.id, &what, async move {
        let o = direct::run(
            &through,
            &borg::rename(&through.access.location, &a.name, &new),
            CHANGE_LIMIT,
        )
        .await?;
        if !o.ok() {
            return Err(Error::BadGateway(format!(
                "borg rename failed (exit {:?}): {}",
                o.code,
                o.last_line()
            )));
        }
        Ok(archive::ActiveModel {
            id: Set(a.id),
            name: Set(new),
            ..Default::default()
        }
        .update(&db)
        .await?)
    })
    .await?;
    resource::one::<Archives>(st, actor, row).await
}

/// Deletes the archive from borg (`borg delete REPO::NAME`, then `borg compact`) and then its
/// record and catalog. Only this archive: borg is given its name in `REPO::NAME` form, which
/// is never read as the repository.
pub async fn delete(st: &AppState, actor: &Actor, id: i32) -> Result<()> {
    actor.require_superuser()?;
    let a = find::<archive::Entity>(&st.db, id).await?;
    let r = find::<repository::Entity>(&st.db, a.repository_id).await?;
    refuse_append_only(&r, "deleted")?;
    let through = direct::for_archive(&st.engine, &r, &a).await?;
    let what = format!("deleting archive {} (by {})", a.name, actor.user.email);
    let db = st.db.clone();
    hold::while_held(&st.engine, r.id, &what, async move {
        delete_held(&db, &through, &a).await
    })
    .await
}

async fn delete_held(
    db: &sea_orm::DatabaseConnection,
    through: &direct::Through,
    a: &archive::Model,
) -> Result<()> {
    let location = &through.access.location;
    let argv = borg::delete_archives(location, std::slice::from_ref(&a.name))
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("no archive name to delete")))?;
    let out = direct::run(through, &argv, CHANGE_LIMIT).await?;
    // 1: a warning, such as the archive being gone already.
    if !matches!(out.code, Some(0 | 1)) {
        return Err(Error::BadGateway(format!(
            "borg delete failed (exit {:?}): {}",
            out.code,
            out.last_line()
        )));
    }
    // The record goes only when borg no longer lists the archive.
    let listed = direct::run(through, &borg::list_archives(location), CHANGE_LIMIT).await?;
    let names = borg::parse_archives(&listed.stdout).map_err(|e| {
        Error::BadGateway(format!(
            "borg list after the delete (exit {:?}) not understood: {e}",
            listed.code
        ))
    })?;
    if names.iter().any(|(n, _)| *n == a.name) {
        return Err(Error::BadGateway(format!(
            "borg still lists {} after deleting it: {}",
            a.name,
            out.last_line()
        )));
    }
    catalog::remove_archive(db, a.id)
        .await
        .map_err(|e| Error::Internal(e.context(format!("removing the catalog of {}", a.name))))?;
    archive::Entity::delete_by_id(a.id).exec(db).await?;
    let compact = direct::run(through, &borg::compact(location), CHANGE_LIMIT).await?;
    if !matches!(compact.code, Some(0 | 1)) {
        tracing::warn!(
            "borg compact after deleting {} failed (exit {:?}): {}; the next prune compacts",
            a.name,
            compact.code,
            compact.last_line()
        );
    }
    Ok(())
}

/// `other` and `id` must be archives of one repository; the diff goes from the older to the
/// newer. Paths in borg's order are sorted by path and paginated (`page`, `page_size`);
/// `change=added|removed|changed` filters.
pub async fn diff(st: &AppState, actor: &Actor, id: i32, req: &ListRequest) -> Result<ArchiveDiff> {
    let mut other = None;
    let mut only: Option<String> = None;
    let mut rest = Vec::new();
    for (k, v) in &req.params {
        match k.as_str() {
            "other" => {
                other = Some(
                    v.trim()
                        .parse::<i32>()
                        .map_err(|_| Error::field("other", "An archive id is expected."))?,
                )
            }
            "change" => {
                if !matches!(v.as_str(), "added" | "removed" | "changed") {
                    return Err(Error::field("change", "One of added, removed, changed."));
                }
                only = Some(v.clone());
            }
            "page" | "page_size" => rest.push((k.clone(), v.clone())),
            _ => return Err(Error::field(k, "Unknown parameter.")),
        }
    }
    let other = other.ok_or_else(|| Error::field("other", "This parameter is required."))?;
    let mut page = 1;
    let mut page_size = 100;
    for (k, v) in &rest {
        let n = list::parse_positive(
            k,
            v,
            if k == "page" {
                u64::MAX
            } else {
                list::MAX_PAGE_SIZE
            },
        )?;
        if k == "page" {
            page = n;
        } else {
            page_size = n;
        }
    }
    let a = find::<archive::Entity>(&st.db, id).await?;
    let b = archive::Entity::find_by_id(other)
        .one(&st.db)
        .await?
        .ok_or_else(|| Error::field("other", "No such archive."))?;
    if a.repository_id != b.repository_id {
        return Err(Error::field(
            "other",
            "The two archives are in different repositories.",
        ));
    }
    let (from, to) = if (b.created, b.id) < (a.created, a.id) {
        (b, a)
    } else {
        (a, b)
    };
    let r = find::<repository::Entity>(&st.db, from.repository_id).await?;
    let through = direct::for_archive(&st.engine, &r, &to).await?;
    let out = direct::run(
        &through,
        &borg::diff(&through.access.location, &from.name, &to.name),
        READ_LIMIT,
    )
    .await?;
    if !out.ok() {
        return Err(Error::BadGateway(format!(
            "borg diff failed (exit {:?}): {}",
            out.code,
            out.last_line()
        )));
    }
    let mut entries = Vec::new();
    for line in out.stdout.lines().filter(|l| !l.trim().is_empty()) {
        let d: borg::DiffLine = serde_json::from_str(line).map_err(|e| {
            Error::BadGateway(format!("borg diff --json-lines not understood: {e}"))
        })?;
        entries.push(diff_entry(d));
    }
    entries.sort_by(|x, y| x.path.cmp(&y.path));
    let count_of = |c: &str| entries.iter().filter(|e| e.change == c).count() as u64;
    let (added, removed, changed) = (count_of("added"), count_of("removed"), count_of("changed"));
    if let Some(c) = &only {
        entries.retain(|e| e.change == *c);
    }
    let count = entries.len() as u64;
    let offset = (page - 1).saturating_mul(page_size);
    if page > 1 && offset >= count {
        return Err(Error::NotFound("Invalid page.".into()));
    }
    let mut results: Vec<DiffEntry> = entries
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(page_size).unwrap_or(usize::MAX))
        .collect();
    enrich_from_catalog(st, &from, &to, &mut results).await?;
    let plan = Plan {
        condition: Condition::all(),
        order: Vec::new(),
        page,
        page_size,
    };
    let links = list::page(req, &plan, count, Vec::<()>::new());
    let dtos = Archives::to_dtos(st, actor, vec![from, to]).await?;
    let mut dtos = dtos.into_iter();
    let (from, to) = (dtos.next(), dtos.next());
    Ok(ArchiveDiff {
        from: from.ok_or_else(Error::not_found)?,
        to: to.ok_or_else(Error::not_found)?,
        added,
        removed,
        changed,
        count,
        next: links.next,
        previous: links.previous,
        results,
    })
}

/// One `borg diff --json-lines` line in the API's words.
fn diff_entry(d: borg::DiffLine) -> DiffEntry {
    let mut e = DiffEntry {
        path: d.path,
        change: "changed".into(),
        what: Vec::new(),
        size_before: None,
        size_after: None,
        mtime_before: None,
        mtime_after: None,
        bytes_added: None,
        bytes_removed: None,
        mode_before: None,
        mode_after: None,
    };
    let int =
        |c: &serde_json::Map<String, serde_json::Value>, k: &str| c.get(k).and_then(|v| v.as_i64());
    let text = |c: &serde_json::Map<String, serde_json::Value>, k: &str| {
        c.get(k).and_then(|v| v.as_str()).map(str::to_string)
    };
    let time = |c: &serde_json::Map<String, serde_json::Value>, k: &str| {
        text(c, k).and_then(|t| borg::parse_time(&t))
    };
    for c in &d.changes {
        let kind = text(c, "type").unwrap_or_default();
        // borg says `added`, `removed`, or `added directory`, `removed link`… for other kinds.
        let (head, kind_of) = kind.split_once(' ').unwrap_or((kind.as_str(), ""));
        if !kind_of.is_empty() {
            e.what.push(kind_of.to_string());
        }
        match head {
            "added" => {
                e.change = "added".into();
                e.size_after = int(c, "size");
            }
            "removed" => {
                e.change = "removed".into();
                e.size_before = int(c, "size");
            }
            "modified" => {
                e.what.push("content".into());
                e.bytes_added = int(c, "added");
                e.bytes_removed = int(c, "removed");
            }
            "mode" => {
                e.what.push("mode".into());
                e.mode_before = text(c, "old_mode");
                e.mode_after = text(c, "new_mode");
            }
            "mtime" => {
                e.what.push("mtime".into());
                e.mtime_before = time(c, "old_mtime");
                e.mtime_after = time(c, "new_mtime");
            }
            "" => {}
            _ => e.what.push(kind.clone()),
        }
    }
    e
}

/// Sizes and mtimes from the catalog where both archives are catalogued (borg's diff gives a
/// changed file's byte counts, not its sizes).
async fn enrich_from_catalog(
    st: &AppState,
    from: &archive::Model,
    to: &archive::Model,
    results: &mut [DiffEntry],
) -> Result<()> {
    if results.is_empty() {
        return Ok(());
    }
    let paths: Vec<(i64, String)> = catalog_path::Entity::find()
        .select_only()
        .column(catalog_path::Column::Id)
        .column(catalog_path::Column::Path)
        .filter(catalog_path::Column::Path.is_in(results.iter().map(|e| e.path.clone())))
        .into_tuple()
        .all(&st.db)
        .await?;
    if paths.is_empty() {
        return Ok(());
    }
    let ids: HashMap<i64, String> = paths.into_iter().collect();
    let mut found: HashMap<(i32, String), catalog_entry::Model> = HashMap::new();
    for arch in [from, to].into_iter().filter(|a| a.lineage_id.is_some()) {
        for row in catalog_entry::Entity::find()
            .filter(catalog_entry::Column::ArchiveId.eq(arch.id))
            .filter(catalog_entry::Column::PathId.is_in(ids.keys().copied()))
            .all(&st.db)
            .await?
        {
            if let Some(p) = ids.get(&row.path_id) {
                found.insert((arch.id, p.clone()), row);
            }
        }
    }
    for e in results.iter_mut() {
        if let Some(v) = found.get(&(from.id, e.path.clone())) {
            e.size_before = Some(v.size);
            e.mtime_before = e.mtime_before.or(v.mtime);
        }
        if let Some(v) = found.get(&(to.id, e.path.clone())) {
            e.size_after = Some(v.size);
            e.mtime_after = e.mtime_after.or(v.mtime);
        }
    }
    Ok(())
}

/// Records the archives borg lists in the repository that the server does not know, as
/// `foreign` (never pruned), and launches a catalog job for each so they can be browsed.
pub async fn import(st: &AppState, actor: &Actor, repository_id: i32) -> Result<ArchivesImported> {
    actor.require_superuser()?;
    let r = find::<repository::Entity>(&st.db, repository_id).await?;
    let through = direct::for_repository(&st.engine, &r).await?;
    let out = direct::run(
        &through,
        &borg::list_archives(&through.access.location),
        READ_LIMIT,
    )
    .await?;
    if !out.ok() {
        return Err(Error::BadGateway(format!(
            "borg list failed (exit {:?}): {}",
            out.code,
            out.last_line()
        )));
    }
    let listed = borg::parse_archives(&out.stdout)
        .map_err(|e| Error::BadGateway(format!("borg list --json not understood: {e}")))?;
    let known: HashSet<String> = archive::Entity::find()
        .select_only()
        .column(archive::Column::Name)
        .filter(archive::Column::RepositoryId.eq(r.id))
        .into_tuple()
        .all(&st.db)
        .await?
        .into_iter()
        .collect();
    let settings = crate::settings::load(&st.db).await?;
    let mut imported = Vec::new();
    let mut jobs = Vec::new();
    for (name, created) in listed {
        if known.contains(&name) {
            continue;
        }
        archive::ActiveModel {
            repository_id: Set(r.id),
            client_id: Set(None),
            policy_id: Set(None),
            job_id: Set(None),
            name: Set(name.clone()),
            created: Set(created),
            roots: Set(String::new()),
            lineage_id: Set(None),
            lineage_seq: Set(None),
            entries: Set(0),
            foreign: Set(true),
            ..Default::default()
        }
        .insert(&st.db)
        .await?;
        if settings.catalog_enabled {
            jobs.push(
                launch::single(
                    &st.engine,
                    SingleJob {
                        name: format!("Catalog Job {} (foreign archive)", name),
                        job_type: JobType::Catalog,
                        // The policy the client reaches the repository for (its pull mode).
                        policy: through.policy,
                        client: through.client.id,
                        repository: r.id,
                        archive_name: name.clone(),
                        params: String::new(),
                        user: Some(actor.id()),
                        launch_type: LaunchType::Manual,
                        explanation: String::new(),
                    },
                )
                .await?,
            );
        }
        imported.push(name);
    }
    Ok(ArchivesImported {
        imported,
        known: known.len(),
        jobs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names_borg_and_argv_can_take() {
        for ok in ["daily-2026", "my archive", "a.b_c", "é"] {
            assert!(archive_name(ok).is_ok(), "{ok}");
        }
        let long = "x".repeat(201);
        for bad in [
            "",
            " ",
            "a/b",
            "a::b",
            "-rf",
            "--help",
            " lead",
            "trail ",
            "a\nb",
            "a\0b",
            long.as_str(),
        ] {
            assert!(archive_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn diff_lines_in_the_api_words() {
        let line = |j: &str| diff_entry(serde_json::from_str(j).unwrap());
        let e = line(r#"{"path": "d", "changes": [{"type": "added directory"}]}"#);
        assert_eq!(
            (e.change.as_str(), e.what.clone()),
            ("added", vec!["directory".to_string()])
        );
        let e = line(r#"{"path": "f", "changes": [{"type": "removed", "size": 4}]}"#);
        assert_eq!((e.change.as_str(), e.size_before), ("removed", Some(4)));
        let e = line(
            r#"{"path": "g", "changes": [{"type": "modified", "added": 5, "removed": 2},
               {"type": "mode", "old_mode": "-rw-r--r--", "new_mode": "-rw-------"},
               {"type": "mtime", "old_mtime": "2026-12-03T16:53:05.919497",
                "new_mtime": "2026-12-03T16:53:06.467497"}]}"#,
        );
        assert_eq!(e.change, "changed");
        assert_eq!(e.what, ["content", "mode", "mtime"]);
        assert_eq!((e.bytes_added, e.bytes_removed), (Some(5), Some(2)));
        assert_eq!(e.mode_after.as_deref(), Some("-rw-------"));
        assert!(e.mtime_before.unwrap() < e.mtime_after.unwrap());
    }
}
