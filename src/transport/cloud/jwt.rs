//! RS256-signed JWTs (RFC 7515, RFC 7518 section 3.3) for the OAuth client assertions the
//! providers take: a GCP service account's (RFC 7523) and an Entra ID certificate credential's.
//! Signing is `ring`'s; this module only encodes. And the PEM blocks their keys come in.

use base64::Engine;

/// `base64url(header).base64url(claims).base64url(RS256 signature)` with the RSA key `key`
/// (PKCS#8 DER, or PKCS#1 DER as `-----BEGIN RSA PRIVATE KEY-----` holds).
pub fn sign_rs256(
    header: &serde_json::Value,
    claims: &serde_json::Value,
    key: &[u8],
) -> Result<String, String> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing_input = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string())
    );
    let pair = rsa_key(key)?;
    let mut sig = vec![0; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut sig,
    )
    .map_err(|e| format!("signing: {e}"))?;
    Ok(format!("{signing_input}.{}", b64.encode(sig)))
}

/// An RSA private key from PKCS#8 or PKCS#1 DER (checked when a source is chosen, so a broken
/// key is a clear error before any step).
pub fn rsa_key(der: &[u8]) -> Result<ring::signature::RsaKeyPair, String> {
    ring::signature::RsaKeyPair::from_pkcs8(der)
        .or_else(|_| ring::signature::RsaKeyPair::from_der(der))
        .map_err(|e| format!("not an RSA private key (PKCS#8 or PKCS#1): {e}"))
}

/// The blocks of a PEM text: each label (`PRIVATE KEY`, `CERTIFICATE`, ...) with its DER, in
/// order. A text with no blocks is taken as one unlabelled base64 body (a key file's
/// `private_key` written without its armour).
pub fn pem_blocks(pem: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut label: Option<String> = None;
    let mut body = String::new();
    for line in pem.lines().map(str::trim) {
        if let Some(l) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            label = Some(l.to_owned());
            body.clear();
        } else if line.starts_with("-----END ") {
            if let Some(l) = label.take()
                && let Ok(der) = base64::engine::general_purpose::STANDARD.decode(&body)
            {
                out.push((l, der));
            }
        } else if label.is_some() {
            body.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_are_read_in_order() {
        let pem = "junk\n-----BEGIN PRIVATE KEY-----\nAAEC\n-----END PRIVATE KEY-----\n\
                   -----BEGIN CERTIFICATE-----\nAw==\n-----END CERTIFICATE-----\n";
        let b = pem_blocks(pem);
        assert_eq!(
            b,
            [
                ("PRIVATE KEY".to_owned(), vec![0, 1, 2]),
                ("CERTIFICATE".to_owned(), vec![3])
            ]
        );
        assert!(rsa_key(&[1, 2, 3]).is_err());
    }
}
