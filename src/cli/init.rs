//! `tokenconf init talkdesk|salesforce|miaw|oauth2`: a starting targets file to fill in. What it
//! writes passes `validate --targets` once the environment variables it names are set.

use std::io::Write;
use std::path::Path;

use clap::ValueEnum;

use tokenconf::error::{ConfigError, Exit};

/// Which API the targets file starts from.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Talkdesk,
    Salesforce,
    Miaw,
    Oauth2,
}

const HEADER: &str = "\
# A tokenconf targets file, written by `tokenconf init {kind}`. It holds no secret: every value in
# ${...} comes from the environment (your CI's secret store). Set them, then:
#
#   tokenconf validate --targets {file} --target {name}   # what runs, what is skipped, and why
#   tokenconf run --targets {file} --target {name}
#
# Editors: `tokenconf schema targets > targets.schema.json`, then a first line
# `# yaml-language-server: $schema=targets.schema.json` completes and checks this file.
targets:
";

const TALKDESK: &str = "  {name}:
    http: { retries: 2, rate: 5/s, timeout_ms: 15000 }
    talkdesk:
      preset: talkdesk-us            # talkdesk-eu, talkdesk-ca, talkdesk-au; or base_url: https://…
      account: \"${TALKDESK_ACCOUNT}\"  # the account (subdomain) of https://ACCOUNT.talkdeskid.com
      vars:
        client_id: \"${TALKDESK_CLIENT_ID}\"
      secrets:
        client_secret: \"${TALKDESK_CLIENT_SECRET}\"
      # private_key_jwt client authentication (suite talkdesk/jwt-client-auth): the client's ES256
      # key and the kid of its registered public key.
      # secret_files: { signing_key: \"${TALKDESK_JWT_KEY_FILE}\" }
      # vars: { assertion_kid: \"${TALKDESK_JWT_KID}\" }
      # What this client does beyond the defaults (`tokenconf validate` lists what each unlocks):
      # capabilities: [auto_authorize, rotates_refresh_tokens, refresh_token_grant]
      # Login: the authorization-code cases need a signed-in user. Declare auto_authorize only for
      # a client that gets a code without a login page. Placeholders for a browser login script
      # (not read yet):
      #   login_user: \"${TALKDESK_LOGIN_USER}\"
      #   login_password: \"${TALKDESK_LOGIN_PASSWORD}\"
    oauth2:                          # the generic RFC 6749 suites, against the same endpoint
      preset: talkdesk-us
      account: \"${TALKDESK_ACCOUNT}\"
      vars:
        client_id: \"${TALKDESK_CLIENT_ID}\"
      secrets:
        client_secret: \"${TALKDESK_CLIENT_SECRET}\"
";

const SALESFORCE: &str = "  {name}:
    http: { retries: 2, rate: 2/s, timeout_ms: 15000 }
    salesforce:
      preset: salesforce-test        # salesforce-login, or salesforce-mydomain with account
      vars:
        client_id: \"${SF_CLIENT_ID}\"  # the connected app's consumer key
        username: \"${SF_USERNAME}\"    # the user the JWT bearer flow signs in as
        login_url: https://test.salesforce.com
      secrets:
        client_secret: \"${SF_CLIENT_SECRET}\"
      secret_files:
        signing_key: \"${SF_JWT_KEY_FILE}\"   # the PEM key of the connected app's certificate
      # What the connected app does beyond the defaults (`tokenconf validate` lists what each
      # unlocks):
      # capabilities: [auto_authorize, rotates_refresh_tokens, jwt_access_tokens, hybrid_app]
      # A second connected app, as a profile (its vars and secrets lay over these):
      # profiles:
      #   second: { vars: { client_id: \"${SF_SECOND_CLIENT_ID}\" }, secrets: { client_secret: \"${SF_SECOND_CLIENT_SECRET}\" } }
      # Login: the authorization-code cases need a signed-in user. Declare auto_authorize only for
      # a pre-approved app and session. Placeholders for a browser login script (not read yet):
      #   login_user: \"${SF_LOGIN_USER}\"
      #   login_password: \"${SF_LOGIN_PASSWORD}\"
";

const MIAW: &str = "  {name}:
    http: { retries: 2, rate: 2/s, timeout_ms: 15000 }
    miaw:
      preset: miaw-scrt              # https://ACCOUNT.salesforce-scrt.com
      account: \"${MIAW_SCRT_ACCOUNT}\"
      vars:
        org_id: \"${SF_ORG_ID}\"
        es_developer_name: \"${MIAW_DEPLOYMENT}\"   # the API name of the Embedded Service deployment
      # The deployment above is a guest one (User Verification off, no CAPTCHA); others are
      # profiles, each with what it does:
      # capabilities: [guest_access]
      # profiles:
      #   verified:
      #     vars: { es_developer_name: \"${MIAW_VERIFIED_DEPLOYMENT}\", identity_kid: \"${MIAW_IDENTITY_KID}\", identity_issuer: \"${MIAW_IDENTITY_ISSUER}\" }
      #     secret_files: { signing_key: \"${MIAW_IDENTITY_KEY_FILE}\" }   # signs the identity tokens
      #     capabilities: [user_verification]
      #   captcha: { vars: { es_developer_name: \"${MIAW_CAPTCHA_DEPLOYMENT}\" }, capabilities: [captcha] }
      # Login: verified users sign in with your identity provider; tokenconf mints their identity
      # tokens from the key above. Placeholders for a browser login script (not read yet):
      #   login_user: \"${MIAW_LOGIN_USER}\"
      #   login_password: \"${MIAW_LOGIN_PASSWORD}\"
";

const OAUTH2: &str = "  {name}:
    http: { retries: 2, rate: 5/s, timeout_ms: 15000 }
    oauth2:
{endpoint}      vars:
        client_id: \"${OAUTH2_CLIENT_ID}\"
{paths}        # forbidden_scope: a scope this client may not get (else that case is skipped)
        # redirect_uri: \"${OAUTH2_REDIRECT_URI}\"
      secrets:
        client_secret: \"${OAUTH2_CLIENT_SECRET}\"
        # refresh_token: \"${OAUTH2_REFRESH_TOKEN}\"
{capabilities}      # A second client of the same server, as a profile:
      # profiles:
      #   second: { vars: { client_id: \"${OAUTH2_SECOND_CLIENT_ID}\" }, secrets: { client_secret: \"${OAUTH2_SECOND_CLIENT_SECRET}\" } }
      # Login: the authorization-code cases need a signed-in user. Declare auto_authorize only for
      # a test client that gets a code without a login page. Placeholders for a browser login
      # script (not read yet):
      #   login_user: \"${OAUTH2_LOGIN_USER}\"
      #   login_password: \"${OAUTH2_LOGIN_PASSWORD}\"
";

/// `tokenconf init KIND [--issuer URL] [--name NAME] [-o FILE]`.
pub async fn init(
    kind: Kind,
    issuer: Option<&str>,
    name: Option<&str>,
    output: Option<&Path>,
) -> Result<Exit, ConfigError> {
    if issuer.is_some() && kind != Kind::Oauth2 {
        return Err(ConfigError::Usage(
            "--issuer is for `init oauth2` (a server with RFC 8414 metadata)".into(),
        ));
    }
    let (kind_name, default_name, body) = match kind {
        Kind::Talkdesk => ("talkdesk", "talkdesk-sandbox", TALKDESK.to_string()),
        Kind::Salesforce => ("salesforce", "salesforce-sandbox", SALESFORCE.to_string()),
        Kind::Miaw => ("miaw", "miaw-sandbox", MIAW.to_string()),
        Kind::Oauth2 => ("oauth2", "oauth2-server", oauth2(issuer).await?),
    };
    let name = name.unwrap_or(default_name);
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ConfigError::Usage(format!(
            "--name {name:?}: use letters, digits, - and _"
        )));
    }
    let file = output.map_or("FILE".to_string(), |p| p.display().to_string());
    let text = HEADER
        .replace("{kind}", kind_name)
        .replace("{file}", &file)
        .replace("{name}", name)
        + &body.replace("{name}", name);
    match output {
        None => {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        }
        Some(path) => write_new(path, &text)?,
    }
    Ok(Exit::Passed)
}

/// Writes `text` to a new file; an existing one is exit 2 naming it, never overwritten.
fn write_new(path: &Path, text: &str) -> Result<(), ConfigError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => ConfigError::File {
                path: path.to_path_buf(),
                message: "already exists; `tokenconf init` never overwrites a file".into(),
            },
            _ => ConfigError::Write {
                file: path.to_path_buf(),
                source: e,
            },
        })?;
    file.write_all(text.as_bytes())
        .map_err(|source| ConfigError::Write {
            file: path.to_path_buf(),
            source,
        })
}

/// The oauth2 API's lines: a base URL to fill in, or, with an issuer, what its metadata says.
async fn oauth2(issuer: Option<&str>) -> Result<String, ConfigError> {
    let Some(issuer) = issuer else {
        return Ok(OAUTH2
            .replace(
                "{endpoint}",
                "      base_url: \"${OAUTH2_BASE_URL}\"   # https://your-server; or issuer: https://… to read the endpoints from its metadata (RFC 8414)\n",
            )
            .replace(
                "{paths}",
                "        # token_path: /oauth/token   # the default; revocation_path, introspection_path and\n        # authorize_path have none: set those your server has (else their cases are skipped)\n",
            )
            .replace(
                "{capabilities}",
                "      # capabilities: [auto_authorize, rotates_refresh_tokens, password_grant, refresh_token_grant]\n",
            ));
    };
    let (vars, support) = discover(issuer).await?;
    let mut discovered = String::new();
    for (var, path) in &vars {
        discovered.push_str(&format!(
            "        # {var}: {path}   # from the metadata; discovery fills it on every run\n"
        ));
    }
    let mut capabilities = Vec::new();
    if support.grant_types.iter().any(|g| g == "password") {
        capabilities.push("password_grant");
    }
    if support.grant_types.iter().any(|g| g == "refresh_token") {
        capabilities.push("refresh_token_grant");
    }
    let capabilities = format!(
        "      # grant_types_supported: {}; token_endpoint_auth_methods_supported: {}\n      # Remove what this client may not use; add auto_authorize, rotates_refresh_tokens if it does.\n      capabilities: [{}]\n",
        support.grant_types.join(", "),
        support.token_auth_methods.join(", "),
        capabilities.join(", ")
    );
    Ok(OAUTH2
        .replace(
            "{endpoint}",
            &format!(
                "      issuer: {}   # its RFC 8414 metadata ({}) gives the endpoints\n",
                yaml_string(issuer),
                support.metadata_url
            ),
        )
        .replace("{paths}", &discovered)
        .replace("{capabilities}", &capabilities))
}

/// Reads `issuer`'s metadata as a run would (one unauthenticated GET, no redirect followed, every
/// endpoint on the issuer's origin): the endpoint vars it fills, and what it supports.
async fn discover(
    issuer: &str,
) -> Result<(Vec<(String, String)>, tokenconf::discovery::Support), ConfigError> {
    let text = format!(
        "targets:\n  init:\n    oauth2:\n      issuer: {}\n",
        yaml_string(issuer)
    );
    let mut target = tokenconf::target::parse_target(&text, Path::new("--issuer"), "init")?;
    let found = tokenconf::discovery::discover(&mut target).await?;
    let support = found
        .into_iter()
        .next()
        .map(|(_, s)| s)
        .ok_or_else(|| ConfigError::Usage(format!("no metadata read for {issuer}")))?;
    let api = target.api("oauth2");
    let vars = [
        "token_path",
        "revocation_path",
        "introspection_path",
        "authorize_path",
    ]
    .iter()
    .filter_map(|v| {
        api.and_then(|a| a.vars.get(*v))
            .map(|p| (v.to_string(), p.clone()))
    })
    .collect();
    Ok((vars, support))
}

/// A YAML double-quoted string.
fn yaml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}
