//! Talkdesk `POST /oauth/token` as documented at https://docs.talkdesk.com/reference/cc-basic:
//! Basic client authentication, 600-second bearer tokens, `{error, error_description}` errors.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::json;

use super::{basic_credentials, error, field, form_fields, new_token, token_json, MockConfig};
use crate::target::ApiTarget;

pub const ENDPOINTS: &[(&str, &str)] = &[("Talkdesk token", "/oauth/token")];

/// Talkdesk documents access tokens valid for 10 minutes.
const EXPIRES_IN: u64 = 600;

#[derive(Debug, Clone)]
pub struct Config {
    pub client_id: String,
    pub client_secret: String,
    /// Granted when a request names no scope.
    pub scopes: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            client_id: "conformance-client".into(),
            client_secret: "test-only-talkdesk-secret".into(),
            scopes: vec![
                "account:read".into(),
                "callbacks:write".into(),
                "users:read".into(),
            ],
        }
    }
}

pub fn api_target(config: &Config, base_url: &str) -> ApiTarget {
    super::api_target(
        base_url,
        &[("client_id", &config.client_id)],
        &[("client_secret", &config.client_secret)],
    )
}

pub fn routes(config: Arc<MockConfig>, _base_url: &str) -> Router {
    Router::new()
        .route("/oauth/token", post(token))
        .with_state(config)
}

fn unauthorized(description: &str) -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, "invalid_client", description);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"talkdesk\""),
    );
    r
}

async fn token(State(config): State<Arc<MockConfig>>, headers: HeaderMap, body: Bytes) -> Response {
    let config = &config.talkdesk;
    let form = match form_fields(&headers, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    match basic_credentials(&headers) {
        Ok(Some((id, secret))) if id == config.client_id && secret == config.client_secret => {}
        Ok(Some(_)) => return unauthorized("client authentication failed"),
        Ok(None) => return unauthorized("client authentication is required"),
        Err(_) => return unauthorized("malformed Authorization header"),
    }
    match field(&form, "grant_type") {
        None | Some("") => error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type is required",
        ),
        Some("client_credentials") => client_credentials(config, &form),
        Some(_) => error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "the grant type is not supported",
        ),
    }
}

fn client_credentials(config: &Config, form: &[(String, String)]) -> Response {
    let granted: Vec<&str> = match field(form, "scope") {
        Some(s) if !s.trim().is_empty() => {
            let requested: Vec<&str> = s.split(' ').filter(|t| !t.is_empty()).collect();
            if let Some(bad) = requested
                .iter()
                .find(|t| !config.scopes.iter().any(|c| c == *t))
            {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    &format!("scope {bad} is not allowed for this client"),
                );
            }
            requested
        }
        _ => config.scopes.iter().map(String::as_str).collect(),
    };
    token_json(
        StatusCode::OK,
        json!({
            "access_token": new_token("td_at_"),
            "token_type": "Bearer",
            "expires_in": EXPIRES_IN,
            "scope": granted.join(" "),
        }),
    )
}
