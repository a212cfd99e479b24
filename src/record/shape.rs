//! The shape of a response: JSON paths and their types (members in the order received), the
//! values of the headers that matter, enum-like values and the claims of each JWT. No other
//! value: a shape holds nothing secret.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::http::Received;

/// Headers whose values a shape records (others: only that they are there).
pub const HEADERS_THAT_MATTER: &[&str] = &["cache-control", "pragma", "content-type"];

/// Members whose values are enum-like: recorded, and compared by value.
pub const ENUM_MEMBERS: &[&str] = &[
    "token_type",
    "error",
    "errorCode",
    "scope",
    "active",
    "deploymentType",
    "issued_token_type",
    "grant_type",
    "response_type",
    "token_type_hint",
];

/// One step's response, as `tokenconf diff` compares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepShape {
    pub step: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    /// `json`, `text` or `empty`.
    pub body: String,
    /// Values of [`HEADERS_THAT_MATTER`], and `www-authenticate` as its scheme only.
    pub headers: BTreeMap<String, String>,
    /// Every response header name (lower case, sorted).
    pub header_names: Vec<String>,
    /// JSON path → type (`string`, `integer`, `number`, `boolean`, `null`, `object`, `array`;
    /// `a|b` when array items differ), in the order received.
    pub paths: IndexMap<String, String>,
    /// Each object's member names in the order received, by path.
    pub order: BTreeMap<String, Vec<String>>,
    /// Values of [`ENUM_MEMBERS`] by path; `scope` as its sorted tokens.
    pub enums: BTreeMap<String, serde_json::Value>,
    /// Each JWT by path: its header and claim names with their types.
    pub jwts: BTreeMap<String, JwtShape>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JwtShape {
    pub header: BTreeMap<String, String>,
    pub claims: BTreeMap<String, String>,
}

/// A JSON value with its members in the order received (serde_json sorts them).
#[derive(Debug, Clone)]
pub enum Node {
    Null,
    Bool(bool),
    Integer,
    Number,
    Str(String),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Node, E> {
                Ok(Node::Bool(b))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Integer)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Integer)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Number)
            }
            fn visit_str<E>(self, s: &str) -> Result<Node, E> {
                Ok(Node::Str(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<Node, E> {
                Ok(Node::Str(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(n) = seq.next_element()? {
                    items.push(n);
                }
                Ok(Node::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut members = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Node>()? {
                    members.push((k, v));
                }
                Ok(Node::Object(members))
            }
        }
        d.deserialize_any(V)
    }
}

impl Node {
    fn type_name(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "boolean",
            Node::Integer => "integer",
            Node::Number => "number",
            Node::Str(_) => "string",
            Node::Array(_) => "array",
            Node::Object(_) => "object",
        }
    }
}

/// The shape of one step's response.
pub fn of_step(step: &str, method: &str, path: &str, received: &Received) -> StepShape {
    let mut shape = StepShape {
        step: step.to_string(),
        method: method.to_string(),
        path: path.to_string(),
        status: received.status,
        body: "empty".into(),
        headers: BTreeMap::new(),
        header_names: Vec::new(),
        paths: IndexMap::new(),
        order: BTreeMap::new(),
        enums: BTreeMap::new(),
        jwts: BTreeMap::new(),
    };
    let mut names: Vec<String> = received
        .headers
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    shape.header_names = names;
    for name in HEADERS_THAT_MATTER {
        let values = received.header_all(name);
        if !values.is_empty() {
            shape.headers.insert(name.to_string(), values.join(", "));
        }
    }
    let schemes: Vec<&str> = received
        .header_all("www-authenticate")
        .into_iter()
        .filter_map(|v| v.split_whitespace().next())
        .collect();
    if !schemes.is_empty() {
        shape
            .headers
            .insert("www-authenticate".into(), schemes.join(", "));
    }
    if !received.body.is_empty() {
        match serde_json::from_slice::<Node>(&received.body) {
            Ok(node) => {
                shape.body = "json".into();
                walk(&node, "$", &mut shape);
            }
            Err(_) => shape.body = "text".into(),
        }
    }
    shape
}

fn walk(node: &Node, path: &str, shape: &mut StepShape) {
    let ty = node.type_name();
    match shape.paths.get_mut(path) {
        Some(existing) if existing.split('|').any(|t| t == ty) => {}
        Some(existing) => *existing = format!("{existing}|{ty}"),
        None => {
            shape.paths.insert(path.to_string(), ty.to_string());
        }
    }
    match node {
        Node::Object(members) => {
            shape.order.insert(
                path.to_string(),
                members.iter().map(|(k, _)| k.clone()).collect(),
            );
            for (k, v) in members {
                let child = member_path(path, k);
                if ENUM_MEMBERS.contains(&k.as_str()) {
                    if let Some(value) = enum_value(k, v) {
                        shape.enums.insert(child.clone(), value);
                    }
                }
                if let Node::Str(s) = v {
                    if let Some(jwt) = jwt_shape(s) {
                        shape.jwts.insert(child.clone(), jwt);
                    }
                }
                walk(v, &child, shape);
            }
        }
        Node::Array(items) => {
            let child = format!("{path}[*]");
            for item in items {
                walk(item, &child, shape);
            }
        }
        _ => {}
    }
}

/// `$.name`, or `$['odd name']` for a name that is not an identifier.
fn member_path(parent: &str, name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        format!("{parent}.{name}")
    } else {
        format!("{parent}[{}]", serde_json::Value::String(name.to_string()))
    }
}

fn enum_value(name: &str, node: &Node) -> Option<serde_json::Value> {
    match node {
        Node::Str(s) if name == "scope" => {
            let mut tokens: Vec<&str> = s.split_whitespace().collect();
            tokens.sort_unstable();
            Some(serde_json::json!(tokens))
        }
        // Short values only: an enum, not free text that could carry anything.
        Node::Str(s) if s.len() <= 64 => Some(serde_json::Value::String(s.clone())),
        Node::Bool(b) => Some(serde_json::Value::Bool(*b)),
        _ => None,
    }
}

/// The header and claim names (with types) of a JWS; `None` when `text` is not one.
pub fn jwt_shape(text: &str) -> Option<JwtShape> {
    if !text.starts_with("eyJ") {
        return None;
    }
    let jws = crate::rules::jwt::decode(text).ok()?;
    let names = |members: &serde_json::Map<String, serde_json::Value>| {
        members
            .iter()
            .map(|(k, v)| {
                let kind = Node::deserialize(v).map_or("unknown", |n| n.type_name());
                (k.clone(), kind.to_string())
            })
            .collect()
    };
    Some(JwtShape {
        header: names(&jws.header),
        claims: names(&jws.payload),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(body: &str, headers: &[(&str, &str)]) -> Received {
        Received {
            status: 200,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
            json: serde_json::from_str(body).ok(),
            duplicate_names: None,
            elapsed: Default::default(),
        }
    }

    #[test]
    fn paths_types_order_enums_and_headers() {
        let r = received(
            r#"{"z":1,"token_type":"Bearer","scope":"b a","items":[1,"x"],"n":{"ok":true}}"#,
            &[
                ("Cache-Control", "no-store"),
                ("www-authenticate", "Basic realm=\"x\""),
            ],
        );
        let s = of_step("step 1", "POST", "/t", &r);
        assert_eq!(s.body, "json");
        assert_eq!(s.paths["$.z"], "integer");
        assert_eq!(s.paths["$.items[*]"], "integer|string");
        assert_eq!(s.order["$"], ["z", "token_type", "scope", "items", "n"]);
        assert_eq!(s.enums["$.token_type"], "Bearer");
        assert_eq!(s.enums["$.scope"], serde_json::json!(["a", "b"]));
        assert_eq!(s.headers["cache-control"], "no-store");
        assert_eq!(s.headers["www-authenticate"], "Basic");
        assert_eq!(s.header_names, ["cache-control", "www-authenticate"]);
    }
}
