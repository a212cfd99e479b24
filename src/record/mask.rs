//! Placeholders that keep a value's shape: what a recording holds instead of each secret and
//! token. A placeholder is derived from the value with a key made for one recording and never
//! written, so within a recording one value always gets the same placeholder (a token sent back
//! matches the one received) while nothing about the value can be recovered from it.

use std::borrow::Cow;
use std::sync::LazyLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use regex::Regex;
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::redact::{is_sensitive_key, Redactor};

/// Claims whose values say nothing about a user or a credential, and that rules compare
/// (expiry, issuer, audience): a placeholder JWT keeps them as they were.
const PLAIN_CLAIMS: &[&str] = &[
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "auth_time",
    "scope",
    "scp",
    "typ",
    "token_type",
    "azp",
    "client_id",
    "amr",
    "acr",
    "alg",
    "kid_type",
];

/// Header members of a JWS kept as they were (the key id is replaced).
const PLAIN_HEADER: &[&str] = &["alg", "typ", "cty", "enc", "zip", "crit"];

static JWT: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"eyJ[A-Za-z0-9_\-]{6,}\.[A-Za-z0-9_\-]{2,}\.[A-Za-z0-9_\-]*").ok()
});

static PARAM: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(^|[?&#;\s])([A-Za-z_][A-Za-z0-9_.\-]*)=([^&#\s\x22'<>]+)").ok());

/// Replaces the secrets and tokens of one recording.
#[derive(Clone)]
pub struct Masker {
    key: [u8; 32],
    /// Values replaced wherever they occur, longest first.
    needles: Vec<Needle>,
    /// The last pass over each written file: any secret or token still there, in any encoding
    /// (the target's secrets).
    last_pass: Redactor,
    /// The same for one case's tokens, in every form the report redactor masks them in (base64
    /// inside a longer blob at any offset included): plain searches, since an automaton per
    /// case would cost more than the run.
    token_forms: Vec<String>,
}

/// A value to replace, raw and URL-encoded, with its placeholder in both forms (computed once:
/// a PEM key is long).
#[derive(Clone)]
struct Needle {
    raw: String,
    encoded: String,
    placeholder: String,
    placeholder_encoded: String,
}

impl Masker {
    /// `secrets`: the target's; `tokens`: values a case or fixture saw (tokens, codes, minted
    /// JWTs). URL-shaped values are left to the parameter pass (a redirect keeps its host).
    /// `last_pass` masks the target's secrets (the session's redactor).
    pub fn new(key: [u8; 32], secrets: &[String], last_pass: Redactor) -> Masker {
        let mut m = Masker {
            key,
            needles: Vec::new(),
            last_pass,
            token_forms: Vec::new(),
        };
        m.add_needles(secrets);
        m
    }

    /// A copy that also replaces `tokens` (one case's).
    pub fn with_tokens(&self, tokens: &[String]) -> Masker {
        let mut m = self.clone();
        let mut tokens: Vec<String> = tokens
            .iter()
            .filter(|t| !t.contains("://"))
            .cloned()
            .collect();
        tokens.sort();
        tokens.dedup();
        for t in &tokens {
            m.token_forms.extend(crate::redact::forms(t));
        }
        m.token_forms
            .sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        m.token_forms.dedup();
        m.add_needles(&tokens);
        m
    }

    fn add_needles(&mut self, values: &[String]) {
        for v in values {
            // Shorter values would replace ordinary words.
            if v.len() < 4 || self.needles.iter().any(|n| n.raw == *v) {
                continue;
            }
            let placeholder = self.opaque(v);
            self.needles.push(Needle {
                raw: v.clone(),
                encoded: form_urlencoded::byte_serialize(v.as_bytes()).collect(),
                placeholder_encoded: form_urlencoded::byte_serialize(placeholder.as_bytes())
                    .collect(),
                placeholder,
            });
        }
        self.needles
            .sort_by(|a, b| b.raw.len().cmp(&a.raw.len()).then(a.raw.cmp(&b.raw)));
    }

    /// `len` pseudo-random bytes derived from `value`.
    fn stream(&self, value: &str, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 32);
        let mut counter = 0u32;
        while out.len() < len {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
                break;
            };
            mac.update(&counter.to_be_bytes());
            mac.update(value.as_bytes());
            out.extend_from_slice(&mac.finalize().into_bytes());
            counter += 1;
        }
        out.truncate(len);
        out
    }

    /// An opaque value's placeholder: the same length, each letter or digit replaced by one of
    /// its class, every other character kept (so `00D…!AQ…` keeps its `!`).
    pub fn opaque(&self, value: &str) -> String {
        let chars: Vec<char> = value.chars().collect();
        let bytes = self.stream(value, chars.len());
        chars
            .iter()
            .zip(bytes)
            .map(|(c, b)| match c {
                'a'..='z' => char::from(b'a' + b % 26),
                'A'..='Z' => char::from(b'A' + b % 26),
                '0'..='9' => char::from(b'0' + b % 10),
                c if c.is_ascii() => *c,
                _ => char::from(b'a' + b % 26),
            })
            .collect()
    }

    /// A JWS's placeholder: the same header and claim names and value types, plain claims kept,
    /// every other value and the signature replaced. `None` when `token` is not a JWS.
    pub fn jwt(&self, token: &str) -> Option<String> {
        if !token.starts_with("eyJ") {
            return None;
        }
        let jws = crate::rules::jwt::decode(token).ok()?;
        let header = self.members(&jws.header, PLAIN_HEADER);
        let claims = self.members(&jws.payload, PLAIN_CLAIMS);
        let encode = |v: &Map<String, Value>| {
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap_or_default())
        };
        let signature = self.opaque(token.rsplit('.').next().unwrap_or_default());
        Some(format!(
            "{}.{}.{signature}",
            encode(&header),
            encode(&claims)
        ))
    }

    fn members(&self, map: &Map<String, Value>, plain: &[&str]) -> Map<String, Value> {
        map.iter()
            .map(|(k, v)| {
                let v = if plain.contains(&k.as_str()) {
                    self.json(v)
                } else {
                    self.claim(v)
                };
                (k.clone(), v)
            })
            .collect()
    }

    /// A claim that may identify someone: strings replaced, numbers and booleans kept (they
    /// are times, counts and flags).
    fn claim(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.opaque(s)),
            Value::Array(items) => Value::Array(items.iter().map(|i| self.claim(i)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.claim(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// A JSON value with every credential-named member, every JWT and every known value
    /// replaced by its placeholder.
    pub fn json(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Value::String(s) => match self.jwt(s) {
                                Some(p) => Value::String(p),
                                None if is_sensitive_key(k) => Value::String(self.opaque(s)),
                                None => Value::String(self.text(s).into_owned()),
                            },
                            _ => self.json(v),
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|i| self.json(i)).collect()),
            Value::String(s) => Value::String(match self.jwt(s) {
                Some(p) => p,
                None => self.text(s).into_owned(),
            }),
            other => other.clone(),
        }
    }

    /// Text with each JWT, each credential-named parameter value (`code=…` in a redirect) and
    /// each known value (raw or URL-encoded) replaced by its placeholder.
    pub fn text<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out: Cow<str> = Cow::Borrowed(text);
        if let Some(re) = JWT.as_ref() {
            if out.contains("eyJ") {
                let replaced = re.replace_all(&out, |c: &regex::Captures| {
                    self.jwt(&c[0]).unwrap_or_else(|| self.opaque(&c[0]))
                });
                if let Cow::Owned(s) = replaced {
                    out = Cow::Owned(s);
                }
            }
        }
        if let Some(re) = PARAM.as_ref() {
            if out.contains('=') {
                let replaced = re.replace_all(&out, |c: &regex::Captures| {
                    if is_sensitive_key(&c[2]) && !c[3].starts_with("eyJ") {
                        format!("{}{}={}", &c[1], &c[2], self.opaque(&c[3]))
                    } else {
                        c[0].to_string()
                    }
                });
                if let Cow::Owned(s) = replaced {
                    out = Cow::Owned(s);
                }
            }
        }
        for n in &self.needles {
            if out.len() < n.encoded.len().min(n.raw.len()) {
                continue;
            }
            if out.contains(n.raw.as_str()) {
                out = Cow::Owned(out.replace(n.raw.as_str(), &n.placeholder));
            }
            if n.encoded != n.raw && out.contains(n.encoded.as_str()) {
                out = Cow::Owned(out.replace(n.encoded.as_str(), &n.placeholder_encoded));
            }
        }
        out
    }

    /// The last pass over a file's text before it is written: anything left of a secret or a
    /// token, in any encoding the redactor knows, becomes `[redacted]`.
    pub fn last_pass(&self, text: &str) -> String {
        let mut out = self.last_pass.scrub_known(text).into_owned();
        for form in &self.token_forms {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), crate::redact::MASK);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masker() -> Masker {
        Masker::new(
            [7; 32],
            &["Sup3r-Secret/Value".to_string()],
            Redactor::new(["Sup3r-Secret/Value"]),
        )
    }

    #[test]
    fn an_opaque_placeholder_keeps_length_and_classes_and_is_stable() {
        let m = masker();
        let p = m.opaque("00DTCONF!AQ.abc-123");
        assert_eq!(p.chars().count(), 19);
        assert_eq!(&p[8..9], "!");
        assert!(p[..2].chars().all(|c| c.is_ascii_digit()), "{p}");
        assert_ne!(p, "00DTCONF!AQ.abc-123");
        assert_eq!(p, m.opaque("00DTCONF!AQ.abc-123"));
        let other = Masker::new([8; 32], &[], Redactor::default());
        assert_ne!(p, other.opaque("00DTCONF!AQ.abc-123"));
    }

    #[test]
    fn a_jwt_placeholder_keeps_names_types_and_plain_claims_only() {
        let m = masker();
        let enc = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let token = format!(
            "{}.{}.c2lnbmF0dXJl",
            enc(serde_json::json!({"alg": "RS256", "kid": "key-1"})),
            enc(serde_json::json!({"sub": "user-42", "exp": 1700000000, "iss": "https://i"}))
        );
        let p = m.jwt(&token).unwrap();
        let (h, c) = crate::redact::decode_jwt(&p).unwrap();
        let c = c.unwrap();
        assert_eq!(h["alg"], "RS256");
        assert_ne!(h["kid"], "key-1");
        assert_eq!(c["exp"], 1700000000);
        assert_eq!(c["iss"], "https://i");
        assert!(c["sub"].is_string() && c["sub"] != "user-42");
        assert!(!p.ends_with("c2lnbmF0dXJl"));
    }

    #[test]
    fn a_token_base64_encoded_inside_a_blob_is_masked_at_any_offset() {
        let token = "RT-Fixed-Refresh-9911xyz";
        let m = masker().with_tokens(&[token.to_string()]);
        for prefix in ["x:", "xy:", "xyz:", "x:{\"refresh_token\": \""] {
            let blob = base64::engine::general_purpose::STANDARD
                .encode(format!("{prefix}{token}\"}}:Basic abc"));
            let out = m.last_pass(&format!("{{\"blob\": \"{blob}\"}}"));
            // What is left of the blob no longer decodes to the token at any alignment.
            for piece in out.split(crate::redact::MASK) {
                for skip in 0..4.min(piece.len()) {
                    let p = &piece[skip..];
                    let usable = p.len() / 4 * 4;
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(&p[..usable])
                        .unwrap_or_default();
                    let decoded = String::from_utf8_lossy(&decoded);
                    assert!(!decoded.contains("Refresh-99"), "{prefix:?}: {decoded:?}");
                }
            }
            assert!(out.contains(crate::redact::MASK), "{prefix:?}: {out}");
        }
    }

    #[test]
    fn text_replaces_known_values_params_and_jwts() {
        let m = masker().with_tokens(&["tok_ABCDEFGH".to_string()]);
        let out = m.text("cb?code=XYZ123&state=s1 sent tok_ABCDEFGH and Sup3r-Secret%2FValue");
        assert!(!out.contains("XYZ123") && out.contains("state=s1"), "{out}");
        assert!(
            !out.contains("tok_ABCDEFGH") && out.contains(" sent "),
            "{out}"
        );
        let token = out.split(' ').nth(2).unwrap_or_default();
        assert_eq!((token.len(), &token[3..4]), (12, "_"), "{out}");
        assert!(!out.contains("Sup3r"), "{out}");
        let json = m.json(&serde_json::json!({"access_token": "abc12345", "n": "plain"}));
        assert_ne!(json["access_token"], "abc12345");
        assert_eq!(json["n"], "plain");
    }
}
