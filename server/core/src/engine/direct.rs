//! One borg run for an operator's request outside any job (archive details, diff, rename and
//! delete, key export, lock state, break-lock): on a client of the repository, reached and
//! given the repository exactly as a job's borg is (`access`), its output collected with a
//! time limit. Callers that change the repository hold it first (`hold`).
use std::{path::Path, time::Duration};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use super::{Engine, access::Access, launch::JobStatus, remote, ssh::SSH_ERROR_STATUS};
use crate::{
    entities::{archive, client, job, policy, policy_client, repository},
    error::{Error, Result},
};

/// The most stdout kept (a diff of two large archives is the biggest answer).
const MAX_STDOUT: usize = 256 << 20;

/// What one borg printed and how it ended.
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    /// The last stderr lines.
    pub stderr_tail: Vec<String>,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// The last non-empty stderr line.
    pub fn last_line(&self) -> String {
        self.stderr_tail
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .cloned()
            .unwrap_or_default()
    }
}

/// A client through which the repository is reached, with everything its borg needs.
pub struct Through {
    pub client: client::Model,
    pub access: Access,
    /// The repository is a folder on this server served to the client (pull mode).
    pub mode_pull: bool,
    /// The policy that says how the client reaches the repository (its pull mode).
    pub policy: Option<i32>,
}

/// The client an archive's borg runs on: its own client (whose path to the repository made
/// it), else the repository's.
pub async fn for_archive(
    eng: &Engine,
    r: &repository::Model,
    a: &archive::Model,
) -> Result<Through> {
    if let Some(c) = a.client_id
        && let Some(c) = client::Entity::find_by_id(c).one(&eng.db).await?
    {
        return reach(eng, c, r, a.policy_id).await;
    }
    for_repository(eng, r).await
}

/// The client of the repository's newest successful job, else a client of one of its
/// policies: borg runs where the repository is known to be reachable.
pub async fn for_repository(eng: &Engine, r: &repository::Model) -> Result<Through> {
    let newest = job::Entity::find()
        .filter(job::Column::RepositoryId.eq(r.id))
        .filter(job::Column::Status.eq(JobStatus::Successful))
        .filter(job::Column::ClientId.is_not_null())
        .order_by_desc(job::Column::Id)
        .one(&eng.db)
        .await?;
    let mut pick: Option<(i32, Option<i32>)> =
        newest.map(|j| (j.client_id.unwrap_or(0), j.policy_id));
    if pick.is_none() {
        for p in policy::Entity::find()
            .filter(policy::Column::RepositoryId.eq(r.id))
            .all(&eng.db)
            .await?
        {
            if let Some(l) = policy_client::Entity::find()
                .filter(policy_client::Column::PolicyId.eq(p.id))
                .one(&eng.db)
                .await?
            {
                pick = Some((l.client_id, Some(p.id)));
                break;
            }
        }
    }
    let none = || {
        Error::Conflict(
            "No client reaches this repository yet: borg runs on a client of one of its \
             policies; add a policy with a client first."
                .into(),
        )
    };
    let (client_id, policy_id) = pick.ok_or_else(none)?;
    let c = client::Entity::find_by_id(client_id)
        .one(&eng.db)
        .await?
        .ok_or_else(none)?;
    reach(eng, c, r, policy_id).await
}

async fn reach(
    eng: &Engine,
    c: client::Model,
    r: &repository::Model,
    policy: Option<i32>,
) -> Result<Through> {
    let mode_pull = match policy {
        Some(p) => policy::Entity::find_by_id(p)
            .one(&eng.db)
            .await?
            .is_some_and(|p| p.mode_pull),
        None => false,
    };
    let access = eng
        .access(&c, r, mode_pull)
        .await
        .map_err(|e| Error::Conflict(format!("Reaching {} through {}: {e}", r.name, c.hostname)))?;
    Ok(Through {
        client: c,
        access,
        mode_pull,
        policy,
    })
}

/// Runs `argv` (built by `borg`, with `through.access.location` as the repository) and
/// collects its output; an SSH failure or the time limit is an error (502), a borg that ran
/// and failed is an `Output` for the caller to judge.
pub async fn run(through: &Through, argv: &[String], limit: Duration) -> Result<Output> {
    let a = &through.access;
    let mut child = remote::spawn_borg(&a.target, argv, &a.passphrase, a.tunnel.as_ref())
        .map_err(|e| Error::BadGateway(format!("running ssh: {e:#}")))?;
    let mut stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let run = async {
        let out = async {
            let mut buf = Vec::new();
            (&mut stdout)
                .take(MAX_STDOUT as u64)
                .read_to_end(&mut buf)
                .await
                .map(|_| buf)
        };
        let err = async {
            let mut lines = BufReader::new(stderr).lines();
            let mut tail: Vec<String> = Vec::new();
            while let Ok(Some(l)) = lines.next_line().await {
                if !l.starts_with("CYBORG-PID ") {
                    tail.push(l);
                    if tail.len() > 8 {
                        tail.remove(0);
                    }
                }
            }
            tail
        };
        let (out, tail) = tokio::join!(out, err);
        let status = child.wait().await;
        (out, tail, status)
    };
    let (out, tail, status) = tokio::time::timeout(limit, run).await.map_err(|_| {
        Error::BadGateway(format!(
            "borg on {} did not answer within {} s",
            through.client.hostname,
            limit.as_secs()
        ))
    })?;
    let out = out.map_err(|e| Error::BadGateway(format!("reading borg's output: {e}")))?;
    let code = status
        .map_err(|e| Error::BadGateway(format!("waiting for ssh: {e}")))?
        .code();
    if code == Some(SSH_ERROR_STATUS) {
        return Err(Error::BadGateway(format!(
            "{} could not be reached over SSH: {}",
            through.client.hostname,
            tail.join(" / ")
        )));
    }
    Ok(Output {
        code,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr_tail: tail,
    })
}

/// Who holds a repository's lock and since when, from borg's `lock.roster` and the age of
/// `lock.exclusive`: readable where the repository is a folder (on the client, over SSH; or on
/// this server in pull mode), not through a remote repository's `borg serve`.
pub struct LockHolder {
    pub holder: String,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn lock_holder(through: &Through, r: &repository::Model) -> Option<LockHolder> {
    let folder = match super::location::parse(&r.path).ok()? {
        super::location::Location::Folder(p) => p,
        super::location::Location::Remote(_) => return None,
    };
    let text = if through.mode_pull {
        let p = Path::new(&folder);
        let since = std::fs::metadata(p.join("lock.exclusive"))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs().to_string())
            .unwrap_or_default();
        let roster = std::fs::read_to_string(p.join("lock.roster")).unwrap_or_default();
        format!("{since}\n{roster}")
    } else {
        let q = |name: &str| super::shell::quote(&format!("{folder}/{name}")).ok();
        let line = format!(
            "stat -c %Y -- {} 2>/dev/null; echo; cat -- {} 2>/dev/null",
            q("lock.exclusive")?,
            q("lock.roster")?
        );
        let out = tokio::time::timeout(
            Duration::from_secs(30),
            through.access.target.command(&line).output(),
        )
        .await
        .ok()?
        .ok()?;
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    parse_roster(&text)
}

/// `EPOCH\nROSTER-JSON` (either may be empty) → the holder.
fn parse_roster(text: &str) -> Option<LockHolder> {
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let since = first
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0));
    let roster: serde_json::Value = serde_json::from_str(rest.trim()).ok()?;
    let holder = roster["exclusive"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(|h| h.as_array())
        .map(|h| {
            let who = h.first().and_then(|v| v.as_str()).unwrap_or("?");
            match h.get(1).and_then(|v| v.as_i64()) {
                Some(pid) => format!("{who}, pid {pid}"),
                None => who.to_string(),
            }
        })?;
    Some(LockHolder { holder, since })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rosters_name_the_holder() {
        let h = parse_roster(
            "1764780000\n{\"exclusive\": [[\"web1@123456789\", 4242, 0]], \"shared\": []}",
        )
        .unwrap();
        assert_eq!(h.holder, "web1@123456789, pid 4242");
        assert_eq!(h.since.unwrap().timestamp(), 1_764_780_000);
        assert!(parse_roster("\n").is_none());
        assert!(parse_roster("12\n{\"exclusive\": []}").is_none());
    }
}
