//! The dashboard session cookie: its name, how it is read from a request and how it is written.
//! The one definition, used by the REST API's `/api/session/` and by the dashboard's server
//! functions, so both set exactly the same cookie.
use http::{HeaderMap, HeaderValue, header::COOKIE};

pub const SESSION_COOKIE: &str = "cyborg_session";

/// The `Set-Cookie` value carrying a session token (`max_age` 0 with an empty value clears it).
/// HttpOnly keeps it from scripts; SameSite=Strict keeps other sites from riding on it.
pub fn session_cookie(value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    // A session token is URL-safe base64; anything else (never produced here) is refused by
    // HeaderValue, and an empty cookie is the safe answer then.
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("cyborg_session=; Path=/; Max-Age=0"))
}

/// Served over TLS when a proxy in front says so; the cookie is then marked Secure.
pub fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        == Some("https")
}

/// The session token of a request's `Cookie` headers.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
}
