//! The server's own disaster recovery. A self-backup puts into borg what a new machine needs to
//! become this server again: a consistent copy of the database (SQLite's `VACUUM INTO`, or
//! `pg_dump`), the secret key that decrypts every stored passphrase and key, and the SSH key
//! pair clients authorize (pinned host keys and everything else live in the database). It runs
//! borg on this server, into a repository the settings name: a folder on this server (best on
//! another disk or a mount) or a remote repository reached with its own key. `restore` (the
//! `cyborgbackup restore-server` command) rebuilds a data directory and database from one.
use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};

use crate::{
    config::Config,
    engine::{
        borg,
        location::{self, Location},
        runner,
    },
    entities::{repository, schedule, self_backup},
    error::{Error, Result},
    ssh_keys,
    stamps::now,
    state::AppState,
};

/// Every self-backup archive's name starts so (`restore-server` picks the newest of them).
pub const ARCHIVE_PREFIX: &str = "cyborgbackup-server-";
const MANIFEST: &str = "MANIFEST.json";
const SQLITE_FILE: &str = "database.sqlite";
const PG_FILE: &str = "database.pgdump";
const SECRET_FILE: &str = "secret_key";
const SSH_PRIVATE: &str = "ssh/id_ed25519";
const SSH_PUBLIC: &str = "ssh/id_ed25519.pub";
/// The longest a self-backup's borg may take.
const LIMIT: Duration = Duration::from_secs(6 * 3600);

/// What a self-backup reads besides the database connection: the URL (for `pg_dump`) and the
/// secret key as configured or generated.
#[derive(Clone)]
pub struct Source {
    pub database_url: String,
    pub secret: String,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("self_backup::Source(..)")
    }
}

impl Source {
    /// The configured secret key, else the one generated into the data directory.
    pub fn of(config: &Config) -> anyhow::Result<Self> {
        let secret = match config.secret_key()? {
            Some(s) => s.trim().to_string(),
            None => std::fs::read_to_string(config.data_dir.join(SECRET_FILE))
                .context("reading the secret key file")?
                .trim()
                .to_string(),
        };
        Ok(Self {
            database_url: config.database_url()?,
            secret,
        })
    }
}

/// What the archive says of itself.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub created: DateTime<Utc>,
    /// `sqlite` or `postgres`: which file holds the database.
    pub database: String,
    pub version: String,
    pub node: String,
    /// The run that made it: its row is in the dump as `running`, and a restore records it as
    /// what it was (successful, since its archive exists).
    #[serde(default)]
    pub run: i32,
}

/// Runs a self-backup now (`user`: who asked; `None`: the schedule) and answers its record.
pub async fn run_now(st: &AppState, user: Option<i32>) -> Result<self_backup::Model> {
    let row = start_row(st, user, None)
        .await?
        .ok_or_else(|| Error::Conflict("A self-backup is running already.".into()))?;
    Ok(finish(st, row).await)
}

/// Records a run as started, unless one is running, or (`due`) a run at or after `due`
/// exists: several nodes share the schedule, one of them runs it.
async fn start_row(
    st: &AppState,
    user: Option<i32>,
    due: Option<DateTime<Utc>>,
) -> Result<Option<self_backup::Model>> {
    let settings = crate::settings::load(&st.db).await?;
    let repo = settings.self_backup_repository.ok_or_else(|| {
        Error::Conflict("No repository is set for the self-backup (self_backup_repository).".into())
    })?;
    let txn = st.db.begin().await?;
    runner::take_claim_lock(&txn)
        .await
        .map_err(Error::Internal)?;
    // A run recorded as running for longer than a run may take died with its process.
    let stale = now() - chrono::Duration::from_std(LIMIT).expect("a short duration");
    let mut busy = sea_orm::Condition::any().add(
        sea_orm::Condition::all()
            .add(self_backup::Column::Status.eq("running"))
            .add(self_backup::Column::Started.gt(stale)),
    );
    if let Some(d) = due {
        busy = busy.add(self_backup::Column::Started.gte(d));
    }
    let busy = self_backup::Entity::find().filter(busy);
    if busy.one(&txn).await?.is_some() {
        return Ok(None);
    }
    let row = self_backup::ActiveModel {
        node: Set(st.engine.node_id().unwrap_or("this server").to_string()),
        started: Set(now()),
        finished: Set(None),
        status: Set("running".into()),
        repository_id: Set(Some(repo)),
        archive: Set(String::new()),
        original_size: Set(0),
        deduplicated_size: Set(0),
        message: Set(String::new()),
        created_by: Set(user),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(Some(row))
}

async fn finish(st: &AppState, row: self_backup::Model) -> self_backup::Model {
    let outcome = back_up(st, &row).await;
    let mut m: self_backup::ActiveModel = row.clone().into();
    m.finished = Set(Some(now()));
    match outcome {
        Ok((archive, stats)) => {
            m.status = Set("successful".into());
            m.archive = Set(archive);
            m.original_size = Set(stats.original_size);
            m.deduplicated_size = Set(stats.deduplicated_size);
        }
        Err(e) => {
            tracing::warn!("self-backup {} failed: {e:#}", row.id);
            m.status = Set("failed".into());
            m.message = Set(format!("{e:#}"));
        }
    }
    match m.update(&st.db).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("recording self-backup {}: {e}", row.id);
            row
        }
    }
}

/// Where this server's borg finds the repository: the location, `BORG_RSH` for a remote one,
/// and the passphrase.
struct Target {
    location: String,
    rsh: Option<String>,
    passphrase: String,
}

async fn target(st: &AppState, r: &repository::Model) -> anyhow::Result<Target> {
    let passphrase = st
        .secrets
        .decrypt(&r.repository_key)
        .context("decrypting the repository passphrase")?;
    let (location, rsh) = match location::parse(&r.path).map_err(|e| anyhow::anyhow!("{e}"))? {
        Location::Folder(path) => (path, None),
        Location::Remote(remote) => {
            let host = st
                .engine
                .repository_host(r, &remote)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            (r.path.clone(), Some(host.borg_rsh()?))
        }
    };
    Ok(Target {
        location,
        rsh,
        passphrase,
    })
}

async fn back_up(
    st: &AppState,
    row: &self_backup::Model,
) -> anyhow::Result<(String, borg::ArchiveStats)> {
    let source = st
        .self_backup
        .as_ref()
        .context("this process cannot back itself up (no self-backup source)")?;
    let repo_id = row.repository_id.context("no repository")?;
    let r = repository::Entity::find_by_id(repo_id)
        .one(&st.db)
        .await?
        .context("the self-backup repository no longer exists")?;
    if !crate::engine::repo_options::encrypts(&r.encryption) {
        bail!(
            "{} is not encrypted ({}): the self-backup holds the secret key and is only made \
             into an encrypted repository",
            r.name,
            r.encryption
        );
    }
    let t = target(st, &r).await?;
    let staging = st.data_dir.join(format!("self-backup-{}", row.id));
    let result = async {
        stage(st, source, &staging, row.id).await?;
        let restrictions =
            crate::engine::repo_options::restrictions(r.append_only, &r.storage_quota);
        let init = local_borg(
            &t,
            &borg::init(&t.location, &r.encryption, &restrictions),
            &staging,
        )
        .await?;
        if !init.status.success()
            && !String::from_utf8_lossy(&init.stderr)
                .lines()
                .any(borg::already_exists)
        {
            bail!("borg init failed: {}", last_line(&init.stderr));
        }
        let name = format!("{ARCHIVE_PREFIX}{}", now().format("%Y-%m-%dT%H-%M-%S"));
        let argv = create_argv(&t.location, &name, &r.compression);
        let out = local_borg(&t, &argv, &staging).await?;
        if !matches!(out.status.code(), Some(0 | 1)) {
            bail!("borg create failed: {}", last_line(&out.stderr));
        }
        let (stats, _) = borg::parse_create(&String::from_utf8_lossy(&out.stdout))
            .context("borg create --json not understood")?;
        Ok((name, stats))
    }
    .await;
    let _ = tokio::fs::remove_dir_all(&staging).await;
    result
}

/// `borg create --json` of the staging folder's contents (relative paths: `database.sqlite`,
/// `secret_key`…), run inside it.
fn create_argv(location: &str, name: &str, compression: &str) -> Vec<String> {
    let sources = crate::engine::sources::Sources {
        paths: [MANIFEST, SECRET_FILE, "ssh", "database"]
            .iter()
            .map(|w| w.to_string())
            .collect(),
        ..Default::default()
    };
    borg::create(location, name, &sources, compression, None)
}

/// Writes everything to back up into `dir` (owner-only).
async fn stage(st: &AppState, source: &Source, dir: &Path, run: i32) -> anyhow::Result<()> {
    let _ = tokio::fs::remove_dir_all(dir).await;
    let db_dir = dir.join("database");
    std::fs::create_dir_all(&db_dir).with_context(|| format!("creating {}", db_dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let backend = st.db.get_database_backend();
    let database = match backend {
        DatabaseBackend::Postgres => {
            pg_dump(&source.database_url, &db_dir.join(PG_FILE)).await?;
            "postgres"
        }
        _ => {
            // A consistent copy while the server runs: SQLite's own online copy.
            let file = db_dir.join(SQLITE_FILE);
            let quoted = file.display().to_string().replace('\'', "''");
            st.db
                .execute_unprepared(&format!("VACUUM INTO '{quoted}'"))
                .await
                .context("copying the SQLite database (VACUUM INTO)")?;
            "sqlite"
        }
    };
    ssh_keys::write_private_file(&dir.join(SECRET_FILE), &format!("{}\n", source.secret))?;
    let private = std::fs::read_to_string(ssh_keys::private_key_path(&st.data_dir))
        .context("reading the server's SSH private key")?;
    let public = std::fs::read_to_string(ssh_keys::public_key_path(&st.data_dir))
        .context("reading the server's SSH public key")?;
    ssh_keys::write_private_file(&dir.join(SSH_PRIVATE), &private)?;
    ssh_keys::write_private_file(&dir.join(SSH_PUBLIC), &public)?;
    let manifest = Manifest {
        format: 1,
        created: now(),
        database: database.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        node: st.engine.node_id().unwrap_or("").to_string(),
        run,
    };
    ssh_keys::write_private_file(
        &dir.join(MANIFEST),
        &serde_json::to_string_pretty(&manifest)?,
    )?;
    Ok(())
}

/// A database URL without its password, and the password (for `PGPASSWORD`): a password on a
/// command line shows in `ps`.
fn split_password(url: &str) -> anyhow::Result<(String, Option<String>)> {
    let mut u = url::Url::parse(url).context("the database URL")?;
    let password = u.password().map(|p| {
        url::form_urlencoded::parse(format!("p={p}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    });
    let _ = u.set_password(None);
    Ok((u.to_string(), password))
}

async fn pg_dump(url: &str, file: &Path) -> anyhow::Result<()> {
    let (url, password) = split_password(url)?;
    let mut cmd = tokio::process::Command::new("pg_dump");
    cmd.args(["--format=custom", "--no-owner", "--no-privileges", "--file"])
        .arg(file)
        .arg("--dbname")
        .arg(&url)
        .kill_on_drop(true);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let out = cmd
        .output()
        .await
        .context("running pg_dump (is postgresql-client installed?)")?;
    if !out.status.success() {
        bail!("pg_dump failed: {}", last_line(&out.stderr));
    }
    Ok(())
}

async fn local_borg(
    t: &Target,
    argv: &[String],
    cwd: &Path,
) -> anyhow::Result<std::process::Output> {
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(cwd)
        .envs(borg::BORG_ENV.iter().copied())
        .env("BORG_PASSPHRASE", &t.passphrase)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(rsh) = &t.rsh {
        cmd.env("BORG_RSH", rsh);
    }
    tokio::time::timeout(LIMIT, cmd.output())
        .await
        .context("borg ran too long")?
        .context("running borg")
}

fn last_line(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_string()
}

/// The recent runs, newest first.
pub async fn recent(st: &AppState) -> Result<Vec<self_backup::Model>> {
    Ok(self_backup::Entity::find()
        .order_by_desc(self_backup::Column::Id)
        .limit(20)
        .all(&st.db)
        .await?)
}

/// Runs the self-backup when its schedule comes (checked every 30 s). The first run is the
/// schedule's first time after this process started, or after the last recorded run.
pub async fn schedule(st: AppState) {
    let started = now();
    loop {
        tokio::time::sleep(Duration::from_secs(30)).await;
        if let Err(e) = scheduled_once(&st, started).await {
            tracing::warn!("self-backup schedule: {e}");
        }
    }
}

async fn scheduled_once(st: &AppState, started: DateTime<Utc>) -> Result<()> {
    let settings = crate::settings::load(&st.db).await?;
    let (Some(_), Some(sched)) = (
        settings.self_backup_repository,
        settings.self_backup_schedule,
    ) else {
        return Ok(());
    };
    let Some(sched) = schedule::Entity::find_by_id(sched).one(&st.db).await? else {
        return Ok(());
    };
    let last = self_backup::Entity::find()
        .order_by_desc(self_backup::Column::Started)
        .one(&st.db)
        .await?
        .map_or(started, |r| r.started);
    let Some(due) = crate::services::policies::next_run(true, &sched, last) else {
        return Ok(());
    };
    if due > now() {
        return Ok(());
    }
    if let Some(row) = start_row(st, None, Some(due)).await? {
        finish(st, row).await;
    }
    Ok(())
}

/// What `restore` did, for the operator.
pub struct Restored {
    pub archive: String,
    pub database: String,
}

/// `cyborgbackup restore-server`: rebuilds the data directory (secret key, SSH key pair) and
/// the database of `config` from the self-backup `archive` (default: the newest) of the borg
/// repository `location`. borg reads `BORG_PASSPHRASE` (and `BORG_RSH` for a remote
/// repository) from the environment. Refuses to overwrite: the data directory must hold no
/// secret key or SSH key, the SQLite file must be absent or empty, a PostgreSQL database must
/// have no table.
pub async fn restore(
    config: &Config,
    location: &str,
    archive: Option<&str>,
) -> anyhow::Result<Restored> {
    let url = config.database_url()?;
    let dir = &config.data_dir;
    for f in [dir.join(SECRET_FILE), ssh_keys::private_key_path(dir)] {
        if f.exists() {
            bail!(
                "{} exists: restore-server fills an empty data directory (move it away first)",
                f.display()
            );
        }
    }
    let sqlite = crate::data_dir::sqlite_file(&url);
    if let Some(f) = &sqlite
        && std::fs::metadata(f).is_ok_and(|m| m.len() > 0)
    {
        bail!(
            "the database file {} exists: restore-server fills an empty database (move it away \
             first)",
            f.display()
        );
    }
    if sqlite.is_none() {
        let db = crate::db::connect(&url).await?;
        let tables = db
            .query_one(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = \
                 current_schema()",
            ))
            .await?
            .and_then(|r| r.try_get::<i64>("", "n").ok())
            .unwrap_or(0);
        db.close().await.ok();
        if tables > 0 {
            bail!("the database has {tables} table(s): restore-server fills an empty database");
        }
    }
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let name = match archive {
        Some(a) => a.to_string(),
        None => newest_archive(location).await?,
    };
    let work: PathBuf = dir.join(format!("restore-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&work)?;
    std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o700))?;
    let result = restore_from(config, location, &name, &work, &url, sqlite.as_deref()).await;
    let _ = std::fs::remove_dir_all(&work);
    result.map(|database| Restored {
        archive: name,
        database,
    })
}

async fn restore_from(
    config: &Config,
    location: &str,
    name: &str,
    work: &Path,
    url: &str,
    sqlite: Option<&Path>,
) -> anyhow::Result<String> {
    let out = env_borg(
        &[
            "borg".into(),
            "extract".into(),
            "--".into(),
            format!("{location}::{name}"),
        ],
        work,
    )
    .await?;
    if !out.status.success() {
        bail!("borg extract failed: {}", last_line(&out.stderr));
    }
    let manifest: Manifest = serde_json::from_str(
        &std::fs::read_to_string(work.join(MANIFEST)).context("the archive has no manifest")?,
    )
    .context("reading the manifest")?;
    let secret = std::fs::read_to_string(work.join(SECRET_FILE))?
        .trim()
        .to_string();
    let dir = &config.data_dir;
    match config.secret_key()? {
        Some(k) if k.trim() != secret => bail!(
            "the configured secret key (CYBORG_SECRET_KEY) is not the one this backup was made \
             with; unset it (the backed-up key is then written to the data directory) or set it \
             to that key"
        ),
        Some(_) => {}
        None => ssh_keys::write_private_file(&dir.join(SECRET_FILE), &format!("{secret}\n"))?,
    }
    ssh_keys::write_private_file(
        &ssh_keys::private_key_path(dir),
        &std::fs::read_to_string(work.join(SSH_PRIVATE))?,
    )?;
    let public = ssh_keys::public_key_path(dir);
    std::fs::write(&public, std::fs::read_to_string(work.join(SSH_PUBLIC))?)?;
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o644))?;
    match (manifest.database.as_str(), sqlite) {
        ("sqlite", Some(file)) => {
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::copy(work.join("database").join(SQLITE_FILE), file)
                .with_context(|| format!("writing {}", file.display()))?;
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
        }
        ("postgres", None) => pg_restore(url, &work.join("database").join(PG_FILE)).await?,
        (kind, _) => bail!(
            "the backup holds a {kind} database and the configured database is {}; restore \
             into the same kind of database",
            if sqlite.is_some() {
                "SQLite"
            } else {
                "PostgreSQL"
            }
        ),
    }
    // A backup made by an older version is brought up to this one's schema.
    let db = crate::data_dir::open_database(config).await?;
    self_backup::Entity::update_many()
        .col_expr(self_backup::Column::Status, Expr::value("successful"))
        .col_expr(self_backup::Column::Archive, Expr::value(name))
        .col_expr(self_backup::Column::Finished, Expr::value(manifest.created))
        .filter(self_backup::Column::Id.eq(manifest.run))
        .filter(self_backup::Column::Status.eq("running"))
        .exec(&db)
        .await?;
    db.close().await.ok();
    Ok(manifest.database)
}

async fn pg_restore(url: &str, file: &Path) -> anyhow::Result<()> {
    let (url, password) = split_password(url)?;
    let mut cmd = tokio::process::Command::new("pg_restore");
    cmd.args([
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        "--dbname",
    ])
    .arg(&url)
    .arg(file);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let out = cmd.output().await.context("running pg_restore")?;
    if !out.status.success() {
        bail!("pg_restore failed: {}", last_line(&out.stderr));
    }
    Ok(())
}

async fn newest_archive(location: &str) -> anyhow::Result<String> {
    let out = env_borg(
        &[
            "borg".into(),
            "list".into(),
            "--short".into(),
            "--".into(),
            location.into(),
        ],
        Path::new("/"),
    )
    .await?;
    if !out.status.success() {
        bail!("borg list failed: {}", last_line(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(ARCHIVE_PREFIX))
        .max()
        .map(str::to_string)
        .with_context(|| format!("no {ARCHIVE_PREFIX}* archive in {location}"))
}

/// borg with the operator's environment (`BORG_PASSPHRASE`, `BORG_RSH`) for the restore.
async fn env_borg(argv: &[String], cwd: &Path) -> anyhow::Result<std::process::Output> {
    tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(cwd)
        .envs(borg::BORG_ENV.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .context("running borg")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url() {
        let (u, p) = split_password("postgres://me:p%40ss@db:5432/cyborg").unwrap();
        assert_eq!(u, "postgres://me@db:5432/cyborg");
        assert_eq!(p.as_deref(), Some("p@ss"));
        let (u, p) = split_password("postgres://me@db/cyborg").unwrap();
        assert_eq!((u.as_str(), p), ("postgres://me@db/cyborg", None));
    }

    #[test]
    fn the_archive_holds_relative_paths_after_dashdash() {
        let a = create_argv("/srv/self", "cyborgbackup-server-x", "lz4");
        let dd = a.iter().position(|w| w == "--").unwrap();
        assert_eq!(
            &a[dd + 1..],
            [
                "/srv/self::cyborgbackup-server-x",
                MANIFEST,
                SECRET_FILE,
                "ssh",
                "database"
            ]
        );
    }
}
