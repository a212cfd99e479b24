//! The suite file as written: serde types that mirror the YAML, with spans for error messages.
//! No `untagged` or `flatten`: every "one of several shapes" has its own visitor so errors stay precise.
//! Each type also serializes to a shape its visitor reads back: the parse cache's form.

use std::borrow::Cow;
use std::fmt;

use indexmap::IndexMap;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::yaml::Spanned;

/// A tokenconf suite: cases held against one API of a target.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "tokenconf suite")]
pub struct SuiteFile {
    /// The suite's name in test names (`<suite>::<case>`); default: the file's path under suites/.
    #[schemars(with = "Option<String>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suite: Option<Spanned<String>>,
    /// Which API of the target this suite talks to: talkdesk, salesforce, miaw, oauth2 or a name under `apis:`.
    #[schemars(with = "String")]
    pub api: Spanned<String>,
    /// Where the behaviour under test is documented (a URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// The basis of every expectation of its cases that gives none: a vendor document (URL), an
    /// RFC clause (`RFC 6749 §5.2`), or `assumed` (our guess where the docs are silent). Default: `doc`.
    #[schemars(with = "Option<String>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Spanned<String>>,
    /// The profile of the target's API every case runs against (a case's own `profile:` wins);
    /// default: the first that has everything the case requires.
    #[schemars(with = "Option<String>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Spanned<String>>,
    /// Default values for `{{ name }}`; a target may override any of them.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, Scalar>")]
    pub vars: IndexMap<String, Spanned<Scalar>>,
    /// Names whose values come only from the target (the environment); always redacted.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub secrets: Vec<Spanned<String>>,
    /// Shared setup, run once per process on first use; cases read its captures as `{{ NAME.capture }}`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, FixtureFile>")]
    pub fixtures: IndexMap<String, Spanned<FixtureFile>>,
    /// Signed tokens the harness mints fresh at each use, as `{{ jwt.NAME }}`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, JwtFile>")]
    pub jwts: IndexMap<String, Spanned<JwtFile>>,
    /// The test cases, each independent of the others.
    // Boxed: a case is large, and the list grows while it is read (a copy of every case at
    // each doubling, 10% of a warm `list` of one 10,000-case file).
    #[schemars(with = "Vec<CaseFile>")]
    pub cases: Vec<Spanned<Box<CaseFile>>>,
}

/// A JWT the harness signs itself, from a key the target supplies.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtFile {
    /// RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA or HS256/384/512.
    #[schemars(with = "String")]
    #[schemars(extend("enum" = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
        "ES384", "EdDSA", "HS256", "HS384", "HS512"]))]
    pub alg: Spanned<String>,
    /// PEM (PKCS#8 or PKCS#1) for asymmetric algorithms, the shared secret for HS*; usually `{{ a_secret }}`.
    #[schemars(with = "String")]
    pub key: Spanned<String>,
    /// The header's `kid`.
    #[schemars(with = "Option<String>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<Spanned<String>>,
    /// The header's `typ` (default JWT).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// What the token is for; its required claims are checked when the suite loads.
    #[schemars(with = "Option<JwtKind>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Spanned<JwtKind>>,
    /// The payload; `{{ now }}`, `{{ now+300 }}` alone in a claim become numbers.
    #[schemars(with = "serde_json::Value")]
    pub claims: Spanned<serde_json::Value>,
}

/// What a minted JWT is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JwtKind {
    /// RFC 7523 §2.2 client authentication (`private_key_jwt`): iss, sub, aud, jti, exp; iss = sub.
    ClientAssertion,
    /// RFC 7523 §2.1 authorization grant: iss, sub, aud, exp.
    JwtBearer,
    /// An identity token a client hands over (e.g. MIAW's customerIdentityToken): iss, sub, exp.
    IdentityToken,
}

/// Shared setup: one request or a list of steps, run once per process on first use.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FixtureFile {
    /// The one request (or give `steps`).
    // Boxed here, in a case and in a step (not a doc comment: schemars would publish it): serde
    // builds each struct on the stack and moves it up through every layer, 736 bytes each time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<Box<RequestFile>>,
    /// What the answer to `request` must satisfy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectFile>,
    /// Values taken from the answer to `request`, by name.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, CaptureFile>")]
    pub capture: IndexMap<String, Spanned<CaptureFile>>,
    /// Requests run in order; captures flow to later steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepFile>>,
}

/// One test case: a request (or steps) and what the answers must satisfy.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// The case's name; its slug is the test name's second half.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Why the case exists: the clause or vendor document it checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// The basis of its expectations (overriding the suite's `source`): a vendor document (URL),
    /// an RFC clause, or `assumed`, which makes every expectation of the case assumed (not its
    /// rules: each rule cites its own clause).
    #[schemars(with = "Option<String>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Spanned<String>>,
    /// Vars the target must supply, or capabilities its API (or a profile) must declare; without
    /// them the case is skipped, with the reason.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub requires: Vec<Spanned<String>>,
    /// The profile of the target's API to run against (e.g. a second client); overrides the
    /// suite's `profile:`.
    #[schemars(with = "Option<String>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Spanned<String>>,
    /// The one request (or give `steps`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<Box<RequestFile>>,
    /// What the answer to `request` must satisfy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectFile>,
    /// Values taken from the answer to `request`, by name.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, CaptureFile>")]
    pub capture: IndexMap<String, Spanned<CaptureFile>>,
    /// Requests run in order; captures flow to later steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepFile>>,
}

/// One request of a case or fixture with steps.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepFile {
    /// Shown in failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A pause before the request, e.g. to outlive a lifetime an earlier step captured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait: Option<WaitFile>,
    /// What to send.
    pub request: Box<RequestFile>,
    /// What the answer must satisfy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectFile>,
    /// Values taken from the answer, for later steps, by name.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, CaptureFile>")]
    pub capture: IndexMap<String, Spanned<CaptureFile>>,
}

/// `wait:` on a step: how long to pause before its request, and the longest pause the target
/// allows (a longer one skips the case).
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitFile {
    /// Seconds: a number (0 or more), or a template such as `{{ expires_in }}` an earlier step captured.
    #[schemars(with = "Scalar")]
    pub seconds: Spanned<Scalar>,
    /// Whole seconds added to `seconds`, e.g. 1 to be past a lifetime. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<u64>")]
    pub plus: Option<Spanned<Scalar>>,
    /// The longest wait allowed, a number or a template such as `{{ max_wait_seconds }}`;
    /// a longer wait skips the case with the reason. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Scalar>")]
    pub at_most: Option<Spanned<Scalar>>,
}

/// What to send; every string may hold `{{ name }}` templates.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestFile {
    /// Default: POST with a body, else GET.
    #[schemars(with = "Option<String>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<Spanned<String>>,
    /// A path under the target's base URL (or give `url`).
    #[schemars(with = "Option<String>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<Spanned<String>>,
    /// An absolute URL (or give `path`).
    #[schemars(with = "Option<String>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<Spanned<String>>,
    /// Query parameters, by name.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, Scalar>")]
    pub query: IndexMap<String, Spanned<Scalar>>,
    /// Request headers, by name.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, Scalar>")]
    pub headers: IndexMap<String, Spanned<Scalar>>,
    /// Client authentication.
    #[schemars(with = "Option<AuthFile>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<Box<Spanned<AuthFile>>>,
    /// An application/x-www-form-urlencoded body (or give `json` or `body`).
    #[schemars(with = "Option<IndexMap<String, Scalar>>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form: Option<Spanned<IndexMap<String, Spanned<Scalar>>>>,
    /// A JSON body (or give `form` or `body`).
    #[schemars(with = "Option<serde_json::Value>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json: Option<Spanned<serde_json::Value>>,
    /// A raw body, sent as written (or give `form` or `json`).
    #[schemars(with = "Option<String>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Spanned<String>>,
    /// Per-request total timeout in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// A DPoP proof (RFC 9449) minted for this request: `valid`, or one a server must refuse
    /// (`wrong_htm`, `wrong_htu`, `stale_iat`, `reused_jti`, `alg_none`, `symmetric_alg`,
    /// `private_key_in_jwk`, `bad_signature`, `other_key`, `no_ath`, `wrong_ath`, `no_nonce`).
    /// With `auth: bearer` the token is sent as `Authorization: DPoP`.
    #[schemars(with = "Option<String>")]
    #[schemars(extend("enum" = ["valid", "wrong_htm", "wrong_htu", "stale_iat", "reused_jti",
        "alg_none", "symmetric_alg", "private_key_in_jwk", "bad_signature", "other_key",
        "no_ath", "wrong_ath", "no_nonce"]))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dpop: Option<Spanned<String>>,
}

/// One of: `basic` (= `client_secret_basic`), `client_secret_post`, `private_key_jwt`, `bearer`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    /// HTTP Basic with RFC 6749 §2.3.1 encoding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic: Option<BasicFile>,
    /// The same as `basic`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_basic: Option<BasicFile>,
    /// The client's id and secret as form fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_post: Option<PostFile>,
    /// A signed client assertion (RFC 7523 §2.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key_jwt: Option<PrivateKeyJwtFile>,
    /// `Authorization: Bearer TOKEN`.
    #[schemars(with = "Option<String>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bearer: Option<Spanned<String>>,
}

/// `client_secret_post`: the client's credentials in the form body.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostFile {
    #[schemars(with = "Scalar")]
    pub client_id: Spanned<Scalar>,
    #[schemars(with = "Scalar")]
    pub client_secret: Spanned<Scalar>,
}

/// `private_key_jwt`: a client assertion minted from the suite's `jwts:`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrivateKeyJwtFile {
    /// Also sent as the `client_id` form field when given.
    #[schemars(with = "Option<Scalar>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<Spanned<Scalar>>,
    /// A name under the suite's `jwts:`.
    #[schemars(with = "String")]
    pub jwt: Spanned<String>,
}

/// HTTP Basic credentials.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicFile {
    #[schemars(with = "Scalar")]
    pub user: Spanned<Scalar>,
    #[schemars(with = "Scalar")]
    pub password: Spanned<Scalar>,
}

/// What an answer must satisfy; every condition given must hold.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectFile {
    #[schemars(with = "Option<StatusFile>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Spanned<StatusFile>>,
    /// Header name (case-insensitive) → predicate.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, PredicateFile>")]
    pub headers: IndexMap<String, Spanned<PredicateFile>>,
    /// JSONPath (RFC 9535) → predicate.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, PredicateFile>")]
    pub json: IndexMap<String, Spanned<PredicateFile>>,
    /// A JSON Schema (2020-12) file under specs/ the body must match.
    #[schemars(with = "Option<String>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<Spanned<String>>,
    /// Rule sets of the OAuth rule library to hold the answer against (see `tokenconf rules`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub rules: Vec<Spanned<String>>,
    /// Expectations above that are our guess where the docs are silent, by the name their
    /// findings carry: `status`, `header cache-control`, `json $.x`, `schema`. Against a real
    /// target a failing one is an unconfirmed warning, never a failure; against the embedded mock
    /// it stays strict.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub assumed: Vec<Spanned<String>>,
}

/// A scalar written as a string, number or boolean; used where the value ends up as text.
#[derive(Debug, Clone)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Scalar {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

// The editor schema of each hand-written visitor lists exactly the shapes its visitor accepts.
impl JsonSchema for Scalar {
    fn schema_name() -> Cow<'static, str> {
        "Scalar".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A string, number or boolean, used as text.",
            "type": ["string", "number", "boolean"]
        })
    }
}

/// `status: 200`, `status: [200, 201]` or `status: 4xx`.
#[derive(Debug, Clone)]
pub struct StatusFile(pub Vec<String>);

impl<'de> Deserialize<'de> for StatusFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StatusFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a status code (200), a class (4xx) or a list of them")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StatusFile, E> {
                Ok(StatusFile(vec![v.to_string()]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StatusFile, E> {
                Ok(StatusFile(vec![v.to_string()]))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StatusFile, E> {
                Ok(StatusFile(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StatusFile, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<Scalar>()? {
                    out.push(s.0);
                }
                Ok(StatusFile(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for StatusFile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(&self.0)
    }
}

impl JsonSchema for StatusFile {
    fn schema_name() -> Cow<'static, str> {
        "Status".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "The expected status: a code (200), a class (4xx) or a list of them ([200, 201]).",
            "oneOf": [
                { "type": "integer", "description": "A status code." },
                { "type": "string", "description": "A code or a class such as 4xx.", "examples": ["2xx", "4xx"] },
                { "type": "array", "items": generator.subschema_for::<Scalar>(), "description": "Any of these codes or classes." }
            ]
        })
    }
}

/// What a header or JSON value must satisfy: `absent`, `exists`, a bare value (equals) or a map.
#[derive(Debug, Clone)]
pub enum PredicateFile {
    Absent,
    Exists,
    Equals(serde_json::Value),
    Map(PredicateMap),
}

/// Conditions on one value; every condition given must hold.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PredicateMap {
    /// Equal to this value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equals: Option<serde_json::Value>,
    /// Anything but this value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_equals: Option<serde_json::Value>,
    /// Equal to this text, ignoring case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equals_ignore_case: Option<String>,
    /// Holds this text (ignoring case on header values).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// Matches this regular expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    /// The value's JSON type.
    #[serde(rename = "type")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<JsonType>,
    /// Present (true) or missing (false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// Missing (true) or present (false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub absent: Option<bool>,
    /// Equal to one of these values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<serde_json::Value>>,
    /// A number at least this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// A number at most this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// A JSON type name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JsonType {
    String,
    Number,
    Integer,
    Boolean,
    Object,
    Array,
    Null,
}

impl JsonType {
    pub fn name(self) -> &'static str {
        match self {
            JsonType::String => "string",
            JsonType::Number => "number",
            JsonType::Integer => "integer",
            JsonType::Boolean => "boolean",
            JsonType::Object => "object",
            JsonType::Array => "array",
            JsonType::Null => "null",
        }
    }

    /// With its article, for a sentence: "an integer", "a string", "null".
    pub fn with_article(self) -> &'static str {
        match self {
            JsonType::String => "a string",
            JsonType::Number => "a number",
            JsonType::Integer => "an integer",
            JsonType::Boolean => "a boolean",
            JsonType::Object => "an object",
            JsonType::Array => "an array",
            JsonType::Null => "null",
        }
    }
}

impl<'de> Deserialize<'de> for PredicateFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PredicateFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "`absent`, `exists`, a value to equal, or a map such as { contains: no-store }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PredicateFile, E> {
                Ok(match v {
                    "absent" => PredicateFile::Absent,
                    "exists" => PredicateFile::Exists,
                    other => PredicateFile::Equals(serde_json::Value::String(other.to_string())),
                })
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<PredicateFile, E> {
                Ok(PredicateFile::Equals(v.into()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PredicateFile, E> {
                Ok(PredicateFile::Equals(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PredicateFile, E> {
                Ok(PredicateFile::Equals(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<PredicateFile, E> {
                // JSON has no infinity: `.inf` would silently have meant `null` (the parser
                // already refuses `.nan` here).
                if !v.is_finite() {
                    return Err(E::custom(format!(
                        "{v} is not a number a JSON body can hold"
                    )));
                }
                Ok(PredicateFile::Equals(v.into()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<PredicateFile, E> {
                Ok(PredicateFile::Equals(serde_json::Value::Null))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PredicateFile, A::Error> {
                PredicateMap::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(PredicateFile::Map)
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for PredicateFile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PredicateFile::Absent => s.serialize_str("absent"),
            PredicateFile::Exists => s.serialize_str("exists"),
            PredicateFile::Equals(v) => v.serialize(s),
            PredicateFile::Map(m) => m.serialize(s),
        }
    }
}

impl JsonSchema for PredicateFile {
    fn schema_name() -> Cow<'static, str> {
        "Predicate".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "`absent`, `exists`, a value to equal, or a map of conditions such as { contains: no-store }.",
            "oneOf": [
                { "enum": ["absent", "exists"], "description": "`absent`: missing; `exists`: present." },
                { "type": "string", "not": { "enum": ["absent", "exists"] }, "description": "Equal to this string." },
                { "type": ["number", "boolean", "null"], "description": "Equal to this value." },
                generator.subschema_for::<PredicateMap>()
            ]
        })
    }
}

/// `name: $.json.path`, or `{ json: $.path }`, `{ header: location, regex: "code=([^&]+)" }`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CaptureFile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

impl CaptureFile {
    fn parse<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CaptureFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a JSONPath such as $.access_token, or a map with json, header and regex",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CaptureFile, E> {
                Ok(CaptureFile {
                    json: Some(v.to_string()),
                    ..Default::default()
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<CaptureFile, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Map {
                    json: Option<String>,
                    header: Option<String>,
                    regex: Option<String>,
                }
                let m = Map::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(CaptureFile {
                    json: m.json,
                    header: m.header,
                    regex: m.regex,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for CaptureFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        CaptureFile::parse(d)
    }
}

impl JsonSchema for CaptureFile {
    fn schema_name() -> Cow<'static, str> {
        "Capture".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A value taken from an answer: a JSONPath such as $.access_token, or a map with json, header and regex.",
            "oneOf": [
                { "type": "string", "description": "A JSONPath (RFC 9535) into the JSON body." },
                {
                    "type": "object",
                    "properties": {
                        "json": { "type": ["string", "null"], "description": "A JSONPath (RFC 9535) into the JSON body." },
                        "header": { "type": ["string", "null"], "description": "A response header's name." },
                        "regex": { "type": ["string", "null"], "description": "Applied to the value; group 1 is captured." }
                    },
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// `absent` or `exists` on a JSON path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Present,
    Absent,
}

/// How a value reads in a message: "a string", "an integer", "null".
pub fn type_name(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(n) if n.is_f64() => "a number",
        serde_json::Value::Number(_) => "an integer",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
