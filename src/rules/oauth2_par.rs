//! Pushed authorization requests (RFC 9126): the push's answer, and the authorize endpoint's
//! refusals of a request_uri that is spent, and of a request not pushed when PAR is required.

use serde_json::Value;

use super::read::{body_member, success};
use super::{Rule, RuleSet, Violation};
use crate::finding::Level;
use crate::http::Received;

const RFC9126_2_1: &str = "https://www.rfc-editor.org/rfc/rfc9126#section-2.1";
const RFC9126_2_2: &str = "https://www.rfc-editor.org/rfc/rfc9126#section-2.2";
const RFC9126_4: &str = "https://www.rfc-editor.org/rfc/rfc9126#section-4";
const RFC9126_5: &str = "https://www.rfc-editor.org/rfc/rfc9126#section-5";

pub static PUSH_RESPONSE: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.par-response",
    summary: "a pushed authorization request is answered 201 with request_uri and expires_in",
    rules: &[&CREATED],
};

pub static PUSH_REFUSED: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.par-request-uri-refused",
    summary: "a pushed request that itself carries request_uri is refused",
    rules: &[&REQUEST_URI_IN_PUSH],
};

pub static REUSE_REFUSED: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.par-reuse-refused",
    summary: "a request_uri used a second time issues no code",
    rules: &[&SINGLE_USE],
};

pub static EXPIRED_REFUSED: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.par-expired-refused",
    summary: "a request_uri used after its expires_in issues no code",
    rules: &[&EXPIRED],
};

pub static REQUIRED: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.par-required",
    summary: "a server that requires PAR issues no code for an authorization request not pushed",
    rules: &[&PAR_REQUIRED],
};

pub static CREATED: Rule = Rule {
    id: "RFC9126-2.2-created",
    level: Level::Must,
    source: RFC9126_2_2,
    title: "a pushed request is answered 201 with a string request_uri and a positive expires_in",
    explain:
        "RFC 9126 §2.2: on success the server \"MUST\" answer with a 201 status code and a JSON \
              body whose request_uri (REQUIRED, a string) is what the client sends to the \
              authorization endpoint and expires_in (REQUIRED) is a positive integer of seconds.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        let mut out = Vec::new();
        if r.status != 201 {
            out.push(
                Violation::new("a pushed authorization request succeeded without 201 Created")
                    .expected("201")
                    .actual(r.status.to_string()),
            );
        }
        match body_member(r, "request_uri") {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => out.push(
                Violation::new("request_uri is missing or not a string")
                    .expected("a string")
                    .at("$.request_uri"),
            ),
        }
        match body_member(r, "expires_in").and_then(Value::as_u64) {
            Some(n) if n > 0 => {}
            _ => out.push(
                Violation::new("expires_in is missing or not a positive integer")
                    .expected("a positive integer (seconds)")
                    .at("$.expires_in"),
            ),
        }
        out
    },
};

pub static REQUEST_URI_IN_PUSH: Rule = Rule {
    id: "RFC9126-2.1-request-uri-refused",
    level: Level::Must,
    source: RFC9126_2_1,
    title: "a pushed request carrying request_uri is refused with 400",
    explain: "RFC 9126 §2.1: every authorization request parameter may be pushed except \
              request_uri, which \"MUST NOT be provided\"; §2.3: a request the server cannot accept is \
              answered with an error response (400, invalid_request for a malformed request).",
    check: |x| {
        let r = x.received;
        if r.status == 400 {
            return vec![];
        }
        vec![Violation::new("a pushed request that carries request_uri was not refused with 400")
            .expected("400")
            .actual(r.status.to_string())]
    },
};

/// The `code` a redirect from the authorize endpoint carries, if it carries one.
fn issues_code(r: &Received) -> bool {
    if !(300..400).contains(&r.status) {
        return false;
    }
    let Some(location) = r.header("location") else {
        return false;
    };
    let Ok(url) = url::Url::parse(location)
        .or_else(|_| url::Url::parse("https://relative.invalid").and_then(|b| b.join(location)))
    else {
        return false;
    };
    let fragment_pairs = url
        .fragment()
        .map(|f| {
            form_urlencoded::parse(f.as_bytes())
                .into_owned()
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    url.query_pairs()
        .into_owned()
        .chain(fragment_pairs)
        .any(|(k, _)| k == "code")
}

fn refused(r: &Received, what: &str) -> Vec<Violation> {
    if !issues_code(r) {
        return vec![];
    }
    vec![
        Violation::new(format!("{what}, yet the authorize endpoint issued a code"))
            .expected("an error (a page, or a redirect with error=)")
            .actual(format!("{} with a code in Location", r.status))
            .at("header location"),
    ]
}

pub static SINGLE_USE: Rule = Rule {
    id: "RFC9126-4-request-uri-single-use",
    level: Level::Should,
    source: RFC9126_4,
    title: "a request_uri is one-time use",
    explain:
        "RFC 9126 §4: the client \"MUST only use a request_uri value once\", and \"authorization \
              servers SHOULD treat request_uri values as one-time use but MAY allow for duplicate \
              requests due to a user reloading/refreshing their user agent\". A second use that \
              issues a code is a warning.",
    check: |x| refused(x.received, "the request_uri was already used"),
};

pub static EXPIRED: Rule = Rule {
    id: "RFC9126-4-request-uri-expired",
    level: Level::Must,
    source: RFC9126_4,
    title: "a request_uri used after it expires is refused",
    explain: "RFC 9126 §4: \"An expired request_uri MUST be rejected as invalid.\" Held in a step \
              that waits out the push's expires_in (§2.2) before its first use: a code issued \
              then fails; a redirect with error= or an error page passes.",
    check: |x| refused(x.received, "the request_uri had expired"),
};

pub static PAR_REQUIRED: Rule = Rule {
    id: "RFC9126-5-par-required",
    level: Level::Must,
    source: RFC9126_5,
    title: "with require_pushed_authorization_requests, an authorization request not pushed is refused",
    explain: "RFC 9126 §5: require_pushed_authorization_requests says whether \"the authorization \
              server accepts authorization request data only via PAR\"; a server whose metadata says \
              true and still issues a code for a request without request_uri does not do what its \
              metadata declares. Held in cases that require `par_required` (from that metadata).",
    check: |x| {
        if x.sent.url.contains("request_uri=") {
            return vec![];
        }
        refused(x.received, "the authorization request was not pushed")
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testutil::{self, json, received};
    use serde_json::json;

    #[test]
    fn a_push_is_201_with_request_uri_and_expires_in() {
        let s = testutil::sent(&[("response_type", "code")], true);
        let good = json(
            201,
            json!({"request_uri": "urn:ietf:params:oauth:request_uri:x", "expires_in": 60}),
        );
        testutil::passes(&CREATED, &s, &good);
        testutil::fails(
            &CREATED,
            &s,
            &json(200, json!({"request_uri": "urn:x", "expires_in": 60})),
        );
        testutil::fails(&CREATED, &s, &json(201, json!({"expires_in": 60})));
        testutil::fails(
            &CREATED,
            &s,
            &json(201, json!({"request_uri": "urn:x", "expires_in": "60"})),
        );
        // An error is other rules' business.
        testutil::passes(
            &CREATED,
            &s,
            &json(400, json!({"error": "invalid_request"})),
        );
    }

    #[test]
    fn a_push_carrying_request_uri_is_400() {
        let s = testutil::sent(&[("request_uri", "urn:x")], true);
        testutil::passes(
            &REQUEST_URI_IN_PUSH,
            &s,
            &json(400, json!({"error": "invalid_request"})),
        );
        testutil::fails(
            &REQUEST_URI_IN_PUSH,
            &s,
            &json(201, json!({"request_uri": "urn:y", "expires_in": 60})),
        );
    }

    #[test]
    fn a_spent_or_unpushed_request_issues_no_code() {
        let mut s = testutil::sent(&[], false);
        s.method = "GET".into();
        s.url = "https://as.test/authorize?client_id=c&response_type=code".into();
        let code = received(
            302,
            &[("location", "https://client.test/cb?code=abc&state=s")],
            json!(null),
        );
        let error = received(
            302,
            &[("location", "https://client.test/cb?error=invalid_request")],
            json!(null),
        );
        let page = json(400, json!({"error": "invalid_request"}));
        for rule in [&SINGLE_USE, &PAR_REQUIRED, &EXPIRED] {
            testutil::fails(rule, &s, &code);
            testutil::passes(rule, &s, &error);
            testutil::passes(rule, &s, &page);
        }
        // A pushed request may issue a code, required or not.
        s.url = "https://as.test/authorize?client_id=c&request_uri=urn%3Ax".into();
        testutil::passes(&PAR_REQUIRED, &s, &code);
    }
}
