//! The suite file as written: serde types that mirror the YAML, with spans for error messages.
//! No `untagged` or `flatten`: every "one of several shapes" has its own visitor so errors stay precise.

use std::fmt;

use indexmap::IndexMap;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::yaml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile {
    pub suite: Option<Spanned<String>>,
    pub api: Spanned<String>,
    pub doc: Option<String>,
    #[serde(default)]
    pub vars: IndexMap<String, Spanned<Scalar>>,
    #[serde(default)]
    pub secrets: Vec<Spanned<String>>,
    #[serde(default)]
    pub fixtures: IndexMap<String, Spanned<FixtureFile>>,
    /// Signed tokens the harness mints fresh at each use, as `{{ jwt.NAME }}`.
    #[serde(default)]
    pub jwts: IndexMap<String, Spanned<JwtFile>>,
    pub cases: Vec<Spanned<CaseFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtFile {
    /// RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA or HS256/384/512.
    pub alg: Spanned<String>,
    /// PEM (PKCS#8 or PKCS#1) for asymmetric algorithms, the shared secret for HS*; usually `{{ a_secret }}`.
    pub key: Spanned<String>,
    pub kid: Option<Spanned<String>>,
    pub typ: Option<String>,
    /// What the token is for; its required claims are checked when the suite loads.
    pub kind: Option<Spanned<JwtKind>>,
    pub claims: Spanned<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JwtKind {
    /// RFC 7523 §2.2 client authentication (`private_key_jwt`): iss, sub, aud, jti, exp; iss = sub.
    ClientAssertion,
    /// RFC 7523 §2.1 authorization grant: iss, sub, aud, exp.
    JwtBearer,
    /// An identity token a client hands over (e.g. MIAW's customerIdentityToken): iss, sub, exp.
    IdentityToken,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureFile {
    pub request: Option<RequestFile>,
    pub expect: Option<ExpectFile>,
    #[serde(default)]
    pub capture: IndexMap<String, Spanned<CaptureFile>>,
    pub steps: Option<Vec<StepFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    pub name: Spanned<String>,
    pub doc: Option<String>,
    #[serde(default)]
    pub requires: Vec<Spanned<String>>,
    pub request: Option<RequestFile>,
    pub expect: Option<ExpectFile>,
    #[serde(default)]
    pub capture: IndexMap<String, Spanned<CaptureFile>>,
    pub steps: Option<Vec<StepFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepFile {
    pub name: Option<String>,
    pub request: RequestFile,
    pub expect: Option<ExpectFile>,
    #[serde(default)]
    pub capture: IndexMap<String, Spanned<CaptureFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestFile {
    pub method: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    #[serde(default)]
    pub query: IndexMap<String, Spanned<Scalar>>,
    #[serde(default)]
    pub headers: IndexMap<String, Spanned<Scalar>>,
    pub auth: Option<Spanned<AuthFile>>,
    pub form: Option<Spanned<IndexMap<String, Spanned<Scalar>>>>,
    pub json: Option<Spanned<serde_json::Value>>,
    pub body: Option<Spanned<String>>,
    /// Per-request total timeout in milliseconds.
    pub timeout_ms: Option<u64>,
}

/// One of: `basic` (= `client_secret_basic`), `client_secret_post`, `private_key_jwt`, `bearer`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    pub basic: Option<BasicFile>,
    pub client_secret_basic: Option<BasicFile>,
    pub client_secret_post: Option<PostFile>,
    pub private_key_jwt: Option<PrivateKeyJwtFile>,
    pub bearer: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostFile {
    pub client_id: Spanned<Scalar>,
    pub client_secret: Spanned<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivateKeyJwtFile {
    /// Also sent as the `client_id` form field when given.
    pub client_id: Option<Spanned<Scalar>>,
    /// A name under the suite's `jwts:`.
    pub jwt: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicFile {
    pub user: Spanned<Scalar>,
    pub password: Spanned<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectFile {
    pub status: Option<Spanned<StatusFile>>,
    #[serde(default)]
    pub headers: IndexMap<String, Spanned<PredicateFile>>,
    #[serde(default)]
    pub json: IndexMap<String, Spanned<PredicateFile>>,
    pub schema: Option<Spanned<String>>,
    #[serde(default)]
    pub rules: Vec<Spanned<String>>,
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

/// What a header or JSON value must satisfy: `absent`, `exists`, a bare value (equals) or a map.
#[derive(Debug, Clone)]
pub enum PredicateFile {
    Absent,
    Exists,
    Equals(serde_json::Value),
    Map(PredicateMap),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredicateMap {
    pub equals: Option<serde_json::Value>,
    pub not_equals: Option<serde_json::Value>,
    pub equals_ignore_case: Option<String>,
    pub contains: Option<String>,
    pub matches: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<JsonType>,
    pub exists: Option<bool>,
    pub absent: Option<bool>,
    pub one_of: Option<Vec<serde_json::Value>>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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

/// `name: $.json.path`, or `{ json: $.path }`, `{ header: location, regex: "code=([^&]+)" }`.
#[derive(Debug, Clone, Default)]
pub struct CaptureFile {
    pub json: Option<String>,
    pub header: Option<String>,
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
