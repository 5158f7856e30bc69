//! Where Azure credentials come from, in the order of the Azure SDKs' `DefaultAzureCredential`
//! (learn.microsoft.com/azure/developer/intro/azure-developer-authentication-overview), the
//! sources breakglass supports so far:
//!
//! 1. a service principal in the environment: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and
//!    `AZURE_CLIENT_SECRET`, traded at `AUTHORITY/TENANT/oauth2/v2.0/token` (client credentials
//!    grant, learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow);
//!    `AZURE_AUTHORITY_HOST` overrides the authority (sovereign clouds, tests). A certificate
//!    (`AZURE_CLIENT_CERTIFICATE_PATH`) is not supported yet and says so;
//! 2. managed identity through the instance metadata service (IMDS,
//!    learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token),
//!    `Metadata: true`; `AZURE_POD_IDENTITY_AUTHORITY_HOST` overrides its address as in the SDKs,
//!    `AZURE_CLIENT_ID` picks a user-assigned identity.
//!
//! The Azure CLI's token cache is not read yet: the error at the end of the chain names the
//! alternatives. Secrets live in [`Secret`]s: never printed, never in an error.

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
    ManagedIdentity {
        imds: String,
        client_id: Option<String>,
    },
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::ServicePrincipal { client_id, .. } => {
                format!("the service principal {client_id} (AZURE_CLIENT_ID/AZURE_CLIENT_SECRET)")
            }
            Source::ManagedIdentity { imds, .. } => {
                format!("the managed identity (instance metadata service at {imds})")
            }
        }
    }
}

/// The first source that applies.
pub fn chain(env: &Env) -> Result<Source, String> {
    let var = |k: &str| env.get(k).filter(|v| !v.is_empty()).map(str::to_owned);
    let (tenant, client_id) = (var("AZURE_TENANT_ID"), var("AZURE_CLIENT_ID"));
    if let (Some(tenant), Some(client_id), Some(secret)) =
        (&tenant, &client_id, var("AZURE_CLIENT_SECRET"))
    {
        let authority = var("AZURE_AUTHORITY_HOST").unwrap_or_else(|| AUTHORITY.to_owned());
        return Ok(Source::ServicePrincipal {
            authority: authority.trim_end_matches('/').to_owned(),
            tenant: tenant.clone(),
            client_id: client_id.clone(),
            secret: Secret::new(secret),
        });
    }
    if var("AZURE_CLIENT_CERTIFICATE_PATH").is_some() {
        return Err(
            "Azure credentials: a service principal certificate (AZURE_CLIENT_CERTIFICATE_PATH) is \
             not supported yet; set AZURE_CLIENT_SECRET instead, or use a managed identity"
                .into(),
        );
    }
    let imds = var("AZURE_POD_IDENTITY_AUTHORITY_HOST").unwrap_or_else(|| IMDS.to_owned());
    Ok(Source::ManagedIdentity {
        imds: imds.trim_end_matches('/').to_owned(),
        client_id,
    })
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
        let mi = chain(&Env::from_pairs([("AZURE_CLIENT_ID", "c")])).expect("mi");
        assert!(
            matches!(&mi, Source::ManagedIdentity { imds, client_id: Some(c) } if imds == IMDS && c == "c")
        );
        let cert = chain(&Env::from_pairs([(
            "AZURE_CLIENT_CERTIFICATE_PATH",
            "/x.pem",
        )]))
        .expect_err("cert");
        assert!(cert.contains("not supported yet"), "{cert}");
    }
}
