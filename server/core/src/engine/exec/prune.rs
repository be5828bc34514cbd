//! `prune` jobs: the archives of the lineage that the keep rules do not keep, deleted by name,
//! then `borg compact`; archives gone from the repository forgotten.
use std::collections::HashMap;

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::{JobRun, Outcome, Step, Subjects, code, db_err, last_line};
use crate::{
    engine::{
        borg,
        retention::{self, Rules},
    },
    entities::archive,
    stamps::now,
};

impl JobRun {
    /// Retention of one lineage: the archives this server recorded for exactly this
    /// repository, policy and client, kept or deleted by the policy's rules
    /// ([`retention::decide`], what `GET /api/v1/policies/{id}/retention/` shows), the deleted
    /// ones by name. Nothing else in the repository is touched.
    pub(super) async fn prune(&mut self, s: Subjects) -> Step<Outcome> {
        let p = s.policy()?;
        if s.repository.append_only {
            return Ok(Outcome::Successful(format!(
                "{} is append-only: nothing pruned (retention needs an operator there)",
                s.repository.name
            )));
        }
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
            let r = crate::catalog::remove_archive(&self.eng.db, a.id)
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
}
