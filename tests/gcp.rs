//! `nodes.scale` on GCP end to end: the built binary against a fake of the Compute Engine and
//! GKE REST APIs and Google's OAuth token endpoint (no emulator exists for either), each
//! endpoint following its reference page. The token endpoint verifies the RS256 JWT it is sent
//! with the public half of a service-account key the test generates, so a wrong signature, claim
//! or audience fails the test; Operations take several polls; a read is throttled with 429 and
//! `Retry-After`; errors have Google's body shapes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Value, json};

use crate::support::http::{FakeHttp, Request, Response};
use crate::support::{Bg, Scratch, one_step_runbook, target_results};

const TOKEN: &str = "ya29.fake-access-token-not-for-output";
const EMAIL: &str = "breakglass@acme.iam.gserviceaccount.com";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mig {
    target: u32,
    /// Instances that exist; they follow `target` one step per read once the resize is done.
    current: u32,
}

struct Op {
    /// Polls answered RUNNING before DONE.
    polls_left: u32,
    /// MIG sizes set when it is DONE.
    sets: Vec<(String, u32)>,
    /// A GKE node pool RECONCILING until then.
    pool: Option<String>,
    /// A control-plane change made when it is DONE.
    effect: Option<Effect>,
}

/// What an Operation of the control plane's calls does once DONE.
enum Effect {
    InsertFirewall(Value),
    DeleteFirewall(String),
    /// The GKE cluster's new authorized networks (it is RECONCILING until then).
    GkeNetworks(Value),
    GkeLabels(Value),
}

#[derive(Default)]
struct Cloud {
    migs: HashMap<String, Mig>,
    ops: HashMap<String, Op>,
    reconciling: Vec<String>,
    next_op: u32,
    /// MIG reads still to answer 429 (`RESOURCE_EXHAUSTED`) with `Retry-After: 1`.
    throttle: u32,
    /// The read that was throttled, and when.
    throttled: Option<(String, std::time::Instant)>,
    /// Valid JWTs traded for a token.
    tokens_issued: u32,
    /// Why the token endpoint refused, for the assertions.
    refusals: Vec<String>,
    /// The VPC firewall rules by name, as compute answers them.
    firewalls: std::collections::BTreeMap<String, Value>,
    /// The GKE cluster `prod` in us-central1, as container answers it.
    gke: Value,
    /// Firewall inserts answer 403 (the identity lacks `compute.firewalls.create`).
    deny_firewall_create: bool,
    /// Operations of the control plane's calls stay RUNNING.
    stuck: bool,
    /// Firewall lists still to answer 429 with `Retry-After: 1`, and when the last one was.
    throttle_lists: u32,
    list_throttled_at: Option<std::time::Instant>,
    /// Running instances of MIGs by zone/name: (instance name, private IP).
    instances: HashMap<String, Vec<(String, String)>>,
}

/// The public key (PKCS#1 DER) the token endpoint trusts.
struct Trust {
    public: Vec<u8>,
    token_uri: String,
}

fn gke_zones() -> [&'static str; 3] {
    ["us-central1-a", "us-central1-b", "us-central1-c"]
}

fn err(code: u16, status: &str, message: &str) -> Response {
    // Google's error body (https://cloud.google.com/apis/design/errors#http_mapping); compute
    // adds `errors[]` with a `reason` (https://cloud.google.com/compute/docs/api/handling-errors).
    Response::json(
        code,
        &json!({"error": {"code": code, "message": message, "status": status,
            "errors": [{"message": message, "domain": "global", "reason": status.to_lowercase()}]}}),
    )
}

/// The OAuth 2.0 token endpoint for service accounts
/// (<https://developers.google.com/identity/protocols/oauth2/service-account#httprest>): a form
/// with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and the signed `assertion`.
fn token(req: &Request, trust: &Trust, cloud: &mut Cloud) -> Response {
    let form: HashMap<String, String> = req
        .body
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%3A", ":").replace("%3a", ":")))
        .collect();
    let check = || -> Result<(), String> {
        if form.get("grant_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        {
            return Err(format!("grant_type {:?}", form.get("grant_type")));
        }
        let jwt = form.get("assertion").ok_or("no assertion")?;
        let parts: Vec<&str> = jwt.split('.').collect();
        let [h, c, s] = parts[..] else {
            return Err("not three parts".into());
        };
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header: Value = serde_json::from_slice(&b64.decode(h).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        if header["alg"] != "RS256" || header["kid"] != "key-1" {
            return Err(format!("header {header}"));
        }
        let sig = b64.decode(s).map_err(|e| e.to_string())?;
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &trust.public,
        )
        .verify(format!("{h}.{c}").as_bytes(), &sig)
        .map_err(|_| "Invalid JWT Signature.".to_owned())?;
        let claims: Value = serde_json::from_slice(&b64.decode(c).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("now")
            .as_secs();
        let (iat, exp) = (
            claims["iat"].as_u64().unwrap_or(0),
            claims["exp"].as_u64().unwrap_or(0),
        );
        if claims["iss"] != EMAIL
            || claims["aud"] != trust.token_uri.as_str()
            || claims["scope"] != "https://www.googleapis.com/auth/cloud-platform"
            || exp <= now
            || exp - iat > 3600
            || iat > now + 60
        {
            return Err(format!("claims {claims}"));
        }
        Ok(())
    };
    match check() {
        Ok(()) => {
            cloud.tokens_issued += 1;
            Response::json(
                200,
                &json!({"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"}),
            )
        }
        Err(why) => {
            cloud.refusals.push(why.clone());
            // What Google answers a bad signature (RFC 6749 section 5.2 error body).
            Response::json(
                400,
                &json!({"error": "invalid_grant", "error_description": why}),
            )
        }
    }
}

fn mig_json(name: &str, m: Mig) -> Value {
    let mut actions = json!({"abandoning": 0, "creating": 0, "creatingWithoutRetries": 0,
        "deleting": 0, "none": m.current.min(m.target), "recreating": 0, "refreshing": 0,
        "restarting": 0, "resuming": 0, "starting": 0, "stopping": 0, "suspending": 0, "verifying": 0});
    if m.current > m.target {
        actions["deleting"] = (m.current - m.target).into();
    } else if m.current < m.target {
        actions["creating"] = (m.target - m.current).into();
    }
    json!({"kind": "compute#instanceGroupManager", "name": name, "targetSize": m.target,
        "currentActions": actions, "status": {"isStable": m.current == m.target}})
}

fn operation(name: &str, status: &str, kind: &str) -> Value {
    json!({"kind": "compute#operation", "name": name, "status": status, "operationType": kind,
        "progress": if status == "DONE" { 100 } else { 0 }})
}

const NETWORK: &str =
    "https://www.googleapis.com/compute/v1/projects/acme/global/networks/prod-vpc";

/// A rule as compute answers it (<https://cloud.google.com/compute/docs/reference/rest/v1/firewalls#Firewall>).
fn firewall(
    name: &str,
    priority: u32,
    allowed: bool,
    ports: &[&str],
    sources: &[&str],
    tags: &[&str],
) -> Value {
    let key = if allowed { "allowed" } else { "denied" };
    json!({"kind": "compute#firewall", "id": format!("{}", 1000 + priority), "name": name,
        "network": NETWORK, "priority": priority, "direction": "INGRESS", "sourceRanges": sources,
        "targetTags": tags, key: [{"IPProtocol": "tcp", "ports": ports}], "description": "",
        "disabled": false, "selfLink": format!("https://www.googleapis.com/compute/v1/projects/acme/global/firewalls/{name}"),
        "creationTimestamp": "2024-05-01T10:00:00.000-07:00"})
}

fn finish(cloud: &mut Cloud, e: Effect) {
    match e {
        Effect::InsertFirewall(rule) => {
            let name = rule["name"].as_str().expect("name").to_owned();
            cloud.firewalls.insert(name, rule);
        }
        Effect::DeleteFirewall(name) => {
            cloud.firewalls.remove(&name);
        }
        Effect::GkeNetworks(access) => {
            cloud.gke["masterAuthorizedNetworksConfig"] = access.clone();
            cloud.gke["controlPlaneEndpointsConfig"]["ipEndpointsConfig"]["authorizedNetworksConfig"] =
                access;
            cloud.gke["status"] = "RUNNING".into();
        }
        Effect::GkeLabels(labels) => {
            cloud.gke["resourceLabels"] = labels;
            cloud.gke["labelFingerprint"] = format!("{:08x}", fastrand::u32(..)).into();
        }
    }
}

/// A control-plane Operation: compute's for firewalls, container's for GKE.
fn start_op(cloud: &mut Cloud, kind: &str, polls: u32, effect: Effect) -> Response {
    cloud.next_op += 1;
    let op = format!("operation-{}", cloud.next_op);
    cloud.ops.insert(
        op.clone(),
        Op {
            polls_left: polls,
            sets: vec![],
            pool: None,
            effect: Some(effect),
        },
    );
    Response::json(200, &operation(&op, "RUNNING", kind))
}

/// The calls of `cloud.firewall.block` and `apiservers.scale`; None: not one of them.
fn control_plane(req: &Request, seg: &[&str], query: &str, cloud: &mut Cloud) -> Option<Response> {
    let body = || serde_json::from_str::<Value>(&req.body).unwrap_or(Value::Null);
    Some(match (req.method.as_str(), seg) {
        // https://cloud.google.com/compute/docs/reference/rest/v1/firewalls/list: two rules a
        // page, `nextPageToken` to the next.
        ("GET", ["compute", "v1", "projects", "acme", "global", "firewalls"]) => {
            if cloud.throttle_lists > 0 {
                cloud.throttle_lists -= 1;
                cloud.list_throttled_at = Some(std::time::Instant::now());
                return Some(err(429, "RESOURCE_EXHAUSTED",
                    "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute' of service 'compute.googleapis.com'")
                    .with_header("Retry-After", "1"));
            }
            let from: usize = query
                .strip_prefix("pageToken=p")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let all: Vec<&Value> = cloud.firewalls.values().collect();
            let page: Vec<&Value> = all.iter().skip(from).take(2).copied().collect();
            let mut answer = json!({"kind": "compute#firewallList", "items": page});
            if from + 2 < all.len() {
                answer["nextPageToken"] = format!("p{}", from + 2).into();
            }
            Response::json(200, &answer)
        }
        // https://cloud.google.com/compute/docs/reference/rest/v1/firewalls/get
        (
            "GET",
            [
                "compute",
                "v1",
                "projects",
                "acme",
                "global",
                "firewalls",
                name,
            ],
        ) => match cloud.firewalls.get(*name) {
            Some(f) => Response::json(200, f),
            None => err(
                404,
                "NOT_FOUND",
                &format!("The resource 'projects/acme/global/firewalls/{name}' was not found"),
            ),
        },
        // https://cloud.google.com/compute/docs/reference/rest/v1/firewalls/insert: the
        // rule exists once its Operation is DONE; a name taken is 409 alreadyExists.
        ("POST", ["compute", "v1", "projects", "acme", "global", "firewalls"]) => {
            let mut rule = body();
            let name = rule["name"].as_str().unwrap_or_default().to_owned();
            if cloud.deny_firewall_create {
                return Some(err(
                    403,
                    "PERMISSION_DENIED",
                    &format!(
                        "Required 'compute.firewalls.create' permission for 'projects/acme/global/firewalls/{name}'"
                    ),
                ));
            }
            if cloud.firewalls.contains_key(&name) {
                return Some(err(
                    409,
                    "ALREADY_EXISTS",
                    &format!("The resource 'projects/acme/global/firewalls/{name}' already exists"),
                ));
            }
            let valid = name.len() <= 63
                && name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && rule["priority"].as_u64().is_some_and(|p| p <= 65535)
                && (rule["allowed"].is_array() != rule["denied"].is_array())
                && rule["sourceRanges"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty())
                && !(rule["targetTags"].is_array() && rule["targetServiceAccounts"].is_array())
                && rule["network"] == "projects/acme/global/networks/prod-vpc";
            if !valid {
                return Some(err(
                    400,
                    "INVALID_ARGUMENT",
                    &format!("Invalid value for field 'resource': {rule}"),
                ));
            }
            rule["network"] = NETWORK.into();
            rule["kind"] = "compute#firewall".into();
            let polls = if cloud.stuck { u32::MAX } else { 2 };
            start_op(cloud, "insert", polls, Effect::InsertFirewall(rule))
        }
        // https://cloud.google.com/compute/docs/reference/rest/v1/firewalls/delete
        (
            "DELETE",
            [
                "compute",
                "v1",
                "projects",
                "acme",
                "global",
                "firewalls",
                name,
            ],
        ) => {
            if !cloud.firewalls.contains_key(*name) {
                return Some(err(
                    404,
                    "NOT_FOUND",
                    &format!("The resource 'projects/acme/global/firewalls/{name}' was not found"),
                ));
            }
            start_op(
                cloud,
                "delete",
                2,
                Effect::DeleteFirewall((*name).to_owned()),
            )
        }
        // https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters/get
        (
            "GET",
            [
                "v1",
                "projects",
                "acme",
                "locations",
                "us-central1",
                "clusters",
                "prod",
            ],
        ) => Response::json(200, &cloud.gke),
        // https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters/update:
        // one field of ClusterUpdate per request; RECONCILING until the Operation is DONE; a
        // second update meanwhile is FAILED_PRECONDITION.
        (
            "PUT",
            [
                "v1",
                "projects",
                "acme",
                "locations",
                "us-central1",
                "clusters",
                "prod",
            ],
        ) => {
            if cloud.gke["status"] != "RUNNING" {
                return Some(err(
                    400,
                    "FAILED_PRECONDITION",
                    "Cluster is running incompatible operation.",
                ));
            }
            let b = body();
            let update = b["update"].as_object().cloned().unwrap_or_default();
            let Some(access) = b.pointer("/update/desiredControlPlaneEndpointsConfig/ipEndpointsConfig/authorizedNetworksConfig").cloned()
                .filter(|_| update.len() == 1) else {
                return Some(err(400, "INVALID_ARGUMENT", &format!("exactly one update field expected: {b}")));
            };
            cloud.gke["status"] = "RECONCILING".into();
            start_op(cloud, "UPDATE_CLUSTER", 3, Effect::GkeNetworks(access))
        }
        // https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters/setResourceLabels:
        // guarded by the fingerprint read with the labels.
        (
            "POST",
            [
                "v1",
                "projects",
                "acme",
                "locations",
                "us-central1",
                "clusters",
                "prod:setResourceLabels",
            ],
        ) => {
            let b = body();
            if b["labelFingerprint"] != cloud.gke["labelFingerprint"] {
                return Some(err(
                    400,
                    "FAILED_PRECONDITION",
                    "Labels could not be set due to fingerprint mismatch.",
                ));
            }
            let bad = b["resourceLabels"].as_object().is_none_or(|l| {
                l.len() > 64
                    || l.iter().any(|(k, v)| {
                        let ok = |s: &str| {
                            s.len() <= 63
                                && s.bytes().all(|c| {
                                    c.is_ascii_lowercase()
                                        || c.is_ascii_digit()
                                        || c == b'-'
                                        || c == b'_'
                                })
                        };
                        !ok(k) || !v.as_str().is_some_and(ok)
                    })
            });
            if bad {
                return Some(err(
                    400,
                    "INVALID_ARGUMENT",
                    &format!("invalid labels: {}", b["resourceLabels"]),
                ));
            }
            start_op(
                cloud,
                "SET_LABELS",
                1,
                Effect::GkeLabels(b["resourceLabels"].clone()),
            )
        }
        // https://cloud.google.com/compute/docs/reference/rest/v1/instanceGroupManagers/listManagedInstances
        (
            "POST",
            [
                "compute",
                "v1",
                "projects",
                "acme",
                "zones",
                zone,
                "instanceGroupManagers",
                name,
                "listManagedInstances",
            ],
        ) => {
            // The instances that exist: as many as the group has now.
            let n = cloud
                .migs
                .get(&format!("zones/{zone}/{name}"))
                .map_or(0, |m| m.current as usize);
            let list: Vec<Value> = cloud.instances.get(&format!("{zone}/{name}")).into_iter().flatten().take(n)
                .map(|(i, _)| json!({"instance": format!("https://www.googleapis.com/compute/v1/projects/acme/zones/{zone}/instances/{i}"),
                    "instanceStatus": "RUNNING", "currentAction": "NONE"}))
                .collect();
            Response::json(200, &json!({"managedInstances": list}))
        }
        // https://cloud.google.com/compute/docs/reference/rest/v1/instances/get
        (
            "GET",
            [
                "compute",
                "v1",
                "projects",
                "acme",
                "zones",
                zone,
                "instances",
                name,
            ],
        ) => {
            let ip = cloud
                .instances
                .iter()
                .filter(|(k, _)| k.starts_with(&format!("{zone}/")))
                .flat_map(|(_, v)| v)
                .find(|(i, _)| i == name)
                .map(|(_, ip)| ip.clone());
            match ip {
                Some(ip) => Response::json(
                    200,
                    &json!({"kind": "compute#instance", "name": name, "status": "RUNNING",
                    "networkInterfaces": [{"name": "nic0", "networkIP": ip}]}),
                ),
                None => err(
                    404,
                    "NOT_FOUND",
                    &format!(
                        "The resource 'projects/acme/zones/{zone}/instances/{name}' was not found"
                    ),
                ),
            }
        }
        _ => return None,
    })
}

/// Compute Engine v1 and GKE v1, the calls `nodes.scale` makes.
fn api(req: &Request, cloud: &mut Cloud) -> Response {
    if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return err(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        );
    }
    let (path, query) = req.path.split_once('?').unwrap_or((&req.path, ""));
    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if let Some(r) = control_plane(req, &seg, query, cloud) {
        return r;
    }
    match (req.method.as_str(), seg.as_slice()) {
        // https://cloud.google.com/compute/docs/reference/rest/v1/instanceGroupManagers/get and
        // .../regionInstanceGroupManagers/get
        ("GET", ["compute", "v1", "projects", "acme", scope, loc, kind, name])
            if kind.ends_with("nstanceGroupManagers") =>
        {
            if cloud.throttle > 0 {
                cloud.throttle -= 1;
                cloud.throttled = Some((req.path.clone(), std::time::Instant::now()));
                return err(429, "RESOURCE_EXHAUSTED",
                    "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute' of service 'compute.googleapis.com'")
                    .with_header("Retry-After", "1");
            }
            let key = format!("{scope}/{loc}/{name}");
            let Some(m) = cloud.migs.get_mut(&key) else {
                return err(
                    404,
                    "NOT_FOUND",
                    &format!(
                        "The resource 'projects/acme/{scope}/{loc}/instanceGroupManagers/{name}' was not found"
                    ),
                );
            };
            let answer = mig_json(name, *m);
            m.current = match m.current.cmp(&m.target) {
                std::cmp::Ordering::Greater => m.current - 1,
                std::cmp::Ordering::Less => m.current + 1,
                std::cmp::Ordering::Equal => m.current,
            };
            Response::json(200, &answer)
        }
        // https://cloud.google.com/compute/docs/reference/rest/v1/instanceGroupManagers/resize
        (
            "POST",
            [
                "compute",
                "v1",
                "projects",
                "acme",
                scope,
                loc,
                _,
                name,
                "resize",
            ],
        ) => {
            if *name == "locked" {
                return err(
                    403,
                    "PERMISSION_DENIED",
                    &format!(
                        "Required 'compute.instanceGroupManagers.update' permission for 'projects/acme/{scope}/{loc}/instanceGroupManagers/locked'"
                    ),
                );
            }
            let key = format!("{scope}/{loc}/{name}");
            let size: u32 = query
                .strip_prefix("size=")
                .and_then(|s| s.parse().ok())
                .expect("size");
            if !cloud.migs.contains_key(&key) {
                return err(404, "NOT_FOUND", "not found");
            }
            cloud.next_op += 1;
            let op = format!("operation-{}", cloud.next_op);
            cloud.ops.insert(
                op.clone(),
                Op {
                    polls_left: 2,
                    sets: vec![(key, size)],
                    pool: None,
                    effect: None,
                },
            );
            Response::json(
                200,
                &operation(&op, "RUNNING", "compute.instanceGroupManagers.resize"),
            )
        }
        // https://cloud.google.com/compute/docs/reference/rest/v1/zoneOperations/get,
        // .../regionOperations/get and .../globalOperations/get
        // https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.operations/get
        (
            "GET",
            ["compute", "v1", "projects", "acme", _, _, "operations", op]
            | [
                "compute",
                "v1",
                "projects",
                "acme",
                "global",
                "operations",
                op,
            ]
            | ["v1", "projects", "acme", "locations", _, "operations", op],
        ) => {
            let Some(o) = cloud.ops.get_mut(*op) else {
                return err(404, "NOT_FOUND", "no such operation");
            };
            if o.polls_left > 0 {
                o.polls_left -= 1;
                return Response::json(200, &operation(op, "RUNNING", "resize"));
            }
            if cloud.stuck && o.effect.is_some() {
                return Response::json(200, &operation(op, "RUNNING", "insert"));
            }
            let o = cloud.ops.remove(*op).expect("op");
            if let Some(e) = o.effect {
                finish(cloud, e);
            }
            for (key, size) in o.sets {
                cloud.migs.get_mut(&key).expect("mig").target = size;
            }
            if let Some(p) = o.pool {
                cloud.reconciling.retain(|r| *r != p);
            }
            // Done ones stay DONE.
            cloud.ops.insert(
                op.to_string(),
                Op {
                    polls_left: 0,
                    sets: vec![],
                    pool: None,
                    effect: None,
                },
            );
            Response::json(200, &operation(op, "DONE", "resize"))
        }
        // https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters.nodePools/get
        (
            "GET",
            [
                "v1",
                "projects",
                "acme",
                "locations",
                "us-central1",
                "clusters",
                "prod",
                "nodePools",
                "pool1",
            ],
        ) => {
            let urls: Vec<String> = gke_zones().iter().map(|z| format!(
                "https://www.googleapis.com/compute/v1/projects/acme/zones/{z}/instanceGroupManagers/gke-prod-pool1-{z}-grp")).collect();
            let status = if cloud.reconciling.iter().any(|p| p == "pool1") {
                "RECONCILING"
            } else {
                "RUNNING"
            };
            Response::json(
                200,
                &json!({"name": "pool1", "status": status, "instanceGroupUrls": urls,
                "autoscaling": {}, "initialNodeCount": 2}),
            )
        }
        // https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters.nodePools/setSize
        (
            "POST",
            [
                "v1",
                "projects",
                "acme",
                "locations",
                "us-central1",
                "clusters",
                "prod",
                "nodePools",
                "pool1:setSize",
            ],
        ) => {
            let body: Value = serde_json::from_str(&req.body).expect("setSize body");
            let n = u32::try_from(body["nodeCount"].as_u64().expect("nodeCount")).expect("u32");
            cloud.next_op += 1;
            let op = format!("operation-{}", cloud.next_op);
            let sets = gke_zones()
                .iter()
                .map(|z| (format!("zones/{z}/gke-prod-pool1-{z}-grp"), n))
                .collect();
            cloud.reconciling.push("pool1".into());
            cloud.ops.insert(
                op.clone(),
                Op {
                    polls_left: 3,
                    sets,
                    pool: Some("pool1".into()),
                    effect: None,
                },
            );
            Response::json(
                200,
                &json!({"name": op, "status": "PENDING", "operationType": "SET_NODE_POOL_SIZE"}),
            )
        }
        _ => err(
            404,
            "NOT_FOUND",
            &format!("no route for {} {}", req.method, req.path),
        ),
    }
}

struct Env {
    fake: FakeHttp,
    cloud: Arc<Mutex<Cloud>>,
    scratch: Scratch,
    inventory: std::path::PathBuf,
    key_file: std::path::PathBuf,
}

impl Env {
    fn new() -> Env {
        let scratch = Scratch::new();
        let pem = scratch.path().join("sa.pem");
        let openssl = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .output()
                .expect("openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let pem_s = pem.to_str().expect("utf-8");
        openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            pem_s,
        ]);
        let der = scratch.path().join("sa.pub.der");
        openssl(&[
            "rsa",
            "-in",
            pem_s,
            "-RSAPublicKey_out",
            "-outform",
            "DER",
            "-out",
            der.to_str().expect("utf-8"),
        ]);
        let public = std::fs::read(&der).expect("public key");

        let cloud = Arc::new(Mutex::new(Cloud::default()));
        let trust = Arc::new(Mutex::new(None::<Trust>));
        let (c, t) = (Arc::clone(&cloud), Arc::clone(&trust));
        let fake = FakeHttp::start(move |req| {
            let mut cloud = c.lock().expect("cloud");
            // https://developers.google.com/identity/protocols/oauth2/web-server#offline: the
            // refresh token of `gcloud auth application-default login`.
            if req.path == "/adc-token" {
                let ok = req.body.contains("grant_type=refresh_token")
                    && req.body.contains("refresh_token=1%2F%2Frefresh")
                    && req.body.contains("client_id=adc-client");
                return if ok {
                    Response::json(200, &json!({"access_token": TOKEN, "expires_in": 3599}))
                } else {
                    Response::json(
                        400,
                        &json!({"error": "invalid_grant", "error_description": "Bad Request"}),
                    )
                };
            }
            // https://cloud.google.com/compute/docs/access/authenticate-workloads#applications:
            // the metadata server answers only requests that carry `Metadata-Flavor: Google`.
            if req.path == "/computeMetadata/v1/instance/service-accounts/default/token" {
                return if req.header("metadata-flavor") == Some("Google") {
                    Response::json(
                        200,
                        &json!({"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"}),
                    )
                } else {
                    Response {
                        status: 403,
                        headers: vec![],
                        body: "Missing Metadata-Flavor:Google header.".into(),
                    }
                };
            }
            if req.path == "/token" {
                let trust = t.lock().expect("trust");
                return token(req, trust.as_ref().expect("trust"), &mut cloud);
            }
            api(req, &mut cloud)
        });
        let token_uri = format!("{}/token", fake.url);
        *trust.lock().expect("trust") = Some(Trust {
            public,
            token_uri: token_uri.clone(),
        });
        let key_file = scratch.write(
            "sa.json",
            &json!({"type": "service_account", "project_id": "acme", "private_key_id": "key-1",
                "private_key": std::fs::read_to_string(&pem).expect("pem"), "client_email": EMAIL,
                "client_id": "1234", "token_uri": token_uri})
            .to_string(),
        );
        let inventory = scratch.write(
            "inventory.toml",
            &format!(
                "[clusters.prod]\napi_endpoints = [\"127.0.0.1:6443\"]\n\n[clusters.prod.gcp]\n\
                 project = \"acme\"\nzone = \"us-central1-a\"\nendpoint = \"{}\"\nnode_groups = [\n  \
                 {{ name = \"workers-a\", mig = \"prod-workers-a\" }},\n  \
                 {{ name = \"workers-r\", mig = \"prod-workers-r\", region = \"us-central1\" }},\n  \
                 {{ name = \"pool1\", gke_cluster = \"prod\", node_pool = \"pool1\", location = \"us-central1\" }},\n  \
                 {{ name = \"locked\", mig = \"locked\" }},\n]\n",
                fake.url
            ),
        );
        {
            let mut c = cloud.lock().expect("cloud");
            c.migs.insert(
                "zones/us-central1-a/prod-workers-a".into(),
                Mig {
                    target: 6,
                    current: 6,
                },
            );
            c.migs.insert(
                "regions/us-central1/prod-workers-r".into(),
                Mig {
                    target: 4,
                    current: 4,
                },
            );
            c.migs.insert(
                "zones/us-central1-a/locked".into(),
                Mig {
                    target: 3,
                    current: 3,
                },
            );
            for z in gke_zones() {
                c.migs.insert(
                    format!("zones/{z}/gke-prod-pool1-{z}-grp"),
                    Mig {
                        target: 2,
                        current: 2,
                    },
                );
            }
        }
        Env {
            fake,
            cloud,
            scratch,
            inventory,
            key_file,
        }
    }

    fn runbook(&self, with: &str) -> std::path::PathBuf {
        one_step_runbook(
            &self.scratch,
            "prod",
            "shrink",
            "nodes.scale",
            &format!("wait = \"60s\"\n{with}"),
        )
    }

    /// The binary with the inventory and the service-account key.
    fn bg(&self) -> Bg {
        self.scratch
            .bg_with(&self.inventory)
            .env("GOOGLE_APPLICATION_CREDENTIALS", &self.key_file)
    }

    fn run(&self, runbook: &std::path::Path) -> crate::support::Ran {
        self.bg()
            .args(["--output", "json", "run"])
            .arg(runbook)
            .arg("--yes")
            .run()
    }

    fn mig(&self, key: &str) -> Mig {
        self.cloud.lock().expect("cloud").migs[key]
    }
}

fn results(events: &[Value], mode: &str) -> Vec<(String, String, String)> {
    let mut r = target_results(events, mode);
    r.sort();
    r
}

#[test]
fn nodes_scale_resizes_migs_and_a_gke_pool_and_undo_restores_them() {
    let env = Env::new();
    let plan = env.bg().arg("plan").arg(env.runbook("to = 1")).run().ok();
    assert!(
        plan.stdout.contains(
            "scale node group workers-a (managed instance group prod-workers-a in us-central1-a) to size 1; \
             wait up to 1m for the operation and the instances; undo restores the size"
        ) && plan.stdout.contains("pool1 (GKE node pool prod/pool1 in us-central1) to size 1"),
        "{}",
        plan.stdout
    );
    // `plan` read the groups (one token); the run's count starts here. The first read is
    // throttled: the client waits what Retry-After asks, then goes on.
    {
        let mut c = env.cloud.lock().expect("cloud");
        assert_eq!(c.tokens_issued, 1);
        c.tokens_issued = 0;
        c.throttle = 1;
    }
    let before_run = env.fake.requests().len();
    let rb = env.runbook("node_groups = [\"workers-a\", \"workers-r\", \"pool1\"]\nto = 1");
    let out = env.run(&rb).ok();
    assert!(!out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN));
    let events = out.json_lines();
    assert_eq!(
        results(&events, "apply"),
        [
            (
                "pool1".to_owned(),
                "ok".to_owned(),
                "GKE node pool prod/pool1 in us-central1: desired 2 → 1".to_owned()
            ),
            (
                "workers-a".to_owned(),
                "ok".to_owned(),
                "managed instance group prod-workers-a in us-central1-a: desired 6 → 1".to_owned()
            ),
            (
                "workers-r".to_owned(),
                "ok".to_owned(),
                "managed instance group prod-workers-r in us-central1: desired 4 → 1".to_owned()
            ),
        ]
    );
    // Completion, not acceptance: the instances are gone, not just the sizes set.
    assert_eq!(
        env.mig("zones/us-central1-a/prod-workers-a"),
        Mig {
            target: 1,
            current: 1
        }
    );
    assert_eq!(
        env.mig("regions/us-central1/prod-workers-r"),
        Mig {
            target: 1,
            current: 1
        }
    );
    for z in gke_zones() {
        assert_eq!(
            env.mig(&format!("zones/{z}/gke-prod-pool1-{z}-grp")),
            Mig {
                target: 1,
                current: 1
            }
        );
    }
    let requests = env.fake.requests().split_off(before_run);
    let (path, at) = env
        .cloud
        .lock()
        .expect("cloud")
        .throttled
        .clone()
        .expect("a throttled read");
    let retry = requests
        .iter()
        .find(|r| r.path == path && r.at > at)
        .expect("the throttled read again");
    assert!(
        retry.at - at >= Duration::from_millis(950),
        "Retry-After not honoured: {:?}",
        retry.at - at
    );
    // Operations were polled until DONE (RUNNING twice for a resize, three times for setSize).
    let polls = requests
        .iter()
        .filter(|r| r.path.contains("/operations/"))
        .count();
    assert!(polls >= 3 * 2 + 3, "{polls} operation polls");
    let c = env.cloud.lock().expect("cloud");
    assert!(c.refusals.is_empty(), "{:?}", c.refusals);
    assert_eq!(c.tokens_issued, 1, "one token for the whole run");
    drop(c);

    // The journal holds the sizes from before, without an AWS-style min/max.
    let run = events[0]["run_id"].as_str().expect("run id").to_owned();
    let journal =
        std::fs::read_to_string(env.scratch.journal_dir().join(&run).join("journal.jsonl"))
            .expect("journal");
    let mut snapshots: Vec<String> = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["event"]["type"] == "snapshot")
        .map(|r| r["event"]["state"].to_string())
        .collect();
    snapshots.sort();
    assert_eq!(
        snapshots,
        [r#"{"desired":2}"#, r#"{"desired":4}"#, r#"{"desired":6}"#]
    );

    let out = env
        .bg()
        .args(["--output", "json", "undo", &run, "--yes"])
        .run()
        .ok();
    let r = results(&out.json_lines(), "undo");
    assert!(r.len() == 3 && r.iter().all(|t| t.1 == "ok"), "{r:?}");
    assert_eq!(
        env.mig("zones/us-central1-a/prod-workers-a"),
        Mig {
            target: 6,
            current: 6
        }
    );
    assert_eq!(
        env.mig("regions/us-central1/prod-workers-r"),
        Mig {
            target: 4,
            current: 4
        }
    );
    for z in gke_zones() {
        assert_eq!(
            env.mig(&format!("zones/{z}/gke-prod-pool1-{z}-grp")),
            Mig {
                target: 2,
                current: 2
            }
        );
    }
}

#[test]
fn a_missing_permission_is_named_and_a_wrong_key_is_refused_by_the_token_endpoint() {
    let env = Env::new();
    let out = env
        .run(&env.runbook("node_groups = [\"locked\"]\nby = -1"))
        .code(3);
    let r = results(&out.json_lines(), "apply");
    assert!(
        r.len() == 1
            && r[0].1 == "auth_failed"
            && r[0]
                .2
                .contains("needs the IAM permission compute.instanceGroupManagers.update")
            && r[0].2.contains(&format!(
                "the service-account key {} ({EMAIL})",
                env.key_file.display()
            )),
        "{r:?}"
    );
    assert_eq!(
        env.mig("zones/us-central1-a/locked"),
        Mig {
            target: 3,
            current: 3
        }
    );

    // Another key under the same name: the fake's signature check refuses it, and the run says
    // so without printing the key.
    let other = env.scratch.path().join("other.pem");
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&other)
        .output()
        .expect("openssl");
    assert!(out.status.success());
    let other_pem = std::fs::read_to_string(&other).expect("pem");
    let mut key: Value =
        serde_json::from_str(&std::fs::read_to_string(&env.key_file).expect("key")).expect("json");
    key["private_key"] = other_pem.clone().into();
    std::fs::write(&env.key_file, key.to_string()).expect("write");
    let out = env
        .run(&env.runbook("node_groups = [\"workers-a\"]\nto = 2"))
        .code(3);
    let r = results(&out.json_lines(), "apply");
    assert!(
        r.len() == 1
            && r[0].1 == "auth_failed"
            && r[0].2.contains("invalid_grant Invalid JWT Signature."),
        "{r:?}"
    );
    let body = other_pem.lines().nth(1).expect("key line");
    assert!(!out.stdout.contains(body) && !out.stderr.contains(body));
    assert_eq!(
        env.cloud.lock().expect("cloud").refusals,
        ["Invalid JWT Signature."]
    );
    assert_eq!(
        env.mig("zones/us-central1-a/prod-workers-a"),
        Mig {
            target: 6,
            current: 6
        }
    );
}

/// Without `GOOGLE_APPLICATION_CREDENTIALS`: gcloud's ADC file first, then the metadata server.
#[test]
fn credentials_come_from_the_adc_file_then_the_metadata_server() {
    let env = Env::new();
    let rb = env.runbook("node_groups = [\"workers-a\"]\nto = 5");
    // Nothing in HOME: the metadata server (here the fake, by GCE_METADATA_HOST).
    let host = env.fake.url.trim_start_matches("http://").to_owned();
    let out = env
        .scratch
        .bg_with(&env.inventory)
        .env("GCE_METADATA_HOST", &host)
        .args(["--output", "json", "run"])
        .arg(&rb)
        .arg("--yes")
        .run()
        .ok();
    assert_eq!(results(&out.json_lines(), "apply")[0].1, "ok");
    assert_eq!(env.mig("zones/us-central1-a/prod-workers-a").target, 5);
    // The ADC file wins over the metadata server once it exists.
    let adc = env.scratch.path().join(".config/gcloud");
    std::fs::create_dir_all(&adc).expect("mkdir");
    std::fs::write(
        adc.join("application_default_credentials.json"),
        json!({"type": "authorized_user", "client_id": "adc-client", "client_secret": "adc-secret",
            "refresh_token": "1//refresh", "token_uri": format!("{}/adc-token", env.fake.url)})
        .to_string(),
    )
    .expect("adc");
    let before = env.fake.requests().len();
    let out = env
        .scratch
        .bg_with(&env.inventory)
        .env("GCE_METADATA_HOST", &host)
        .args(["--output", "json", "run"])
        .arg(env.runbook("node_groups = [\"workers-a\"]\nto = 4"))
        .arg("--yes")
        .run()
        .ok();
    assert!(!out.stdout.contains("adc-secret") && !out.stderr.contains("adc-secret"));
    assert_eq!(env.mig("zones/us-central1-a/prod-workers-a").target, 4);
    let paths: Vec<String> = env.fake.requests()[before..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert!(paths.contains(&"/adc-token".to_owned()), "{paths:?}");
    assert!(
        !paths.iter().any(|p| p.starts_with("/computeMetadata")),
        "{paths:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// `inventory import gcp`: a fake of the list calls it makes, each following its reference page,
// every list answering in pages of `maxResults`; credentials from the metadata server.

/// `%XX` and `+` decoded (the query strings reqwest sends).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).expect("hex");
                out.push(u8::from_str_radix(hex, 16).expect("hex"));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("utf-8")
}

fn query_of(path: &str) -> HashMap<String, String> {
    path.split_once('?')
        .map_or("", |(_, q)| q)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), decode(v)))
        .collect()
}

/// One page of `items` from offset `pageToken`, `maxResults` long, with the next token.
fn page<T: Clone>(items: &[T], q: &HashMap<String, String>) -> (Vec<T>, Option<String>) {
    let start: usize = q
        .get("pageToken")
        .map_or(0, |t| t.parse().expect("our token"));
    let n: usize = q["maxResults"].parse().expect("maxResults");
    let end = (start + n).min(items.len());
    (
        items[start..end].to_vec(),
        (end < items.len()).then(|| end.to_string()),
    )
}

fn gce(name: &str, zone: &str, ip: Option<&str>, labels: &Value, mig: Option<&str>) -> Value {
    let mut v = json!({"kind": "compute#instance", "name": name, "status": "RUNNING",
        "zone": format!("https://www.googleapis.com/compute/v1/projects/acme/zones/{zone}"),
        "labels": labels, "networkInterfaces": []});
    if let Some(ip) = ip {
        v["networkInterfaces"] = json!([{"name": "nic0", "networkIP": ip}]);
    }
    if let Some(m) = mig {
        v["metadata"] = json!({"items": [{"key": "created-by",
            "value": format!("projects/123456/zones/{zone}/instanceGroupManagers/{m}")}]});
    }
    v
}

fn discovery_fake() -> FakeHttp {
    let gke = |pool: &str| {
        json!({"goog-k8s-cluster-name": "prod", "goog-k8s-cluster-location": "us-central1",
            "goog-k8s-node-pool-name": pool})
    };
    let extra = json!({"goog-k8s-cluster-name": "prod", "team": "sre", "evil": "x\"\n[[hosts]]"});
    let instances = vec![
        gce(
            "gke-prod-pool1-a-1",
            "us-central1-a",
            Some("10.128.0.2"),
            &gke("pool1"),
            Some("gke-prod-pool1-a-grp"),
        ),
        gce(
            "gke-prod-pool1-b-1",
            "us-central1-b",
            Some("10.128.0.3"),
            &gke("pool1"),
            Some("gke-prod-pool1-b-grp"),
        ),
        gce(
            "gke-prod-pool2-a-1",
            "us-central1-a",
            Some("10.128.0.4"),
            &gke("pool2"),
            Some("gke-prod-pool2-a-grp"),
        ),
        gce(
            "prod-extra-1",
            "us-central1-b",
            Some("10.128.0.5"),
            &extra,
            Some("prod-extra"),
        ),
        gce(
            "prod-extra-2",
            "us-central1-b",
            Some("10.128.0.6"),
            &extra,
            Some("prod-extra"),
        ),
        gce(
            "prod-noip",
            "us-central1-a",
            None,
            &json!({"goog-k8s-cluster-name": "prod"}),
            None,
        ),
    ];
    let mig_url = |zone: &str, name: &str| {
        format!(
            "https://www.googleapis.com/compute/v1/projects/acme/zones/{zone}/instanceGroupManagers/{name}"
        )
    };
    let pools = json!({"nodePools": [
        {"name": "pool1", "status": "RUNNING", "instanceGroupUrls": [
            mig_url("us-central1-a", "gke-prod-pool1-a-grp"), mig_url("us-central1-b", "gke-prod-pool1-b-grp")]},
        {"name": "pool2", "status": "RUNNING", "instanceGroupUrls": [mig_url("us-central1-a", "gke-prod-pool2-a-grp")]}]});
    FakeHttp::start(move |req| {
        let (path, _) = req.path.split_once('?').unwrap_or((&req.path, ""));
        let q = query_of(&req.path);
        // https://cloud.google.com/compute/docs/access/authenticate-workloads#applications: only
        // with `Metadata-Flavor: Google`.
        if path == "/computeMetadata/v1/instance/service-accounts/default/token" {
            return if req.header("metadata-flavor") == Some("Google") {
                Response::json(
                    200,
                    &json!({"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"}),
                )
            } else {
                Response {
                    status: 403,
                    headers: vec![],
                    body: "Missing Metadata-Flavor:Google header.".into(),
                }
            };
        }
        if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
            return err(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
            );
        }
        match (req.method.as_str(), path) {
            // https://cloud.google.com/compute/docs/reference/rest/v1/instances/aggregatedList:
            // `items` maps each scope to `{"instances": [...]}` or to a `warning` when it has none.
            ("GET", "/compute/v1/projects/acme/aggregated/instances") => {
                if q.get("filter").map(String::as_str)
                    != Some("(labels.goog-k8s-cluster-name = \"prod\")")
                {
                    return err(
                        400,
                        "INVALID_ARGUMENT",
                        &format!("Invalid value for field 'filter': {:?}", q.get("filter")),
                    );
                }
                let (items, next) = page(&instances, &q);
                let mut scopes = serde_json::Map::new();
                scopes.insert("zones/us-central1-c".into(), json!({"warning": {"code": "NO_RESULTS_ON_PAGE",
                    "message": "There are no results for scope 'zones/us-central1-c' on this page."}}));
                for i in items {
                    let zone = format!(
                        "zones/{}",
                        i["zone"]
                            .as_str()
                            .expect("zone")
                            .rsplit('/')
                            .next()
                            .expect("zone")
                    );
                    let entry = scopes
                        .entry(zone)
                        .or_insert_with(|| json!({"instances": []}));
                    entry["instances"].as_array_mut().expect("list").push(i);
                }
                let mut body = json!({"kind": "compute#instanceAggregatedList", "items": scopes});
                if let Some(t) = next {
                    body["nextPageToken"] = json!(t);
                }
                Response::json(200, &body)
            }
            // https://cloud.google.com/compute/docs/reference/rest/v1/instanceGroupManagers/listManagedInstances
            (
                "POST",
                "/compute/v1/projects/acme/zones/us-central1-b/instanceGroupManagers/prod-extra/listManagedInstances",
            ) => {
                let members: Vec<Value> = ["prod-extra-1", "prod-extra-2", "prod-extra-3"]
                    .iter()
                    .map(|n| json!({"instance": format!("https://www.googleapis.com/compute/v1/projects/acme/zones/us-central1-b/instances/{n}"),
                        "instanceStatus": "RUNNING", "currentAction": "NONE"}))
                    .collect();
                let (items, next) = page(&members, &q);
                let mut body = json!({"managedInstances": items});
                if let Some(t) = next {
                    body["nextPageToken"] = json!(t);
                }
                Response::json(200, &body)
            }
            // https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters/get
            ("GET", "/v1/projects/acme/locations/us-central1/clusters/prod") => Response::json(
                200,
                &json!({"name": "prod", "location": "us-central1", "status": "RUNNING",
                    "endpoint": "34.118.1.2", "privateClusterConfig": {"enablePrivateNodes": true, "privateEndpoint": "10.0.0.2"},
                    "nodePools": pools["nodePools"]}),
            ),
            // https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters.nodePools/list
            ("GET", "/v1/projects/acme/locations/us-central1/clusters/prod/nodePools") => {
                Response::json(200, &pools)
            }
            _ => err(
                404,
                "NOT_FOUND",
                &format!("The resource '{path}' was not found"),
            ),
        }
    })
}

#[test]
fn import_writes_a_gke_cluster_and_its_migs_across_pages() {
    let fake = discovery_fake();
    let scratch = Scratch::new();
    let file = scratch.path().join("prod.toml");
    let import = |extra: &[&str]| {
        scratch
            .bg()
            .env("GCE_METADATA_HOST", fake.url.trim_start_matches("http://"))
            .args([
                "inventory",
                "import",
                "gcp",
                "--cluster",
                "prod",
                "--project",
                "acme",
                "--endpoint",
            ])
            .arg(&fake.url)
            .args(["--page-size", "2", "--out"])
            .arg(&file)
            .args(extra)
            .run()
    };
    let out = import(&[]).ok().stdout_has(
        "5 hosts of cluster prod (0 control-plane, 3 worker), 3 node groups; 1 machine(s) skipped",
    );
    assert!(
        out.stderr.contains("GCP instances page 3: 6 so far")
            && out
                .stderr
                .contains("GCP managed instances of prod-extra page 2: 3 so far")
            && out
                .stderr
                .contains("machine \"prod-noip\" skipped: no private IP")
            && out.stderr.contains("tag \"evil\" left out on 2 machines"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(TOKEN) && !out.stdout.contains(TOKEN));
    let inv = breakglass::inventory::Inventory::load(&file).expect("loads back");
    let c = &inv.clusters["prod"];
    let endpoints: Vec<String> = c.api_endpoints.iter().map(ToString::to_string).collect();
    assert_eq!(endpoints, ["34.118.1.2:443", "10.0.0.2:443"]);
    // The GKE cluster found is what `cloud.firewall.block` acts on (its authorized networks).
    assert_eq!(
        c.gcp.as_ref().expect("gcp").control.gke,
        Some(("us-central1".into(), "prod".into()))
    );
    let groups: Vec<String> = c
        .gcp
        .as_ref()
        .expect("gcp")
        .node_groups
        .iter()
        .map(|g| g.backing.describe())
        .collect();
    assert_eq!(
        groups,
        [
            "GKE node pool prod/pool1 in us-central1",
            "GKE node pool prod/pool2 in us-central1",
            "managed instance group prod-extra in us-central1-b"
        ]
    );
    let group_of = |h: &str| {
        inv.hosts
            .iter()
            .find(|x| x.name == h)
            .expect(h)
            .labels
            .get("node-group")
            .cloned()
    };
    assert_eq!(group_of("gke-prod-pool1-b-1").as_deref(), Some("pool1"));
    assert_eq!(group_of("prod-extra-2").as_deref(), Some("prod-extra"));
    let extra = inv
        .hosts
        .iter()
        .find(|x| x.name == "prod-extra-1")
        .expect("extra");
    assert_eq!(extra.labels["team"], "sre");
    assert!(!extra.labels.contains_key("evil") && !extra.labels.contains_key("role"));
    assert_eq!(extra.labels["topology.kubernetes.io/zone"], "us-central1-b");
    // `plan` reads it as it is.
    let runbook = one_step_runbook(&scratch, "prod", "shrink", "nodes.scale", "to = 1");
    scratch
        .bg_with(&file)
        .arg("plan")
        .arg(&runbook)
        .run()
        .ok()
        .stdout_has("pool1 (GKE node pool prod/pool1 in us-central1) to size 1")
        .stdout_has("prod-extra (managed instance group prod-extra in us-central1-b)");
    // A label filter the API refuses (here: a wrong one) fails without writing.
    let other = scratch.path().join("other.toml");
    scratch
        .bg()
        .env("GCE_METADATA_HOST", fake.url.trim_start_matches("http://"))
        .args([
            "inventory",
            "import",
            "gcp",
            "--cluster",
            "prod",
            "--project",
            "acme",
            "--tag",
            "x=y",
            "--endpoint",
        ])
        .arg(&fake.url)
        .arg("--out")
        .arg(&other)
        .run()
        .code(1)
        .stderr_has("Invalid value for field 'filter'");
    assert!(!other.exists());
}

// ---------------------------------------------------------------------------------------------
// cloud.firewall.block on GCP: the API servers' VPC firewall and the GKE authorized networks

/// The GKE cluster as `clusters.get` answers it
/// (<https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters#Cluster>).
fn gke_cluster() -> Value {
    let access = json!({"enabled": true, "cidrBlocks": [{"displayName": "office", "cidrBlock": "198.51.100.0/24"}],
        "gcpPublicCidrsAccessEnabled": true});
    json!({"name": "prod", "location": "us-central1", "status": "RUNNING",
        "masterAuthorizedNetworksConfig": access,
        "controlPlaneEndpointsConfig": {"ipEndpointsConfig": {"enabled": true, "enablePublicEndpoint": true,
            "authorizedNetworksConfig": access}},
        "privateClusterConfig": {"enablePrivateNodes": false},
        "resourceLabels": {"env": "prod"}, "labelFingerprint": "a1b2c3d4"})
}

impl Env {
    /// The fake with the API servers' firewall rules and the GKE cluster, and the inventory
    /// naming them.
    fn control() -> Env {
        let env = Env::new();
        {
            let mut c = env.cloud.lock().expect("cloud");
            for f in [
                firewall(
                    "allow-apiserver",
                    1000,
                    true,
                    &["6443"],
                    &["0.0.0.0/0"],
                    &["k8s-apiserver"],
                ),
                firewall(
                    "allow-lb-checks",
                    50,
                    true,
                    &["6443"],
                    &["35.191.0.0/16", "130.211.0.0/22"],
                    &["k8s-apiserver"],
                ),
                firewall("allow-ssh", 1000, true, &["22"], &["35.235.240.0/20"], &[]),
                firewall("allow-internal", 65534, true, &[], &["10.0.0.0/8"], &[]),
            ] {
                c.firewalls
                    .insert(f["name"].as_str().expect("name").to_owned(), f);
            }
            c.gke = gke_cluster();
        }
        let inv = std::fs::read_to_string(&env.inventory).expect("inventory");
        std::fs::write(
            &env.inventory,
            format!(
                "{inv}apiserver_firewall = {{ network = \"prod-vpc\", target_tags = [\"k8s-apiserver\"] }}\n\
                 gke_cluster = \"prod\"\ngke_location = \"us-central1\"\n\
                 apiserver_peers = [\"10.0.0.0/24\"]\noperator_cidrs = [\"203.0.113.7/32\"]\n"
            ),
        )
        .expect("inventory");
        env
    }

    fn step(&self, action: &str, with: &str) -> std::path::PathBuf {
        one_step_runbook(
            &self.scratch,
            "prod",
            &action.replace('.', "-"),
            action,
            with,
        )
    }

    fn firewalls(&self) -> std::collections::BTreeMap<String, Value> {
        self.cloud.lock().expect("cloud").firewalls.clone()
    }

    fn gke(&self) -> Value {
        self.cloud.lock().expect("cloud").gke.clone()
    }

    /// The GKE cluster's networks and labels are exactly `before`'s.
    fn assert_gke_as(&self, before: &Value) {
        let gke = self.gke();
        for field in ["masterAuthorizedNetworksConfig", "resourceLabels"] {
            assert_eq!(gke[field], before[field], "{field}");
        }
    }
}

const GCP_BLOCK: &str = "allow = [\"203.0.113.0/24\"]\nwait = \"30s\"";

#[test]
fn a_gcp_block_adds_exact_firewall_rules_and_networks_and_undo_restores_them() {
    let env = Env::control();
    let (rules_before, gke_before) = (env.firewalls(), env.gke());
    let rb = env.step("cloud.firewall.block", GCP_BLOCK);
    let plan = env.bg().arg("plan").arg(&rb).run().ok();
    for want in [
        "add to the firewall of VPC network prod-vpc an allow rule for 203.0.113.0/24, 10.0.0.0/24 \
         (priority 100) and a deny rule for everyone else (priority 101) on TCP 443, 6443",
        "VPC firewall rule allow-lb-checks (priority 50) comes before the deny and still lets \
         35.191.0.0/16, 130.211.0.0/22 reach the API",
        "now gke/prod: authorized networks 198.51.100.0/24; the change sets the authorized networks to 203.0.113.0/24, 10.0.0.0/24",
        "this cannot stop node traffic: GKE lets the cluster's own nodes reach the control plane",
        "VPC firewall rules are stateful",
    ] {
        assert!(plan.stdout.contains(want), "{want}\n{}", plan.stdout);
    }
    env.cloud.lock().expect("cloud").throttle_lists = 1;
    let before_run = env.fake.requests().len();
    let out = env.run(&rb).ok();
    let events = out.json_lines();
    let run = events[0]["run_id"].as_str().expect("run id").to_owned();
    let r = results(&events, "apply");
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(r.iter().all(|t| t.1 == "ok"), "{r:?}");
    assert!(
        r[0].2
            .starts_with("VPC network prod-vpc: added 2 (bg-block-"),
        "{r:?}"
    );
    assert!(
        r[1].2.starts_with(
            "GKE cluster prod: authorized networks 198.51.100.0/24 → 203.0.113.0/24, 10.0.0.0/24"
        ),
        "{r:?}"
    );

    // Exactly two rules more: allow first, then the deny after it, both on the API servers.
    let after = env.firewalls();
    let added: Vec<&Value> = after
        .iter()
        .filter(|(k, _)| !rules_before.contains_key(*k))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(added.len(), 2, "{added:?}");
    let (allow, deny) = if added[0]["allowed"].is_array() {
        (added[0], added[1])
    } else {
        (added[1], added[0])
    };
    let marker = format!("breakglass/block/{run}/cloud-firewall-block: ");
    assert_eq!(
        (
            &allow["priority"],
            &allow["sourceRanges"],
            &allow["allowed"],
            &allow["targetTags"]
        ),
        (
            &json!(100),
            &json!(["203.0.113.0/24", "10.0.0.0/24"]),
            &json!([{"IPProtocol": "tcp", "ports": ["443", "6443"]}]),
            &json!(["k8s-apiserver"])
        )
    );
    assert_eq!(
        (
            &deny["priority"],
            &deny["sourceRanges"],
            &deny["denied"],
            &deny["targetTags"]
        ),
        (
            &json!(101),
            &json!(["0.0.0.0/0"]),
            &json!([{"IPProtocol": "tcp", "ports": ["443", "6443"]}]),
            &json!(["k8s-apiserver"])
        )
    );
    assert!(
        allow["description"]
            .as_str()
            .is_some_and(|d| d.starts_with(&marker)),
        "{allow}"
    );
    let insert_at = |name: &Value| {
        env.fake
            .requests()
            .iter()
            .position(|q| q.method == "POST" && q.body.contains(name.as_str().unwrap_or("?")))
            .expect("insert")
    };
    assert!(
        insert_at(&allow["name"]) < insert_at(&deny["name"]),
        "the allow rule goes in first"
    );
    let gke = env.gke();
    assert_eq!(
        gke["masterAuthorizedNetworksConfig"],
        json!({"enabled": true, "cidrBlocks": [{"cidrBlock": "203.0.113.0/24", "displayName": "breakglass block"},
            {"cidrBlock": "10.0.0.0/24", "displayName": "breakglass block"}], "gcpPublicCidrsAccessEnabled": false})
    );
    assert!(
        gke["resourceLabels"]
            .as_object()
            .expect("labels")
            .keys()
            .any(|k| k.starts_with("bg-block-")),
        "{gke}"
    );
    // The throttled list was retried after what Retry-After asked.
    let at = env
        .cloud
        .lock()
        .expect("cloud")
        .list_throttled_at
        .expect("a throttled list");
    let retry = env.fake.requests()[before_run..]
        .iter()
        .find(|q| q.path.ends_with("/global/firewalls") && q.method == "GET" && q.at > at)
        .map(|q| q.at)
        .expect("the list again");
    assert!(
        retry - at >= Duration::from_millis(950),
        "Retry-After not honoured: {:?}",
        retry - at
    );
    // Operations took several polls each.
    let polls = env.fake.requests()[before_run..]
        .iter()
        .filter(|q| q.path.contains("/operations/"))
        .count();
    assert!(polls > 2 * 2 + 3, "{polls} operation polls");

    let out = env
        .bg()
        .args(["--output", "json", "undo", &run, "--yes"])
        .run()
        .ok();
    let r = results(&out.json_lines(), "undo");
    assert!(r.len() == 2 && r.iter().all(|t| t.1 == "ok"), "{r:?}");
    assert_eq!(
        env.firewalls(),
        rules_before,
        "undo removes exactly the block's rules"
    );
    env.assert_gke_as(&gke_before);
}

/// `cloud.firewall.unblock` needs no journal: it finds the block's rules by their names and
/// descriptions, and the networks from before in the cluster's labels.
#[test]
fn a_gcp_unblock_finds_what_a_block_left() {
    let env = Env::control();
    let (rules_before, gke_before) = (env.firewalls(), env.gke());
    env.bg()
        .arg("run")
        .arg(env.step("cloud.firewall.block", GCP_BLOCK))
        .arg("--yes")
        .run()
        .ok();
    assert_ne!(env.firewalls(), rules_before);
    let out = env
        .run(&env.step("cloud.firewall.unblock", "wait = \"30s\""))
        .ok();
    let r = results(&out.json_lines(), "apply");
    assert!(r.len() == 2 && r.iter().all(|t| t.1 == "ok"), "{r:?}");
    assert_eq!(env.firewalls(), rules_before);
    env.assert_gke_as(&gke_before);
}

/// The preflight refuses a block that cuts the operator before anything changes; a denied
/// insert names the permission it lacks and leaves the network as it was.
#[test]
fn a_gcp_block_is_refused_when_it_cuts_the_operator_and_a_denial_names_the_permission() {
    let env = Env::control();
    let rules_before = env.firewalls();
    let rb = env.step("cloud.firewall.block", GCP_BLOCK);
    let plan = env
        .bg()
        .args(["plan", "--operator-cidr", "198.51.100.7"])
        .arg(&rb)
        .run()
        .code(2);
    assert!(
        plan.stdout.contains("REFUSED gcp-firewall/prod-vpc: the block would cut the operator's address 198.51.100.7/32 from the API: add it to `allow`")
            && plan.stdout.contains("REFUSED gke/prod: the block would cut the operator's address 198.51.100.7/32"),
        "{}",
        plan.stdout
    );
    env.bg()
        .args(["run", "--operator-cidr", "198.51.100.7"])
        .arg(&rb)
        .arg("--yes")
        .run()
        .code(2)
        .stderr_has("refused before anything changed");
    assert_eq!(env.firewalls(), rules_before);

    env.cloud.lock().expect("cloud").deny_firewall_create = true;
    let out = env
        .bg()
        .args(["--output", "json", "run"])
        .arg(env.step(
            "cloud.firewall.block",
            &format!("{GCP_BLOCK}\non = [\"gcp_firewall\"]"),
        ))
        .arg("--yes")
        .run()
        .code(3);
    let r = results(&out.json_lines(), "apply");
    assert!(
        r.len() == 1
            && r[0].1 == "auth_failed"
            && r[0]
                .2
                .contains("needs the IAM permission compute.firewalls.create")
            && r[0]
                .2
                .contains("Required 'compute.firewalls.create' permission"),
        "{r:?}"
    );
    assert_eq!(env.firewalls(), rules_before);
}

/// An insert whose Operation never completes: the target is `pending` at the step's wait with
/// the deny rule not sent yet (never a deny without its allow), the journal verifies, and once
/// the Operation is done `resume` picks the block up where it stopped.
#[test]
fn a_firewall_operation_that_never_completes_is_pending_and_resume_finishes_it() {
    let env = Env::control();
    let rules_before = env.firewalls();
    env.cloud.lock().expect("cloud").stuck = true;
    let rb = env.step(
        "cloud.firewall.block",
        "allow = [\"203.0.113.0/24\"]\nwait = \"6s\"\non = [\"gcp_firewall\"]",
    );
    let out = env.run(&rb).code(3);
    let events = out.json_lines();
    let run = events[0]["run_id"].as_str().expect("run id").to_owned();
    let r = results(&events, "apply");
    assert!(
        r.len() == 1
            && r[0].1 == "pending"
            && r[0]
                .2
                .contains("VPC network prod-vpc: making rule bg-block-")
            && r[0].2.contains("-allow not done after 6s")
            && r[0].2.contains("`breakglass resume RUN` goes on"),
        "{r:?}"
    );
    assert!(
        !env.fake
            .requests()
            .iter()
            .any(|q| q.method == "POST" && q.body.contains("-deny")),
        "no deny before its allow"
    );
    env.scratch
        .bg()
        .args(["journal", "verify", &run])
        .run()
        .ok();
    assert_eq!(
        env.firewalls(),
        rules_before,
        "nothing exists until an Operation is DONE"
    );

    // The Operation finishes after all; resume makes the deny and checks both.
    {
        let mut c = env.cloud.lock().expect("cloud");
        c.stuck = false;
        let ops: Vec<String> = c.ops.keys().cloned().collect();
        for op in ops {
            if let Some(e) = c.ops.get_mut(&op).and_then(|o| o.effect.take()) {
                finish(&mut c, e);
            }
        }
    }
    let out = env
        .bg()
        .args(["--output", "json", "resume", &run, "--yes"])
        .run()
        .ok();
    let r = results(&out.json_lines(), "apply");
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].1, "ok", "{r:?}");
    assert!(
        r[0].2.contains("added 1 (bg-block-") && r[0].2.contains("-deny)"),
        "{r:?}"
    );
    assert_eq!(env.firewalls().len(), rules_before.len() + 2);
    let out = env
        .bg()
        .args(["--output", "json", "undo", &run, "--yes"])
        .run()
        .ok();
    assert_eq!(results(&out.json_lines(), "undo")[0].1, "ok");
    assert_eq!(env.firewalls(), rules_before);
}

// ---------------------------------------------------------------------------------------------
// apiservers.scale on GCP: a self-managed control plane's MIG

/// One API server now, the step asks for three; two answer `/readyz` at first, so the step is
/// `pending` at its wait, and `resume` finishes once the third does. Undo restores the size.
#[test]
fn apiservers_scale_grows_the_control_plane_mig_until_each_new_server_is_ready() {
    let env = Env::new();
    let (net, port) = crate::support::readyz::loopback_net();
    let mut servers = crate::support::readyz::Readyz::new();
    servers.serve(&format!("{net}.4"), port);
    servers.serve(&format!("{net}.5"), port);
    {
        let mut c = env.cloud.lock().expect("cloud");
        c.migs.insert(
            "zones/us-central1-a/prod-cp".into(),
            Mig {
                target: 1,
                current: 1,
            },
        );
        c.instances.insert(
            "us-central1-a/prod-cp".into(),
            (0..3)
                .map(|i| (format!("prod-cp-{i}"), format!("{net}.{}", 4 + i)))
                .collect(),
        );
    }
    servers.trusted_by(&env.inventory);
    let inv = std::fs::read_to_string(&env.inventory).expect("inventory");
    std::fs::write(
        &env.inventory,
        format!("{inv}control_plane = {{ mig = \"prod-cp\", port = {port} }}\n"),
    )
    .expect("inventory");
    let rb = env.step("apiservers.scale", "to = 3\nwait = \"4s\"");
    let plan = env.bg().arg("plan").arg(&rb).run().ok();
    assert!(
        plan.stdout.contains("scale the control plane's group control-plane (managed instance group prod-cp in us-central1-a) to size 3")
            && plan.stdout.contains(&format!("/readyz on port {port} of each instance of managed instance group prod-cp")),
        "{}",
        plan.stdout
    );
    let out = env.run(&rb).code(3);
    let events = out.json_lines();
    let r = results(&events, "apply");
    assert!(
        r.len() == 1
            && r[0].1 == "pending"
            && r[0].2.contains("2 of 3 API servers ready")
            && r[0].2.contains(&format!("prod-cp-2 ({net}.6)"))
            && r[0].2.contains("`breakglass resume RUN` waits again"),
        "{r:?}"
    );
    assert_eq!(
        env.mig("zones/us-central1-a/prod-cp"),
        Mig {
            target: 3,
            current: 3
        }
    );
    let run = events[0]["run_id"].as_str().expect("run id").to_owned();
    servers.serve(&format!("{net}.6"), port);
    let out = env
        .bg()
        .args(["--output", "json", "resume", &run, "--yes"])
        .run()
        .ok();
    let r = results(&out.json_lines(), "apply");
    assert!(r.len() == 1 && r[0].1 == "ok", "{r:?}");
    let out = env
        .bg()
        .args(["--output", "json", "undo", &run, "--yes"])
        .run()
        .ok();
    assert_eq!(results(&out.json_lines(), "undo")[0].1, "ok");
    assert_eq!(env.mig("zones/us-central1-a/prod-cp").target, 1);
}

/// The run's cloud pace reaches the GCP client: `BREAKGLASS_CLOUD_RATE` spaces every request
/// (polls included), a lower `--rate` slows them further, and `--cloud-budget` stops the calls
/// once spent, before the change.
#[test]
fn the_cloud_rate_and_budget_govern_the_gcp_calls() {
    let env = Env::new();
    let rb = env.runbook("node_groups = [\"workers-a\"]\nto = 5");
    let gaps = |from: usize| -> Vec<Duration> {
        let api: Vec<std::time::Instant> = env.fake.requests()[from..]
            .iter()
            .filter(|q| q.path.starts_with("/compute/"))
            .map(|q| q.at)
            .collect();
        api.windows(2).map(|w| w[1] - w[0]).collect()
    };
    let from = env.fake.requests().len();
    env.bg()
        .env("BREAKGLASS_CLOUD_RATE", "2")
        .args(["--output", "json", "run"])
        .arg(&rb)
        .arg("--yes")
        .run()
        .ok();
    let g = gaps(from);
    assert!(
        g.len() >= 4 && g.iter().all(|d| *d >= Duration::from_millis(450)),
        "{g:?}"
    );
    assert_eq!(env.mig("zones/us-central1-a/prod-workers-a").target, 5);

    let from = env.fake.requests().len();
    env.bg()
        .args(["--output", "json", "run", "--rate", "1"])
        .arg(env.runbook("node_groups = [\"workers-a\"]\nto = 4"))
        .arg("--yes")
        .run()
        .ok();
    let g = gaps(from);
    assert!(
        g.len() >= 4 && g.iter().all(|d| *d >= Duration::from_millis(950)),
        "{g:?}"
    );

    let out = env
        .bg()
        .args(["--output", "json", "run", "--cloud-budget", "2"])
        .arg(env.runbook("node_groups = [\"workers-a\"]\nto = 1"))
        .arg("--yes")
        .run()
        .code(3);
    let r = results(&out.json_lines(), "apply");
    assert!(
        r.len() == 1
            && r[0]
                .2
                .contains("the run's budget of 2 GCP requests is spent"),
        "{r:?}"
    );
    assert_eq!(env.mig("zones/us-central1-a/prod-workers-a").target, 4);
}

/// The shipped GKE runbook against the fake: its plan shrinks the inventory's node pools and,
/// asked to narrow the authorized networks, says plainly that this cannot stop the nodes.
#[test]
fn the_gke_runbook_plans_the_pools_and_says_the_endpoint_cannot_stop_the_nodes() {
    let env = Env::control();
    let plan = env
        .bg()
        .args([
            "plan",
            "gke-apiserver-overload",
            "-p",
            "cluster=prod",
            "-p",
            "allow_cidrs=203.0.113.0/24",
            "-p",
            "workload_namespace=observability",
            "-p",
            "workload_name=telemetry-agent",
            "-p",
            "block_endpoint=true",
            "-p",
            "block_nodes=false",
        ])
        .run()
        .ok();
    for needle in [
        "shrink-node-groups",
        "pool1: scale node group pool1 (GKE node pool prod/pool1 in us-central1) to 30%",
        "block-endpoint",
        "gke/prod: set the authorized networks of GKE cluster prod in us-central1 to 203.0.113.0/24",
        "this cannot stop node traffic",
        "unblock-endpoint",
        "check-object",
    ] {
        assert!(plan.stdout.contains(needle), "{needle}:\n{}", plan.stdout);
    }
    assert!(
        !plan.stdout.contains("block-nodes-egress"),
        "{}",
        plan.stdout
    );
}
