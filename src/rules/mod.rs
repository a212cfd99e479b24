//! The OAuth rule library: named rule sets referenced from suites, each rule with an id, a level
//! and the clause it comes from. Rules read their context from the exchange, so suites don't repeat it.

pub mod json;
pub mod jwt;
mod miaw;
mod oauth2;
mod oauth21;
mod oauth2_authorize;
mod oauth2_cross;
mod oauth2_dpop;
mod oauth2_endpoints;
mod oauth2_jwt;
mod oauth2_metadata;
mod oauth2_par;
mod oauth2_probes;
mod read;
mod salesforce;
mod talkdesk;
#[cfg(test)]
mod testutil;

use std::sync::LazyLock;

use crate::expected::{Deviation, KnownDeviations};
use crate::finding::{Finding, Level};
use crate::http::{Received, Sent};
use crate::suite::template::Scope;

/// What a rule sees: the request as sent, the response, and the case's values (vars, secrets,
/// captures), e.g. the client secret that keys Salesforce's signature. Never rendered.
pub struct Exchange<'a> {
    pub sent: &'a Sent,
    pub received: &'a Received,
    pub values: &'a Scope<'a>,
    /// The earlier steps of the same case, in order: what a cross-response rule compares with
    /// (the token response that issued the token this request introspects).
    pub earlier: &'a [(Sent, Received)],
}

/// What a rule found wrong; the rule adds its id, level and source.
#[derive(Debug, Clone, Default)]
pub struct Violation {
    pub message: String,
    pub expected: Option<String>,
    pub actual: Option<String>,
    pub path: Option<String>,
}

impl Violation {
    pub fn new(message: impl Into<String>) -> Violation {
        Violation {
            message: message.into(),
            ..Default::default()
        }
    }

    pub fn expected(mut self, e: impl Into<String>) -> Violation {
        self.expected = Some(e.into());
        self
    }

    pub fn actual(mut self, a: impl Into<String>) -> Violation {
        self.actual = Some(a.into());
        self
    }

    pub fn at(mut self, p: impl Into<String>) -> Violation {
        self.path = Some(p.into());
        self
    }
}

pub struct Rule {
    /// `RFC6749-5.1-no-store`: the document, the clause, the point.
    pub id: &'static str,
    pub level: Level,
    pub source: &'static str,
    /// One line: what must hold.
    pub title: &'static str,
    /// What it checks and why, for `tokenconf explain`.
    pub explain: &'static str,
    pub check: fn(&Exchange) -> Vec<Violation>,
}

/// A name a suite uses in `rules: [...]`.
pub struct RuleSet {
    pub name: &'static str,
    pub summary: &'static str,
    /// Sets whose rules this one holds too (a vendor's token response builds on RFC 6749's).
    pub includes: &'static [&'static RuleSet],
    /// Its own rules, after those of `includes`.
    pub rules: &'static [&'static Rule],
}

impl RuleSet {
    /// Every rule the set holds, its includes' first, each once.
    pub fn members(&'static self) -> Vec<&'static Rule> {
        let mut out: Vec<&'static Rule> = Vec::new();
        for inc in self.includes {
            for rule in inc.members() {
                if !out.iter().any(|r| r.id == rule.id) {
                    out.push(rule);
                }
            }
        }
        for rule in self.rules {
            if !out.iter().any(|r| r.id == rule.id) {
                out.push(rule);
            }
        }
        out
    }

    /// Whether `known` lists `id` under this set (or one it includes): a vendor's documented
    /// deviation, reported and never failing.
    pub fn deviates(&self, id: &str, known: &KnownDeviations) -> bool {
        self.deviation(id, known).is_some()
    }

    /// The entry of `known` that makes `id` a deviation under this set, if any.
    pub fn deviation<'k>(&self, id: &str, known: &'k KnownDeviations) -> Option<&'k Deviation> {
        known
            .find(self.name, id)
            .or_else(|| self.includes.iter().find_map(|i| i.deviation(id, known)))
    }
}

static SETS: &[&RuleSet] = &[
    &oauth2::TOKEN_RESPONSE,
    &oauth2::ERROR_RESPONSE,
    &oauth2_probes::REFRESH_RESPONSE,
    &oauth2_probes::REPLAY_REFUSED,
    &oauth2_probes::PASSWORD_GRANT_REFUSED,
    &oauth2_probes::PKCE_REFUSED,
    &oauth2_authorize::PKCE_DOWNGRADE_REFUSED,
    &oauth2_authorize::AUTHORIZATION_RESPONSE_ISS,
    &oauth2_endpoints::REVOCATION_RESPONSE,
    &oauth2_endpoints::REVOCATION_INVALID_TOKEN,
    &oauth2_endpoints::REVOCATION_ERROR_RESPONSE,
    &oauth2_endpoints::INTROSPECTION_RESPONSE,
    &oauth2_endpoints::INTROSPECTION_AUTH_REQUIRED,
    &oauth2_endpoints::TOKEN_EXCHANGE_RESPONSE,
    &oauth2_endpoints::TOKEN_EXCHANGE_REFUSED,
    &oauth2_probes::BEARER_CHALLENGE,
    &oauth2_cross::ACTOR_TOKEN_REFUSED,
    &oauth2_cross::SECURITY_ADVICE,
    &oauth2_metadata::METADATA,
    &oauth2_jwt::JWT_ACCESS_TOKEN,
    &oauth2_jwt::ID_TOKEN,
    &oauth21::AUTHORIZE,
    &oauth21::TOKEN,
    &oauth21::REFRESH,
    &oauth21::METADATA,
    &oauth21::RESOURCE,
    &oauth2_dpop::TOKEN_RESPONSE,
    &oauth2_dpop::INTROSPECTION,
    &oauth2_dpop::PROOF_REFUSED,
    &oauth2_dpop::REPLAY_REFUSED,
    &oauth2_dpop::REFRESH_BOUND_SET,
    &oauth2_dpop::RESOURCE,
    &oauth2_dpop::JKT_BOUND_SET,
    &oauth2_dpop::NONCE_REQUIRED_SET,
    &oauth2_par::PUSH_RESPONSE,
    &oauth2_par::PUSH_REFUSED,
    &oauth2_par::REUSE_REFUSED,
    &oauth2_par::EXPIRED_REFUSED,
    &oauth2_par::REQUIRED,
    &talkdesk::TOKEN_RESPONSE,
    &talkdesk::REFRESH_RESPONSE,
    &talkdesk::ERROR_RESPONSE,
    &talkdesk::AUTHORIZE_REFUSED,
    &salesforce::TOKEN_RESPONSE,
    &salesforce::REFRESH_RESPONSE,
    &salesforce::ERROR_RESPONSE,
    &salesforce::REVOCATION_RESPONSE,
    &salesforce::REVOCATION_INVALID_TOKEN,
    &salesforce::INTROSPECTION_RESPONSE,
    &salesforce::JWT_ACCESS_TOKEN,
    &salesforce::AUTHORIZE_REFUSED,
    &miaw::ACCESS_TOKEN_RESPONSE,
    &miaw::AUTHENTICATED_ACCESS_TOKEN,
    &miaw::CONTINUATION_RESPONSE,
    &miaw::ERROR_RESPONSE,
    &miaw::BEARER_CHALLENGE,
    &json::UNIQUE_NAMES_SET,
];

pub fn sets() -> &'static [&'static RuleSet] {
    SETS
}

pub fn find_set(name: &str) -> Option<&'static RuleSet> {
    SETS.iter().copied().find(|s| s.name == name)
}

/// Every rule once, in the order the sets list them.
pub fn all_rules() -> &'static [&'static Rule] {
    static ALL: LazyLock<Vec<&'static Rule>> = LazyLock::new(|| {
        let mut out: Vec<&'static Rule> = Vec::new();
        for set in SETS {
            for rule in set.members() {
                if !out.iter().any(|r| r.id == rule.id) {
                    out.push(rule);
                }
            }
        }
        out
    });
    &ALL
}

pub fn find_rule(id: &str) -> Option<&'static Rule> {
    all_rules()
        .iter()
        .copied()
        .find(|r| r.id.eq_ignore_ascii_case(id))
}

/// The ids of the members of the set at `index` in [`sets`], each once: what a case lists as
/// checked, worked out once per process rather than at every response.
pub fn member_ids(index: usize) -> &'static [&'static str] {
    static IDS: LazyLock<Vec<Vec<&'static str>>> = LazyLock::new(|| {
        SETS.iter()
            .map(|s| s.members().iter().map(|r| r.id).collect())
            .collect()
    });
    IDS.get(index).map_or(&[], Vec::as_slice)
}

/// Why rule `id` does not bind the vendor of `set` (RFC 6750's challenge on MIAW, which documents
/// none), if so: against a real target its findings under `set` are unconfirmed.
pub fn not_binding(set: &RuleSet, id: &str) -> Option<&'static str> {
    miaw::NOT_BINDING
        .iter()
        .find(|(s, r, _)| *s == set.name && *r == id)
        .map(|(_, _, why)| *why)
}

/// Every rule of `set` held against `exchange`; a rule `known` lists under it is a known deviation.
pub fn evaluate(set: &RuleSet, exchange: &Exchange, known: &KnownDeviations) -> Vec<Finding> {
    let mut out = Vec::new();
    collect(set, set, exchange, known, &mut out);
    out
}

/// Per rule set, the ids of the rules it holds and the sets that include it: what a
/// known-deviations file may name, and whether an entry reaches other vendors.
pub fn set_members() -> Vec<crate::expected::SetMembers> {
    fn includes(outer: &RuleSet, name: &str) -> bool {
        outer
            .includes
            .iter()
            .any(|i| i.name == name || includes(i, name))
    }
    SETS.iter()
        .map(|s| crate::expected::SetMembers {
            name: s.name,
            rules: s.members().iter().map(|r| r.id).collect(),
            included_by: SETS
                .iter()
                .filter(|outer| includes(outer, s.name))
                .map(|outer| outer.name)
                .collect(),
        })
        .collect()
}

/// The rules of `set` and its includes, with `outer`'s deviations; no allocation per rule.
fn collect(
    outer: &RuleSet,
    set: &RuleSet,
    exchange: &Exchange,
    known: &KnownDeviations,
    out: &mut Vec<Finding>,
) {
    for inc in set.includes {
        collect(outer, inc, exchange, known, out);
    }
    for rule in set.rules {
        let deviation = outer.deviation(rule.id, known);
        let level = match deviation {
            Some(_) => Level::KnownDeviation,
            None => rule.level,
        };
        for v in (rule.check)(exchange) {
            // Counted, so a run can list the user's deviations that applied.
            if let Some(d) = deviation {
                d.applied_once();
            }
            out.push(Finding {
                rule: rule.id.to_string(),
                level,
                message: v.message,
                expected: v.expected,
                actual: v.actual,
                source: Some(rule.source.to_string()),
                path: v.path,
                accepted: None,
                step: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_not_binding_entry_names_a_rule_its_set_holds() {
        for (set, rule, _) in miaw::NOT_BINDING {
            let s = find_set(set).unwrap_or_else(|| panic!("no set {set}"));
            assert!(
                s.members().iter().any(|r| r.id == *rule),
                "{set} holds no {rule}"
            );
        }
        let miaw = find_set("miaw.bearer-challenge").unwrap();
        assert!(not_binding(miaw, "RFC6750-3-challenge").is_some());
        let generic = find_set("oauth2.bearer-challenge").unwrap();
        assert!(not_binding(generic, "RFC6750-3-challenge").is_none());
    }

    #[test]
    fn included_rules_run_once_under_the_outer_sets_deviations() {
        let body = serde_json::json!({"access_token": "a".repeat(32), "token_type": "Bearer"});
        let received = testutil::received(
            200,
            &[
                ("content-type", "application/json"),
                ("cache-control", "no-store"),
                ("pragma", "no-cache"),
            ],
            body,
        );
        let empty = crate::suite::template::Values::default();
        let values = Scope {
            captures: &empty,
            base: &empty,
        };
        let sent = Sent::default();
        let ex = Exchange {
            sent: &sent,
            received: &received,
            values: &values,
            earlier: &[],
        };
        let known = KnownDeviations::built_in();
        let count = |set: &RuleSet, level: Level| {
            evaluate(set, &ex, &known)
                .iter()
                .filter(|f| f.rule == "RFC6749-5.1-expires_in-present" && f.level == level)
                .count()
        };
        // Salesforce documents no expires_in: through its refresh set (which includes its token
        // set, which includes RFC 6749's) the finding is one known deviation, not a warning.
        let sf = find_set("salesforce.refresh-response").unwrap();
        assert_eq!(count(sf, Level::KnownDeviation), 1);
        assert_eq!(count(sf, Level::Should), 0);
        assert_eq!(
            count(find_set("oauth2.refresh-response").unwrap(), Level::Should),
            1
        );
        assert!(sf.members().iter().any(|r| r.id == "RFC9068-2.2-claims"));
    }
}
