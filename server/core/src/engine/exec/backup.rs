//! Backup jobs (`job`): `borg create` of the policy's sources, or of a command's output fed
//! through the connection, and the archive recorded.
use std::collections::HashSet;

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect,
};

use super::{JobRun, Outcome, Step, Subjects, code, db_err, last_line};
use crate::{
    engine::{borg, launch::JobType, remote::Feed, sources},
    entities::{archive, job},
    stamps::now,
};

impl JobRun {
    pub(super) async fn backup(&mut self, s: Subjects) -> Step<Outcome> {
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
        // The client's own limit first, else the repository's default for its clients.
        let ratelimit = s.client.bandwidth_limit.or(s.repository.upload_ratelimit);
        let argv = borg::create(
            &s.location,
            &name,
            &src,
            &s.repository.compression,
            ratelimit,
        );
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
}
