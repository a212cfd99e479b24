//! Where a run sends its requests: per API a base URL, vars and secrets. The default target is
//! the embedded mock; real ones come from a targets file whose secrets come from the environment.

use std::collections::BTreeMap;
use std::path::Path;

use indexmap::IndexMap;
use serde::Deserialize;

use crate::error::{ConfigError, SourceError};
use crate::http::HttpOptions;
use crate::suite::model::Scalar;
use crate::suite::yaml::{self, Spanned};

#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub apis: BTreeMap<String, ApiTarget>,
    pub http: HttpOptions,
}

#[derive(Debug, Clone, Default)]
pub struct ApiTarget {
    pub base_url: String,
    pub vars: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
}

impl Target {
    pub fn api(&self, name: &str) -> Option<&ApiTarget> {
        self.apis.get(name)
    }

    /// Every secret value, to be masked in every output.
    pub fn secret_values(&self) -> impl Iterator<Item = &str> {
        self.apis
            .values()
            .flat_map(|a| a.secrets.values().map(String::as_str))
    }

    /// `id:secret` pairs as a Basic header would carry them, so their base64 is masked too.
    pub fn basic_pairs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for api in self.apis.values() {
            for id in api.vars.values() {
                for secret in api.secrets.values() {
                    out.push((id.clone(), secret.clone()));
                }
            }
        }
        out
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetsFile {
    targets: IndexMap<String, IndexMap<String, Spanned<ApiFile>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiFile {
    base_url: Spanned<String>,
    #[serde(default)]
    vars: IndexMap<String, Spanned<Scalar>>,
    #[serde(default)]
    secrets: IndexMap<String, Spanned<String>>,
}

/// Loads target `name` from a targets file, expanding `${ENV_VAR}` in its values.
pub fn load_target(path: &Path, name: &str) -> Result<Target, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: path.to_path_buf(),
        message: format!("cannot read: {e}"),
    })?;
    let file: TargetsFile = yaml::parse(&text, path)?;
    let Some(apis) = file.targets.get(name) else {
        let known: Vec<&str> = file.targets.keys().map(String::as_str).collect();
        return Err(ConfigError::File {
            path: path.to_path_buf(),
            message: format!(
                "no target named {name:?}; this file has: {}",
                known.join(", ")
            ),
        });
    };
    let mut errors = Vec::new();
    let mut target = Target {
        name: name.to_string(),
        apis: BTreeMap::new(),
        http: HttpOptions::default(),
    };
    let expand = |value: &str, at: yaml::Location, errors: &mut Vec<SourceError>| {
        expand_env(value).unwrap_or_else(|message| {
            errors.push(yaml::error_at(path, &text, at, message));
            String::new()
        })
    };
    for (api, spec) in apis {
        let s = &spec.value;
        let base_url = expand(&s.base_url.value, s.base_url.referenced, &mut errors);
        if !errors.is_empty() {
            continue;
        }
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            errors.push(yaml::error_at(
                path,
                &text,
                s.base_url.referenced,
                format!("base_url {base_url:?} must start with https:// or http://"),
            ));
        }
        let mut a = ApiTarget {
            base_url,
            ..Default::default()
        };
        for (k, v) in &s.vars {
            a.vars
                .insert(k.clone(), expand(&v.value.0, v.referenced, &mut errors));
        }
        for (k, v) in &s.secrets {
            if !v.value.contains("${") {
                errors.push(yaml::error_at(
                    path,
                    &text,
                    v.referenced,
                    format!("secret `{k}` is written in the file; secrets come from the environment: write \"${{ENV_VAR}}\""),
                ));
                continue;
            }
            a.secrets
                .insert(k.clone(), expand(&v.value, v.referenced, &mut errors));
        }
        target.apis.insert(api.clone(), a);
    }
    if errors.is_empty() {
        Ok(target)
    } else {
        Err(errors.into())
    }
}

/// `${NAME}` from the environment; a missing or empty variable is an error naming it.
fn expand_env(value: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed `${{` in {value:?}"))?;
        let name = &after[..end];
        match std::env::var(name) {
            Ok(v) if !v.is_empty() => out.push_str(&v),
            _ => return Err(format!("environment variable {name} is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_and_names_missing_variables() {
        std::env::set_var("TOKENCONF_TEST_HOST", "example.test");
        assert_eq!(
            expand_env("https://${TOKENCONF_TEST_HOST}/x").unwrap(),
            "https://example.test/x"
        );
        let err = expand_env("${TOKENCONF_TEST_SURELY_UNSET}").unwrap_err();
        assert!(err.contains("TOKENCONF_TEST_SURELY_UNSET"), "{err}");
    }
}
