//! `nodes.scale` on Azure end to end: the built binary against a fake of Azure Resource Manager,
//! the Entra ID token endpoint and the instance metadata service (no emulator exists), each
//! endpoint following its reference page. Changes answer 201/202 and are followed through
//! `Azure-AsyncOperation` (`InProgress`, then `Succeeded`) or `Location` (202 until done); a
//! write is throttled with 429 and `Retry-After`; errors have ARM's body shape.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::http::{FakeHttp, Request, Response};
use crate::support::{Bg, Scratch, one_step_runbook, target_results};

const TOKEN: &str = "eyJ0eXAi.fake-arm-token-not-for-output";
const SECRET: &str = "sp-secret-value";
const SUB: &str = "/subscriptions/sub-1/resourceGroups/prod-rg/providers";

#[derive(Default)]
struct Arm {
    /// Scale set and agent pool sizes by name.
    sizes: HashMap<String, u32>,
    /// Operations: polls left before done, and the size to set then.
    ops: HashMap<String, (u32, String, u32)>,
    next: u32,
    /// Writes still to answer 429 with `Retry-After: 1`, and when the last one was.
    throttle: u32,
    throttled_at: Option<Instant>,
    tokens: u32,
    control: Control,
}

/// ARM's error body
/// (<https://learn.microsoft.com/azure/azure-resource-manager/troubleshooting/common-deployment-errors>).
fn err(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

fn form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (
                k.to_owned(),
                v.replace("%3A", ":")
                    .replace("%2F", "/")
                    .replace("%2f", "/"),
            )
        })
        .collect()
}

const NSG: &str = "/subscriptions/sub-1/resourceGroups/prod-rg/providers/Microsoft.Network/networkSecurityGroups/cp-nsg";
const AKS: &str = "/subscriptions/sub-1/resourceGroups/prod-rg/providers/Microsoft.ContainerService/managedClusters/prod";

/// What a control-plane operation does once it succeeds.
enum Effect {
    /// The rule's provisioningState becomes Succeeded.
    RuleMade(String),
    RuleDeleted(String),
    /// The cluster's new body (ranges, tags).
    Aks(Value),
}

/// The state behind the control plane's endpoints.
#[derive(Default)]
struct Control {
    /// The NSG's security rules by name, as ARM answers them.
    rules: std::collections::BTreeMap<String, Value>,
    flush_connection: bool,
    /// The AKS cluster `prod`, as ARM answers it.
    aks: Value,
    /// Operations: polls left before done (`u32::MAX`: never), and what they do then.
    ops: HashMap<String, (u32, Option<Effect>)>,
    next: u32,
    deny_rule_write: bool,
    /// New operations never complete.
    stuck: bool,
    /// NSG reads still to answer 429 with `Retry-After: 1`, and when the last one was.
    throttle_reads: u32,
    throttled_at: Option<Instant>,
    /// Scale sets' network interfaces: (instance id, private IP).
    nics: HashMap<String, Vec<(String, String)>>,
}

/// A rule as ARM answers it (<https://learn.microsoft.com/rest/api/virtualnetwork/security-rules/get>).
fn nsg_rule(name: &str, priority: u32, access: &str, sources: &[&str], ports: &[&str]) -> Value {
    json!({"name": name, "id": format!("{NSG}/securityRules/{name}"), "type": "Microsoft.Network/networkSecurityGroups/securityRules",
        "properties": {"provisioningState": "Succeeded", "priority": priority, "direction": "Inbound", "access": access,
            "protocol": "Tcp", "sourcePortRange": "*", "sourceAddressPrefixes": sources, "destinationAddressPrefix": "*",
            "destinationPortRanges": ports, "description": ""}})
}

fn aks_cluster() -> Value {
    json!({"id": AKS, "name": "prod", "type": "Microsoft.ContainerService/ManagedClusters", "location": "eastus",
        "tags": {"env": "prod"}, "sku": {"name": "Base", "tier": "Standard"}, "identity": {"type": "SystemAssigned"},
        "properties": {"provisioningState": "Succeeded", "powerState": {"code": "Running"}, "kubernetesVersion": "1.30.5",
            "currentKubernetesVersion": "1.30.5", "dnsPrefix": "prod-dns", "fqdn": "prod-dns-abc.hcp.eastus.azmk8s.io",
            "agentPoolProfiles": [{"name": "pool1", "count": 3, "vmSize": "Standard_D2s_v3", "mode": "System"}],
            "apiServerAccessProfile": {"authorizedIPRanges": ["198.51.100.0/24"], "enablePrivateCluster": false},
            "networkProfile": {"networkPlugin": "azure", "loadBalancerSku": "standard"}}})
}

fn async_op(c: &mut Control, base: &str, polls: u32, effect: Effect) -> String {
    c.next += 1;
    let op = format!("ctl-{}", c.next);
    c.ops.insert(op.clone(), (polls, Some(effect)));
    format!(
        "{base}/subscriptions/sub-1/providers/Microsoft.Network/locations/eastus/operations/{op}?api-version=2024-05-01"
    )
}

fn finish(c: &mut Control, e: Effect) {
    match e {
        Effect::RuleMade(name) => {
            if let Some(r) = c.rules.get_mut(&name) {
                r["properties"]["provisioningState"] = "Succeeded".into();
            }
        }
        Effect::RuleDeleted(name) => {
            c.rules.remove(&name);
        }
        Effect::Aks(body) => c.aks = body,
    }
}

/// The calls of `cloud.firewall.block` and `apiservers.scale`; None: not one of them.
fn control_plane(
    req: &Request,
    path: &str,
    c: &mut Control,
    sizes: &HashMap<String, u32>,
    base: &str,
) -> Option<Response> {
    let body = || serde_json::from_str::<Value>(&req.body).unwrap_or(Value::Null);
    Some(match (req.method.as_str(), path) {
        // https://learn.microsoft.com/rest/api/virtualnetwork/network-security-groups/get
        ("GET", NSG) => {
            if c.throttle_reads > 0 {
                c.throttle_reads -= 1;
                c.throttled_at = Some(Instant::now());
                return Some(err(429, "TooManyRequests", "The request is being throttled as the limit has been reached for operation type - Read.")
                    .with_header("Retry-After", "1"));
            }
            let default = [("AllowVnetInBound", 65000), ("AllowAzureLoadBalancerInBound", 65001), ("DenyAllInBound", 65500)]
                .map(|(n, p)| json!({"name": n, "properties": {"priority": p, "direction": "Inbound", "access": if p == 65500 { "Deny" } else { "Allow" },
                    "protocol": "*", "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "destinationPortRange": "*", "provisioningState": "Succeeded"}}));
            Response::json(
                200,
                &json!({"name": "cp-nsg", "id": NSG, "location": "eastus",
                "properties": {"provisioningState": "Succeeded", "flushConnection": c.flush_connection,
                    "securityRules": c.rules.values().collect::<Vec<_>>(), "defaultSecurityRules": default}}),
            )
        }
        // https://learn.microsoft.com/rest/api/virtualnetwork/security-rules/create-or-update:
        // 201 with Azure-AsyncOperation; one inbound rule per priority.
        ("PUT", p) if p.starts_with(&format!("{NSG}/securityRules/")) => {
            let name = p.rsplit('/').next().unwrap_or_default().to_owned();
            if c.deny_rule_write {
                return Some(err(
                    403,
                    "AuthorizationFailed",
                    &format!(
                        "The client 'app-1' with object id 'f00' does not have authorization to perform action 'Microsoft.Network/networkSecurityGroups/securityRules/write' over scope '{NSG}/securityRules/{name}' or the scope is invalid. If access was recently granted, please refresh your credentials."
                    ),
                ));
            }
            let mut rule = body();
            let pr = &rule["properties"];
            let priority = pr["priority"].as_u64().unwrap_or(0);
            if !(100..=4096).contains(&priority)
                || pr["direction"] != "Inbound"
                || !matches!(pr["access"].as_str(), Some("Allow" | "Deny"))
                || pr["sourceAddressPrefix"].is_null() == pr["sourceAddressPrefixes"].is_null()
                || pr["description"].as_str().is_some_and(|d| d.len() > 140)
            {
                return Some(err(
                    400,
                    "InvalidRequestFormat",
                    &format!("Cannot parse the request: {rule}"),
                ));
            }
            if let Some(other) = c
                .rules
                .values()
                .find(|r| r["name"] != name.as_str() && r["properties"]["priority"] == priority)
            {
                return Some(err(
                    400,
                    "SecurityRuleConflict",
                    &format!(
                        "Security rule {name} conflicts with rule {}. Rules cannot have the same Priority and Direction.",
                        other["name"].as_str().unwrap_or_default()
                    ),
                ));
            }
            rule["name"] = name.clone().into();
            rule["id"] = format!("{NSG}/securityRules/{name}").into();
            rule["properties"]["provisioningState"] = "Updating".into();
            c.rules.insert(name.clone(), rule.clone());
            let polls = if c.stuck { u32::MAX } else { 2 };
            let url = async_op(c, base, polls, Effect::RuleMade(name));
            Response::json(201, &rule).with_header("Azure-AsyncOperation", &url)
        }
        // https://learn.microsoft.com/rest/api/virtualnetwork/security-rules/delete: 202 with
        // Azure-AsyncOperation and Location, 204 when there is no such rule.
        ("DELETE", p) if p.starts_with(&format!("{NSG}/securityRules/")) => {
            let name = p.rsplit('/').next().unwrap_or_default().to_owned();
            let Some(r) = c.rules.get_mut(&name) else {
                return Some(Response {
                    status: 204,
                    headers: vec![],
                    body: String::new(),
                });
            };
            r["properties"]["provisioningState"] = "Deleting".into();
            let url = async_op(c, base, 2, Effect::RuleDeleted(name));
            Response {
                status: 202,
                headers: vec![
                    ("Azure-AsyncOperation".into(), url.clone()),
                    ("Location".into(), url),
                ],
                body: String::new(),
            }
        }
        // https://learn.microsoft.com/rest/api/aks/managed-clusters/get
        ("GET", AKS) => Response::json(200, &c.aks),
        // https://learn.microsoft.com/rest/api/aks/managed-clusters/create-or-update: the whole
        // cluster (read-only fields rejected), 200 with Azure-AsyncOperation, Updating until done.
        ("PUT", AKS) => {
            let b = body();
            let p = &b["properties"];
            if p.get("provisioningState").is_some()
                || p.get("fqdn").is_some()
                || p.get("powerState").is_some()
                || b["location"] != "eastus"
                || p["dnsPrefix"] != "prod-dns"
                || p["agentPoolProfiles"].as_array().is_none_or(Vec::is_empty)
            {
                return Some(err(
                    400,
                    "InvalidParameter",
                    &format!("unexpected managed cluster body {b}"),
                ));
            }
            if c.aks["properties"]["provisioningState"] != "Succeeded" {
                return Some(err(
                    409,
                    "OperationNotAllowed",
                    "Operation is not allowed because there's an in progress update managed cluster operation on the managed cluster started at 2024-05-01T10:00:00Z.",
                ));
            }
            // The resource shows what it is becoming, Updating until the operation ends.
            c.aks["tags"] = b["tags"].clone();
            c.aks["properties"]["apiServerAccessProfile"] = p["apiServerAccessProfile"].clone();
            let mut after = c.aks.clone();
            c.aks["properties"]["provisioningState"] = "Updating".into();
            after["properties"]["provisioningState"] = "Succeeded".into();
            let polls = if c.stuck { u32::MAX } else { 3 };
            let url = async_op(c, base, polls, Effect::Aks(after));
            Response::json(200, &c.aks).with_header("Azure-AsyncOperation", &url)
        }
        // https://learn.microsoft.com/azure/azure-resource-manager/management/async-operations
        ("GET", p) if p.contains("/operations/ctl-") => {
            let op = p.rsplit('/').next().unwrap_or_default().to_owned();
            let Some((left, _)) = c.ops.get_mut(&op) else {
                return Some(Response::json(
                    200,
                    &json!({"name": op, "status": "Succeeded"}),
                ));
            };
            if *left > 0 {
                *left = left.saturating_sub(u32::from(*left != u32::MAX));
                // Never: stays InProgress.
                return Some(Response::json(
                    200,
                    &json!({"name": op, "status": "InProgress"}),
                ));
            }
            if let Some((_, Some(e))) = c.ops.remove(&op) {
                finish(c, e);
            }
            Response::json(200, &json!({"name": op, "status": "Succeeded"}))
        }
        // https://learn.microsoft.com/rest/api/virtualnetwork/network-interface-in-vm-ss/list-virtual-machine-scale-set-network-interfaces
        ("GET", p) if p.ends_with("/networkInterfaces") => {
            let vmss = p.rsplit('/').nth(1).unwrap_or_default();
            // The instances that exist: as many as the scale set has now.
            let n = sizes.get(vmss).copied().unwrap_or(0) as usize;
            let value: Vec<Value> = c.nics.get(vmss).into_iter().flatten().take(n).map(|(i, ip)| json!({
                "name": "nic0", "properties": {"virtualMachine": {"id": format!("{SUB}/Microsoft.Compute/virtualMachineScaleSets/{vmss}/virtualMachines/{i}")},
                "ipConfigurations": [{"name": "ipconfig1", "properties": {"privateIPAddress": ip, "primary": true}}]}})).collect();
            Response::json(200, &json!({"value": value}))
        }
        _ => return None,
    })
}

fn handle(req: &Request, arm: &mut Arm, base: &str) -> Response {
    let (path, query) = req.path.split_once('?').unwrap_or((&req.path, ""));
    // Client credentials grant
    // (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow).
    if path == "/tenant-1/oauth2/v2.0/token" {
        let f = form(&req.body);
        let ok = f.get("grant_type").map(String::as_str) == Some("client_credentials")
            && f.get("client_id").map(String::as_str) == Some("app-1")
            && f.get("scope").map(String::as_str) == Some("https://management.azure.com/.default");
        if !ok {
            return Response::json(
                400,
                &json!({"error": "invalid_request", "error_description": format!("{f:?}")}),
            );
        }
        if f.get("client_secret").map(String::as_str) != Some(SECRET) {
            return Response::json(
                401,
                &json!({"error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID."}),
            );
        }
        arm.tokens += 1;
        return Response::json(
            200,
            &json!({"token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN}),
        );
    }
    // Managed identity (https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#get-a-token-using-http):
    // only with `Metadata: true`; expires_in is a string there.
    if path == "/metadata/identity/oauth2/token" {
        if req.header("metadata") != Some("true")
            || !query.contains("resource=https%3A%2F%2Fmanagement.azure.com%2F")
        {
            return Response::json(
                400,
                &json!({"error": "invalid_request", "error_description": "Required metadata header not specified"}),
            );
        }
        arm.tokens += 1;
        return Response::json(
            200,
            &json!({"access_token": TOKEN, "expires_in": "3599", "token_type": "Bearer"}),
        );
    }
    if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return err(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        );
    }
    if let Some(r) = control_plane(req, path, &mut arm.control, &arm.sizes, base) {
        return r;
    }
    let vmss = format!("{SUB}/Microsoft.Compute/virtualMachineScaleSets/");
    let pools = format!("{SUB}/Microsoft.ContainerService/managedClusters/prod/agentPools/");
    let busy = |arm: &Arm, name: &str| arm.ops.values().any(|(_, n, _)| n == name);
    match req.method.as_str() {
        // https://learn.microsoft.com/rest/api/compute/virtual-machine-scale-sets/get
        "GET" if path.starts_with(&vmss) => {
            let name = &path[vmss.len()..];
            let Some(n) = arm.sizes.get(name) else {
                return err(
                    404,
                    "ResourceNotFound",
                    &format!(
                        "The Resource 'Microsoft.Compute/virtualMachineScaleSets/{name}' under resource group 'prod-rg' was not found."
                    ),
                );
            };
            let state = if busy(arm, name) {
                "Updating"
            } else {
                "Succeeded"
            };
            Response::json(
                200,
                &json!({"name": name, "location": "eastus",
                "sku": {"name": "Standard_D2s_v3", "tier": "Standard", "capacity": n},
                "properties": {"provisioningState": state, "upgradePolicy": {"mode": "Manual"}}}),
            )
        }
        // https://learn.microsoft.com/rest/api/compute/virtual-machine-scale-sets/update: 202
        // with a Location to poll.
        "PATCH" if path.starts_with(&vmss) => {
            let name = path[vmss.len()..].to_owned();
            if name == "locked" {
                return err(
                    403,
                    "AuthorizationFailed",
                    &format!(
                        "The client 'app-1' with object id 'f00' does not have authorization to perform action 'Microsoft.Compute/virtualMachineScaleSets/write' over scope '{SUB}/Microsoft.Compute/virtualMachineScaleSets/locked' or the scope is invalid. If access was recently granted, please refresh your credentials."
                    ),
                );
            }
            if arm.throttle > 0 {
                arm.throttle -= 1;
                arm.throttled_at = Some(Instant::now());
                return err(429, "TooManyRequests", "The request is being throttled as the limit has been reached for operation type - Write.")
                    .with_header("Retry-After", "1");
            }
            let body: Value = serde_json::from_str(&req.body).expect("json");
            let n = u32::try_from(body["sku"]["capacity"].as_u64().expect("sku.capacity"))
                .expect("u32");
            arm.next += 1;
            let op = format!("op-{}", arm.next);
            arm.ops.insert(op.clone(), (2, name, n));
            Response {
                status: 202,
                headers: vec![(
                    "Location".into(),
                    format!(
                        "{base}/subscriptions/sub-1/providers/Microsoft.Compute/locations/eastus/operations/{op}?monitor=true&api-version=2024-07-01"
                    ),
                )],
                body: String::new(),
            }
        }
        // https://learn.microsoft.com/rest/api/aks/agent-pools/get
        "GET" if path.starts_with(&pools) => {
            let name = &path[pools.len()..];
            let Some(n) = arm.sizes.get(name) else {
                return err(404, "NotFound", "agent pool not found");
            };
            let state = if busy(arm, name) {
                "Scaling"
            } else {
                "Succeeded"
            };
            Response::json(
                200,
                &json!({"name": name, "properties": {"count": n, "vmSize": "Standard_D2s_v3",
                "mode": "User", "orchestratorVersion": "1.30.5", "currentOrchestratorVersion": "1.30.5",
                "provisioningState": state, "powerState": {"code": "Running"}, "enableAutoScaling": false}}),
            )
        }
        // https://learn.microsoft.com/rest/api/aks/agent-pools/create-or-update: 201 with
        // Azure-AsyncOperation.
        "PUT" if path.starts_with(&pools) => {
            let name = path[pools.len()..].to_owned();
            let body: Value = serde_json::from_str(&req.body).expect("json");
            let p = &body["properties"];
            if p.get("provisioningState").is_some() || p["vmSize"] != "Standard_D2s_v3" {
                return err(
                    400,
                    "InvalidParameter",
                    &format!("unexpected agent pool body {body}"),
                );
            }
            let n = u32::try_from(p["count"].as_u64().expect("count")).expect("u32");
            arm.next += 1;
            let op = format!("op-{}", arm.next);
            arm.ops.insert(op.clone(), (2, name, n));
            Response::json(201, &body).with_header(
                "Azure-AsyncOperation",
                &format!("{base}/subscriptions/sub-1/providers/Microsoft.ContainerService/locations/eastus/operations/{op}?api-version=2024-09-01"),
            )
        }
        // The async operation status
        // (https://learn.microsoft.com/azure/azure-resource-manager/management/async-operations).
        "GET" if path.contains("/operations/") => {
            let op = path.rsplit('/').next().unwrap_or_default().to_owned();
            let location = query.contains("monitor=true");
            let Some((left, name, n)) = arm.ops.get_mut(&op) else {
                return if location {
                    Response {
                        status: 200,
                        headers: vec![],
                        body: String::new(),
                    }
                } else {
                    Response::json(200, &json!({"name": op, "status": "Succeeded"}))
                };
            };
            if *left > 0 {
                *left -= 1;
                return if location {
                    Response {
                        status: 202,
                        headers: vec![("Location".into(), format!("{base}{}", req.path))],
                        body: String::new(),
                    }
                } else {
                    Response::json(200, &json!({"name": op, "status": "InProgress"}))
                };
            }
            let (name, n) = (name.clone(), *n);
            arm.ops.remove(&op);
            arm.sizes.insert(name, n);
            if location {
                Response {
                    status: 200,
                    headers: vec![],
                    body: String::new(),
                }
            } else {
                Response::json(200, &json!({"name": op, "status": "Succeeded"}))
            }
        }
        _ => err(
            404,
            "NotFound",
            &format!("no route for {} {}", req.method, req.path),
        ),
    }
}

struct Env {
    fake: FakeHttp,
    arm: Arc<Mutex<Arm>>,
    scratch: Scratch,
    inventory: std::path::PathBuf,
}

impl Env {
    fn new() -> Env {
        let arm = Arc::new(Mutex::new(Arm::default()));
        let base = Arc::new(Mutex::new(String::new()));
        let (a, b) = (Arc::clone(&arm), Arc::clone(&base));
        let fake = FakeHttp::start(move |req| {
            let base = b.lock().expect("base").clone();
            handle(req, &mut a.lock().expect("arm"), &base)
        });
        base.lock().expect("base").clone_from(&fake.url);
        {
            let mut a = arm.lock().expect("arm");
            a.sizes.insert("prod-workers-a".into(), 6);
            a.sizes.insert("pool1".into(), 3);
            a.sizes.insert("locked".into(), 2);
        }
        let scratch = Scratch::new();
        let inventory = scratch.write(
            "inventory.toml",
            &format!(
                "[clusters.prod]\napi_endpoints = [\"127.0.0.1:6443\"]\n\n[clusters.prod.azure]\n\
                 subscription = \"sub-1\"\nresource_group = \"prod-rg\"\nendpoint = \"{}\"\nnode_groups = [\n  \
                 {{ name = \"workers-a\", vmss = \"prod-workers-a\" }},\n  \
                 {{ name = \"pool1\", aks_cluster = \"prod\", agent_pool = \"pool1\" }},\n  \
                 {{ name = \"locked\", vmss = \"locked\" }},\n]\n",
                fake.url
            ),
        );
        Env {
            fake,
            arm,
            scratch,
            inventory,
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

    fn bg(&self, secret: &str) -> Bg {
        self.scratch
            .bg_with(&self.inventory)
            .env("AZURE_TENANT_ID", "tenant-1")
            .env("AZURE_CLIENT_ID", "app-1")
            .env("AZURE_CLIENT_SECRET", secret)
            .env("AZURE_AUTHORITY_HOST", &self.fake.url)
    }

    fn run(bg: Bg, runbook: &std::path::Path) -> crate::support::Ran {
        bg.args(["--output", "json", "run"])
            .arg(runbook)
            .arg("--yes")
            .run()
    }

    fn size(&self, name: &str) -> u32 {
        self.arm.lock().expect("arm").sizes[name]
    }
}

fn results(events: &[Value], mode: &str) -> Vec<(String, String, String)> {
    let mut r = target_results(events, mode);
    r.sort();
    r
}

#[test]
fn nodes_scale_scales_a_scale_set_and_an_aks_pool_and_undo_restores_them() {
    let env = Env::new();
    env.arm.lock().expect("arm").throttle = 1;
    let rb = env.runbook("node_groups = [\"workers-a\", \"pool1\"]\nto = 1");
    let out = Env::run(env.bg(SECRET), &rb).ok();
    assert!(!out.stdout.contains(TOKEN) && !out.stderr.contains(SECRET));
    let events = out.json_lines();
    assert_eq!(
        results(&events, "apply"),
        [
            (
                "pool1".to_owned(),
                "ok".to_owned(),
                "AKS agent pool prod-rg/prod/pool1: desired 3 → 1".to_owned()
            ),
            (
                "workers-a".to_owned(),
                "ok".to_owned(),
                "scale set prod-rg/prod-workers-a: desired 6 → 1".to_owned()
            ),
        ]
    );
    // Completion, not acceptance: the operations ran to the end before the step was done.
    assert_eq!((env.size("prod-workers-a"), env.size("pool1")), (1, 1));
    assert!(env.arm.lock().expect("arm").ops.is_empty());
    let requests = env.fake.requests();
    let at = env
        .arm
        .lock()
        .expect("arm")
        .throttled_at
        .expect("a throttled write");
    let retry = requests
        .iter()
        .find(|r| r.method == "PATCH" && r.at > at)
        .expect("the write again");
    assert!(
        retry.at - at >= Duration::from_millis(950),
        "Retry-After not honoured"
    );
    let polls = requests
        .iter()
        .filter(|r| r.path.contains("/operations/"))
        .count();
    assert!(polls >= 6, "{polls} operation polls");

    let run = events[0]["run_id"].as_str().expect("run id").to_owned();
    let out = env
        .bg(SECRET)
        .args(["--output", "json", "undo", &run, "--yes"])
        .run()
        .ok();
    let r = results(&out.json_lines(), "undo");
    assert!(r.len() == 2 && r.iter().all(|t| t.1 == "ok"), "{r:?}");
    assert_eq!((env.size("prod-workers-a"), env.size("pool1")), (6, 3));
}

#[test]
fn denials_bad_secrets_and_managed_identity() {
    let env = Env::new();
    let out = Env::run(
        env.bg(SECRET),
        &env.runbook("node_groups = [\"locked\"]\nby = -1"),
    )
    .code(3);
    let r = results(&out.json_lines(), "apply");
    assert!(
        r.len() == 1
            && r[0].1 == "auth_failed"
            && r[0].2.contains(
                "needs the Azure RBAC action Microsoft.Compute/virtualMachineScaleSets/write"
            )
            && r[0].2.contains("AuthorizationFailed"),
        "{r:?}"
    );
    assert_eq!(env.size("locked"), 2);

    let out = Env::run(
        env.bg("wrong-secret"),
        &env.runbook("node_groups = [\"workers-a\"]\nto = 2"),
    )
    .code(3);
    let r = results(&out.json_lines(), "apply");
    assert!(
        r.len() == 1 && r[0].1 == "auth_failed" && r[0].2.contains("invalid_client AADSTS7000215"),
        "{r:?}"
    );
    assert!(!out.stdout.contains("wrong-secret") && !out.stderr.contains("wrong-secret"));
    assert_eq!(env.size("prod-workers-a"), 6);

    // No service principal: the managed identity, from the metadata service the SDKs'
    // AZURE_POD_IDENTITY_AUTHORITY_HOST points at.
    let bg = env
        .scratch
        .bg_with(&env.inventory)
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", &env.fake.url);
    let out = Env::run(bg, &env.runbook("node_groups = [\"workers-a\"]\nto = 4")).ok();
    assert_eq!(results(&out.json_lines(), "apply")[0].1, "ok");
    assert_eq!(env.size("prod-workers-a"), 4);
    assert!(
        env.fake
            .requests()
            .iter()
            .any(|r| r.path.starts_with("/metadata/identity/oauth2/token"))
    );
}

// ---------------------------------------------------------------------------------------------
// `inventory import azure`: a fake of the list calls it makes, each following its reference
// page, every list answering one item a page with a `nextLink`.

const MC: &str = "MC_prod-rg_prod_eastus";

/// `value` one item a page, from `$skiptoken`, with the `nextLink` to the rest, the shape every
/// list reference below shows (`{"value": [...], "nextLink": ...}`).
fn listed(base: &str, path: &str, query: &str, items: &[Value]) -> Response {
    let skip: usize = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("$skiptoken="))
        .map_or(0, |t| t.parse().expect("our token"));
    let mut body =
        json!({"value": items.get(skip..(skip + 1).min(items.len())).unwrap_or_default()});
    if skip + 1 < items.len() {
        body["nextLink"] = json!(format!(
            "{base}{path}?api-version=x&$skiptoken={}",
            skip + 1
        ));
    }
    Response::json(200, &body)
}

fn vm_id(rg: &str, ss: Option<&str>, name: &str) -> String {
    match ss {
        Some(ss) => format!(
            "/subscriptions/sub-1/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachineScaleSets/{ss}/virtualMachines/{name}"
        ),
        None => format!(
            "/subscriptions/sub-1/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"
        ),
    }
}

/// A NIC attached to `vm` (ids in upper case, as ARM sometimes answers them).
fn nic(vm: &str, ip: &str) -> Value {
    json!({"name": "nic", "properties": {"primary": true, "virtualMachine": {"id": vm.to_uppercase()},
        "ipConfigurations": [{"name": "ipconfig1", "properties": {"primary": true, "privateIPAddress": ip}}]}})
}

fn aks_fake() -> FakeHttp {
    let cell: Arc<Mutex<String>> = Arc::default();
    let base = Arc::clone(&cell);
    let fake = FakeHttp::start(move |req| {
        let base = base.lock().expect("base").clone();
        let (path, query) = req.path.split_once('?').unwrap_or((&req.path, ""));
        // https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
        if path == "/tenant-1/oauth2/v2.0/token" {
            let f = form(&req.body);
            return if f.get("client_secret").map(String::as_str) == Some(SECRET) {
                Response::json(
                    200,
                    &json!({"token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN}),
                )
            } else {
                Response::json(
                    401,
                    &json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}),
                )
            };
        }
        if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
            return err(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
            );
        }
        let rg = "/subscriptions/sub-1/resourceGroups/prod-rg/providers";
        let mc = format!("/subscriptions/sub-1/resourceGroups/{MC}/providers");
        let ss = |name: &str, pool: &str| {
            json!({"name": name, "location": "eastus",
            "sku": {"name": "Standard_D2s_v3", "capacity": 2},
            "tags": {"aks-managed-poolName": pool, "aks-managed-orchestrator": "Kubernetes:1.30.5"}})
        };
        let ss_vm = |ss: &str, i: u32| {
            json!({"name": format!("{ss}_{i}"), "instanceId": i.to_string(),
            "id": vm_id(MC, Some(ss), &i.to_string()), "zones": ["1"],
            "properties": {"osProfile": {"computerName": format!("{}00000{i}", ss.trim_end_matches("-vmss").to_owned() + "-vmss")}}})
        };
        match path {
            // https://learn.microsoft.com/rest/api/aks/managed-clusters/get
            p if p == format!("{rg}/Microsoft.ContainerService/managedClusters/prod") => {
                Response::json(
                    200,
                    &json!({
                "name": "prod", "location": "eastus", "properties": {"provisioningState": "Succeeded",
                "fqdn": "prod-dns-1a2b.hcp.eastus.azmk8s.io", "nodeResourceGroup": MC}}),
                )
            }
            // https://learn.microsoft.com/rest/api/aks/agent-pools/list
            p if p
                == format!("{rg}/Microsoft.ContainerService/managedClusters/prod/agentPools") =>
            {
                listed(
                    &base,
                    p,
                    query,
                    &[
                        json!({"name": "system", "properties": {"count": 2, "mode": "System"}}),
                        json!({"name": "user1", "properties": {"count": 2, "mode": "User"}}),
                    ],
                )
            }
            // https://learn.microsoft.com/rest/api/compute/virtual-machine-scale-sets/list
            p if p == format!("{mc}/Microsoft.Compute/virtualMachineScaleSets") => listed(
                &base,
                p,
                query,
                &[
                    ss("aks-system-1234-vmss", "system"),
                    ss("aks-user1-5678-vmss", "user1"),
                ],
            ),
            // https://learn.microsoft.com/rest/api/compute/virtual-machine-scale-set-vms/list
            p if p.starts_with(&format!("{mc}/Microsoft.Compute/virtualMachineScaleSets/"))
                && p.ends_with("/virtualMachines") =>
            {
                let name = p.split('/').nth_back(1).expect("name");
                listed(&base, p, query, &[ss_vm(name, 0), ss_vm(name, 1)])
            }
            // https://learn.microsoft.com/rest/api/virtualnetwork/network-interface-in-vm-ss/list-virtual-machine-scale-set-network-interfaces
            p if p.starts_with(&format!("{mc}/Microsoft.Compute/virtualMachineScaleSets/"))
                && p.ends_with("/networkInterfaces") =>
            {
                let name = p.split('/').nth_back(1).expect("name");
                let net = if name.contains("system") { 1 } else { 2 };
                listed(
                    &base,
                    p,
                    query,
                    &[
                        nic(&vm_id(MC, Some(name), "0"), &format!("10.224.{net}.4")),
                        nic(&vm_id(MC, Some(name), "1"), &format!("10.224.{net}.5")),
                    ],
                )
            }
            // https://learn.microsoft.com/rest/api/compute/virtual-machines/list
            p if p == format!("{mc}/Microsoft.Compute/virtualMachines") => listed(
                &base,
                p,
                query,
                &[
                    json!({"name": "jumpbox", "id": vm_id(MC, None, "jumpbox"), "location": "eastus",
                    "tags": {"team": "sre", "owner": "a\"b\n[[hosts]]"},
                    "properties": {"osProfile": {"computerName": "jumpbox"}}}),
                ],
            ),
            // https://learn.microsoft.com/rest/api/virtualnetwork/network-interfaces/list
            p if p == format!("{mc}/Microsoft.Network/networkInterfaces") => listed(
                &base,
                p,
                query,
                &[nic(&vm_id(MC, None, "jumpbox"), "10.224.0.10")],
            ),
            // https://learn.microsoft.com/rest/api/virtualnetwork/network-security-groups/list
            p if p == format!("{mc}/Microsoft.Network/networkSecurityGroups") => listed(
                &base,
                p,
                query,
                &[json!({"name": "aks-agentpool-1234-nsg", "properties": {"securityRules": []}})],
            ),
            _ => err(
                404,
                "ResourceNotFound",
                &format!("The Resource '{path}' was not found."),
            ),
        }
    });
    cell.lock().expect("base").clone_from(&fake.url);
    fake
}

#[test]
fn import_writes_an_aks_clusters_agent_pools_and_nodes_across_pages() {
    let fake = aks_fake();
    let scratch = Scratch::new();
    let file = scratch.path().join("prod.toml");
    let import = |secret: &str| {
        scratch
            .bg()
            .env("AZURE_TENANT_ID", "tenant-1")
            .env("AZURE_CLIENT_ID", "app-1")
            .env("AZURE_CLIENT_SECRET", secret)
            .env("AZURE_AUTHORITY_HOST", &fake.url)
            .args([
                "--output",
                "json",
                "inventory",
                "import",
                "azure",
                "--cluster",
                "prod",
            ])
            .args([
                "--subscription",
                "sub-1",
                "--resource-group",
                "prod-rg",
                "--endpoint",
            ])
            .arg(&fake.url)
            .arg("--out")
            .arg(&file)
            .run()
    };
    let out = import(SECRET).ok();
    let event: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON line");
    assert_eq!(event["type"], "inventory_import");
    assert_eq!(
        (
            event["hosts"].as_u64(),
            event["workers"].as_u64(),
            event["control_plane"].as_u64()
        ),
        (Some(5), Some(4), Some(0)),
        "{event}\n{}",
        out.stderr
    );
    assert_eq!(event["node_groups"], json!(["system", "user1"]));
    assert!(
        out.stderr.contains("Azure agent pools page 2: 2 so far")
            && out
                .stderr
                .contains("Azure VMs of scale set aks-user1-5678-vmss page 2: 2 so far")
            && out.stderr.contains(
                "aks-agentpool-1234-nsg (not written: if one guards self-managed API servers"
            )
            && out
                .stderr
                .contains("prod-dns-1a2b.hcp.eastus.azmk8s.io is a DNS name")
            && out.stderr.contains("tag \"owner\" left out on 1 machine"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(SECRET) && !out.stderr.contains(TOKEN));
    let text = std::fs::read_to_string(&file).expect("written");
    assert!(!text.contains(SECRET) && !text.contains(TOKEN) && !text.contains("a\\\"b"));
    let inv = breakglass::inventory::Inventory::load(&file).expect("loads back");
    let az = inv.clusters["prod"].azure.as_ref().expect("azure");
    // The AKS cluster found is what `cloud.firewall.block` acts on (its authorized IP ranges).
    assert_eq!(az.control.aks, Some(("prod-rg".into(), "prod".into())));
    let groups: Vec<String> = az
        .node_groups
        .iter()
        .map(|g| g.backing.describe())
        .collect();
    assert_eq!(
        groups,
        [
            "AKS agent pool prod-rg/prod/system",
            "AKS agent pool prod-rg/prod/user1"
        ]
    );
    let host = |n: &str| {
        inv.hosts
            .iter()
            .find(|h| h.name == n)
            .unwrap_or_else(|| panic!("{n}: {text}"))
    };
    let node = host("aks-user1-5678-vmss000001");
    assert_eq!(node.address.to_string(), "10.224.2.5");
    assert_eq!(node.labels["node-group"], "user1");
    assert_eq!(node.labels["role"], "worker");
    assert_eq!(node.labels["topology.kubernetes.io/zone"], "eastus-1");
    let jump = host("jumpbox");
    assert_eq!(jump.labels["team"], "sre");
    assert!(!jump.labels.contains_key("node-group") && !jump.labels.contains_key("owner"));
    // `plan` reads it as it is.
    let runbook = one_step_runbook(&scratch, "prod", "shrink", "nodes.scale", "to = 1");
    scratch
        .bg_with(&file)
        .arg("plan")
        .arg(&runbook)
        .run()
        .ok()
        .stdout_has("user1 (AKS agent pool prod-rg/prod/user1) to");
    // A refused secret: exit 1, the file left as it was, the secret nowhere.
    std::fs::remove_file(&file).expect("rm");
    let bad = import("wrong-secret");
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(bad.stderr.contains("AADSTS7000215") && !bad.stderr.contains("wrong-secret"));
    assert!(!file.exists());
}

// ---------------------------------------------------------------------------------------------
// Credentials: a service principal's certificate (the token endpoint verifies the client
// assertion's RS256 signature with the certificate's public key) and the Azure CLI's login.

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A self-signed certificate and its key in one PEM file (as `AZURE_CLIENT_CERTIFICATE_PATH`
/// takes it); the public key (PKCS#1 DER) and the base64url SHA-1 thumbprint of the certificate.
fn certificate(scratch: &Scratch, name: &str) -> (std::path::PathBuf, Vec<u8>, String) {
    use base64::Engine;
    use sha1::Digest;
    let dir = scratch.path();
    let s = |n: &str| {
        dir.join(format!("{name}{n}"))
            .to_str()
            .expect("utf-8")
            .to_owned()
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &s(".key"),
        "-out",
        &s(".crt"),
        "-days",
        "1",
        "-subj",
        "/CN=breakglass-test",
    ]);
    let pem = [
        std::fs::read_to_string(s(".key")).expect("key"),
        std::fs::read_to_string(s(".crt")).expect("crt"),
    ]
    .concat();
    let path = scratch.write(&format!("{name}.pem"), &pem);
    let der = openssl(&["x509", "-in", &s(".crt"), "-outform", "DER"]);
    let public = openssl(&[
        "rsa",
        "-in",
        &s(".key"),
        "-RSAPublicKey_out",
        "-outform",
        "DER",
    ]);
    let x5t = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&der));
    (path, public, x5t)
}

/// Why the client assertion is refused, if it is: the certificate-credentials page's header and
/// claims, and the signature checked with the trusted certificate's key.
fn assertion_refusal(
    form: &HashMap<String, String>,
    public: &[u8],
    x5t: &str,
    aud: &str,
) -> Option<String> {
    use base64::Engine;
    if form.get("client_assertion_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        || form.get("grant_type").map(String::as_str) != Some("client_credentials")
        || form.get("client_id").map(String::as_str) != Some("app-1")
    {
        return Some(format!("AADSTS900144: bad request {form:?}"));
    }
    let jwt = form.get("client_assertion")?;
    let [h, c, sig] = jwt.split('.').collect::<Vec<_>>()[..] else {
        return Some("AADSTS50027: not a JWT".into());
    };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header: Value = serde_json::from_slice(&b64.decode(h).ok()?).ok()?;
    if header["alg"] != "RS256" || header["x5t"] != x5t {
        return Some(format!("AADSTS700027: unknown certificate {header}"));
    }
    let sig = b64.decode(sig).ok()?;
    if ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public)
        .verify(format!("{h}.{c}").as_bytes(), &sig)
        .is_err()
    {
        return Some("AADSTS700027: Client assertion contains an invalid signature.".into());
    }
    let claims: Value = serde_json::from_slice(&b64.decode(c).ok()?).ok()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("now")
        .as_secs();
    let n = |k: &str| claims[k].as_u64().unwrap_or(0);
    if claims["aud"] != aud
        || claims["iss"] != "app-1"
        || claims["sub"] != "app-1"
        || claims["jti"].as_str().is_none_or(str::is_empty)
        || n("exp") <= now
        || n("nbf") > now + 60
    {
        return Some(format!("AADSTS700024: bad claims {claims}"));
    }
    None
}

/// The token endpoint trusting one certificate, and a resource group with one VM.
fn credentials_fake(public: Vec<u8>, x5t: String) -> (FakeHttp, Arc<Mutex<Vec<String>>>) {
    let refusals: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = Arc::clone(&refusals);
    let base: Arc<Mutex<String>> = Arc::default();
    let b = Arc::clone(&base);
    let fake = FakeHttp::start(move |req| {
        let (path, _) = req.path.split_once('?').unwrap_or((&req.path, ""));
        // https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow#second-case-access-token-request-with-a-certificate
        if path == "/tenant-1/oauth2/v2.0/token" {
            let f: HashMap<String, String> = req
                .body
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.replace("%3A", ":").replace("%2F", "/")))
                .collect();
            let aud = format!("{}/tenant-1/oauth2/v2.0/token", b.lock().expect("base"));
            return match assertion_refusal(&f, &public, &x5t, &aud) {
                None => Response::json(
                    200,
                    &json!({"token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN}),
                ),
                Some(why) => {
                    seen.lock().expect("refusals").push(why.clone());
                    Response::json(
                        401,
                        &json!({"error": "invalid_client", "error_description": why}),
                    )
                }
            };
        }
        if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
            return err(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
            );
        }
        let vm = vm_id("k8s-rg", None, "cp1");
        match path {
            // https://learn.microsoft.com/rest/api/compute/virtual-machines/list
            p if p.ends_with("/Microsoft.Compute/virtualMachines") => Response::json(
                200,
                &json!({"value": [
                {"name": "cp1", "id": vm, "location": "westeurope", "tags": {"k8s-role": "control-plane"},
                 "properties": {"osProfile": {"computerName": "cp1"}}}]}),
            ),
            // https://learn.microsoft.com/rest/api/virtualnetwork/network-interfaces/list
            p if p.ends_with("/Microsoft.Network/networkInterfaces") => {
                Response::json(200, &json!({"value": [nic(&vm, "10.1.0.4")]}))
            }
            // https://learn.microsoft.com/rest/api/compute/virtual-machine-scale-sets/list and
            // https://learn.microsoft.com/rest/api/virtualnetwork/network-security-groups/list
            p if p.ends_with("/virtualMachineScaleSets")
                || p.ends_with("/networkSecurityGroups") =>
            {
                Response::json(200, &json!({"value": []}))
            }
            // https://learn.microsoft.com/rest/api/aks/managed-clusters/get: no AKS cluster here.
            _ => err(
                404,
                "ResourceNotFound",
                &format!("The Resource '{path}' was not found."),
            ),
        }
    });
    base.lock().expect("base").clone_from(&fake.url);
    (fake, refusals)
}

/// `inventory import azure` of resource group `k8s-rg` through `fake`, to `--out -`.
fn import_k8s_rg(scratch: &Scratch, fake: &FakeHttp) -> Bg {
    scratch
        .bg()
        .args([
            "inventory",
            "import",
            "azure",
            "--cluster",
            "k8s",
            "--subscription",
            "sub-1",
        ])
        .args(["--resource-group", "k8s-rg", "--out", "-", "--endpoint"])
        .arg(&fake.url)
}

#[test]
fn a_service_principal_certificate_signs_a_client_assertion_the_token_endpoint_verifies() {
    let scratch = Scratch::new();
    let (pem, public, x5t) = certificate(&scratch, "sp");
    let (other, _, _) = certificate(&scratch, "other");
    let (fake, refusals) = credentials_fake(public, x5t);
    let with_cert = |path: &std::path::Path| {
        import_k8s_rg(&scratch, &fake)
            .env("AZURE_TENANT_ID", "tenant-1")
            .env("AZURE_CLIENT_ID", "app-1")
            .env("AZURE_CLIENT_CERTIFICATE_PATH", path)
            .env("AZURE_AUTHORITY_HOST", &fake.url)
            .run()
    };
    let out = with_cert(&pem).ok();
    assert!(refusals.lock().expect("refusals").is_empty());
    assert!(
        out.stdout.contains("address = \"10.1.0.4\"")
            && out.stdout.contains("role = \"control-plane\"")
    );
    assert!(
        out.stdout.contains("api_endpoints = [\"10.1.0.4:6443\"]"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("with the certificate")
            && out.stderr.contains("AZURE_CLIENT_CERTIFICATE_PATH"),
        "{}",
        out.stderr
    );
    // Another certificate's key: the endpoint refuses the signature; no key material shown.
    let bad = with_cert(&other).code(1).stderr_has("AADSTS700027");
    assert!(!bad.stderr.contains("PRIVATE KEY") && !bad.stderr.contains(TOKEN));
    assert_eq!(refusals.lock().expect("refusals").len(), 1);
    // An encrypted key is refused before anything is sent, saying what to do.
    let enc = scratch.path().join("enc.pem");
    openssl(&[
        "pkey",
        "-in",
        scratch.path().join("sp.key").to_str().expect("utf-8"),
        "-aes256",
        "-passout",
        "pass:x",
        "-out",
        enc.to_str().expect("utf-8"),
    ]);
    with_cert(&enc)
        .code(2)
        .stderr_has("its private key is encrypted");
}

#[test]
fn the_azure_cli_login_is_used_when_no_environment_credential_or_managed_identity_answers() {
    let scratch = Scratch::new();
    let (_, public, x5t) = certificate(&scratch, "unused");
    let (fake, _) = credentials_fake(public, x5t);
    let bin = scratch.path().join("bin");
    std::fs::create_dir(&bin).expect("bin");
    // What `az account get-access-token --output json --resource ...` prints
    // (https://learn.microsoft.com/cli/azure/account#az-account-get-access-token), for exactly
    // the arguments azure-identity's AzureCliCredential passes.
    let az = |script: &str| {
        let p = bin.join("az");
        std::fs::write(&p, format!("#!/bin/sh\n{script}\n")).expect("az");
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
    };
    az(&format!(
        "[ \"$*\" = 'account get-access-token --output json --resource https://management.azure.com/' ] || {{ echo \"ERROR: unexpected $*\" >&2; exit 2; }}\n\
         echo '{{\"accessToken\": \"{TOKEN}\", \"expiresOn\": \"2099-01-01 00:00:00.000000\", \"expires_on\": 4070908800, \"subscription\": \"sub-1\", \"tenant\": \"tenant-1\", \"tokenType\": \"Bearer\"}}'"
    ));
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |extra: &[(&str, &str)]| {
        let mut bg = import_k8s_rg(&scratch, &fake)
            .env("PATH", &path)
            // No metadata service here: a closed loopback port.
            .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:1");
        for (k, v) in extra {
            bg = bg.env(k, v);
        }
        bg.run()
    };
    let out = run(&[]).ok();
    assert!(
        out.stdout.contains("address = \"10.1.0.4\""),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("else the Azure CLI's login"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(TOKEN) && !out.stdout.contains(TOKEN));
    run(&[("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")])
        .ok()
        .stderr_has("the Azure CLI's login (az account get-access-token)");
    // Logged out: the CLI's own message, and what to do.
    az("echo \"ERROR: Please run 'az login' to setup account.\" >&2; exit 1");
    run(&[])
        .code(1)
        .stderr_has("the metadata service is unreachable")
        .stderr_has("Please run 'az login' to setup account.");
}

// ---------------------------------------------------------------------------------------------
// cloud.firewall.block on Azure: the API servers' NSG and the AKS authorized IP ranges

impl Env {
    /// The fake with the API servers' NSG and the AKS cluster, and the inventory naming them.
    fn control() -> Env {
        let env = Env::new();
        {
            let mut a = env.arm.lock().expect("arm");
            for r in [
                nsg_rule("allow-apiserver", 1000, "Allow", &["*"], &["6443"]),
                nsg_rule("allow-bastion-ssh", 300, "Allow", &["10.0.0.0/8"], &["22"]),
            ] {
                a.control
                    .rules
                    .insert(r["name"].as_str().expect("name").to_owned(), r);
            }
            a.control.aks = aks_cluster();
        }
        let inv = std::fs::read_to_string(&env.inventory).expect("inventory");
        std::fs::write(
            &env.inventory,
            format!(
                "{inv}apiserver_nsg = {{ name = \"cp-nsg\" }}\naks_cluster = \"prod\"\n\
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

    fn rules(&self) -> std::collections::BTreeMap<String, Value> {
        self.arm.lock().expect("arm").control.rules.clone()
    }

    fn aks(&self) -> Value {
        self.arm.lock().expect("arm").control.aks.clone()
    }
}

const AZ_BLOCK: &str = "allow = [\"203.0.113.0/24\"]\nwait = \"30s\"";

#[test]
fn an_azure_block_puts_exact_nsg_rules_and_ranges_and_undo_restores_them() {
    let env = Env::control();
    let (rules_before, aks_before) = (env.rules(), env.aks());
    let rb = env.step("cloud.firewall.block", AZ_BLOCK);
    let plan = env.bg(SECRET).arg("plan").arg(&rb).run().ok();
    for want in [
        "add to network security group prod-rg/cp-nsg an allow rule for 203.0.113.0/24, 10.0.0.0/24 \
         (priority 100) and a deny rule for everyone else (priority 101) on TCP 443, 6443",
        "now aks/prod: authorizedIPRanges 198.51.100.0/24; the change sets authorizedIPRanges to 203.0.113.0/24, 10.0.0.0/24",
        "this cannot stop node traffic: AKS always lets the cluster's own outbound IP",
        "the group keeps flows it already tracks (flushConnection is off)",
    ] {
        assert!(plan.stdout.contains(want), "{want}\n{}", plan.stdout);
    }
    env.arm.lock().expect("arm").control.throttle_reads = 1;
    let out = Env::run(env.bg(SECRET), &rb).ok();
    let events = out.json_lines();
    let run = events[0]["run_id"].as_str().expect("run id").to_owned();
    let r = results(&events, "apply");
    assert!(r.len() == 2 && r.iter().all(|t| t.1 == "ok"), "{r:?}");
    assert!(r[0].2.starts_with("AKS cluster prod-rg/prod: authorizedIPRanges 198.51.100.0/24 → 203.0.113.0/24, 10.0.0.0/24"), "{r:?}");
    assert!(
        r[1].2
            .starts_with("network security group prod-rg/cp-nsg: added 2 (bg-block-"),
        "{r:?}"
    );
    let after = env.rules();
    let added: Vec<&Value> = after
        .iter()
        .filter(|(k, _)| !rules_before.contains_key(*k))
        .map(|(_, v)| &v["properties"])
        .collect();
    assert_eq!(added.len(), 2, "{added:?}");
    let (allow, deny) = if added[0]["access"] == "Allow" {
        (added[0], added[1])
    } else {
        (added[1], added[0])
    };
    assert_eq!(
        (
            &allow["priority"],
            &allow["sourceAddressPrefixes"],
            &allow["destinationPortRanges"],
            &allow["provisioningState"]
        ),
        (
            &json!(100),
            &json!(["203.0.113.0/24", "10.0.0.0/24"]),
            &json!(["443", "6443"]),
            &json!("Succeeded")
        )
    );
    assert_eq!(
        (
            &deny["priority"],
            &deny["access"],
            &deny["sourceAddressPrefix"],
            &deny["destinationPortRanges"]
        ),
        (
            &json!(101),
            &json!("Deny"),
            &json!("*"),
            &json!(["443", "6443"])
        )
    );
    assert!(
        allow["description"]
            .as_str()
            .is_some_and(|d| d.starts_with(&format!("breakglass/block/{run}/"))),
        "{allow}"
    );
    let aks = env.aks();
    assert_eq!(
        aks["properties"]["apiServerAccessProfile"]["authorizedIPRanges"],
        json!(["203.0.113.0/24", "10.0.0.0/24"])
    );
    assert!(
        aks["tags"]
            .as_object()
            .expect("tags")
            .keys()
            .any(|k| k.starts_with("bg-block-")),
        "{aks}"
    );
    assert!(
        env.arm.lock().expect("arm").control.throttled_at.is_some(),
        "a read was throttled and retried"
    );

    let out = env
        .bg(SECRET)
        .args(["--output", "json", "undo", &run, "--yes"])
        .run()
        .ok();
    let r = results(&out.json_lines(), "undo");
    assert!(r.len() == 2 && r.iter().all(|t| t.1 == "ok"), "{r:?}");
    assert_eq!(
        env.rules(),
        rules_before,
        "undo deletes exactly the block's rules"
    );
    assert_eq!(
        env.aks(),
        aks_before,
        "undo restores the ranges and the tags exactly"
    );
}

#[test]
fn an_azure_unblock_finds_what_a_block_left() {
    let env = Env::control();
    let (rules_before, aks_before) = (env.rules(), env.aks());
    Env::run(env.bg(SECRET), &env.step("cloud.firewall.block", AZ_BLOCK)).ok();
    assert_ne!(env.rules(), rules_before);
    let out = Env::run(
        env.bg(SECRET),
        &env.step("cloud.firewall.unblock", "wait = \"30s\""),
    )
    .ok();
    let r = results(&out.json_lines(), "apply");
    assert!(r.len() == 2 && r.iter().all(|t| t.1 == "ok"), "{r:?}");
    assert_eq!(env.rules(), rules_before);
    assert_eq!(env.aks(), aks_before);
}

/// A priority the block needs is taken: refused before anything changes. A denied write names
/// the RBAC action it lacks.
#[test]
fn an_azure_block_is_refused_on_a_taken_priority_and_a_denial_names_the_action() {
    let env = Env::control();
    let taken = nsg_rule("allow-lb", 101, "Allow", &["168.63.129.16"], &["6443"]);
    env.arm
        .lock()
        .expect("arm")
        .control
        .rules
        .insert("allow-lb".into(), taken);
    let rules_before = env.rules();
    let rb = env.step(
        "cloud.firewall.block",
        &format!("{AZ_BLOCK}\non = [\"nsg\"]"),
    );
    let plan = env.bg(SECRET).arg("plan").arg(&rb).run().code(2);
    assert!(
        plan.stdout.contains("REFUSED nsg/cp-nsg: NSG rule allow-lb already has priority 101, which the block's rules need"),
        "{}",
        plan.stdout
    );
    env.bg(SECRET)
        .arg("run")
        .arg(&rb)
        .arg("--yes")
        .run()
        .code(2)
        .stderr_has("refused before anything changed");
    assert_eq!(env.rules(), rules_before);

    {
        let mut a = env.arm.lock().expect("arm");
        a.control.rules.remove("allow-lb");
        a.control.deny_rule_write = true;
    }
    let out = Env::run(env.bg(SECRET), &rb).code(3);
    let r = results(&out.json_lines(), "apply");
    assert!(
        r.len() == 1
            && r[0].1 == "auth_failed"
            && r[0].2.contains("needs the Azure RBAC action Microsoft.Network/networkSecurityGroups/securityRules/write"),
        "{r:?}"
    );
    assert!(!out.stdout.contains(SECRET) && !out.stderr.contains(SECRET));
}

/// The AKS update never completes: `pending` at the step's wait, the journal verifies, and
/// `resume` follows the update already under way (no second PUT) once Azure finishes it.
#[test]
fn an_aks_update_that_never_completes_is_pending_and_resume_follows_it() {
    let env = Env::control();
    let aks_before = env.aks();
    env.arm.lock().expect("arm").control.stuck = true;
    let rb = env.step(
        "cloud.firewall.block",
        "allow = [\"203.0.113.0/24\"]\nwait = \"3s\"\non = [\"aks_endpoint\"]",
    );
    let out = Env::run(env.bg(SECRET), &rb).code(3);
    let events = out.json_lines();
    let run = events[0]["run_id"].as_str().expect("run id").to_owned();
    let r = results(&events, "apply");
    assert!(
        r.len() == 1
            && r[0].1 == "pending"
            && r[0].2.contains(
                "AKS cluster prod-rg/prod: the update of authorizedIPRanges not done after 3s"
            )
            && r[0].2.contains("`breakglass resume RUN` waits again"),
        "{r:?}"
    );
    env.scratch
        .bg()
        .args(["journal", "verify", &run])
        .run()
        .ok();
    let puts = || {
        env.fake
            .requests()
            .iter()
            .filter(|q| q.method == "PUT" && q.path.contains("managedClusters/prod?"))
            .count()
    };
    assert_eq!(puts(), 1);
    // Azure finishes the update after all (its status is polled again, as resume does).
    {
        let mut a = env.arm.lock().expect("arm");
        a.control.stuck = false;
        let ops: Vec<String> = a.control.ops.keys().cloned().collect();
        for op in ops {
            if let Some(e) = a.control.ops.get_mut(&op).and_then(|o| o.1.take()) {
                finish(&mut a.control, e);
            }
        }
    }
    let out = env
        .bg(SECRET)
        .args(["--output", "json", "resume", &run, "--yes"])
        .run()
        .ok();
    let r = results(&out.json_lines(), "apply");
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].1, "ok", "{r:?}");
    assert_eq!(
        puts(),
        1,
        "resume follows the update under way, it does not send another"
    );
    assert_eq!(
        env.aks()["properties"]["apiServerAccessProfile"]["authorizedIPRanges"],
        json!(["203.0.113.0/24", "10.0.0.0/24"])
    );
    let out = env
        .bg(SECRET)
        .args(["--output", "json", "undo", &run, "--yes"])
        .run()
        .ok();
    assert_eq!(results(&out.json_lines(), "undo")[0].1, "ok");
    assert_eq!(env.aks(), aks_before);
}

// ---------------------------------------------------------------------------------------------
// apiservers.scale on Azure: a self-managed control plane's scale set

#[test]
fn apiservers_scale_grows_the_control_plane_scale_set_until_each_new_server_is_ready() {
    let env = Env::new();
    let (net, port) = crate::support::readyz::loopback_net();
    let mut servers = crate::support::readyz::Readyz::new();
    servers.serve(&format!("{net}.4"), port);
    servers.serve(&format!("{net}.5"), port);
    {
        let mut a = env.arm.lock().expect("arm");
        a.sizes.insert("prod-cp".into(), 1);
        a.control.nics.insert(
            "prod-cp".into(),
            (0..3)
                .map(|i| (i.to_string(), format!("{net}.{}", 4 + i)))
                .collect(),
        );
    }
    servers.trusted_by(&env.inventory);
    let inv = std::fs::read_to_string(&env.inventory).expect("inventory");
    std::fs::write(
        &env.inventory,
        format!("{inv}control_plane = {{ vmss = \"prod-cp\", port = {port} }}\n"),
    )
    .expect("inventory");
    let rb = env.step("apiservers.scale", "to = 3\nwait = \"4s\"");
    let plan = env.bg(SECRET).arg("plan").arg(&rb).run().ok();
    assert!(
        plan.stdout.contains(
            "scale the control plane's group control-plane (scale set prod-rg/prod-cp) to size 3"
        ) && plan.stdout.contains(&format!(
            "/readyz on port {port} of each instance of scale set prod-cp"
        )),
        "{}",
        plan.stdout
    );
    let out = Env::run(env.bg(SECRET), &rb).code(3);
    let events = out.json_lines();
    let r = results(&events, "apply");
    assert!(
        r.len() == 1
            && r[0].1 == "pending"
            && r[0].2.contains("2 of 3 API servers ready")
            && r[0].2.contains(&format!("2 ({net}.6)")),
        "{r:?}"
    );
    assert_eq!(env.size("prod-cp"), 3);
    let run = events[0]["run_id"].as_str().expect("run id").to_owned();
    servers.serve(&format!("{net}.6"), port);
    let out = env
        .bg(SECRET)
        .args(["--output", "json", "resume", &run, "--yes"])
        .run()
        .ok();
    let r = results(&out.json_lines(), "apply");
    assert!(r.len() == 1 && r[0].1 == "ok", "{r:?}");
    let out = env
        .bg(SECRET)
        .args(["--output", "json", "undo", &run, "--yes"])
        .run()
        .ok();
    assert_eq!(results(&out.json_lines(), "undo")[0].1, "ok");
    assert_eq!(env.size("prod-cp"), 1);
}
