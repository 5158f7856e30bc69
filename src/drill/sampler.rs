//! Health sampled every 250 ms through a drill, from the operator's machine: each API
//! endpoint's `/readyz` (with the cluster's CA and TLS name, by IP, under its own User-Agent so
//! the API servers do not count it as breakglass's), and on a lab what only the lab can see:
//! the API server stand-ins' own stats (latency of their requests over the last second, errors,
//! 429s, requests in flight), the workload's ready pods, and the kubelets holding a watch.
//!
//! Without a lab the latency is the `/readyz` probes' own, over the last second.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::model::Sample;
use crate::lab::netns::{Lab, WORKLOAD_NAME, WORKLOAD_NAMESPACE};

/// How often health is sampled.
pub const PERIOD: Duration = Duration::from_millis(250);
/// A `/readyz` probe slower than this counts as not ready.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
const USER_AGENT: &str = concat!("breakglass-drill-sampler/", env!("CARGO_PKG_VERSION"));

/// The samples so far, shared with whoever waits on them.
pub type Samples = Arc<Mutex<Vec<Sample>>>;

/// A running sampler, stopped when this is dropped (on every path out of a drill, errors
/// included: the sampler holds the lab, which must be torn down, not leaked).
pub struct Sampling(tokio::task::JoinHandle<()>);

impl Sampling {
    pub fn stop(&self) {
        self.0.abort();
    }
}

impl Drop for Sampling {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub struct Sampler {
    endpoints: Vec<(reqwest::Client, String)>,
    lab: Option<Arc<Lab>>,
    started: Instant,
    samples: Samples,
    /// (when, latency ms) of recent probes, for the latency without a lab.
    probes: VecDeque<(Instant, f64, bool)>,
}

impl Sampler {
    /// A sampler of `endpoints` (by IP, `tls_name` checked against `ca_pem`), and of `lab`'s
    /// stats when given. `started` is the drill's time zero.
    pub fn new(
        endpoints: &[SocketAddr],
        tls_name: Option<&str>,
        ca_pem: Option<&[u8]>,
        lab: Option<Arc<Lab>>,
        started: Instant,
    ) -> anyhow::Result<Sampler> {
        let ca = ca_pem
            .map(reqwest::Certificate::from_pem)
            .transpose()
            .map_err(|e| anyhow::anyhow!("the cluster's CA is not a PEM certificate: {e}"))?;
        let mut clients = Vec::new();
        for &addr in endpoints {
            let host = tls_name.map_or_else(|| addr.ip().to_string(), str::to_owned);
            let mut b = reqwest::Client::builder()
                .user_agent(USER_AGENT)
                .timeout(PROBE_TIMEOUT)
                .connect_timeout(PROBE_TIMEOUT)
                .no_proxy()
                .resolve(&host, addr)
                .pool_max_idle_per_host(1);
            if let Some(ca) = &ca {
                b = b
                    .tls_built_in_root_certs(false)
                    .add_root_certificate(ca.clone());
            }
            let client = b.build()?;
            clients.push((client, format!("https://{host}:{}/readyz", addr.port())));
        }
        Ok(Sampler {
            endpoints: clients,
            lab,
            started,
            samples: Arc::default(),
            probes: VecDeque::new(),
        })
    }

    pub fn samples(&self) -> Samples {
        Arc::clone(&self.samples)
    }

    /// Starts sampling on the runtime, every [`PERIOD`], until the [`Sampling`] is stopped.
    pub fn start(self) -> Sampling {
        Sampling(tokio::spawn(self.run()))
    }

    async fn run(mut self) {
        let mut tick = tokio::time::interval(PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let sample = self.sample().await;
            if let Ok(mut s) = self.samples.lock() {
                s.push(sample);
            }
        }
    }

    async fn sample(&mut self) -> Sample {
        let t_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut probes = tokio::task::JoinSet::new();
        for (client, url) in &self.endpoints {
            let (client, url) = (client.clone(), url.clone());
            probes.spawn(async move {
                let at = Instant::now();
                let ok = matches!(client.get(&url).send().await, Ok(r) if r.status().is_success());
                (ok, at.elapsed().as_secs_f64() * 1000.0)
            });
        }
        let mut results = Vec::new();
        while let Some(r) = probes.join_next().await {
            results.push(r.unwrap_or((false, PROBE_TIMEOUT.as_secs_f64() * 1000.0)));
        }
        let ready = !results.is_empty() && results.iter().all(|(ok, _)| *ok);
        let now = Instant::now();
        for (ok, ms) in &results {
            self.probes.push_back((now, *ms, *ok));
        }
        while self
            .probes
            .front()
            .is_some_and(|(at, _, _)| now.duration_since(*at) > Duration::from_secs(1))
        {
            self.probes.pop_front();
        }
        let mut sample = Sample {
            t_ms,
            ready,
            p50_ms: None,
            p99_ms: None,
            error_rate: 0.0,
            throttled_per_s: 0.0,
            inflight: 0,
            agent_pods: 0,
            nodes_connected: 0,
            nodes_running: None,
        };
        if let Some(lab) = &self.lab {
            let lab = Arc::clone(lab);
            if let Ok(fleet) = tokio::task::spawn_blocking(move || lab_view(&lab)).await {
                fleet.fill(&mut sample);
            }
        } else {
            let mut ms: Vec<f64> = self.probes.iter().map(|p| p.1).collect();
            ms.sort_by(f64::total_cmp);
            sample.p50_ms = percentile(&ms, 0.5);
            sample.p99_ms = percentile(&ms, 0.99);
            let failed = self.probes.iter().filter(|p| !p.2).count();
            #[allow(clippy::cast_precision_loss)]
            if !self.probes.is_empty() {
                sample.error_rate = failed as f64 / self.probes.len() as f64;
            }
        }
        sample
    }
}

fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() as f64) * q) as usize;
    sorted.get(i.min(sorted.len() - 1)).copied()
}

/// What the lab's files say at one moment.
struct LabView {
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    answers: u64,
    errors: u64,
    throttled: u64,
    inflight: u64,
    agent_pods: u32,
    nodes_connected: u32,
    nodes_running: u32,
}

impl LabView {
    fn fill(&self, s: &mut Sample) {
        s.p50_ms = self.p50_ms;
        s.p99_ms = self.p99_ms;
        #[allow(clippy::cast_precision_loss)]
        if self.answers > 0 {
            s.error_rate = self.errors as f64 / self.answers as f64;
        }
        #[allow(clippy::cast_precision_loss)]
        {
            s.throttled_per_s = self.throttled as f64;
        }
        s.inflight = u32::try_from(self.inflight).unwrap_or(u32::MAX);
        s.agent_pods = self.agent_pods;
        s.nodes_connected = self.nodes_connected;
        s.nodes_running = Some(self.nodes_running);
    }
}

fn lab_view(lab: &Lab) -> LabView {
    let mut v = LabView {
        p50_ms: None,
        p99_ms: None,
        answers: 0,
        errors: 0,
        throttled: 0,
        inflight: 0,
        agent_pods: 0,
        nodes_connected: 0,
        nodes_running: 0,
    };
    let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    for node in lab.nodes() {
        if node.init_pid().is_none() {
            // Stopped by a shrink: no API server, pods or kubelet to count.
            continue;
        }
        v.nodes_running += 1;
        if node.role == crate::lab::netns::Role::ControlPlane
            && let Ok(stats) = lab.api_stats(&node.name)
        {
            let recent = &stats["recent"];
            v.p50_ms = max(v.p50_ms, recent["p50_ms"].as_f64());
            v.p99_ms = max(v.p99_ms, recent["p99_ms"].as_f64());
            v.answers += recent["answers"].as_u64().unwrap_or(0);
            v.errors += recent["errors"].as_u64().unwrap_or(0);
            v.throttled += recent["throttled"].as_u64().unwrap_or(0);
            v.inflight += stats["inflight"].as_u64().unwrap_or(0);
        }
        if let Ok(pods) = lab.pods(&node.name) {
            let running = pods.iter().any(|p| {
                p.ready
                    && p.namespace == WORKLOAD_NAMESPACE
                    && p.name.starts_with(&format!("{WORKLOAD_NAME}-"))
            });
            v.agent_pods += u32::from(running);
        }
        if lab.kubelet_watch_connected(&node.name).unwrap_or(false) {
            v.nodes_connected += 1;
        }
    }
    v
}
