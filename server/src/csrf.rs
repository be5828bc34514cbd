//! Cross-site request forgery: a write authenticated by the dashboard's session cookie must come
//! from this site's own pages. The cookie is already `SameSite=Strict`; this is the second lock,
//! which also holds against a sibling site on the same domain and an older browser.
//!
//! For `POST`, `PUT`, `PATCH` and `DELETE` under `/api/` and `/rpc/` that carry the session
//! cookie and no `Authorization` header (scripts use Basic or Bearer and are not affected), and
//! for the login and logout themselves (a forged login would sign the victim into the attacker's
//! account):
//! - `Sec-Fetch-Site` must be `same-origin`, or, from a browser that does not send it, `Origin`
//!   must name this host; with neither the request is refused;
//! - a body must be JSON (`Content-Type: application/json`), which no HTML form can send; the
//!   login and logout are HTML forms (they work before the WASM loads) and are exempt from this
//!   one rule.
//!
//! Anything else is answered 403 before any handler runs, so nothing changes.
use axum::{
    extract::Request,
    http::{
        HeaderMap, Method,
        header::{AUTHORIZATION, CONTENT_TYPE, HOST, ORIGIN},
    },
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::error::{ApiError, Error};

/// The dashboard's login and logout (server functions and REST), whose forms post url-encoded.
const FORM_PATHS: &[&str] = &["/rpc/login", "/rpc/logout", "/api/session/", "/api/session"];

pub async fn guard(req: Request, next: Next) -> Response {
    match check(req.method(), req.uri().path(), req.headers()) {
        Ok(()) => next.run(req).await,
        Err(why) => ApiError(Error::Forbidden(format!(
            "Cross-site request refused: {why}."
        )))
        .into_response(),
    }
}

fn check(method: &Method, path: &str, headers: &HeaderMap) -> Result<(), &'static str> {
    let writes = matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if !writes || !(path.starts_with("/api/") || path.starts_with("/rpc/")) {
        return Ok(());
    }
    let form = FORM_PATHS.contains(&path);
    let cookie = app::session::session_token(headers).is_some();
    let scripted = headers.contains_key(AUTHORIZATION);
    if !form && (!cookie || scripted) {
        return Ok(());
    }
    same_origin(headers)?;
    if !form && *method != Method::DELETE && !json(headers) {
        return Err("a write authenticated by the session cookie must send a JSON body");
    }
    Ok(())
}

fn same_origin(headers: &HeaderMap) -> Result<(), &'static str> {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return if site == "same-origin" {
            Ok(())
        } else {
            Err("it does not come from this site's pages (Sec-Fetch-Site)")
        };
    }
    let Some(origin) = text(ORIGIN.as_str()) else {
        return Err("the browser sent neither Sec-Fetch-Site nor Origin");
    };
    // `scheme://host[:port]`; the host part must be the one this request was sent to (the
    // `Host` header, or the one a proxy forwarded: neither can be set by another site's page
    // without a CORS preflight this server never allows).
    let host = origin
        .split_once("://")
        .map(|(_, h)| h)
        .filter(|h| !h.is_empty() && !h.contains('/'));
    let ours = [text(HOST.as_str()), text("x-forwarded-host")];
    match host {
        Some(h) if ours.iter().flatten().any(|o| o.eq_ignore_ascii_case(h)) => Ok(()),
        _ => Err("its Origin is another site"),
    }
}

fn json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    const COOKIE: (&str, &str) = ("cookie", "cyborg_session=abc");

    #[test]
    fn cookie_writes_need_this_origin_and_json() {
        let ok = headers(&[
            COOKIE,
            ("host", "cyborg.lan:3000"),
            ("origin", "http://cyborg.lan:3000"),
            ("content-type", "application/json; charset=utf-8"),
        ]);
        assert!(check(&Method::POST, "/api/v1/clients/", &ok).is_ok());
        let fetch_ok = headers(&[
            COOKIE,
            ("sec-fetch-site", "same-origin"),
            ("content-type", "application/json"),
        ]);
        assert!(check(&Method::PATCH, "/rpc/save", &fetch_ok).is_ok());
        for bad in [
            headers(&[COOKIE, ("content-type", "application/json")]),
            headers(&[
                COOKIE,
                ("sec-fetch-site", "same-site"),
                ("content-type", "application/json"),
            ]),
            headers(&[
                COOKIE,
                ("host", "cyborg.lan:3000"),
                ("origin", "http://evil.example"),
                ("content-type", "application/json"),
            ]),
            headers(&[
                COOKIE,
                ("host", "cyborg.lan:3000"),
                ("origin", "null"),
                ("content-type", "application/json"),
            ]),
            headers(&[
                COOKIE,
                ("sec-fetch-site", "same-origin"),
                ("content-type", "application/x-www-form-urlencoded"),
            ]),
            headers(&[COOKIE, ("sec-fetch-site", "same-origin")]),
        ] {
            assert!(
                check(&Method::POST, "/api/v1/clients/", &bad).is_err(),
                "{bad:?}"
            );
        }
        // A DELETE has no body to check; its origin still counts.
        let del = headers(&[COOKIE, ("sec-fetch-site", "same-origin")]);
        assert!(check(&Method::DELETE, "/api/v1/clients/1/", &del).is_ok());
        let del = headers(&[COOKIE, ("sec-fetch-site", "cross-site")]);
        assert!(check(&Method::DELETE, "/api/v1/clients/1/", &del).is_err());
    }

    #[test]
    fn scripts_reads_and_anonymous_calls_are_not_affected() {
        let script = headers(&[COOKIE, ("authorization", "Bearer x")]);
        assert!(check(&Method::POST, "/api/v1/clients/", &script).is_ok());
        assert!(check(&Method::GET, "/api/v1/clients/", &headers(&[COOKIE])).is_ok());
        assert!(check(&Method::POST, "/api/token/obtain/", &headers(&[])).is_ok());
    }

    #[test]
    fn login_and_logout_need_this_origin_but_may_be_forms() {
        let form = headers(&[
            ("sec-fetch-site", "same-origin"),
            ("content-type", "application/x-www-form-urlencoded"),
        ]);
        for path in ["/rpc/login", "/rpc/logout", "/api/session/"] {
            assert!(check(&Method::POST, path, &form).is_ok(), "{path}");
            let forged = headers(&[("origin", "http://evil.example"), ("host", "cyborg.lan")]);
            assert!(check(&Method::POST, path, &forged).is_err(), "{path}");
            assert!(check(&Method::POST, path, &headers(&[])).is_err(), "{path}");
        }
    }
}
