//! Personal API tokens: long-lived credentials for scripts, `read` or `write`, stored as SHA-256
//! only and shown once. They act as their owner (a write token of a non-superuser can do what
//! that user can); a `read` token is refused every method but GET/HEAD/OPTIONS, by the API's
//! credential extractor (`Actor::read_only`).
use chrono::{DateTime, TimeDelta, Utc};
use cyborg_dto::{ApiToken, ApiTokenInput, TokenScope};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
    sea_query::Expr,
};

use super::{Actor, now, validate::Check};
use crate::{
    entities::{api_token, user},
    error::{Error, Result},
    secrets::{random_token, token_digest},
    state::AppState,
};

/// Every personal token starts with this, so `resolve` knows which kind of bearer it holds
/// (and a leaked one is recognisable by secret scanners).
pub const PREFIX: &str = "cbt_";
/// Tokens one user may hold.
const MAX_PER_USER: u64 = 100;
/// `last_used` is written at most this often per token: not a database write per request.
const LAST_USED_EVERY: TimeDelta = TimeDelta::seconds(60);

fn dto(t: api_token::Model, token: Option<String>) -> ApiToken {
    ApiToken {
        id: t.id,
        name: t.name,
        scope: t.scope.to_string(),
        created: t.created,
        expires: t.expires,
        last_used: t.last_used,
        token,
    }
}

/// The caller's tokens, newest first (never their secret).
pub async fn list(st: &AppState, actor: &Actor) -> Result<Vec<ApiToken>> {
    Ok(api_token::Entity::find()
        .filter(api_token::Column::UserId.eq(actor.id()))
        .order_by_desc(api_token::Column::Id)
        .all(&st.db)
        .await?
        .into_iter()
        .map(|t| dto(t, None))
        .collect())
}

/// Makes a token for the caller; the answer holds the secret, the only time it is shown. A
/// read-only token cannot make tokens (the extractor refuses the POST) so it cannot widen itself.
pub async fn create(st: &AppState, actor: &Actor, input: ApiTokenInput) -> Result<ApiToken> {
    let mut c = Check::new();
    let name = c.required("name", input.name, None);
    let name = name.map(|n| c.line("name", &n, 128, false));
    let scope = match input.scope.as_deref() {
        None => {
            c.error("scope", "This field is required: read or write.");
            None
        }
        Some(s) => {
            let parsed = TokenScope::parse(s);
            if parsed.is_none() {
                c.error(
                    "scope",
                    format!("\"{s}\" is not a valid choice: read or write."),
                );
            }
            parsed
        }
    };
    let expires = match input.expires.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => match DateTime::parse_from_rfc3339(text) {
            Ok(t) if t.with_timezone(&Utc) > Utc::now() => Some(t.with_timezone(&Utc)),
            Ok(_) => {
                c.error("expires", "Must be in the future.");
                None
            }
            Err(_) => {
                c.error(
                    "expires",
                    "Not an RFC 3339 date-time (2027-01-31T00:00:00Z).",
                );
                None
            }
        },
    };
    let held = api_token::Entity::find()
        .filter(api_token::Column::UserId.eq(actor.id()))
        .count(&st.db)
        .await?;
    if held >= MAX_PER_USER {
        c.error(
            "name",
            format!("At most {MAX_PER_USER} tokens per user; revoke one first."),
        );
    }
    c.finish()?;
    let (Some(name), Some(scope)) = (name, scope) else {
        return Err(Error::BadRequest("Invalid token.".into()));
    };
    let token = format!("{PREFIX}{}", random_token());
    let row = api_token::ActiveModel {
        user_id: Set(actor.id()),
        name: Set(name),
        scope: Set(scope),
        token_hash: Set(token_digest(&token)),
        created: Set(now()),
        expires: Set(expires),
        last_used: Set(None),
        ..Default::default()
    }
    .insert(&st.db)
    .await?;
    Ok(dto(row, Some(token)))
}

/// Revokes one of the caller's tokens (another user's is a 404, like a missing one).
pub async fn revoke(st: &AppState, actor: &Actor, id: i32) -> Result<()> {
    let r = api_token::Entity::delete_many()
        .filter(api_token::Column::Id.eq(id))
        .filter(api_token::Column::UserId.eq(actor.id()))
        .exec(&st.db)
        .await?;
    if r.rows_affected == 0 {
        return Err(Error::not_found());
    }
    Ok(())
}

/// The user of a live token and whether it is read-only; `None` for an unknown, revoked or
/// expired one.
pub async fn resolve(st: &AppState, token: &str) -> Result<Option<(user::Model, bool)>> {
    let Some(row) = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(token_digest(token)))
        .one(&st.db)
        .await?
    else {
        return Ok(None);
    };
    let t = now();
    if row.expires.is_some_and(|e| e <= t) {
        return Ok(None);
    }
    let Some(user) = user::Entity::find_by_id(row.user_id).one(&st.db).await? else {
        return Ok(None);
    };
    if row.last_used.is_none_or(|u| t - u >= LAST_USED_EVERY) {
        api_token::Entity::update_many()
            .col_expr(api_token::Column::LastUsed, Expr::value(t))
            .filter(api_token::Column::Id.eq(row.id))
            .exec(&st.db)
            .await?;
    }
    Ok(Some((user, row.scope == TokenScope::Read)))
}
