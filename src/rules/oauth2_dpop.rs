//! DPoP (RFC 9449): what a server that binds tokens to the client's key answers. The key is read
//! from the proof the request carried (its `jwk` header), so no rule needs the harness's state.

use serde_json::Value;

use super::read::{body_member, error_code, success};
use super::{Rule, RuleSet, Violation};
use crate::finding::Level;
use crate::http::{Received, Sent};

const RFC9449_4_3: &str = "https://www.rfc-editor.org/rfc/rfc9449#section-4.3";
const RFC9449_5: &str = "https://www.rfc-editor.org/rfc/rfc9449#section-5";
const RFC9449_6: &str = "https://www.rfc-editor.org/rfc/rfc9449#section-6";
const RFC9449_7_1: &str = "https://www.rfc-editor.org/rfc/rfc9449#section-7.1";
const RFC9449_7_2: &str = "https://www.rfc-editor.org/rfc/rfc9449#section-7.2";
const RFC9449_10: &str = "https://www.rfc-editor.org/rfc/rfc9449#section-10";
const RFC9449_11_1: &str = "https://www.rfc-editor.org/rfc/rfc9449#section-11.1";
const RFC9449_11_3: &str = "https://www.rfc-editor.org/rfc/rfc9449#section-11.3";

pub static TOKEN_RESPONSE: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.dpop-token-response",
    summary: "a token response to a request with a DPoP proof binds the token to the proof's key",
    rules: &[&TOKEN_TYPE, &CNF_JKT, &REFRESH_BOUND],
};

pub static INTROSPECTION: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.dpop-introspection",
    summary: "introspecting a DPoP-bound access token names the key's thumbprint (cnf.jkt)",
    rules: &[&CNF_JKT, &TOKEN_TYPE],
};

pub static PROOF_REFUSED: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.dpop-proof-refused",
    summary: "a request with an invalid DPoP proof is refused with invalid_dpop_proof",
    rules: &[&PROOF_REFUSED_RULE],
};

pub static REPLAY_REFUSED: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.dpop-replay-refused",
    summary: "a DPoP proof whose jti was already used is refused with invalid_dpop_proof",
    rules: &[&JTI_REPLAY_REFUSED],
};

pub static REFRESH_BOUND_SET: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.dpop-refresh-bound",
    summary: "a public client's DPoP-bound refresh token is refused with another key's proof",
    rules: &[&REFRESH_BOUND],
};

pub static RESOURCE: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.dpop-resource",
    summary: "a protected resource takes a DPoP-bound access token only under the DPoP scheme with a proof of its key and its ath",
    rules: &[&RESOURCE_PROOF_CHECKED, &BEARER_DOWNGRADE, &RESOURCE_CHALLENGE],
};

pub static JKT_BOUND_SET: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.dpop-jkt-bound",
    summary: "a code requested with dpop_jkt is redeemed only with a DPoP proof of that key",
    rules: &[&JKT_BOUND],
};

pub static NONCE_REQUIRED_SET: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.dpop-nonce-required",
    summary: "once the server gave a DPoP nonce, a proof without a nonce is refused",
    rules: &[&NONCE_REQUIRED],
};

/// The RFC 7638 thumbprint of the key in the proof `sent` carried.
fn proof_jkt(sent: &Sent) -> Option<String> {
    let proof = crate::dpop::decode(sent.header("dpop")?)?;
    crate::dpop::thumbprint(proof.header.get("jwk")?)
}

/// The client authenticated itself (Basic, a secret or an assertion): a confidential client.
fn confidential(sent: &Sent) -> bool {
    sent.basic_auth
        || sent.form_value("client_secret").is_some()
        || sent.form_value("client_assertion").is_some()
}

pub static TOKEN_TYPE: Rule = Rule {
    id: "RFC9449-5-token_type-dpop",
    level: Level::Must,
    source: RFC9449_5,
    title: "a token bound to a DPoP key is issued with token_type DPoP",
    explain: "RFC 9449 §5: \"A token_type of DPoP MUST be included in the access token response to \
              signal to the client that the access token was bound to its DPoP key\"; the server \
              \"MAY elect to issue access tokens that are not DPoP bound\", signalled with Bearer. So \
              a Bearer answer to a proof passes, and the rule fails only a token that is bound all \
              the same: a JWT access token carrying cnf.jkt, or a token whose introspection shows \
              cnf.jkt, issued under another token_type.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        // An introspection that shows the binding: the response that issued the token owed DPoP.
        if let Some(token) = x.sent.form_value("token") {
            let shown = body_member(r, "active") == Some(&Value::Bool(true))
                && body_member(r, "cnf").and_then(|c| c.get("jkt")).is_some();
            return match issuing_token_type(x.earlier, token) {
                Some(said) if shown && !said.eq_ignore_ascii_case("DPoP") => vec![Violation::new(
                    "introspection shows the token bound to a DPoP key (cnf.jkt), but it was issued under another token_type",
                )
                .expected("token_type DPoP when it was issued")
                .actual(said)
                .at("$.cnf.jkt")],
                _ => vec![],
            };
        }
        if x.sent.header("dpop").is_none() {
            return vec![];
        }
        let Some(token) = body_member(r, "access_token").and_then(Value::as_str) else {
            return vec![];
        };
        let said = body_member(r, "token_type").and_then(Value::as_str);
        if said.is_some_and(|t| t.eq_ignore_ascii_case("DPoP")) {
            return vec![];
        }
        let bound = super::jwt::decode(token)
            .ok()
            .and_then(|jws| jws.claim("cnf").and_then(|c| c.get("jkt")).cloned())
            .is_some();
        if !bound {
            return vec![];
        }
        vec![Violation::new(
            "the access token is bound to the proof's key (its cnf.jkt), but it is not issued as DPoP",
        )
        .expected("DPoP")
        .actual(said.unwrap_or("(none)"))
        .at("$.token_type")]
    },
};

/// The token_type of the response that issued `token` to a request carrying a proof.
fn issuing_token_type(earlier: &[(Sent, Received)], token: &str) -> Option<String> {
    earlier.iter().rev().find_map(|(s, r)| {
        let issued = body_member(r, "access_token").and_then(Value::as_str) == Some(token);
        (issued && s.header("dpop").is_some()).then(|| {
            body_member(r, "token_type")
                .and_then(Value::as_str)
                .unwrap_or("(none)")
                .to_string()
        })
    })
}

/// The thumbprint a token should be bound to: the proof's of the step that issued `token`.
fn issuing_jkt(earlier: &[(Sent, Received)], token: &str) -> Option<String> {
    earlier.iter().rev().find_map(|(s, r)| {
        let issued = ["access_token", "refresh_token"]
            .iter()
            .any(|m| body_member(r, m).and_then(Value::as_str) == Some(token));
        issued.then(|| proof_jkt(s)).flatten()
    })
}

fn jkt_violation(found: Option<&Value>, want: &str, at: &str) -> Vec<Violation> {
    match found.and_then(Value::as_str) {
        Some(j) if j == want => vec![],
        Some(_) => vec![Violation::new(
            "cnf.jkt is not the thumbprint of the key whose proof the token was issued for",
        )
        .expected(format!("the proof key's RFC 7638 thumbprint ({want})"))
        .actual("another thumbprint")
        .at(at)],
        // §6 lets the binding travel by other means (an agreement with the resource server), so
        // a missing cnf is not this MUST's; the suites check its presence as an assumed check.
        None => vec![],
    }
}

pub static CNF_JKT: Rule = Rule {
    id: "RFC9449-6-cnf-jkt",
    level: Level::Must,
    source: RFC9449_6,
    title: "a DPoP-bound token's cnf.jkt is the thumbprint of the proof's key",
    explain: "RFC 9449 §6.1: \"The value of the jkt member MUST be the base64url encoding of the JWK \
              SHA-256 Thumbprint\" (RFC 7638) of the key the token is bound to; §6.1 and §6.2 carry it \
              in a JWT access token or the introspection response. Checked on a token response with \
              token_type DPoP whose access token is a JWT, and on an active introspection of a token \
              issued as DPoP to a request with a proof. A missing cnf is not this rule's: §6 lets the \
              binding reach the resource server by other means.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        // An introspection: the token a step before obtained with a proof.
        if let Some(token) = x.sent.form_value("token") {
            if body_member(r, "active") != Some(&Value::Bool(true)) {
                return vec![];
            }
            let issued_bound = issuing_token_type(x.earlier, token)
                .is_some_and(|t| t.eq_ignore_ascii_case("DPoP"));
            let (Some(want), true) = (issuing_jkt(x.earlier, token), issued_bound) else {
                return vec![];
            };
            let found = body_member(r, "cnf").and_then(|c| c.get("jkt"));
            return jkt_violation(found, &want, "$.cnf.jkt");
        }
        // A token response: a JWT access token carries cnf itself.
        let bound = body_member(r, "token_type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("DPoP"));
        let (Some(want), true) = (proof_jkt(x.sent), bound) else {
            return vec![];
        };
        let Some(token) = body_member(r, "access_token").and_then(Value::as_str) else {
            return vec![];
        };
        let Ok(jws) = super::jwt::decode(token) else {
            return vec![];
        };
        let found = jws.claim("cnf").and_then(|c| c.get("jkt"));
        jkt_violation(found, &want, "$.access_token (claim cnf.jkt)")
    },
};

pub static REFRESH_BOUND: Rule = Rule {
    id: "RFC9449-5-refresh-bound",
    level: Level::Must,
    source: RFC9449_5,
    title: "a public client's refresh token issued under DPoP works only with proofs of that key",
    explain: "RFC 9449 §5: refresh tokens issued to public clients \"MUST be bound\" to the DPoP \
              key, and §5 has the server check that a refresh request's proof is signed by that key. \
              Checked when a public client (no client authentication) refreshes, with a proof, a \
              refresh token an earlier step obtained with a proof of another key: the server must \
              refuse. A confidential client's refresh token is already sender-constrained by its \
              authentication (§5), so it is not checked.",
    check: |x| {
        let sent = x.sent;
        if sent.grant_type() != Some("refresh_token") || confidential(sent) {
            return vec![];
        }
        let (Some(token), Some(now)) = (sent.form_value("refresh_token"), proof_jkt(sent)) else {
            return vec![];
        };
        let Some(then) = issuing_jkt(x.earlier, token) else {
            return vec![];
        };
        if now == then || !success(x.received) {
            return vec![];
        }
        vec![Violation::new(
            "a refresh token bound to one DPoP key was accepted with a proof signed by another key",
        )
        .expected("400 invalid_dpop_proof (or invalid_grant)")
        .actual(format!("{}", x.received.status))]
    },
};

/// The scheme and access token of the request's `Authorization` header.
fn presented(sent: &Sent) -> Option<(&str, &str)> {
    let value = sent
        .authorization
        .as_deref()
        .or_else(|| sent.header("authorization"))?;
    let (scheme, token) = value.trim().split_once(' ')?;
    Some((scheme, token.trim()))
}

/// `token` was issued earlier in the case as DPoP, to a request with a proof: it is bound.
fn issued_bound(earlier: &[(Sent, Received)], token: &str) -> bool {
    issuing_token_type(earlier, token).is_some_and(|t| t.eq_ignore_ascii_case("DPoP"))
}

pub static RESOURCE_PROOF_CHECKED: Rule = Rule {
    id: "RFC9449-7.1-resource-proof-checked",
    level: Level::Must,
    source: RFC9449_7_1,
    title: "a protected resource takes a DPoP-bound token only with a proof of its key whose ath is the token's hash",
    explain: "RFC 9449 §7.1: for a DPoP-bound access token \"a resource server MUST check that a \
              DPoP proof was also received in the DPoP header field\", check it per §4.3 (item 12: \
              ath equals the hash of the access token) and \"check that the public key of the DPoP \
              proof matches the public key to which the access token is bound\"; it \"MUST NOT \
              grant access to the resource unless all checks are successful\". Checked on a \
              request under the DPoP scheme with a token issued as DPoP earlier in the case: a \
              success fails when the proof is missing, has no ath or another token's, or is signed \
              by another key (other §4.3 defects are RFC9449-4.3-proof-refused's).",
    check: |x| {
        let Some((scheme, token)) = presented(x.sent) else {
            return vec![];
        };
        if !scheme.eq_ignore_ascii_case("DPoP")
            || !issued_bound(x.earlier, token)
            || !success(x.received)
        {
            return vec![];
        }
        let proof = x.sent.header("dpop").and_then(crate::dpop::decode);
        let defect = match &proof {
            None => Some("no DPoP proof"),
            Some(p) => match p.claims.get("ath").and_then(Value::as_str) {
                None => Some("a proof without ath"),
                Some(a) if a != crate::dpop::ath(token) => {
                    Some("a proof whose ath is not the token's hash")
                }
                Some(_) => {
                    let key = p.header.get("jwk").and_then(crate::dpop::thumbprint);
                    let bound = issuing_jkt(x.earlier, token);
                    (key.is_some() && bound.is_some() && key != bound)
                        .then_some("a proof signed by another key than the token's")
                }
            },
        };
        match defect {
            None => vec![],
            Some(what) => vec![Violation::new(format!(
                "the DPoP-bound access token was accepted with {what}"
            ))
            .expected("401 (RFC 9449 §7.1: no access unless every check passes)")
            .actual(x.received.status.to_string())],
        }
    },
};

pub static BEARER_DOWNGRADE: Rule = Rule {
    id: "RFC9449-7.2-bound-token-not-bearer",
    level: Level::Must,
    source: RFC9449_7_2,
    title: "a protected resource refuses a DPoP-bound token presented as a Bearer token",
    explain: "RFC 9449 §7.2: protected resources supporting both the DPoP and Bearer schemes \
              \"MUST reject a DPoP-bound access token received as a bearer token per [RFC6750]\", \
              to prevent its downgraded use. Checked on a request under the Bearer scheme with a \
              token issued as DPoP earlier in the case, at a resource the target names as taking \
              DPoP (`dpop_resource_path`): a success fails.",
    check: |x| {
        let Some((scheme, token)) = presented(x.sent) else {
            return vec![];
        };
        if !scheme.eq_ignore_ascii_case("Bearer")
            || !issued_bound(x.earlier, token)
            || !success(x.received)
        {
            return vec![];
        }
        vec![
            Violation::new("a DPoP-bound access token was accepted as a Bearer token")
                .expected("401 (RFC 9449 §7.2)")
                .actual(x.received.status.to_string()),
        ]
    },
};

/// The parameters of the `DPoP` challenge in a `WWW-Authenticate` value, if it has one.
fn dpop_challenge(value: &str) -> Option<&str> {
    let at = value
        .match_indices("DPoP")
        .find(|(i, _)| {
            let before = value[..*i].trim_end();
            before.is_empty() || before.ends_with(',')
        })?
        .0;
    let rest = &value[at + 4..];
    // Up to the next challenge (a scheme name follows a comma without `=`), roughly: Bearer.
    Some(rest.split("Bearer").next().unwrap_or(rest))
}

pub static RESOURCE_CHALLENGE: Rule = Rule {
    id: "RFC9449-7.1-challenge-error",
    level: Level::Should,
    source: RFC9449_7_1,
    title: "a resource's DPoP challenge to a request with a token names the error and the algs",
    explain: "RFC 9449 §7.1: in a DPoP challenge (401 with WWW-Authenticate) \"An error parameter \
              ([RFC6750], Section 3) SHOULD be included to indicate the reason why the request was \
              declined, if the request included an access token but failed authentication\", and \
              \"An algs parameter SHOULD be included\". Checked on a 401 to a request under the \
              DPoP scheme whose WWW-Authenticate has a DPoP challenge (the challenge itself is a \
              \"can\").",
    check: |x| {
        let r = x.received;
        let dpop_scheme =
            presented(x.sent).is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("DPoP"));
        if r.status != 401 || !dpop_scheme {
            return vec![];
        }
        let Some(params) = r.header("www-authenticate").and_then(dpop_challenge) else {
            return vec![];
        };
        let mut out = Vec::new();
        for (name, why) in [
            (
                "error",
                "the reason the request with an access token was declined",
            ),
            ("algs", "the JWS algorithms acceptable for proofs"),
        ] {
            if !params.contains(&format!("{name}=")) {
                out.push(
                    Violation::new(format!(
                        "the DPoP challenge has no {name} parameter ({why})"
                    ))
                    .expected(format!("DPoP {name}=\"…\""))
                    .actual(params.trim().to_string())
                    .at("header www-authenticate"),
                );
            }
        }
        out
    },
};

/// The `dpop_jkt` of the latest earlier authorization request (its query, or a pushed form).
fn requested_jkt(earlier: &[(Sent, Received)]) -> Option<String> {
    earlier.iter().rev().find_map(|(s, _)| {
        let query = url::Url::parse(&s.url).ok().and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "dpop_jkt")
                .map(|(_, v)| v.into_owned())
        });
        query.or_else(|| s.form_value("dpop_jkt").map(str::to_string))
    })
}

pub static JKT_BOUND: Rule = Rule {
    id: "RFC9449-10-dpop-jkt-bound",
    level: Level::Must,
    source: RFC9449_10,
    title: "a code requested with dpop_jkt is redeemed only with a proof of that key",
    explain: "RFC 9449 §10: \"When a token request is received, the authorization server computes \
              the JWK Thumbprint of the proof-of-possession public key in the DPoP proof and \
              verifies that it matches the dpop_jkt parameter value in the authorization request. \
              If they do not match, it MUST reject the request.\" §10.1: with PAR, dpop_jkt is \
              pushed with the other parameters. Checked on an authorization_code request after an \
              earlier step's authorization request (or push) carried dpop_jkt: a success with a \
              proof of another key, or no proof, fails.",
    check: |x| {
        if x.sent.grant_type() != Some("authorization_code") || !success(x.received) {
            return vec![];
        }
        let Some(want) = requested_jkt(x.earlier) else {
            return vec![];
        };
        let sent = proof_jkt(x.sent);
        if sent.as_deref() == Some(want.as_str()) {
            return vec![];
        }
        vec![Violation::new(
            "a code requested with dpop_jkt was redeemed without a proof of that key",
        )
        .expected(format!(
            "a refusal, unless the proof's key thumbprint is {want}"
        ))
        .actual(format!(
            "{} with {}",
            x.received.status,
            if sent.is_some() {
                "another key's proof"
            } else {
                "no proof"
            }
        ))]
    },
};

/// The `nonce` claim of the proof `sent` carried.
fn proof_nonce(sent: &Sent) -> Option<String> {
    let proof = crate::dpop::decode(sent.header("dpop")?)?;
    proof.claims.get("nonce")?.as_str().map(str::to_string)
}

fn origin(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .map(|u| u.origin().ascii_serialization())
}

pub static NONCE_REQUIRED: Rule = Rule {
    id: "RFC9449-11.3-nonce-required",
    level: Level::Must,
    source: RFC9449_11_3,
    title: "once the server gave a DPoP nonce, a proof without the nonce claim is refused",
    explain: "RFC 9449 §11.3: \"A server MUST NOT accept any DPoP proofs without the nonce claim \
              when a DPoP nonce has been provided to the client.\" Checked on a request whose proof \
              has no nonce (`dpop: no_nonce`, sent once, not retried) after an earlier step's proof \
              to the same origin carried the server's nonce: a success fails. A case whose server \
              gave no nonce skips before sending.",
    check: |x| {
        if x.sent.header("dpop").is_none() || proof_nonce(x.sent).is_some() {
            return vec![];
        }
        let here = origin(&x.sent.url);
        let given = x
            .earlier
            .iter()
            .any(|(s, _)| origin(&s.url) == here && proof_nonce(s).is_some());
        if !given || !success(x.received) {
            return vec![];
        }
        vec![
            Violation::new("a DPoP proof without the nonce the server gave was accepted")
                .expected("400 use_dpop_nonce (or invalid_dpop_proof)")
                .actual(x.received.status.to_string()),
        ]
    },
};

/// The refusal a proof check owes: 400 (token endpoint) or 401 (resource) with the error code in
/// the body or in `WWW-Authenticate` (§7.1).
fn refused_with(r: &Received, codes: &[&str]) -> Vec<Violation> {
    let challenge = r.header("www-authenticate").unwrap_or_default();
    let named = error_code(r).map(|c| codes.contains(&c)).unwrap_or(false)
        || codes.iter().any(|c| challenge.contains(c));
    if success(r) {
        return vec![
            Violation::new("the request with an invalid DPoP proof was accepted")
                .expected(format!("400 or 401 with error {}", codes.join(" or ")))
                .actual(format!("{}", r.status)),
        ];
    }
    if matches!(r.status, 400 | 401) && named {
        return vec![];
    }
    vec![
        Violation::new("the invalid DPoP proof was refused, but not as RFC 9449 §5/§7.1 say")
            .expected(format!("400 or 401 with error {}", codes.join(" or ")))
            .actual(format!(
                "{} with error {}",
                r.status,
                error_code(r).unwrap_or("(none)")
            ))
            .at("$.error"),
    ]
}

pub static PROOF_REFUSED_RULE: Rule = Rule {
    id: "RFC9449-4.3-proof-refused",
    level: Level::Must,
    source: RFC9449_4_3,
    title: "a DPoP proof that fails a §4.3 check is refused with invalid_dpop_proof",
    explain: "RFC 9449 §4.3: \"the receiving server MUST ensure\" that the proof is a JWT of typ \
              dpop+jwt, with an asymmetric alg (not none), a signature that verifies with the public \
              key in jwk (which holds no private key), htm and htu matching the request, and an iat \
              within an acceptable window. §5: an authorization server answers an invalid proof with \
              error invalid_dpop_proof (RFC 6749 §5.2); §7.1: a resource server answers 401 with that \
              error in WWW-Authenticate. Held in cases that send such a proof on purpose \
              (`dpop: wrong_htm`, …). §4.3 item 11 judges freshness by iat \"or a server managed \
              timestamp via the nonce claim\": an old iat in a proof that carries the server's nonce \
              may be accepted.",
    check: |x| {
        let proof = x.sent.header("dpop").and_then(crate::dpop::decode);
        let nonce_judged = proof.is_some_and(|p| {
            let old = crate::dpop::chrono_now() - crate::dpop::STALE_SECONDS / 2;
            let stale = p.claims.get("iat").and_then(Value::as_i64).is_some_and(|iat| iat < old);
            stale && p.claims.get("nonce").is_some()
        });
        if nonce_judged && success(x.received) {
            return vec![];
        }
        refused_with(x.received, &["invalid_dpop_proof"])
    },
};

pub static JTI_REPLAY_REFUSED: Rule = Rule {
    id: "RFC9449-11.1-jti-replay-refused",
    // §11.1 says "can", no keyword, and §4.3's MUST list has no jti item: advice only.
    level: Level::Info,
    source: RFC9449_11_1,
    title: "a DPoP proof whose jti the server has seen is refused",
    explain: "RFC 9449 §11.1: \"servers can store the jti value of each DPoP proof for the time \
              window in which the respective DPoP proof JWT would be accepted to prevent multiple \
              uses of the same DPoP proof\"; it \"may not always be feasible in practice\". No \
              keyword, and §4.3's list of MUST checks has no jti item, so an accepted replay is \
              shown, never failing; when refused, the error is invalid_dpop_proof (§5).",
    check: |x| refused_with(x.received, &["invalid_dpop_proof"]),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dpop::{Dpop, ProofRequest};
    use crate::rules::testutil::{self, json};
    use serde_json::json;

    fn with_proof(dpop: &Dpop, variant: &str, form: &[(&str, &str)], basic: bool) -> Sent {
        let mut s = testutil::sent(form, basic);
        s.url = "https://as.test/token".into();
        let proof = dpop
            .proof(&ProofRequest {
                variant,
                method: "POST",
                url: &s.url,
                access_token: None,
                key_pem: None,
            })
            .unwrap();
        s.headers.push(("dpop".into(), proof));
        s
    }

    #[test]
    fn a_bound_token_must_be_issued_as_dpop_and_an_unbound_bearer_may_be() {
        let dpop = Dpop::default();
        let s = with_proof(
            &dpop,
            "valid",
            &[("grant_type", "client_credentials")],
            true,
        );
        let jkt = proof_jkt(&s).unwrap();
        let header = json!({"alg": "RS256", "typ": "at+jwt"});
        let bound = crate::rules::jwt::encode_for_test(&header, &json!({"cnf": {"jkt": jkt}}));
        let ok = json(200, json!({"access_token": bound, "token_type": "dpop"}));
        let bound_bearer = json(200, json!({"access_token": bound, "token_type": "Bearer"}));
        // §5: the server MAY issue a token that is not bound, as Bearer.
        let unbound_bearer = json(200, json!({"access_token": "a", "token_type": "Bearer"}));
        testutil::passes(&TOKEN_TYPE, &s, &ok);
        testutil::fails(&TOKEN_TYPE, &s, &bound_bearer);
        testutil::passes(&TOKEN_TYPE, &s, &unbound_bearer);
        // No proof: not this rule's business.
        testutil::passes(&TOKEN_TYPE, &testutil::sent(&[], true), &bound_bearer);
        // Introspection shows the binding of a token issued as Bearer.
        let earlier = vec![(s.clone(), unbound_bearer.clone())];
        let introspect = testutil::sent(&[("token", "a")], true);
        let shows = json(200, json!({"active": true, "cnf": {"jkt": jkt}}));
        let plain = json(200, json!({"active": true}));
        assert!(!testutil::run_after(&TOKEN_TYPE, &introspect, &shows, &earlier).is_empty());
        assert!(testutil::run_after(&TOKEN_TYPE, &introspect, &plain, &earlier).is_empty());
        let earlier = vec![(
            s.clone(),
            json(200, json!({"access_token": "a", "token_type": "DPoP"})),
        )];
        assert!(testutil::run_after(&TOKEN_TYPE, &introspect, &shows, &earlier).is_empty());
    }

    #[test]
    fn introspection_and_jwt_access_tokens_carry_the_proof_keys_thumbprint() {
        let dpop = Dpop::default();
        let issued = with_proof(
            &dpop,
            "valid",
            &[("grant_type", "client_credentials")],
            true,
        );
        let jkt = proof_jkt(&issued).unwrap();
        let token_response = json(200, json!({"access_token": "tok1", "token_type": "DPoP"}));
        let earlier = vec![(issued.clone(), token_response)];
        let introspect = testutil::sent(&[("token", "tok1")], true);
        let good = json(200, json!({"active": true, "cnf": {"jkt": jkt}}));
        let missing = json(200, json!({"active": true}));
        let other = json(200, json!({"active": true, "cnf": {"jkt": "x"}}));
        assert!(testutil::run_after(&CNF_JKT, &introspect, &good, &earlier).is_empty());
        // §6 allows other means: a missing cnf is the suites' assumed check, not this MUST.
        assert!(testutil::run_after(&CNF_JKT, &introspect, &missing, &earlier).is_empty());
        assert!(!testutil::run_after(&CNF_JKT, &introspect, &other, &earlier).is_empty());
        // A token issued as Bearer is not held to a binding.
        let as_bearer = vec![(
            issued.clone(),
            json(200, json!({"access_token": "tok1", "token_type": "Bearer"})),
        )];
        assert!(testutil::run_after(&CNF_JKT, &introspect, &other, &as_bearer).is_empty());
        // An inactive token says nothing more.
        let inactive = json(200, json!({"active": false}));
        assert!(testutil::run_after(&CNF_JKT, &introspect, &inactive, &earlier).is_empty());
        // A JWT access token carries cnf itself.
        let header = json!({"alg": "RS256", "typ": "at+jwt"});
        let bound = crate::rules::jwt::encode_for_test(&header, &json!({"cnf": {"jkt": jkt}}));
        let unbound = crate::rules::jwt::encode_for_test(&header, &json!({"sub": "u"}));
        let r = |t: &str| json(200, json!({"access_token": t, "token_type": "DPoP"}));
        let elsewhere = crate::rules::jwt::encode_for_test(&header, &json!({"cnf": {"jkt": "x"}}));
        testutil::passes(&CNF_JKT, &issued, &r(&bound));
        testutil::passes(&CNF_JKT, &issued, &r(&unbound));
        testutil::fails(&CNF_JKT, &issued, &r(&elsewhere));
    }

    #[test]
    fn a_public_clients_bound_refresh_token_is_refused_with_another_key() {
        let dpop = Dpop::default();
        let issued = with_proof(
            &dpop,
            "valid",
            &[("grant_type", "authorization_code")],
            false,
        );
        let earlier = vec![(
            issued,
            json(
                200,
                json!({"access_token": "a", "token_type": "DPoP", "refresh_token": "rt1"}),
            ),
        )];
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", "rt1"),
            ("client_id", "pub"),
        ];
        let other = with_proof(&dpop, "other_key", &form, false);
        let same = with_proof(&dpop, "valid", &form, false);
        let accepted = json(200, json!({"access_token": "b", "token_type": "DPoP"}));
        let refused = json(400, json!({"error": "invalid_dpop_proof"}));
        assert!(!testutil::run_after(&REFRESH_BOUND, &other, &accepted, &earlier).is_empty());
        assert!(testutil::run_after(&REFRESH_BOUND, &other, &refused, &earlier).is_empty());
        assert!(testutil::run_after(&REFRESH_BOUND, &same, &accepted, &earlier).is_empty());
        // A confidential client's refresh token need not be bound (§5).
        let confidential = with_proof(&dpop, "other_key", &form, true);
        assert!(testutil::run_after(&REFRESH_BOUND, &confidential, &accepted, &earlier).is_empty());
    }

    #[test]
    fn an_old_iat_under_the_servers_nonce_may_be_accepted() {
        let accepted = json(200, json!({"access_token": "a", "token_type": "DPoP"}));
        let dpop = Dpop::default();
        let stale = with_proof(
            &dpop,
            "stale_iat",
            &[("grant_type", "client_credentials")],
            true,
        );
        testutil::fails(&PROOF_REFUSED_RULE, &stale, &accepted);
        // §4.3 item 11: freshness by the server's nonce instead of iat.
        dpop.remember_nonce("https://as.test/token", "n1");
        let under_nonce = with_proof(
            &dpop,
            "stale_iat",
            &[("grant_type", "client_credentials")],
            true,
        );
        testutil::passes(&PROOF_REFUSED_RULE, &under_nonce, &accepted);
        // A nonce does not excuse another defect.
        let wrong = with_proof(
            &dpop,
            "wrong_htm",
            &[("grant_type", "client_credentials")],
            true,
        );
        testutil::fails(&PROOF_REFUSED_RULE, &wrong, &accepted);
    }

    /// A GET to the resource with `token` under `scheme`, and a `variant` proof if any.
    fn at_resource(dpop: &Dpop, scheme: &str, token: &str, variant: Option<&str>) -> Sent {
        let mut s = testutil::sent(&[], false);
        s.method = "GET".into();
        s.url = "https://rs.test/resource".into();
        s.authorization = Some(format!("{scheme} {token}"));
        if let Some(variant) = variant {
            let proof = dpop
                .proof(&ProofRequest {
                    variant,
                    method: "GET",
                    url: &s.url,
                    access_token: Some(token),
                    key_pem: None,
                })
                .unwrap();
            s.headers.push(("dpop".into(), proof));
        }
        s
    }

    #[test]
    fn a_bound_token_works_at_the_resource_only_with_a_proof_of_its_key_and_its_ath() {
        let dpop = Dpop::default();
        let issued = with_proof(
            &dpop,
            "valid",
            &[("grant_type", "client_credentials")],
            true,
        );
        let as_dpop = json(200, json!({"access_token": "at1", "token_type": "DPoP"}));
        let earlier = vec![(issued.clone(), as_dpop)];
        let ok = json(200, json!({"sub": "u"}));
        let refused = testutil::received(
            401,
            &[(
                "www-authenticate",
                "DPoP error=\"invalid_dpop_proof\", algs=\"ES256\"",
            )],
            json!({}),
        );
        let run = |s: &Sent, r: &Received| {
            testutil::run_after(&RESOURCE_PROOF_CHECKED, s, r, &earlier).len()
        };
        assert_eq!(
            run(&at_resource(&dpop, "DPoP", "at1", Some("valid")), &ok),
            0
        );
        for variant in [None, Some("no_ath"), Some("wrong_ath"), Some("other_key")] {
            let s = at_resource(&dpop, "DPoP", "at1", variant);
            assert_eq!(run(&s, &ok), 1, "{variant:?} accepted");
            assert_eq!(run(&s, &refused), 0, "{variant:?} refused");
        }
        // A token issued as Bearer is not bound: no proof needed.
        let as_bearer = vec![(
            issued,
            json(200, json!({"access_token": "at1", "token_type": "Bearer"})),
        )];
        let no_proof = at_resource(&dpop, "DPoP", "at1", None);
        assert!(
            testutil::run_after(&RESOURCE_PROOF_CHECKED, &no_proof, &ok, &as_bearer).is_empty()
        );
        // §7.2: the bound token as Bearer.
        let bearer = at_resource(&dpop, "Bearer", "at1", None);
        assert!(!testutil::run_after(&BEARER_DOWNGRADE, &bearer, &ok, &earlier).is_empty());
        assert!(testutil::run_after(&BEARER_DOWNGRADE, &bearer, &refused, &earlier).is_empty());
        assert!(testutil::run_after(&BEARER_DOWNGRADE, &bearer, &ok, &as_bearer).is_empty());
    }

    #[test]
    fn a_dpop_challenge_to_a_request_with_a_token_names_the_error_and_algs() {
        let dpop = Dpop::default();
        let s = at_resource(&dpop, "DPoP", "at1", Some("no_ath"));
        let challenge = |v: &str| testutil::received(401, &[("www-authenticate", v)], json!({}));
        testutil::passes(
            &RESOURCE_CHALLENGE,
            &s,
            &challenge("DPoP error=\"invalid_dpop_proof\", algs=\"ES256\""),
        );
        // The error in the Bearer challenge is not the DPoP challenge's.
        let v = "Bearer error=\"invalid_token\", DPoP algs=\"ES256\"";
        assert_eq!(
            testutil::run(&RESOURCE_CHALLENGE, &s, &challenge(v)).len(),
            1
        );
        assert_eq!(
            testutil::run(&RESOURCE_CHALLENGE, &s, &challenge("DPoP")).len(),
            2
        );
        // No DPoP challenge (it is a "can"), or a request under Bearer: not judged.
        testutil::passes(&RESOURCE_CHALLENGE, &s, &challenge("Bearer"));
        let bearer = at_resource(&dpop, "Bearer", "at1", None);
        testutil::passes(&RESOURCE_CHALLENGE, &bearer, &challenge("DPoP"));
    }

    #[test]
    fn a_code_requested_with_dpop_jkt_needs_a_proof_of_that_key() {
        let dpop = Dpop::default();
        let form = [("grant_type", "authorization_code"), ("code", "c1")];
        let right = with_proof(&dpop, "valid", &form, true);
        let other = with_proof(&dpop, "other_key", &form, true);
        let jkt = proof_jkt(&right).unwrap();
        let mut authorize = testutil::sent(&[], false);
        authorize.method = "GET".into();
        authorize.url = format!("https://as.test/authorize?response_type=code&dpop_jkt={jkt}");
        let redirect = testutil::received(
            302,
            &[("location", "https://c.test/cb?code=c1")],
            json!(null),
        );
        let plain = vec![(authorize, redirect.clone())];
        let pushed = vec![(
            testutil::sent(&[("response_type", "code"), ("dpop_jkt", &jkt)], true),
            json(201, json!({"request_uri": "urn:x", "expires_in": 60})),
        )];
        let issued = json(200, json!({"access_token": "a", "token_type": "DPoP"}));
        let refused = json(400, json!({"error": "invalid_dpop_proof"}));
        let no_proof = testutil::sent(&form, true);
        for earlier in [&plain, &pushed] {
            let run = |s: &Sent, r: &Received| testutil::run_after(&JKT_BOUND, s, r, earlier).len();
            assert_eq!(run(&right, &issued), 0);
            assert_eq!(run(&other, &issued), 1);
            assert_eq!(run(&no_proof, &issued), 1);
            assert_eq!(run(&other, &refused), 0);
        }
        // No dpop_jkt asked for: any proof may redeem.
        assert!(testutil::run_after(&JKT_BOUND, &other, &issued, &[]).is_empty());
    }

    #[test]
    fn once_a_nonce_was_given_a_proof_without_it_is_refused() {
        let dpop = Dpop::default();
        let form = [("grant_type", "client_credentials")];
        let before = with_proof(&dpop, "valid", &form, true);
        dpop.remember_nonce("https://as.test/token", "n1");
        let with_nonce = with_proof(&dpop, "valid", &form, true);
        let without = with_proof(&dpop, "no_nonce", &form, true);
        let issued = json(200, json!({"access_token": "a", "token_type": "DPoP"}));
        let refused = json(400, json!({"error": "use_dpop_nonce"}));
        let given = vec![(with_nonce.clone(), issued.clone())];
        let run = |s: &Sent, r: &Received, e: &[(Sent, Received)]| {
            testutil::run_after(&NONCE_REQUIRED, s, r, e).len()
        };
        assert_eq!(run(&without, &issued, &given), 1);
        assert_eq!(run(&without, &refused, &given), 0);
        // No nonce given earlier (the earlier proof had none), or the proof carries one.
        assert_eq!(run(&without, &issued, &[(before, issued.clone())]), 0);
        assert_eq!(run(&with_nonce, &issued, &given), 0);
        // Another origin's nonce is not this server's.
        let mut elsewhere = with_nonce;
        elsewhere.url = "https://other.test/token".into();
        assert_eq!(run(&without, &issued, &[(elsewhere, issued.clone())]), 0);
    }

    #[test]
    fn a_replayed_jti_is_advice_since_section_11_1_says_can() {
        assert_eq!(JTI_REPLAY_REFUSED.level, Level::Info);
    }

    #[test]
    fn an_invalid_proof_is_refused_with_invalid_dpop_proof() {
        let s = testutil::sent(&[], true);
        for rule in [&PROOF_REFUSED_RULE, &JTI_REPLAY_REFUSED] {
            testutil::passes(rule, &s, &json(400, json!({"error": "invalid_dpop_proof"})));
            let challenge = testutil::received(
                401,
                &[("www-authenticate", "DPoP error=\"invalid_dpop_proof\"")],
                json!({}),
            );
            testutil::passes(rule, &s, &challenge);
            testutil::fails(rule, &s, &json(200, json!({"access_token": "a"})));
            testutil::fails(rule, &s, &json(400, json!({"error": "invalid_request"})));
            testutil::fails(rule, &s, &json(500, json!({"error": "invalid_dpop_proof"})));
        }
    }
}
