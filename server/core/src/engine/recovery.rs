//! Start-up recovery: jobs this node left `running` (the process was killed or
//! crashed) are stopped and marked `error`; `pending` and `waiting` jobs simply resume. The same
//! for the running jobs of a dead node, taken over by a live one (`take_over`, from
//! `cluster`): it has no local ssh of them to kill, the rest is alike.
//!
//! A killed server leaves its `ssh` children running (they have their own process group) and
//! with them borg on the client, holding the repository lock. So, for each such job: the remote
//! borg recorded in `remote_pid` is asked to stop through a new connection (SIGTERM, borg then
//! releases its lock; SIGKILL after 30 s), the local ssh group is killed, and only when borg had
//! to be killed — and is confirmed gone — is `borg break-lock` run, so a lock is never broken
//! under a live borg of ours.
use cyborg_dto::JobStatus;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{
    Access, Engine,
    exec::Outcome,
    log::JobLog,
    remote::{self, kill_group},
    runner,
};
use crate::entities::{client, job, policy, repository};

pub async fn recover(eng: &Engine) -> anyhow::Result<()> {
    let Some(node) = eng.node_id() else {
        return Ok(());
    };
    let left = job::Entity::find()
        .filter(job::Column::Status.eq(JobStatus::Running))
        .filter(job::Column::RunnerNode.eq(node))
        .all(&eng.db)
        .await?;
    let found = format!(
        "The server stopped while this job was running; found at start-up on {}.",
        stamp(crate::stamps::now())
    );
    for j in left {
        stop_and_record(
            eng,
            j,
            "the server stopped while this job was running; recovering at start-up",
            found.clone(),
            true,
        )
        .await?;
    }
    Ok(())
}

/// The jobs `dead` had running, taken over by this node: stopped and marked `error`.
pub async fn take_over(
    eng: &Engine,
    dead: &crate::entities::node::Model,
    jobs: Vec<job::Model>,
) -> anyhow::Result<()> {
    let me = eng.node_id().unwrap_or_default().to_string();
    let why = format!(
        "Node {} ({}) stopped answering at {}; node {me} took its jobs over.",
        dead.id,
        dead.hostname,
        stamp(dead.heartbeat)
    );
    let line = format!(
        "node {} stopped answering; node {me} takes this job over",
        dead.id
    );
    // Side by side: stopping one borg may take half a minute, and a takeover still unfinished
    // after a few minutes is taken again by another node (`cluster::RETAKE`).
    let stops = jobs
        .into_iter()
        .map(|j| stop_and_record(eng, j, &line, why.clone(), false));
    for r in futures_util::future::join_all(stops).await {
        r?;
    }
    Ok(())
}

fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Stops what is left of one job (its remote borg, the lock it held; its local ssh when
/// `local`: the job ran in this process's previous life on this machine) and marks it `error`
/// with `first_note` and what was found.
async fn stop_and_record(
    eng: &Engine,
    j: job::Model,
    log_line: &str,
    first_note: String,
    local: bool,
) -> anyhow::Result<()> {
    let mut log = JobLog::open(&eng.db, &eng.hub, j.id).await?;
    log.line(log_line);
    let mut notes = vec![first_note];
    let local_alive = j
        .local_pid
        .and_then(|p| u32::try_from(p).ok())
        .filter(|p| local && is_our_ssh(eng, *p));
    let access = access_of(eng, &j).await;
    match (j.remote_pid.and_then(|p| u32::try_from(p).ok()), &access) {
        (Some(pid), Some(a)) => {
            let killed = remote::stop_remote(&a.target, pid, &mut log).await;
            if killed {
                // Confirmed gone only if the stop script said so; break the lock then (through
                // a new tunnel where there is one: the old one died with the process).
                let argv = vec![
                    "borg".to_string(),
                    "break-lock".into(),
                    "--".into(),
                    a.location.clone(),
                ];
                let (tx, mut rx) = tokio::sync::watch::channel(false);
                let pids = NoPids;
                let on = remote::Session {
                    target: &a.target,
                    passphrase: &a.passphrase,
                    pids: &pids,
                    feed: None,
                    workdir: None,
                    tunnel: a.tunnel.as_ref(),
                };
                match remote::run_borg::<(), _, _>(
                    &on,
                    &argv,
                    &mut log,
                    &mut rx,
                    remote::Stdout::Collect,
                    |_| async { Ok(()) },
                )
                .await
                {
                    Ok((f, _)) if f.code == Some(0) => notes
                        .push("Its borg had to be killed; the repository lock was broken.".into()),
                    _ => notes.push(
                        "Its borg had to be killed and the repository lock could not be \
                         broken; run `borg break-lock` on the client once no borg runs."
                            .into(),
                    ),
                }
                drop(tx);
            } else {
                notes.push(format!(
                    "Its borg (pid {pid} on the client) was stopped and released the \
                     repository lock."
                ));
            }
        }
        (None, _) => notes.push("No borg process of it was running on the client.".into()),
        (Some(pid), None) => notes.push(format!(
            "Its borg (pid {pid} on the client) could not be checked: the client or \
             repository no longer exists, or cannot be reached."
        )),
    }
    if let Some(pg) = local_alive {
        kill_group(pg, libc::SIGKILL);
    }
    runner::finish(
        eng,
        j.id,
        &j.runner_node,
        Outcome::Error(notes.join(" ")),
        Some(log),
    )
    .await?;
    Ok(())
}

struct NoPids;

impl remote::Pids for NoPids {
    async fn local(&self, _: Option<u32>) {}
    async fn remote(&self, _: Option<u32>) {}
}

/// Whether `pid` is still an ssh started by this server (its command line names our key), so a
/// recycled pid is never killed.
fn is_our_ssh(eng: &Engine, pid: u32) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let key = crate::ssh_keys::private_key_path(&eng.data_dir);
    let key = key.to_string_lossy();
    cmdline
        .split(|b| *b == 0)
        .next()
        .is_some_and(|argv0| argv0.ends_with(b"ssh"))
        && String::from_utf8_lossy(&cmdline).contains(key.as_ref())
}

/// How the job's borg reached its repository (a new tunnel where it used one).
async fn access_of(eng: &Engine, j: &job::Model) -> Option<Access> {
    let c = client::Entity::find_by_id(j.client_id?)
        .one(&eng.db)
        .await
        .ok()??;
    let r = repository::Entity::find_by_id(j.repository_id?)
        .one(&eng.db)
        .await
        .ok()??;
    let mode_pull = match j.policy_id {
        Some(id) => policy::Entity::find_by_id(id)
            .one(&eng.db)
            .await
            .ok()
            .flatten()
            .is_some_and(|p| p.mode_pull),
        None => false,
    };
    eng.access(&c, &r, mode_pull).await.ok()
}
