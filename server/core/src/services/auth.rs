//! Passwords, tokens and sessions: everything that turns credentials into an `Actor`.
//! - Access tokens are stateless (HMAC-signed, 15 minutes) and die when the password changes.
//! - Refresh tokens and dashboard sessions are random, stored only as SHA-256, and single-use
//!   (refresh) or revocable (session).
use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use chrono::{TimeDelta, Utc};
use cyborg_dto::{TokenPair, UserInput};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};

use super::{Actor, now};
use crate::{
    entities::{auth_token, user},
    error::{Error, Result},
    secrets::{Secrets, random_token, token_digest},
    state::AppState,
};

pub const ACCESS_TTL: TimeDelta = TimeDelta::minutes(15);
pub const REFRESH_TTL: TimeDelta = TimeDelta::days(7);
pub const SESSION_TTL: TimeDelta = TimeDelta::hours(12);
/// How long a verified Basic credential is trusted without running argon2 again.
const BASIC_CACHE_TTL: Duration = Duration::from_secs(300);
const BASIC_CACHE_MAX: usize = 1024;

const KIND_REFRESH: &str = "refresh";
const KIND_SESSION: &str = "session";
/// Marks a user who has no password yet and so cannot log in.
pub const UNUSABLE_PASSWORD: &str = "!";

/// How a request proves who it is.
#[derive(Clone)]
pub enum Credentials {
    /// `from`: the client's address, for the login throttle.
    Basic {
        email: String,
        password: String,
        from: IpAddr,
    },
    Bearer(String),
    Session(String),
}

/// Hashes a new password (argon2id) in one of the bounded argon2 slots (see `login_guard`).
pub async fn hash_password(st: &AppState, password: String) -> Result<String> {
    let _slot = st.logins.slot().await?;
    hash_password_now(password).await
}

/// Hashes without a slot: for the command line and the first superuser, before any request.
pub async fn hash_password_now(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))?
    .map_err(Error::Internal)
}

async fn verify_password(hash: String, password: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A stand-in hash verified when the email is unknown, so timing does not reveal which emails exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Pq1wvfBqWUWk3ma/ifD6uX0dZ8nt2EOqQS4TnwqGYEY";

/// Checks a password: refused at once (429) while the account or the address `from` is
/// throttled, run in a bounded argon2 slot, and counted when wrong (`login_guard`).
pub async fn authenticate(
    st: &AppState,
    email: &str,
    password: &str,
    from: IpAddr,
) -> Result<Option<user::Model>> {
    let attempt = st.logins.admit(email, from).await?;
    let found = check_password(&st.db, email, password).await?;
    drop(attempt);
    match &found {
        Some(_) => st.logins.succeeded(email),
        None => st.logins.failed(email, from),
    }
    Ok(found)
}

/// Checks the password of an account already known (a user changing their own password):
/// throttled per account like a login, with no address to count.
pub async fn authenticate_account(
    st: &AppState,
    email: &str,
    password: &str,
) -> Result<Option<user::Model>> {
    let attempt = st.logins.admit_account(email).await?;
    let found = check_password(&st.db, email, password).await?;
    drop(attempt);
    match &found {
        Some(_) => st.logins.succeeded(email),
        None => st.logins.failed_account(email),
    }
    Ok(found)
}

async fn check_password(
    db: &impl ConnectionTrait,
    email: &str,
    password: &str,
) -> Result<Option<user::Model>> {
    // PostgreSQL refuses a NUL in a text parameter (a 500 for `{"email": "a\u0000@b.c"}` on
    // the token, session and Basic paths); no stored email can hold one, so it matches nobody.
    let found = if email.contains('\0') {
        None
    } else {
        user::Entity::find()
            .filter(user::Column::Email.eq(email.trim().to_lowercase()))
            .one(db)
            .await?
    };
    let hash = found
        .as_ref()
        .map(|u| u.password_hash.clone())
        .filter(|h| h != UNUSABLE_PASSWORD)
        .unwrap_or_else(|| DUMMY_HASH.to_string());
    let ok = verify_password(hash, password.to_string()).await;
    Ok(found.filter(|u| ok && u.password_hash != UNUSABLE_PASSWORD))
}

/// Changes whenever the password or the email does, so access tokens and cached Basic
/// credentials die with them.
fn password_stamp(u: &user::Model) -> String {
    token_digest(&format!("{}\0{}", u.password_hash, u.email))[..16].to_string()
}

#[derive(Serialize, Deserialize)]
struct AccessClaims {
    uid: i32,
    exp: i64,
    pw: String,
    /// The refresh-token family the token was issued with.
    #[serde(default)]
    fam: String,
}

fn issue_access(secrets: &Secrets, u: &user::Model, family: &str) -> String {
    let claims = AccessClaims {
        uid: u.id,
        exp: (Utc::now() + ACCESS_TTL).timestamp(),
        pw: password_stamp(u),
        fam: family.to_string(),
    };
    let payload = B64.encode(serde_json::to_vec(&claims).expect("claims serialize"));
    let sig = B64.encode(secrets.sign(payload.as_bytes()));
    format!("{payload}.{sig}")
}

fn read_access(secrets: &Secrets, token: &str) -> Option<AccessClaims> {
    let (payload, sig) = token.split_once('.')?;
    let sig = B64.decode(sig).ok()?;
    if !secrets.verify(payload.as_bytes(), &sig) {
        return None;
    }
    let claims: AccessClaims = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
    (claims.exp > Utc::now().timestamp()).then_some(claims)
}

/// Stores a new token (its digest only) in `family` (refresh tokens; `""` for sessions).
async fn store_token(
    db: &impl ConnectionTrait,
    user_id: i32,
    kind: &str,
    ttl: TimeDelta,
    family: &str,
) -> Result<String> {
    let token = random_token();
    let t = now();
    // What has expired is of no use to anyone (spent refresh tokens are kept until then, to
    // recognise their reuse).
    auth_token::Entity::delete_many()
        .filter(auth_token::Column::UserId.eq(user_id))
        .filter(auth_token::Column::ExpiresAt.lte(t))
        .exec(db)
        .await?;
    auth_token::ActiveModel {
        user_id: Set(user_id),
        kind: Set(kind.to_string()),
        token_hash: Set(token_digest(&token)),
        expires_at: Set(t + ttl),
        created: Set(t),
        family: Set(family.to_string()),
        spent: Set(false),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(token)
}

/// A live, unspent token of `kind`.
async fn find_token(
    db: &impl ConnectionTrait,
    kind: &str,
    token: &str,
) -> Result<Option<auth_token::Model>> {
    Ok(find_any_token(db, kind, token).await?.filter(|t| !t.spent))
}

/// A live token of `kind`, spent or not.
async fn find_any_token(
    db: &impl ConnectionTrait,
    kind: &str,
    token: &str,
) -> Result<Option<auth_token::Model>> {
    Ok(auth_token::Entity::find()
        .filter(auth_token::Column::TokenHash.eq(token_digest(token)))
        .filter(auth_token::Column::Kind.eq(kind))
        .filter(auth_token::Column::ExpiresAt.gt(Utc::now()))
        .one(db)
        .await?)
}

/// Whether a refresh family still has a token (revoking a family deletes its rows).
async fn family_alive(db: &impl ConnectionTrait, family: &str) -> Result<bool> {
    Ok(auth_token::Entity::find()
        .filter(auth_token::Column::Family.eq(family))
        .filter(auth_token::Column::Kind.eq(KIND_REFRESH))
        .one(db)
        .await?
        .is_some())
}

fn bad_credentials() -> Error {
    Error::Unauthorized("No active account found with the given credentials.".into())
}

/// A new access and refresh token in `family` (a new one for a login).
async fn pair_for(st: &AppState, u: &user::Model, family: &str) -> Result<TokenPair> {
    let refresh = store_token(&st.db, u.id, KIND_REFRESH, REFRESH_TTL, family).await?;
    Ok(TokenPair {
        access: issue_access(&st.secrets, u, family),
        refresh,
    })
}

pub async fn obtain(st: &AppState, email: &str, password: &str, from: IpAddr) -> Result<TokenPair> {
    let u = authenticate(st, email, password, from)
        .await?
        .ok_or_else(bad_credentials)?;
    record_login(&st.db, &u).await?;
    pair_for(st, &u, &crate::services::new_uuid()).await
}

/// Exchanges a refresh token for a new pair of the same family; the old refresh token is spent.
/// A spent token presented again means it was copied: the whole family is revoked (the thief's
/// and the owner's tokens alike, access tokens included), and the owner logs in again.
pub async fn refresh(st: &AppState, token: &str) -> Result<TokenPair> {
    let invalid = || Error::Unauthorized("Token is invalid or expired.".into());
    let row = find_any_token(&st.db, KIND_REFRESH, token)
        .await?
        .ok_or_else(invalid)?;
    if row.spent {
        revoke_family(&st.db, &row.family).await?;
        tracing::warn!(
            "a spent refresh token of user {} was presented again: its family is revoked",
            row.user_id
        );
        return Err(invalid());
    }
    // Spend it; a concurrent refresh that spent it first updates nothing here.
    let spent = auth_token::Entity::update_many()
        .col_expr(
            auth_token::Column::Spent,
            sea_orm::sea_query::Expr::value(true),
        )
        .filter(auth_token::Column::Id.eq(row.id))
        .filter(auth_token::Column::Spent.eq(false))
        .exec(&st.db)
        .await?;
    if spent.rows_affected == 0 {
        revoke_family(&st.db, &row.family).await?;
        return Err(invalid());
    }
    let u = user::Entity::find_by_id(row.user_id)
        .one(&st.db)
        .await?
        .ok_or_else(invalid)?;
    // Rows made before families existed have none: they start one.
    let family = if row.family.is_empty() {
        crate::services::new_uuid()
    } else {
        row.family
    };
    pair_for(st, &u, &family).await
}

async fn revoke_family(db: &impl ConnectionTrait, family: &str) -> Result<()> {
    if family.is_empty() {
        return Ok(());
    }
    auth_token::Entity::delete_many()
        .filter(auth_token::Column::Family.eq(family))
        .exec(db)
        .await?;
    Ok(())
}

/// Logs in for the dashboard: answers the session token to put in the cookie.
pub async fn login(
    st: &AppState,
    email: &str,
    password: &str,
    from: IpAddr,
) -> Result<(String, user::Model)> {
    let u = authenticate(st, email, password, from)
        .await?
        .ok_or_else(bad_credentials)?;
    record_login(&st.db, &u).await?;
    let token = store_token(&st.db, u.id, KIND_SESSION, SESSION_TTL, "").await?;
    Ok((token, u))
}

/// Ends every session and refresh token of a user but `keep` (the session making the change),
/// when their password or email changes: access tokens die with the old stamp by themselves,
/// but a refresh token or another session would otherwise keep whoever held a leaked one in
/// after the reset.
pub async fn revoke_other_tokens(
    db: &impl ConnectionTrait,
    user_id: i32,
    keep: Option<i32>,
) -> Result<()> {
    let mut q = auth_token::Entity::delete_many().filter(auth_token::Column::UserId.eq(user_id));
    if let Some(id) = keep {
        q = q.filter(auth_token::Column::Id.ne(id));
    }
    q.exec(db).await?;
    Ok(())
}

pub async fn logout(st: &AppState, session_token: &str) -> Result<()> {
    auth_token::Entity::delete_many()
        .filter(auth_token::Column::TokenHash.eq(token_digest(session_token)))
        .filter(auth_token::Column::Kind.eq(KIND_SESSION))
        .exec(&st.db)
        .await?;
    Ok(())
}

async fn record_login(db: &impl ConnectionTrait, u: &user::Model) -> Result<()> {
    user::Entity::update_many()
        .col_expr(
            user::Column::LastLogin,
            sea_orm::sea_query::Expr::value(now()),
        )
        .filter(user::Column::Id.eq(u.id))
        .exec(db)
        .await?;
    Ok(())
}

/// Resolves credentials to the user they belong to, or answers 401.
pub async fn resolve(st: &AppState, credentials: Credentials) -> Result<Actor> {
    let gone = |m: &str| Error::Unauthorized(m.into());
    match credentials {
        Credentials::Bearer(token) if token.starts_with(super::api_tokens::PREFIX) => {
            let (user, read_only) = super::api_tokens::resolve(st, &token)
                .await?
                .ok_or_else(|| gone("Given token not valid or expired."))?;
            Ok(Actor {
                user,
                session: None,
                read_only,
            })
        }
        Credentials::Bearer(token) => {
            let claims = read_access(&st.secrets, &token)
                .ok_or_else(|| gone("Given token not valid or expired."))?;
            let user = user::Entity::find_by_id(claims.uid)
                .one(&st.db)
                .await?
                .filter(|u| password_stamp(u) == claims.pw)
                .ok_or_else(|| gone("Given token not valid or expired."))?;
            // The refresh family it was issued from must still live (a reused refresh token
            // revokes the family, and with it the access tokens it minted).
            if !claims.fam.is_empty() && !family_alive(&st.db, &claims.fam).await? {
                return Err(gone("Given token not valid or expired."));
            }
            Ok(Actor::new(user))
        }
        Credentials::Session(token) => {
            let row = find_token(&st.db, KIND_SESSION, &token)
                .await?
                .ok_or_else(|| gone("Session expired; log in again."))?;
            let user = user::Entity::find_by_id(row.user_id)
                .one(&st.db)
                .await?
                .ok_or_else(|| gone("Session expired; log in again."))?;
            Ok(Actor {
                user,
                session: Some(row.id),
                read_only: false,
            })
        }
        Credentials::Basic {
            email,
            password,
            from,
        } => Ok(Actor::new(basic(st, &email, &password, from).await?)),
    }
}

async fn basic(st: &AppState, email: &str, password: &str, from: IpAddr) -> Result<user::Model> {
    let key = token_digest(&format!("{email}\0{password}"));
    let cached = st
        .basic_cache
        .lock()
        .expect("cache lock")
        .get(&key)
        .cloned();
    // The stamp catches a password change; the email must be checked too, or for the cache's
    // lifetime the old email kept logging in after the user's email had changed.
    if let Some((uid, stamp, at)) = cached
        && at.elapsed() < BASIC_CACHE_TTL
        && let Some(u) = user::Entity::find_by_id(uid).one(&st.db).await?
        && password_stamp(&u) == stamp
        && u.email == email.trim().to_lowercase()
    {
        return Ok(u);
    }
    let u = authenticate(st, email, password, from)
        .await?
        .ok_or_else(|| Error::Unauthorized("Invalid username/password.".into()))?;
    let mut cache = st.basic_cache.lock().expect("cache lock");
    if cache.len() >= BASIC_CACHE_MAX {
        cache.clear();
    }
    cache.insert(key, (u.id, password_stamp(&u), Instant::now()));
    Ok(u)
}

/// When no user exists, create the configured superuser, or `admin@cyborg.local` with a
/// random password that is returned so the caller can print it once.
pub async fn ensure_first_superuser(
    db: &impl ConnectionTrait,
    email: Option<&str>,
    password: Option<&str>,
) -> Result<Option<(String, Option<String>)>> {
    if user::Entity::find().one(db).await?.is_some() {
        return Ok(None);
    }
    let email = email.unwrap_or("admin@cyborg.local").trim().to_lowercase();
    let (password, generated) = match password {
        Some(p) if !p.is_empty() => (p.to_string(), None),
        _ => {
            let p = random_token()[..20].to_string();
            (p.clone(), Some(p))
        }
    };
    let input = UserInput {
        email: Some(email.clone()),
        password: Some(password.clone()),
        is_superuser: Some(true),
        ..Default::default()
    };
    // The rules of every user, so a short CYBORG_ADMIN_PASSWORD is refused at start, not kept.
    let mut model = super::users::checked_new(db, &input)
        .await
        .map_err(|e| match e {
            Error::Validation(fields) => {
                Error::BadRequest(crate::error::fields_line(&fields, |field| match field {
                    "email" => "CYBORG_ADMIN_EMAIL".into(),
                    "password" => "CYBORG_ADMIN_PASSWORD".into(),
                    other => other.into(),
                }))
            }
            e => e,
        })?;
    model.password_hash = Set(hash_password_now(password).await?);
    model.insert(db).await?;
    Ok(Some((email, generated)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(hash: &str) -> user::Model {
        let t = Utc::now();
        user::Model {
            id: 7,
            email: "a@b.c".into(),
            first_name: String::new(),
            last_name: String::new(),
            password_hash: hash.into(),
            is_superuser: false,
            last_login: None,
            created: t,
            modified: t,
            created_by: None,
            modified_by: None,
        }
    }

    #[test]
    fn access_tokens_verify_and_reject_tampering() {
        let s = Secrets::from_secret("k");
        let t = issue_access(&s, &user("h1"), "");
        let c = read_access(&s, &t).expect("valid");
        assert_eq!(c.uid, 7);
        assert_eq!(c.pw, password_stamp(&user("h1")));
        assert_ne!(c.pw, password_stamp(&user("h2")));
        assert!(read_access(&Secrets::from_secret("other"), &t).is_none());
        let (p, sig) = t.split_once('.').unwrap();
        let forged = B64.encode(br#"{"uid":1,"exp":99999999999,"pw":"x"}"#);
        assert!(read_access(&s, &format!("{forged}.{sig}")).is_none());
        assert!(read_access(&s, p).is_none());
        assert!(read_access(&s, "").is_none());
    }

    #[tokio::test]
    async fn dummy_hash_parses_so_unknown_emails_cost_the_same() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        let h = hash_password_now("pw123456".into()).await.unwrap();
        assert!(verify_password(h.clone(), "pw123456".into()).await);
        assert!(!verify_password(h, "wrong".into()).await);
    }
}
