//! HTTP Basic client authentication, shared by the requests, the redactor and the mock. A leaf.

use base64::Engine;

/// RFC 6749 §2.3.1: form-urlencode id and secret before joining them with `:` and base64.
pub fn basic_header(user: &str, password: &str) -> String {
    let user: String = form_urlencoded::byte_serialize(user.as_bytes()).collect();
    let password: String = form_urlencoded::byte_serialize(password.as_bytes()).collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_form_encodes_before_base64() {
        // RFC 6749 §2.3.1: "a b" becomes "a+b", ":" becomes "%3A".
        let h = basic_header("cli:ent", "s3cr et+%");
        let b64 = h.strip_prefix("Basic ").unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            "cli%3Aent:s3cr+et%2B%25"
        );
    }
}
