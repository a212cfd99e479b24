//! RFC 8414 discovery: a target API that gives only `issuer:` gets its endpoints from the
//! authorization server's metadata, read once when the session opens and before anything else
//! is sent. The metadata request carries no credential; a redirect is never followed; a
//! document that is not a JSON object, names another issuer (§3.3) or points an endpoint at an
//! origin other than the issuer's is an error (exit 2), so no secret ever goes to a host the
//! user did not name.

use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

use crate::error::ConfigError;
use crate::http::HttpOptions;
use crate::suite::template::Scope;
use crate::suite::{Auth, Body, StatusPattern, Step, UrlTemplate};
use crate::target::{ApiTarget, Target};

/// A metadata document larger than this is not one.
const MAX_METADATA: usize = 512 * 1024;

/// RFC 8414 §2 defaults for members the document leaves out.
const DEFAULT_GRANT_TYPES: &[&str] = &["authorization_code", "implicit"];
const DEFAULT_AUTH_METHODS: &[&str] = &["client_secret_basic"];

/// The endpoint members discovery fills vars from, and the var each fills.
const ENDPOINTS: &[(&str, &str)] = &[
    ("token_endpoint", "token_path"),
    ("revocation_endpoint", "revocation_path"),
    ("introspection_endpoint", "introspection_path"),
    ("authorization_endpoint", "authorize_path"),
    ("pushed_authorization_request_endpoint", "par_path"),
];

/// What the metadata says an API supports: cases that need anything else are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Support {
    /// Where the document was read (for skip reasons).
    pub metadata_url: String,
    pub grant_types: Vec<String>,
    pub token_auth_methods: Vec<String>,
}

/// The well-known URLs to try for `issuer`, in order: RFC 8414 §3.1 (the well-known string
/// inserted between host and path), then OpenID Connect Discovery 1.0 §4 (appended).
pub fn metadata_urls(issuer: &str) -> Result<Vec<String>, String> {
    let shown = crate::origin::without_userinfo(issuer);
    let url = Url::parse(issuer).map_err(|e| format!("{shown:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(format!("{shown:?} must be an https:// URL (RFC 8414 §2)"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{shown:?} has a query or fragment, which an issuer identifier must not (RFC 8414 §2)"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the issuer must not carry credentials".to_string());
    }
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    Ok(vec![
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{origin}{path}/.well-known/openid-configuration"),
    ])
}

/// Reads the metadata of every API of `target` that gives an issuer, fills the endpoint vars
/// it does not give, and returns what each API supports.
pub async fn discover(target: &mut Target) -> Result<Vec<(String, Support)>, ConfigError> {
    let mut out = Vec::new();
    let wanted: Vec<String> = target
        .apis
        .iter()
        .filter(|(_, a)| a.issuer.is_some())
        .map(|(name, _)| name.clone())
        .collect();
    if wanted.is_empty() {
        return Ok(out);
    }
    let client = client(&target.http).map_err(ConfigError::Usage)?;
    for name in wanted {
        let fail = |why: String| {
            ConfigError::Usage(format!(
                "target {}, api {name}: discovery: {why}",
                target.name
            ))
        };
        let api = &target.apis[&name];
        let issuer = api.issuer.clone().unwrap_or_default();
        let urls = metadata_urls(&issuer).map_err(|why| fail(format!("issuer {why}")))?;
        let cleartext =
            Url::parse(&issuer).is_ok_and(|u| crate::origin::is_cleartext_off_loopback(&u));
        if cleartext && !target.allow_http {
            return Err(fail(format!(
                "issuer {issuer} is cleartext http to a host that is not loopback; use https, or set `allow_http: true`"
            )));
        }
        let (url, document) = fetch(&client, &urls).await.map_err(&fail)?;
        let api = target.apis.get_mut(&name).expect("listed above");
        let support = apply(api, &issuer, &url, &document).map_err(&fail)?;
        out.push((name, support));
    }
    Ok(out)
}

/// A client like the run's (timeouts, trusted roots, proxy, no redirects), its wait capped.
fn client(options: &HttpOptions) -> Result<reqwest::Client, String> {
    crate::http::client_builder(options)?
        .timeout(options.timeout.min(Duration::from_secs(30)))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// The first of `urls` that answers 200 with a JSON object. A 404 (or another 4xx) moves on to
/// the next; a redirect, a 5xx, a transport error or garbage stops discovery.
async fn fetch(client: &reqwest::Client, urls: &[String]) -> Result<(String, Value), String> {
    let mut tried = Vec::new();
    for url in urls {
        let response = client
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("GET {url}: {}", crate::http::error_chain(&e)))?;
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            let to = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("nowhere");
            return Err(format!(
                "GET {url} answered {status}, a redirect to {}; discovery never follows redirects (give the issuer whose metadata is served there)",
                crate::redact::shorten(to, 200)
            ));
        }
        if (400..500).contains(&status) {
            tried.push(format!("{url} ({status})"));
            continue;
        }
        if status != 200 {
            return Err(format!("GET {url} answered {status}"));
        }
        let body = read_capped(response)
            .await
            .map_err(|why| format!("GET {url}: {why}"))?;
        return match serde_json::from_slice::<Value>(&body) {
            Ok(v @ Value::Object(_)) => Ok((url.clone(), v)),
            _ => Err(format!(
                "GET {url} answered 200 with something that is not a JSON object: {}",
                crate::redact::preview_body(&body)
            )),
        };
    }
    Err(format!(
        "no authorization server metadata at {}",
        tried.join(" nor ")
    ))
}

async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| crate::http::error_chain(&e))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_METADATA {
            return Err(format!("the document is over {MAX_METADATA} bytes"));
        }
    }
    Ok(body)
}

/// Checks `document` against `issuer` and fills `api`'s endpoint vars (those the targets file
/// does not give), `issuer` and `metadata_path`.
pub fn apply(
    api: &mut ApiTarget,
    issuer: &str,
    metadata_url: &str,
    document: &Value,
) -> Result<Support, String> {
    let origin = crate::origin::of(issuer)?;
    match document.get("issuer") {
        Some(Value::String(said)) if said == issuer => {}
        Some(Value::String(said)) => {
            return Err(format!(
                "member `issuer` is {said:?}, not the configured {issuer:?}; RFC 8414 §3.3: the data MUST NOT be used"
            ))
        }
        _ => {
            return Err(format!(
                "{metadata_url} has no string member `issuer` (RFC 8414 §2 REQUIRED); the data cannot be used"
            ))
        }
    }
    if crate::origin::of(&api.base_url)? != origin {
        return Err(format!(
            "base_url {} is not on the issuer's origin {origin}",
            api.base_url
        ));
    }
    for (member, var) in ENDPOINTS {
        let Some(value) = document.get(*member) else {
            continue;
        };
        let Value::String(text) = value else {
            return Err(format!("member `{member}` is not a string"));
        };
        let url = Url::parse(text)
            .map_err(|e| format!("member `{member}` {text:?} is not a URL: {e}"))?;
        let at = url.origin().ascii_serialization();
        if at != origin || !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "member `{member}` points at {at}, not the issuer's origin {origin}; nothing is sent there (requests, and the client's secret, go only to the issuer's origin)"
            ));
        }
        let mut path = url.path().to_string();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        api.vars.entry(var.to_string()).or_insert(path);
    }
    if !api.vars.contains_key("token_path") {
        return Err("member `token_endpoint` is missing and the target gives no token_path".into());
    }
    api.vars
        .entry("issuer".to_string())
        .or_insert_with(|| issuer.to_string());
    for (var, value) in metadata_flags(document) {
        api.vars.entry(var.to_string()).or_insert(value.to_string());
    }
    let metadata_path = Url::parse(metadata_url)
        .map(|u| u.path().to_string())
        .unwrap_or_default();
    api.vars
        .entry("metadata_path".to_string())
        .or_insert(metadata_path);
    api.capabilities.extend(said_capabilities(document));
    Ok(Support {
        metadata_url: metadata_url.to_string(),
        grant_types: strings(document, "grant_types_supported", DEFAULT_GRANT_TYPES)?,
        token_auth_methods: strings(
            document,
            "token_endpoint_auth_methods_supported",
            DEFAULT_AUTH_METHODS,
        )?,
    })
}

/// Vars for cases that hold only where the metadata is evidence: RFC 9207 §3's flag (a server
/// that sets it MUST send iss), and a code_challenge_methods_supported without `plain` (RFC 7636
/// §4.4.1: an unsupported method MUST be refused). The list does not say PKCE is required
/// (RFC 8414 §2: the methods supported), so `pkce_required` stays the target's to declare.
fn metadata_flags(document: &Value) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    if document.get("authorization_response_iss_parameter_supported") == Some(&Value::Bool(true)) {
        out.push(("authorization_response_iss_parameter_supported", "true"));
    }
    if let Some(Value::Array(methods)) = document.get("code_challenge_methods_supported") {
        if !methods.is_empty() && !methods.iter().any(|m| m.as_str() == Some("plain")) {
            out.push(("pkce_plain_unsupported", "true"));
        }
    }
    out
}

/// Capabilities the metadata declares: `dpop` (RFC 9449 §5.1, ES256 among its algs: the
/// harness's proofs), `par` and `par_required` (RFC 9126 §5).
fn said_capabilities(document: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let dpop_algs = document.get("dpop_signing_alg_values_supported");
    if dpop_algs
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v == "ES256"))
    {
        out.push("dpop".to_string());
    }
    if document
        .get("pushed_authorization_request_endpoint")
        .is_some_and(Value::is_string)
    {
        out.push("par".to_string());
        if document.get("require_pushed_authorization_requests") == Some(&Value::Bool(true)) {
            out.push("par_required".to_string());
        }
    }
    out
}

fn strings(document: &Value, member: &str, default: &[&str]) -> Result<Vec<String>, String> {
    match document.get(member) {
        None => Ok(default.iter().map(|s| s.to_string()).collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v.as_str() {
                // Grant types and method names are RFC 6749 names or URIs: visible ASCII. Anything
                // else (a newline, an escape) would reach the terminal, a CI log or `init`'s file.
                Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic()) => {
                    Ok(s.to_string())
                }
                Some(_) => Err(format!(
                    "member `{member}` holds a value that is not a grant type or method name \
                     (only visible ASCII characters, no spaces)"
                )),
                None => Err(format!("member `{member}` holds {v}, not a string")),
            })
            .collect(),
        Some(other) => Err(format!(
            "member `{member}` is {other}, not an array of strings"
        )),
    }
}

fn auth_method(auth: &Auth) -> Option<&'static str> {
    match auth {
        Auth::Basic { .. } => Some("client_secret_basic"),
        Auth::Post { .. } => Some("client_secret_post"),
        Auth::PrivateKeyJwt { .. } => Some("private_key_jwt"),
        _ => None,
    }
}

/// Whether every status a step accepts is a success: it needs what it sends to be supported.
fn expects_success(step: &Step) -> bool {
    !step.expect.status.is_empty()
        && step.expect.status.iter().all(|p| match p {
            StatusPattern::Code(c) => (200..300).contains(c),
            StatusPattern::Class(c) => *c == 2,
        })
}

/// Why a case cannot run against a server whose metadata says `support`: a step to the token
/// endpoint that needs a success while authenticating with a method it does not list, or for a
/// grant type it does not list. Probes (a step that expects an error) still run, whatever the
/// metadata lists: a server must not skip its own refusals by publishing empty lists.
pub fn unsupported(
    support: &Support,
    steps: &[Step],
    base: &crate::suite::template::Values,
) -> Option<String> {
    let captures = crate::suite::template::Values::default();
    let scope = Scope {
        captures: &captures,
        base,
    };
    let token_path = base.get("token_path")?;
    for step in steps {
        let UrlTemplate::Path(path) = &step.request.url else {
            continue;
        };
        if path.render(&scope).ok().as_ref() != Some(token_path) {
            continue;
        }
        // Only a step that needs a success needs what it sends to be supported: a probe that
        // expects a refusal (a wrong secret, an unknown client) runs whatever the metadata says.
        if !expects_success(step) {
            continue;
        }
        if let Some(method) = step.request.auth.as_ref().and_then(auth_method) {
            if !support.token_auth_methods.iter().any(|m| m == method) {
                return Some(format!(
                    "the server's metadata ({}) does not list {method} in token_endpoint_auth_methods_supported",
                    support.metadata_url
                ));
            }
        }
        let Some(Body::Form(form)) = &step.request.body else {
            continue;
        };
        let grant = form
            .iter()
            .find(|(k, _)| k == "grant_type")
            .and_then(|(_, v)| v.render(&scope).ok());
        if let Some(grant) = grant {
            if !support.grant_types.contains(&grant) {
                return Some(format!(
                    "the server's metadata ({}) does not list {grant} in grant_types_supported",
                    support.metadata_url
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn api(base: &str) -> ApiTarget {
        ApiTarget {
            base_url: base.to_string(),
            issuer: Some(base.to_string()),
            ..Default::default()
        }
    }

    #[test]
    fn metadata_fills_the_iss_and_plain_vars_only_where_it_is_evidence() {
        let flags = |doc: serde_json::Value| metadata_flags(&doc);
        assert_eq!(
            flags(
                json!({"authorization_response_iss_parameter_supported": true, "code_challenge_methods_supported": ["S256"]})
            ),
            vec![
                ("authorization_response_iss_parameter_supported", "true"),
                ("pkce_plain_unsupported", "true")
            ]
        );
        assert!(flags(json!({"authorization_response_iss_parameter_supported": false})).is_empty());
        assert!(
            flags(json!({"authorization_response_iss_parameter_supported": "true"})).is_empty()
        );
        assert!(flags(json!({"code_challenge_methods_supported": ["plain", "S256"]})).is_empty());
        // No list says nothing about plain; an empty one is no PKCE support to judge.
        assert!(flags(json!({})).is_empty());
        assert!(flags(json!({"code_challenge_methods_supported": []})).is_empty());
    }

    #[test]
    fn a_listed_name_with_a_newline_or_an_escape_is_refused() {
        for bad in [
            "client_credentials\n::add-mask::x",
            "x\u{1b}]52;c;aGk=\u{7}",
            "a b",
            "",
        ] {
            let doc = json!({ "grant_types_supported": [bad] });
            let e = strings(&doc, "grant_types_supported", &[]).unwrap_err();
            assert!(e.contains("grant_types_supported"), "{e}");
            assert!(
                !e.contains(bad) || bad.is_empty(),
                "the value is quoted back: {e}"
            );
        }
        let doc =
            json!({ "grant_types_supported": ["urn:ietf:params:oauth:grant-type:jwt-bearer"] });
        assert_eq!(
            strings(&doc, "grant_types_supported", &[]).unwrap().len(),
            1
        );
    }

    #[test]
    fn cases_needing_an_unlisted_grant_or_auth_method_are_skipped_and_probes_still_run() {
        let text = r#"
api: oauth2
vars: { token_path: /t, client_id: c }
secrets: [client_secret]
cases:
  - name: basic client credentials
    request: { path: "{{ token_path }}", auth: { basic: { user: c, password: "{{ client_secret }}" } }, form: { grant_type: client_credentials } }
    expect: { status: 200 }
  - name: post client credentials
    request: { path: "{{ token_path }}", auth: { client_secret_post: { client_id: c, client_secret: "{{ client_secret }}" } }, form: { grant_type: client_credentials } }
    expect: { status: 200 }
  - name: a refused password grant
    request: { path: "{{ token_path }}", auth: { client_secret_post: { client_id: c, client_secret: "{{ client_secret }}" } }, form: { grant_type: password } }
    expect: { status: [400, 401] }
  - name: elsewhere
    request: { path: /other, auth: { basic: { user: c, password: x } }, form: { grant_type: client_credentials } }
    expect: { status: 200 }
  - name: a wrong secret is refused
    request: { path: "{{ token_path }}", auth: { basic: { user: c, password: wrong } }, form: { grant_type: client_credentials } }
    expect: { status: 401 }
"#;
        let mut schemas = crate::suite::schema::SchemaRegistry::default();
        let names: Vec<&str> = crate::rules::sets().iter().map(|s| s.name).collect();
        let suite = crate::suite::load_text(
            text,
            std::path::Path::new("t.yaml"),
            "t".into(),
            std::path::Path::new("specs"),
            &names,
            &mut schemas,
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        let base: crate::suite::template::Values = [("token_path", "/t"), ("client_secret", "s")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let support = Support {
            metadata_url: "https://as.example/.well-known/oauth-authorization-server".into(),
            grant_types: vec!["authorization_code".into()],
            token_auth_methods: vec!["client_secret_post".into()],
        };
        let why = |i: usize| unsupported(&support, &suite.cases[i].steps, &base);
        let basic = why(0).unwrap();
        assert!(
            basic.contains("client_secret_basic")
                && basic.contains("token_endpoint_auth_methods_supported"),
            "{basic}"
        );
        let grant = why(1).unwrap();
        assert!(
            grant.contains("client_credentials") && grant.contains("grant_types_supported"),
            "{grant}"
        );
        // A probe that expects a refusal runs, and another endpoint is not the token endpoint's.
        assert_eq!(why(2), None);
        assert_eq!(why(3), None);
        // A probe with an unlisted auth method runs: the server must refuse it all the same.
        assert_eq!(why(4), None);
        // Empty lists (the F8 reproduction) skip every success and no probe.
        let empty = Support {
            grant_types: vec![],
            token_auth_methods: vec![],
            ..support.clone()
        };
        let why = |i: usize| unsupported(&empty, &suite.cases[i].steps, &base);
        assert!(why(0).is_some() && why(1).is_some());
        assert_eq!((why(2), why(4)), (None, None));
    }

    #[test]
    fn well_known_urls_insert_the_path_for_rfc_8414_and_append_it_for_openid() {
        assert_eq!(
            metadata_urls("https://as.example").unwrap(),
            [
                "https://as.example/.well-known/oauth-authorization-server",
                "https://as.example/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            metadata_urls("https://as.example/tenant/1/").unwrap(),
            [
                "https://as.example/.well-known/oauth-authorization-server/tenant/1",
                "https://as.example/tenant/1/.well-known/openid-configuration"
            ]
        );
        assert!(metadata_urls("https://as.example/?x=1").is_err());
        assert!(metadata_urls("ftp://as.example").is_err());
        assert!(metadata_urls("not a url").is_err());
    }

    #[test]
    fn endpoints_fill_the_paths_the_target_does_not_give() {
        let mut a = api("https://as.example");
        a.vars.insert("revocation_path".into(), "/mine".into());
        let doc = json!({
            "issuer": "https://as.example",
            "token_endpoint": "https://as.example/o/token/",
            "revocation_endpoint": "https://as.example/o/revoke/",
            "introspection_endpoint": "https://as.example/o/introspect/?v=2",
            "grant_types_supported": ["client_credentials", "refresh_token"],
        });
        let url = "https://as.example/.well-known/oauth-authorization-server";
        let support = apply(&mut a, "https://as.example", url, &doc).unwrap();
        assert_eq!(a.vars["token_path"], "/o/token/");
        assert_eq!(a.vars["revocation_path"], "/mine");
        assert_eq!(a.vars["introspection_path"], "/o/introspect/?v=2");
        assert_eq!(
            a.vars["metadata_path"],
            "/.well-known/oauth-authorization-server"
        );
        assert_eq!(support.grant_types, ["client_credentials", "refresh_token"]);
        // RFC 8414 §2's default when the member is left out.
        assert_eq!(support.token_auth_methods, ["client_secret_basic"]);
        assert!(a.capabilities.is_empty());
    }

    #[test]
    fn dpop_and_par_capabilities_come_from_the_metadata() {
        let url = "https://as.example/.well-known/oauth-authorization-server";
        let mut a = api("https://as.example");
        let doc = json!({
            "issuer": "https://as.example",
            "token_endpoint": "https://as.example/token",
            "pushed_authorization_request_endpoint": "https://as.example/par",
            "require_pushed_authorization_requests": true,
            "dpop_signing_alg_values_supported": ["PS256", "ES256"],
        });
        apply(&mut a, "https://as.example", url, &doc).unwrap();
        assert_eq!(a.vars["par_path"], "/par");
        let caps: Vec<&str> = a.capabilities.iter().map(String::as_str).collect();
        assert_eq!(caps, ["dpop", "par", "par_required"]);
        // Algs the harness cannot sign with, and PAR not required: neither is declared.
        let mut b = api("https://as.example");
        let doc = json!({
            "issuer": "https://as.example",
            "token_endpoint": "https://as.example/token",
            "pushed_authorization_request_endpoint": "https://as.example/par",
            "dpop_signing_alg_values_supported": ["EdDSA"],
        });
        apply(&mut b, "https://as.example", url, &doc).unwrap();
        let caps: Vec<&str> = b.capabilities.iter().map(String::as_str).collect();
        assert_eq!(caps, ["par"]);
    }

    #[test]
    fn another_issuer_or_an_endpoint_on_another_origin_is_an_error_naming_the_member() {
        let url = "https://as.example/.well-known/oauth-authorization-server";
        let with = |doc: Value| {
            apply(
                &mut api("https://as.example"),
                "https://as.example",
                url,
                &doc,
            )
        };
        let e = with(
            json!({"issuer": "https://evil.example", "token_endpoint": "https://as.example/t"}),
        )
        .unwrap_err();
        assert!(e.contains("`issuer`") && e.contains("3.3"), "{e}");
        let e = with(
            json!({"issuer": "https://as.example", "token_endpoint": "https://evil.example/t"}),
        )
        .unwrap_err();
        assert!(
            e.contains("`token_endpoint`") && e.contains("evil.example"),
            "{e}"
        );
        let e = with(
            json!({"issuer": "https://as.example", "token_endpoint": "https://as.example:8443/t"}),
        )
        .unwrap_err();
        assert!(e.contains("`token_endpoint`"), "{e}");
        let e = with(
            json!({"issuer": "https://as.example", "token_endpoint": "https://u:p@as.example/t"}),
        )
        .unwrap_err();
        assert!(e.contains("`token_endpoint`"), "{e}");
        let e = with(json!({"issuer": "https://as.example", "token_endpoint": 7})).unwrap_err();
        assert!(e.contains("`token_endpoint`"), "{e}");
        let e = with(json!({"issuer": "https://as.example", "token_endpoint": "https://as.example/t", "grant_types_supported": "client_credentials"})).unwrap_err();
        assert!(e.contains("`grant_types_supported`"), "{e}");
        let e = with(json!({"issuer": "https://as.example"})).unwrap_err();
        assert!(e.contains("`token_endpoint`"), "{e}");
        assert!(with(json!({"token_endpoint": "https://as.example/t"}))
            .unwrap_err()
            .contains("`issuer`"));
    }
}
