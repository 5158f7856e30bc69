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
            && out
                .stderr
                .contains("aks-agentpool-1234-nsg (the inventory has no key for it yet)")
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
