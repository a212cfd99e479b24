//! Placeholder until the miaw endpoints land: no routes yet.

use std::sync::Arc;

use axum::Router;

use super::MockConfig;
use crate::target::ApiTarget;

pub const ENDPOINTS: &[(&str, &str)] = &[];

#[derive(Debug, Clone, Default)]
pub struct Config {}

pub fn api_target(_config: &Config, base_url: &str) -> ApiTarget {
    super::api_target(base_url, &[], &[])
}

pub fn routes(_config: Arc<MockConfig>, _base_url: &str) -> Router {
    Router::new()
}
