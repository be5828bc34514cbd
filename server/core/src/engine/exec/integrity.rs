//! `integrity` jobs: `borg check` of the repository, then a restore test — a random sample of the
//! regular files the catalog knows in the job's archive is extracted (`borg extract --stdout`,
//! hashed on the server as it streams) and compared with the catalog (size) and, where the
//! source on the client is still as it was backed up (same size and mtime), with the source
//! itself (SHA-256).
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::{JobRun, Outcome, Step, Subjects, code, db_err, last_line};
use crate::{
    engine::{
        borg,
        remote::{self, Stdout},
        shell, ssh,
    },
    entities::{archive, catalog_entry, catalog_path},
};

/// Files larger than this are not sampled: each is read whole on the client and the server.
const MAX_SAMPLED_SIZE: i64 = 256 << 20;
/// Problems named in the explanation; the log has them all.
const NAMED: usize = 5;

struct Pick {
    path: String,
    size: i64,
    mtime: Option<i64>,
}

/// The source file on the client now: size, mtime (seconds) and SHA-256.
struct Live {
    size: i64,
    mtime: i64,
    sha256: String,
}

impl JobRun {
    pub(super) async fn integrity(&mut self, s: Subjects) -> Step<Outcome> {
        let p: crate::engine::plans::IntegrityParams = serde_json::from_str(&self.job.extra_vars)
            .map_err(|e| {
            Outcome::Error(format!(
                "the integrity job's parameters are unreadable: {e}"
            ))
        })?;
        let f = self
            .borg(&s, borg::check(&s.location, p.verify_data))
            .await?;
        // Unlike other commands, borg 1.2's check exits 1 ("warning") when it FOUND errors
        // ("Finished full repository check, errors found."): anything but 0 is a failed check.
        if f.code != Some(0) {
            return Err(Outcome::Failed(format!(
                "borg check found problems (exit {}): {}",
                code(&f),
                last_line(&f)
            )));
        }
        let mut notes = vec!["borg check: no problem found".to_string()];
        if p.sample == 0 || self.job.archive_name.is_empty() {
            if self.job.archive_name.is_empty() {
                notes.push("no archive to sample".into());
            }
            return Ok(Outcome::Successful(notes.join("; ")));
        }
        let arch = archive::Entity::find()
            .filter(archive::Column::RepositoryId.eq(s.repository.id))
            .filter(archive::Column::Name.eq(self.job.archive_name.clone()))
            .one(&self.eng.db)
            .await
            .map_err(db_err)?;
        let Some(arch) = arch else {
            notes.push(format!(
                "archive {} is gone; no sample",
                self.job.archive_name
            ));
            return Ok(Outcome::Successful(notes.join("; ")));
        };
        let picks = self.sample(arch.id, p.sample).await?;
        if picks.is_empty() {
            notes.push(format!(
                "the catalog holds no regular file of {} to sample (was its catalog job run?)",
                arch.name
            ));
            return Ok(Outcome::Successful(notes.join("; ")));
        }
        let live = self.live(&s, &picks).await?;
        let (mut equal, mut changed, mut gone) = (0, 0, 0);
        let mut problems: Vec<String> = Vec::new();
        for (pick, now) in picks.iter().zip(live) {
            let (size, sha256) = match self.extract_hash(&s, &arch.name, &pick.path).await? {
                Ok(x) => x,
                Err(why) => {
                    problems.push(format!("{}: {why}", pick.path));
                    continue;
                }
            };
            if i64::try_from(size).ok() != Some(pick.size) {
                problems.push(format!(
                    "{}: {size} bytes extracted, the catalog says {}",
                    pick.path, pick.size
                ));
                continue;
            }
            match now {
                Some(l) if l.size == pick.size && Some(l.mtime) == pick.mtime => {
                    if l.sha256 == sha256 {
                        equal += 1;
                    } else {
                        problems.push(format!(
                            "{}: the extracted content differs from the source, which has the \
                             same size and modification time as when it was backed up",
                            pick.path
                        ));
                    }
                }
                Some(_) => changed += 1,
                None => gone += 1,
            }
        }
        for p in &problems {
            self.log.line(format!("PROBLEM {p}"));
        }
        let summary = format!(
            "{} file(s) of {} extracted: {equal} equal to their unchanged source, {changed} \
             changed since the backup, {gone} no longer on the client",
            picks.len(),
            arch.name
        );
        if !problems.is_empty() {
            let mut named: Vec<String> = problems.iter().take(NAMED).cloned().collect();
            if problems.len() > NAMED {
                named.push(format!("{} more in the log", problems.len() - NAMED));
            }
            return Err(Outcome::Failed(format!(
                "{}; {summary}; {} problem(s): {}",
                notes.join("; "),
                problems.len(),
                named.join("; ")
            )));
        }
        notes.push(format!("{summary}; sizes as catalogued"));
        Ok(Outcome::Successful(notes.join("; ")))
    }

    /// Up to `n` regular files of the archive, at random.
    async fn sample(&self, archive_id: i32, n: u32) -> Step<Vec<Pick>> {
        let rows: Vec<(i64, i64, Option<chrono::DateTime<chrono::Utc>>)> =
            catalog_entry::Entity::find()
                .select_only()
                .column(catalog_entry::Column::PathId)
                .column(catalog_entry::Column::Size)
                .column(catalog_entry::Column::Mtime)
                .filter(catalog_entry::Column::ArchiveId.eq(archive_id))
                .filter(catalog_entry::Column::Mode.starts_with("-"))
                .filter(catalog_entry::Column::Size.lte(MAX_SAMPLED_SIZE))
                .order_by(Expr::cust("RANDOM()"), sea_orm::Order::Asc)
                .limit(u64::from(n))
                .into_tuple()
                .all(&self.eng.db)
                .await
                .map_err(db_err)?;
        let paths: std::collections::HashMap<i64, String> = catalog_path::Entity::find()
            .filter(catalog_path::Column::Id.is_in(rows.iter().map(|r| r.0)))
            .all(&self.eng.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|p| (p.id, p.path))
            .collect();
        Ok(rows
            .into_iter()
            .filter_map(|(id, size, mtime)| {
                Some(Pick {
                    path: paths.get(&id)?.clone(),
                    size,
                    mtime: mtime.map(|t| t.timestamp()),
                })
            })
            .collect())
    }

    /// The sampled files as they are on the client now (one command for all; `None`: not a
    /// regular file there any more).
    async fn live(&mut self, s: &Subjects, picks: &[Pick]) -> Step<Vec<Option<Live>>> {
        let quoted = picks
            .iter()
            .map(|p| shell::quote(&format!("/{}", p.path)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Outcome::Error(e.to_string()))?;
        let script = format!(
            "for p in {}; do if [ -f \"$p\" ] && [ ! -L \"$p\" ]; then \
             echo \"$(stat -c '%s %Y' -- \"$p\") $(sha256sum < \"$p\" | cut -c1-64)\"; \
             else echo -; fi; done",
            quoted.join(" ")
        );
        let out = ssh::run_capture(&s.target, &script, None)
            .await
            .map_err(|e| Outcome::Error(format!("running ssh: {e}")))?;
        if out.status.code() != Some(0) {
            return Err(Outcome::Error(format!(
                "reading the sampled files on {} failed ({}): {}",
                s.client.hostname,
                out.status,
                out.stderr.lines().last().unwrap_or("")
            )));
        }
        let mut lines = out.stdout.lines();
        Ok(picks
            .iter()
            .map(|_| {
                let mut w = lines.next()?.split_whitespace();
                Some(Live {
                    size: w.next()?.parse().ok()?,
                    mtime: w.next()?.parse().ok()?,
                    sha256: w.next()?.to_string(),
                })
            })
            .collect())
    }

    /// `borg extract --stdout` of one file, hashed as it streams: its size and SHA-256, or why
    /// it could not be extracted.
    async fn extract_hash(
        &mut self,
        s: &Subjects,
        archive: &str,
        path: &str,
    ) -> Step<Result<(u64, String), String>> {
        let pids = (self.eng.clone(), self.job.id);
        let on = s.session(&pids, None, None);
        let (f, hashed) = remote::run_borg(
            &on,
            &borg::extract_stdout(&s.location, archive, path),
            &mut self.log,
            &mut self.cancel,
            Stdout::Stream,
            |mut stdout| async move {
                let mut h = Sha256::new();
                let mut n = 0u64;
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let k = stdout.read(&mut buf).await?;
                    if k == 0 {
                        break;
                    }
                    h.update(&buf[..k]);
                    n += k as u64;
                }
                Ok((n, format!("{:x}", h.finalize())))
            },
        )
        .await
        .map_err(|e| Outcome::Error(format!("running ssh: {e:#}")))?;
        self.ended_badly(s, &f).await?;
        if f.code != Some(0) {
            return Ok(Err(format!(
                "borg extract failed (exit {}): {}",
                code(&f),
                last_line(&f)
            )));
        }
        match hashed {
            Some(Ok(x)) => Ok(Ok(x)),
            Some(Err(e)) => Ok(Err(format!("reading the extracted bytes: {e:#}"))),
            None => Ok(Err("the extracted bytes were not read".into())),
        }
    }
}
