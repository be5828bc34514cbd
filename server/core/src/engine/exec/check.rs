//! `check` jobs: the client reachable (its borg version and address), the repository initialised.
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};

use super::{JobRun, Outcome, Step, Subjects, code, db_err, last_line, ssh_failure};
use crate::{
    engine::{
        borg, repo_options,
        ssh::{self, SSH_ERROR_STATUS},
    },
    entities::{client, repository},
    stamps::now,
};

impl JobRun {
    /// Client: reachable, its borg version and IP. Repository: `borg init` unless it exists.
    pub(super) async fn check(&mut self, s: Subjects) -> Step<Outcome> {
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
        if let Some(r) = repo_now.filter(|r| !r.ready) {
            let restrictions = repo_options::restrictions(r.append_only, &r.storage_quota);
            let f = self
                .borg(&s, borg::init(&s.location, &r.encryption, &restrictions))
                .await?;
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
            if exists {
                self.apply_restrictions(&s, &r, &mut notes).await?;
            }
            self.store_repository_sizes(&s, &info.stdout).await?;
            notes.push(if exists {
                "repository already initialised; ready".to_string()
            } else {
                format!("repository initialised ({}); ready", r.encryption)
            });
        }
        Ok(Outcome::Successful(notes.join("; ")))
    }

    /// An existing repository's append-only mode and quota set to the repository's: in its
    /// config when the client's borg opens it as a folder; a served repository gets them from
    /// `borg serve` instead (see `Serve::restrictions` and the authorized_keys line). Append-only
    /// is only ever switched on here: lifting that protection is an operator's act on the
    /// repository itself (`borg config REPO append_only 0`), never a side effect of a record.
    async fn apply_restrictions(
        &mut self,
        s: &Subjects,
        r: &repository::Model,
        notes: &mut Vec<String>,
    ) -> Step<()> {
        if s.tunnel.is_some() {
            return Ok(());
        }
        let quota = (!r.storage_quota.is_empty()).then_some(r.storage_quota.as_str());
        let mut settings = vec![("storage_quota", quota)];
        if r.append_only {
            settings.push(("append_only", Some("1")));
        }
        for (name, value) in settings {
            let f = self.borg(s, borg::config(&s.location, name, value)).await?;
            // Deleting a setting that was never set is a warning (1), not a failure.
            if f.code != Some(0) && !(value.is_none() && f.code == Some(1)) {
                return Err(Outcome::Failed(format!(
                    "borg config {name} failed (exit {}): {}",
                    code(&f),
                    last_line(&f)
                )));
            }
        }
        notes.push(format!(
            "append_only {}, storage_quota {}",
            r.append_only,
            quota.unwrap_or("none")
        ));
        Ok(())
    }
}
