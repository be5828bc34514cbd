//! The error of every dashboard server function: the HTTP status it was answered with and the
//! message for the operator. On the server the status comes from the service error's own
//! mapping (`cyborg_core::error::Error::status`, the REST API's too), so a refusal keeps its
//! meaning on `/rpc` (401, 403, 404, 409, 400 …); what the framework itself refuses before any of
//! our code runs (arguments that do not decode) is the caller's mistake and answers 400.
use leptos::server_fn::{
    Bytes, ContentType, Decodes, Encodes, Format, FormatType,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpcError {
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RpcError {}

impl RpcError {
    /// Answers the call with `status` (on the server: the status of the `/rpc` response).
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        #[cfg(feature = "ssr")]
        set_status(status);
        Self {
            status,
            message: message.into(),
        }
    }
}

/// How an `RpcError` travels: `status|message` as plain text. Not JSON: the login page's WASM
/// holds no JSON decoder, and this keeps it out (docs/PERFORMANCE.md).
pub struct StatusLine;

impl ContentType for StatusLine {
    const CONTENT_TYPE: &'static str = "text/plain; charset=utf-8";
}

impl FormatType for StatusLine {
    const FORMAT_TYPE: Format = Format::Text;
}

impl Encodes<RpcError> for StatusLine {
    type Error = std::convert::Infallible;

    fn encode(e: &RpcError) -> Result<Bytes, Self::Error> {
        Ok(Bytes::from(format!("{}|{}", e.status, e.message)))
    }
}

impl Decodes<RpcError> for StatusLine {
    type Error = String;

    fn decode(bytes: Bytes) -> Result<RpcError, Self::Error> {
        let text = String::from_utf8_lossy(&bytes);
        let (status, message) = text
            .split_once('|')
            .ok_or_else(|| format!("not a status line: {text}"))?;
        let status = status
            .parse()
            .map_err(|_| format!("not a status: {status}"))?;
        Ok(RpcError {
            status,
            message: message.to_string(),
        })
    }
}

impl FromServerFnError for RpcError {
    type Encoder = StatusLine;

    fn from_server_fn_error(e: ServerFnErrorErr) -> Self {
        match e {
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => {
                RpcError::new(400, e.to_string())
            }
            // The caller's body on the server; the server's answer in the browser.
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Deserialization(_) => RpcError::new(400, e.to_string()),
            ServerFnErrorErr::ServerError(m) => RpcError::new(500, m),
            other => RpcError::new(500, other.to_string()),
        }
    }
}

/// Sets the status of a `/rpc/…` response. During a page render the status is the page's
/// business (the session guard's redirect), so it is left alone there.
#[cfg(feature = "ssr")]
fn set_status(status: u16) {
    use leptos::prelude::use_context;
    let rpc =
        use_context::<http::request::Parts>().is_some_and(|p| p.uri.path().starts_with("/rpc/"));
    if rpc
        && let Some(res) = use_context::<leptos_axum::ResponseOptions>()
        && let Ok(status) = http::StatusCode::from_u16(status)
    {
        res.set_status(status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_line_round_trips_and_keeps_bars_in_the_message() {
        let e = RpcError {
            status: 409,
            message: "in use | twice".into(),
        };
        let line = <StatusLine as Encodes<RpcError>>::encode(&e).unwrap();
        assert_eq!(&line[..], b"409|in use | twice");
        assert_eq!(<StatusLine as Decodes<RpcError>>::decode(line).unwrap(), e);
        assert!(<StatusLine as Decodes<RpcError>>::decode(Bytes::from("oops")).is_err());
    }
}
