//! Repositories: where borg stores archives. The passphrase is encrypted at rest and shown to
//! superusers only.
use anyhow::Context;
use cyborg_dto::{Page, Repository, RepositoryInput};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set};

use super::{
    Actor, audit_parts, find, host_keys,
    list::{Field, Kind, ListRequest},
    now, policies, referenced,
    resource::{self, Resource, taken},
    stamp, user_refs,
    validate::{self, Check},
};
use crate::{
    catalog,
    engine::{borg, direct, hold, repo_options},
    entities::{archive, policy, repository, schedule},
    error::{Error, Result},
    ssh_keys,
    state::AppState,
};

const T: &str = "repositories";
pub const FIELDS: &[Field] = &[
    Field::new("id", T, "id", Kind::Int),
    Field::new("name", T, "name", Kind::Text).searchable(),
    Field::new("path", T, "path", Kind::Text).searchable(),
    Field::new("original_size", T, "original_size", Kind::Int),
    Field::new("compressed_size", T, "compressed_size", Kind::Int),
    Field::new("deduplicated_size", T, "deduplicated_size", Kind::Int),
    Field::new("ready", T, "ready", Kind::Bool),
    Field::new("enabled", T, "enabled", Kind::Bool),
    Field::new("integrity_schedule", T, "integrity_schedule_id", Kind::Int),
    Field::new(
        "integrity_next_run",
        T,
        "integrity_next_run",
        Kind::DateTime,
    ),
    Field::new("uuid", T, "uuid", Kind::Text),
    Field::new("node_labels", T, "node_labels", Kind::Text),
    Field::new("encryption", T, "encryption", Kind::Text),
    Field::new("compression", T, "compression", Kind::Text),
    Field::new("append_only", T, "append_only", Kind::Bool),
    Field::new("quota", T, "storage_quota", Kind::Text),
    Field::new("upload_ratelimit", T, "upload_ratelimit", Kind::Int),
    Field::new("created", T, "created", Kind::DateTime),
    Field::new("modified", T, "modified", Kind::DateTime),
    Field::new("created_by", T, "created_by", Kind::Int),
    Field::new("modified_by", T, "modified_by", Kind::Int),
];

/// Longest passphrase accepted; borg itself has no limit, but nothing sane needs more.
const MAX_KEY: usize = 1024;
/// Shortest non-empty passphrase: job logs redact secrets, which shorter ones would make
/// meaningless (and they protect nothing).
const MIN_KEY: usize = crate::engine::log::MIN_SECRET;

pub struct Repositories;

impl Resource for Repositories {
    type Entity = repository::Entity;
    type Dto = Repository;
    const FIELDS: &'static [Field] = FIELDS;

    async fn to_dtos(
        st: &AppState,
        actor: &Actor,
        rows: Vec<repository::Model>,
    ) -> Result<Vec<Repository>> {
        let refs = user_refs(
            &st.db,
            rows.iter().flat_map(|r| [r.created_by, r.modified_by]),
        )
        .await?;
        let mut last_integrity = last_integrity(st, rows.iter().map(|r| r.id)).await?;
        let server_key = ssh_keys::public_key(&st.data_dir).unwrap_or_default();
        rows.into_iter()
            .map(|r| {
                let parts = audit_parts(&refs, r.created, r.modified, r.created_by, r.modified_by);
                let mut related = parts.related;
                related.insert(
                    "policies".into(),
                    format!("/api/v1/policies/?repository={}", r.id),
                );
                let repository_key = if actor.is_superuser() {
                    Some(
                        st.secrets
                            .decrypt(&r.repository_key)
                            .map_err(Error::Internal)?,
                    )
                } else {
                    None
                };
                let remote = crate::engine::location::remote_of(&r.path);
                let host_key = match &remote {
                    Some(_) => host_keys::state(&r.host_key, &r.host_key_seen),
                    None => cyborg_dto::HostKeyState {
                        host_key_status: "not_needed".into(),
                        ..Default::default()
                    },
                };
                let (ssh_public_key, authorized_keys) = match &remote {
                    None => (String::new(), String::new()),
                    Some(rem) => {
                        // Repositories made before they had a key pair of their own are
                        // reached with the server's key.
                        let key = if r.ssh_public_key.is_empty() {
                            server_key.clone()
                        } else {
                            r.ssh_public_key.clone()
                        };
                        let line = ssh_keys::repository_authorized_line(
                            &rem.path,
                            &repo_options::restrictions(r.append_only, &r.storage_quota),
                            &key,
                        );
                        (key, line)
                    }
                };
                Ok(Repository {
                    id: r.id,
                    kind: "repository".into(),
                    url: format!("/api/v1/repositories/{}/", r.id),
                    related,
                    summary_fields: parts.summary,
                    audit: parts.audit,
                    name: r.name,
                    path: r.path,
                    repository_key,
                    original_size: r.original_size,
                    compressed_size: r.compressed_size,
                    deduplicated_size: r.deduplicated_size,
                    last_integrity: last_integrity.remove(&r.id),
                    integrity_schedule: r.integrity_schedule_id,
                    integrity_next_run: r.integrity_next_run,
                    ready: r.ready,
                    enabled: r.enabled,
                    uuid: r.uuid,
                    host_key,
                    ssh_public_key,
                    authorized_keys,
                    node_labels: r.node_labels,
                    encryption: r.encryption,
                    compression: r.compression,
                    append_only: r.append_only,
                    quota: r.storage_quota,
                    upload_ratelimit: r.upload_ratelimit,
                    held_for: if r.held_until.is_some_and(|u| u > now()) {
                        r.held_for
                    } else {
                        String::new()
                    },
                    lock_broken_by: r.lock_broken_by,
                    lock_broken: r.lock_broken,
                })
            })
            .collect()
    }
}

/// The newest integrity job of each repository.
async fn last_integrity(
    st: &AppState,
    ids: impl Iterator<Item = i32>,
) -> Result<std::collections::HashMap<i32, cyborg_dto::IntegrityResult>> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let jobs = crate::entities::job::Entity::find()
        .filter(crate::entities::job::Column::JobType.eq(cyborg_dto::JobType::Integrity))
        .filter(crate::entities::job::Column::RepositoryId.is_in(ids))
        .order_by_desc(crate::entities::job::Column::Id)
        .all(&st.db)
        .await?;
    let mut out = std::collections::HashMap::new();
    for j in jobs {
        if let Some(repo) = j.repository_id {
            out.entry(repo).or_insert(cyborg_dto::IntegrityResult {
                job: j.id,
                status: j.status.to_string(),
                finished: j.finished,
                explanation: j.job_explanation,
            });
        }
    }
    Ok(out)
}

pub async fn list(st: &AppState, actor: &Actor, req: &ListRequest) -> Result<Page<Repository>> {
    resource::list::<Repositories>(st, actor, req).await
}

pub async fn get(st: &AppState, actor: &Actor, id: i32) -> Result<Repository> {
    resource::get::<Repositories>(st, actor, id).await
}

pub async fn create(st: &AppState, actor: &Actor, input: RepositoryInput) -> Result<Repository> {
    actor.require_superuser()?;
    let mut m = validate(st, &input, None, false).await?;
    stamp(&mut m, actor, true);
    let row = m.insert(&st.db).await?;
    fetch_host_key(st, &row);
    resource::one::<Repositories>(st, actor, row).await
}

/// A remote repository without a pinned host key gets the key its host presents fetched in
/// the background, for the operator to compare and accept (best effort).
fn fetch_host_key(st: &AppState, r: &repository::Model) {
    if !r.host_key.is_empty() || crate::engine::location::remote_of(&r.path).is_none() {
        return;
    }
    let engine = st.engine.clone();
    let r = r.clone();
    tokio::spawn(async move {
        if let Err(e) = engine.observe_repository(&r).await {
            tracing::info!("fetching the host key of repository {}: {e}", r.path);
        }
    });
}

pub async fn update(
    st: &AppState,
    actor: &Actor,
    id: i32,
    input: RepositoryInput,
    partial: bool,
) -> Result<Repository> {
    actor.require_superuser()?;
    let current = find::<repository::Entity>(&st.db, id).await?;
    let mut m = validate(st, &input, Some(&current), partial).await?;
    stamp(&mut m, actor, false);
    let row = m.update(&st.db).await?;
    fetch_host_key(st, &row);
    resource::one::<Repositories>(st, actor, row).await
}

pub async fn delete(st: &AppState, actor: &Actor, id: i32) -> Result<()> {
    actor.require_superuser()?;
    find::<repository::Entity>(&st.db, id).await?;
    policies::refuse_if_used(&st.db, policy::Column::RepositoryId, id, "repository").await?;
    // The catalog of its archives first, in bounded transactions (millions of entries in one
    // cascading DELETE would hold the write lock for minutes); the cascade takes the rest.
    let archives: Vec<i32> = archive::Entity::find()
        .select_only()
        .column(archive::Column::Id)
        .filter(archive::Column::RepositoryId.eq(id))
        .into_tuple()
        .all(&st.db)
        .await?;
    for &a in &archives {
        catalog::remove_archive(&st.db, a)
            .await
            .with_context(|| format!("removing the catalog of archive {a}"))?;
    }
    repository::Entity::delete_by_id(id).exec(&st.db).await?;
    Ok(())
}

async fn validate(
    st: &AppState,
    input: &RepositoryInput,
    current: Option<&repository::Model>,
    partial: bool,
) -> Result<repository::ActiveModel> {
    let mut c = Check::new();
    let base = if partial { current } else { None };
    let name = c
        .required("name", input.name.clone(), base.map(|m| &m.name))
        .map(|v| c.line("name", &v, 255, false));
    if let Some(n) = &name
        && !c.has("name")
        && taken::<repository::Entity>(
            &st.db,
            repository::Column::Name,
            n,
            repository::Column::Id,
            current.map(|m| m.id),
        )
        .await?
    {
        c.error("name", "A repository with this name already exists.");
    }
    let path = c
        .required("path", input.path.clone(), base.map(|m| &m.path))
        .map(|v| c.line("path", &v, 1024, false));
    if let Some(p) = &path
        && !c.has("path")
    {
        c.rule("path", validate::repository_path(p));
        if !c.has("path")
            && taken::<repository::Entity>(
                &st.db,
                repository::Column::Path,
                p,
                repository::Column::Id,
                current.map(|m| m.id),
            )
            .await?
        {
            c.error("path", "A repository with this path already exists.");
        }
    }
    if let Some(key) = &input.repository_key {
        // Passphrases are taken as typed (spaces count), so only length and NUL are checked.
        if key.chars().count() > MAX_KEY {
            c.error(
                "repository_key",
                format!("Ensure this field has no more than {MAX_KEY} characters."),
            );
        } else if key.contains('\0') || key.contains('\n') {
            c.error(
                "repository_key",
                "NUL and newline characters are not allowed.",
            );
        } else if (1..MIN_KEY).contains(&key.chars().count()) {
            c.error(
                "repository_key",
                format!(
                    "Ensure this field has at least {MIN_KEY} characters (or is empty for no \
                     passphrase): a shorter one could not be kept out of job logs."
                ),
            );
        }
    }
    // The integrity schedule: sent (a schedule or null), else the current one.
    let integrity_schedule = match input.integrity_schedule {
        Some(v) => v,
        None => current.and_then(|m| m.integrity_schedule_id),
    };
    let mut sched = None;
    if let Some(id) = integrity_schedule {
        sched =
            referenced::<schedule::Entity>(&mut c, &st.db, "integrity_schedule", "Schedule", id)
                .await?;
    }
    let host_key = host_keys::given(&mut c, "host_key", input.host_key.as_deref());
    let node_labels = match input.node_labels.as_deref().map(validate::node_labels) {
        Some(Ok(v)) => Some(v),
        Some(Err(m)) => {
            c.error("node_labels", m);
            None
        }
        None => None,
    };
    let settings = crate::settings::load(&st.db).await?;
    let encryption = input
        .encryption
        .as_deref()
        .map(str::trim)
        .map(str::to_string);
    if let Some(e) = &encryption
        && current.is_none_or(|cur| cur.encryption != *e)
    {
        c.rule(
            "encryption",
            repo_options::encryption(e, settings.allow_unencrypted_repositories),
        );
    }
    let compression = match input.compression.as_deref().map(repo_options::compression) {
        Some(Ok(v)) => Some(v),
        Some(Err(m)) => {
            c.error("compression", m);
            None
        }
        None => None,
    };
    let quota = match input.quota.as_deref().map(repo_options::quota) {
        Some(Ok(v)) => Some(v),
        Some(Err(m)) => {
            c.error("quota", m);
            None
        }
        None => None,
    };
    if let Some(Some(kib)) = input.upload_ratelimit {
        c.rule("upload_ratelimit", repo_options::upload_ratelimit(kib));
    }
    c.finish()?;
    if let (Some(cur), Some(e)) = (current, &encryption)
        && cur.encryption != *e
        && initialised(st, cur).await?
    {
        return Err(Error::Conflict(format!(
            "The repository is initialised with {} encryption; borg cannot change that. Make a \
             new repository with {e} and point the policies at it.",
            cur.encryption
        )));
    }

    let mut m = match current {
        Some(cur) => repository::ActiveModel::from(cur.clone()),
        None => repository::ActiveModel {
            repository_key: Set(String::new()),
            original_size: Set(0),
            compressed_size: Set(0),
            deduplicated_size: Set(0),
            ready: Set(false),
            enabled: Set(true),
            node_labels: Set(String::new()),
            encryption: Set(repo_options::DEFAULT_ENCRYPTION.into()),
            compression: Set(repo_options::DEFAULT_COMPRESSION.into()),
            append_only: Set(false),
            storage_quota: Set(String::new()),
            upload_ratelimit: Set(None),
            held_for: Set(String::new()),
            lock_broken_by: Set(String::new()),
            ..Default::default()
        },
    };
    if let Some(v) = encryption {
        m.encryption = Set(v);
    }
    if let Some(v) = compression {
        m.compression = Set(v);
    }
    if let Some(v) = input.upload_ratelimit {
        m.upload_ratelimit = Set(v);
    }
    // A changed append-only mode or quota of an initialised repository is applied by the next
    // prepare job (`engine::exec::check`), which runs while the repository is not ready.
    let mut restrictions_changed = false;
    if let Some(v) = input.append_only {
        restrictions_changed |= current.is_some_and(|cur| cur.append_only != v);
        m.append_only = Set(v);
    }
    if let Some(v) = quota {
        restrictions_changed |= current.is_some_and(|cur| cur.storage_quota != v);
        m.storage_quota = Set(v);
    }
    if restrictions_changed {
        m.ready = Set(false);
    }
    if let Some(v) = node_labels {
        m.node_labels = Set(v);
    }
    if let Some(v) = name {
        m.name = Set(v);
    }
    if let Some(v) = path {
        m.path = Set(v);
    }
    if let Some(v) = &input.repository_key {
        m.repository_key = Set(st.secrets.encrypt(v));
    }
    if let Some(v) = input.ready {
        m.ready = Set(v);
    }
    if let Some(v) = input.enabled {
        m.enabled = Set(v);
    }
    let host = |p: &str| crate::engine::location::remote_of(p).map(|r| (r.host, r.port));
    let now_host = host(m.path.as_ref());
    match host_key {
        Some(v) => {
            m.host_key = Set(v);
            m.host_key_seen = Set(String::new());
        }
        // Another host (or none) must show that its key is the one to trust.
        None if current.is_some_and(|cur| host(&cur.path) != now_host) => {
            m.host_key = Set(String::new());
            m.host_key_seen = Set(String::new());
        }
        None => {}
    }
    // A key pair of its own for a repository that becomes remote; one that was remote before
    // it had one keeps using the server's key, which its host authorizes already.
    let was_remote = current.is_some_and(|cur| host(&cur.path).is_some());
    let has_key = current.is_some_and(|cur| !cur.ssh_key.is_empty());
    if now_host.is_some() && !has_key && !was_remote {
        let comment = format!("cyborgbackup-repository-{}", m.name.as_ref());
        let (private, public) =
            tokio::task::spawn_blocking(move || ssh_keys::generate_pair(&comment))
                .await
                .map_err(|e| Error::Internal(anyhow::anyhow!(e)))?
                .map_err(Error::Internal)?;
        m.ssh_key = Set(st.secrets.encrypt(&private));
        m.ssh_public_key = Set(public);
    }
    m.integrity_schedule_id = Set(integrity_schedule);
    m.integrity_next_run = Set(sched
        .as_ref()
        .and_then(|s| policies::next_run(*m.enabled.as_ref(), s, now())));
    Ok(m)
}

/// Whether borg has the repository already: it was made ready by a prepare job, or archives of
/// it are known.
async fn initialised(st: &AppState, r: &repository::Model) -> Result<bool> {
    if r.ready {
        return Ok(true);
    }
    Ok(archive::Entity::find()
        .filter(archive::Column::RepositoryId.eq(r.id))
        .one(&st.db)
        .await?
        .is_some())
}

/// Recomputes `integrity_next_run` of every repository on `sched`, after the schedule changed.
pub async fn refresh_integrity_runs(
    db: &impl sea_orm::ConnectionTrait,
    sched: &schedule::Model,
) -> Result<()> {
    let t = now();
    for r in repository::Entity::find()
        .filter(repository::Column::IntegrityScheduleId.eq(sched.id))
        .all(db)
        .await?
    {
        let value = policies::next_run(r.enabled, sched, t);
        if value != r.integrity_next_run {
            let mut m = repository::ActiveModel::from(r);
            m.integrity_next_run = Set(value);
            m.update(db).await?;
        }
    }
    Ok(())
}

/// Refuses (409) to delete a schedule while repositories' integrity checks follow it.
pub async fn refuse_if_integrity_schedule(
    db: &impl sea_orm::ConnectionTrait,
    schedule_id: i32,
) -> Result<()> {
    let users: Vec<String> = repository::Entity::find()
        .filter(repository::Column::IntegrityScheduleId.eq(schedule_id))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.name)
        .collect();
    if users.is_empty() {
        return Ok(());
    }
    Err(Error::Conflict(format!(
        "This schedule times the integrity checks of the repositories {}; change them first.",
        users.join(", ")
    )))
}

/// `GET /api/v1/repositories/{id}/key/`: the repository key as `borg key export` gives it, in
/// both forms. Superusers only; the passphrase is not part of it (it is kept apart, see
/// the dashboard's key page).
pub async fn key(st: &AppState, actor: &Actor, id: i32) -> Result<cyborg_dto::RepositoryKey> {
    actor.require_superuser()?;
    let r = find::<repository::Entity>(&st.db, id).await?;
    if r.encryption == "none" {
        return Err(Error::Conflict(
            "This repository is not encrypted: it has no key to export.".into(),
        ));
    }
    let through = direct::for_repository(&st.engine, &r).await?;
    let mut forms = Vec::new();
    for paper in [false, true] {
        let out = direct::run(
            &through,
            &borg::key_export(&through.access.location, paper),
            KEY_LIMIT,
        )
        .await?;
        if !out.ok() {
            return Err(Error::BadGateway(format!(
                "borg key export failed (exit {:?}): {}",
                out.code,
                out.last_line()
            )));
        }
        forms.push(out.stdout);
    }
    let paper = forms.pop().unwrap_or_default();
    let key = forms.pop().unwrap_or_default();
    Ok(cyborg_dto::RepositoryKey {
        repository: r.id,
        encryption: r.encryption,
        key,
        paper,
    })
}

const KEY_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// `GET /api/v1/repositories/{id}/lock/`: `busy` while a job of any node runs on it, else
/// whether borg's lock can be taken now (`borg with-lock`).
pub async fn lock(st: &AppState, _actor: &Actor, id: i32) -> Result<cyborg_dto::RepositoryLock> {
    let r = find::<repository::Entity>(&st.db, id).await?;
    let running = hold::running_on(&st.db, r.id).await?;
    let mut holder = None;
    let (state, job, detail) = match running {
        Some(j) => (
            "busy",
            Some(j.id),
            format!("job {} ({}) runs on it", j.id, j.name),
        ),
        None => {
            let through = direct::for_repository(&st.engine, &r).await?;
            let out = direct::run(
                &through,
                &borg::probe_lock(&through.access.location),
                KEY_LIMIT,
            )
            .await?;
            if out.ok() {
                ("free", None, String::new())
            } else if out.stderr_tail.iter().any(|l| borg::lock_timeout(l)) {
                holder = direct::lock_holder(&through, &r).await;
                ("locked", None, out.last_line())
            } else {
                return Err(Error::BadGateway(format!(
                    "borg with-lock failed (exit {:?}): {}",
                    out.code,
                    out.last_line()
                )));
            }
        }
    };
    Ok(cyborg_dto::RepositoryLock {
        repository: r.id,
        state: state.into(),
        job,
        detail,
        holder: holder
            .as_ref()
            .map(|h| h.holder.clone())
            .unwrap_or_default(),
        locked_since: holder.and_then(|h| h.since),
        lock_broken_by: r.lock_broken_by,
        lock_broken: r.lock_broken,
    })
}

/// `POST /api/v1/repositories/{id}/break-lock/`: `borg break-lock`, only while no job of any
/// node runs on the repository (it is held meanwhile, so none starts); who did it is recorded.
pub async fn break_lock(
    st: &AppState,
    actor: &Actor,
    id: i32,
) -> Result<cyborg_dto::RepositoryLock> {
    actor.require_superuser()?;
    let r = find::<repository::Entity>(&st.db, id).await?;
    let through = direct::for_repository(&st.engine, &r).await?;
    let who = actor.user.email.clone();
    let db = st.db.clone();
    let repo_id = r.id;
    hold::while_held(
        &st.engine,
        r.id,
        &format!("break-lock (by {who})"),
        async move {
            let o = direct::run(
                &through,
                &borg::break_lock(&through.access.location),
                KEY_LIMIT,
            )
            .await?;
            if !o.ok() {
                return Err(Error::BadGateway(format!(
                    "borg break-lock failed (exit {:?}): {}",
                    o.code,
                    o.last_line()
                )));
            }
            repository::ActiveModel {
                id: Set(repo_id),
                lock_broken_by: Set(who),
                lock_broken: Set(Some(now())),
                ..Default::default()
            }
            .update(&db)
            .await?;
            Ok(())
        },
    )
    .await?;
    tracing::info!(
        "repository {} ({}): lock broken by {}",
        r.id,
        r.name,
        actor.user.email
    );
    lock(st, actor, id).await
}
