//! A kubeconfig read for what breakglass needs: for one context, the cluster's server (only for
//! its host name, which becomes the TLS name when the inventory gives none), its CA, and the
//! user's credentials: a bearer token, a token file, a client certificate and key (inline or
//! files), or an exec credential plugin (client.authentication.k8s.io, the way EKS, GKE and AKS
//! kubeconfigs authenticate: kubernetes.io/docs/reference/access-authn-authz/authentication/
//! #client-go-credential-plugins).
//!
//! Credentials never reach output, errors or the journal: `Debug` of [`Credentials`] says which
//! kind, never the secret.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;

#[derive(Deserialize)]
struct Raw {
    #[serde(default, rename = "current-context")]
    current_context: Option<String>,
    #[serde(default)]
    contexts: Vec<Named<RawContext>>,
    #[serde(default)]
    clusters: Vec<Named<RawCluster>>,
    #[serde(default)]
    users: Vec<Named<RawUser>>,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "context", alias = "cluster", alias = "user")]
    item: T,
}

#[derive(Deserialize)]
struct RawContext {
    cluster: String,
    user: String,
}

#[derive(Deserialize, Default)]
struct RawCluster {
    #[serde(default)]
    server: Option<String>,
    #[serde(default, rename = "certificate-authority")]
    ca_file: Option<PathBuf>,
    #[serde(default, rename = "certificate-authority-data")]
    ca_data: Option<String>,
    #[serde(default, rename = "tls-server-name")]
    tls_server_name: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawUser {
    #[serde(default)]
    token: Option<String>,
    #[serde(default, rename = "tokenFile")]
    token_file: Option<PathBuf>,
    #[serde(default, rename = "client-certificate")]
    cert_file: Option<PathBuf>,
    #[serde(default, rename = "client-certificate-data")]
    cert_data: Option<String>,
    #[serde(default, rename = "client-key")]
    key_file: Option<PathBuf>,
    #[serde(default, rename = "client-key-data")]
    key_data: Option<String>,
    #[serde(default)]
    exec: Option<ExecConfig>,
}

/// An exec credential plugin as the kubeconfig names it.
#[derive(Deserialize, Clone, PartialEq, Eq)]
pub struct ExecConfig {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Option<Vec<EnvVar>>,
}

#[derive(Deserialize, Clone, PartialEq, Eq)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

/// How the client proves who it is.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    None,
    Token(String),
    TokenFile(PathBuf),
    /// PEM certificate and key.
    ClientCert {
        cert: Vec<u8>,
        key: Vec<u8>,
    },
    Exec(ExecConfig),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Credentials::None => "no credentials",
            Credentials::Token(_) => "a bearer token",
            Credentials::TokenFile(_) => "a token file",
            Credentials::ClientCert { .. } => "a client certificate",
            Credentials::Exec(_) => "an exec credential plugin",
        })
    }
}

/// What one kubeconfig context gives.
#[derive(Debug, Clone)]
pub struct Context {
    /// The server URL's host: the TLS name when the inventory sets none.
    pub server_host: Option<String>,
    pub tls_server_name: Option<String>,
    /// PEM.
    pub ca: Option<Vec<u8>>,
    pub credentials: Credentials,
}

/// Reads `path` and resolves `context` (default: its `current-context`). Relative file paths in
/// it are taken from the kubeconfig's own directory, as kubectl does.
pub fn load(path: &Path, context: Option<&str>) -> Result<Context, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read kubeconfig {}: {e}", path.display()))?;
    let raw: Raw =
        serde_saphyr::from_str(&text).map_err(|e| format!("kubeconfig {}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let file = |p: &Path| -> Result<Vec<u8>, String> {
        let p = if p.is_absolute() {
            p.to_owned()
        } else {
            base.join(p)
        };
        std::fs::read(&p).map_err(|e| {
            format!(
                "kubeconfig {}: cannot read {}: {e}",
                path.display(),
                p.display()
            )
        })
    };
    let data = |what: &str, d: &str| {
        B64.decode(d.trim())
            .map_err(|e| format!("kubeconfig {}: {what} is not base64: {e}", path.display()))
    };
    let name = context
        .map(str::to_owned)
        .or(raw.current_context.clone())
        .ok_or_else(|| {
            format!(
                "kubeconfig {} has no current-context: name one with `context` in the inventory cluster",
                path.display()
            )
        })?;
    let ctx = raw
        .contexts
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| format!("kubeconfig {} has no context '{name}'", path.display()))?;
    let cluster = raw
        .clusters
        .iter()
        .find(|c| c.name == ctx.item.cluster)
        .map(|c| &c.item)
        .ok_or_else(|| {
            format!(
                "kubeconfig {}: context '{name}' names a missing cluster",
                path.display()
            )
        })?;
    let user = raw
        .users
        .iter()
        .find(|u| u.name == ctx.item.user)
        .map(|u| &u.item)
        .ok_or_else(|| {
            format!(
                "kubeconfig {}: context '{name}' names a missing user",
                path.display()
            )
        })?;
    let ca = match (&cluster.ca_data, &cluster.ca_file) {
        (Some(d), _) => Some(data("certificate-authority-data", d)?),
        (None, Some(f)) => Some(file(f)?),
        (None, None) => None,
    };
    let cert = match (&user.cert_data, &user.cert_file) {
        (Some(d), _) => Some(data("client-certificate-data", d)?),
        (None, Some(f)) => Some(file(f)?),
        (None, None) => None,
    };
    let key = match (&user.key_data, &user.key_file) {
        (Some(d), _) => Some(data("client-key-data", d)?),
        (None, Some(f)) => Some(file(f)?),
        (None, None) => None,
    };
    let credentials = if let Some(t) = &user.token {
        Credentials::Token(t.clone())
    } else if let Some(f) = &user.token_file {
        Credentials::TokenFile(if f.is_absolute() {
            f.clone()
        } else {
            base.join(f)
        })
    } else if let (Some(cert), Some(key)) = (cert, key) {
        Credentials::ClientCert { cert, key }
    } else if let Some(exec) = &user.exec {
        Credentials::Exec(exec.clone())
    } else {
        Credentials::None
    };
    Ok(Context {
        server_host: cluster.server.as_deref().and_then(host_of),
        tls_server_name: cluster.tls_server_name.clone(),
        ca,
        credentials,
    })
}

/// `https://api.prod.example.com:6443/x` -> `api.prod.example.com`.
fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next()?;
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    (!host.is_empty()).then(|| host.to_owned())
}

/// What an exec plugin printed: a token, or a client certificate and key.
#[derive(Clone, PartialEq, Eq)]
pub enum ExecCredential {
    Token(String),
    ClientCert { cert: Vec<u8>, key: Vec<u8> },
}

impl fmt::Debug for ExecCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExecCredential::Token(_) => "a token",
            ExecCredential::ClientCert { .. } => "a client certificate",
        })
    }
}

#[derive(Deserialize)]
struct RawExecCredential {
    status: RawExecStatus,
}

#[derive(Deserialize)]
struct RawExecStatus {
    #[serde(default)]
    token: Option<String>,
    #[serde(default, rename = "clientCertificateData")]
    cert: Option<String>,
    #[serde(default, rename = "clientKeyData")]
    key: Option<String>,
}

/// Runs the plugin (never interactive: nobody can answer a prompt during an incident) and
/// reads its `ExecCredential`. Its stderr is kept for the error; its stdout never is.
pub fn run_exec(exec: &ExecConfig, timeout: Duration) -> Result<ExecCredential, String> {
    let info = serde_json::json!({
        "apiVersion": exec.api_version,
        "kind": "ExecCredential",
        "spec": {"interactive": false},
    });
    let mut cmd = Command::new(&exec.command);
    cmd.args(&exec.args)
        .env("KUBERNETES_EXEC_INFO", info.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for v in exec.env.iter().flatten() {
        cmd.env(&v.name, &v.value);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("exec credential plugin {}: {e}", exec.command))?;
    let started = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "exec credential plugin {} did not answer within {}",
                    exec.command,
                    humantime::format_duration(timeout)
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("exec credential plugin {}: {e}", exec.command)),
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("exec credential plugin {}: {e}", exec.command))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "exec credential plugin {} failed ({}): {}",
            exec.command,
            out.status,
            stderr.trim().lines().last().unwrap_or("")
        ));
    }
    let cred: RawExecCredential = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "exec credential plugin {} did not print an ExecCredential: {e}",
            exec.command
        )
    })?;
    match (cred.status.token, cred.status.cert, cred.status.key) {
        (Some(t), _, _) => Ok(ExecCredential::Token(t)),
        (None, Some(c), Some(k)) => Ok(ExecCredential::ClientCert {
            cert: c.into_bytes(),
            key: k.into_bytes(),
        }),
        _ => Err(format!(
            "exec credential plugin {} gave neither a token nor a client certificate",
            exec.command
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = r#"
apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: prod-cluster
  cluster:
    server: https://api.prod.example.com:6443
    certificate-authority-data: Q0EtUEVN
contexts:
- name: prod
  context:
    cluster: prod-cluster
    user: admin
- name: eks
  context:
    cluster: prod-cluster
    user: eks-user
users:
- name: admin
  user:
    token: s3cret-token
- name: eks-user
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: ["eks", "get-token", "--cluster-name", "prod"]
      env:
      - name: AWS_PROFILE
        value: ops
"#;

    #[test]
    fn a_context_gives_its_server_name_ca_and_credentials_never_shown() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config");
        std::fs::write(&path, KUBECONFIG).expect("write");
        let c = load(&path, None).expect("load");
        assert_eq!(c.server_host.as_deref(), Some("api.prod.example.com"));
        assert_eq!(c.ca.as_deref(), Some(&b"CA-PEM"[..]));
        assert_eq!(c.credentials, Credentials::Token("s3cret-token".into()));
        assert!(!format!("{c:?}").contains("s3cret"), "{c:?}");
        let eks = load(&path, Some("eks")).expect("load");
        let Credentials::Exec(exec) = &eks.credentials else {
            panic!("{:?}", eks.credentials)
        };
        assert_eq!(exec.command, "aws");
        assert_eq!(exec.env.as_ref().map(Vec::len), Some(1));
        let err = load(&path, Some("nope")).expect_err("missing");
        assert!(err.contains("no context 'nope'"), "{err}");
    }

    #[test]
    fn server_hosts_are_read_from_urls() {
        assert_eq!(
            host_of("https://10.0.0.1:6443").as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(
            host_of("https://[fd00::1]:6443/").as_deref(),
            Some("fd00::1")
        );
        assert_eq!(
            host_of("https://api.example.com").as_deref(),
            Some("api.example.com")
        );
    }

    #[test]
    fn an_exec_plugin_token_is_read_and_its_failure_explained() {
        let ok = ExecConfig {
            api_version: "client.authentication.k8s.io/v1".into(),
            command: "sh".into(),
            args: vec![
                "-c".into(),
                r#"case "$KUBERNETES_EXEC_INFO" in *'"interactive":false'*) ;; *) exit 9;; esac; printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$TOKEN""#.into(),
            ],
            env: Some(vec![EnvVar {
                name: "TOKEN".into(),
                value: "from-plugin".into(),
            }]),
        };
        assert_eq!(
            run_exec(&ok, Duration::from_secs(5)).expect("token"),
            ExecCredential::Token("from-plugin".into())
        );
        let failing = ExecConfig {
            args: vec![
                "-c".into(),
                "echo 'token expired, run aws sso login' >&2; exit 1".into(),
            ],
            ..ok.clone()
        };
        let err = run_exec(&failing, Duration::from_secs(5)).expect_err("fails");
        assert!(err.contains("run aws sso login"), "{err}");
        let hanging = ExecConfig {
            args: vec!["-c".into(), "sleep 30".into()],
            ..ok
        };
        let err = run_exec(&hanging, Duration::from_millis(300)).expect_err("hangs");
        assert!(err.contains("did not answer"), "{err}");
    }
}
