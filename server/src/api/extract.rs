//! Request extractors that turn every malformed input into the API's error bodies (docs/API.md):
//! JSON bodies, object ids in paths, and list query strings.
use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Path, RawQuery, Request},
    http::request::Parts,
};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::{
    error::{ApiError, Error},
    services::list::ListRequest,
};

/// A JSON body; bad JSON is a 400 with `detail`, a wrong type a 400 under the field's name.
pub struct ApiJson<T>(pub T);

/// Largest JSON body accepted.
const MAX_BODY: usize = 1024 * 1024;

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| Error::BadRequest(format!("Could not read the request body: {e}")))?;
        if bytes.len() > MAX_BODY {
            return Err(Error::BadRequest(format!(
                "The request body is larger than {MAX_BODY} bytes."
            ))
            .into());
        }
        let body: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        Ok(ApiJson(parse_json(body)?))
    }
}

/// Parses a body that must be a JSON object into `T` (a struct of optional fields).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    // serde's derived structs also accept a JSON array of their fields in order, so
    // `["a@b.c", "pw"]` logged in and `["n", "0 3 * * *", true]` created a schedule (and `[1]`
    // came out as an error under the field ""). Every body of this API is an object: refuse
    // arrays before serde sees them.
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(Error::BadRequest(
            "Expected a JSON object, not an array.".into(),
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(&mut *de) {
        // Without `end()` anything after the first value (`{"a":1} garbage`) was ignored and
        // a malformed body accepted; `serde_json::from_slice` checks this, a bare Deserializer not.
        Ok(v) => de
            .end()
            .map(|()| v)
            .map_err(|e| Error::BadRequest(format!("JSON parse error - {e}"))),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            match inner.classify() {
                Category::Data if path != "." && !path.is_empty() => {
                    let field = path.split(['.', '[']).next().unwrap_or(&path).to_string();
                    Err(Error::field(&field, describe(&inner)))
                }
                Category::Data => Err(Error::BadRequest(format!(
                    "Expected a JSON object: {}",
                    describe(&inner)
                ))),
                _ => Err(Error::BadRequest(format!("JSON parse error - {inner}"))),
            }
        }
    }
}

/// serde's message without its "at line 1 column 7" tail, which means nothing to a form.
fn describe(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// An object id from the path; anything that is not one is a 404, like a missing object.
pub struct Id(pub i32);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::not_found())?;
        raw.parse::<i32>()
            .ok()
            .filter(|id| *id > 0)
            .map(Id)
            .ok_or_else(|| Error::not_found().into())
    }
}

/// Same as `Id`, for the 64-bit ids of catalog entries.
pub struct BigId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for BigId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::not_found())?;
        raw.parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(BigId)
            .ok_or_else(|| Error::not_found().into())
    }
}

/// The query string as ordered pairs, for the list engine.
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn list(self, path: &str) -> ListRequest {
        ListRequest::new(path, self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let RawQuery(raw) = RawQuery::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::BadRequest("Unreadable query string.".into()))?;
        let pairs = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Ok(Query(pairs))
    }
}

/// The list parameters, for the OpenAPI document; filters are the object's fields.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListParams {
    /// Page number, from 1.
    page: Option<u64>,
    /// Objects per page, 1 to 10000 (default 100).
    page_size: Option<u64>,
    /// Case-insensitive text search over the object's text fields.
    search: Option<String>,
    /// Comma-separated fields, `-` for descending; default `-id`. `order` is an alias.
    order_by: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::dto::ClientInput;

    #[test]
    fn json_errors_are_field_or_detail() {
        assert!(matches!(
            parse_json::<ClientInput>(b"{"),
            Err(Error::BadRequest(_))
        ));
        assert!(matches!(
            parse_json::<ClientInput>(b"[1]"),
            Err(Error::BadRequest(_))
        ));
        assert!(matches!(
            parse_json::<app::dto::ScheduleInput>(br#" ["n", "0 3 * * *", true]"#),
            Err(Error::BadRequest(_))
        ));
        let Err(Error::Validation(e)) = parse_json::<ClientInput>(br#"{"port": "x"}"#) else {
            panic!("expected a field error")
        };
        assert!(e["port"][0].contains("invalid type"), "{e:?}");
        assert!(!e["port"][0].contains("line"), "{e:?}");
        assert!(parse_json::<ClientInput>(br#"{"unknown": 1, "id": 5}"#).is_ok());
        assert!(parse_json::<ClientInput>(b"{} \n").is_ok());
        assert!(matches!(
            parse_json::<ClientInput>(br#"{"hostname": "a.b"} trailing"#),
            Err(Error::BadRequest(_))
        ));
    }
}

/// `?month=YYYY-MM` of the calendar endpoints; any other parameter is refused like an unknown filter.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MonthQuery {
    /// The month to show, `YYYY-MM`; the current UTC month when absent.
    pub month: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for MonthQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(pairs) = Query::from_request_parts(parts, state).await?;
        let mut month = None;
        for (k, v) in pairs {
            match k.as_str() {
                "month" => month = Some(v),
                _ => {
                    return Err(Error::field(
                        &k,
                        "Unknown parameter; only month=YYYY-MM is accepted.",
                    )
                    .into());
                }
            }
        }
        Ok(MonthQuery { month })
    }
}
