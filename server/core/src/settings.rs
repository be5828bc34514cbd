//! Server-wide settings as stored in `settings` (key → JSON value; a key never written reads as
//! its default): read by the services (`GET`/`PATCH /api/v1/settings/`) and by the engine (a
//! launch reads `catalog_enabled`, `auto_prune`, `backup_user`).
use cyborg_dto::Settings;
use sea_orm::EntityTrait;
use serde_json::Value;

use crate::{entities::setting, error::Result, validate};

/// The setting keys: the fields of `Settings`, the one list that GET, PATCH and the stored rows
/// share.
pub fn keys() -> Vec<String> {
    match serde_json::to_value(Settings::default()) {
        Ok(Value::Object(fields)) => fields.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// `current` with `key` set to `value`: the key must be a field of `Settings`, the value of its
/// type, and the result must hold the rules (a valid backup user name). The message says why not.
pub fn with(current: &Settings, key: &str, value: Value) -> std::result::Result<Settings, String> {
    let Ok(Value::Object(mut fields)) = serde_json::to_value(current) else {
        return Err("The settings could not be read.".into());
    };
    if !fields.contains_key(key) {
        return Err(format!("Unknown setting; known: {}.", keys().join(", ")));
    }
    fields.insert(key.to_string(), value);
    let changed: Settings = serde_json::from_value(Value::Object(fields))
        .map_err(|e| format!("Not a valid value: {e}."))?;
    validate::unix_user(&changed.backup_user)?;
    if !(1..=100).contains(&changed.failing_after) {
        return Err("failing_after: between 1 and 100 attempts.".into());
    }
    if !(1..=36_500).contains(&changed.job_log_retention_days) {
        return Err("job_log_retention_days: between 1 and 36500 days.".into());
    }
    Ok(changed)
}

/// The stored settings over the defaults; a stored value of the wrong shape or against the
/// rules reads as the default.
pub async fn load(db: &impl sea_orm::ConnectionTrait) -> Result<Settings> {
    let mut s = Settings::default();
    for row in setting::Entity::find().all(db).await? {
        let stored = serde_json::from_str::<Value>(&row.value)
            .map_err(|e| e.to_string())
            .and_then(|v| with(&s, &row.key, v));
        match stored {
            Ok(changed) => s = changed,
            Err(why) => tracing::warn!("setting {}: {why}; using the default", row.key),
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_changes_alone_and_only_within_the_rules() {
        let d = Settings::default();
        assert_eq!(
            keys(),
            [
                "allow_unencrypted_repositories",
                "auto_prune",
                "backup_user",
                "catalog_enabled",
                "failing_after",
                "job_log_retention_days",
                "self_backup_repository",
                "self_backup_schedule"
            ]
        );
        let s = with(&d, "auto_prune", Value::Bool(false)).unwrap();
        assert!(!s.auto_prune);
        assert_eq!(s.backup_user, d.backup_user);
        assert!(with(&d, "auto_prune", Value::from(1)).is_err());
        assert!(with(&d, "backup_user", Value::from("-root")).is_err());
        assert!(
            with(&d, "colour", Value::from("red"))
                .unwrap_err()
                .contains("Unknown")
        );
    }
}
