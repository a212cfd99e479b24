//! Keeping secrets out of every output: by key name where values are shown, and by value (in its
//! raw, Basic, URL-encoded and JSON-escaped forms) over every text a report writes.

use std::borrow::Cow;
use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use base64::Engine;
use regex::Regex;
use serde_json::Value;

pub const MASK: &str = "[redacted]";

/// Field, parameter and capture names whose values are credentials (compared lower-cased, so
/// `accessToken` and `customerIdentityToken` are covered too).
const SENSITIVE: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "client_assertion",
    "assertion",
    "password",
    "code",
    "code_verifier",
    "codeverifier",
    "accesstoken",
    "customeridentitytoken",
    "subject_token",
    "actor_token",
    "token",
    "signature",
    "secret",
    "authorization",
    "api_key",
    "apikey",
    "cookie",
    "set-cookie",
];

pub fn is_sensitive_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SENSITIVE.contains(&k.as_str())
        || k.ends_with("token")
        || k.ends_with("secret")
        || k.ends_with("assertion")
        || k.ends_with("password")
}

/// The last member name of a JSONPath or pointer (`$.a.access_token`, `/a/0/code`).
fn last_key(path: &str) -> &str {
    path.rsplit(['.', '/', '[', ']', '\'', '"'])
        .find(|s| !s.is_empty())
        .unwrap_or(path)
}

/// The header and claims of a JWS (or the header of a JWE), when `text` is a JWT.
pub fn decode_jwt(text: &str) -> Option<(Value, Option<Value>)> {
    let parts: Vec<&str> = text.trim().split('.').collect();
    if !matches!(parts.len(), 3 | 5) || !parts[0].starts_with("eyJ") {
        return None;
    }
    let decode = |part: &str| -> Option<Value> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .ok()?;
        serde_json::from_slice::<Value>(&bytes)
            .ok()
            .filter(Value::is_object)
    };
    let header = decode(parts[0])?;
    header.get("alg")?;
    // A JWE's second part is an encrypted key, not claims.
    let claims = (parts.len() == 3).then(|| decode(parts[1])).flatten();
    Some((mask_json(&header), claims.as_ref().map(mask_json)))
}

/// What a report shows for a JWT: its decoded header and claims, never the token or signature.
fn jwt_view(header: Value, claims: Option<Value>) -> Value {
    let mut jwt = serde_json::Map::new();
    jwt.insert("header".into(), header);
    if let Some(c) = claims {
        jwt.insert("claims".into(), c);
    }
    jwt.insert("signature".into(), Value::String(MASK.into()));
    let mut outer = serde_json::Map::new();
    outer.insert("jwt (redacted, decoded)".into(), Value::Object(jwt));
    Value::Object(outer)
}

/// A copy of `value` with the values of sensitive members masked, at any depth. A JWT, under
/// any name, becomes its decoded header and claims.
pub fn mask_json(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => match decode_jwt(s) {
                            Some((h, c)) => jwt_view(h, c),
                            None if is_sensitive_key(k) => Value::String(MASK.into()),
                            None => Value::String(mask_params(s).into_owned()),
                        },
                        _ if is_sensitive_key(k) && !v.is_null() && !v.is_boolean() => {
                            Value::String(MASK.into())
                        }
                        _ => mask_json(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(mask_json).collect()),
        Value::String(s) => match decode_jwt(s) {
            Some((h, c)) => jwt_view(h, c),
            None => Value::String(mask_params(s).into_owned()),
        },
        other => other.clone(),
    }
}

/// `name=value` pairs (query strings, fragments, form bodies) whose name is a credential.
static PARAM: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(^|[?&#;\s])([A-Za-z_][A-Za-z0-9_.\-]*)=([^&#\s\x22'<>]+)").ok());

/// Anything shaped like a JWS: `eyJ` header, payload, signature.
static JWT: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"eyJ[A-Za-z0-9_\-]{6,}\.[A-Za-z0-9_\-]{2,}\.[A-Za-z0-9_\-]*").ok()
});

/// Masks the values of credential-named parameters in a URL, query or form body.
pub fn mask_params(text: &str) -> Cow<'_, str> {
    let Some(re) = PARAM.as_ref() else {
        return Cow::Borrowed(text);
    };
    if !text.contains('=') {
        return Cow::Borrowed(text);
    }
    re.replace_all(text, |c: &regex::Captures| {
        if is_sensitive_key(&c[2]) && &c[3] != MASK {
            format!("{}{}={MASK}", &c[1], &c[2])
        } else {
            c[0].to_string()
        }
    })
}

/// A JWT as one line: `[redacted JWT] header {...} claims {...}`.
fn jwt_line(header: &Value, claims: Option<&Value>) -> String {
    match claims {
        Some(c) => format!("[redacted JWT] header {header} claims {c}"),
        None => format!("[redacted JWT] header {header}"),
    }
}

/// A value found at `path`, for display: masked when the path names a credential, and kept short.
pub fn render_value(path: &str, value: &Value) -> String {
    if let Some((h, c)) = value.as_str().and_then(decode_jwt) {
        return shorten(&jwt_line(&h, c.as_ref()), 600);
    }
    if is_sensitive_key(last_key(path)) && (value.is_string() || value.is_number()) {
        return MASK.to_string();
    }
    shorten(&mask_json(value).to_string(), 300)
}

pub fn render_header(name: &str, value: &Value) -> String {
    let text = value
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| value.to_string());
    if is_sensitive_key(name)
        || name.eq_ignore_ascii_case("set-cookie")
        || name.eq_ignore_ascii_case("cookie")
    {
        return MASK.to_string();
    }
    if let Some((h, c)) = decode_jwt(&text) {
        return shorten(&jwt_line(&h, c.as_ref()), 600);
    }
    shorten(&mask_params(&text), 300)
}

/// The start of a body that is not JSON, for a one-line reason.
pub fn preview_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(400)]);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    shorten(&mask_jwts(&mask_params(&one_line)), 120)
}

pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    // A secret that straddles the cut would be masked by value only whole: drop the word in
    // progress, so its start is not shown either.
    let whole = cut.trim_end_matches(|c: char| c.is_alphanumeric() || "+/=_-%.~".contains(c));
    format!("{whole}… ({} bytes)", text.len())
}

/// Replaces every known secret value, in every encoding it may take, with [`MASK`].
#[derive(Clone, Default)]
pub struct Redactor {
    needles: Vec<String>,
    matcher: Option<AhoCorasick>,
}

impl Redactor {
    /// Secrets shorter than this are not masked by value: they would mask ordinary words.
    const MIN_LEN: usize = 4;

    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Redactor {
        let mut r = Redactor::default();
        r.extend(secrets);
        r
    }

    pub fn extend<'a>(&mut self, secrets: impl IntoIterator<Item = &'a str>) {
        for s in secrets {
            if s.len() >= Self::MIN_LEN {
                self.needles.extend(encodings(s));
            }
        }
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        self.needles.dedup();
        self.matcher = AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(&self.needles)
            .ok();
    }

    /// Basic credentials are base64 of `id:secret` as a whole: add the pair as it is sent.
    pub fn add_basic_pair(&mut self, user: &str, password: &str) {
        let header = crate::basic::basic_header(user, password);
        let encoded = header.trim_start_matches("Basic ").to_string();
        self.extend([encoded.as_str()]);
    }

    /// Masks every known value in every encoding, then any JWT and credential-named parameter
    /// the run did not know of (a token under an unexpected name, a code in a redirect).
    pub fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let known = match &self.matcher {
            Some(m) if m.is_match(text) => {
                Cow::Owned(m.replace_all(text, &vec![MASK; self.needles.len()]))
            }
            _ => Cow::Borrowed(text),
        };
        let jwts = match mask_jwts(&known) {
            Cow::Borrowed(_) => known,
            Cow::Owned(s) => Cow::Owned(s),
        };
        match mask_params(&jwts) {
            Cow::Borrowed(_) => jwts,
            Cow::Owned(s) => Cow::Owned(s),
        }
    }
}

/// Replaces anything shaped like a JWT with a mark: by then it can no longer be decoded for show.
pub fn mask_jwts(text: &str) -> Cow<'_, str> {
    match JWT.as_ref() {
        Some(re) if text.contains("eyJ") => re.replace_all(text, "[redacted JWT]"),
        _ => Cow::Borrowed(text),
    }
}

/// Raw, URL-encoded (both forms), JSON-escaped and base64 forms of a secret.
fn encodings(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_string()];
    out.push(form_urlencoded::byte_serialize(secret.as_bytes()).collect());
    out.push(
        form_urlencoded::byte_serialize(secret.as_bytes())
            .collect::<String>()
            .replace('+', "%20"),
    );
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json.trim_matches('"').to_string();
    // As HTML, XML and a JSON string inside a JSON string show it, too.
    let twice = serde_json::to_string(&json).unwrap_or_default();
    out.push(twice.trim_matches('"').to_string());
    out.push(markup_escaped(secret));
    out.push(markup_escaped(&json));
    out.push(json);
    for engine in [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        out.push(engine.encode(secret));
    }
    out.retain(|n| n.len() >= Redactor::MIN_LEN);
    out
}

/// `&`, `<`, `>`, `"` and `'` as HTML and XML write them.
fn markup_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_encoding() {
        let r = Redactor::new(["p@ss word/\"x"]);
        for text in [
            "p@ss word/\"x",
            "p%40ss+word%2F%22x",
            "p%40ss%20word%2F%22x",
            "p@ss word/\\\"x",
            &base64::engine::general_purpose::STANDARD.encode("p@ss word/\"x"),
        ] {
            let out = r.scrub(text);
            assert_eq!(out, MASK, "{text} leaked");
        }
    }

    #[test]
    fn a_cut_never_shows_the_start_of_a_word() {
        let text = format!("{}Secret+Value/42 tail", "x ".repeat(50));
        let short = shorten(&text, 105);
        assert!(!short.contains("Sec"), "{short}");
        assert!(short.starts_with("x x"), "{short}");
    }

    #[test]
    fn masks_basic_pairs() {
        let mut r = Redactor::default();
        r.add_basic_pair("client", "hunter22");
        let h = crate::basic::basic_header("client", "hunter22");
        assert_eq!(r.scrub(&h), format!("Basic {MASK}"));
    }

    #[test]
    fn masks_sensitive_members_by_name() {
        let v = serde_json::json!({"access_token": "abc", "nested": {"refresh_token": "x", "n": 1}, "ok": "y"});
        let m = mask_json(&v);
        assert_eq!(m["access_token"], MASK);
        assert_eq!(m["nested"]["refresh_token"], MASK);
        assert_eq!(m["nested"]["n"], 1);
        assert_eq!(m["ok"], "y");
        assert_eq!(
            render_value("$.access_token", &serde_json::json!("abc")),
            MASK
        );
        assert_eq!(
            render_value("$['id_token']", &serde_json::json!("abc")),
            MASK
        );
        assert_eq!(
            render_value("$.token_type", &serde_json::json!("Bearer")),
            "\"Bearer\""
        );
    }
}
