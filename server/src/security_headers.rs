//! Headers every answer carries: no MIME sniffing, no referrer beyond this site, no framing by
//! another site, and a Content-Security-Policy — the dashboard's pages set their own (with the
//! response's script nonce, `app::session::content_security_policy`); everything else gets one
//! under which nothing runs.
use app::session::STRICT_CONTENT_SECURITY_POLICY;
use axum::{
    extract::Request,
    http::{
        HeaderValue,
        header::{
            CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
        },
    },
    middleware::Next,
    response::Response,
};

pub async fn add(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(CONTENT_SECURITY_POLICY) {
        h.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(STRICT_CONTENT_SECURITY_POLICY),
        );
    }
    resp
}
