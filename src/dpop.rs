//! DPoP proofs (RFC 9449): a P-256 key pair per run (or a key the target gives as `dpop_key`),
//! a fresh proof for each request that asks for one, the server's nonce kept per origin (§8),
//! and the proofs a negative case sends on purpose (a wrong `htm`, a stale `iat`, …).
//! The private key stays in memory: no message here ever holds it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::DecodePrivateKey;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

pub use crate::suite::DPOP_PROOFS as VARIANTS;

pub fn is_variant(name: &str) -> bool {
    VARIANTS.iter().any(|(n, _)| *n == name)
}

/// The target var that gives the run's DPoP key (PEM); without it a key pair is made per run.
pub const KEY_VAR: &str = "dpop_key";

/// How old a `stale_iat` proof is: far beyond the minutes servers allow (§11.1).
/// How old a `stale_iat` proof is; anything older than half of it was minted stale on purpose.
pub const STALE_SECONDS: i64 = 3600;

pub struct KeyPair {
    signing: SigningKey,
    /// The public JWK, derived once: deriving it is a curve multiplication, and every case
    /// reads the thumbprint (`{{ dpop.jkt }}`) and every proof the JWK.
    public: std::sync::OnceLock<Value>,
    jkt: std::sync::OnceLock<String>,
}

impl From<SigningKey> for KeyPair {
    fn from(signing: SigningKey) -> KeyPair {
        KeyPair {
            signing,
            public: std::sync::OnceLock::new(),
            jkt: std::sync::OnceLock::new(),
        }
    }
}

impl KeyPair {
    pub fn generate() -> KeyPair {
        loop {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).expect("the system's random source");
            // A random 32 bytes is a valid scalar but for a chance of about 2^-32.
            if let Ok(signing) = SigningKey::from_slice(&bytes) {
                return KeyPair::from(signing);
            }
        }
    }

    /// A P-256 private key in PEM (PKCS#8 or SEC1). The error names PEM labels only.
    pub fn from_pem(text: &str) -> Result<KeyPair, String> {
        let wanted = "give a P-256 (ES256) private key in PEM (`BEGIN PRIVATE KEY` or `BEGIN EC PRIVATE KEY`)";
        let label = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("-----BEGIN "))
            .and_then(|l| l.strip_suffix("-----"));
        let secret = match label {
            Some("PRIVATE KEY") => p256::SecretKey::from_pkcs8_pem(text).ok(),
            Some("EC PRIVATE KEY") => p256::SecretKey::from_sec1_pem(text).ok(),
            Some(other) => {
                return Err(format!(
                    "holds a {other}, not a P-256 private key; {wanted}"
                ))
            }
            None => return Err(format!("is not PEM; {wanted}")),
        };
        match secret {
            Some(s) => Ok(KeyPair::from(SigningKey::from(s))),
            None => Err(format!(
                "is not a P-256 private key (an RSA or other curve's key, or damaged); {wanted}"
            )),
        }
    }

    /// The public key as a JWK (RFC 7517), members in RFC 7638's order.
    pub fn public_jwk(&self) -> Value {
        self.public
            .get_or_init(|| {
                // Uncompressed SEC1: 0x04, then x and y, 32 bytes each.
                let point = VerifyingKey::from(&self.signing).to_encoded_point(false);
                let bytes = point.as_bytes();
                json!({
                    "crv": "P-256",
                    "kty": "EC",
                    "x": B64.encode(&bytes[1..33]),
                    "y": B64.encode(&bytes[33..65]),
                })
            })
            .clone()
    }

    pub fn thumbprint(&self) -> String {
        self.jkt
            .get_or_init(|| thumbprint(&self.public_jwk()).unwrap_or_default())
            .clone()
    }

    fn sign(&self, input: &str) -> Vec<u8> {
        let signature: Signature = self.signing.sign(input.as_bytes());
        signature.to_bytes().to_vec()
    }

    fn private_jwk(&self) -> Value {
        let mut jwk = self.public_jwk();
        jwk["d"] = B64.encode(self.signing.to_bytes()).into();
        jwk
    }
}

/// The JWK SHA-256 thumbprint of RFC 7638 §3: the required members only, sorted, no spaces.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let required: &[&str] = match jwk.get("kty")?.as_str()? {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut members = Map::new();
    for name in required {
        members.insert(
            name.to_string(),
            Value::String(jwk.get(*name)?.as_str()?.into()),
        );
    }
    // serde_json's map is sorted by key, and to_string writes no whitespace.
    let canonical = serde_json::to_string(&Value::Object(members)).ok()?;
    Some(B64.encode(Sha256::digest(canonical.as_bytes())))
}

/// `htu` per RFC 9449 §4.2/§4.3: the request's URI without query and fragment.
pub fn htu(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or(url).to_string(),
    }
}

/// `ath` (§4.2): base64url of the SHA-256 of the access token's ASCII.
pub fn ath(access_token: &str) -> String {
    B64.encode(Sha256::digest(access_token.as_bytes()))
}

/// What a proof is for.
pub struct ProofRequest<'a> {
    pub variant: &'a str,
    pub method: &'a str,
    pub url: &'a str,
    pub access_token: Option<&'a str>,
    /// The target's `dpop_key`, when it gives one.
    pub key_pem: Option<&'a str>,
}

/// The run's DPoP state: its keys, the nonces servers handed out, the jti last sent per URL.
pub struct Dpop {
    generated: Arc<KeyPair>,
    other: KeyPair,
    given: Mutex<HashMap<String, Arc<KeyPair>>>,
    nonces: Mutex<HashMap<String, String>>,
    last_jti: Mutex<HashMap<(String, String), String>>,
}

impl Default for Dpop {
    fn default() -> Self {
        Dpop {
            generated: Arc::new(KeyPair::generate()),
            other: KeyPair::generate(),
            given: Mutex::default(),
            nonces: Mutex::default(),
            last_jti: Mutex::default(),
        }
    }
}

impl Dpop {
    fn key(&self, pem: Option<&str>) -> Result<Arc<KeyPair>, String> {
        let Some(pem) = pem else {
            return Ok(self.generated.clone());
        };
        let mut given = self.given.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = given.get(pem) {
            return Ok(k.clone());
        }
        let key = Arc::new(
            KeyPair::from_pem(pem).map_err(|why| format!("the target's `{KEY_VAR}` {why}"))?,
        );
        given.insert(pem.to_string(), key.clone());
        Ok(key)
    }

    /// The thumbprint of the key proofs are signed with: the target's `dpop_key`, or the run's.
    pub fn jkt(&self, key_pem: Option<&str>) -> Result<String, String> {
        self.key(key_pem).map(|k| k.thumbprint())
    }

    /// The nonce the server at `url`'s origin last gave (§8), if any.
    pub fn nonce(&self, url: &str) -> Option<String> {
        let nonces = self.nonces.lock().unwrap_or_else(|e| e.into_inner());
        nonces.get(&origin(url)).cloned()
    }

    pub fn remember_nonce(&self, url: &str, nonce: &str) {
        let mut nonces = self.nonces.lock().unwrap_or_else(|e| e.into_inner());
        nonces.insert(origin(url), nonce.to_string());
    }

    /// A fresh proof for `r`, or why none can be made (never naming the key).
    pub fn proof(&self, r: &ProofRequest) -> Result<String, String> {
        let key = self.key(r.key_pem)?;
        let htu_value = htu(r.url);
        let method = r.method.to_ascii_uppercase();
        let jti = match r.variant {
            "reused_jti" => {
                let last = self.last_jti.lock().unwrap_or_else(|e| e.into_inner());
                let key = (method.clone(), htu_value.clone());
                last.get(&key).cloned().ok_or_else(|| {
                    format!("`dpop: reused_jti` needs an earlier proof for {method} {htu_value} in this case")
                })?
            }
            _ => uuid::Uuid::new_v4().to_string(),
        };
        let now = chrono_now();
        let mut claims = json!({
            "jti": jti,
            "htm": if r.variant == "wrong_htm" { other_method(&method) } else { method.clone() },
            "htu": if r.variant == "wrong_htu" { format!("{htu_value}/elsewhere") } else { htu_value.clone() },
            "iat": if r.variant == "stale_iat" { now - STALE_SECONDS } else { now },
        });
        match (r.access_token, r.variant) {
            (Some(_), "no_ath") | (None, _) => {}
            (Some(token), "wrong_ath") => claims["ath"] = ath(&format!("{token}-another")).into(),
            (Some(token), _) => claims["ath"] = ath(token).into(),
        }
        if let Some(nonce) = self.nonce(r.url).filter(|_| r.variant != "no_nonce") {
            claims["nonce"] = nonce.into();
        }
        // A proof that shows a private key shows a throwaway one, never the target's key.
        let signer: &KeyPair = if r.variant == "other_key" || r.variant == "private_key_in_jwk" {
            &self.other
        } else {
            &key
        };
        let alg = match r.variant {
            "alg_none" => "none",
            "symmetric_alg" => "HS256",
            _ => "ES256",
        };
        let jwk = if r.variant == "private_key_in_jwk" {
            signer.private_jwk()
        } else {
            signer.public_jwk()
        };
        let header = json!({ "typ": "dpop+jwt", "alg": alg, "jwk": jwk });
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let signature = match r.variant {
            "alg_none" => Vec::new(),
            "symmetric_alg" => {
                use hmac::Mac;
                let mut mac = hmac::Hmac::<Sha256>::new_from_slice(jti.as_bytes())
                    .map_err(|e| e.to_string())?;
                mac.update(input.as_bytes());
                mac.finalize().into_bytes().to_vec()
            }
            "bad_signature" => {
                let mut s = signer.sign(&input);
                s[10] ^= 0x5a;
                s
            }
            _ => signer.sign(&input),
        };
        Ok(format!("{input}.{}", B64.encode(signature)))
    }

    /// A valid `proof` was answered (not with a nonce request): its jti is what a later
    /// `reused_jti` proof for the same method and URL repeats. Only once answered, so a replay
    /// never reaches the server before the proof it repeats.
    pub fn answered(&self, method: &str, url: &str, proof: &str) {
        let Some(jti) = decode(proof).and_then(|d| d.claims["jti"].as_str().map(str::to_string))
        else {
            return;
        };
        let mut last = self.last_jti.lock().unwrap_or_else(|e| e.into_inner());
        last.insert((method.to_ascii_uppercase(), htu(url)), jti);
    }
}

/// What `check_key` says of a `dpop_key` a target gives: a P-256 private key, or why not.
pub fn check_key(text: &str) -> Result<(), String> {
    KeyPair::from_pem(text).map(|_| ())
}

/// The nonce a server asks a retry to carry (§8, §9): a 400 or 401 naming `use_dpop_nonce` in
/// its body or its `WWW-Authenticate`, with a `DPoP-Nonce` header.
pub fn nonce_asked(
    status: u16,
    error: Option<&str>,
    www_authenticate: Option<&str>,
    nonce: Option<&str>,
) -> Option<String> {
    if !matches!(status, 400 | 401) {
        return None;
    }
    let named = error == Some("use_dpop_nonce")
        || www_authenticate.is_some_and(|w| w.contains("use_dpop_nonce"));
    named.then_some(nonce?.to_string())
}

fn other_method(method: &str) -> String {
    if method == "POST" { "GET" } else { "POST" }.into()
}

fn origin(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => u.origin().ascii_serialization(),
        Err(_) => url.to_string(),
    }
}

pub fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A proof's parts, decoded without verifying: what rules and the mock read.
pub struct Decoded {
    pub header: Value,
    pub claims: Value,
    pub signing_input: String,
    pub signature: Vec<u8>,
}

pub fn decode(proof: &str) -> Option<Decoded> {
    let mut parts = proof.split('.');
    let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some(Decoded {
        header: serde_json::from_slice(&B64.decode(h).ok()?).ok()?,
        claims: serde_json::from_slice(&B64.decode(c).ok()?).ok()?,
        signing_input: format!("{h}.{c}"),
        signature: B64.decode(s).ok()?,
    })
}

/// Whether `d`'s ES256 signature verifies with the P-256 key in its own `jwk` header.
pub fn verifies(d: &Decoded) -> bool {
    use p256::ecdsa::signature::Verifier;
    let jwk = &d.header["jwk"];
    let coordinate = |name: &str| {
        jwk.get(name)
            .and_then(Value::as_str)
            .and_then(|v| B64.decode(v).ok())
            .filter(|b| b.len() == 32)
    };
    let (Some(x), Some(y)) = (coordinate("x"), coordinate("y")) else {
        return false;
    };
    if d.header["alg"] != "ES256" || jwk["crv"] != "P-256" {
        return false;
    }
    let point = [&[4u8][..], &x, &y].concat();
    let (Ok(key), Ok(signature)) = (
        VerifyingKey::from_sec1_bytes(&point),
        Signature::from_slice(&d.signature),
    ) else {
        return false;
    };
    key.verify(d.signing_input.as_bytes(), &signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(variant: &'a str, token: Option<&'a str>) -> ProofRequest<'a> {
        ProofRequest {
            variant,
            method: "post",
            url: "https://AS.example:443/token?x=1#f",
            access_token: token,
            key_pem: None,
        }
    }

    #[test]
    fn a_valid_proof_carries_the_claims_and_verifies_with_its_jwk() {
        let dpop = Dpop::default();
        let proof = dpop.proof(&request("valid", Some("tok"))).unwrap();
        let d = decode(&proof).unwrap();
        assert_eq!(d.header["typ"], "dpop+jwt");
        assert_eq!(d.header["alg"], "ES256");
        assert!(d.header["jwk"].get("d").is_none());
        assert_eq!(d.claims["htm"], "POST");
        assert_eq!(d.claims["htu"], "https://as.example/token");
        assert_eq!(d.claims["ath"], ath("tok"));
        assert!(d.claims["iat"].as_i64().unwrap() > 1_700_000_000);
        assert!(verifies(&d));
        let again = decode(&dpop.proof(&request("valid", None)).unwrap()).unwrap();
        assert_ne!(d.claims["jti"], again.claims["jti"]);
        assert!(again.claims.get("ath").is_none());
        assert_eq!(
            thumbprint(&d.header["jwk"]).unwrap(),
            dpop.generated.thumbprint()
        );
    }

    #[test]
    fn the_thumbprint_is_rfc_7638s_example() {
        // RFC 7638 §3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn each_negative_variant_breaks_what_it_names() {
        let dpop = Dpop::default();
        let d = |v: &str| decode(&dpop.proof(&request(v, None)).unwrap()).unwrap();
        // No valid proof answered yet: nothing to reuse.
        assert!(dpop.proof(&request("reused_jti", None)).is_err());
        let valid_proof = dpop.proof(&request("valid", None)).unwrap();
        dpop.answered("POST", request("valid", None).url, &valid_proof);
        let valid = decode(&valid_proof).unwrap();
        assert_eq!(d("wrong_htm").claims["htm"], "GET");
        assert_ne!(d("wrong_htu").claims["htu"], valid.claims["htu"]);
        assert!(
            d("stale_iat").claims["iat"].as_i64().unwrap()
                < valid.claims["iat"].as_i64().unwrap() - 3000
        );
        assert_eq!(d("reused_jti").claims["jti"], valid.claims["jti"]);
        assert_eq!(d("alg_none").header["alg"], "none");
        assert_eq!(d("symmetric_alg").header["alg"], "HS256");
        assert!(d("private_key_in_jwk").header["jwk"].get("d").is_some());
        assert!(!verifies(&d("bad_signature")));
        let other = d("other_key");
        assert!(verifies(&other));
        assert_ne!(
            thumbprint(&other.header["jwk"]),
            thumbprint(&valid.header["jwk"])
        );
        // With an access token: ath left out, or another token's hash.
        let with_token = |v| decode(&dpop.proof(&request(v, Some("tok"))).unwrap()).unwrap();
        assert_eq!(with_token("valid").claims["ath"], ath("tok"));
        assert!(with_token("no_ath").claims.get("ath").is_none());
        let wrong = with_token("wrong_ath");
        assert!(wrong.claims["ath"].is_string() && wrong.claims["ath"] != ath("tok"));
        // A nonce the server gave is left out of a no_nonce proof only.
        dpop.remember_nonce("https://as.example/token", "n1");
        assert_eq!(d("valid").claims["nonce"], "n1");
        assert!(d("no_nonce").claims.get("nonce").is_none());
        assert!(verifies(&d("no_nonce")));
    }

    #[test]
    fn a_nonce_the_server_gave_goes_into_later_proofs_to_that_origin() {
        let dpop = Dpop::default();
        assert_eq!(
            nonce_asked(400, Some("use_dpop_nonce"), None, Some("n1")),
            Some("n1".into())
        );
        assert_eq!(
            nonce_asked(401, None, Some("DPoP error=\"use_dpop_nonce\""), Some("n2")),
            Some("n2".into())
        );
        assert_eq!(
            nonce_asked(400, Some("invalid_dpop_proof"), None, Some("n1")),
            None
        );
        assert_eq!(
            nonce_asked(200, Some("use_dpop_nonce"), None, Some("n1")),
            None
        );
        dpop.remember_nonce("https://as.example/par", "n1");
        let d = decode(&dpop.proof(&request("valid", None)).unwrap()).unwrap();
        assert_eq!(d.claims["nonce"], "n1");
    }

    #[test]
    fn a_proof_that_shows_a_private_key_never_shows_the_targets_key() {
        let dpop = Dpop::default();
        let pem = crate::mock::keys::EC_PRIVATE_PEM;
        let with_key = |variant| ProofRequest {
            key_pem: Some(pem),
            ..request(variant, None)
        };
        let valid = decode(&dpop.proof(&with_key("valid")).unwrap()).unwrap();
        let shown = decode(&dpop.proof(&with_key("private_key_in_jwk")).unwrap()).unwrap();
        assert!(shown.header["jwk"].get("d").is_some());
        assert_ne!(shown.header["jwk"]["x"], valid.header["jwk"]["x"]);
        let target = dpop.key(Some(pem)).unwrap().private_jwk();
        assert_ne!(shown.header["jwk"]["d"], target["d"]);
    }

    #[test]
    fn a_given_key_must_be_a_p256_private_key_and_is_never_quoted() {
        let ec = crate::mock::keys::EC_PRIVATE_PEM;
        assert!(check_key(ec).is_ok());
        for bad in [
            crate::mock::keys::EC_PUBLIC_PEM,
            crate::mock::keys::RSA_PRIVATE_PEM,
            "a shared secret",
        ] {
            let why = check_key(bad).unwrap_err();
            assert!(!why.contains(bad.lines().nth(1).unwrap_or(bad)), "{why}");
        }
        let dpop = Dpop::default();
        let mut r = request("valid", None);
        r.key_pem = Some(ec);
        let d = decode(&dpop.proof(&r).unwrap()).unwrap();
        assert!(verifies(&d));
        assert_eq!(
            thumbprint(&d.header["jwk"]).unwrap(),
            KeyPair::from_pem(ec).unwrap().thumbprint()
        );
    }
}
