//! What each job type does on its client, one file each under `exec/`: `check` prepares client
//! and repository, `backup` runs `borg create`, `catalog` indexes the archive, `prune` prunes and
//! compacts, `restore` extracts, `integrity` checks and test-restores. This file holds what they
//! share: the job's subjects, running borg, the outcome. Every borg goes through
//! `remote::run_borg`; results come back as an [`Outcome`] for the runner.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use tokio::sync::watch;

use super::{
    Engine, borg,
    launch::JobType,
    log::JobLog,
    remote::{self, Feed, Finished, Pids, Session, Stdout},
    ssh::{SSH_ERROR_STATUS, SshTarget},
    tunnel::Tunnel,
};
use crate::{
    entities::{client, job, policy, repository},
    stamps::now,
};

mod backup;
mod catalog;
mod check;
mod integrity;
mod prune;
mod restore;

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
            "{host} {REFUSED_KEY}: add the line from GET \
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
    format!("{SSH_TO}{host}{FAILED}{last}")
}

const SSH_TO: &str = "SSH to ";
const FAILED: &str = " failed: ";
const REFUSED_KEY: &str = "refused the server's SSH key";

/// Whether a job's explanation is one of [`ssh_failure`]'s "could not reach the client", or a
/// host key that could not be fetched because nothing answered (the alert rules'
/// `client_unreachable`).
pub fn is_ssh_failure(explanation: &str) -> bool {
    explanation.contains(REFUSED_KEY)
        || explanation.contains(super::host_keys::NO_HOST_KEY)
        || explanation
            .find(SSH_TO)
            .is_some_and(|i| explanation[i..].contains(FAILED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_failures_are_recognised_and_nothing_else() {
        for unreachable in [
            "SSH to root@web1:22 failed: ssh: connect to host web1 port 22: Connection refused",
            "Scheduled late. SSH to root@web1:22 failed: Connection timed out",
            "root@web1:22 refused the server's SSH key: add the line …",
            "The SSH host key of client web1 is not confirmed yet, and it could not be fetched: \
             web1:22 presented no SSH host key (unreachable, or not an SSH server): ",
        ] {
            assert!(is_ssh_failure(unreachable), "{unreachable}");
        }
        for other in [
            "borg create ended with status 2",
            "the job's policy no longer exists",
            "SSH to the moon",
            "",
        ] {
            assert!(!is_ssh_failure(other), "{other}");
        }
    }
}
