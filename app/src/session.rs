//! The dashboard session cookie: its name, how it is read from a request and how it is written.
//! The one definition, used by the REST API's `/api/session/` and by the dashboard's server
//! functions, so both set exactly the same cookie.
use http::{HeaderMap, HeaderValue, header::COOKIE};

pub const SESSION_COOKIE: &str = "cyborg_session";
/// The name over HTTPS: the `__Host-` prefix makes the browser refuse the cookie unless it is
/// `Secure`, for this very host (no `Domain`) and `Path=/`, so a sibling site cannot set or
/// shadow it.
pub const SECURE_SESSION_COOKIE: &str = "__Host-cyborg_session";

/// The cookie's name, over HTTPS or not.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// The address a request came from (a trusted proxy's client when one is in front), put in the
/// request's extensions by the server: logins are throttled per address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::IpAddr);

impl ClientAddr {
    /// The request's, or the unspecified address when none was recorded.
    pub fn of(extensions: &http::Extensions) -> std::net::IpAddr {
        extensions
            .get::<ClientAddr>()
            .map_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |a| {
                a.0
            })
    }
}

/// The `Set-Cookie` value carrying a session token (`max_age` 0 with an empty value clears it).
/// HttpOnly keeps it from scripts; SameSite=Strict keeps other sites from riding on it.
pub fn session_cookie(value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let name = cookie_name(secure);
    let secure = if secure { "; Secure" } else { "" };
    // A session token is URL-safe base64; anything else (never produced here) is refused by
    // HeaderValue, and an empty cookie is the safe answer then.
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
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

/// The session token of a request's `Cookie` headers: over HTTPS only the `__Host-` cookie
/// counts.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    let name = cookie_name(over_tls(headers));
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_string())
}
