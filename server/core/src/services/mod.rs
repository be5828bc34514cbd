//! The service layer: every read and write of the product. The `/api/v1` handlers and the Leptos
//! server functions are thin callers; permissions and validation are decided here, once.
pub mod alerts;
pub mod api_tokens;
pub mod archives;
pub mod auth;
pub mod calendar;
pub mod catalogs;
pub mod clients;
pub mod download;
pub mod health;
pub mod host_keys;
pub mod integrity;
pub mod job_stream;
pub mod jobs;
pub mod list;
pub mod login_guard;
pub mod modules;
pub mod nodes;
pub mod notifications;
pub mod overview;
pub mod policies;
pub mod repositories;
pub mod resource;
pub mod restore;
pub mod retention;
pub mod schedules;
pub mod settings;
pub mod users;

pub use crate::{
    stamps::{new_uuid, now},
    validate,
};

use std::{
    collections::{BTreeSet, HashMap},
    str::FromStr,
};

use chrono::{DateTime, Utc};
use cyborg_dto::{Audit, AuditSummary, Related, UserRef};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::{
    entities::user,
    error::{Error, Result},
};

/// The authenticated user a service call acts for.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user: user::Model,
    /// The dashboard session the request came with (its `auth_tokens` row), if it came with one:
    /// a password change ends every other session, not this one.
    pub session: Option<i32>,
    /// Acting through a `read` API token: anything but a read is refused (403).
    pub read_only: bool,
}

impl Actor {
    /// The user, acting through anything but a dashboard session.
    pub fn new(user: user::Model) -> Self {
        Self {
            user,
            session: None,
            read_only: false,
        }
    }

    pub fn id(&self) -> i32 {
        self.user.id
    }

    pub fn is_superuser(&self) -> bool {
        self.user.is_superuser
    }

    /// Superusers may do everything; everyone else may read.
    pub fn require_superuser(&self) -> Result<()> {
        if self.user.is_superuser {
            Ok(())
        } else {
            Err(Error::forbidden())
        }
    }
}

/// Small copies of the users named by the given ids, in one query.
pub async fn user_refs(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = Option<i32>>,
) -> Result<HashMap<i32, UserRef>> {
    let ids: BTreeSet<i32> = ids.into_iter().flatten().collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let users = user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .all(db)
        .await?;
    Ok(users
        .into_iter()
        .map(|u| {
            let r = UserRef {
                id: u.id,
                email: u.email,
                first_name: u.first_name,
                last_name: u.last_name,
            };
            (u.id, r)
        })
        .collect())
}

/// The audit fields of a row, with the links and small copies of who made and changed it.
pub struct AuditParts {
    pub audit: Audit,
    pub summary: AuditSummary,
    pub related: Related,
}

pub fn audit_parts(
    refs: &HashMap<i32, UserRef>,
    created: DateTime<Utc>,
    modified: DateTime<Utc>,
    created_by: Option<i32>,
    modified_by: Option<i32>,
) -> AuditParts {
    let mut related = Related::new();
    if let Some(id) = created_by {
        related.insert("created_by".into(), format!("/api/v1/users/{id}/"));
    }
    if let Some(id) = modified_by {
        related.insert("modified_by".into(), format!("/api/v1/users/{id}/"));
    }
    AuditParts {
        audit: Audit {
            created,
            modified,
            created_by,
            modified_by,
        },
        summary: AuditSummary {
            created_by: created_by.and_then(|id| refs.get(&id).cloned()),
            modified_by: modified_by.and_then(|id| refs.get(&id).cloned()),
        },
        related,
    }
}

/// Fetches one row by primary key or answers 404.
pub async fn find<E>(db: &impl ConnectionTrait, id: i32) -> Result<E::Model>
where
    E: EntityTrait,
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<i32>,
{
    E::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(Error::not_found)
}

/// The row that `field` names by `id`, or `None` with the field's message
/// "`Noun` `id` does not exist." (the one wording of a reference to nothing).
pub async fn referenced<E>(
    c: &mut validate::Check,
    db: &impl ConnectionTrait,
    field: &str,
    noun: &str,
    id: i32,
) -> Result<Option<E::Model>>
where
    E: EntityTrait,
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<i32>,
{
    let row = E::find_by_id(id).one(db).await?;
    if row.is_none() {
        c.error(field, missing(noun, id));
    }
    Ok(row)
}

/// "`Noun` `id` does not exist."
pub fn missing(noun: &str, id: i32) -> String {
    format!("{noun} {id} does not exist.")
}

/// Stamps the audit fields of a row about to be written: `modified`/`modified_by` always, and on
/// create `created`/`created_by` and a fresh `uuid` (for the tables that have one). The one place
/// that decides what "made by" and "changed by" mean.
pub fn stamp<A>(m: &mut A, actor: &Actor, creating: bool)
where
    A: ActiveModelTrait,
    <A::Entity as EntityTrait>::Column: FromStr,
{
    let t = now();
    let mut set = |name: &str, value: sea_orm::Value| {
        if let Ok(col) = <A::Entity as EntityTrait>::Column::from_str(name) {
            m.set(col, value);
        }
    };
    set("modified", t.into());
    set("modified_by", Some(actor.id()).into());
    if creating {
        set("created", t.into());
        set("created_by", Some(actor.id()).into());
        set("uuid", new_uuid().into());
    }
}
