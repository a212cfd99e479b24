//! `{{ name }}` interpolation, parsed once at load time and rendered per request.

use std::collections::HashMap;
use std::sync::LazyLock;

use memchr::memmem::Finder;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Var(String),
    /// `{{ now }}`, `{{ now+180 }}`, `{{ now-600 }}`: Unix seconds, at render time.
    Now(i64),
    /// `{{ uuid }}`: a fresh random UUID at each render.
    Uuid,
}

/// A string with `{{ name }}` placeholders.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

/// Names and their values: a suite's, a target's, a case's captures. Keyed by foldhash: each
/// request looks several up, and SipHash was most of that.
pub type Values = HashMap<String, String, foldhash::fast::RandomState>;

/// Where rendering looks names up: captures of this case first, then the suite's resolved values.
pub struct Scope<'a> {
    pub captures: &'a Values,
    pub base: &'a Values,
}

impl<'a> Scope<'a> {
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.captures
            .get(name)
            .or_else(|| self.base.get(name))
            .map(String::as_str)
    }
}

impl Template {
    /// Parses `text`; an unclosed `{{` or an empty or malformed name is an error.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = OPEN.find(rest.as_bytes()) {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = CLOSE
                .find(after.as_bytes())
                .ok_or_else(|| format!("unclosed `{{{{` in {text:?}"))?;
            let name = after[..close].trim();
            if let Some(f) = function(name) {
                parts.push(f?);
            } else if is_name(name) {
                parts.push(Part::Var(name.to_string()));
            } else {
                return Err(format!(
                    "`{{{{ {name} }}}}` is not a variable name (letters, digits, `_`, `-` and `.`)"
                ));
            }
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    pub fn literal(text: &str) -> Template {
        Template {
            parts: vec![Part::Text(text.to_string())],
        }
    }

    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            _ => None,
        })
    }

    /// `{{ now… }}` alone renders as a JSON number (a JWT's exp, iat, nbf).
    fn lone_now(&self) -> Option<i64> {
        match self.parts.as_slice() {
            [Part::Now(offset)] => Some(now_plus(*offset)),
            _ => None,
        }
    }

    /// Renders with `scope`; the error names the first variable without a value.
    pub fn render(&self, scope: &Scope) -> Result<String, String> {
        self.render_cow(scope).map(std::borrow::Cow::into_owned)
    }

    /// [`Template::render`], borrowed when the template is plain text or one name alone (most
    /// templates of a case): nothing is copied then.
    pub fn render_cow<'s>(
        &'s self,
        scope: &Scope<'s>,
    ) -> Result<std::borrow::Cow<'s, str>, String> {
        match self.parts.as_slice() {
            [Part::Text(t)] => return Ok(std::borrow::Cow::Borrowed(t)),
            [Part::Var(v)] => {
                return scope
                    .get(v)
                    .map(std::borrow::Cow::Borrowed)
                    .ok_or_else(|| v.clone())
            }
            _ => {}
        }
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var(v) => out.push_str(scope.get(v).ok_or_else(|| v.clone())?),
                Part::Now(offset) => out.push_str(&now_plus(*offset).to_string()),
                Part::Uuid => out.push_str(&uuid::Uuid::new_v4().to_string()),
            }
        }
        Ok(std::borrow::Cow::Owned(out))
    }
}

/// Built-in functions: `now`, `now+N`, `now-N` (seconds) and `uuid`; `None` for other names.
fn function(name: &str) -> Option<Result<Part, String>> {
    let compact: String = name.chars().filter(|c| !c.is_whitespace()).collect();
    if compact == "uuid" {
        return Some(Ok(Part::Uuid));
    }
    let rest = compact.strip_prefix("now")?;
    if rest.is_empty() {
        return Some(Ok(Part::Now(0)));
    }
    let (sign, digits) = if let Some(d) = rest.strip_prefix('+') {
        (1, d)
    } else if let Some(d) = rest.strip_prefix('-') {
        (-1, d)
    } else {
        return None;
    };
    Some(
        digits
            .parse::<u32>()
            .map(|n| Part::Now(sign * i64::from(n)))
            .map_err(|_| format!("`{{{{ {name} }}}}`: write now+SECONDS or now-SECONDS")),
    )
}

fn now_plus(offset: i64) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    now.saturating_add(offset)
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// A JSON value whose strings may hold templates.
#[derive(Debug, Clone)]
pub enum JsonTemplate {
    Fixed(Value),
    Text(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

impl JsonTemplate {
    pub fn parse(value: &Value) -> Result<JsonTemplate, String> {
        if !has_template(value) {
            return Ok(JsonTemplate::Fixed(value.clone()));
        }
        Ok(match value {
            Value::String(s) => JsonTemplate::Text(Template::parse(s)?),
            Value::Array(items) => JsonTemplate::Array(
                items
                    .iter()
                    .map(JsonTemplate::parse)
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => JsonTemplate::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), JsonTemplate::parse(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => JsonTemplate::Fixed(other.clone()),
        })
    }

    pub fn variables(&self) -> Vec<&str> {
        match self {
            JsonTemplate::Fixed(_) => Vec::new(),
            JsonTemplate::Text(t) => t.variables().collect(),
            JsonTemplate::Array(items) => items.iter().flat_map(|i| i.variables()).collect(),
            JsonTemplate::Object(fields) => {
                fields.iter().flat_map(|(_, v)| v.variables()).collect()
            }
        }
    }

    pub fn render(&self, scope: &Scope) -> Result<Value, String> {
        Ok(match self {
            JsonTemplate::Fixed(v) => v.clone(),
            JsonTemplate::Text(t) => match t.lone_now() {
                Some(n) => Value::from(n),
                None => Value::String(t.render(scope)?),
            },
            JsonTemplate::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| i.render(scope))
                    .collect::<Result<_, _>>()?,
            ),
            JsonTemplate::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), v.render(scope)?)))
                    .collect::<Result<_, String>>()?,
            ),
        })
    }
}

/// `{{` and `}}`, each searched with a searcher built once: `str::find` built one on every
/// call (2% of loading 10,000 cases).
static OPEN: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("{{"));
static CLOSE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("}}"));

fn has_template(value: &Value) -> bool {
    match value {
        Value::String(s) => OPEN.find(s.as_bytes()).is_some(),
        Value::Array(items) => items.iter().any(has_template),
        Value::Object(map) => map.values().any(has_template),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_found_where_str_find_finds_it() {
        for text in [
            "", "{", "{{", "a{b{c", "a{{b", "{{{", "é{{x}}", "{ {", "x}}", "}}}}", "{}{}{{", "ü{",
        ] {
            assert_eq!(OPEN.find(text.as_bytes()), text.find("{{"), "{text:?}");
            assert_eq!(CLOSE.find(text.as_bytes()), text.find("}}"), "{text:?}");
        }
    }

    fn scope_with(pairs: &[(&str, &str)]) -> Values {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn renders_variables_between_text() {
        let t = Template::parse("Bearer {{ token }}!").unwrap();
        let base = scope_with(&[("token", "abc")]);
        let caps = Values::default();
        let scope = Scope {
            captures: &caps,
            base: &base,
        };
        assert_eq!(t.render(&scope).unwrap(), "Bearer abc!");
        assert_eq!(t.variables().collect::<Vec<_>>(), vec!["token"]);
    }

    #[test]
    fn plain_text_or_one_name_renders_borrowed_and_a_missing_name_is_told() {
        let base = scope_with(&[("id", "c1")]);
        let caps = Values::default();
        let scope = Scope {
            captures: &caps,
            base: &base,
        };
        let borrowed = |t: &str| {
            let t = Template::parse(t).unwrap();
            matches!(t.render_cow(&scope), Ok(std::borrow::Cow::Borrowed(_)))
        };
        assert!(borrowed("/oauth/token"));
        assert!(borrowed("{{ id }}"));
        assert!(!borrowed("x {{ id }}"));
        let lone = Template::parse("{{ nope }}").unwrap();
        assert_eq!(lone.render_cow(&scope), Err("nope".to_string()));
        assert_eq!(lone.render(&scope), Err("nope".to_string()));
        for t in ["", "/p", "{{ id }}", "a{{id}}b", "{{ id }}{{ id }}"] {
            let t = Template::parse(t).unwrap();
            assert_eq!(t.render_cow(&scope).unwrap(), t.render(&scope).unwrap());
        }
    }

    #[test]
    fn captures_shadow_base_values() {
        let t = Template::parse("{{a}}-{{ b.c }}").unwrap();
        let base = scope_with(&[("a", "1"), ("b.c", "2")]);
        let caps = scope_with(&[("a", "9")]);
        let scope = Scope {
            captures: &caps,
            base: &base,
        };
        assert_eq!(t.render(&scope).unwrap(), "9-2");
    }

    #[test]
    fn missing_value_names_the_variable() {
        let t = Template::parse("x {{ nope }}").unwrap();
        let empty = Values::default();
        let scope = Scope {
            captures: &empty,
            base: &empty,
        };
        assert_eq!(t.render(&scope).unwrap_err(), "nope");
    }

    #[test]
    fn rejects_unclosed_and_bad_names() {
        assert!(Template::parse("{{ a").unwrap_err().contains("unclosed"));
        assert!(Template::parse("{{ a b }}")
            .unwrap_err()
            .contains("not a variable name"));
        assert!(Template::parse("{{}}").is_err());
    }

    #[test]
    fn functions_render_time_and_uuids() {
        let empty = Values::default();
        let scope = Scope {
            captures: &empty,
            base: &empty,
        };
        let now = now_plus(0);
        let t = Template::parse("{{ now+180 }}").unwrap();
        let v: i64 = t.render(&scope).unwrap().parse().unwrap();
        assert!((now + 179..=now + 181).contains(&v), "{v}");
        let a = Template::parse("{{uuid}}").unwrap().render(&scope).unwrap();
        let b = Template::parse("{{uuid}}").unwrap().render(&scope).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let claims =
            JsonTemplate::parse(&serde_json::json!({"exp": "{{ now-600 }}", "jti": "{{ uuid }}"}))
                .unwrap();
        let v = claims.render(&scope).unwrap();
        assert!(v["exp"].is_i64(), "{v}");
        assert!(v["jti"].is_string(), "{v}");
        assert!(Template::parse("{{ now*2 }}").is_err());
        assert!(Template::parse("{{ now+x }}").is_err());
        assert!(Template::parse("{{ now+9223372036854775807 }}").is_err());
        assert!(Template::parse("{{ nowé }}").is_err());
    }

    #[test]
    fn json_templates_render_nested_strings() {
        let v: Value = serde_json::json!({"a": ["{{ x }}", 1], "b": true});
        let t = JsonTemplate::parse(&v).unwrap();
        let base = scope_with(&[("x", "y")]);
        let caps = Values::default();
        let scope = Scope {
            captures: &caps,
            base: &base,
        };
        assert_eq!(
            t.render(&scope).unwrap(),
            serde_json::json!({"a": ["y", 1], "b": true})
        );
        assert_eq!(t.variables(), vec!["x"]);
    }
}
