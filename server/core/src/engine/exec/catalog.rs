//! `catalog` jobs: the archive of the backup a job follows, listed into the catalog.
use tokio::io::BufReader;

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::{JobRun, Outcome, Step, Subjects, code, db_err, last_line};
use crate::{
    engine::{
        borg,
        remote::{self, Stdout},
    },
    entities::{archive, job},
};

impl JobRun {
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

    pub(super) async fn catalog(&mut self, s: Subjects) -> Step<Outcome> {
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
                // Staged: the catalog becomes visible only once borg exited successfully (a
                // listing cut short must not pass for the whole archive).
                tokio::task::spawn_blocking(move || {
                    rt.block_on(crate::catalog::ingest_staged(
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
        let consumed = match consumed {
            Some(Ok(staged)) if !f.canceled && f.code == Some(0) => Some(staged.commit().await),
            Some(Ok(staged)) => {
                // Whatever was read of a stopped or failed listing is incomplete.
                staged.abort().await;
                None
            }
            other => other.map(|r| r.map(|s| s.stats())),
        };
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
                    "catalogued {} entries of {} ({} new or changed, {} changed or gone since \
                     the archive before, {} new paths) in {:.1} s",
                    stats.entries,
                    arch.name,
                    stats.versions,
                    stats.closed,
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
}
