//! Headers every answer carries: no MIME sniffing, no referrer beyond this site, no framing by
//! another site, and a Content-Security-Policy. A dashboard page gets the page policy naming the
//! nonce Leptos put on the page's inline scripts (a new one per response, `leptos::nonce`);
//! everything else gets one under which nothing runs.
//!
//! The nonce is read from the page itself, in its first body chunk (the `<head>`, where the
//! hydration script is): setting the header from the page's render (Leptos' `ResponseOptions`)
//! was lost on some responses under concurrent requests (seen in Chromium on reloads, not
//! explained), and a page whose header names no nonce does not hydrate.
use axum::{
    body::{Body, Bytes},
    extract::Request,
    http::{
        HeaderMap, HeaderValue,
        header::{
            CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
            X_FRAME_OPTIONS,
        },
    },
    middleware::Next,
    response::Response,
};
use futures_util::StreamExt;

/// The policy of a dashboard page: scripts only from this server or inline with this
/// response's nonce (Leptos puts it on the hydration script and on the data it streams),
/// WebAssembly compiled from those, no plugins, no foreign frames around the page.
fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src \
         'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// The policy of every other answer (JSON, files, errors): nothing may run or frame it.
const STRICT_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

pub async fn add(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let (mut parts, body) = resp.into_parts();
    let mut body = Some(body);
    let mut policy = HeaderValue::from_static(STRICT_CONTENT_SECURITY_POLICY);
    if is_html(&parts.headers) {
        let mut stream = body.take().expect("taken once").into_data_stream();
        let first = stream.next().await;
        if let Some(Ok(chunk)) = &first
            && let Some(nonce) = nonce_in(chunk)
            && let Ok(v) = HeaderValue::from_str(&content_security_policy(nonce))
        {
            policy = v;
        }
        body = Some(Body::from_stream(
            futures_util::stream::iter(first).chain(stream),
        ));
    }
    let h = &mut parts.headers;
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(CONTENT_SECURITY_POLICY, policy);
    Response::from_parts(parts, body.expect("a body"))
}

fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"))
}

/// The value of the first `nonce="…"` attribute in `html` (base64 characters only: anything
/// else is not a nonce Leptos made).
fn nonce_in(html: &Bytes) -> Option<&str> {
    const MARK: &[u8] = b" nonce=\"";
    let start = html.windows(MARK.len()).position(|w| w == MARK)? + MARK.len();
    let len = html[start..].iter().position(|b| *b == b'"')?;
    let nonce = std::str::from_utf8(&html[start..start + len]).ok()?;
    let base64 = |c: char| c.is_ascii_alphanumeric() || "+/=-_".contains(c);
    (!nonce.is_empty() && nonce.len() <= 64 && nonce.chars().all(base64)).then_some(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nonce_of_the_first_script() {
        let page = Bytes::from_static(
            b"<head><link rel=\"modulepreload\" crossorigin=\"abc\"><script type=\"module\" \
              nonce=\"AbC_d-e\">x</script><script nonce=\"other\">",
        );
        assert_eq!(nonce_in(&page), Some("AbC_d-e"));
        assert_eq!(nonce_in(&Bytes::from_static(b"<p>no script</p>")), None);
        let evil = Bytes::from_static(b"<script nonce=\"x' 'unsafe-inline\">");
        assert_eq!(nonce_in(&evil), None);
    }
}
