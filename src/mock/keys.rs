//! TEST-ONLY key pairs of the mock (see keys/README.md): they protect nothing.

pub const RSA_PRIVATE_PEM: &str = include_str!("keys/rsa-private.pem");
pub const RSA_PUBLIC_PEM: &str = include_str!("keys/rsa-public.pem");
pub const EC_PRIVATE_PEM: &str = include_str!("keys/ec-private.pem");
pub const EC_PUBLIC_PEM: &str = include_str!("keys/ec-public.pem");
