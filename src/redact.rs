//! Keeping secrets out of every output: by key name where values are shown, and by value (in its
//! raw, Basic, URL-encoded and JSON-escaped forms) over every text a report writes.

use std::borrow::Cow;
use std::sync::LazyLock;

use aho_corasick::{packed, AhoCorasick};
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
    // RFC 9449 proofs: signed with the run's DPoP key, replayable within their window.
    "dpop",
    "api_key",
    "apikey",
    "cookie",
    "set-cookie",
];

/// Endings that make any name a credential's (`myToken`, `app_secret`), compared lower-cased.
const SENSITIVE_SUFFIXES: &[&str] = &["token", "secret", "assertion", "password"];

pub fn is_sensitive_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SENSITIVE.contains(&k.as_str()) || SENSITIVE_SUFFIXES.iter().any(|end| k.ends_with(end))
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

/// Whether some `=` in `text` follows, in any case, a name of [`SENSITIVE`] or one of
/// [`SENSITIVE_SUFFIXES`] (what [`is_sensitive_key`] takes): without one, the parameter regex
/// can mask nothing. A report page has an `=` in every attribute, and the regex would start a
/// search at each; an automaton over the names took 21 ms to find none in a 12 MB summary.json
/// full of rule ids, where finding each `=` and looking back takes 0.2 ms.
fn has_param_name_end(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'=', bytes).any(|i| {
        let before = &bytes[..i];
        let Some(&last) = before.last() else {
            return false;
        };
        NAMES_BY_LAST_BYTE[usize::from(last)].iter().any(|name| {
            before.len() >= name.len() && before[i - name.len()..].eq_ignore_ascii_case(name)
        })
    })
}

/// The names [`has_param_name_end`] looks for, by their last byte in either case: an `=` after
/// `class`, `href` or `time` is passed over at once (index.html's 90,000 took 5 ms, now 1 ms).
static NAMES_BY_LAST_BYTE: LazyLock<[Vec<&'static [u8]>; 256]> = LazyLock::new(|| {
    let mut by_last: [Vec<&'static [u8]>; 256] = std::array::from_fn(|_| Vec::new());
    for name in SENSITIVE.iter().chain(SENSITIVE_SUFFIXES) {
        let Some(&last) = name.as_bytes().last() else {
            continue;
        };
        by_last[usize::from(last.to_ascii_lowercase())].push(name.as_bytes());
        if last.to_ascii_uppercase() != last.to_ascii_lowercase() {
            by_last[usize::from(last.to_ascii_uppercase())].push(name.as_bytes());
        }
    }
    by_last
});

/// Masks the values of credential-named parameters in a URL, query or form body.
pub fn mask_params(text: &str) -> Cow<'_, str> {
    let Some(re) = PARAM.as_ref() else {
        return Cow::Borrowed(text);
    };
    if !has_param_name_end(text) {
        return Cow::Borrowed(text);
    }
    mask_matched_params(re, text)
}

/// [`mask_params`] by the regex alone.
fn mask_matched_params<'t>(re: &Regex, text: &'t str) -> Cow<'t, str> {
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
    let text = decode_text(&body[..body.len().min(400)]);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    shorten(&mask_jwts(&mask_params(&one_line)), 120)
}

/// Characters in a case's reason line (console, junit.xml, summary.json).
pub const MAX_REASON: usize = 500;

/// A case's reason: one line of bounded length, whatever a server or a rendered URL put in it,
/// with the values the steps saw masked already (a fixture's reason outlives its values).
pub fn reason_line(why: &str, sensitive: &[String]) -> String {
    let line: String = why
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let line = if sensitive.is_empty() {
        line
    } else {
        Redactor::new(sensitive.iter().map(String::as_str))
            .scrub(&line)
            .into_owned()
    };
    shorten(&line, MAX_REASON)
}

pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    // A secret that straddles the cut would be masked by value only whole: drop the word in
    // progress (back to a space, when one is near), so its start is not shown either.
    let near_space = cut
        .char_indices()
        .rev()
        .take(max / 2)
        .find(|(_, c)| c.is_whitespace())
        .map(|(i, _)| i);
    let whole = match near_space {
        Some(i) => &cut[..i],
        None => cut.trim_end_matches(|c: char| c.is_alphanumeric() || "+/=_-%.~".contains(c)),
    };
    format!("{whole}{CUT_MARK}{} bytes)", text.len())
}

/// Replaces every known secret value, in every encoding it may take, with [`MASK`].
#[derive(Clone, Default)]
pub struct Redactor {
    needles: Vec<String>,
    /// The needles in lexicographic order, to find one that starts with a given text.
    by_prefix: Vec<String>,
    matcher: Option<AhoCorasick>,
    /// Whether a text holds any needle, by SIMD where the CPU has it: most texts hold none, and
    /// the automaton took 40 ms to say so of a 12 MB summary.json and 350 ns of a 60-byte line,
    /// this 1 ms and 8 ns. `None` where it cannot be built; the automaton answers then.
    finder: Option<packed::Searcher>,
}

/// Secrets shorter than this are not masked by value (they would mask ordinary words), so a
/// target refuses them at load.
pub const MIN_SECRET_LEN: usize = 4;

impl Redactor {
    const MIN_LEN: usize = MIN_SECRET_LEN;

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
        self.needles
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        self.needles.dedup();
        self.by_prefix = self.needles.clone();
        self.by_prefix.sort();
        self.matcher = AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(&self.needles)
            .ok();
        self.finder = packed::Config::new()
            .builder()
            .extend(&self.needles)
            .build();
    }

    /// `text` with every needle masked, or as it is when it holds none.
    fn mask_known<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let Some(m) = self.matcher.as_ref().filter(|_| !self.needles.is_empty()) else {
            return Cow::Borrowed(text);
        };
        let holds_one = match &self.finder {
            Some(f) => f.find(text).is_some(),
            None => m.is_match(text),
        };
        if holds_one {
            Cow::Owned(m.replace_all(text, &vec![MASK; self.needles.len()]))
        } else {
            Cow::Borrowed(text)
        }
    }

    /// [`Redactor::add_basic_pair`] for many pairs, with one rebuild of the matcher (one per
    /// pair cost seconds for a target with many vars and keys).
    pub fn add_basic_pairs<'a>(&mut self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) {
        use crate::basic::{basic_header_with, BasicEncoding};
        let encoded: Vec<String> = pairs
            .into_iter()
            .flat_map(|(user, password)| {
                [BasicEncoding::Form, BasicEncoding::Raw].map(|e| {
                    basic_header_with(e, user, password)
                        .trim_start_matches("Basic ")
                        .to_string()
                })
            })
            .collect();
        self.extend(encoded.iter().map(String::as_str));
    }

    /// Basic credentials are base64 of `id:secret` as a whole: add the pair as it is sent, in
    /// either encoding an API may use.
    pub fn add_basic_pair(&mut self, user: &str, password: &str) {
        use crate::basic::{basic_header_with, BasicEncoding};
        let headers = [BasicEncoding::Form, BasicEncoding::Raw].map(|e| {
            basic_header_with(e, user, password)
                .trim_start_matches("Basic ")
                .to_string()
        });
        self.extend(headers.iter().map(String::as_str));
    }

    /// Masks every known value in every encoding, and nothing else (a recording keeps its
    /// placeholder JWTs and parameters).
    pub fn scrub_known<'t>(&self, text: &'t str) -> Cow<'t, str> {
        self.mask_known(text)
    }

    /// Masks every known value in every encoding, then any JWT and credential-named parameter
    /// the run did not know of (a token under an unexpected name, a code in a redirect).
    pub fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let known = self.mask_known(text);
        let known = match self.mask_cut_starts(&known) {
            Some(s) => Cow::Owned(s),
            None => known,
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

impl Redactor {
    /// A text cut by [`shorten`] may end with the start of a secret, which no whole needle
    /// matches: mask the longest tail before each cut mark that begins some needle.
    fn mask_cut_starts(&self, text: &str) -> Option<String> {
        if self.by_prefix.is_empty() || !text.contains(CUT_MARK) {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        let mut changed = false;
        while let Some(i) = rest.find(CUT_MARK) {
            let (before, after) = (&rest[..i], &rest[i + CUT_MARK.len()..]);
            let is_cut = after
                .split_once(" bytes)")
                .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            let keep = if is_cut {
                self.start_of_partial_needle(before)
            } else {
                before.len()
            };
            out.push_str(&before[..keep]);
            if keep < before.len() {
                out.push_str(MASK);
                changed = true;
            }
            out.push_str(CUT_MARK);
            rest = after;
        }
        out.push_str(rest);
        changed.then_some(out)
    }

    /// Where the longest tail of `text` (of at least [`Redactor::MIN_LEN`] characters) that
    /// some needle starts with begins; `text.len()` when there is none.
    fn start_of_partial_needle(&self, text: &str) -> usize {
        let longest = self.needles.first().map_or(0, String::len);
        let mut from = text.len().saturating_sub(longest);
        while !text.is_char_boundary(from) {
            from += 1;
        }
        for (offset, _) in text[from..].char_indices() {
            let tail = &text[from + offset..];
            if tail.chars().count() < Self::MIN_LEN {
                break;
            }
            let i = self.by_prefix.partition_point(|n| n.as_str() < tail);
            if self.by_prefix.get(i).is_some_and(|n| n.starts_with(tail)) {
                return from + offset;
            }
        }
        text.len()
    }
}

/// What [`shorten`] puts where it cut: `… (N bytes)`.
const CUT_MARK: &str = "\u{2026} (";

/// Replaces anything shaped like a JWT with a mark: by then it can no longer be decoded for show.
pub fn mask_jwts(text: &str) -> Cow<'_, str> {
    match JWT.as_ref() {
        Some(re) if text.contains("eyJ") => re.replace_all(text, "[redacted JWT]"),
        _ => Cow::Borrowed(text),
    }
}

/// Bytes from the network as text, losing nothing: UTF-8 where they are UTF-8, and each other
/// byte as the ISO-8859-1 character of that value. A server that echoes a secret in ISO-8859-1
/// then shows the secret's own text, which the redactor masks; a lossy decoding (`�` for each
/// such byte) would show it all but those bytes, matching no needle.
pub fn decode_text(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        out.extend(chunk.invalid().iter().map(|&b| char::from(b)));
    }
    Cow::Owned(out)
}

/// Every form [`Redactor`] masks `value` in (its encodings, base64 cores at each alignment
/// included), for a caller that searches them without building an automaton; empty for a
/// value shorter than the redactor's floor.
pub fn forms(value: &str) -> Vec<String> {
    if value.len() < Redactor::MIN_LEN {
        return Vec::new();
    }
    encodings(value)
}

/// Raw, URL-encoded (both forms), JSON-escaped (as several languages write it), markup-escaped
/// and base64 forms of a secret, from its UTF-8 bytes and, when it has them, its ISO-8859-1 bytes.
fn encodings(secret: &str) -> Vec<String> {
    let mut out = encodings_of(secret);
    // Sent raw in a Basic header (Talkdesk's encoding) and read back by a server that
    // form-decodes it, `+` is a space and `%41` an `A`: echoed, that is the secret all the same.
    let misread: String = form_urlencoded::parse(format!("x={secret}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if misread != secret && misread.len() >= Redactor::MIN_LEN {
        out.extend(encodings_of(&misread));
    }
    // Echoed by a server that writes ISO-8859-1 and puts `?` for what it cannot (a combining
    // mark, `€`), as Java's and Python's encoders do.
    let lossy: String = secret
        .chars()
        .map(|c| if u32::from(c) > 0xff { '?' } else { c })
        .collect();
    if lossy != secret {
        out.extend(encodings_of(&lossy));
    }
    out
}

fn encodings_of(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_string()];
    let latin1: Option<Vec<u8>> = secret
        .chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect::<Option<Vec<u8>>>()
        .filter(|_| !secret.is_ascii());
    let mut forms = vec![secret.as_bytes().to_vec()];
    forms.extend(latin1);
    for bytes in &forms {
        let url: String = form_urlencoded::byte_serialize(bytes).collect();
        out.push(url.replace('+', "%20"));
        out.push(url);
        for engine in [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            out.push(engine.encode(bytes));
            out.extend(base64_cores(engine, bytes));
        }
    }
    if !secret.is_ascii() {
        // Its UTF-8 bytes read as ISO-8859-1 (mojibake), as `decode_text` shows a body that
        // mixes the UTF-8 secret with stray bytes.
        out.push(secret.bytes().map(char::from).collect());
    }
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json.trim_matches('"').to_string();
    // As HTML, XML and a JSON string inside a JSON string show it, too.
    let twice = serde_json::to_string(&json).unwrap_or_default();
    out.push(twice.trim_matches('"').to_string());
    // Python writes non-ASCII as \u00e9; PHP also writes `/` as `\/`.
    let ascii_json = json_ascii(&json);
    out.push(ascii_json.replace('/', "\\/"));
    out.push(json.replace('/', "\\/"));
    out.push(ascii_json);
    for apos in ["&apos;", "&#39;", "&#x27;"] {
        out.push(markup_escaped(secret, apos));
        out.push(markup_escaped(&json, apos));
    }
    out.push(json);
    // As a URL shows it (in a transport error, a recorded path, a page that echoes it), and
    // as Rust's `{:?}` and a one-line reason show it.
    let urls = url_forms(secret);
    out.extend(urls.iter().map(|u| debug_form(u)));
    for apos in ["&apos;", "&#39;", "&#x27;"] {
        out.extend(urls.iter().map(|u| markup_escaped(u, apos)));
    }
    out.extend(urls);
    out.push(debug_form(secret));
    out.push(
        secret
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect(),
    );
    out.retain(|n| n.len() >= Redactor::MIN_LEN);
    out
}

/// The secret as the url crate writes it in a path, a query and a fragment, under a special
/// scheme (`\` becomes `/`, `'` in a query `%27`) and another: a space is `%20`, non-ASCII and
/// control characters are percent-encoded, while `+ ! ~ : @ = & ; , $ ( ) [ ] | ^` are kept.
fn url_forms(secret: &str) -> Vec<String> {
    // The end mark keeps a trailing space or `.` of the secret inside the URL.
    const END: &str = "~";
    let mut out = Vec::new();
    for base in [
        "http://h/x/",
        "tokenconf-x://h/x/",
        "http://h/x?",
        "tokenconf-x://h/x?",
        "http://h/x#",
    ] {
        let Ok(url) = url::Url::parse(&format!("{base}{secret}{END}")) else {
            continue;
        };
        if let Some(form) = url
            .as_str()
            .strip_prefix(base)
            .and_then(|rest| rest.strip_suffix(END))
        {
            if form != secret && !out.iter().any(|o| o == form) {
                out.push(form.to_string());
            }
        }
    }
    out
}

/// The text between the quotes of Rust's `{:?}` of `text`: `\u{301}`, `\u{7f}`, `\"`, `\\`.
fn debug_form(text: &str) -> String {
    let quoted = format!("{text:?}");
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(&quoted)
        .to_string()
}

/// The characters of base64 text that depend on `bytes` alone, wherever they start in a longer
/// encoded text (three alignments): a server that base64-encodes a whole body or header that
/// holds the secret shows these, not the secret's own encoding.
fn base64_cores(engine: &base64::engine::GeneralPurpose, bytes: &[u8]) -> Vec<String> {
    (0..3usize)
        .filter_map(|k| {
            let mut shifted = vec![0u8; k];
            shifted.extend_from_slice(bytes);
            let text = engine.encode(&shifted);
            let start = (8 * k).div_ceil(6);
            let end = 8 * (k + bytes.len()) / 6;
            text.get(start..end)
                .filter(|core| core.len() >= 6)
                .map(str::to_string)
        })
        .collect()
}

/// A JSON string body with every non-ASCII character as `\uXXXX` (UTF-16, lower-case hex).
fn json_ascii(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            for unit in c.encode_utf16(&mut [0; 2]) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// `&`, `<`, `>`, `"` and `'` as HTML and XML write them (`'` in any of its usual spellings).
fn markup_escaped(text: &str, apos: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', apos)
}

/// A targets file's text as its error snippets show it: the values under `secrets:` and
/// `secret_files:`, and under any key [`is_sensitive_key`] matches, with each character a `*`
/// (lines and columns stay; quotes and `${NAME}` references are kept), on every line, in block
/// and flow style. Also the values hidden, to mask a message that quotes one.
///
/// A scan of lines and brackets rather than a parse: it must hold for a file that does not
/// parse, since that is when a snippet is shown. Where it cannot tell, it masks.
pub fn mask_yaml_secrets(text: &str) -> (String, Vec<String>) {
    let chars: Vec<char> = text.chars().collect();
    let mut m = YamlMask {
        out: chars.clone(),
        chars,
        hidden: Vec::new(),
        blocks: Vec::new(),
        continued: None,
    };
    m.run();
    (m.out.into_iter().collect(), m.hidden)
}

struct YamlMask {
    chars: Vec<char>,
    out: Vec<char>,
    hidden: Vec<String>,
    /// Keys whose value is on the lines below: their column, and whether that value is masked.
    blocks: Vec<(usize, bool)>,
    /// A block scalar or plain value that goes on over more indented lines: its key's column,
    /// and whether it is masked.
    continued: Option<(usize, bool)>,
}

/// Keys whose whole value is secret, whatever the names under them.
/// `value` is a login step's literal value, refused at load: shown masked in that error too.
fn holds_secrets(key: &str) -> bool {
    matches!(key, "secrets" | "secret_files" | "value") || is_sensitive_key(key)
}

impl YamlMask {
    fn at(&self, i: usize) -> char {
        self.chars.get(i).copied().unwrap_or('\n')
    }

    fn line_end(&self, from: usize) -> usize {
        (from..self.chars.len())
            .find(|&i| self.chars[i] == '\n')
            .unwrap_or(self.chars.len())
    }

    fn skip_spaces(&self, mut i: usize) -> usize {
        while i < self.chars.len() && matches!(self.chars[i], ' ' | '\t' | '\r') {
            i += 1;
        }
        i
    }

    /// Spaces, line breaks and comments.
    fn skip_blank(&self, mut i: usize) -> usize {
        while i < self.chars.len() {
            match self.chars[i] {
                ' ' | '\t' | '\r' | '\n' => i += 1,
                '#' => i = self.line_end(i),
                _ => break,
            }
        }
        i
    }

    fn is_dash(&self, i: usize) -> bool {
        self.at(i) == '-' && matches!(self.at(i + 1), ' ' | '\t' | '\r' | '\n')
    }

    /// The closing quote of the quoted scalar that opens at `p`.
    fn quote_end(&self, p: usize) -> Option<usize> {
        let q = self.chars[p];
        let mut i = p + 1;
        while i < self.chars.len() {
            match self.chars[i] {
                '\\' if q == '"' => i += 2,
                '\'' if q == '\'' && self.at(i + 1) == '\'' => i += 2,
                c if c == q => return Some(i),
                _ => i += 1,
            }
        }
        None
    }

    /// Masks `from..to`, keeping line breaks and `${NAME}` references.
    fn mask(&mut self, from: usize, to: usize) {
        let to = to.min(self.chars.len());
        let mut i = from;
        let mut masked = false;
        while i < to {
            if self.chars[i] == '$' && self.at(i + 1) == '{' {
                let close = (i + 2..to).find(|&k| self.chars[k] == '}');
                if let Some(c) = close.filter(|&c| {
                    c > i + 2
                        && self.chars[i + 2..c]
                            .iter()
                            .all(|ch| ch.is_ascii_alphanumeric() || *ch == '_')
                }) {
                    i = c + 1;
                    continue;
                }
            }
            if !matches!(self.chars[i], '\n' | '\r') {
                self.out[i] = '*';
                masked = true;
            }
            i += 1;
        }
        if masked {
            self.hidden.push(self.chars[from..to].iter().collect());
        }
    }

    /// Masks the scalar `from..to` inside its quotes, if it has them.
    fn mask_scalar(&mut self, from: usize, to: usize) {
        let quoted = matches!(self.at(from), '"' | '\'') && to > from + 1;
        if quoted {
            let closed = to <= self.chars.len() && self.at(to - 1) == self.at(from);
            self.mask(from + 1, if closed { to - 1 } else { to });
        } else {
            self.mask(from, to);
        }
    }

    fn run(&mut self) {
        let mut i = 0;
        while i < self.chars.len() {
            let end = self.line_end(i);
            let indent = (i..end).take_while(|&k| self.chars[k] == ' ').count();
            let content = i + indent;
            let blank = self.skip_spaces(content) >= end;
            if let Some((key_column, masked)) = self.continued {
                if blank || indent > key_column {
                    if masked {
                        self.mask(content, end);
                    }
                    i = end + 1;
                    continue;
                }
                self.continued = None;
            }
            if blank || self.at(content) == '#' {
                i = end + 1;
                continue;
            }
            i = self.block_line(i, indent, end);
        }
    }

    /// One line in block context; returns where the next line to read starts.
    fn block_line(&mut self, line_start: usize, indent: usize, end: usize) -> usize {
        let mut p = line_start + indent;
        let dashed = self.is_dash(p);
        // A list may sit at its key's own column.
        self.blocks
            .retain(|&(at, _)| at < indent || (dashed && at == indent));
        while self.is_dash(p) {
            p = self.skip_spaces(p + 1);
        }
        let column = p - line_start;
        let inherited = self.blocks.last().is_some_and(|&(_, m)| m);
        match self.key(p, end) {
            Some((key, after)) => {
                self.blocks.retain(|&(at, _)| at < column);
                let masked = inherited || holds_secrets(&key);
                self.value(after, column, masked, masked, end)
            }
            None => self.value(p, column, inherited, inherited, end),
        }
    }

    /// The key at `p` on this line, and where its value starts.
    fn key(&self, p: usize, end: usize) -> Option<(String, usize)> {
        let (key, after) = match self.at(p) {
            '"' | '\'' => {
                let close = self.quote_end(p).filter(|&c| c < end)?;
                (
                    self.chars[p + 1..close].iter().collect::<String>(),
                    close + 1,
                )
            }
            '{' | '[' | '#' | '&' | '*' | '!' | '|' | '>' | '%' | '@' | '`' => return None,
            _ => {
                let colon = (p..end).find(|&k| {
                    self.chars[k] == ':' && matches!(self.at(k + 1), ' ' | '\t' | '\r' | '\n')
                })?;
                let comment = (p + 1..colon)
                    .any(|k| self.chars[k] == '#' && matches!(self.chars[k - 1], ' ' | '\t'));
                if comment {
                    return None;
                }
                let key: String = self.chars[p..colon].iter().collect();
                (key.trim_end().to_string(), colon)
            }
        };
        let colon = self.skip_spaces(after);
        (self.at(colon) == ':' && matches!(self.at(colon + 1), ' ' | '\t' | '\r' | '\n'))
            .then_some((key, colon + 1))
    }

    /// The value at `p` of a key at `column`; returns where the next line to read starts.
    fn value(
        &mut self,
        p: usize,
        column: usize,
        masked: bool,
        children: bool,
        end: usize,
    ) -> usize {
        let mut p = self.skip_spaces(p);
        // Anchors and tags before the value.
        while p < end && matches!(self.chars[p], '&' | '!') {
            while p < end && !matches!(self.chars[p], ' ' | '\t') {
                p += 1;
            }
            p = self.skip_spaces(p);
        }
        if p >= end || self.at(p) == '#' {
            self.blocks.push((column, children));
            return end + 1;
        }
        match self.chars[p] {
            '|' | '>' => {
                self.continued = Some((column, masked));
                end + 1
            }
            '{' | '[' => {
                let after = self.flow(p, children);
                self.line_end(after) + 1
            }
            '"' | '\'' => {
                // Unclosed: masked to the end, where it cannot tell.
                let close = self.quote_end(p).unwrap_or(self.chars.len());
                if masked {
                    self.mask(p + 1, close);
                }
                self.line_end(close.min(self.chars.len())) + 1
            }
            _ => {
                let stop = (p + 1..end)
                    .find(|&k| self.chars[k] == '#' && matches!(self.chars[k - 1], ' ' | '\t'))
                    .unwrap_or(end);
                if masked {
                    self.mask(p, stop);
                    self.continued = Some((column, true));
                }
                end + 1
            }
        }
    }

    /// The end of the scalar at `i` inside brackets (a key or a value).
    fn flow_scalar(&self, i: usize) -> usize {
        if matches!(self.at(i), '"' | '\'') {
            return self.quote_end(i).map_or(self.chars.len(), |c| c + 1);
        }
        let mut k = i;
        while k < self.chars.len() {
            match self.chars[k] {
                ',' | '{' | '}' | '[' | ']' | '\n' => break,
                ':' if matches!(self.at(k + 1), ' ' | '\t' | ',' | '}' | ']' | '\r' | '\n') => {
                    break
                }
                '#' if k > i && matches!(self.chars[k - 1], ' ' | '\t') => break,
                _ => k += 1,
            }
        }
        while k > i && matches!(self.chars[k - 1], ' ' | '\t' | '\r') {
            k -= 1;
        }
        k
    }

    /// A bracketed value from its opening bracket at `p`, over as many lines as it takes; its
    /// values (not its keys) masked when `masked`. Returns where it ends.
    fn flow(&mut self, p: usize, masked: bool) -> usize {
        // Each open bracket: a mapping or not, and whether its values are masked.
        let mut frames: Vec<(bool, bool)> = vec![(self.chars[p] == '{', masked)];
        let mut i = p + 1;
        while i < self.chars.len() {
            i = self.skip_blank(i);
            let Some(&(is_map, frame_masked)) = frames.last() else {
                return i;
            };
            match self.at(i) {
                '}' | ']' => {
                    frames.pop();
                    i += 1;
                    if frames.is_empty() {
                        return i;
                    }
                    continue;
                }
                ',' => {
                    i += 1;
                    continue;
                }
                c @ ('{' | '[') => {
                    frames.push((c == '{', frame_masked));
                    i += 1;
                    continue;
                }
                _ => {}
            }
            let start = i;
            let end = self.flow_scalar(i).max(i + 1).min(self.chars.len());
            let colon = self.skip_spaces(end);
            if is_map && self.at(colon) == ':' {
                let key: String = self.chars[start..end].iter().collect();
                let key = key.trim_matches(['"', '\'']).to_string();
                let value_masked = frame_masked || holds_secrets(&key);
                i = self.skip_blank(colon + 1);
                match self.at(i) {
                    c @ ('{' | '[') => {
                        frames.push((c == '{', value_masked));
                        i += 1;
                    }
                    ',' | '}' | ']' => {}
                    _ => {
                        let value_end = self.flow_scalar(i).max(i + 1).min(self.chars.len());
                        if value_masked {
                            self.mask_scalar(i, value_end);
                        }
                        i = value_end;
                    }
                }
                continue;
            }
            // An item, or a value that went on to another line.
            if frame_masked {
                self.mask_scalar(start, end);
            }
            i = end;
        }
        self.chars.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_search_before_the_parameter_regex_never_keeps_a_credential() {
        use proptest::prelude::*;
        let pieces = prop::collection::vec(
            prop::sample::select(vec![
                "access_token",
                "ACCESS_TOKEN",
                "myToken",
                "tok",
                "en",
                "code",
                "Code",
                "codes",
                "code_verifier",
                "x",
                "client_secret",
                "Set-Cookie",
                "password1",
                "Password",
                "assertion",
                "dpop",
                "api_key",
                "signature",
                "=",
                "==",
                "&",
                "?",
                "#",
                ";",
                " ",
                "\n",
                "\"",
                "'",
                "<",
                ">",
                "abc",
                "[redacted]",
                "é",
                "-",
                ".",
                "_",
            ]),
            0..24,
        );
        let config = proptest::test_runner::Config {
            cases: 2000,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x3a5c),
            ..Default::default()
        };
        let re = PARAM.as_ref().unwrap();
        proptest::proptest!(config, |(parts in pieces)| {
            let text = parts.concat();
            prop_assert_eq!(mask_params(&text), mask_matched_params(re, &text));
        });
        // And a known case each way.
        assert_eq!(
            mask_params("a?x=1&Access_Token=abc"),
            "a?x=1&Access_Token=[redacted]"
        );
        assert!(matches!(mask_params(" class=\"a\" id=b"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_packed_search_finds_every_needle_the_automaton_finds() {
        use proptest::prelude::*;
        let mut r = Redactor::new(["s3cr3t-value", "pässwörd €", "a+b c%d"]);
        r.add_basic_pair("client-id", "s3cr3t-value");
        // Built wherever aho-corasick's Teddy runs (x86_64 with SSSE3, aarch64); elsewhere the
        // automaton answers alone and this compares it with itself.
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("ssse3") {
            assert!(r.finder.is_some(), "no packed searcher on this CPU");
        }
        let mut automaton = r.clone();
        automaton.finder = None;
        // Whole needles, their halves, and the text around them.
        let mut pieces: Vec<String> = Vec::new();
        for n in &r.needles {
            let mid = (1..n.len()).find(|&i| n.is_char_boundary(i) && i >= n.len() / 2);
            let mid = mid.unwrap_or(n.len());
            pieces.extend([n.clone(), n[..mid].to_string(), n[mid..].to_string()]);
        }
        pieces.extend(["x", " ", "\"", "é", "=", "0123456789abcdef"].map(String::from));
        let config = proptest::test_runner::Config {
            cases: 2000,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed),
            ..Default::default()
        };
        proptest::proptest!(config, |(parts in prop::collection::vec(prop::sample::select(pieces.clone()), 0..40))| {
            let text = parts.concat();
            prop_assert_eq!(r.mask_known(&text), automaton.mask_known(&text));
        });
        assert_eq!(r.scrub_known("x s3cr3t-value y"), format!("x {MASK} y"));
        assert!(matches!(r.scrub_known("x s3cr3t-valu y"), Cow::Borrowed(_)));
    }

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
        // Raw, as Talkdesk builds it, and a raw secret as a form-decoding server echoes it.
        let mut r = Redactor::new(["hunter+22%41"]);
        r.add_basic_pair("client", "hunter+22%41");
        let raw = crate::basic::basic_header_with(
            crate::basic::BasicEncoding::Raw,
            "client",
            "hunter+22%41",
        );
        assert_eq!(r.scrub(&raw), format!("Basic {MASK}"));
        assert_eq!(r.scrub("echo: hunter 22A"), format!("echo: {MASK}"));
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

    #[test]
    fn a_non_ascii_secret_echoed_in_iso_8859_1_is_masked() {
        let secret = "s\u{e9}cr\u{e8}t-Value+1";
        let r = Redactor::new([secret]);
        // The secret's ISO-8859-1 bytes, as a server that echoes it in that charset sends them.
        let mut body = b"you sent ".to_vec();
        body.extend(secret.chars().map(|c| u32::from(c) as u8));
        let text = decode_text(&body);
        let shown = r.scrub(&text);
        assert!(!shown.contains("cr") && shown.contains(MASK), "{shown}");
        // Its UTF-8 bytes among stray bytes read as ISO-8859-1, and Python's \u00e9 escapes.
        let mut mixed = secret.as_bytes().to_vec();
        mixed.push(0xff);
        for text in [
            decode_text(&mixed).into_owned(),
            "s\\u00e9cr\\u00e8t-Value+1".into(),
        ] {
            let shown = r.scrub(&text);
            assert!(!shown.contains("Value"), "{text:?} shows {shown:?}");
        }
        assert!(preview_body(&body).contains("Value"));
        assert!(!r.scrub(&preview_body(&body)).contains("Value"));
    }

    #[test]
    fn a_secret_inside_a_longer_base64_text_is_masked_at_any_alignment() {
        let secret = "Hunter2-Secret/Value";
        let r = Redactor::new([secret]);
        for prefix in ["", "a", "ab", "abc:"] {
            let encoded = base64::engine::general_purpose::STANDARD
                .encode(format!("{prefix}{secret} and more"));
            let shown = r.scrub(&encoded).into_owned();
            // What is left of the base64 text no longer decodes to the secret at any alignment.
            for piece in shown.split(MASK) {
                for skip in 0..4.min(piece.len()) {
                    let p = &piece[skip..];
                    let usable = p.len() / 4 * 4;
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(&p[..usable])
                        .unwrap_or_default();
                    let decoded = String::from_utf8_lossy(&decoded);
                    assert!(!decoded.contains("Secret"), "{prefix:?}: {decoded:?}");
                }
            }
        }
    }

    #[test]
    fn reasons_are_one_bounded_line_with_the_steps_values_masked() {
        let long = format!(
            "\"http://x/?q={}\" is not a URL\nsecond line",
            "a".repeat(1_000_000)
        );
        let line = reason_line(&long, &[]);
        assert!(line.chars().count() < MAX_REASON + 40, "{}", line.len());
        assert!(!line.contains('\n'));
        let line = reason_line(
            "server said: Basic dG9rOnNlY3JldA==",
            &["dG9rOnNlY3JldA==".into()],
        );
        assert_eq!(line, format!("server said: Basic {MASK}"));
    }

    #[test]
    fn the_start_of_a_secret_cut_by_shorten_is_masked() {
        let secret = "Cut-S\u{e9}cret+/\"q\"&'<z=1";
        let r = Redactor::new([secret]);
        let json =
            serde_json::json!({ "echo": format!("{secret}{}", "x".repeat(400)) }).to_string();
        for cut in 8..40 {
            let text = format!(
                "{}{}",
                &json[..json.char_indices().nth(cut).unwrap().0],
                "z"
            );
            let short = shorten(
                &format!("{text}{}", "y".repeat(500)),
                text.chars().count() - 1,
            );
            let shown = r.scrub(&short);
            assert!(!shown.contains("Cut-S"), "{cut}: {shown}");
        }
        // A cut that ends with something no secret starts with is left alone.
        let plain = shorten(&"word ".repeat(200), 50);
        assert_eq!(r.scrub(&plain), plain);
    }
    /// The report's secrets (security-2026-12 F5): a space, regex and URL characters, NFD
    /// combining marks, control characters and a soft hyphen.
    const SHAPED: [(&str, &str); 5] = [
        ("Sp ace+Plus-Secret", "Plus-Secret"),
        ("R3g+ex (c)*[x]$^|\\d{2}~!:@=&%41;,", "R3g+ex"),
        ("cafe\u{301}-Pa\u{308}ss-word-77", "ss-word-77"),
        ("ctl\x7f-Secret\x01Value", "Secret"),
        ("soft\u{ad}hyphen-Secret", "hyphen"),
    ];

    #[test]
    fn a_secret_in_a_url_path_or_query_or_debug_escaped_or_on_one_line_is_masked() {
        for (secret, marker) in SHAPED {
            let r = Redactor::new([secret]);
            let in_path = url::Url::parse(&format!("http://127.0.0.1:9/echo/{secret}/x"))
                .unwrap()
                .to_string();
            let in_query = url::Url::parse(&format!("http://127.0.0.1:9/p?q={secret}&r=1"))
                .unwrap()
                .to_string();
            for text in [
                format!("error sending request for url ({in_path})"),
                format!("{in_path:?} is not a URL"),
                format!("GET {in_query}"),
                format!("the path {:?} would", format!("@127.0.0.1:5001/{secret}")),
                reason_line(&format!("refused: {secret} here"), &[]),
            ] {
                let shown = r.scrub(&text);
                assert!(
                    !shown.contains(marker) && shown.contains(MASK),
                    "{secret:?} in {text:?} shows {shown:?}"
                );
            }
        }
    }

    #[test]
    fn a_targets_files_secrets_are_masked_on_every_line_and_in_both_styles() {
        let text = "targets:\n  t:\n    oauth2:\n      base_url: https://x.test\n      vars: { client_id: shown-id, password: Var-Pass-1, other: shown-too }\n      secrets: { client_secret: \"Literal-Secret-In-File-1\", b: \"prefix-Literal-Part-2${X}\", c: \"${X}suffix-Literal-3\" }\n      secret_files:\n        key: Literal-Path-4\n        other: Literal-Secret-5-on-next-line\n          and-its-second-line\n        block: |\n          Literal-Block-6\n          Literal-Block-7\n      bogus: 1\n      profiles:\n        p:\n          secrets:\n            - Literal-Item-8\n          api_key: 'Literal-Quoted-9\n            over-two-lines'\n          client_secret: {\n            nested: Literal-Flow-10,\n            more: [Literal-Flow-11] }\n    apis:\n      x: { secrets: { k: \"${ENV}\" }, base_url: https://y.test }\n";
        let (masked, hidden) = mask_yaml_secrets(text);
        assert_eq!(masked.lines().count(), text.lines().count());
        for (a, b) in masked.lines().zip(text.lines()) {
            assert_eq!(a.chars().count(), b.chars().count(), "{a}");
        }
        assert!(!masked.contains("Literal"), "{masked}");
        assert!(!masked.contains("Var-Pass"), "{masked}");
        assert!(!masked.contains("and-its"), "{masked}");
        assert!(!masked.contains("over-two"), "{masked}");
        for kept in [
            "base_url: https://x.test",
            "client_id: shown-id",
            "other: shown-too",
            "\"*********************${X}\"",
            "\"${X}****************\"",
            "bogus: 1",
            "k: \"${ENV}\"",
            "base_url: https://y.test",
        ] {
            assert!(masked.contains(kept), "{kept} in\n{masked}");
        }
        assert!(hidden.iter().any(|h| h == "Literal-Secret-In-File-1"));
        assert!(!hidden.iter().any(|h| h.contains("${ENV}")), "{hidden:?}");
    }
}
