//! Extractors that parse a request's query string, JSON body and path once, at the edge, and
//! turn every failure into an [`ApiError`] naming the field: unknown fields, wrong types,
//! bad timestamps, unknown enum values, out-of-range limits, oversized bodies.

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The query string parsed as `T` (the service layer's query types, which refuse unknown
/// parameters).
pub struct ApiQuery<T>(pub T);

/// The JSON body parsed as `T`.
pub struct ApiJson<T>(pub T);

/// The path parameters parsed as `T`.
pub struct ApiPath<T>(pub T);

/// The name a serde error message gives in backticks after `prefix`, e.g. the `x` of
/// "unknown field `x`, expected one of ...".
fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    let rest = rest.strip_prefix('`')?;
    Some(&rest[..rest.find('`')?])
}

/// The field a deserialisation error is about, and its message without a repeated
/// `invalid FIELD: ` prefix.
fn field_error(path: &serde_path_to_error::Path, message: String) -> ApiError {
    let from_message = quoted_after(&message, "unknown field ")
        .or_else(|| quoted_after(&message, "missing field "))
        .map(str::to_owned);
    let path = path.to_string();
    let field = from_message.unwrap_or_else(|| {
        if path == "." || path.is_empty() {
            "body".to_owned()
        } else {
            path.clone()
        }
    });
    let message = message
        .strip_prefix(&format!("invalid {field}: "))
        .map(str::to_owned)
        .unwrap_or(message);
    ApiError::invalid(field, message)
}

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or_default()).map(ApiQuery)
    }
}

/// A query string parsed as `T`, every failure an [`ApiError`] naming the field.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().clone();
        field_error(&path, err.into_inner().to_string())
    })
}

/// A query string split in two and parsed as `(A, B)`: the parameters named in `first` go to
/// `A`, every other one to `B`. For routes that take a service query plus options of their own
/// (an export's `format` and `tz` next to the search's filters).
pub struct ApiQueryPair<A, B>(pub A, pub B);

impl<A, B, S> FromRequestParts<S> for ApiQueryPair<A, B>
where
    A: DeserializeOwned + QueryNames,
    B: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let mut first = form_urlencoded::Serializer::new(String::new());
        let mut rest = form_urlencoded::Serializer::new(String::new());
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            if A::NAMES.contains(&key.as_ref()) {
                first.append_pair(&key, &value);
            } else {
                rest.append_pair(&key, &value);
            }
        }
        Ok(Self(
            parse_query(&first.finish())?,
            parse_query(&rest.finish())?,
        ))
    }
}

/// The parameter names of a query type, for [`ApiQueryPair`].
pub trait QueryNames {
    const NAMES: &'static [&'static str];
}

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json")
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection: BytesRejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::InvalidBody(format!("cannot read the request body: {rejection}"))
                }
            })?;
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
            let path = err.path().clone();
            let inner = err.into_inner();
            if inner.is_data() {
                field_error(&path, strip_position(&inner.to_string()))
            } else {
                ApiError::InvalidBody(format!("the body is not valid JSON: {inner}"))
            }
        })?;
        deserializer
            .end()
            .map_err(|err| ApiError::InvalidBody(format!("the body is not valid JSON: {err}")))?;
        Ok(ApiJson(value))
    }
}

/// serde_json's " at line L column C" suffix, which says nothing to an API client.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(|_| ApiError::invalid("id", "must be an integer id, e.g. /api/v1/jobs/42"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_of_an_unknown_or_missing_field_comes_from_the_message() {
        assert_eq!(
            quoted_after(
                "unknown field `limt`, expected one of `limit`",
                "unknown field "
            ),
            Some("limt")
        );
        assert_eq!(
            quoted_after("missing field `start`", "missing field "),
            Some("start")
        );
        assert_eq!(quoted_after("invalid type", "unknown field "), None);
        assert_eq!(
            strip_position("invalid type: string \"a\" at line 1 column 9"),
            "invalid type: string \"a\""
        );
    }
}
