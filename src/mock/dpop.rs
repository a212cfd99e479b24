//! The generic server's DPoP (RFC 9449) and PAR (RFC 9126), a child of `oauth2`:
//! - DPoP at the token endpoints: every §4.3 check (typ, ES256 only, no private key in jwk, the
//!   signature, htm, htu, iat within 5 minutes), a server nonce that a proof must carry (§8: the
//!   first proof is answered `use_dpop_nonce`; every answer to a proof carries `DPoP-Nonce`,
//!   §8.2), and jti replay detection (§11.1). A bound token is
//!   `token_type: DPoP`, introspects with `cnf.jkt`, and a public client's refresh token works only
//!   with proofs of its key (§5). `/oauth2/token-dpop-only` refuses a request without a proof.
//! - PAR: `POST /oauth2/par` with client authentication answers 201 with a single-use
//!   `request_uri` that lives 2 s (short, so a case can wait it out; §4: an expired one is
//!   refused); a pushed `request_uri` is refused (§2.1);
//!   `/oauth2/authorize-par-only` takes pushed requests only.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::super::{bad_request, field, lock, new_token, now, redirect, token_json};
use super::{authenticate_or_public, parse_form, Form, Server};

pub const PAR_PATH: &str = "/oauth2/par";
pub const PAR_ONLY_AUTHORIZE_PATH: &str = "/oauth2/authorize-par-only";
pub const DPOP_ONLY_TOKEN_PATH: &str = "/oauth2/token-dpop-only";
/// Short, so the expiry case's wait stays within its default bound and adds little test time.
const PAR_TTL: u64 = 2;
/// How far a proof's iat may be from the server's clock (§4.3 item 11, §11.1).
const IAT_WINDOW: i64 = 300;

pub struct Dpop {
    nonce: String,
    seen_jti: Mutex<HashSet<String>>,
    pushed: Mutex<HashMap<String, Pushed>>,
}

struct Pushed {
    client_id: String,
    params: Form,
    /// An instant, not whole seconds: a 2 s lifetime is 2 s, wherever in a second it began.
    expires_at: Instant,
    /// Spent by its first use; kept, so a second use is told apart from an unknown URI.
    used: bool,
}

impl Default for Dpop {
    fn default() -> Self {
        Dpop {
            nonce: new_token("o2_nonce_"),
            seen_jti: Mutex::default(),
            pushed: Mutex::default(),
        }
    }
}

/// Why a proof was not taken: invalid (§4.3), or without the server's current nonce (§8).
pub(super) enum Refusal {
    Invalid(&'static str),
    Nonce,
}

/// The thumbprint of the key the request's proof was signed with; `None` without a proof. A
/// token endpoint's refusal: 400 with `invalid_dpop_proof`, or `use_dpop_nonce` and the nonce.
pub(super) fn check_proof(
    s: &Server,
    headers: &HeaderMap,
    path: &str,
) -> Result<Option<String>, Box<Response>> {
    proof_key(s, headers, "POST", path).map_err(|r| {
        Box::new(match r {
            Refusal::Invalid(why) => bad_request("invalid_dpop_proof", why),
            Refusal::Nonce => {
                let mut r = bad_request(
                    "use_dpop_nonce",
                    "the DPoP proof must carry the server's nonce",
                );
                if let Ok(v) = HeaderValue::from_str(&s.dpop.nonce) {
                    r.headers_mut().insert("dpop-nonce", v);
                }
                r
            }
        })
    })
}

/// The proof's key thumbprint after every §4.3 check for a `method` request to `path`, the
/// server's nonce (§8) and jti replay (§11.1); `None` without a proof.
pub(super) fn proof_key(
    s: &Server,
    headers: &HeaderMap,
    method: &str,
    path: &str,
) -> Result<Option<String>, Refusal> {
    let proofs: Vec<&HeaderValue> = headers.get_all("dpop").iter().collect();
    let proof = match proofs.as_slice() {
        [] => return Ok(None),
        [one] => one.to_str().unwrap_or_default(),
        _ => return Err(Refusal::Invalid("exactly one DPoP header is allowed")),
    };
    let Some(d) = crate::dpop::decode(proof) else {
        return Err(Refusal::Invalid("the DPoP proof is not a JWT"));
    };
    let jkt = d.header.get("jwk").and_then(crate::dpop::thumbprint);
    // Drift: anything that decodes is taken as a proof of its jwk.
    let checked = !s.config.drifting("oauth2-dpop-proof-unchecked");
    if checked {
        let claim = |n: &str| d.claims.get(n).cloned().unwrap_or(Value::Null);
        let htu = crate::dpop::htu(&format!("{}{path}", s.issuer));
        let iat = claim("iat").as_i64().unwrap_or(0);
        let why = if d.header["typ"] != "dpop+jwt" {
            Some("typ is not dpop+jwt")
        } else if d.header["alg"] != "ES256" {
            Some("alg is not an asymmetric algorithm this server accepts (ES256)")
        } else if d.header["jwk"].get("d").is_some() {
            Some("the jwk header holds a private key")
        } else if !crate::dpop::verifies(&d) {
            Some("the signature does not verify with the jwk header")
        } else if claim("htm") != method {
            Some("htm does not match the request's method")
        } else if claim("htu").as_str() != Some(htu.as_str()) {
            Some("htu does not match the request's URI")
        } else if iat.saturating_sub(now() as i64).unsigned_abs() > IAT_WINDOW as u64 {
            Some("iat is outside the accepted window")
        } else if jkt.is_none() || claim("jti").as_str().is_none_or(str::is_empty) {
            Some("jti or a usable jwk is missing")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(Refusal::Invalid(why));
        }
    }
    // Drift: a proof without a nonce is taken (§11.3: MUST NOT); a wrong one still is not.
    let nonce = d.claims.get("nonce").and_then(Value::as_str);
    let optional = nonce.is_none() && s.config.drifting("oauth2-dpop-nonce-optional");
    if nonce != Some(s.dpop.nonce.as_str()) && !optional {
        return Err(Refusal::Nonce);
    }
    let jti = d
        .claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // Drift: a proof may be replayed (§11.1).
    if checked && !s.config.drifting("oauth2-dpop-jti-replay") {
        let mut seen = lock(&s.dpop.seen_jti);
        if !seen.insert(jti.to_string()) {
            return Err(Refusal::Invalid("the proof's jti was already used"));
        }
    }
    Ok(jkt)
}

/// The proof's `ath` (§4.2), if it carries one.
pub(super) fn proof_ath(headers: &HeaderMap) -> Option<String> {
    let proof = headers.get("dpop")?.to_str().ok()?;
    let d = crate::dpop::decode(proof)?;
    d.claims.get("ath")?.as_str().map(str::to_string)
}

/// The nonce a resource's `use_dpop_nonce` challenge hands out (§9).
pub(super) fn nonce(s: &Server) -> &str {
    &s.dpop.nonce
}

/// RFC 9126 §2.1-2.2.
pub(super) async fn par(State(s): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = match parse_form(&headers, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let client = match authenticate_or_public(&s, &headers, &form) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    // Drift: a pushed request_uri is taken (§2.1: it MUST NOT be provided).
    if field(&form, "request_uri").is_some()
        && !s.config.drifting("oauth2-par-request-uri-accepted")
    {
        return bad_request(
            "invalid_request",
            "request_uri must not be pushed (RFC 9126 section 2.1)",
        );
    }
    if field(&form, "response_type").is_none() {
        return bad_request("invalid_request", "response_type is required");
    }
    // Checked here as authorize would (§2.1), so an error may later be redirected there.
    if field(&form, "redirect_uri").is_some_and(|r| !client.redirect_uris.iter().any(|u| u == r)) {
        return bad_request(
            "invalid_request",
            "redirect_uri is not registered for the client",
        );
    }
    let request_uri = format!("urn:ietf:params:oauth:request_uri:{}", new_token("o2_par_"));
    // What authorize will read: the pushed parameters, without the client's credentials.
    let params: Form = form
        .into_iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "client_secret" | "client_assertion" | "client_assertion_type"
            )
        })
        .collect();
    lock(&s.dpop.pushed).insert(
        request_uri.clone(),
        Pushed {
            client_id: client.id.clone(),
            params,
            expires_at: Instant::now() + Duration::from_secs(PAR_TTL),
            used: false,
        },
    );
    // Drift: 200 instead of 201 Created (§2.2).
    let status = if s.config.drifting("oauth2-par-status-200") {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    token_json(
        status,
        json!({ "request_uri": request_uri, "expires_in": PAR_TTL }),
    )
}

/// The authorization request to serve: the pushed one a `request_uri` names (spent by its use,
/// §4), or `params` as sent; a request not pushed to the PAR-only endpoint is refused.
pub(super) fn authorization_request(
    s: &Server,
    path: &str,
    params: Form,
) -> Result<Form, Box<Response>> {
    let Some(uri) = field(&params, "request_uri") else {
        // Drift: the PAR-only endpoint takes a request that was not pushed.
        if path == PAR_ONLY_AUTHORIZE_PATH && !s.config.drifting("oauth2-par-not-required") {
            return Err(Box::new(bad_request(
                "invalid_request",
                "this authorization endpoint takes pushed requests only (request_uri)",
            )));
        }
        return Ok(params);
    };
    let mut pushed = lock(&s.dpop.pushed);
    let invalid = || {
        Box::new(bad_request(
            "invalid_request_uri",
            "the request_uri is unknown or expired",
        ))
    };
    let Some(entry) = pushed.get_mut(uri) else {
        return Err(invalid());
    };
    // Drift: an expired request_uri is still taken (§4: it MUST be rejected).
    let expired =
        Instant::now() > entry.expires_at && !s.config.drifting("oauth2-par-expired-accepted");
    if expired || field(&params, "client_id") != Some(entry.client_id.as_str()) {
        return Err(invalid());
    }
    // Drift: a request_uri may be used again (§4: SHOULD be one-time use).
    if entry.used && !s.config.drifting("oauth2-par-reusable") {
        // The pushed redirect_uri was checked at the push: the error may go there (§4.1.2.1).
        let to = field(&entry.params, "redirect_uri").unwrap_or_default();
        let state = field(&entry.params, "state");
        let answer = redirect(
            to,
            &[
                ("error", "invalid_request_uri"),
                ("error_description", "the request_uri was already used"),
            ],
            state,
        );
        return Err(Box::new(answer));
    }
    entry.used = true;
    Ok(entry.params.clone())
}
