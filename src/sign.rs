//! Signed tokens the harness builds itself: client assertions (private_key_jwt), JWT bearer
//! grants, identity tokens. Minted fresh at each use; parsed keys are cached per run.

use std::collections::HashMap;
use std::sync::Mutex;

use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::suite::template::Scope;
use crate::suite::JwtSpec;

#[derive(Debug)]
pub enum MintError {
    /// The key or a claim needs a value the target does not supply.
    Missing(String),
    Invalid(String),
}

#[derive(Default)]
pub struct Signer {
    keys: Mutex<HashMap<(Algorithm, String), EncodingKey>>,
}

impl Signer {
    pub fn mint(&self, spec: &JwtSpec, scope: &Scope) -> Result<String, MintError> {
        let key_text = spec.key.render(scope).map_err(MintError::Missing)?;
        let key = self.key(spec, key_text)?;
        let mut header = Header::new(spec.alg);
        header.typ = Some(spec.typ.clone().unwrap_or_else(|| "JWT".into()));
        if let Some(kid) = &spec.kid {
            header.kid = Some(kid.render(scope).map_err(MintError::Missing)?);
        }
        let claims = spec.claims.render(scope).map_err(MintError::Missing)?;
        jsonwebtoken::encode(&header, &claims, &key)
            .map_err(|e| MintError::Invalid(format!("cannot sign jwt `{}`: {e}", spec.name)))
    }

    fn key(&self, spec: &JwtSpec, text: String) -> Result<EncodingKey, MintError> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = keys.get(&(spec.alg, text.clone())) {
            return Ok(k.clone());
        }
        let pem = text.as_bytes();
        let parsed = match spec.alg {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem),
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                Ok(EncodingKey::from_secret(pem))
            }
            // RS*, PS* and any family added later that reads RSA keys.
            _ => EncodingKey::from_rsa_pem(pem),
        }
        .map_err(|e| {
            MintError::Invalid(format!(
                "jwt `{}`: the key is not a {:?} key in PEM: {e}",
                spec.name, spec.alg
            ))
        })?;
        keys.insert((spec.alg, text), parsed.clone());
        Ok(parsed)
    }
}

/// Why `text` cannot sign `alg` tokens, found before anything is sent: a certificate or a
/// public key where the private key belongs (a common mix-up), or a key that does not sign.
/// The message names PEM labels only, never the key.
pub fn check_key(alg: Algorithm, text: &str) -> Result<(), String> {
    if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
        return Ok(());
    }
    let labels: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-----BEGIN "))
        .filter_map(|l| l.strip_suffix("-----"))
        .collect();
    let wanted = "give the private key (PEM: PKCS#8 `BEGIN PRIVATE KEY`, or PKCS#1/SEC1 `BEGIN RSA/EC PRIVATE KEY`)";
    if !labels.iter().any(|l| l.ends_with("PRIVATE KEY")) {
        return Err(match labels.first() {
            Some(label) => format!("holds a {label}, not a private key; {wanted}"),
            None => format!("is not PEM; {wanted}"),
        });
    }
    if labels.iter().any(|l| l.contains("ENCRYPTED")) {
        return Err(format!(
            "holds an encrypted private key; {wanted}, unencrypted"
        ));
    }
    let spec = JwtSpec {
        name: "check".into(),
        alg,
        key: crate::suite::template::Template::literal(text),
        kid: None,
        typ: None,
        claims: crate::suite::template::JsonTemplate::parse(&serde_json::json!({}))
            .map_err(|e| e.to_string())?,
    };
    let values = crate::suite::template::Values::default();
    let captures = crate::suite::template::Values::default();
    let scope = Scope {
        captures: &captures,
        base: &values,
    };
    match Signer::default().mint(&spec, &scope) {
        Ok(_) => Ok(()),
        // The error names the jwt `check` and the crypto library's reason, never the key.
        Err(MintError::Invalid(why)) | Err(MintError::Missing(why)) => Err(format!(
            "cannot sign {alg:?} with it ({})",
            why.replace("jwt `check`: ", "")
                .replace("cannot sign jwt `check`: ", "")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::keys;
    use crate::suite::template::{JsonTemplate, Template};
    use jsonwebtoken::{DecodingKey, Validation};

    fn spec(alg: Algorithm, key: &str) -> JwtSpec {
        JwtSpec {
            name: "t".into(),
            alg,
            key: Template::parse(key).unwrap(),
            kid: Some(Template::parse("kid-1").unwrap()),
            typ: None,
            claims: JsonTemplate::parse(&serde_json::json!({
                "iss": "{{ client_id }}", "sub": "{{ client_id }}", "aud": "https://as.test/token",
                "jti": "{{ uuid }}", "exp": "{{ now+300 }}", "iat": "{{ now }}"
            }))
            .unwrap(),
        }
    }

    #[test]
    fn mints_verifiable_es256_and_rs256_tokens_with_fresh_jti() {
        let base: crate::suite::template::Values = [
            ("client_id".to_string(), "c1".to_string()),
            ("ec".to_string(), keys::EC_PRIVATE_PEM.to_string()),
            ("rsa".to_string(), keys::RSA_PRIVATE_PEM.to_string()),
        ]
        .into_iter()
        .collect();
        let caps = crate::suite::template::Values::default();
        let scope = Scope {
            captures: &caps,
            base: &base,
        };
        let signer = Signer::default();
        for (alg, key, public) in [
            (
                Algorithm::ES256,
                "{{ ec }}",
                DecodingKey::from_ec_pem(keys::EC_PUBLIC_PEM.as_bytes()).unwrap(),
            ),
            (
                Algorithm::RS256,
                "{{ rsa }}",
                DecodingKey::from_rsa_pem(keys::RSA_PUBLIC_PEM.as_bytes()).unwrap(),
            ),
        ] {
            let s = spec(alg, key);
            let a = signer.mint(&s, &scope).unwrap();
            let b = signer.mint(&s, &scope).unwrap();
            let mut v = Validation::new(alg);
            v.set_audience(&["https://as.test/token"]);
            let da = jsonwebtoken::decode::<serde_json::Value>(&a, &public, &v).unwrap();
            let db = jsonwebtoken::decode::<serde_json::Value>(&b, &public, &v).unwrap();
            assert_eq!(da.header.kid.as_deref(), Some("kid-1"));
            assert_eq!(da.claims["iss"], "c1");
            assert!(da.claims["exp"].is_i64());
            assert_ne!(da.claims["jti"], db.claims["jti"]);
            // Tampering with the payload breaks the signature.
            let parts: Vec<&str> = a.split('.').collect();
            let forged = format!("{}.{}.{}", parts[0], parts[1].replace('A', "B"), parts[2]);
            assert!(
                jsonwebtoken::decode::<serde_json::Value>(&forged, &public, &v).is_err()
                    || forged == a
            );
        }
    }

    #[test]
    fn a_missing_key_names_the_variable_and_a_bad_key_is_an_error() {
        let base: crate::suite::template::Values = [
            ("client_id".to_string(), "c1".to_string()),
            ("bad".to_string(), "not a pem".to_string()),
        ]
        .into_iter()
        .collect();
        let caps = crate::suite::template::Values::default();
        let scope = Scope {
            captures: &caps,
            base: &base,
        };
        let signer = Signer::default();
        match signer.mint(&spec(Algorithm::ES256, "{{ nope }}"), &scope) {
            Err(MintError::Missing(v)) => assert_eq!(v, "nope"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            signer.mint(&spec(Algorithm::RS256, "{{ bad }}"), &scope),
            Err(MintError::Invalid(_))
        ));
    }
}
