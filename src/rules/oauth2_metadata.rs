//! RFC 8414 authorization server metadata: the document itself (`oauth2.metadata`), applied to
//! the answer to `GET {{ metadata_path }}`. The configured issuer is the `issuer` var, which
//! discovery fills (or the target gives).

use reqwest::Url;
use serde_json::Value;

use super::read::{body_member, not_json_object, success};
use super::{Rule, RuleSet, Violation};
use crate::finding::Level;

const RFC8414_2: &str = "https://www.rfc-editor.org/rfc/rfc8414#section-2";
const RFC8414_3_3: &str = "https://www.rfc-editor.org/rfc/rfc8414#section-3.3";

pub static METADATA: RuleSet = RuleSet {
    includes: &[],
    name: "oauth2.metadata",
    summary: "an RFC 8414 authorization server metadata document: required members, issuer, https",
    rules: &[
        &REQUIRED_MEMBERS,
        &ISSUER_IDENTICAL,
        &HTTPS_ENDPOINTS,
        &NONEMPTY_SUPPORT,
    ],
};

/// Members whose value is a URL the client sends requests (or trusts keys) to.
const URL_MEMBERS: &[&str] = &[
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "registration_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
    "userinfo_endpoint",
    "device_authorization_endpoint",
    "pushed_authorization_request_endpoint",
];

fn strings(r: &crate::http::Received, member: &str) -> Option<Vec<String>> {
    body_member(r, member)?.as_array().map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    })
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

pub static REQUIRED_MEMBERS: Rule = Rule {
    id: "RFC8414-2-required",
    level: Level::Must,
    source: RFC8414_2,
    title: "the metadata has issuer, response_types_supported, and the endpoints its grants need",
    explain: "RFC 8414 §2: issuer is REQUIRED; response_types_supported is REQUIRED; token_endpoint is \
              \"REQUIRED unless only the implicit grant type is supported\"; authorization_endpoint is \
              \"REQUIRED unless no grant types are supported that use the authorization endpoint\" \
              (authorization_code and implicit use it; grant_types_supported defaults to both). The \
              document is a JSON object (§3.2).",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        if let Some(v) = not_json_object(r) {
            return vec![v];
        }
        let grants = strings(r, "grant_types_supported")
            .unwrap_or_else(|| vec!["authorization_code".into(), "implicit".into()]);
        let mut missing = Vec::new();
        for name in ["issuer", "response_types_supported"] {
            if body_member(r, name).is_none() {
                missing.push(name);
            }
        }
        let only_implicit = !grants.is_empty() && grants.iter().all(|g| g == "implicit");
        if !only_implicit && body_member(r, "token_endpoint").is_none() {
            missing.push("token_endpoint");
        }
        let uses_authorize = grants
            .iter()
            .any(|g| g == "authorization_code" || g == "implicit");
        if uses_authorize && body_member(r, "authorization_endpoint").is_none() {
            missing.push("authorization_endpoint");
        }
        if missing.is_empty() {
            return vec![];
        }
        vec![Violation::new(format!(
            "the metadata lacks {}; RFC 8414 §2 requires them",
            missing.join(", ")
        ))
        .expected(missing.join(", "))
        .actual("absent")]
    },
};

pub static ISSUER_IDENTICAL: Rule = Rule {
    id: "RFC8414-3.3-issuer",
    level: Level::Must,
    source: RFC8414_3_3,
    title: "the metadata's issuer is identical to the configured issuer",
    explain: "RFC 8414 §3.3: \"The \\\"issuer\\\" value returned MUST be identical to the authorization \
              server's issuer identifier value into which the well-known URI string was inserted to \
              create the URL used to retrieve the metadata. If these values are not identical, the data \
              contained in the response MUST NOT be used.\" Identical means character for character (a \
              trailing slash counts). Compared with the `issuer` var (what the target gave); without one, \
              not checked. Discovery itself refuses such a document before anything is sent.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        let Some(configured) = x.values.get("issuer").filter(|s| !s.is_empty()) else {
            return vec![];
        };
        match body_member(r, "issuer") {
            Some(Value::String(said)) if said == configured => vec![],
            Some(Value::String(said)) => vec![Violation::new(format!(
                "the metadata names issuer {said:?}, not {configured:?}; RFC 8414 §3.3: it MUST be identical"
            ))
            .expected(configured.to_string())
            .actual(said.clone())
            .at("$.issuer")],
            _ => vec![],
        }
    },
};

pub static HTTPS_ENDPOINTS: Rule = Rule {
    id: "RFC8414-2-https",
    level: Level::Must,
    source: RFC8414_2,
    title: "issuer and endpoints are https URLs (loopback hosts excepted)",
    explain: "RFC 8414 §2: the issuer is \"a URL that uses the \\\"https\\\" scheme and has no query or \
              fragment components\"; jwks_uri \"MUST use the \\\"https\\\" scheme\"; RFC 6749 §3.1 and §3.2 \
              require TLS for the authorization and token endpoints, and RFC 7009 §2 / RFC 7662 §4 for \
              revocation and introspection. Every URL member must be an https URL; http is accepted for \
              loopback hosts (127.0.0.1, ::1, localhost), where test servers run and nothing crosses a \
              network.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        let mut out = Vec::new();
        for member in URL_MEMBERS {
            let Some(value) = body_member(r, member) else {
                continue;
            };
            let Some(text) = value.as_str() else {
                out.push(
                    Violation::new(format!("{member} is not a string URL"))
                        .expected("an https URL")
                        .at(format!("$.{member}")),
                );
                continue;
            };
            let why = match Url::parse(text) {
                Err(_) => Some("is not a URL"),
                Ok(u) if u.scheme() == "https" => None,
                Ok(u) if u.scheme() == "http" && is_loopback(&u) => None,
                Ok(_) => Some("does not use https"),
            };
            let why = why.or_else(|| {
                let fragment_or_query = Url::parse(text)
                    .is_ok_and(|u| u.fragment().is_some() || u.query().is_some());
                (*member == "issuer" && fragment_or_query).then_some("has a query or fragment")
            });
            if let Some(why) = why {
                out.push(
                    Violation::new(format!("{member} {text:?} {why}; RFC 8414 §2"))
                        .expected("an https URL")
                        .actual(text.to_string())
                        .at(format!("$.{member}")),
                );
            }
        }
        out
    },
};

/// The lists discovery skips cases by: empty, they would say the token endpoint serves no one.
const SUPPORT_LISTS: &[&str] = &[
    "grant_types_supported",
    "token_endpoint_auth_methods_supported",
];

pub static NONEMPTY_SUPPORT: Rule = Rule {
    id: "RFC8414-2-supported-not-empty",
    // §2 forbids no empty list in words; that one contradicts the token_endpoint the document
    // names is an inference, so a warning.
    level: Level::Should,
    source: RFC8414_2,
    title: "grant_types_supported and token_endpoint_auth_methods_supported are not empty lists",
    explain: "RFC 8414 §2: grant_types_supported is the list of grant types \"this authorization \
              server supports\" and token_endpoint_auth_methods_supported the \"client authentication \
              methods supported by this token endpoint\" (a public client's is `none`); token_endpoint is \
              REQUIRED unless only the implicit grant is supported. A server with a token endpoint \
              supports at least one of each, so an empty list describes a server no client can use. \
              Left out, each has its default; an empty one is not a default. Discovery skips the cases \
              that need a success for what these lists leave out (never the probes that expect a \
              refusal), so empty lists would otherwise turn a run into skips. A SHOULD: §2 does not forbid \
              an empty list in words.",
    check: |x| {
        let r = x.received;
        if !success(r) {
            return vec![];
        }
        SUPPORT_LISTS
            .iter()
            .filter(|member| body_member(r, member).and_then(Value::as_array).is_some_and(Vec::is_empty))
            .map(|member| {
                Violation::new(format!(
                    "{member} is an empty list: the server would support nothing; RFC 8414 §2"
                ))
                .expected("at least one value")
                .actual("[]")
                .at(format!("$.{member}"))
            })
            .collect()
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testutil::*;
    use serde_json::json;

    fn good() -> serde_json::Value {
        json!({
            "issuer": "https://as.example",
            "authorization_endpoint": "https://as.example/authorize",
            "token_endpoint": "https://as.example/token",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
        })
    }

    #[test]
    fn required_members() {
        let s = bearer("x");
        passes(&REQUIRED_MEMBERS, &s, &json(200, good()));
        let mut no_token = good();
        no_token.as_object_mut().unwrap().remove("token_endpoint");
        fails(&REQUIRED_MEMBERS, &s, &json(200, no_token));
        // Only client credentials: no authorization endpoint needed.
        let cc = json!({"issuer": "https://as.example", "token_endpoint": "https://as.example/t",
                        "response_types_supported": [], "grant_types_supported": ["client_credentials"]});
        passes(&REQUIRED_MEMBERS, &s, &json(200, cc));
        // grant_types_supported left out: the default includes authorization_code.
        let default = json!({"issuer": "https://as.example", "token_endpoint": "https://as.example/t",
                             "response_types_supported": ["code"]});
        fails(&REQUIRED_MEMBERS, &s, &json(200, default));
        fails(
            &REQUIRED_MEMBERS,
            &s,
            &received(200, &[], json!(["not", "an object"])),
        );
    }

    /// The F8 reproduction's metadata: empty lists are a finding, left-out ones are defaults.
    #[test]
    fn empty_support_lists_are_a_finding() {
        let s = bearer("x");
        passes(&NONEMPTY_SUPPORT, &s, &json(200, good()));
        let mut empty = good();
        empty["grant_types_supported"] = json!([]);
        empty["token_endpoint_auth_methods_supported"] = json!([]);
        assert_eq!(
            run_with(&NONEMPTY_SUPPORT, &s, &json(200, empty), &[]).len(),
            2
        );
        let mut left_out = good();
        left_out
            .as_object_mut()
            .unwrap()
            .remove("grant_types_supported");
        passes(&NONEMPTY_SUPPORT, &s, &json(200, left_out));
    }

    #[test]
    fn issuer_identical() {
        let s = bearer("x");
        let r = json(200, good());
        assert!(run_with(
            &ISSUER_IDENTICAL,
            &s,
            &r,
            &[("issuer", "https://as.example")]
        )
        .is_empty());
        assert_eq!(
            run_with(
                &ISSUER_IDENTICAL,
                &s,
                &r,
                &[("issuer", "https://as.example/")]
            )
            .len(),
            1
        );
        // Nothing configured: nothing to compare.
        passes(&ISSUER_IDENTICAL, &s, &r);
    }

    #[test]
    fn https_endpoints_except_on_loopback() {
        let s = bearer("x");
        passes(&HTTPS_ENDPOINTS, &s, &json(200, good()));
        let mut plain = good();
        plain["token_endpoint"] = json!("http://as.example/token");
        fails(&HTTPS_ENDPOINTS, &s, &json(200, plain));
        let mut loopback = good();
        loopback["issuer"] = json!("http://127.0.0.1:8080");
        loopback["token_endpoint"] = json!("http://localhost:8080/token");
        passes(&HTTPS_ENDPOINTS, &s, &json(200, loopback));
        let mut query = good();
        query["issuer"] = json!("https://as.example/?tenant=1");
        fails(&HTTPS_ENDPOINTS, &s, &json(200, query));
    }
}
