//! The mock's undocumented choices as data (`undocumented.yaml`): where a vendor documents
//! nothing, the mock picks one answer, and profile `other-reading` gives the other plausible one.
//! Each choice is a rewrite of the mock's own answer, so the documented behaviour underneath stays
//! the same in every profile. Every profile records which choices a request reached, so a test
//! can show that each listed choice is exercised by some case.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use super::{MockConfig, Profile};
use crate::error::{ConfigError, SourceError};
use crate::suite::yaml::{self, Spanned};

const FILE: &str = "src/mock/undocumented.yaml";
const TEXT: &str = include_str!("undocumented.yaml");

/// Largest answer the rewrite reads; the mock's own are far smaller.
const MAX_REWRITE: usize = 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChoiceFile {
    id: Spanned<String>,
    vendor: Spanned<String>,
    mock: Spanned<String>,
    other: Option<Spanned<String>>,
}

/// One undocumented choice: what the mock answers, and the other plausible answer.
#[derive(Debug, Clone)]
pub struct Choice {
    pub id: String,
    pub vendor: String,
    pub mock: String,
    pub other: String,
}

/// Reads a table of choices; an entry without `other`, or with an id the mock does not know,
/// is an error naming file:line:column.
pub fn parse(text: &str, file: &Path) -> Result<Vec<Choice>, ConfigError> {
    let raw: Option<Vec<Spanned<ChoiceFile>>> = yaml::parse(text, file)?;
    let mut errors: Vec<SourceError> = Vec::new();
    let mut out = Vec::new();
    for item in raw.unwrap_or_default() {
        let c = item.value;
        let other = match c.other {
            Some(o) if !o.value.trim().is_empty() => o.value,
            Some(o) => {
                errors.push(yaml::error_at(
                    file,
                    text,
                    o.referenced,
                    "`other` is empty: name the answer a real org could give instead",
                ));
                continue;
            }
            None => {
                errors.push(yaml::error_at(
                    file,
                    text,
                    item.referenced,
                    format!(
                        "choice `{}` has no `other`: name the answer a real org could give instead",
                        c.id.value
                    ),
                ));
                continue;
            }
        };
        if !REWRITES.iter().any(|(id, _)| *id == c.id.value) {
            errors.push(yaml::error_at(
                file,
                text,
                c.id.referenced,
                format!("the mock makes no choice named `{}`", c.id.value),
            ));
        }
        out.push(Choice {
            id: c.id.value,
            vendor: c.vendor.value,
            mock: c.mock.value,
            other: other.to_string(),
        });
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    Ok(out)
}

/// The built-in table. A test keeps it valid; should it not parse, no choice is rewritten.
pub fn choices() -> &'static [Choice] {
    static TABLE: LazyLock<Vec<Choice>> =
        LazyLock::new(|| parse(TEXT, Path::new(FILE)).unwrap_or_default());
    &TABLE
}

/// The ids of the choices requests reached, shared by every clone of a config.
#[derive(Debug, Clone, Default)]
pub struct Reached(Arc<Mutex<BTreeSet<&'static str>>>);

impl Reached {
    fn add(&self, id: &'static str) {
        if let Ok(mut set) = self.0.lock() {
            set.insert(id);
        }
    }

    pub fn ids(&self) -> BTreeSet<&'static str> {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// What a rewrite sees of the request.
struct Asked {
    method: Method,
    path: String,
    json_body: bool,
}

/// One answer as the rewrite holds it.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Whether the choice applies to this answer, and the other reading of it.
type Rewrite = (fn(&Asked, &Answer) -> bool, fn(&mut Answer));

const MIAW: &str = "/iamessage/";

static REWRITES: &[(&str, Rewrite)] = &[
    (
        "miaw-error-body-json",
        (
            |q, a| q.path.starts_with(MIAW) && a.status.is_client_error() && a.json().is_some(),
            |a| {
                let message = a
                    .json()
                    .and_then(|v| v["message"].as_str().map(str::to_string))
                    .unwrap_or_else(|| "Bad Request".into());
                a.body = message.into_bytes();
                a.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
            },
        ),
    ),
    (
        "miaw-bearer-challenge",
        (
            |q, a| q.path.starts_with(MIAW) && a.headers.contains_key(header::WWW_AUTHENTICATE),
            |a| {
                a.headers.remove(header::WWW_AUTHENTICATE);
            },
        ),
    ),
    (
        "miaw-form-body-400",
        (
            |q, a| {
                q.path.starts_with(MIAW)
                    && q.method == Method::POST
                    && !q.json_body
                    && a.status == StatusCode::BAD_REQUEST
            },
            |a| a.status = StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ),
    (
        "miaw-unknown-deployment-400",
        (
            |q, a| {
                q.path.starts_with(MIAW)
                    && a.status == StatusCode::BAD_REQUEST
                    && a.json().is_some_and(|v| {
                        v["message"]
                            .as_str()
                            .is_some_and(|m| m.starts_with("no ") && m.contains("deployment"))
                    })
            },
            |a| a.status = StatusCode::NOT_FOUND,
        ),
    ),
    (
        "miaw-device-id-echo",
        (
            |q, a| {
                q.path.starts_with(MIAW)
                    && a.status.is_success()
                    && a.json()
                        .is_some_and(|v| v["context"]["deviceId"].is_string())
            },
            |a| {
                if let Some(mut v) = a.json() {
                    if let Some(context) = v["context"].as_object_mut() {
                        context.remove("deviceId");
                    }
                    a.body = v.to_string().into_bytes();
                }
            },
        ),
    ),
    (
        "talkdesk-basic-challenge",
        (
            |q, a| q.path == "/oauth/token" && has_challenge(a, "basic"),
            |a| {
                a.headers.remove(header::WWW_AUTHENTICATE);
            },
        ),
    ),
    (
        "salesforce-introspection-refusal-challenge",
        (
            |q, a| q.path == "/services/oauth2/introspect" && has_challenge(a, "basic"),
            |a| {
                a.headers.remove(header::WWW_AUTHENTICATE);
            },
        ),
    ),
    (
        "talkdesk-authorize-checks-before-login",
        (
            |q, a| q.path == "/oauth/authorize" && refused_before_login(a),
            login_page_first,
        ),
    ),
    (
        "salesforce-authorize-checks-before-login",
        (
            |q, a| q.path == "/services/oauth2/authorize" && refused_before_login(a),
            login_page_first,
        ),
    ),
];

/// An authorize refusal a server could also give only after sign-in: a redirect carrying
/// `error=invalid_scope` or `error=unsupported_response_type` (the client and redirect_uri were
/// valid, or there would be no redirect).
fn refused_before_login(a: &Answer) -> bool {
    a.status.is_redirection()
        && a.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|l| {
                ["invalid_scope", "unsupported_response_type"]
                    .iter()
                    .any(|code| l.contains(&format!("error={code}")))
            })
}

/// The other order: the login page first, the request's own checks after sign-in.
fn login_page_first(a: &mut Answer) {
    a.status = StatusCode::OK;
    a.headers.remove(header::LOCATION);
    a.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    a.body = b"<!doctype html><title>Log in</title><form method=post><input name=username><input name=password type=password><button>Log in</button></form>".to_vec();
}

fn has_challenge(a: &Answer, scheme: &str) -> bool {
    a.status == StatusCode::UNAUTHORIZED
        && a.headers
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with(scheme))
}

/// Records which choices an answer reached, and under `other-reading` answers the other way.
pub(crate) async fn layer(
    State(config): State<Arc<MockConfig>>,
    request: Request,
    next: Next,
) -> Response {
    let asked = Asked {
        method: request.method().clone(),
        path: request.uri().path().to_string(),
        json_body: request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("json")),
    };
    let response = next.run(request).await;
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_REWRITE).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let mut answer = Answer {
        status: parts.status,
        headers: std::mem::take(&mut parts.headers),
        body: bytes.to_vec(),
    };
    // Decided on the mock's own answer, so one rewrite does not hide another's choice.
    let reached: Vec<&(&str, Rewrite)> = REWRITES
        .iter()
        .filter(|(_, (applies, _))| applies(&asked, &answer))
        .collect();
    for (id, (_, rewrite)) in reached {
        config.reached.add(id);
        if config.profile == Profile::OtherReading {
            rewrite(&mut answer);
        }
    }
    parts.status = answer.status;
    parts.headers = answer.headers;
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(answer.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_table_parses_and_names_every_rewrite_once() {
        let table = parse(TEXT, Path::new(FILE)).unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<&str> = table.iter().map(|c| c.id.as_str()).collect();
        let rewrites: Vec<&str> = REWRITES.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, rewrites);
        assert_eq!(choices().len(), table.len());
    }

    #[test]
    fn only_a_refusal_that_could_come_after_sign_in_gets_the_login_page_first() {
        let redirect = |location: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::LOCATION, HeaderValue::from_str(location).unwrap());
            Answer {
                status: StatusCode::FOUND,
                headers,
                body: Vec::new(),
            }
        };
        let mut a = redirect("https://app.example/cb?error=invalid_scope&state=s");
        assert!(refused_before_login(&a));
        login_page_first(&mut a);
        assert_eq!(a.status, StatusCode::OK);
        assert!(!a.headers.contains_key(header::LOCATION));
        assert!(String::from_utf8_lossy(&a.body).contains("<form"));
        assert!(refused_before_login(&redirect(
            "https://app.example/cb?error=unsupported_response_type"
        )));
        // A code, or an error only the request itself explains, stays as the mock answers.
        assert!(!refused_before_login(&redirect(
            "https://app.example/cb?code=c"
        )));
        assert!(!refused_before_login(&redirect(
            "https://app.example/cb?error=invalid_request"
        )));
    }

    #[test]
    fn an_entry_without_its_other_answer_names_file_line_and_column() {
        let text = "- id: miaw-bearer-challenge\n  vendor: miaw\n  mock: a challenge\n- id: miaw-form-body-400\n  vendor: miaw\n  mock: 400\n  other: \" \"\n";
        let e = parse(text, Path::new("choices.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("choices.yaml:1:3"), "{e}");
        assert!(e.contains("has no `other`"), "{e}");
        assert!(e.contains("choices.yaml:7:10"), "{e}");
        let text = "- id: made-up\n  vendor: x\n  mock: y\n  other: z\n";
        let e = parse(text, Path::new("c.yaml")).unwrap_err().to_string();
        assert!(
            e.contains("c.yaml:1:7") && e.contains("no choice named"),
            "{e}"
        );
    }
}
