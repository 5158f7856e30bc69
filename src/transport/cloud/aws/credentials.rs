//! Where AWS credentials come from, in the order the AWS SDKs and CLI document
//! (docs.aws.amazon.com/sdkref/latest/guide/standardized-credentials.html, "credential provider
//! chain"), decided without touching the network:
//!
//! 1. the environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`;
//! 2. the shared files' profile (`AWS_PROFILE`, else `default`; `AWS_CONFIG_FILE`, default
//!    `~/.aws/config`, and `AWS_SHARED_CREDENTIALS_FILE`, default `~/.aws/credentials`, whose
//!    keys win over the config file's): static keys, `credential_process`, or `role_arn` with a
//!    `source_profile` or `credential_source` (STS AssumeRole). IAM Identity Center (SSO) and
//!    web identity profiles are refused with the alternative named, not silently skipped;
//! 3. the EC2 instance metadata service, IMDSv2 (`AWS_EC2_METADATA_SERVICE_ENDPOINT`, default
//!    `http://169.254.169.254`; `AWS_EC2_METADATA_DISABLED=true` skips it).
//!
//! A profile named explicitly (the inventory's `profile`, or `AWS_PROFILE`) that does not exist
//! is an error, as in the CLI, rather than a fall through to the instance's role. An inventory
//! `profile` also skips the environment's keys: the inventory said which account to use.
//!
//! Secrets are held in [`Secret`], whose `Debug` and `Display` print `<redacted>` and which is
//! wiped on drop; only the signer reads them ([`Secret::expose`]).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Deserialize;

/// A secret string: never printed, wiped from memory when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the signer only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// A set of AWS credentials and where they came from (for messages: never the keys).
#[derive(Clone, Debug)]
pub struct Credentials {
    /// Not a secret (it names the key, CloudTrail logs it), but shown masked all the same.
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
    pub expires: Option<SystemTime>,
    /// "the environment", "profile prod (`credential_process`)", ...
    pub source: String,
}

impl Credentials {
    /// True when they expire within `margin` (then they are fetched again before a request).
    pub fn expiring(&self, margin: Duration) -> bool {
        self.expires
            .is_some_and(|at| at <= SystemTime::now() + margin)
    }

    /// `AKIA…WXYZ`: enough to tell keys apart in a message.
    pub fn masked_key_id(&self) -> String {
        let id = &self.access_key_id;
        if id.len() <= 8 {
            return "****".into();
        }
        format!("{}…{}", &id[..4], &id[id.len() - 4..])
    }
}

/// Why no credentials (or no region) could be found. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AWS credentials: {0}")]
pub struct CredentialError(pub String);

fn err(message: impl Into<String>) -> CredentialError {
    CredentialError(message.into())
}

/// The environment the chain reads: the process's, or a test's own.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars().collect(),
        }
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    /// Sets a variable (the inventory's files over the environment's).
    pub fn set(&mut self, key: &str, value: &str) {
        self.vars.insert(key.to_owned(), value.to_owned());
    }

    /// A variable, unless unset or empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn file(&self, var: &str, default: &str) -> Option<PathBuf> {
        match self.get(var) {
            Some(p) => Some(expand_home(p, self.get("HOME"))),
            None => self.get("HOME").map(|h| Path::new(h).join(default)),
        }
    }
}

fn expand_home(path: &str, home: Option<&str>) -> PathBuf {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => Path::new(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// How credentials will be obtained: decided from the environment and files alone.
#[derive(Debug, Clone)]
pub enum Source {
    /// Keys at hand (environment, or a profile's static keys).
    Static(Credentials),
    /// A profile's `credential_process`: a command printing the credentials as JSON
    /// (docs.aws.amazon.com/sdkref/latest/guide/feature-process-credentials.html).
    Process { profile: String, command: String },
    /// STS AssumeRole with credentials from `source`.
    AssumeRole {
        profile: String,
        role_arn: String,
        session_name: String,
        external_id: Option<String>,
        duration_seconds: Option<u32>,
        source: Box<Source>,
    },
    /// IMDSv2 on the instance breakglass runs on.
    Imds { endpoint: String },
}

impl Source {
    /// For messages: where the credentials come from.
    pub fn describe(&self) -> String {
        match self {
            Source::Static(c) => c.source.clone(),
            Source::Process { profile, .. } => format!("profile {profile} (credential_process)"),
            Source::AssumeRole {
                profile, role_arn, ..
            } => format!("profile {profile} (assumed role {role_arn})"),
            Source::Imds { endpoint } => format!("the instance metadata service at {endpoint}"),
        }
    }
}

/// The shared config and credentials files, parsed.
#[derive(Debug, Default)]
pub struct Profiles {
    /// Profile name to keys, the credentials file's keys over the config file's.
    profiles: HashMap<String, HashMap<String, String>>,
    /// The files read, for messages.
    files: Vec<PathBuf>,
}

impl Profiles {
    /// Reads the files the environment names (a missing file is no profile, not an error).
    pub fn load(env: &Env) -> Result<Profiles, CredentialError> {
        let mut p = Profiles::default();
        if let Some(path) = env.file("AWS_CONFIG_FILE", ".aws/config") {
            p.read(&path, true)?;
        }
        if let Some(path) = env.file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials") {
            p.read(&path, false)?;
        }
        Ok(p)
    }

    fn read(&mut self, path: &Path, config: bool) -> Result<(), CredentialError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(err(format!("cannot read {}: {e}", path.display()))),
        };
        self.files.push(path.to_owned());
        for (section, keys) in parse_ini(&text) {
            // The config file names profiles `[profile NAME]` (and `[default]`); other sections
            // (`[sso-session X]`, `[services X]`) are not profiles. The credentials file names
            // them bare.
            let name = if config {
                match section.strip_prefix("profile ") {
                    Some(n) => n.trim().to_owned(),
                    None if section == "default" => section,
                    None => continue,
                }
            } else {
                section
            };
            self.profiles.entry(name).or_default().extend(keys);
        }
        Ok(())
    }

    fn get(&self, profile: &str) -> Option<&HashMap<String, String>> {
        self.profiles.get(profile)
    }

    fn files(&self) -> String {
        if self.files.is_empty() {
            "no shared config or credentials file".into()
        } else {
            self.files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" and ")
        }
    }

    /// The profile's `region`, if it has one.
    pub fn region(&self, profile: &str) -> Option<&str> {
        self.get(profile)?
            .get("region")
            .map(String::as_str)
            .filter(|r| !r.is_empty())
    }
}

/// Sections of an INI file as the AWS CLI writes them: `[section]`, `key = value`, comments
/// starting with `#` or `;`; indented lines (nested settings such as `s3 =`) are skipped.
fn parse_ini(text: &str) -> Vec<(String, HashMap<String, String>)> {
    let mut out: Vec<(String, HashMap<String, String>)> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            out.push((section.trim().to_owned(), HashMap::new()));
        } else if let (Some((key, value)), Some(last)) = (line.split_once('='), out.last_mut()) {
            last.1
                .insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    out
}

/// The profile the chain uses: the inventory's, else `AWS_PROFILE`, else `default`; and
/// whether it was named explicitly (then it must exist).
fn profile_name<'a>(env: &'a Env, inventory: Option<&'a str>) -> (&'a str, bool) {
    match inventory.or_else(|| env.get("AWS_PROFILE")) {
        Some(p) => (p, true),
        None => ("default", false),
    }
}

/// The region: the inventory's, else `AWS_REGION`, else `AWS_DEFAULT_REGION`, else the
/// profile's `region`. The inventory wins because a cluster lives in one region whatever the
/// operator's shell defaults to.
pub fn region(env: &Env, profiles: &Profiles, inventory_profile: Option<&str>) -> Option<String> {
    env.get("AWS_REGION")
        .or_else(|| env.get("AWS_DEFAULT_REGION"))
        .or_else(|| profiles.region(profile_name(env, inventory_profile).0))
        .map(str::to_owned)
}

/// Decides where credentials come from, in the documented order (module doc).
pub fn chain(
    env: &Env,
    profiles: &Profiles,
    inventory_profile: Option<&str>,
) -> Result<Source, CredentialError> {
    if inventory_profile.is_none() {
        match (
            env.get("AWS_ACCESS_KEY_ID"),
            env.get("AWS_SECRET_ACCESS_KEY"),
        ) {
            (Some(id), Some(secret)) => {
                return Ok(Source::Static(Credentials {
                    access_key_id: id.to_owned(),
                    secret_access_key: Secret::new(secret),
                    session_token: env.get("AWS_SESSION_TOKEN").map(Secret::new),
                    expires: None,
                    source: "the environment (AWS_ACCESS_KEY_ID)".into(),
                }));
            }
            (Some(_), None) => {
                return Err(err(
                    "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both, or unset both to use a profile",
                ));
            }
            (None, Some(_)) => {
                return Err(err(
                    "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not: set both, or unset both to use a profile",
                ));
            }
            (None, None) => {}
        }
    }
    let (name, explicit) = profile_name(env, inventory_profile);
    if profiles.get(name).is_some() {
        return profile_source(env, profiles, name, &mut Vec::new());
    }
    if explicit {
        return Err(err(format!(
            "profile {name} is not in {}",
            profiles.files()
        )));
    }
    if env
        .get("AWS_EC2_METADATA_DISABLED")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Err(err(format!(
            "none found: no AWS_ACCESS_KEY_ID in the environment, no profile {name} in {}, and \
             AWS_EC2_METADATA_DISABLED=true skips the instance metadata service. Export keys, \
             set AWS_PROFILE, or name a `profile` in the inventory's [clusters.NAME.aws]",
            profiles.files()
        )));
    }
    Ok(Source::Imds {
        endpoint: imds_endpoint(env),
    })
}

fn imds_endpoint(env: &Env) -> String {
    env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        .unwrap_or("http://169.254.169.254")
        .trim_end_matches('/')
        .to_owned()
}

/// A profile's credentials; `seen` holds the profiles already on the way (a `source_profile`
/// loop is an error, not a hang).
fn profile_source(
    env: &Env,
    profiles: &Profiles,
    name: &str,
    seen: &mut Vec<String>,
) -> Result<Source, CredentialError> {
    let Some(p) = profiles.get(name) else {
        return Err(err(format!(
            "profile {name} (a source_profile of {}) is not in {}",
            seen.last().map_or("?", String::as_str),
            profiles.files()
        )));
    };
    if seen.iter().any(|s| s == name) {
        seen.push(name.to_owned());
        return Err(err(format!(
            "the profiles' source_profile settings form a loop: {}",
            seen.join(" -> ")
        )));
    }
    let key = |k: &str| p.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let static_keys = || match (key("aws_access_key_id"), key("aws_secret_access_key")) {
        (Some(id), Some(secret)) => Some(Credentials {
            access_key_id: id.to_owned(),
            secret_access_key: Secret::new(secret),
            session_token: key("aws_session_token").map(Secret::new),
            expires: None,
            source: format!("profile {name} (static keys)"),
        }),
        _ => None,
    };
    if let Some(role_arn) = key("role_arn") {
        let source = match (key("source_profile"), key("credential_source")) {
            (Some(_), Some(_)) => {
                return Err(err(format!(
                    "profile {name} sets both source_profile and credential_source; keep one"
                )));
            }
            // A profile may take the role with its own static keys.
            (Some(src), None) if src == name => match static_keys() {
                Some(c) => Source::Static(c),
                None => {
                    return Err(err(format!(
                        "profile {name} is its own source_profile but has no aws_access_key_id and aws_secret_access_key"
                    )));
                }
            },
            (Some(src), None) => {
                seen.push(name.to_owned());
                profile_source(env, profiles, src, seen)?
            }
            (None, Some(cs)) => match cs {
                "Environment" => chain(&without_profile(env), &Profiles::default(), None)?,
                "Ec2InstanceMetadata" => Source::Imds {
                    endpoint: imds_endpoint(env),
                },
                other => {
                    return Err(err(format!(
                        "profile {name}: credential_source = {other} is not supported (Environment and Ec2InstanceMetadata are)"
                    )));
                }
            },
            (None, None) => {
                return Err(err(format!(
                    "profile {name} has role_arn but neither source_profile nor credential_source"
                )));
            }
        };
        return Ok(Source::AssumeRole {
            profile: name.to_owned(),
            role_arn: role_arn.to_owned(),
            session_name: key("role_session_name")
                .map_or_else(|| "breakglass".to_owned(), str::to_owned),
            external_id: key("external_id").map(str::to_owned),
            duration_seconds: key("duration_seconds").and_then(|d| d.parse().ok()),
            source: Box::new(source),
        });
    }
    if key("sso_session").is_some() || key("sso_start_url").is_some() {
        return Err(err(format!(
            "profile {name} uses IAM Identity Center (SSO), which breakglass does not support yet. \
             Run `aws sso login --profile {name}` and then either export the keys that \
             `aws configure export-credentials --profile {name} --format env` prints, or use a \
             profile with `credential_process = aws configure export-credentials --profile {name} --format process`"
        )));
    }
    if key("web_identity_token_file").is_some() {
        return Err(err(format!(
            "profile {name} uses web identity (web_identity_token_file), which breakglass does not support yet; \
             use a profile with credential_process or static keys"
        )));
    }
    if let Some(command) = key("credential_process") {
        return Ok(Source::Process {
            profile: name.to_owned(),
            command: command.to_owned(),
        });
    }
    static_keys().map(Source::Static).ok_or_else(|| {
        err(format!(
            "profile {name} has no credentials: expected aws_access_key_id and aws_secret_access_key, \
             credential_process, or role_arn with source_profile"
        ))
    })
}

/// The environment's keys alone (`credential_source = Environment`).
fn without_profile(env: &Env) -> Env {
    Env::from_pairs(
        [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
        ]
        .into_iter()
        .filter_map(|k| env.get(k).map(|v| (k, v))),
    )
}

/// What `credential_process` prints (and IMDS serves, with `Token` for the session token).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Printed {
    #[serde(default)]
    version: Option<u32>,
    access_key_id: String,
    secret_access_key: Secret,
    #[serde(default, alias = "Token")]
    session_token: Option<Secret>,
    #[serde(default)]
    expiration: Option<String>,
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// An RFC 3339 time as AWS writes expirations (`2024-05-01T12:00:00Z`, maybe with fractions).
pub fn parse_time(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(text.trim().trim_end_matches('Z'))
        .ok()
        .or_else(|| humantime::parse_rfc3339(text.trim()).ok())
}

/// Credentials from the JSON a `credential_process` prints or IMDS serves. The error never
/// quotes the text (it holds the secret).
pub fn from_json(text: &str, source: String) -> Result<Credentials, CredentialError> {
    let p: Printed = serde_json::from_str(text).map_err(|e| {
        err(format!(
            "{source} did not print credentials as JSON with AccessKeyId and SecretAccessKey \
             (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    if p.version.is_some_and(|v| v != 1) {
        return Err(err(format!(
            "{source} printed credentials of Version {}; expected Version 1",
            p.version.unwrap_or_default()
        )));
    }
    let expires = match &p.expiration {
        Some(t) => Some(parse_time(t).ok_or_else(|| {
            err(format!(
                "{source}: Expiration `{t}` is not an RFC 3339 time"
            ))
        })?),
        None => None,
    };
    Ok(Credentials {
        access_key_id: p.access_key_id,
        secret_access_key: p.secret_access_key,
        session_token: p.session_token,
        expires,
        source,
    })
}

/// Runs a profile's `credential_process` (with `sh -c`, as the Rust SDK does) and reads what it
/// prints. Blocking: call it off the async workers. Its stderr goes to the error only in its
/// last line.
pub fn run_process(
    profile: &str,
    command: &str,
    timeout: Duration,
) -> Result<Credentials, CredentialError> {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let what = format!("profile {profile} (credential_process)");
    let mut child = Command::new("sh")
        .args(["-c", command])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(format!("{what}: cannot start `{command}`: {e}")))?;
    let deadline = std::time::Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if std::time::Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(err(format!(
                    "{what}: `{command}` did not finish within {}s",
                    timeout.as_secs()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(err(format!("{what}: waiting for `{command}`: {e}"))),
        }
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut stdout);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    if !status.success() {
        let last = stderr.lines().last().unwrap_or("").trim();
        return Err(err(format!(
            "{what}: `{command}` failed ({status}){}",
            if last.is_empty() {
                String::new()
            } else {
                format!(": {last}")
            }
        )));
    }
    from_json(&stdout, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(config: &str, credentials: &str) -> (tempfile::TempDir, Vec<(String, String)>) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("config"), config).expect("config");
        std::fs::write(dir.path().join("credentials"), credentials).expect("credentials");
        let vars = vec![
            (
                "AWS_CONFIG_FILE".to_owned(),
                dir.path().join("config").display().to_string(),
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE".to_owned(),
                dir.path().join("credentials").display().to_string(),
            ),
        ];
        (dir, vars)
    }

    fn source(vars: &[(String, String)], extra: &[(&str, &str)], inv: Option<&str>) -> String {
        let env = Env::from_pairs(
            vars.iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .chain(extra.iter().copied()),
        );
        let profiles = Profiles::load(&env).expect("profiles");
        match chain(&env, &profiles, inv) {
            Ok(s) => s.describe(),
            Err(e) => format!("error: {e}"),
        }
    }

    const CONFIG: &str = "[default]\nregion = eu-west-1\n\n[profile ops]\nregion = us-east-2\n\
        role_arn = arn:aws:iam::123456789012:role/breakglass\nsource_profile = base\n\n\
        [profile proc]\ncredential_process = /bin/echo {}\n  nested = ignored\n\n\
        [profile sso]\nsso_session = corp\n\n[sso-session corp]\nsso_region = us-east-1\n\n\
        [profile loop-a]\nrole_arn = arn:a\nsource_profile = loop-b\n\n\
        [profile loop-b]\nrole_arn = arn:b\nsource_profile = loop-a\n";
    const CREDENTIALS: &str = "[default]\naws_access_key_id = AKIADEFAULT0000\n\
        aws_secret_access_key = default-secret\n\n# a comment\n[base]\n\
        aws_access_key_id = AKIABASE00000000\naws_secret_access_key = base-secret\n";

    #[test]
    fn the_chain_follows_the_documented_order() {
        let (_dir, vars) = files(CONFIG, CREDENTIALS);
        let keys = [
            ("AWS_ACCESS_KEY_ID", "AKIAENV"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ];
        // 1. The environment's keys win over every profile.
        assert_eq!(
            source(&vars, &keys, None),
            "the environment (AWS_ACCESS_KEY_ID)"
        );
        let mut with_profile = keys.to_vec();
        with_profile.push(("AWS_PROFILE", "proc"));
        assert_eq!(
            source(&vars, &with_profile, None),
            "the environment (AWS_ACCESS_KEY_ID)"
        );
        // ... but not over a profile the inventory names.
        assert_eq!(
            source(&vars, &keys, Some("proc")),
            "profile proc (credential_process)"
        );
        // 2. The profile: AWS_PROFILE, else default.
        assert_eq!(source(&vars, &[], None), "profile default (static keys)");
        assert_eq!(
            source(&vars, &[("AWS_PROFILE", "ops")], None),
            "profile ops (assumed role arn:aws:iam::123456789012:role/breakglass)"
        );
        // 3. No profile at all: the instance metadata service.
        let (_empty, none) = files("", "");
        assert_eq!(
            source(
                &none,
                &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9/")],
                None
            ),
            "the instance metadata service at http://127.0.0.1:9"
        );
        assert!(
            source(&none, &[("AWS_EC2_METADATA_DISABLED", "true")], None)
                .contains("AWS_EC2_METADATA_DISABLED=true"),
        );
    }

    #[test]
    fn profiles_that_cannot_work_say_why_and_what_to_do() {
        let (_dir, vars) = files(CONFIG, CREDENTIALS);
        let missing = source(&vars, &[("AWS_PROFILE", "nope")], None);
        assert!(missing.contains("profile nope is not in"), "{missing}");
        let sso = source(&vars, &[("AWS_PROFILE", "sso")], None);
        assert!(
            sso.contains("IAM Identity Center (SSO)")
                && sso.contains("aws configure export-credentials --profile sso"),
            "{sso}"
        );
        let looped = source(&vars, &[("AWS_PROFILE", "loop-a")], None);
        assert!(
            looped.contains("loop: loop-a -> loop-b -> loop-a"),
            "{looped}"
        );
        let half = source(&vars, &[("AWS_ACCESS_KEY_ID", "AKIA")], None);
        assert!(half.contains("AWS_SECRET_ACCESS_KEY is not"), "{half}");
    }

    #[test]
    fn an_assumed_roles_source_is_its_source_profiles_keys() {
        let (_dir, vars) = files(CONFIG, CREDENTIALS);
        let env = Env::from_pairs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let profiles = Profiles::load(&env).expect("profiles");
        let Source::AssumeRole {
            source, role_arn, ..
        } = chain(&env, &profiles, Some("ops")).expect("chain")
        else {
            panic!("not an assumed role");
        };
        assert_eq!(role_arn, "arn:aws:iam::123456789012:role/breakglass");
        let Source::Static(c) = *source else {
            panic!("not static keys");
        };
        assert_eq!(c.access_key_id, "AKIABASE00000000");
        assert_eq!(c.secret_access_key.expose(), "base-secret");
        // The profile's region, unless the environment says otherwise.
        assert_eq!(
            region(&env, &profiles, Some("ops")).as_deref(),
            Some("us-east-2")
        );
        let env2 = Env::from_pairs(
            vars.iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .chain([("AWS_DEFAULT_REGION", "ap-south-1")]),
        );
        assert_eq!(
            region(&env2, &profiles, Some("ops")).as_deref(),
            Some("ap-south-1")
        );
    }

    #[test]
    fn secrets_never_print() {
        let c = Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            session_token: Some(Secret::new("token-value")),
            expires: None,
            source: "test".into(),
        };
        let shown = format!("{c:?} {}", c.secret_access_key);
        assert!(
            !shown.contains("wJalr") && !shown.contains("token-value"),
            "{shown}"
        );
        assert_eq!(c.masked_key_id(), "AKIA…MPLE");
        // A process that prints something else: the error does not quote it.
        let e = from_json(
            "{\"AccessKeyId\": \"A\", \"Secret\": \"hunter2\"}",
            "p".into(),
        )
        .expect_err("not credentials");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn credential_process_output_is_read_with_its_expiration() {
        let c = run_process(
            "proc",
            r#"printf '{"Version":1,"AccessKeyId":"AKIAPROC","SecretAccessKey":"s","SessionToken":"t","Expiration":"2030-01-02T03:04:05Z"}'"#,
            Duration::from_secs(10),
        )
        .expect("credentials");
        assert_eq!(c.access_key_id, "AKIAPROC");
        assert!(c.expires.is_some() && !c.expiring(Duration::from_secs(60)));
        let e = run_process("proc", "echo nope >&2; exit 3", Duration::from_secs(10))
            .expect_err("fails");
        assert!(e.to_string().contains("nope"), "{e}");
    }
}
