//! The OAuth 2.1 rule set, from draft-ietf-oauth-v2-1-16 (3 September 2026), each rule at the
//! draft's level: what a server that says it speaks OAuth 2.1 owes beyond RFC 6749. A target opts
//! in with the capability `oauth_2_1`; the cases are in suites/oauth2/oauth21.yaml.

use serde_json::Value;

use super::oauth2_authorize::{self as authorize, param, url_params};
use super::read::body_member;
use super::{Rule, RuleSet, Violation};
use crate::finding::Level;

const DRAFT_2_3_1: &str =
    "https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1-16#section-2.3.1";
const DRAFT_4_1_3: &str =
    "https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1-16#section-4.1.3";
const DRAFT_4_3: &str =
    "https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1-16#section-4.3";
const DRAFT_5_1: &str =
    "https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1-16#section-5.1";
const DRAFT_10: &str = "https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1-16#section-10";
const DRAFT_10_1: &str =
    "https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1-16#section-10.1";

pub static AUTHORIZE: RuleSet = RuleSet {
    includes: &[],
    name: "oauth21.authorize",
    summary: "OAuth 2.1 (draft-ietf-oauth-v2-1-16) at the authorization endpoint: exact redirect URIs, no implicit grant",
    rules: &[&EXACT_REDIRECT, &NO_IMPLICIT],
};

pub static TOKEN: RuleSet = RuleSet {
    includes: &[],
    name: "oauth21.token",
    summary: "OAuth 2.1 (draft-ietf-oauth-v2-1-16) at the token endpoint: no code without PKCE, no verifier without a challenge",
    rules: &[&PKCE_REQUIRED, &authorize::PKCE_DOWNGRADE],
};

pub static REFRESH: RuleSet = RuleSet {
    includes: &[],
    name: "oauth21.refresh",
    summary: "OAuth 2.1 (draft-ietf-oauth-v2-1-16) refresh for a public client: a rotated or sender-constrained refresh token",
    rules: &[&PUBLIC_REFRESH],
};

pub static METADATA: RuleSet = RuleSet {
    includes: &[],
    name: "oauth21.metadata",
    summary: "OAuth 2.1 (draft-ietf-oauth-v2-1-16) in RFC 8414 metadata: no password or implicit grant offered",
    rules: &[&OMITTED_GRANTS],
};

pub static RESOURCE: RuleSet = RuleSet {
    includes: &[],
    name: "oauth21.resource",
    summary: "OAuth 2.1 (draft-ietf-oauth-v2-1-16) at a protected resource: an access token in the URI query is ignored",
    rules: &[&NO_QUERY_TOKEN],
};

pub static PKCE_REQUIRED: Rule = Rule {
    id: "OAUTH21-4.1.3-pkce-required",
    level: Level::Must,
    source: DRAFT_4_1_3,
    title: "no token for a code whose authorization request had no code_challenge",
    explain: "draft-ietf-oauth-v2-1-16 §4.1.3: \"If there was no code_challenge in the authorization request \
              associated with the authorization code in the token request, the authorization server MUST \
              reject the token request.\" (§4.1.2.1 also makes the authorize endpoint reject such a request \
              from public clients, and from others without reasonable assurance against code injection; \
              where it does, there is no code to redeem.) Applied to an authorization_code grant whose \
              code an earlier step of the case received from an authorize request without code_challenge: \
              a token fails, whoever refused first.",
    check: |x| {
        let Some(request) = authorize::redeemed_authorize(x.sent, x.received, x.earlier) else {
            return vec![];
        };
        if param(&request, "code_challenge").is_some() {
            return vec![];
        }
        vec![Violation::new(format!(
            "a code issued without a code_challenge was answered {} with a token; draft-ietf-oauth-v2-1-16 §4.1.3: the server MUST reject the token request",
            x.received.status
        ))
        .expected("an error (400 invalid_grant), or a refused authorization request")
        .actual(format!("{} with a token", x.received.status))]
    },
};

pub static EXACT_REDIRECT: Rule = Rule {
    id: "OAUTH21-2.3.1-exact-redirect",
    level: Level::Must,
    source: DRAFT_2_3_1,
    title: "an authorize request with a redirect URI that is not exactly a registered one is refused without redirecting to it",
    explain: "draft-ietf-oauth-v2-1-16 §2.3.1: \"Authorization servers MUST reject authorization requests that \
              specify a redirect URI that doesn't exactly match one that was registered\" (loopback ports \
              aside); §4.1.2.1: it MUST NOT redirect the user agent to the invalid redirect URI. Applied to \
              an authorize request whose redirect_uri differs from the case's registered `redirect_uri` var \
              (the suite appends a path segment, which prefix or pattern matching would let through): a \
              redirect to the sent URI, or any redirect carrying a code, fails.",
    check: |x| {
        let sent = url_params(&x.sent.url);
        let (Some(asked), Some(registered)) =
            (param(&sent, "redirect_uri"), x.values.get("redirect_uri"))
        else {
            return vec![];
        };
        if asked.is_empty() || registered.is_empty() || asked == registered {
            return vec![];
        }
        let Some(params) = authorize::location_params(x.received) else {
            return vec![];
        };
        let location = x.received.header("location").unwrap_or_default();
        if location.starts_with(asked) || param(&params, "code").is_some() {
            return vec![Violation::new(
                "a redirect URI that only extends the registered one was followed; draft-ietf-oauth-v2-1-16 §2.3.1: it MUST be rejected, and §4.1.2.1: not redirected to",
            )
            .expected("an error page, with no redirect to the unregistered URI")
            .actual(crate::redact::shorten(location, 200))
            .at("Location")];
        }
        vec![]
    },
};

pub static NO_IMPLICIT: Rule = Rule {
    id: "OAUTH21-10.1-no-implicit",
    // The draft omits the grant (§10.1) without a keyword of its own; RFC 9700 §2.1.2, which it
    // follows, says clients SHOULD NOT use it.
    level: Level::Should,
    source: DRAFT_10_1,
    title: "response_type=token is not answered with an access token",
    explain: "draft-ietf-oauth-v2-1-16 §10.1: the implicit grant (response_type=token) is omitted from OAuth \
              2.1, \"to no longer issue access tokens in the authorization response\"; §4.1.1 defines only \
              response_type `code`. The draft gives no keyword of its own (RFC 9700 §2.1.2: SHOULD NOT), \
              so a SHOULD. Applied to an authorize request with response_type=token: a redirect carrying \
              access_token, in the query or the fragment, fails.",
    check: |x| {
        let sent = url_params(&x.sent.url);
        if param(&sent, "response_type") != Some("token") {
            return vec![];
        }
        let Some(params) = authorize::location_params(x.received) else {
            return vec![];
        };
        if param(&params, "access_token").is_none() {
            return vec![];
        }
        vec![Violation::new(
            "response_type=token was answered with an access token in the redirect; OAuth 2.1 omits the implicit grant (draft-ietf-oauth-v2-1-16 §10.1)",
        )
        .expected("error=unsupported_response_type")
        .actual("an access_token in the redirect")
        .at("Location")]
    },
};

pub static PUBLIC_REFRESH: Rule = Rule {
    id: "OAUTH21-4.3-public-refresh",
    level: Level::Should,
    source: DRAFT_4_3,
    title: "a public client's refresh gets a new refresh token, unless the token is sender-constrained",
    explain: "draft-ietf-oauth-v2-1-16 §4.3: \"When client authentication is not possible, the authorization \
              server SHOULD issue sender-constrained refresh tokens or use refresh token rotation as described \
              in Section 4.3.1\" (RFC 9700 §4.14.2). Applied to a refresh_token grant that authenticates no \
              client (no Basic, client_secret or client_assertion: a public client) answered with a token: \
              unless the token is DPoP-bound (token_type DPoP, RFC 9449), the answer must carry a refresh \
              token other than the one sent. Whether the old one is then refused is the case's next step \
              (RFC9700-2.2.2-rt-replay). A SHOULD, as the draft says.",
    check: |x| {
        let (s, r) = (x.sent, x.received);
        if s.grant_type() != Some("refresh_token")
            || authorize::sent_client_auth(s)
            || !super::read::success(r)
            || body_member(r, "access_token").is_none()
        {
            return vec![];
        }
        let bound = body_member(r, "token_type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("dpop"));
        if bound {
            return vec![];
        }
        let sent = s.form_value("refresh_token");
        match body_member(r, "refresh_token").and_then(Value::as_str) {
            Some(new) if Some(new) != sent => vec![],
            got => vec![Violation::new(format!(
                "a public client's refresh was answered with {}; draft-ietf-oauth-v2-1-16 §4.3: rotate it or sender-constrain it",
                if got.is_some() { "the same refresh token" } else { "no new refresh token" }
            ))
            .expected("a new refresh_token, or token_type DPoP")
            .actual(if got.is_some() { "the refresh token sent" } else { "no refresh_token" })
            .at("$.refresh_token")],
        }
    },
};

pub static NO_QUERY_TOKEN: Rule = Rule {
    id: "OAUTH21-5.1-no-query-token",
    level: Level::Must,
    source: DRAFT_5_1,
    title: "a protected resource does not accept an access token sent only in the URI query",
    explain: "draft-ietf-oauth-v2-1-16 §5.1: \"In particular, clients MUST NOT send the access token in a \
              URI query parameter, and resource servers MUST ignore access tokens in a URI query \
              parameter.\" Applied to a request to a protected resource with `access_token` in the query \
              and no Authorization header: ignored, the request is unauthenticated, so a 2xx answer fails. \
              The case first shows the same token is accepted in the Authorization header.",
    check: |x| {
        let s = x.sent;
        let in_query = s
            .url
            .split_once('#')
            .map_or(s.url.as_str(), |(u, _)| u)
            .split_once('?')
            .is_some_and(|(_, q)| {
                form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "access_token")
            });
        if !in_query || s.authorization.is_some() || !super::read::success(x.received) {
            return vec![];
        }
        vec![Violation::new(format!(
            "a request with the access token only in the URI query was answered {}; draft-ietf-oauth-v2-1-16 §5.1: resource servers MUST ignore it",
            x.received.status
        ))
        .expected("the request treated as unauthenticated (401)")
        .actual(format!("{}", x.received.status))
        .at("access_token")]
    },
};

/// The members of a metadata array of strings.
fn listed<'a>(body: &'a Value, member: &str) -> Vec<&'a str> {
    body.get(member)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

pub static OMITTED_GRANTS: Rule = Rule {
    id: "OAUTH21-10-omitted-grants",
    // As NO_IMPLICIT: the draft omits them without a keyword (§10 is a non-normative list).
    level: Level::Should,
    source: DRAFT_10,
    title: "metadata offers neither the password grant nor the implicit grant",
    explain: "draft-ietf-oauth-v2-1-16 §10: the resource owner password credentials grant and the implicit \
              grant (response_type=token) are omitted from OAuth 2.1 (as RFC 9700 §2.4 and §2.1.2 advise). \
              A server that opts into OAuth 2.1 and lists `password` or `implicit` in \
              grant_types_supported, or a response type with `token` among its space-separated values in \
              response_types_supported (RFC 8414 §2), still offers them. A SHOULD: §10 is the draft's \
              non-normative list of differences and has no keyword of its own. Note RFC 8414's default \
              for a missing grant_types_supported includes implicit; a missing member is not judged.",
    check: |x| {
        let Some(body) = x.received.json.as_ref().filter(|_| x.received.status == 200) else {
            return vec![];
        };
        let mut out = Vec::new();
        for grant in listed(body, "grant_types_supported") {
            if matches!(grant, "password" | "implicit") {
                out.push(
                    Violation::new(format!(
                        "grant_types_supported lists {grant:?}, which OAuth 2.1 omits (draft-ietf-oauth-v2-1-16 §10)"
                    ))
                    .actual(grant)
                    .at("$.grant_types_supported"),
                );
            }
        }
        for kind in listed(body, "response_types_supported") {
            if kind.split(' ').any(|t| t == "token") {
                out.push(
                    Violation::new(format!(
                        "response_types_supported lists {kind:?}, an access token from the authorization endpoint, which OAuth 2.1 omits (§10.1)"
                    ))
                    .actual(kind)
                    .at("$.response_types_supported"),
                );
            }
        }
        out
    },
};

#[cfg(test)]
mod tests {
    use super::super::testutil::{json, received, run_after, run_with, sent};
    use super::*;
    use crate::http::{Received, Sent};
    use serde_json::json;

    fn get(query: &str) -> Sent {
        Sent {
            method: "GET".into(),
            url: format!("https://as.example/authorize?{query}"),
            ..Default::default()
        }
    }

    fn redirect(location: &str) -> Received {
        received(302, &[("location", location)], json!(null))
    }

    #[test]
    fn a_code_from_an_authorize_request_without_a_challenge_gets_no_token() {
        let redeem = sent(
            &[("grant_type", "authorization_code"), ("code", "C1")],
            true,
        );
        let token = json(
            200,
            json!({"access_token": "a".repeat(32), "token_type": "Bearer"}),
        );
        let without = [(
            get("response_type=code"),
            redirect("https://c.example/cb?code=C1"),
        )];
        let with = [(
            get("response_type=code&code_challenge=x&code_challenge_method=S256"),
            redirect("https://c.example/cb?code=C1"),
        )];
        assert_eq!(
            run_after(&PKCE_REQUIRED, &redeem, &token, &without).len(),
            1
        );
        assert!(run_after(&PKCE_REQUIRED, &redeem, &token, &with).is_empty());
        let refused = json(400, json!({"error": "invalid_grant"}));
        assert!(run_after(&PKCE_REQUIRED, &redeem, &refused, &without).is_empty());
    }

    #[test]
    fn a_redirect_uri_extending_the_registered_one_is_not_followed() {
        let registered = [("redirect_uri", "https://c.example/cb")];
        let q = "response_type=code&redirect_uri=https%3A%2F%2Fc.example%2Fcb%2Fother";
        let check = |r: &Received| run_with(&EXACT_REDIRECT, &get(q), r, &registered);
        assert_eq!(
            check(&redirect("https://c.example/cb/other?code=C1")).len(),
            1
        );
        assert_eq!(
            check(&redirect(
                "https://c.example/cb/other?error=invalid_request"
            ))
            .len(),
            1
        );
        assert_eq!(check(&redirect("https://c.example/cb?code=C1")).len(), 1);
        assert!(check(&json(400, json!({"error": "invalid_request"}))).is_empty());
        assert!(check(&redirect("https://as.example/error?error=invalid_request")).is_empty());
        // The registered URI itself is not this rule's business.
        let exact = "response_type=code&redirect_uri=https%3A%2F%2Fc.example%2Fcb";
        let r = redirect("https://c.example/cb?code=C1");
        assert!(run_with(&EXACT_REDIRECT, &get(exact), &r, &registered).is_empty());
    }

    #[test]
    fn response_type_token_answered_with_an_access_token_warns() {
        let q = "response_type=token&client_id=c";
        let check = |location: &str| run_with(&NO_IMPLICIT, &get(q), &redirect(location), &[]);
        assert_eq!(
            check("https://c.example/cb#access_token=x&token_type=Bearer").len(),
            1
        );
        assert_eq!(check("https://c.example/cb?access_token=x").len(), 1);
        assert!(check("https://c.example/cb?error=unsupported_response_type").is_empty());
        let code = get("response_type=code");
        let r = redirect("https://c.example/cb?code=C1");
        assert!(run_with(&NO_IMPLICIT, &code, &r, &[]).is_empty());
    }

    #[test]
    fn a_public_clients_refresh_needs_a_new_refresh_token_or_dpop() {
        let public = sent(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "R1"),
                ("client_id", "c"),
            ],
            false,
        );
        let answer = |rt: Option<&str>, kind: &str| {
            let mut body = json!({"access_token": "a".repeat(32), "token_type": kind});
            if let Some(rt) = rt {
                body["refresh_token"] = json!(rt);
            }
            json(200, body)
        };
        let check = |s: &Sent, r: &Received| run_with(&PUBLIC_REFRESH, s, r, &[]);
        assert!(check(&public, &answer(Some("R2"), "Bearer")).is_empty());
        assert_eq!(check(&public, &answer(Some("R1"), "Bearer")).len(), 1);
        assert_eq!(check(&public, &answer(None, "Bearer")).len(), 1);
        assert!(check(&public, &answer(Some("R1"), "DPoP")).is_empty());
        // A confidential client is bound by its authentication.
        let confidential = sent(
            &[("grant_type", "refresh_token"), ("refresh_token", "R1")],
            true,
        );
        assert!(check(&confidential, &answer(Some("R1"), "Bearer")).is_empty());
        let posted = sent(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "R1"),
                ("client_id", "c"),
                ("client_secret", "s"),
            ],
            false,
        );
        assert!(check(&posted, &answer(Some("R1"), "Bearer")).is_empty());
        let refused = json(400, json!({"error": "invalid_grant"}));
        assert!(check(&public, &refused).is_empty());
    }

    #[test]
    fn a_token_only_in_the_query_must_not_be_accepted() {
        let at = |url: &str, authorization: Option<&str>| Sent {
            method: "GET".into(),
            url: url.into(),
            authorization: authorization.map(String::from),
            ..Default::default()
        };
        let ok = json(200, json!({"sub": "u"}));
        let refused = received(401, &[("www-authenticate", "Bearer")], json!(null));
        let check = |s: &Sent, r: &Received| run_with(&NO_QUERY_TOKEN, s, r, &[]);
        let query = at("https://rs.example/me?x=1&access_token=T", None);
        assert_eq!(check(&query, &ok).len(), 1);
        assert!(check(&query, &refused).is_empty());
        // The header's token is accepted; a query parameter beside it is not this rule's business.
        let header = at("https://rs.example/me", Some("Bearer T"));
        assert!(check(&header, &ok).is_empty());
        let both = at("https://rs.example/me?access_token=T", Some("Bearer T"));
        assert!(check(&both, &ok).is_empty());
        let fragment = at("https://rs.example/me#access_token=T", None);
        assert!(check(&fragment, &ok).is_empty());
    }

    #[test]
    fn metadata_offering_password_or_implicit_warns() {
        let s = Sent::default();
        let check = |body: Value| run_with(&OMITTED_GRANTS, &s, &json(200, body), &[]);
        let clean = json!({
            "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
            "response_types_supported": ["code", "code id_token"],
        });
        assert!(check(clean).is_empty());
        assert!(check(json!({})).is_empty());
        let v = check(json!({
            "grant_types_supported": ["authorization_code", "password", "implicit"],
            "response_types_supported": ["code", "token", "code id_token token"],
        }));
        assert_eq!(v.len(), 4, "{v:?}");
    }
}
