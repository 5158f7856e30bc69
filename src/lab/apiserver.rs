//! The lab's API server: the kube-apiserver stand-in (`src/lab/standins/kube-apiserver.py`, NOT
//! the Kubernetes API server) on loopback, keeping its objects in a real etcd
//! ([`EtcdServer`]) as a kube-apiserver run with `--storage-media-type=application/json` does.
//! It gets its own CA, a server certificate for 127.0.0.1 and `kubernetes.default.svc`, a
//! client certificate, a static token file with one token, and the lab's own test hooks (a
//! throttle file and a stats file). Started on a free port in a temporary directory, stopped by
//! PID and removed on drop; nothing else on the machine is touched.
//!
//! Tests talk to it with `curl` ([`ApiServer::request`]): the crate's own Kubernetes client is
//! what is under test elsewhere, so the fixture must not depend on it.

use std::ffi::OsStr;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::etcd::{EtcdServer, free_port};

const STANDIN: &str = include_str!("standins/kube-apiserver.py");

/// The stand-in writes its stats file at most this often (`--lab-stats-file`).
const STATS_PERIOD: Duration = Duration::from_millis(200);

/// A running API server stand-in and the files a client needs.
pub struct ApiServer {
    pub endpoint: SocketAddr,
    /// The CA that signed the server certificate (and the client certificate).
    pub ca_file: PathBuf,
    /// The one bearer token of `--token-auth-file`.
    pub token: String,
    /// A client certificate and key signed by `--client-ca-file`, the other way in.
    pub client_cert_file: PathBuf,
    pub client_key_file: PathBuf,
    /// While this file exists every request but health gets 429 with `Retry-After: <content>`.
    pub throttle_file: PathBuf,
    /// Per-path request and 429 counts, as JSON (see [`ApiServer::stats`]).
    pub stats_file: PathBuf,
    child: Child,
    dir: tempfile::TempDir,
}

/// An answer read back by `curl`.
#[derive(Debug)]
pub struct Response {
    pub code: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// The JSON body, or the text as a JSON string when it is not JSON.
    pub body: serde_json::Value,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How a request authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    Token,
    ClientCertificate,
    Anonymous,
}

impl ApiServer {
    /// Writes the certificates, the token file and the stand-in, and starts it against `etcd`
    /// with the real server's flags; ready when `/readyz` answers (well under a second).
    pub fn start(etcd: &EtcdServer) -> anyhow::Result<ApiServer> {
        let dir = tempfile::tempdir().context("a temporary directory for the API server")?;
        let d = dir.path();
        // kubernetes.default.svc: the name kubeadm puts in every API server certificate.
        super::pki::certificates(
            d,
            &super::pki::Names {
                ca: "/CN=lab-kubernetes-ca",
                server: "/CN=kube-apiserver",
                server_sans: "IP:127.0.0.1,DNS:kubernetes.default.svc",
                server_is_client: false,
                client: "/O=system:masters/CN=breakglass",
            },
        )?;
        let token = random_token();
        std::fs::write(
            d.join("tokens.csv"),
            format!("{token},breakglass,breakglass-uid,\"system:masters\"\n"),
        )
        .context("tokens.csv")?;
        let script = d.join("kube-apiserver.py");
        std::fs::write(&script, STANDIN).context("writing the stand-in")?;
        let port = free_port()?;
        let flag = |name: &str, path: &Path| format!("--{name}={}", path.display());
        let log = std::fs::File::create(d.join("kube-apiserver.log")).context("its log")?;
        let child = Command::new("python3")
            .arg(&script)
            .args(["--bind-address=127.0.0.1", &format!("--secure-port={port}")])
            .arg(flag("tls-cert-file", &d.join("server.crt")))
            .arg(flag("tls-private-key-file", &d.join("server.key")))
            .arg(flag("client-ca-file", &d.join("ca.crt")))
            .arg(flag("token-auth-file", &d.join("tokens.csv")))
            .arg(format!("--etcd-servers=https://{}", etcd.endpoint))
            .arg(flag("etcd-cafile", &etcd.ca_file))
            .arg(flag("etcd-certfile", &etcd.cert_file))
            .arg(flag("etcd-keyfile", &etcd.key_file))
            .arg("--storage-media-type=application/json")
            .arg(flag("lab-throttle-file", &d.join("throttle")))
            .arg(flag("lab-stats-file", &d.join("stats.json")))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting the kube-apiserver stand-in (apt-get install python3)")?;
        let server = ApiServer {
            endpoint: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            ca_file: d.join("ca.crt"),
            token,
            client_cert_file: d.join("client.crt"),
            client_key_file: d.join("client.key"),
            throttle_file: d.join("throttle"),
            stats_file: d.join("stats.json"),
            child,
            dir,
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if TcpStream::connect_timeout(&self.endpoint, Duration::from_millis(200)).is_ok()
                && self
                    .request_as(Credential::Anonymous, "GET", "/readyz", None)
                    .is_ok_and(|r| r.code == 200)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the kube-apiserver stand-in did not answer /readyz within 15 s; its log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The stand-in's output so far (for failing tests).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kube-apiserver.log")).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.endpoint)
    }

    /// `METHOD path` with the bearer token; `body` is `(content type, text)`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &str)>,
    ) -> anyhow::Result<Response> {
        self.request_as(Credential::Token, method, path, body)
    }

    /// `METHOD path` through `curl`, verifying the server with the CA.
    pub fn request_as(
        &self,
        credential: Credential,
        method: &str,
        path: &str,
        body: Option<(&str, &str)>,
    ) -> anyhow::Result<Response> {
        let bearer = format!("Authorization: Bearer {}", self.token);
        let auth: Vec<&OsStr> = match credential {
            Credential::Token => vec!["-H".as_ref(), bearer.as_ref()],
            Credential::ClientCertificate => vec![
                "--cert".as_ref(),
                self.client_cert_file.as_os_str(),
                "--key".as_ref(),
                self.client_key_file.as_os_str(),
            ],
            Credential::Anonymous => Vec::new(),
        };
        curl(
            &format!("{}{path}", self.url()),
            &self.ca_file,
            &auth,
            method,
            body,
        )
    }

    /// Writes `object` as JSON at `key` directly in etcd, as the API server stores it (no
    /// resourceVersion), filling a uid and creationTimestamp when it has none: for seeding
    /// objects without going through the API.
    pub fn seed(etcd: &EtcdServer, key: &str, mut object: serde_json::Value) -> anyhow::Result<()> {
        if let Some(meta) = object
            .get_mut("metadata")
            .and_then(serde_json::Value::as_object_mut)
        {
            meta.remove("resourceVersion");
            meta.entry("uid").or_insert_with(|| random_token().into());
            meta.entry("creationTimestamp")
                .or_insert_with(|| "2024-01-01T00:00:00Z".into());
        }
        etcd.put(key, &serde_json::to_vec(&object)?)
    }

    /// Makes every non-health request answer 429 with `Retry-After: seconds` until
    /// [`ApiServer::unthrottle`].
    pub fn throttle(&self, retry_after_secs: u32) -> anyhow::Result<()> {
        std::fs::write(&self.throttle_file, retry_after_secs.to_string())
            .with_context(|| format!("writing {}", self.throttle_file.display()))
    }

    pub fn unthrottle(&self) -> anyhow::Result<()> {
        match std::fs::remove_file(&self.throttle_file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", self.throttle_file.display()))
            }
            _ => Ok(()),
        }
    }

    /// The request counts: `{"requests": N, "throttled": M, "paths": {PATH: {"requests": n,
    /// "throttled": m, "methods": {"GET": k}}}}`, every request counted (429s included). Waits
    /// out the stand-in's write period first, so it includes every request answered before
    /// the call.
    pub fn stats(&self) -> anyhow::Result<serde_json::Value> {
        std::thread::sleep(STATS_PERIOD + Duration::from_millis(100));
        let text = std::fs::read_to_string(&self.stats_file)
            .with_context(|| format!("reading {}", self.stats_file.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}", self.stats_file.display()))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 32 hex digits from `fastrand` (a lab token, not a secret worth more).
fn random_token() -> String {
    (0..32)
        .map(|_| char::from(b"0123456789abcdef"[fastrand::usize(..16)]))
        .collect()
}

/// `METHOD url` through `curl -i`, verifying the server with `ca`; `auth` is curl's credential
/// arguments (a header, a client certificate, or none).
pub fn curl(
    url: &str,
    ca: &Path,
    auth: &[&OsStr],
    method: &str,
    body: Option<(&str, &str)>,
) -> anyhow::Result<Response> {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-i", "--max-time", "10", "-X", method])
        .arg("--cacert")
        .arg(ca)
        // No `Expect: 100-continue` round trip for larger bodies.
        .args(["-H", "Expect:"])
        .args(auth);
    if let Some((content_type, text)) = body {
        cmd.args(["-H", &format!("Content-Type: {content_type}")])
            .args(["--data-binary", text]);
    }
    let out = cmd
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .context("running curl (apt-get install curl)")?;
    if !out.status.success() {
        bail!(
            "curl {method} {url}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    parse_response(&String::from_utf8_lossy(&out.stdout))
        .with_context(|| format!("curl {method} {url}"))
}

/// `curl -i` output: status line, headers, blank line, body.
fn parse_response(text: &str) -> anyhow::Result<Response> {
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("no end of headers in curl's output")?;
    let mut lines = head.lines();
    let code = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no status line in {head:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let body = serde_json::from_str(body).unwrap_or_else(|_| body.to_owned().into());
    Ok(Response {
        code,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{ApiServer, Credential, Response};
    use crate::lab::etcd::EtcdServer;

    const JSON: &str = "application/json";
    const MERGE: &str = "application/merge-patch+json";
    const DS: &str = "/apis/apps/v1/namespaces/monitoring/daemonsets";

    fn start() -> (EtcdServer, ApiServer) {
        let etcd = EtcdServer::start().expect("etcd (apt-get install etcd-server etcd-client)");
        let api = ApiServer::start(&etcd).expect("the kube-apiserver stand-in");
        (etcd, api)
    }

    fn call(api: &ApiServer, method: &str, path: &str, body: Option<(&str, Value)>) -> Response {
        let text = body.map(|(t, v)| (t, v.to_string()));
        api.request(method, path, text.as_ref().map(|(t, v)| (*t, v.as_str())))
            .unwrap_or_else(|e| panic!("{e:#}\n{}", api.log()))
    }

    fn daemonset(name: &str, app: &str) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": {"app": app}},
                                  "spec": {"containers": [{"name": "c", "image": "i"}]}}},
        })
    }

    fn status_of(r: &Response) -> (&str, &str) {
        assert_eq!(r.body["kind"], "Status", "{}", r.body);
        assert_eq!(r.body["apiVersion"], "v1");
        if r.body["status"] == "Failure" {
            assert_eq!(r.body["code"], r.code);
        }
        (
            r.body["status"].as_str().unwrap_or_default(),
            r.body["reason"].as_str().unwrap_or_default(),
        )
    }

    fn names(list: &Value) -> Vec<&str> {
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["metadata"]["name"].as_str().expect("name"))
            .collect()
    }

    #[test]
    fn objects_are_created_read_listed_in_pages_and_patched_in_etcd() {
        let (etcd, api) = start();
        for (name, app) in [("a", "agent"), ("b", "other"), ("c", "agent")] {
            let r = call(&api, "POST", DS, Some((JSON, daemonset(name, app))));
            assert_eq!(r.code, 201);
            assert_eq!(r.body["metadata"]["namespace"], "monitoring");
            assert_eq!(r.body["metadata"]["generation"], 1);
            assert!(
                r.body["metadata"]["uid"]
                    .as_str()
                    .is_some_and(|u| u.len() == 36)
            );
        }
        // Stored as kube-apiserver stores it: JSON, without resourceVersion.
        let stored: Value = serde_json::from_slice(
            &etcd
                .get("/registry/daemonsets/monitoring/a")
                .expect("etcdctl")
                .expect("the key"),
        )
        .expect("JSON in etcd");
        assert_eq!(stored["kind"], "DaemonSet");
        assert!(stored["metadata"].get("resourceVersion").is_none());

        let again = call(&api, "POST", DS, Some((JSON, daemonset("a", "agent"))));
        assert_eq!(again.code, 409);
        assert_eq!(status_of(&again), ("Failure", "AlreadyExists"));
        assert_eq!(again.body["details"]["name"], "a");
        let mut nameless = daemonset("x", "agent");
        nameless["metadata"]
            .as_object_mut()
            .expect("metadata")
            .remove("name");
        let invalid = call(&api, "POST", DS, Some((JSON, nameless)));
        assert_eq!((invalid.code, status_of(&invalid).1), (422, "Invalid"));
        let mut elsewhere = daemonset("x", "agent");
        elsewhere["metadata"]["namespace"] = "default".into();
        let mismatch = call(&api, "POST", DS, Some((JSON, elsewhere)));
        assert_eq!((mismatch.code, status_of(&mismatch).1), (400, "BadRequest"));

        let got = call(&api, "GET", &format!("{DS}/a"), None);
        assert_eq!(got.code, 200);
        assert_eq!(got.body["kind"], "DaemonSet");
        assert_eq!(got.body["apiVersion"], "apps/v1");
        let rv = got.body["metadata"]["resourceVersion"]
            .as_str()
            .expect("resourceVersion")
            .to_owned();
        let missing = call(&api, "GET", &format!("{DS}/nope"), None);
        assert_eq!(
            (missing.code, status_of(&missing)),
            (404, ("Failure", "NotFound"))
        );
        assert_eq!(missing.body["details"]["kind"], "daemonsets");

        // limit and continue: two pages, the second read at the first one's revision.
        let first = call(&api, "GET", &format!("{DS}?limit=2"), None);
        assert_eq!(first.body["kind"], "DaemonSetList");
        assert_eq!(first.body["apiVersion"], "apps/v1");
        assert_eq!(names(&first.body), ["a", "b"]);
        let token = first.body["metadata"]["continue"]
            .as_str()
            .expect("a continue token");
        let second = call(&api, "GET", &format!("{DS}?limit=2&continue={token}"), None);
        assert_eq!(names(&second.body), ["c"]);
        assert!(second.body["metadata"].get("continue").is_none());
        assert_eq!(
            second.body["metadata"]["resourceVersion"],
            first.body["metadata"]["resourceVersion"]
        );
        let all = call(&api, "GET", "/apis/apps/v1/daemonsets", None);
        assert_eq!(names(&all.body), ["a", "b", "c"]);
        let agents = call(
            &api,
            "GET",
            &format!("{DS}?labelSelector=app%3Dagent"),
            None,
        );
        assert_eq!(names(&agents.body), ["a", "c"]);
        let not_agents = call(
            &api,
            "GET",
            &format!("{DS}?labelSelector=app!%3Dagent"),
            None,
        );
        assert_eq!(names(&not_agents.body), ["b"]);
        let paged = call(
            &api,
            "GET",
            &format!("{DS}?labelSelector=app%3Dagent&limit=1"),
            None,
        );
        assert_eq!(names(&paged.body), ["a"]);
        assert!(paged.body["metadata"]["continue"].is_string());
        let by_name = call(
            &api,
            "GET",
            "/apis/apps/v1/daemonsets?fieldSelector=metadata.name%3Db",
            None,
        );
        assert_eq!(names(&by_name.body), ["b"]);

        // Merge patch: a spec change bumps generation and resourceVersion; null removes.
        let patch = json!({"spec": {"template": {"spec": {"nodeSelector": {"lab/paused": "true"}}}},
                           "metadata": {"labels": {"app": null}}});
        let patched = call(&api, "PATCH", &format!("{DS}/a"), Some((MERGE, patch)));
        assert_eq!(patched.code, 200);
        assert_eq!(
            patched.body["spec"]["template"]["spec"]["nodeSelector"]["lab/paused"],
            "true"
        );
        assert_eq!(
            patched.body["spec"]["template"]["spec"]["containers"][0]["name"],
            "c"
        );
        assert!(
            patched.body["metadata"]
                .get("labels")
                .is_some_and(|l| l.get("app").is_none())
        );
        assert_eq!(patched.body["metadata"]["generation"], 2);
        assert_ne!(patched.body["metadata"]["resourceVersion"], rv.as_str());
        let json_patch = call(
            &api,
            "PATCH",
            &format!("{DS}/a"),
            Some(("application/json-patch+json", json!([]))),
        );
        assert_eq!(
            (json_patch.code, status_of(&json_patch).1),
            (415, "UnsupportedMediaType")
        );
        // A PUT or patch naming the old resourceVersion is refused.
        let mut stale = got.body.clone();
        stale["spec"]["minReadySeconds"] = 5.into();
        let put = call(&api, "PUT", &format!("{DS}/a"), Some((JSON, stale.clone())));
        assert_eq!((put.code, status_of(&put).1), (409, "Conflict"));
        let stale_patch =
            json!({"metadata": {"resourceVersion": rv}, "spec": {"minReadySeconds": 5}});
        let refused = call(
            &api,
            "PATCH",
            &format!("{DS}/a"),
            Some((MERGE, stale_patch)),
        );
        assert_eq!(refused.code, 409);
        stale["metadata"]["resourceVersion"] = patched.body["metadata"]["resourceVersion"].clone();
        let replaced = call(&api, "PUT", &format!("{DS}/a"), Some((JSON, stale)));
        assert_eq!(replaced.code, 200);
        assert_eq!(replaced.body["spec"]["minReadySeconds"], 5);
        assert_eq!(
            replaced.body["metadata"]["uid"],
            got.body["metadata"]["uid"]
        );
    }

    #[test]
    fn delete_checks_preconditions_and_propagates_to_owned_pods() {
        let (etcd, api) = start();
        let mut uids = Vec::new();
        for name in ["kept", "gone"] {
            let r = call(&api, "POST", DS, Some((JSON, daemonset(name, name))));
            uids.push(r.body["metadata"]["uid"].as_str().expect("uid").to_owned());
        }
        for (ds, uid) in ["kept", "gone"].iter().zip(&uids) {
            for node in ["n1", "n2"] {
                let pod = json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": format!("{ds}-{node}"),
                                 "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet",
                                                      "name": ds, "uid": uid, "controller": true}]},
                    "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]},
                });
                let r = call(
                    &api,
                    "POST",
                    "/api/v1/namespaces/monitoring/pods",
                    Some((JSON, pod)),
                );
                assert_eq!(r.code, 201);
            }
        }
        let on_n1 = call(
            &api,
            "GET",
            "/api/v1/pods?fieldSelector=spec.nodeName%3Dn1",
            None,
        );
        assert_eq!(names(&on_n1.body), ["gone-n1", "kept-n1"]);

        let wrong = json!({"kind": "DeleteOptions", "apiVersion": "v1",
                           "preconditions": {"uid": "not-its-uid"}, "propagationPolicy": "Background"});
        let refused = call(&api, "DELETE", &format!("{DS}/gone"), Some((JSON, wrong)));
        assert_eq!(
            (refused.code, status_of(&refused)),
            (409, ("Failure", "Conflict"))
        );
        assert_eq!(refused.body["details"]["name"], "gone");
        let old_rv = json!({"preconditions": {"resourceVersion": "1"}});
        let refused = call(&api, "DELETE", &format!("{DS}/gone"), Some((JSON, old_rv)));
        assert_eq!(refused.code, 409);
        assert!(
            etcd.get("/registry/daemonsets/monitoring/gone")
                .expect("get")
                .is_some()
        );

        let right = json!({"kind": "DeleteOptions", "apiVersion": "v1",
                           "preconditions": {"uid": uids[1]}, "propagationPolicy": "Background"});
        let deleted = call(&api, "DELETE", &format!("{DS}/gone"), Some((JSON, right)));
        assert_eq!((deleted.code, status_of(&deleted)), (200, ("Success", "")));
        assert_eq!(deleted.body["details"]["uid"], uids[1].as_str());
        assert!(
            etcd.get("/registry/daemonsets/monitoring/gone")
                .expect("get")
                .is_none()
        );

        let orphan = json!({"propagationPolicy": "Orphan", "preconditions": {"uid": uids[0]}});
        let deleted = call(&api, "DELETE", &format!("{DS}/kept"), Some((JSON, orphan)));
        assert_eq!(deleted.code, 200);
        let pods = call(&api, "GET", "/api/v1/namespaces/monitoring/pods", None);
        assert_eq!(names(&pods.body), ["kept-n1", "kept-n2"]);
        assert!(
            pods.body["items"][0]["metadata"]
                .get("ownerReferences")
                .is_none()
        );

        // Pods answer with the deleted pod itself.
        let pod = call(
            &api,
            "DELETE",
            "/api/v1/namespaces/monitoring/pods/kept-n1",
            None,
        );
        assert_eq!((pod.code, pod.body["kind"].as_str()), (200, Some("Pod")));
        let again = call(
            &api,
            "DELETE",
            "/api/v1/namespaces/monitoring/pods/kept-n1",
            None,
        );
        assert_eq!((again.code, status_of(&again).1), (404, "NotFound"));
    }

    #[test]
    fn scale_subresource_reads_and_patches_the_replicas() {
        let (_etcd, api) = start();
        let path = "/apis/apps/v1/namespaces/web/deployments";
        let deployment = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "front"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "front"}},
                     "template": {"metadata": {"labels": {"app": "front"}}, "spec": {}}},
        });
        assert_eq!(call(&api, "POST", path, Some((JSON, deployment))).code, 201);
        let scale = call(&api, "GET", &format!("{path}/front/scale"), None);
        assert_eq!(scale.code, 200);
        assert_eq!(scale.body["kind"], "Scale");
        assert_eq!(scale.body["apiVersion"], "autoscaling/v1");
        assert_eq!(scale.body["spec"]["replicas"], 3);
        assert_eq!(scale.body["status"]["selector"], "app=front");
        let patched = call(
            &api,
            "PATCH",
            &format!("{path}/front/scale"),
            Some((MERGE, json!({"spec": {"replicas": 0}}))),
        );
        assert_eq!(
            (patched.code, &patched.body["spec"]["replicas"]),
            (200, &json!(0))
        );
        let parent = call(&api, "GET", &format!("{path}/front"), None);
        assert_eq!(parent.body["spec"]["replicas"], 0);
        assert_eq!(parent.body["metadata"]["generation"], 2);
        assert_eq!(
            parent.body["metadata"]["resourceVersion"],
            patched.body["metadata"]["resourceVersion"]
        );
        let mut put = patched.body.clone();
        put["spec"]["replicas"] = 2.into();
        let replaced = call(
            &api,
            "PUT",
            &format!("{path}/front/scale"),
            Some((JSON, put.clone())),
        );
        assert_eq!(replaced.body["spec"]["replicas"], 2);
        // The same PUT again names a resourceVersion that has moved.
        let stale = call(
            &api,
            "PUT",
            &format!("{path}/front/scale"),
            Some((JSON, put)),
        );
        assert_eq!((stale.code, status_of(&stale).1), (409, "Conflict"));
        let none = call(
            &api,
            "GET",
            "/apis/apps/v1/namespaces/web/daemonsets/x/scale",
            None,
        );
        assert_eq!(none.code, 404);
    }

    #[test]
    fn authentication_throttling_stats_and_protobuf_values() {
        let (etcd, api) = start();
        let pods = "/api/v1/namespaces/kube-system/pods";
        let anonymous = api
            .request_as(Credential::Anonymous, "GET", pods, None)
            .expect("curl");
        assert_eq!(
            (anonymous.code, status_of(&anonymous).1),
            (401, "Unauthorized")
        );
        for health in ["/readyz", "/livez", "/healthz", "/version"] {
            let r = api
                .request_as(Credential::Anonymous, "GET", health, None)
                .expect("curl");
            assert_eq!(r.code, 200, "{health}");
        }
        let by_cert = api
            .request_as(Credential::ClientCertificate, "GET", pods, None)
            .expect("curl");
        assert_eq!(by_cert.code, 200);
        assert_eq!(by_cert.body["kind"], "PodList");

        api.throttle(3).expect("throttle");
        for _ in 0..4 {
            let r = call(&api, "GET", pods, None);
            assert_eq!((r.code, status_of(&r).1), (429, "TooManyRequests"));
            assert_eq!(r.header("Retry-After"), Some("3"));
        }
        assert_eq!(call(&api, "GET", "/readyz", None).code, 200);
        api.unthrottle().expect("unthrottle");
        assert_eq!(call(&api, "GET", pods, None).code, 200);
        let stats = api.stats().expect("stats");
        assert_eq!(stats["paths"][pods]["requests"], 7, "{stats}");
        assert_eq!(stats["paths"][pods]["throttled"], 4, "{stats}");
        assert_eq!(stats["paths"][pods]["methods"]["GET"], 7, "{stats}");

        // A value in the protobuf form a real server writes: listed (metadata only) and
        // deletable with its uid as precondition; GET says it cannot decode it.
        let pb = crate::transport::etcd::value::encode_protobuf(
            "v1",
            "Pod",
            "kube-system",
            "from-protobuf",
            "pb-uid",
        );
        etcd.put("/registry/pods/kube-system/from-protobuf", &pb)
            .expect("put");
        ApiServer::seed(
            &etcd,
            "/registry/pods/kube-system/from-json",
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "from-json", "namespace": "kube-system"}}),
        )
        .expect("seed");
        let list = call(&api, "GET", pods, None);
        assert_eq!(list.code, 200);
        assert_eq!(names(&list.body), ["from-json", "from-protobuf"]);
        assert_eq!(list.body["items"][1]["metadata"]["uid"], "pb-uid");
        let get = call(&api, "GET", &format!("{pods}/from-protobuf"), None);
        assert_eq!((get.code, status_of(&get).1), (500, "InternalError"));
        let delete = call(
            &api,
            "DELETE",
            &format!("{pods}/from-protobuf"),
            Some((JSON, json!({"preconditions": {"uid": "pb-uid"}}))),
        );
        assert_eq!(delete.code, 200);
        assert!(
            etcd.get("/registry/pods/kube-system/from-protobuf")
                .expect("get")
                .is_none()
        );
    }
}
