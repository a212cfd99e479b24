//! TEST-ONLY key pairs of the mock (see keys/README.md): they protect nothing.

pub const RSA_PRIVATE_PEM: &str = include_str!("keys/rsa-private.pem");
pub const RSA_PUBLIC_PEM: &str = include_str!("keys/rsa-public.pem");
pub const EC_PRIVATE_PEM: &str = include_str!("keys/ec-private.pem");
pub const EC_PUBLIC_PEM: &str = include_str!("keys/ec-public.pem");

/// The RSA key the mock signs its own tokens with (MIAW and Salesforce access tokens).
pub fn rsa_signing_key() -> jsonwebtoken::EncodingKey {
    jsonwebtoken::EncodingKey::from_rsa_pem(RSA_PRIVATE_PEM.as_bytes())
        .expect("the checked-in test RSA key parses")
}
