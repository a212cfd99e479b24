//! What a target's org does, as far as a case needs to know before sending: the names a
//! targets file declares under `capabilities:` and a case names under `requires:`. A leaf.

/// One thing an org may or may not do.
pub struct Capability {
    pub name: &'static str,
    /// What declaring it promises, in the vendor's terms.
    pub meaning: &'static str,
}

/// Every capability, in the order `tokenconf validate` lists them.
pub static CAPABILITIES: &[Capability] = &[
    Capability {
        name: "auto_authorize",
        meaning: "the authorize endpoint answers 302 with a code, without a login page (a test client, or a pre-approved session)",
    },
    Capability {
        name: "rotates_refresh_tokens",
        meaning: "a refresh answers with a new refresh token and retires the old one (an optional org or client setting)",
    },
    Capability {
        name: "password_grant",
        meaning: "the resource-owner password grant is enabled for this client",
    },
    Capability {
        name: "jwt_access_tokens",
        meaning: "access tokens are JWTs, not opaque strings (Salesforce: the app's JWT-based access tokens setting)",
    },
    Capability {
        name: "user_verification",
        meaning: "a MIAW deployment with User Verification on: authenticated (verified) conversations",
    },
    Capability {
        name: "guest_access",
        meaning: "a MIAW deployment with User Verification off and no CAPTCHA: unauthenticated (guest) conversations",
    },
    Capability {
        name: "refresh_token_grant",
        meaning: "the client may use the refresh_token grant and is issued refresh tokens",
    },
    Capability {
        name: "captcha",
        meaning: "a MIAW deployment with User Verification off and CAPTCHA on: a guest token needs a captchaToken",
    },
    Capability {
        name: "hybrid_app",
        meaning: "a Salesforce connected app that may use the hybrid user-agent token flow (response_type=hybrid_token)",
    },
    Capability {
        name: "pkce_required",
        meaning: "the authorize endpoint refuses a code request without a PKCE code_challenge (RFC 7636 §4.4.1; OAuth 2.1)",
    },
    Capability {
        name: "oauth_2_1",
        meaning: "the server follows OAuth 2.1 (draft-ietf-oauth-v2-1-16): PKCE on every code, exact redirect URIs, no implicit or password grant, no access token in a URI query; adds the oauth21.* rules' cases",
    },
    Capability {
        name: "token_exchange_handler",
        meaning: "Salesforce token exchange is enabled on the app with an Apex token-exchange handler that accepts the target's external_subject_token (a token of the external identity provider it validates)",
    },
    Capability {
        name: "refuses_jti_replay",
        meaning: "the token endpoint refuses a client assertion whose jti it has seen (RFC 7523 §3 makes this a MAY)",
    },
    Capability {
        name: "dpop",
        meaning: "the server binds tokens to a DPoP key (RFC 9449) when a request carries a proof; taken from metadata (dpop_signing_alg_values_supported with ES256) where given",
    },
    Capability {
        name: "dpop_required",
        meaning: "the token endpoint refuses a request without a DPoP proof (RFC 9449 §5.2: a client registered with dpop_bound_access_tokens true)",
    },
    Capability {
        name: "par",
        meaning: "the server takes pushed authorization requests (RFC 9126); taken from metadata (pushed_authorization_request_endpoint) where given",
    },
    Capability {
        name: "par_required",
        meaning: "the authorize endpoint refuses a request not pushed first (RFC 9126 §5 require_pushed_authorization_requests); taken from metadata where given",
    },
    Capability {
        name: "refresh_only_revocation",
        meaning: "the revocation endpoint revokes refresh tokens only and answers unsupported_token_type for an access token (RFC 7009 §2.2.1)",
    },
];

pub fn find(name: &str) -> Option<&'static Capability> {
    CAPABILITIES.iter().find(|c| c.name == name)
}

pub fn is_capability(name: &str) -> bool {
    find(name).is_some()
}

/// Every capability's name, for a declaration that names them all (the default mock).
pub fn all() -> impl Iterator<Item = &'static str> {
    CAPABILITIES.iter().map(|c| c.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case_and_each_is_explained() {
        for (i, c) in CAPABILITIES.iter().enumerate() {
            // Snake case: digits allowed after a letter (`oauth_2_1`).
            assert!(
                c.name.starts_with(|ch: char| ch.is_ascii_lowercase())
                    && c.name
                        .chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_'),
                "{}",
                c.name
            );
            assert!(!c.meaning.is_empty(), "{}", c.name);
            assert!(
                CAPABILITIES[..i].iter().all(|o| o.name != c.name),
                "{} twice",
                c.name
            );
        }
        assert!(is_capability("auto_authorize"));
        assert!(!is_capability("auto-authorize"));
    }
}
