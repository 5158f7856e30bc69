//! A throwaway PKI for the lab's TLS servers (etcd, the API server stand-in): a CA, a server
//! certificate and a client certificate, ECDSA P-256 with v3 extensions as kubeadm makes them,
//! written with the `openssl` command line into a directory the caller owns.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

/// The subjects and extensions of one PKI.
pub struct Names<'a> {
    /// The CA's subject, e.g. `/CN=lab-etcd-ca`.
    pub ca: &'a str,
    /// The server certificate's subject and `subjectAltName`, e.g. `IP:127.0.0.1`.
    pub server: &'a str,
    pub server_sans: &'a str,
    /// The server certificate also serves as a client (etcd peers do).
    pub server_is_client: bool,
    /// The client certificate's subject, e.g. `/O=system:masters/CN=breakglass`.
    pub client: &'a str,
}

/// Writes `ca.{crt,key}`, `server.{crt,key}` and `client.{crt,key}` into `dir`.
pub fn certificates(dir: &Path, names: &Names<'_>) -> anyhow::Result<()> {
    let openssl = |args: &[&str]| -> anyhow::Result<()> {
        let out = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .context("running openssl")?;
        if !out.status.success() {
            bail!(
                "openssl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", names.ca,
    ]);
    openssl(&ca)?;
    let server_ext = format!(
        "subjectAltName={}\nextendedKeyUsage=serverAuth{}\nbasicConstraints=CA:FALSE\n",
        names.server_sans,
        if names.server_is_client {
            ",clientAuth"
        } else {
            ""
        }
    );
    let client_ext = "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n";
    for (name, subject, ext) in [
        ("server", names.server, server_ext.as_str()),
        ("client", names.client, client_ext),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), ext)?;
        let (key, csr, crt, extfile) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        let mut req = vec!["req"];
        req.extend(ec);
        req.extend(["-keyout", &key, "-out", &csr, "-subj", subject]);
        openssl(&req)?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &extfile,
        ])?;
    }
    Ok(())
}
