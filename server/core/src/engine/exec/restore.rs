//! `restore` jobs: `borg extract` of the chosen items into a folder of the client.
use super::{JobRun, Outcome, Step, Subjects, code, last_line};
use crate::engine::borg;

impl JobRun {
    /// `borg extract` of the job's items into its destination folder on its client (made if
    /// missing; not touched at all for a dry run).
    pub(super) async fn restore(&mut self, s: Subjects) -> Step<Outcome> {
        let p: crate::engine::plans::RestoreParams = serde_json::from_str(&self.job.extra_vars)
            .map_err(|e| {
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
}
