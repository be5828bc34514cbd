//! Server-wide settings as stored in `settings` (key → JSON value; a key never written reads as
//! its default): read by the services (`GET`/`PATCH /api/v1/settings/`) and by the engine (a
//! launch reads `catalog_enabled`, `auto_prune`, `backup_user`).
use cyborg_dto::Settings;
use sea_orm::EntityTrait;
use serde_json::Value;

use crate::{entities::setting, error::Result, validate};

/// The stored settings over the defaults; a stored value of the wrong shape reads as the default.
pub async fn load(db: &impl sea_orm::ConnectionTrait) -> Result<Settings> {
    let mut s = Settings::default();
    for row in setting::Entity::find().all(db).await? {
        let Ok(v) = serde_json::from_str::<Value>(&row.value) else {
            tracing::warn!("setting {} holds no JSON value; using the default", row.key);
            continue;
        };
        match (row.key.as_str(), v) {
            ("catalog_enabled", Value::Bool(b)) => s.catalog_enabled = b,
            ("auto_prune", Value::Bool(b)) => s.auto_prune = b,
            ("backup_user", Value::String(u)) if validate::unix_user(&u).is_ok() => {
                s.backup_user = u
            }
            _ => {}
        }
    }
    Ok(s)
}
