//! Passwords, tokens and sessions: everything that turns credentials into an `Actor`.
//! - Access tokens are stateless (HMAC-signed, 15 minutes) and die when the password changes.
//! - Refresh tokens and dashboard sessions are random, stored only as SHA-256, and single-use
//!   (refresh) or revocable (session).
use std::time::{Duration, Instant};

use app::dto::TokenPair;
use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use chrono::{TimeDelta, Utc};
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
pub enum Credentials {
    Basic { email: String, password: String },
    Bearer(String),
    Session(String),
}

pub async fn hash_password(password: String) -> Result<String> {
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

pub async fn authenticate(
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

/// Changes whenever the password does, so tokens and cached credentials die with the old password.
fn password_stamp(u: &user::Model) -> String {
    token_digest(&u.password_hash)[..16].to_string()
}

#[derive(Serialize, Deserialize)]
struct AccessClaims {
    uid: i32,
    exp: i64,
    pw: String,
}

fn issue_access(secrets: &Secrets, u: &user::Model) -> String {
    let claims = AccessClaims {
        uid: u.id,
        exp: (Utc::now() + ACCESS_TTL).timestamp(),
        pw: password_stamp(u),
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

async fn store_token(
    db: &impl ConnectionTrait,
    user_id: i32,
    kind: &str,
    ttl: TimeDelta,
) -> Result<String> {
    let token = random_token();
    let t = now();
    auth_token::ActiveModel {
        user_id: Set(user_id),
        kind: Set(kind.to_string()),
        token_hash: Set(token_digest(&token)),
        expires_at: Set(t + ttl),
        created: Set(t),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(token)
}

async fn find_token(
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

fn bad_credentials() -> Error {
    Error::Unauthorized("No active account found with the given credentials.".into())
}

async fn pair_for(st: &AppState, u: &user::Model) -> Result<TokenPair> {
    let refresh = store_token(&st.db, u.id, KIND_REFRESH, REFRESH_TTL).await?;
    Ok(TokenPair {
        access: issue_access(&st.secrets, u),
        refresh,
    })
}

pub async fn obtain(st: &AppState, email: &str, password: &str) -> Result<TokenPair> {
    let u = authenticate(&st.db, email, password)
        .await?
        .ok_or_else(bad_credentials)?;
    record_login(&st.db, &u).await?;
    pair_for(st, &u).await
}

/// Exchanges a refresh token for a new pair; the old refresh token is spent.
pub async fn refresh(st: &AppState, token: &str) -> Result<TokenPair> {
    let invalid = || Error::Unauthorized("Token is invalid or expired.".into());
    let row = find_token(&st.db, KIND_REFRESH, token)
        .await?
        .ok_or_else(invalid)?;
    let deleted = auth_token::Entity::delete_by_id(row.id)
        .exec(&st.db)
        .await?;
    if deleted.rows_affected == 0 {
        // Another request spent it first.
        return Err(invalid());
    }
    let u = user::Entity::find_by_id(row.user_id)
        .one(&st.db)
        .await?
        .ok_or_else(invalid)?;
    pair_for(st, &u).await
}

/// Logs in for the dashboard: answers the session token to put in the cookie.
pub async fn login(st: &AppState, email: &str, password: &str) -> Result<(String, user::Model)> {
    let u = authenticate(&st.db, email, password)
        .await?
        .ok_or_else(bad_credentials)?;
    record_login(&st.db, &u).await?;
    let token = store_token(&st.db, u.id, KIND_SESSION, SESSION_TTL).await?;
    Ok((token, u))
}

/// Spends every refresh token of a user, when their password changes: access tokens die with
/// the old password by themselves, but a refresh token would otherwise keep minting new ones, so
/// whoever held a leaked one stayed in after the password reset.
pub async fn revoke_refresh_tokens(db: &impl ConnectionTrait, user_id: i32) -> Result<()> {
    auth_token::Entity::delete_many()
        .filter(auth_token::Column::UserId.eq(user_id))
        .filter(auth_token::Column::Kind.eq(KIND_REFRESH))
        .exec(db)
        .await?;
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
    let user = match credentials {
        Credentials::Bearer(token) => {
            let claims = read_access(&st.secrets, &token)
                .ok_or_else(|| Error::Unauthorized("Given token not valid or expired.".into()))?;
            user::Entity::find_by_id(claims.uid)
                .one(&st.db)
                .await?
                .filter(|u| password_stamp(u) == claims.pw)
                .ok_or_else(|| Error::Unauthorized("Given token not valid or expired.".into()))?
        }
        Credentials::Session(token) => {
            let row = find_token(&st.db, KIND_SESSION, &token)
                .await?
                .ok_or_else(|| Error::Unauthorized("Session expired; log in again.".into()))?;
            user::Entity::find_by_id(row.user_id)
                .one(&st.db)
                .await?
                .ok_or_else(|| Error::Unauthorized("Session expired; log in again.".into()))?
        }
        Credentials::Basic { email, password } => basic(st, &email, &password).await?,
    };
    Ok(Actor { user })
}

async fn basic(st: &AppState, email: &str, password: &str) -> Result<user::Model> {
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
    let u = authenticate(&st.db, email, password)
        .await?
        .ok_or_else(|| Error::Unauthorized("Invalid username/password.".into()))?;
    let mut cache = st.basic_cache.lock().expect("cache lock");
    if cache.len() >= BASIC_CACHE_MAX {
        cache.clear();
    }
    cache.insert(key, (u.id, password_stamp(&u), Instant::now()));
    Ok(u)
}

/// SPEC §3: when no user exists, create the configured superuser, or `admin@cyborg.local` with a
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
    super::validate::email(&email)
        .map_err(|m| Error::BadRequest(format!("CYBORG_ADMIN_EMAIL: {m}")))?;
    let (password, generated) = match password {
        Some(p) if !p.is_empty() => (p.to_string(), None),
        _ => {
            let p = random_token()[..20].to_string();
            (p.clone(), Some(p))
        }
    };
    let t = now();
    user::ActiveModel {
        email: Set(email.clone()),
        first_name: Set(String::new()),
        last_name: Set(String::new()),
        password_hash: Set(hash_password(password).await?),
        is_superuser: Set(true),
        created: Set(t),
        modified: Set(t),
        ..Default::default()
    }
    .insert(db)
    .await?;
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
        let t = issue_access(&s, &user("h1"));
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
        let h = hash_password("pw123456".into()).await.unwrap();
        assert!(verify_password(h.clone(), "pw123456".into()).await);
        assert!(!verify_password(h, "wrong".into()).await);
    }
}
