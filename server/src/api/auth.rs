//! Turns a request's credentials (Basic, Bearer or the dashboard cookie) into an `Actor`.
use axum::http::{Method, header::AUTHORIZATION};
use axum::{extract::FromRequestParts, http::request::Parts};
use base64::{Engine, engine::general_purpose::STANDARD};

use crate::{
    error::{ApiError, Error},
    services::{
        Actor,
        auth::{Credentials, resolve},
        job_stream::Watch,
    },
    state::AppState,
};

use app::session::ClientAddr;
pub use app::session::SESSION_COOKIE;

/// The caller of a live stream as a [`Watch`]: it ends the stream when their credentials stop
/// working, and counts their open streams.
pub struct Watching(pub Watch);

impl FromRequestParts<AppState> for Watching {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let credentials = credentials(parts)?.ok_or_else(Error::unauthorized)?;
        let actor = resolve(state, credentials.clone()).await?;
        Ok(Watching(Watch::new(state, &actor, credentials)?))
    }
}

/// The caller of an API request, resolved from its credentials by the core's
/// `services::auth::resolve` (the dashboard's server functions use the same).
pub struct UserAuth(pub Actor);

impl FromRequestParts<AppState> for UserAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let credentials = credentials(parts)?.ok_or_else(Error::unauthorized)?;
        let actor = resolve(state, credentials).await?;
        // The one place a read-only API token is held to reads: every write of the API is a
        // method other than these.
        if actor.read_only && !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
        {
            return Err(Error::Forbidden(
                "This API token is read-only: only GET requests are allowed.".into(),
            )
            .into());
        }
        Ok(UserAuth(actor))
    }
}

fn credentials(parts: &Parts) -> Result<Option<Credentials>, Error> {
    let from = ClientAddr::of(&parts.extensions);
    if let Some(value) = parts.headers.get(AUTHORIZATION) {
        let malformed = || Error::Unauthorized("Malformed Authorization header.".into());
        let value = value.to_str().map_err(|_| malformed())?;
        let (scheme, rest) = value.split_once(' ').ok_or_else(malformed)?;
        return match scheme.to_ascii_lowercase().as_str() {
            "basic" => {
                let decoded = STANDARD.decode(rest.trim()).map_err(|_| malformed())?;
                let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
                let (email, password) = decoded.split_once(':').ok_or_else(malformed)?;
                Ok(Some(Credentials::Basic {
                    email: email.to_string(),
                    password: password.to_string(),
                    from,
                }))
            }
            "bearer" => Ok(Some(Credentials::Bearer(rest.trim().to_string()))),
            _ => Err(Error::Unauthorized(
                "Use Basic or Bearer authorization.".into(),
            )),
        };
    }
    Ok(session_cookie(parts).map(Credentials::Session))
}

pub fn session_cookie(parts: &Parts) -> Option<String> {
    app::session::session_token(&parts.headers)
}
