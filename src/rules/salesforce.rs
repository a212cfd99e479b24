//! Salesforce OAuth 2.0: the members Salesforce adds to a token response (signature, issued_at, id,
//! instance_url) and its error codes. Its documented deviations from the RFCs, which its sets
//! report as known deviations instead of failures, are data: specs/salesforce/known-deviations.yaml.

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use regex::Regex;
use serde_json::Value;
use sha2::Sha256;

use super::jwt;
use super::oauth2 as o;
use super::read::{body_member, describe, error_code, is_error, success};
use super::{oauth2_endpoints as e, oauth2_probes};
use super::{Rule, RuleSet, Violation};
use crate::finding::Level;
use crate::http::Received;

const SF_TOKEN: &str =
    "https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_client_credentials_flow.htm";
const SF_ERRORS: &str =
    "https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_flow_errors.htm";
const SF_JWT_ACCESS_TOKENS: &str =
    "https://help.salesforce.com/apex/HTViewHelpDoc?id=xcloud.connected_app_enable_jwt.htm";
const SF_INTROSPECT: &str =
    "https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oidc_token_introspection_endpoint.htm";

const RFC6749_4_1_2_1: &str = "https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1";

/// How far issued_at may be from the response's Date (or our clock).
const ISSUED_AT_SKEW_MS: i64 = 300_000;

pub static TOKEN_RESPONSE: RuleSet = RuleSet {
    includes: &[&o::TOKEN_RESPONSE],
    name: "salesforce.token-response",
    summary:
        "a Salesforce token response: RFC 6749 §5.1 plus signature, issued_at, id and instance_url",
    rules: &[&SIGNATURE, &ISSUED_AT, &ID_URL, &INSTANCE_URL],
};

pub static REFRESH_RESPONSE: RuleSet = RuleSet {
    includes: &[&TOKEN_RESPONSE],
    name: "salesforce.refresh-response",
    summary: "a Salesforce refresh with rotation configured: salesforce.token-response plus a new refresh token",
    rules: &[&oauth2_probes::RT_ROTATION],
};

pub static ERROR_RESPONSE: RuleSet = RuleSet {
    includes: &[&o::ERROR_RESPONSE],
    name: "salesforce.error-response",
    summary: "a Salesforce token error: RFC 6749 §5.2 with Salesforce's own codes and 400 for Basic failures",
    rules: &[&ERROR_CODE],
};

pub static REVOCATION_RESPONSE: RuleSet = RuleSet {
    includes: &[],
    name: "salesforce.revocation-response",
    summary: "a successful Salesforce revocation: 200; errors 400 with a Salesforce code",
    rules: &[&e::REVOKED_200, &e::REVOCATION_ERROR, &ERROR_CODE],
};

pub static REVOCATION_INVALID_TOKEN: RuleSet = RuleSet {
    includes: &[],
    name: "salesforce.revocation-invalid-token",
    summary:
        "probe: revoking an unknown token; Salesforce documents 400 invalid_token instead of 200",
    rules: &[&e::INVALID_TOKEN_200, &e::REVOCATION_ERROR, &ERROR_CODE],
};

pub static INTROSPECTION_RESPONSE: RuleSet = RuleSet {
    includes: &[],
    name: "salesforce.introspection-response",
    summary:
        "a Salesforce introspection answer: RFC 7662 §2.2 plus the members Salesforce documents",
    rules: &[
        &e::INTROSPECTION_ACTIVE,
        &e::INTROSPECTION_INACTIVE_ONLY,
        &e::INTROSPECTION_CLAIM_TYPES,
        &o::ERROR_CONTENT_TYPE,
        &INTROSPECTION_FIELDS,
    ],
};

pub static AUTHORIZE_REFUSED: RuleSet = RuleSet {
    includes: &[],
    name: "salesforce.authorize-refused",
    summary: "an authorize request with an unknown client or an unregistered redirect_uri: an error page, or a redirect that is not to that redirect_uri and carries no code",
    rules: &[&AUTHORIZE_NO_REDIRECT],
};

pub static JWT_ACCESS_TOKEN: RuleSet = RuleSet {
    includes: &[],
    name: "salesforce.jwt-access-token",
    summary: "an app set to issue JWT-based access tokens: access_token is a JWS that decodes, signed, with exp",
    rules: &[&JWT_ACCESS_TOKEN_FORMAT, &JWT_ACCESS_TOKEN_CLAIMS],
};

fn string_member<'a>(r: &'a Received, name: &str) -> Option<&'a str> {
    body_member(r, name).and_then(Value::as_str)
}

/// A member Salesforce always sends as a string: its value, or the violation to report.
fn required_string<'a>(
    r: &'a Received,
    name: &str,
    expected: &str,
) -> Result<&'a String, Violation> {
    match body_member(r, name) {
        None => Err(missing(name)),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(
            Violation::new(format!("{name} is {}; {expected}", describe(other)))
                .at(format!("$.{name}")),
        ),
    }
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Whether the flow's own answer, as Salesforce shows it, lacks `name` and this one does too: the
/// JWT bearer sample and Postman's SuccessfulJWTBearerTokenFlow have no signature or issued_at.
fn shown_without(x: &super::Exchange, name: &str) -> bool {
    x.sent.grant_type() == Some(JWT_BEARER) && body_member(x.received, name).is_none()
}

fn missing(name: &str) -> Violation {
    Violation::new(format!(
        "{name} is missing; Salesforce returns it in every token response but the JWT bearer flow's"
    ))
    .at(format!("$.{name}"))
}

/// The `redirect_uri` query parameter of the request as sent.
fn sent_redirect_uri(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
}

pub static AUTHORIZE_NO_REDIRECT: Rule = Rule {
    id: "RFC6749-4.1.2.1-no-redirect",
    level: Level::Must,
    source: RFC6749_4_1_2_1,
    title: "a refused authorize request does not redirect to the unverified redirect_uri",
    explain: "RFC 6749 §4.1.2.1: if the client_id is invalid or the redirection URI is missing, invalid or \
              mismatching, the server SHOULD inform the resource owner and MUST NOT automatically redirect \
              the user-agent to it. The vendors show an error page (Salesforce: an error page with \
              error= in its URL), so no JSON body is expected: any page, or a redirect that is not to the \
              request's redirect_uri and carries no code. How the page names the error is left open.",
    check: |x| {
        let r = x.received;
        if !(300..400).contains(&r.status) {
            return vec![];
        }
        let location = r.header("location").unwrap_or_default();
        let mut out = Vec::new();
        if let Some(uri) = sent_redirect_uri(&x.sent.url).filter(|u| !u.is_empty()) {
            if location.starts_with(&uri) {
                out.push(
                    Violation::new("the refusal redirects to the unverified redirect_uri")
                        .expected("an error page, or a redirect elsewhere")
                        .actual(crate::redact::shorten(location, 200)),
                );
            }
        }
        let query = location.split_once('?').map_or("", |(_, q)| q);
        let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        // An error page elsewhere need not carry error= (§4.1.2.1 only SHOULD inform the
        // resource owner), but a code there would be an authorization for a refused request.
        if params.iter().any(|(k, _)| k == "code") {
            out.push(Violation::new("the refusal's redirect carries a code").at("Location"));
        }
        out
    },
};

pub static SIGNATURE: Rule = Rule {
    id: "SF-signature",
    level: Level::Must,
    source: SF_TOKEN,
    title: "signature is base64(HMAC-SHA256(client_secret, id + issued_at))",
    explain: "Salesforce: signature is a \"Base64-encoded HMAC-SHA256 signature signed with the client_secret \
              containing the concatenated ID and issued_at value\"; clients verify it to know the identity \
              URL was not changed. Checked with the case's secret `client_secret`, compared in constant \
              time; without the secret the rule is skipped.",
    check: |x| {
        let r = x.received;
        if !success(r) || shown_without(x, "signature") {
            return vec![];
        }
        let Some(secret) = x.values.get("client_secret").filter(|s| !s.is_empty()) else {
            return vec![];
        };
        let (Some(id), Some(issued_at)) = (string_member(r, "id"), string_member(r, "issued_at")) else {
            // SF-id-url and SF-issued_at report the missing inputs.
            return vec![];
        };
        let Some(sig) = string_member(r, "signature") else {
            return vec![missing("signature")];
        };
        let Ok(sig_bytes) = STANDARD.decode(sig) else {
            return vec![Violation::new("signature is not base64")
                .expected("base64 of a 32-byte HMAC-SHA256")
                .at("$.signature")];
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            return vec![];
        };
        mac.update(id.as_bytes());
        mac.update(issued_at.as_bytes());
        if mac.verify_slice(&sig_bytes).is_ok() {
            return vec![];
        }
        vec![Violation::new(
            "signature does not verify: it is not HMAC-SHA256 of id + issued_at keyed by the client secret",
        )
        .expected("base64(HMAC-SHA256(client_secret, id + issued_at))")
        .actual(format!("a {}-byte value that does not match", sig_bytes.len()))
        .at("$.signature")]
    },
};

/// Seconds since the epoch of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7).
pub(super) fn parse_http_date(s: &str) -> Option<i64> {
    let mut it = s.split_whitespace();
    let (_day, d, mon, y, hms, gmt) = (
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
    );
    if gmt != "GMT" || it.next().is_some() {
        return None;
    }
    let d: i64 = d.parse().ok()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| *x == mon)? as i64 + 1;
    let y: i64 = y.parse().ok()?;
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    if !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 || t.next().is_some() {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

pub static ISSUED_AT: Rule = Rule {
    id: "SF-issued_at",
    level: Level::Must,
    source: SF_TOKEN,
    title: "issued_at is 13 digits (milliseconds) near the response's Date",
    explain: "Salesforce: issued_at is when the signature was created, in milliseconds since the epoch, \
              as a string (older docs said seconds; observed values have 13 digits). It must be within \
              300 seconds of the response's Date header (or the local clock without one): a value in \
              seconds, or far off, breaks clients that check token age.",
    check: |x| {
        let r = x.received;
        if !success(r) || shown_without(x, "issued_at") {
            return vec![];
        }
        let issued_at = match required_string(r, "issued_at", "Salesforce sends a string of 13 digits") {
            Ok(v) => v,
            Err(v) => return vec![v],
        };
        if issued_at.len() != 13 || !issued_at.bytes().all(|b| b.is_ascii_digit()) {
            let hint = if issued_at.len() == 10 { " (seconds, not milliseconds)" } else { "" };
            return vec![Violation::new(format!(
                "issued_at {issued_at:?} is not 13 digits{hint}; Salesforce sends milliseconds since the epoch"
            ))
            .expected("13 digits, e.g. 1700000000000")
            .actual(issued_at.clone())
            .at("$.issued_at")];
        }
        let Ok(ms) = issued_at.parse::<i64>() else {
            return vec![];
        };
        let (now_ms, against) = match r.header("date").and_then(parse_http_date) {
            Some(secs) => (secs * 1000, "the Date header"),
            None => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
                (now, "the local clock")
            }
        };
        let off = ms - now_ms;
        if off.abs() <= ISSUED_AT_SKEW_MS {
            return vec![];
        }
        vec![Violation::new(format!(
            "issued_at is {} seconds {} {against}; expected within 300 seconds",
            off.abs() / 1000,
            if off > 0 { "after" } else { "before" }
        ))
        .expected(format!("within ±300 s of {now_ms}"))
        .actual(issued_at.clone())
        .at("$.issued_at")]
    },
};

/// Plain http is only acceptable to a server on this machine (the embedded mock, a local proxy).
fn loopback(host: &str) -> bool {
    // Strip a port, but not the last group of a bare IPv6 address.
    let host = match host.rsplit_once(':') {
        Some((h, p))
            if !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (h.ends_with(']') || !h.contains(':')) =>
        {
            h
        }
        _ => host,
    };
    host.eq_ignore_ascii_case("localhost") || host.starts_with("127.") || host == "[::1]"
}

static ID_PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(https?)://([^/]+)/id/00D\w{12,15}/005\w{12,15}$").expect("valid regex")
});

pub static ID_URL: Rule = Rule {
    id: "SF-id-url",
    level: Level::Must,
    source: SF_TOKEN,
    title: "id is https://host/id/<org id 00D…>/<user id 005…>",
    explain: "Salesforce: id is the identity URL, https://{host}/id/{orgId}/{userId}, an org id starting 00D and \
              a user id starting 005 (15 or 18 characters). Clients call it for the user's identity and \
              verify the signature over it. http is accepted only on loopback.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        let id = match required_string(r, "id", "expected the identity URL") {
            Ok(v) => v,
            Err(v) => return vec![v],
        };
        let ok = ID_PATTERN
            .captures(id)
            .is_some_and(|c| &c[1] == "https" || loopback(&c[2]));
        if ok {
            return vec![];
        }
        vec![Violation::new(format!("id {id:?} is not a Salesforce identity URL"))
            .expected("https://{host}/id/00D…/005…")
            .actual(id.clone())
            .at("$.id")]
    },
};

pub static INSTANCE_URL: Rule = Rule {
    id: "SF-instance_url",
    level: Level::Must,
    source: SF_TOKEN,
    title: "instance_url is an https URL",
    explain: "Salesforce: instance_url is the URL of the org that the client sends its API calls to, with \
              the access token. Over plain http that token would travel in clear text, so it must be https \
              (http is accepted only on loopback).",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        let u = match required_string(r, "instance_url", "expected a URL") {
            Ok(v) => v,
            Err(v) => return vec![v],
        };
        let ok = match reqwest::Url::parse(u) {
            Ok(url) => {
                let host = url.host_str().unwrap_or("");
                url.scheme() == "https" || (url.scheme() == "http" && loopback(host))
            }
            Err(_) => false,
        };
        if ok {
            return vec![];
        }
        vec![Violation::new(format!("instance_url {u:?} is not an https URL"))
            .expected("https://{instance}.my.salesforce.com")
            .actual(u.clone())
            .at("$.instance_url")]
    },
};

const SF_ERROR_CODES: &[&str] = &[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_client_id",
    "inactive_user",
    "inactive_org",
    "rate_limit_exceeded",
    "invalid_token",
    "unsupported_token_type",
];

pub static ERROR_CODE: Rule = Rule {
    id: "SF-error-code",
    level: Level::Must,
    source: SF_ERRORS,
    title: "error is an RFC 6749 code or one Salesforce documents",
    explain: "Salesforce answers OAuth errors with the RFC 6749 codes plus its own: invalid_client_id, \
              inactive_user, inactive_org, rate_limit_exceeded, and for revocation invalid_token and \
              unsupported_token_type. Anything else is a code Salesforce clients do not handle.",
    check: |x| {
        let r = x.received;
        if !is_error(r) {
            return vec![];
        }
        match (body_member(r, "error"), error_code(r)) {
            (_, Some(c)) if SF_ERROR_CODES.contains(&c) => vec![],
            (_, Some(c)) => vec![Violation::new(format!("error {c:?} is not a code Salesforce documents"))
                .expected("an RFC 6749 code, invalid_client_id, inactive_user, inactive_org, rate_limit_exceeded, invalid_token or unsupported_token_type")
                .actual(c.to_string())
                .at("$.error")],
            (Some(other), None) => vec![Violation::new(format!("error is {}; expected a string code", describe(other))).at("$.error")],
            (None, None) => vec![Violation::new("the error response has no error code")
                .expected("{\"error\": ..., \"error_description\": ...}")
                .actual(crate::redact::preview_body(&r.body))
                .at("$.error")],
        }
    },
};

pub static INTROSPECTION_FIELDS: Rule = Rule {
    id: "SF-introspection-fields",
    level: Level::Must,
    source: SF_INTROSPECT,
    title: "an active introspection answer has scope, client_id, username, sub, token_type, exp, iat, nbf",
    explain: "Salesforce documents the introspection answer for an active token as active, scope, client_id, \
              username, sub, token_type, exp, iat and nbf. Resource servers read the user and expiry from them.",
    check: |x| {
        let r = x.received;
        if !success(r) || body_member(r, "active") != Some(&Value::Bool(true)) {
            return vec![];
        }
        let names = ["scope", "client_id", "username", "sub", "token_type", "exp", "iat", "nbf"];
        let absent: Vec<&str> = names.into_iter().filter(|n| body_member(r, n).is_none()).collect();
        if absent.is_empty() {
            return vec![];
        }
        vec![Violation::new(format!(
            "the active introspection answer lacks {}",
            absent.join(", ")
        ))
        .expected(names.join(", "))]
    },
};

/// The access token of a success response, decoded; `None` when absent or not a JWT.
fn jwt_access_token(r: &Received) -> Option<jwt::Jws> {
    string_member(r, "access_token").and_then(|t| jwt::decode(t).ok())
}

pub static JWT_ACCESS_TOKEN_FORMAT: Rule = Rule {
    id: "SF-jwt-access-token",
    level: Level::Must,
    source: SF_JWT_ACCESS_TOKENS,
    title: "a JWT-based access token is a compact JWS whose header and payload decode",
    explain: "Salesforce: a connected app or external client app can \"issue JSON Web Token (JWT)-based access \
              tokens instead of opaque tokens. Unlike opaque tokens, JWT-based access tokens have a \
              transparent format, so you can introspect them without calling a Salesforce endpoint.\" \
              For an app with that setting (capability jwt_access_tokens), access_token must be \
              header.payload.signature with a base64url JSON header and payload; an opaque string \
              means the setting is not in force. Salesforce documents no claim: see \
              SF-jwt-access-token-claims.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        let Some(token) = string_member(r, "access_token") else {
            // RFC6749-5.1-access_token reports it.
            return vec![];
        };
        match jwt::decode(token) {
            Ok(_) => vec![],
            Err(why) => vec![Violation::new(format!(
                "access_token {} is not a JWT-based token: {why}",
                super::read::token_summary(token)
            ))
            .expected("header.payload.signature (base64url JSON)")
            .at("$.access_token")],
        }
    },
};

// A SHOULD: Salesforce documents no header or claim of its JWT-based access tokens; a token a
// resource server can introspect "without calling a Salesforce endpoint" needs a signature and an
// expiry (RFC 7519 §4.1.4) to be of use, which is our reading, not the vendor's text.
pub static JWT_ACCESS_TOKEN_CLAIMS: Rule = Rule {
    id: "SF-jwt-access-token-claims",
    level: Level::Should,
    source: SF_JWT_ACCESS_TOKENS,
    title: "a JWT-based access token is signed (alg not none) and has a numeric exp",
    explain: "Salesforce: JWT-based access tokens can be introspected locally. To trust one without calling \
              Salesforce, a resource server needs a signature (a header alg other than none) and an expiry \
              (exp, a NumericDate: RFC 7519 §4.1.4). A SHOULD: Salesforce's pages name neither the header \
              nor the claims, so this is our reading. Skipped when access_token is not a JWT \
              (SF-jwt-access-token reports that).",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        let Some(jws) = jwt_access_token(r) else {
            return vec![];
        };
        let mut out = Vec::new();
        match jws.header.get("alg").and_then(Value::as_str) {
            Some(alg) if !alg.eq_ignore_ascii_case("none") => {}
            other => out.push(
                Violation::new("the JWT-based access token is not signed")
                    .expected("a header alg such as RS256")
                    .actual(other.unwrap_or("(no alg)").to_string())
                    .at("$.access_token"),
            ),
        }
        if !jws.claim("exp").is_some_and(Value::is_number) {
            out.push(
                Violation::new("the JWT-based access token has no numeric exp")
                    .expected("exp, a NumericDate")
                    .at("$.access_token"),
            );
        }
        out
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testutil::*;
    use serde_json::json;

    const SECRET: &str = "test-secret";
    const ID: &str = "https://login.example.test/id/00DTCONF0000001AAA/005TCONF0000001AAA";

    #[test]
    fn a_refused_authorize_request_does_not_redirect_to_its_redirect_uri_or_carry_a_code() {
        let s = crate::http::Sent {
            method: "GET".into(),
            url: "https://as.test/authorize?client_id=nobody&redirect_uri=https%3A%2F%2Fapp.test%2Fcb".into(),
            ..Default::default()
        };
        let answer =
            |status: u16, location: &str| received(status, &[("location", location)], json!({}));
        let fired = |r: &crate::http::Received| run(&AUTHORIZE_NO_REDIRECT, &s, r).len();
        assert_eq!(
            fired(&answer(302, "https://app.test/cb?error=invalid_client")),
            1
        );
        assert_eq!(fired(&answer(302, "https://as.test/error?code=abc")), 1);
        // An error page elsewhere, with or without error=, and a page with no redirect, pass.
        assert_eq!(
            fired(&answer(
                302,
                "https://as.test/setup/secur/RemoteAccessErrorPage.apexp"
            )),
            0
        );
        assert_eq!(
            fired(&answer(
                302,
                "https://as.test/error?error=redirect_uri_mismatch"
            )),
            0
        );
        assert_eq!(
            fired(&received(400, &[("content-type", "text/html")], json!({}))),
            0
        );
    }

    fn sign(id: &str, issued_at: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("{id}{issued_at}").as_bytes());
        STANDARD.encode(mac.finalize().into_bytes())
    }

    fn now_ms() -> String {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis()
            .to_string()
    }

    fn token(id: &str, issued_at: &str, signature: &str) -> Received {
        received(
            200,
            &[
                ("content-type", "application/json"),
                ("cache-control", "no-store"),
            ],
            json!({
                "access_token": "00DTCONF!abcdefghijklmnopqrstuvwxyz", "token_type": "Bearer",
                "instance_url": "https://acme.my.salesforce.com", "id": id,
                "issued_at": issued_at, "signature": signature,
            }),
        )
    }

    fn run_sig(r: &Received) -> usize {
        run_with(
            &SIGNATURE,
            &sent(&[("grant_type", "client_credentials")], true),
            r,
            &[("client_secret", SECRET)],
        )
        .len()
    }

    #[test]
    fn signature() {
        let at = now_ms();
        assert_eq!(run_sig(&token(ID, &at, &sign(ID, &at))), 0);
        assert_eq!(run_sig(&token(ID, &at, &sign(ID, "1"))), 1);
        assert_eq!(run_sig(&token(ID, &at, "%%%")), 1);
        // Without the secret: skipped.
        passes(&SIGNATURE, &sent(&[], true), &token(ID, &at, "AAAA"));
    }

    #[test]
    fn issued_at() {
        let s = sent(&[], true);
        passes(&ISSUED_AT, &s, &token(ID, &now_ms(), "x"));
        let secs = (SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs())
        .to_string();
        fails(&ISSUED_AT, &s, &token(ID, &secs, "x"));
        fails(&ISSUED_AT, &s, &token(ID, "1000000000000", "x"));
        let mut dated = token(ID, "784111777000", "x");
        dated
            .headers
            .push(("date".into(), "Sun, 06 Nov 1994 08:49:37 GMT".into()));
        fails(&ISSUED_AT, &s, &dated);
        let mut dated = token(ID, "0784111777000", "x");
        dated
            .headers
            .push(("date".into(), "Sun, 06 Nov 1994 08:49:37 GMT".into()));
        passes(&ISSUED_AT, &s, &dated);
    }

    #[test]
    fn the_jwt_bearer_answer_needs_no_signature_or_issued_at() {
        // Salesforce's JWT-flow sample: access_token, scope, instance_url, id, token_type only.
        let mut r = token(ID, "1", "x");
        if let Some(Value::Object(m)) = r.json.as_mut() {
            m.remove("issued_at");
            m.remove("signature");
        }
        r.body = serde_json::to_vec(r.json.as_ref().unwrap()).unwrap();
        let jwt = sent(&[("grant_type", JWT_BEARER)], false);
        passes(&ISSUED_AT, &jwt, &r);
        passes(&SIGNATURE, &jwt, &r);
        // Every other flow's answer has them.
        let cc = sent(&[("grant_type", "client_credentials")], true);
        fails(&ISSUED_AT, &cc, &r);
        // Sent anyway on JWT bearer, they are held as usual.
        fails(&ISSUED_AT, &jwt, &token(ID, "1000000000000", "x"));
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2028 12:00:00 GMT"),
            Some(1_835_438_400)
        );
        for bad in [
            "",
            "Sun, 06 Nov 1994",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 99 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn id_and_instance_url() {
        let s = sent(&[], true);
        passes(&ID_URL, &s, &token(ID, "1", "x"));
        passes(
            &ID_URL,
            &s,
            &token(
                "http://127.0.0.1:8080/id/00DTCONF0000001AAA/005TCONF0000001AAA",
                "1",
                "x",
            ),
        );
        fails(
            &ID_URL,
            &s,
            &token(
                "http://login.example.test/id/00DTCONF0000001AAA/005TCONF0000001AAA",
                "1",
                "x",
            ),
        );
        fails(
            &ID_URL,
            &s,
            &token(
                "https://login.example.test/id/005TCONF0000001AAA/00DTCONF0000001AAA",
                "1",
                "x",
            ),
        );
        fails(&ID_URL, &s, &json(200, json!({"access_token": "a"})));
        passes(&INSTANCE_URL, &s, &token(ID, "1", "x"));
        fails(
            &INSTANCE_URL,
            &s,
            &json(
                200,
                json!({"instance_url": "http://acme.my.salesforce.com"}),
            ),
        );
        passes(
            &INSTANCE_URL,
            &s,
            &json(200, json!({"instance_url": "http://localhost:9/"})),
        );
        fails(
            &INSTANCE_URL,
            &s,
            &json(200, json!({"instance_url": "not a url"})),
        );
    }

    #[test]
    fn error_codes_and_deviations() {
        let s = sent(&[("grant_type", "client_credentials")], true);
        passes(
            &ERROR_CODE,
            &s,
            &json(400, json!({"error": "invalid_client_id"})),
        );
        fails(
            &ERROR_CODE,
            &s,
            &json(400, json!({"error": "server_exploded"})),
        );
        fails(&ERROR_CODE, &s, &json(400, json!({"message": "x"})));
        let known = crate::expected::KnownDeviations::built_in();
        assert!(ERROR_RESPONSE.deviates(o::ERROR_CODE.id, &known));
        assert!(REVOCATION_INVALID_TOKEN.deviates(e::INVALID_TOKEN_200.id, &known));
        assert!(REFRESH_RESPONSE.deviates(o::EXPIRES_IN_PRESENT.id, &known));
        assert!(!o::ERROR_RESPONSE.deviates(o::ERROR_CODE.id, &known));
    }

    #[test]
    fn introspection_fields() {
        let s = sent(&[("token", "t")], true);
        let full = json!({"active": true, "scope": "api", "client_id": "c", "username": "u", "sub": "s", "token_type": "access_token", "exp": 2, "iat": 1, "nbf": 1});
        passes(&INTROSPECTION_FIELDS, &s, &json(200, full));
        passes(
            &INTROSPECTION_FIELDS,
            &s,
            &json(200, json!({"active": false})),
        );
        fails(
            &INTROSPECTION_FIELDS,
            &s,
            &json(200, json!({"active": true, "scope": "api"})),
        );
    }

    #[test]
    fn loopback_hosts() {
        assert!(
            loopback("127.0.0.1:1234")
                && loopback("localhost")
                && loopback("[::1]:80")
                && loopback("[::1]")
        );
        assert!(!loopback("example.test") && !loopback("10.0.0.1:80"));
    }

    #[test]
    fn jwt_access_token() {
        use crate::rules::jwt::encode_for_test;
        let s = sent(&[("grant_type", "client_credentials")], true);
        let with = |at: &str| json(200, json!({"access_token": at, "token_type": "Bearer"}));
        let signed = encode_for_test(&json!({"alg": "RS256", "typ": "JWT"}), &json!({"exp": 9}));
        for rule in JWT_ACCESS_TOKEN.rules {
            passes(rule, &s, &with(&signed));
        }
        fails(&JWT_ACCESS_TOKEN_FORMAT, &s, &with("00DTCONF!opaque"));
        passes(&JWT_ACCESS_TOKEN_CLAIMS, &s, &with("00DTCONF!opaque"));
        let unsigned = encode_for_test(&json!({"alg": "none"}), &json!({"exp": 9}));
        passes(&JWT_ACCESS_TOKEN_FORMAT, &s, &with(&unsigned));
        fails(&JWT_ACCESS_TOKEN_CLAIMS, &s, &with(&unsigned));
        let no_exp = encode_for_test(&json!({"alg": "RS256"}), &json!({"exp": "9"}));
        fails(&JWT_ACCESS_TOKEN_CLAIMS, &s, &with(&no_exp));
        assert_eq!(JWT_ACCESS_TOKEN_CLAIMS.level, Level::Should);
        // Errors are not token responses.
        passes(
            &JWT_ACCESS_TOKEN_FORMAT,
            &s,
            &json(400, json!({"error": "invalid_grant"})),
        );
    }
}
