//! What each job type does on its client (SPEC §7): `check` prepares client and repository,
//! `job` runs `borg create`, `catalog` indexes the archive, `prune` prunes and compacts. Every
//! borg goes through `remote::run_borg`; results come back as an [`Outcome`] for the runner.
use std::collections::{HashMap, HashSet};

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect,
};
use tokio::{io::BufReader, sync::watch};

use super::{
    Engine, borg,
    launch::JobType,
    log::JobLog,
    remote::{self, Feed, Finished, Pids, Session, Stdout},
    retention::{self, Rules},
    sources,
    ssh::{self, SSH_ERROR_STATUS, SshTarget},
    tunnel::Tunnel,
};
use crate::{
    catalog,
    entities::{archive, client, job, policy, repository},
    stamps::now,
};

mod integrity;

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done; the text (possibly empty) becomes `job_explanation`.
    Successful(String),
    /// borg ran and reported an error.
    Failed(String),
    /// The job could not do its work (client unreachable, host key changed, missing object…).
    Error(String),
    Canceled,
}

/// Everything one running job needs.
pub struct JobRun {
    pub eng: Engine,
    pub job: job::Model,
    pub log: JobLog,
    pub cancel: watch::Receiver<bool>,
}

impl Pids for (Engine, i32) {
    async fn local(&self, pid: Option<u32>) {
        set_pid(&self.0, self.1, job::Column::LocalPid, pid).await;
    }
    async fn remote(&self, pid: Option<u32>) {
        set_pid(&self.0, self.1, job::Column::RemotePid, pid).await;
    }
}

async fn set_pid(eng: &Engine, job_id: i32, col: job::Column, pid: Option<u32>) {
    let value = pid.and_then(|p| i32::try_from(p).ok());
    if let Err(e) = job::Entity::update_many()
        .col_expr(col, sea_orm::sea_query::Expr::value(value))
        .filter(job::Column::Id.eq(job_id))
        .exec(&eng.db)
        .await
    {
        tracing::warn!("recording a pid of job {job_id}: {e}");
    }
}

/// Why an `Outcome` is not `Successful`, as an early return.
type Step<T> = Result<T, Outcome>;

struct Subjects {
    /// `None` only for a restore whose archive's policy was deleted since.
    policy: Option<policy::Model>,
    client: client::Model,
    repository: repository::Model,
    passphrase: String,
    target: SshTarget,
    /// The repository as the client's borg names it: its path, or the location served through
    /// `tunnel`.
    location: String,
    /// Pull mode or a remote repository: the repository served through the job's connection
    /// for as long as the job runs.
    tunnel: Option<Tunnel>,
}

impl Subjects {
    /// How one borg of this job runs on the client.
    fn session<'a>(
        &'a self,
        pids: &'a (Engine, i32),
        feed: Option<Feed<'a>>,
        workdir: Option<&'a str>,
    ) -> Session<'a, (Engine, i32)> {
        Session {
            target: &self.target,
            passphrase: &self.passphrase,
            pids,
            feed,
            workdir,
            tunnel: self.tunnel.as_ref(),
        }
    }

    fn policy(&self) -> Step<&policy::Model> {
        self.policy
            .as_ref()
            .ok_or_else(|| Outcome::Error("the job's policy no longer exists".into()))
    }
}

impl JobRun {
    pub async fn execute(mut self) -> (Outcome, JobLog) {
        let outcome = match self.dispatch().await {
            Ok(o) | Err(o) => o,
        };
        (outcome, self.log)
    }

    async fn dispatch(&mut self) -> Step<Outcome> {
        let s = self.subjects().await?;
        self.log.hide(&s.passphrase);
        self.log.line(format!(
            "{} job {} on {}@{}:{} for policy {} into {}",
            self.job.job_type,
            self.job.id,
            s.client.username,
            s.client.hostname,
            s.client.port,
            s.policy.as_ref().map_or("(deleted)", |p| p.name.as_str()),
            s.repository.path
        ));
        match self.job.job_type {
            JobType::Check => self.check(s).await,
            JobType::Backup => self.backup(s).await,
            JobType::Catalog => self.catalog(s).await,
            JobType::Prune => self.prune(s).await,
            JobType::Restore => self.restore(s).await,
            JobType::Integrity => self.integrity(s).await,
        }
    }

    async fn subjects(&self) -> Step<Subjects> {
        let db = &self.eng.db;
        let missing = |what: &str| Outcome::Error(format!("the job's {what} no longer exists"));
        let policy = match self.job.policy_id {
            Some(id) => policy::Entity::find_by_id(id)
                .one(db)
                .await
                .map_err(db_err)?,
            None => None,
        };
        let client = match self.job.client_id {
            Some(id) => client::Entity::find_by_id(id)
                .one(db)
                .await
                .map_err(db_err)?,
            None => None,
        }
        .ok_or_else(|| missing("client"))?;
        let repository = match self.job.repository_id {
            Some(id) => repository::Entity::find_by_id(id)
                .one(db)
                .await
                .map_err(db_err)?,
            None => None,
        }
        .ok_or_else(|| missing("repository"))?;
        let mode_pull = policy.as_ref().is_some_and(|p| p.mode_pull);
        let access = self
            .eng
            .access(&client, &repository, mode_pull)
            .await
            .map_err(Outcome::Error)?;
        Ok(Subjects {
            policy,
            client,
            repository,
            passphrase: access.passphrase,
            target: access.target,
            location: access.location,
            tunnel: access.tunnel,
        })
    }

    /// Runs one borg; a canceled run or an SSH failure ends the job here.
    async fn borg(&mut self, s: &Subjects, argv: Vec<String>) -> Step<Finished> {
        self.borg_with(s, argv, None, None).await
    }

    /// Runs one borg reading `feed`'s output on stdin, or in `workdir` (see [`borg`](Self::borg)).
    async fn borg_with(
        &mut self,
        s: &Subjects,
        argv: Vec<String>,
        feed: Option<Feed<'_>>,
        workdir: Option<&str>,
    ) -> Step<Finished> {
        let pids = (self.eng.clone(), self.job.id);
        let on = s.session(&pids, feed, workdir);
        let (f, _) = remote::run_borg::<(), _, _>(
            &on,
            &argv,
            &mut self.log,
            &mut self.cancel,
            Stdout::Collect,
            |_| async { Ok(()) },
        )
        .await
        .map_err(|e| Outcome::Error(format!("running ssh: {e:#}")))?;
        self.ended_badly(s, &f).await?;
        Ok(f)
    }

    /// The cancel, SSH and "borg not there" cases every borg run shares.
    async fn ended_badly(&self, s: &Subjects, f: &Finished) -> Step<()> {
        if f.canceled {
            return Err(Outcome::Canceled);
        }
        if f.code == Some(SSH_ERROR_STATUS) {
            return Err(Outcome::Error(
                ssh_failure(&self.eng, &s.client, &f.stderr_tail).await,
            ));
        }
        if f.code != Some(0) && s.tunnel.as_ref().is_some_and(Tunnel::host_key_failed) {
            return Err(Outcome::Error(
                self.eng.changed_repository_key(&s.repository).await,
            ));
        }
        if f.code == Some(127) {
            return Err(Outcome::Error(format!(
                "borg is not installed on {} (command not found); install borgbackup there",
                s.client.hostname
            )));
        }
        Ok(())
    }

    /// Client: reachable, its borg version and IP. Repository: `borg init` unless it exists.
    async fn check(&mut self, s: Subjects) -> Step<Outcome> {
        let mut notes = Vec::new();
        let client_now = client::Entity::find_by_id(s.client.id)
            .one(&self.eng.db)
            .await
            .map_err(db_err)?;
        if client_now.is_some_and(|c| !c.ready) {
            // A fixed command line: no user value in it.
            let mut lines = Vec::new();
            let status = ssh::run_command_line(
                &s.target,
                "printf 'SSH_CONNECTION=%s\\n' \"$SSH_CONNECTION\"; borg --version",
                None,
                |l| lines.push(l),
            )
            .await
            .map_err(|e| Outcome::Error(format!("running ssh: {e}")))?;
            for l in &lines {
                self.log.line(l.clone());
            }
            if status.code() == Some(SSH_ERROR_STATUS) {
                return Err(Outcome::Error(
                    ssh_failure(&self.eng, &s.client, &lines).await,
                ));
            }
            let version = lines.iter().find_map(|l| borg::parse_version(l));
            let Some(version) = version else {
                return Err(Outcome::Error(format!(
                    "borg is not installed on {} (borg --version printed no version); install \
                     borgbackup there",
                    s.client.hostname
                )));
            };
            // SSH_CONNECTION = "client-ip client-port server-ip server-port": the third word is
            // the address the client was reached at.
            let ip = lines
                .iter()
                .find_map(|l| l.strip_prefix("SSH_CONNECTION="))
                .and_then(|c| c.split_whitespace().nth(2))
                .unwrap_or("")
                .to_string();
            client::ActiveModel {
                id: Set(s.client.id),
                ready: Set(true),
                version: Set(version.clone()),
                ip: Set(ip.clone()),
                modified: Set(now()),
                ..Default::default()
            }
            .update(&self.eng.db)
            .await
            .map_err(db_err)?;
            notes.push(format!("client ready: borg {version} at {ip}"));
        }
        let repo_now = repository::Entity::find_by_id(s.repository.id)
            .one(&self.eng.db)
            .await
            .map_err(db_err)?;
        if repo_now.is_some_and(|r| !r.ready) {
            let f = self.borg(&s, borg::init(&s.location)).await?;
            let exists = f.stderr_tail.iter().any(|l| borg::already_exists(l));
            if f.code != Some(0) && !exists {
                return Err(Outcome::Failed(format!(
                    "borg init failed (exit {}): {}",
                    code(&f),
                    last_line(&f)
                )));
            }
            // An existing repository must open with our passphrase.
            let info = self.borg(&s, borg::info(&s.location)).await?;
            if info.code != Some(0) {
                return Err(Outcome::Failed(format!(
                    "the repository exists but cannot be opened (exit {}): {}",
                    code(&info),
                    last_line(&info)
                )));
            }
            self.store_repository_sizes(&s, &info.stdout).await?;
            notes.push(if exists {
                "repository already initialised; ready".to_string()
            } else {
                "repository initialised (repokey); ready".to_string()
            });
        }
        Ok(Outcome::Successful(notes.join("; ")))
    }

    async fn backup(&mut self, s: Subjects) -> Step<Outcome> {
        let p = s.policy()?;
        let src = sources::for_policy(p.policy_type, &p.vmprovider, &p.extra_vars)
            .map_err(Outcome::Error)?;
        let taken: HashSet<String> = archive::Entity::find()
            .select_only()
            .column(archive::Column::Name)
            .filter(archive::Column::RepositoryId.eq(s.repository.id))
            .into_tuple::<String>()
            .all(&self.eng.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .chain(
                job::Entity::find()
                    .select_only()
                    .column(job::Column::ArchiveName)
                    .filter(job::Column::RepositoryId.eq(s.repository.id))
                    .filter(job::Column::JobType.eq(JobType::Backup))
                    .filter(job::Column::Id.ne(self.job.id))
                    .into_tuple::<String>()
                    .all(&self.eng.db)
                    .await
                    .map_err(db_err)?,
            )
            .collect();
        let name = borg::archive_name(
            s.policy()?.policy_type.as_str(),
            &s.client.hostname,
            now(),
            |n| taken.contains(n),
        );
        self.job.archive_name = name.clone();
        job::ActiveModel {
            id: Set(self.job.id),
            archive_name: Set(name.clone()),
            ..Default::default()
        }
        .update(&self.eng.db)
        .await
        .map_err(db_err)?;
        let argv = borg::create(&s.location, &name, &src, s.client.bandwidth_limit);
        let secret = match &src.stream {
            Some(st) => self.feed_secret(&s, st)?,
            None => None,
        };
        let feed = src.stream.as_ref().map(|st| Feed {
            command: &st.command,
            secret: secret.as_ref().map(|(var, value)| (*var, value.as_str())),
            fifos: st.fifos,
        });
        let f = self.borg_with(&s, argv, feed, None).await?;
        let warning = f.code == Some(1);
        if f.code != Some(0) && !warning {
            return Err(Outcome::Failed(format!(
                "borg create failed (exit {}): {}",
                code(&f),
                last_line(&f)
            )));
        }
        if let Some(st) = &src.stream
            && f.feed_exit != Some(0)
        {
            return Err(self.failed_feed(&s, &name, st, f.feed_exit).await);
        }
        let (stats, time) = borg::parse_create(&f.stdout).map_err(|e| {
            Outcome::Error(format!("borg create --json printed no statistics: {e}"))
        })?;
        job::ActiveModel {
            id: Set(self.job.id),
            original_size: Set(stats.original_size),
            compressed_size: Set(stats.compressed_size),
            deduplicated_size: Set(stats.deduplicated_size),
            ..Default::default()
        }
        .update(&self.eng.db)
        .await
        .map_err(db_err)?;
        archive::ActiveModel {
            repository_id: Set(s.repository.id),
            client_id: Set(Some(s.client.id)),
            policy_id: Set(Some(s.policy()?.id)),
            job_id: Set(Some(self.job.id)),
            name: Set(name.clone()),
            // borg's time of the archive, which retention decides by.
            created: Set(time),
            ..Default::default()
        }
        .insert(&self.eng.db)
        .await
        .map_err(db_err)?;
        self.refresh_repository_sizes(&s).await?;
        let mut text = format!(
            "archive {name}: {} files, {} bytes read, {} bytes added after deduplication",
            stats.nfiles, stats.original_size, stats.deduplicated_size
        );
        if warning {
            text.push_str("; borg finished with warnings (exit 1), see the log");
        }
        Ok(Outcome::Successful(text))
    }

    /// The secret a stream's command gets (the policy's decrypted `extra_vars.password`), to
    /// hide from the log as well.
    fn feed_secret(
        &mut self,
        s: &Subjects,
        st: &sources::Stream,
    ) -> Step<Option<(&'static str, String)>> {
        let (Some(var), Some(stored)) = (
            st.password_env,
            sources::stored_password(&s.policy()?.extra_vars),
        ) else {
            return Ok(None);
        };
        let password = self.eng.secrets.decrypt(&stored).map_err(|e| {
            Outcome::Error(format!(
                "the policy's password cannot be decrypted with this server's secret key ({e}); \
                 was CYBORG_SECRET_KEY changed?"
            ))
        })?;
        self.log.hide(&password);
        Ok(Some((var, password)))
    }

    /// A stream whose command failed: borg archived what the command wrote before it failed,
    /// which must not pass for a good backup, so that archive is deleted.
    async fn failed_feed(
        &mut self,
        s: &Subjects,
        name: &str,
        st: &sources::Stream,
        status: Option<i32>,
    ) -> Outcome {
        let status = status.map_or_else(|| "no status".to_string(), |c| format!("status {c}"));
        let deleted = match self.borg(s, borg::delete_archive(&s.location, name)).await {
            Ok(f) if f.code == Some(0) => format!("the partial archive {name} was deleted"),
            Ok(f) => format!(
                "deleting the partial archive {name} failed too (exit {}): delete it by hand",
                code(&f)
            ),
            Err(o) => return o,
        };
        Outcome::Failed(format!(
            "the command whose output is archived ({}) ended with {status}; {deleted}",
            st.what
        ))
    }

    /// `borg extract` of the job's items into its destination folder on its client (made if
    /// missing; not touched at all for a dry run).
    async fn restore(&mut self, s: Subjects) -> Step<Outcome> {
        let p: super::plans::RestoreParams =
            serde_json::from_str(&self.job.extra_vars).map_err(|e| {
                Outcome::Error(format!("the restore job's parameters are unreadable: {e}"))
            })?;
        let argv = borg::extract(&s.location, &self.job.archive_name, &p.items, p.dry_run);
        let workdir = (!p.dry_run).then_some(p.dest_folder.as_str());
        let f = self.borg_with(&s, argv, None, workdir).await?;
        let warning = f.code == Some(1);
        if f.code != Some(0) && !warning {
            return Err(Outcome::Failed(format!(
                "borg extract failed (exit {}): {}",
                code(&f),
                last_line(&f)
            )));
        }
        let what = if p.items.is_empty() {
            "everything".to_string()
        } else {
            format!("{} item(s)", p.items.len())
        };
        let mut text = if p.dry_run {
            format!(
                "dry run: {what} of {} listed, nothing written",
                self.job.archive_name
            )
        } else {
            format!(
                "{what} of {} restored into {}:{}",
                self.job.archive_name, s.client.hostname, p.dest_folder
            )
        };
        if warning {
            text.push_str("; borg finished with warnings (exit 1), see the log");
        }
        Ok(Outcome::Successful(text))
    }

    /// The archive this catalog (or prune) job follows: its master backup's.
    async fn master_archive(&self, s: &Subjects) -> Step<archive::Model> {
        let name = match self.job.master_job_id {
            Some(id) => job::Entity::find_by_id(id)
                .one(&self.eng.db)
                .await
                .map_err(db_err)?
                .map(|m| m.archive_name),
            None => None,
        }
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| self.job.archive_name.clone());
        archive::Entity::find()
            .filter(archive::Column::RepositoryId.eq(s.repository.id))
            .filter(archive::Column::Name.eq(name.clone()))
            .one(&self.eng.db)
            .await
            .map_err(db_err)?
            .ok_or_else(|| {
                Outcome::Error(format!(
                    "the archive {name:?} is not known (pruned, or its backup did not finish)"
                ))
            })
    }

    async fn catalog(&mut self, s: Subjects) -> Step<Outcome> {
        let arch = self.master_archive(&s).await?;
        job::ActiveModel {
            id: Set(self.job.id),
            archive_name: Set(arch.name.clone()),
            ..Default::default()
        }
        .update(&self.eng.db)
        .await
        .map_err(db_err)?;
        let db = self.eng.db.clone();
        let archive_id = arch.id;
        let pids = (self.eng.clone(), self.job.id);
        let started = std::time::Instant::now();
        let on = s.session(&pids, None, None);
        let (f, consumed) = remote::run_borg(
            &on,
            &borg::list_items(&s.location, &arch.name),
            &mut self.log,
            &mut self.cancel,
            Stdout::Stream,
            move |stdout| async move {
                // The ingestion future holds sqlx connections across awaits in a way rustc cannot
                // prove `Send` for (higher-ranked lifetimes); it runs to completion on a blocking
                // thread of the runtime instead, which needs no `Send` future.
                let rt = tokio::runtime::Handle::current();
                tokio::task::spawn_blocking(move || {
                    rt.block_on(catalog::ingest(
                        &db,
                        archive_id,
                        BufReader::with_capacity(1 << 18, stdout),
                    ))
                })
                .await
                .map_err(|e| anyhow::anyhow!("the catalog task failed: {e}"))?
            },
        )
        .await
        .map_err(|e| Outcome::Error(format!("running ssh: {e:#}")))?;
        if f.canceled || f.code != Some(0) {
            // Whatever was ingested of a stopped or failed listing is incomplete.
            let _ = catalog::remove_archive(&self.eng.db, archive_id).await;
        }
        self.ended_badly(&s, &f).await?;
        if f.code != Some(0) {
            return Err(Outcome::Failed(format!(
                "borg list failed (exit {}): {}",
                code(&f),
                last_line(&f)
            )));
        }
        match consumed {
            Some(Ok(stats)) => {
                let text = format!(
                    "catalogued {} entries of {} ({} new paths) in {:.1} s",
                    stats.entries,
                    arch.name,
                    stats.new_paths,
                    started.elapsed().as_secs_f64()
                );
                self.log.line(text.clone());
                if stats.new_paths > 0 {
                    // The next path search is fast again without waiting for a first slow one.
                    self.eng.catalog_index.warm_up(self.eng.db.clone());
                }
                Ok(Outcome::Successful(text))
            }
            Some(Err(e)) => Err(Outcome::Error(format!("catalog ingestion failed: {e:#}"))),
            None => Err(Outcome::Error("catalog ingestion did not run".into())),
        }
    }

    /// Retention of one lineage: the archives this server recorded for exactly this
    /// repository, policy and client, kept or deleted by the policy's rules
    /// ([`retention::decide`], what `GET /api/v1/policies/{id}/retention/` shows), the deleted
    /// ones by name. Nothing else in the repository is touched.
    async fn prune(&mut self, s: Subjects) -> Step<Outcome> {
        let p = s.policy()?;
        let rules = Rules::of(p)
            .map_err(|e| Outcome::Error(format!("the policy's keep rules cannot be read: {e}")))?;
        if !rules.any() {
            return Ok(Outcome::Successful(
                "the policy keeps every archive (no keep_* rule); nothing pruned".into(),
            ));
        }
        let listed = self.repository_archives(&s).await?;
        let lineage = retention::lineage(&self.eng.db, s.repository.id, p.id, s.client.id)
            .await
            .map_err(db_err)?;
        // borg's own time of each archive it still has (rows recorded before the server kept
        // borg's time are corrected here); the ones borg no longer has are forgotten below.
        let mut present = Vec::new();
        for mut a in lineage {
            let Some(&time) = listed.get(&a.name) else {
                continue;
            };
            if a.created != time {
                archive::ActiveModel {
                    id: Set(a.id),
                    created: Set(time),
                    ..Default::default()
                }
                .update(&self.eng.db)
                .await
                .map_err(db_err)?;
                a.created = time;
            }
            present.push(a);
        }
        let times: Vec<_> = present.iter().map(|a| a.created).collect();
        let decisions = retention::decide(&times, &rules, now());
        // borg would delete a whole lineage when no archive matches a rule (keep_within alone,
        // backups stopped for longer than it): a lineage is never emptied by a prune.
        if !present.is_empty() && decisions.iter().all(Option::is_none) {
            return Err(Outcome::Failed(format!(
                "the keep rules of {} keep none of its {} archive(s) on {}; nothing was deleted \
                 (a prune never deletes every archive of a client: check the rules, or delete \
                 by hand)",
                p.name,
                present.len(),
                s.client.hostname
            )));
        }
        let mut doomed = Vec::new();
        for (a, kept) in present.iter().zip(&decisions) {
            match kept {
                Some(k) => self.log.line(format!(
                    "keeping {} ({} #{})",
                    a.name,
                    k.borg_rule(),
                    k.number
                )),
                None => {
                    self.log.line(format!("deleting {}", a.name));
                    doomed.push(a.name.clone());
                }
            }
        }
        for batch in doomed.chunks(borg::DELETE_BATCH) {
            let Some(argv) = borg::delete_archives(&s.location, batch) else {
                continue;
            };
            let f = self.borg(&s, argv).await?;
            // 1: a warning, such as an archive already gone.
            if f.code != Some(0) && f.code != Some(1) {
                return Err(Outcome::Failed(format!(
                    "borg delete failed (exit {}): {}",
                    code(&f),
                    last_line(&f)
                )));
            }
        }
        if !doomed.is_empty() {
            let f = self.borg(&s, borg::compact(&s.location)).await?;
            if f.code != Some(0) && f.code != Some(1) {
                return Err(Outcome::Failed(format!(
                    "borg compact failed (exit {}): {}",
                    code(&f),
                    last_line(&f)
                )));
            }
        }
        // After a delete borg is asked again: what it lists now is the truth.
        let listed = if doomed.is_empty() {
            listed
        } else {
            self.repository_archives(&s).await?
        };
        let removed = self.forget_gone_archives(&s, &listed).await?;
        self.refresh_repository_sizes(&s).await?;
        Ok(Outcome::Successful(format!(
            "{} archive(s) of {} on {} kept, {} deleted; {removed} archive(s) removed from the \
             catalog",
            present.len() - doomed.len(),
            p.name,
            s.client.hostname,
            doomed.len()
        )))
    }

    /// The archives borg lists in the job's repository, by name, with borg's times.
    async fn repository_archives(
        &mut self,
        s: &Subjects,
    ) -> Step<HashMap<String, chrono::DateTime<chrono::Utc>>> {
        let f = self.borg(s, borg::list_archives(&s.location)).await?;
        if f.code != Some(0) {
            return Err(Outcome::Failed(format!(
                "borg list failed (exit {}): {}",
                code(&f),
                last_line(&f)
            )));
        }
        Ok(borg::parse_archives(&f.stdout)
            .map_err(|e| Outcome::Error(format!("borg list --json: {e}")))?
            .into_iter()
            .collect())
    }

    /// Drops the catalog of every archive of the repository that borg no longer lists.
    async fn forget_gone_archives(
        &mut self,
        s: &Subjects,
        names: &HashMap<String, chrono::DateTime<chrono::Utc>>,
    ) -> Step<usize> {
        let known = archive::Entity::find()
            .filter(archive::Column::RepositoryId.eq(s.repository.id))
            .all(&self.eng.db)
            .await
            .map_err(db_err)?;
        let mut removed = 0;
        for a in known.into_iter().filter(|a| !names.contains_key(&a.name)) {
            let r = catalog::remove_archive(&self.eng.db, a.id)
                .await
                .map_err(|e| Outcome::Error(format!("removing a pruned catalog: {e:#}")))?;
            archive::Entity::delete_by_id(a.id)
                .exec(&self.eng.db)
                .await
                .map_err(db_err)?;
            self.log.line(format!(
                "archive {} is gone: {} catalog entries removed",
                a.name, r.entries
            ));
            removed += 1;
        }
        Ok(removed)
    }

    async fn refresh_repository_sizes(&mut self, s: &Subjects) -> Step<()> {
        let f = self.borg(s, borg::info(&s.location)).await?;
        if f.code != Some(0) {
            self.log.line(format!(
                "borg info failed (exit {}); repository sizes not updated",
                code(&f)
            ));
            return Ok(());
        }
        self.store_repository_sizes(s, &f.stdout).await
    }

    async fn store_repository_sizes(&mut self, s: &Subjects, info: &str) -> Step<()> {
        let sizes = match borg::parse_info(info) {
            Ok(z) => z,
            Err(e) => {
                self.log.line(format!(
                    "borg info --json not understood ({e}); sizes not updated"
                ));
                return Ok(());
            }
        };
        repository::ActiveModel {
            id: Set(s.repository.id),
            original_size: Set(sizes.original_size),
            compressed_size: Set(sizes.compressed_size),
            deduplicated_size: Set(sizes.deduplicated_size),
            ready: Set(true),
            modified: Set(now()),
            ..Default::default()
        }
        .update(&self.eng.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}

fn db_err(e: sea_orm::DbErr) -> Outcome {
    Outcome::Error(format!("database: {e}"))
}

fn code(f: &Finished) -> String {
    f.code
        .map(|c| c.to_string())
        .unwrap_or_else(|| "killed by a signal".into())
}

fn last_line(f: &Finished) -> String {
    f.stderr_tail
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty())
        .cloned()
        .unwrap_or_default()
}

/// Why OpenSSH failed, in words an operator can act on.
async fn ssh_failure(eng: &Engine, c: &client::Model, lines: &[String]) -> String {
    let all = lines.join("\n");
    let host = format!("{}@{}:{}", c.username, c.hostname, c.port);
    if all.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || all.contains("Host key verification failed")
    {
        return eng.changed_client_key(c).await;
    }
    if all.contains("Permission denied") {
        return format!(
            "{host} refused the server's SSH key: add the line from GET \
             /api/v1/settings/ssh_public_key/ (authorized_keys) to ~{}/.ssh/authorized_keys on \
             the client.",
            c.username
        );
    }
    let last = lines
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty())
        .cloned()
        .unwrap_or_default();
    format!("SSH to {host} failed: {last}")
}
