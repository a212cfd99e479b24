//! Decoding (never verifying) a compact JWS, to read the header and claims of tokens that servers
//! return. Garbage in gives an error message, never a panic.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

/// The decoded header and payload of a compact JWS.
#[derive(Debug, Clone)]
pub struct Jws {
    pub header: Map<String, Value>,
    pub payload: Map<String, Value>,
}

impl Jws {
    /// `typ` of the header, lower-cased.
    pub fn typ(&self) -> Option<String> {
        self.header
            .get("typ")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
    }

    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.payload.get(name)
    }
}

/// Why a text is not a compact JWS: built without allocating, since most access tokens are
/// opaque and every JWT rule asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotJws {
    /// How many dot-separated parts it has instead of 3.
    Parts(usize),
    /// The part ("header" or "payload") is not base64url.
    NotBase64(&'static str),
    NotJson(&'static str),
    NotObject(&'static str),
}

impl std::fmt::Display for NotJws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotJws::Parts(n) => write!(f, "it has {n} dot-separated parts, a compact JWS has 3"),
            NotJws::NotBase64(what) => write!(f, "the {what} is not base64url"),
            NotJws::NotJson(what) => write!(f, "the {what} is not JSON"),
            NotJws::NotObject(what) => write!(f, "the {what} is JSON but not an object"),
        }
    }
}

/// Splits `token` into three dot-separated parts and decodes the first two as base64url JSON
/// objects. The signature part is not checked (it may be empty, as with `alg: none`).
pub fn decode(token: &str) -> Result<Jws, NotJws> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(NotJws::Parts(token.split('.').count()));
    };
    let header = object(header, "header")?;
    let payload = object(payload, "payload")?;
    Ok(Jws { header, payload })
}

fn object(part: &str, what: &'static str) -> Result<Map<String, Value>, NotJws> {
    // Some issuers pad; base64url without padding is the norm (RFC 7515 §2).
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| NotJws::NotBase64(what))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(NotJws::NotObject(what)),
        Err(_) => Err(NotJws::NotJson(what)),
    }
}

/// Builds an unsigned compact JWS for tests.
#[cfg(test)]
pub fn encode_for_test(header: &Value, payload: &Value) -> String {
    format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_header_and_payload() {
        let t = encode_for_test(
            &json!({"alg": "RS256", "typ": "at+JWT"}),
            &json!({"sub": "u"}),
        );
        let j = decode(&t).unwrap();
        assert_eq!(j.typ().as_deref(), Some("at+jwt"));
        assert_eq!(j.claim("sub"), Some(&json!("u")));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for t in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            "!!!.e30.x",
            "e30.!!!.x",
            "W10.e30.x",
            "bm90IGpzb24.e30.x",
            "\u{1F600}.\u{1F600}.x",
        ] {
            assert!(decode(t).is_err(), "{t:?} decoded");
        }
        assert_eq!(
            decode("a.b").unwrap_err().to_string(),
            "it has 2 dot-separated parts, a compact JWS has 3"
        );
        assert_eq!(decode("a.b.c.d").unwrap_err(), NotJws::Parts(4));
        assert_eq!(
            decode("W10.e30.x").unwrap_err(),
            NotJws::NotObject("header")
        );
        assert_eq!(
            decode("e30.!!!.x").unwrap_err(),
            NotJws::NotBase64("payload")
        );
        assert_eq!(
            decode("bm90IGpzb24.e30.x").unwrap_err(),
            NotJws::NotJson("header")
        );
        assert!(decode("e30.e30.").is_ok());
    }
}
