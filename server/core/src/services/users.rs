//! Users: anyone may read; superusers manage everyone; a user may change their own names, email
//! and password, never their own `is_superuser`.
use cyborg_dto::{Page, User, UserInput};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, Set, TransactionTrait, sea_query::Expr,
};

use super::{
    Actor, audit_parts, find,
    list::{Field, Kind, ListRequest},
    now,
    resource::{self, Resource, taken},
    stamp, user_refs,
    validate::{self, Check},
};
use crate::{
    entities::user,
    error::{Error, Result},
    services::auth::{self, UNUSABLE_PASSWORD, hash_password, revoke_other_tokens},
    state::AppState,
};

const T: &str = "users";
pub const FIELDS: &[Field] = &[
    Field::new("id", T, "id", Kind::Int),
    Field::new("email", T, "email", Kind::Text).searchable(),
    Field::new("first_name", T, "first_name", Kind::Text).searchable(),
    Field::new("last_name", T, "last_name", Kind::Text).searchable(),
    Field::new("is_superuser", T, "is_superuser", Kind::Bool),
    Field::new("created", T, "created", Kind::DateTime),
    Field::new("modified", T, "modified", Kind::DateTime),
    Field::new("created_by", T, "created_by", Kind::Int),
    Field::new("modified_by", T, "modified_by", Kind::Int),
];

pub const MIN_PASSWORD: usize = 8;
const MAX_PASSWORD: usize = 1024;

pub struct Users;

impl Resource for Users {
    type Entity = user::Entity;
    type Dto = User;
    const FIELDS: &'static [Field] = FIELDS;

    async fn to_dtos(st: &AppState, _actor: &Actor, rows: Vec<user::Model>) -> Result<Vec<User>> {
        to_dtos(st, rows).await
    }
}

pub async fn list(st: &AppState, actor: &Actor, req: &ListRequest) -> Result<Page<User>> {
    resource::list::<Users>(st, actor, req).await
}

pub async fn get(st: &AppState, actor: &Actor, id: i32) -> Result<User> {
    resource::get::<Users>(st, actor, id).await
}

/// `GET /api/v1/me/`: the caller as a one-element list.
pub async fn me(st: &AppState, actor: &Actor) -> Result<Page<User>> {
    let row = find::<user::Entity>(&st.db, actor.id()).await?;
    Ok(Page {
        count: 1,
        next: None,
        previous: None,
        results: vec![one(st, row).await?],
    })
}

pub async fn create(st: &AppState, actor: &Actor, input: UserInput) -> Result<User> {
    actor.require_superuser()?;
    let mut model = checked_new(&st.db, &input).await?;
    stamp(&mut model, actor, true);
    if let Some(pw) = input.password {
        model.password_hash = Set(hash_password(st, pw).await?);
    }
    let row = model.insert(&st.db).await?;
    one(st, row).await
}

/// The row of a new user from `input`, checked by the rules every user is held to (email,
/// names, password length): the one path by which a user comes to exist — `POST
/// /api/v1/users/`, `cyborgbackup create-user` and the first superuser at first start. Without
/// a password the account cannot log in until one is set. The caller hashes the password (the
/// API within its argon2 slots), stamps the row and inserts it.
pub async fn checked_new(
    db: &impl sea_orm::ConnectionTrait,
    input: &UserInput,
) -> Result<user::ActiveModel> {
    let mut model = validate(db, input, None, true).await?;
    let t = now();
    model.created = Set(t);
    model.modified = Set(t);
    model.password_hash = Set(UNUSABLE_PASSWORD.into());
    Ok(model)
}

pub async fn update(
    st: &AppState,
    actor: &Actor,
    id: i32,
    input: UserInput,
    partial: bool,
) -> Result<User> {
    let current = find::<user::Entity>(&st.db, id).await?;
    if !actor.is_superuser() {
        if actor.id() != id {
            return Err(Error::forbidden());
        }
        if input
            .is_superuser
            .is_some_and(|s| s != current.is_superuser)
        {
            return Err(Error::Forbidden(
                "Only a superuser may change is_superuser.".into(),
            ));
        }
    }
    let mut model = validate(&st.db, &input, Some(&current), partial).await?;
    // A session or token someone else took over must not be able to lock its owner out.
    if actor.id() == id && input.password.is_some() {
        let Some(given) = input.current_password.as_deref().filter(|p| !p.is_empty()) else {
            return Err(Error::field(
                "current_password",
                "Give your present password to change it.",
            ));
        };
        if auth::authenticate_account(st, &current.email, given)
            .await?
            .is_none()
        {
            return Err(Error::field(
                "current_password",
                "This is not your present password.",
            ));
        }
    }
    let credentials_changed = input.password.is_some() || *model.email.as_ref() != current.email;
    if let Some(pw) = input.password {
        model.password_hash = Set(hash_password(st, pw).await?);
    }
    stamp(&mut model, actor, false);
    let txn = st.db.begin().await?;
    if input.is_superuser == Some(false) {
        refuse_last_superuser(&txn, id).await?;
    }
    let row = model.update(&txn).await?;
    if credentials_changed {
        // Every other session and refresh token ends; the caller's own session goes on.
        let keep = (actor.id() == id).then_some(actor.session).flatten();
        revoke_other_tokens(&txn, id, keep).await?;
    }
    txn.commit().await?;
    one(st, row).await
}

pub async fn delete(st: &AppState, actor: &Actor, id: i32) -> Result<()> {
    actor.require_superuser()?;
    find::<user::Entity>(&st.db, id).await?;
    let txn = st.db.begin().await?;
    refuse_last_superuser(&txn, id).await?;
    user::Entity::delete_by_id(id).exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// Nobody could administer the server again if the last superuser went. Refuses to demote or
/// delete `id` when it is, as read inside `db`'s transaction, the only superuser left.
async fn refuse_last_superuser(db: &impl ConnectionTrait, id: i32) -> Result<()> {
    // Two superusers demoting or deleting each other at the same moment both saw the other one
    // still there and both went through, leaving none (reproduced on PostgreSQL by
    // tests/auth.rs). So first serialize such changes, and only then read who is a superuser:
    // PostgreSQL takes one advisory lock for the transaction (an earlier version locked the
    // superuser rows, which under load once answered a 500 in that test; one lock cannot
    // deadlock), SQLite has a single writer, which a write as the transaction's first
    // statement takes at once (a read first would pin a stale snapshot, and its later write
    // fail).
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({SUPERUSERS_LOCK})"))
            .await?;
    } else {
        user::Entity::update_many()
            .col_expr(
                user::Column::IsSuperuser,
                Expr::col(user::Column::IsSuperuser).into(),
            )
            .filter(user::Column::IsSuperuser.eq(true))
            .exec(db)
            .await?;
    }
    let is_superuser = user::Entity::find_by_id(id)
        .one(db)
        .await?
        .is_some_and(|u| u.is_superuser);
    if !is_superuser {
        return Ok(());
    }
    let others = user::Entity::find()
        .filter(user::Column::IsSuperuser.eq(true))
        .filter(user::Column::Id.ne(id))
        .count(db)
        .await?;
    if others == 0 {
        return Err(Error::Conflict(
            "This is the last superuser; make another one first.".into(),
        ));
    }
    Ok(())
}

/// PostgreSQL advisory lock key ("CYBU") held by every transaction that demotes or deletes a
/// user, around the check that a superuser remains.
const SUPERUSERS_LOCK: i64 = 0x4359_4255;

/// Checks `input` against the rules and the stored rows; answers the row to write (without
/// password, audit or id, which the caller sets).
async fn validate(
    db: &impl sea_orm::ConnectionTrait,
    input: &UserInput,
    current: Option<&user::Model>,
    partial: bool,
) -> Result<user::ActiveModel> {
    let mut c = Check::new();
    let base = if partial { current } else { None };
    let email = c
        .required("email", input.email.clone(), base.map(|u| &u.email))
        .map(|e| c.line("email", &e, 254, false).to_lowercase());
    if let Some(e) = &email
        && !c.has("email")
    {
        c.rule("email", validate::email(e));
    }
    let first_name = input
        .first_name
        .as_deref()
        .map(|v| c.line("first_name", v, 150, true));
    let last_name = input
        .last_name
        .as_deref()
        .map(|v| c.line("last_name", v, 150, true));
    if let Some(pw) = &input.password {
        let n = pw.chars().count();
        if n < MIN_PASSWORD {
            c.error(
                "password",
                format!("Ensure this field has at least {MIN_PASSWORD} characters."),
            );
        } else if n > MAX_PASSWORD {
            c.error(
                "password",
                format!("Ensure this field has no more than {MAX_PASSWORD} characters."),
            );
        } else if pw.contains('\0') {
            c.error("password", "NUL characters are not allowed.");
        }
    }
    if let Some(e) = &email
        && !c.has("email")
        && taken::<user::Entity>(
            db,
            user::Column::Email,
            e,
            user::Column::Id,
            current.map(|u| u.id),
        )
        .await?
    {
        c.error("email", "A user with this email already exists.");
    }
    c.finish()?;

    let mut m = match current {
        Some(cur) => user::ActiveModel::from(cur.clone()),
        None => user::ActiveModel {
            first_name: Set(String::new()),
            last_name: Set(String::new()),
            is_superuser: Set(false),
            ..Default::default()
        },
    };
    if let Some(e) = email {
        m.email = Set(e);
    }
    if let Some(v) = first_name {
        m.first_name = Set(v);
    }
    if let Some(v) = last_name {
        m.last_name = Set(v);
    }
    if let Some(v) = input.is_superuser {
        m.is_superuser = Set(v);
    }
    Ok(m)
}

async fn one(st: &AppState, row: user::Model) -> Result<User> {
    Ok(to_dtos(st, vec![row]).await?.remove(0))
}

async fn to_dtos(st: &AppState, rows: Vec<user::Model>) -> Result<Vec<User>> {
    let refs = user_refs(
        &st.db,
        rows.iter().flat_map(|r| [r.created_by, r.modified_by]),
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let parts = audit_parts(&refs, r.created, r.modified, r.created_by, r.modified_by);
            User {
                id: r.id,
                kind: "user".into(),
                url: format!("/api/v1/users/{}/", r.id),
                related: parts.related,
                summary_fields: parts.summary,
                audit: parts.audit,
                first_name: r.first_name,
                last_name: r.last_name,
                email: r.email,
                is_superuser: r.is_superuser,
            }
        })
        .collect())
}
