//! Where GCP credentials come from, in the order of Application Default Credentials
//! (cloud.google.com/docs/authentication/application-default-credentials#order), which gcloud's
//! client libraries follow:
//!
//! 1. `GOOGLE_APPLICATION_CREDENTIALS`: a service-account key file (an RS256 JWT, signed here with
//!    `ring`, exchanged at the key's `token_uri`; developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests)
//!    or an `authorized_user` file;
//! 2. the ADC file gcloud writes, `$CLOUDSDK_CONFIG/application_default_credentials.json`
//!    (default `~/.config/gcloud/`): an `authorized_user` refresh token
//!    (developers.google.com/identity/protocols/oauth2/web-server#offline);
//! 3. the metadata server of the VM or pod (`GCE_METADATA_HOST`, default 169.254.169.254;
//!    cloud.google.com/compute/docs/access/authenticate-workloads#applications).
//!
//! This module decides the source and builds the requests' pieces; it sends nothing. Keys,
//! refresh tokens and access tokens live in [`Secret`]s: never printed, never in an error.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde::Deserialize;

use crate::transport::cloud::aws::credentials::{Env, Secret};

/// The OAuth scope every call needs (compute and container both accept it).
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// Google's token endpoint, for `authorized_user` files that do not name one.
pub const TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// Where credentials come from.
#[derive(Debug)]
pub enum Source {
    ServiceAccount {
        path: PathBuf,
        email: String,
        key_id: Option<String>,
        /// The PKCS#8 DER of the RSA key.
        key: Secret,
        token_uri: String,
        project: Option<String>,
    },
    AuthorizedUser {
        path: PathBuf,
        client_id: String,
        client_secret: Secret,
        refresh_token: Secret,
        token_uri: String,
    },
    /// `http://HOST` of the metadata server.
    Metadata { base: String },
}

impl Source {
    /// Where the credentials come from, for messages (never the key).
    pub fn describe(&self) -> String {
        match self {
            Source::ServiceAccount { path, email, .. } => {
                format!("the service-account key {} ({email})", path.display())
            }
            Source::AuthorizedUser { path, .. } => {
                format!("the application-default credentials {}", path.display())
            }
            Source::Metadata { base } => format!("the metadata server at {base}"),
        }
    }

    /// The project a key file names (`project_id`), a default for the inventory's.
    pub fn project(&self) -> Option<&str> {
        match self {
            Source::ServiceAccount { project, .. } => project.as_deref(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CredentialError(pub String);

/// The credential file's fields we read; `type` says which kind.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: String,
    client_email: Option<String>,
    private_key_id: Option<String>,
    private_key: Option<Secret>,
    token_uri: Option<String>,
    project_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<Secret>,
    refresh_token: Option<Secret>,
}

/// The first source in ADC order. A file that exists but cannot be used is an error, not a
/// reason to fall through (the operator named it, or gcloud wrote it).
pub fn chain(env: &Env) -> Result<Source, CredentialError> {
    if let Some(p) = env
        .get("GOOGLE_APPLICATION_CREDENTIALS")
        .filter(|p| !p.is_empty())
    {
        return from_file(Path::new(p), "GOOGLE_APPLICATION_CREDENTIALS");
    }
    let config = env
        .get("CLOUDSDK_CONFIG")
        .map(PathBuf::from)
        .or_else(|| env.get("HOME").map(|h| Path::new(h).join(".config/gcloud")));
    if let Some(adc) = config.map(|c| c.join("application_default_credentials.json"))
        && adc.exists()
    {
        return from_file(&adc, "gcloud auth application-default login");
    }
    let host = env
        .get("GCE_METADATA_HOST")
        .filter(|h| !h.is_empty())
        .unwrap_or("169.254.169.254");
    let base = if host.starts_with("http://") {
        host.trim_end_matches('/').to_owned()
    } else {
        format!("http://{host}")
    };
    Ok(Source::Metadata { base })
}

fn from_file(path: &Path, why: &str) -> Result<Source, CredentialError> {
    let bad =
        |m: String| CredentialError(format!("GCP credentials {} ({why}): {m}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let f: KeyFile = serde_json::from_str(&text).map_err(|e| {
        bad(format!(
            "not a credentials file: line {}, column {}",
            e.line(),
            e.column()
        ))
    })?;
    let need = |v: Option<String>, field: &str| v.ok_or_else(|| bad(format!("no `{field}`")));
    match f.kind.as_str() {
        "service_account" => {
            let pem = f
                .private_key
                .ok_or_else(|| bad("no `private_key`".into()))?;
            let key = pem_to_der(pem.expose())
                .ok_or_else(|| bad("`private_key` is not a PEM private key".into()))?;
            // Checked now, so a broken key is a clear error before any step.
            ring::signature::RsaKeyPair::from_pkcs8(&key)
                .map_err(|e| bad(format!("`private_key` is not an RSA PKCS#8 key: {e}")))?;
            Ok(Source::ServiceAccount {
                path: path.to_owned(),
                email: need(f.client_email, "client_email")?,
                key_id: f.private_key_id,
                key: Secret::new(base64::engine::general_purpose::STANDARD.encode(&key)),
                token_uri: f.token_uri.unwrap_or_else(|| TOKEN_URI.to_owned()),
                project: f.project_id,
            })
        }
        "authorized_user" => Ok(Source::AuthorizedUser {
            path: path.to_owned(),
            client_id: need(f.client_id, "client_id")?,
            client_secret: f
                .client_secret
                .ok_or_else(|| bad("no `client_secret`".into()))?,
            refresh_token: f
                .refresh_token
                .ok_or_else(|| bad("no `refresh_token`".into()))?,
            token_uri: f.token_uri.unwrap_or_else(|| TOKEN_URI.to_owned()),
        }),
        other => Err(bad(format!(
            "type `{other}` is not supported yet; use a service-account key (`service_account`) or \
             `gcloud auth application-default login` (`authorized_user`)"
        ))),
    }
}

/// The DER inside a PEM block (`-----BEGIN PRIVATE KEY-----`).
fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    crate::transport::cloud::jwt::pem_blocks(pem)
        .into_iter()
        .find(|(label, _)| label.ends_with("PRIVATE KEY"))
        .map(|(_, der)| der)
}

/// The signed JWT a service account trades for an access token (RFC 7523 section 2.1; claims as
/// Google documents them: `iss`, `scope`, `aud` the token URI, `iat`, `exp` at most an hour on).
pub fn jwt(
    email: &str,
    key_id: Option<&str>,
    key_der_b64: &Secret,
    token_uri: &str,
    now: SystemTime,
) -> Result<Secret, CredentialError> {
    let iat = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    if let Some(k) = key_id {
        header["kid"] = k.into();
    }
    let claims = serde_json::json!({
        "iss": email,
        "scope": SCOPE,
        "aud": token_uri,
        "iat": iat,
        "exp": iat + 3600,
    });
    let der = base64::engine::general_purpose::STANDARD
        .decode(key_der_b64.expose())
        .map_err(|e| CredentialError(format!("the service-account key: {e}")))?;
    crate::transport::cloud::jwt::sign_rs256(&header, &claims, &der)
        .map(Secret::new)
        .map_err(|e| CredentialError(format!("the service-account key: {e}")))
}
