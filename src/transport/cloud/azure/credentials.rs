//! Where Azure credentials come from, in the order of azure-identity's `DefaultAzureCredential`
//! (<https://learn.microsoft.com/azure/developer/python/sdk/authentication/credential-chains#defaultazurecredential-overview>:
//! environment, workload identity, managed identity, then the developer tools, Azure CLI among
//! them), the sources breakglass supports:
//!
//! 1. a service principal in the environment, as `EnvironmentCredential` reads it:
//!    `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET` (client credentials grant,
//!    <https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow>),
//!    else `AZURE_CLIENT_CERTIFICATE_PATH`: a PEM file with the private key and the certificate,
//!    traded as a client assertion, a JWT signed RS256 whose `x5t` header is the certificate's
//!    SHA-1 thumbprint (<https://learn.microsoft.com/entra/identity-platform/certificate-credentials>;
//!    `AZURE_CLIENT_SEND_CERTIFICATE_CHAIN=true` adds the chain as `x5c`). A PKCS#12 file or an
//!    encrypted key is refused with the way around it. `AZURE_AUTHORITY_HOST` overrides the
//!    authority (sovereign clouds, tests);
//! 2. managed identity through the instance metadata service (IMDS,
//!    <https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token>),
//!    `Metadata: true`; `AZURE_POD_IDENTITY_AUTHORITY_HOST` overrides its address as in the SDKs,
//!    `AZURE_CLIENT_ID` picks a user-assigned identity;
//! 3. the Azure CLI's login, as `AzureCliCredential` gets it: by running
//!    `az account get-access-token --output json --resource https://management.azure.com/`
//!    (`--tenant AZURE_TENANT_ID` when set). Like the SDK, breakglass does not read the CLI's
//!    token cache (`~/.azure/msal_token_cache.json`) itself: that is MSAL's private format, it
//!    holds refresh tokens issued to the CLI's client id, and it is encrypted on Windows and
//!    macOS; `az` refreshes it and answers the access token. The CLI is tried when no
//!    environment credential is set and the metadata service cannot be reached (the order above),
//!    and it is the only source taken when `AZURE_TOKEN_CREDENTIALS=AzureCliCredential`.
//!
//! Workload identity (`AZURE_FEDERATED_TOKEN_FILE`) is not read yet. Secrets live in
//! [`Secret`]s: never printed, never in an error.

use crate::transport::cloud::aws::credentials::{Env, Secret};

pub const AUTHORITY: &str = "https://login.microsoftonline.com";
pub const IMDS: &str = "http://169.254.169.254";

#[derive(Debug)]
pub enum Source {
    ServicePrincipal {
        authority: String,
        tenant: String,
        client_id: String,
        secret: Secret,
    },
    /// A service principal with a certificate: the key (PKCS#8 or PKCS#1 DER, base64) signs
    /// the client assertion.
    Certificate {
        authority: String,
        tenant: String,
        client_id: String,
        path: std::path::PathBuf,
        key: Secret,
        /// base64url of the certificate's SHA-1 digest.
        thumbprint: String,
        /// The certificates (base64 DER), when the chain is sent (`x5c`).
        chain: Option<Vec<String>>,
    },
    /// Managed identity; `cli`: the Azure CLI to fall back to when IMDS cannot be reached.
    ManagedIdentity {
        imds: String,
        client_id: Option<String>,
        cli: Option<AzureCli>,
    },
    AzureCli(AzureCli),
}

/// How to run the Azure CLI for a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureCli {
    pub program: std::path::PathBuf,
    pub tenant: Option<String>,
}

impl AzureCli {
    /// `az account get-access-token`'s arguments for a Resource Manager token.
    pub fn args(&self, resource: &str) -> Vec<String> {
        let mut a: Vec<String> = [
            "account",
            "get-access-token",
            "--output",
            "json",
            "--resource",
            resource,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        if let Some(t) = &self.tenant {
            a.extend(["--tenant".to_owned(), t.clone()]);
        }
        a
    }
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::ServicePrincipal { client_id, .. } => {
                format!("the service principal {client_id} (AZURE_CLIENT_ID/AZURE_CLIENT_SECRET)")
            }
            Source::Certificate {
                client_id, path, ..
            } => format!(
                "the service principal {client_id} with the certificate {} (AZURE_CLIENT_CERTIFICATE_PATH)",
                path.display()
            ),
            Source::ManagedIdentity { imds, cli, .. } => format!(
                "the managed identity (instance metadata service at {imds}){}",
                if cli.is_some() {
                    ", else the Azure CLI's login"
                } else {
                    ""
                }
            ),
            Source::AzureCli(_) => "the Azure CLI's login (az account get-access-token)".to_owned(),
        }
    }
}

/// The first source that applies.
pub fn chain(env: &Env) -> Result<Source, String> {
    let var = |k: &str| env.get(k).filter(|v| !v.is_empty()).map(str::to_owned);
    let (tenant, client_id) = (var("AZURE_TENANT_ID"), var("AZURE_CLIENT_ID"));
    let authority = var("AZURE_AUTHORITY_HOST")
        .unwrap_or_else(|| AUTHORITY.to_owned())
        .trim_end_matches('/')
        .to_owned();
    if let (Some(tenant), Some(client_id), Some(secret)) =
        (&tenant, &client_id, var("AZURE_CLIENT_SECRET"))
    {
        return Ok(Source::ServicePrincipal {
            authority,
            tenant: tenant.clone(),
            client_id: client_id.clone(),
            secret: Secret::new(secret),
        });
    }
    if let Some(path) = var("AZURE_CLIENT_CERTIFICATE_PATH") {
        let (Some(tenant), Some(client_id)) = (&tenant, &client_id) else {
            return Err(
                "Azure credentials: AZURE_CLIENT_CERTIFICATE_PATH is set but AZURE_TENANT_ID or AZURE_CLIENT_ID is not; a certificate belongs to a service principal of a tenant"
                    .into(),
            );
        };
        let send_chain = var("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN")
            .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        return certificate(authority, tenant, client_id, path.into(), send_chain);
    }
    let cli = var("AZURE_TOKEN_CREDENTIALS");
    let az = find_az(env).map(|program| AzureCli {
        program,
        tenant: tenant.clone(),
    });
    if cli.as_deref() == Some("AzureCliCredential") {
        return az.map(Source::AzureCli).ok_or_else(|| {
            "Azure credentials: AZURE_TOKEN_CREDENTIALS=AzureCliCredential but `az` is not on PATH"
                .into()
        });
    }
    let imds = var("AZURE_POD_IDENTITY_AUTHORITY_HOST").unwrap_or_else(|| IMDS.to_owned());
    Ok(Source::ManagedIdentity {
        imds: imds.trim_end_matches('/').to_owned(),
        client_id,
        cli: az,
    })
}

/// `az` on `PATH`, if it is there.
fn find_az(env: &Env) -> Option<std::path::PathBuf> {
    let path = env.get("PATH")?;
    std::env::split_paths(path)
        .map(|d| d.join("az"))
        .find(|p| p.is_file())
}

/// The certificate source from a PEM file: the first private key and the certificates, in order
/// (the first is the service principal's).
fn certificate(
    authority: String,
    tenant: &str,
    client_id: &str,
    path: std::path::PathBuf,
    send_chain: bool,
) -> Result<Source, String> {
    use base64::Engine;
    use sha1::Digest;
    let bad = |m: &str| {
        format!(
            "Azure credentials: the certificate {} (AZURE_CLIENT_CERTIFICATE_PATH): {m}",
            path.display()
        )
    };
    let bytes = crate::input::read_bounded(&path, 1 << 20)
        .map_err(|e| bad(&format!("cannot read it: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        bad("not a PEM text (a PKCS#12 .pfx file? convert it: openssl pkcs12 -in cert.pfx -nodes -out cert.pem)")
    })?;
    let blocks = crate::transport::cloud::jwt::pem_blocks(&text);
    if blocks.iter().any(|(l, _)| l == "ENCRYPTED PRIVATE KEY") {
        return Err(bad(
            "its private key is encrypted; breakglass never prompts: write it unencrypted (openssl pkey -in cert.pem -out key.pem) and keep the file 0600",
        ));
    }
    let key = blocks
        .iter()
        .find(|(l, _)| l == "PRIVATE KEY" || l == "RSA PRIVATE KEY")
        .map(|(_, der)| der.clone())
        .ok_or_else(|| bad("no private key (-----BEGIN PRIVATE KEY-----) in it"))?;
    crate::transport::cloud::jwt::rsa_key(&key).map_err(|e| bad(&e))?;
    let certs: Vec<&Vec<u8>> = blocks
        .iter()
        .filter(|(l, _)| l == "CERTIFICATE")
        .map(|(_, der)| der)
        .collect();
    let leaf = certs
        .first()
        .ok_or_else(|| bad("no certificate (-----BEGIN CERTIFICATE-----) in it"))?;
    let std64 = base64::engine::general_purpose::STANDARD;
    Ok(Source::Certificate {
        authority,
        tenant: tenant.to_owned(),
        client_id: client_id.to_owned(),
        thumbprint: base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha1::Sha1::digest(leaf)),
        chain: send_chain.then(|| certs.iter().map(|c| std64.encode(c)).collect()),
        key: Secret::new(std64.encode(key)),
        path,
    })
}

/// The client assertion a certificate credential sends: header `alg` RS256, `typ` JWT, `x5t`
/// (and `x5c` with the chain); claims `aud` the token endpoint, `iss` = `sub` the client id,
/// a fresh `jti`, `nbf`/`iat` now, `exp` ten minutes on (the certificate-credentials page).
pub fn client_assertion(
    source: &Source,
    token_url: &str,
    now: std::time::SystemTime,
) -> Result<Secret, String> {
    use base64::Engine;
    let Source::Certificate {
        client_id,
        key,
        thumbprint,
        chain,
        ..
    } = source
    else {
        return Err("not a certificate credential".into());
    };
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut jti = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut jti)
        .map_err(|_| "no randomness for the assertion's jti".to_owned())?;
    let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": thumbprint});
    if let Some(c) = chain {
        header["x5c"] = serde_json::json!(c);
    }
    let claims = serde_json::json!({
        "aud": token_url, "iss": client_id, "sub": client_id, "jti": hex::encode(jti),
        "nbf": secs, "iat": secs, "exp": secs + 600,
    });
    let der = base64::engine::general_purpose::STANDARD
        .decode(key.expose())
        .map_err(|e| format!("the certificate's key: {e}"))?;
    crate::transport::cloud::jwt::sign_rs256(&header, &claims, &der)
        .map(Secret::new)
        .map_err(|e| format!("the certificate's key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_comes_before_managed_identity() {
        let sp = chain(&Env::from_pairs([
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s3cret"),
        ]))
        .expect("sp");
        assert!(
            matches!(&sp, Source::ServicePrincipal { authority, .. } if authority == AUTHORITY)
        );
        assert!(!format!("{sp:?}").contains("s3cret"));
        let mi = chain(&Env::from_pairs([
            ("AZURE_CLIENT_ID", "c"),
            ("PATH", "/nonexistent"),
        ]))
        .expect("mi");
        assert!(
            matches!(&mi, Source::ManagedIdentity { imds, client_id: Some(c), cli: None } if imds == IMDS && c == "c")
        );
        let cert = chain(&Env::from_pairs([(
            "AZURE_CLIENT_CERTIFICATE_PATH",
            "/x.pem",
        )]))
        .expect_err("cert");
        assert!(
            cert.contains("AZURE_TENANT_ID or AZURE_CLIENT_ID is not"),
            "{cert}"
        );
        let missing = chain(&Env::from_pairs([
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_CERTIFICATE_PATH", "/nonexistent/x.pem"),
        ]))
        .expect_err("no file");
        assert!(missing.contains("cannot read it"), "{missing}");
        let no_cli = chain(&Env::from_pairs([
            ("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential"),
            ("PATH", "/nonexistent"),
        ]))
        .expect_err("no az");
        assert!(no_cli.contains("`az` is not on PATH"), "{no_cli}");
    }
}
