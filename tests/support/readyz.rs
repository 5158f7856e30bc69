//! API servers' `/readyz` for the `apiservers.scale` tests: real TLS servers (Python's
//! `http.server` behind `ssl`) on loopback addresses, one per simulated API server.

/// API servers' `/readyz` over TLS (a certificate for `kubernetes.default.svc` signed by the
/// test's CA), one Python server per address; killed on drop.
pub struct Readyz {
    dir: tempfile::TempDir,
    children: Vec<std::process::Child>,
}

const READYZ: &str = r"
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 200 if self.path == '/readyz' else 404
        self.send_response(code); self.send_header('Content-Length', '2'); self.end_headers(); self.wfile.write(b'ok')
    def log_message(self, *a): pass
s = http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[3], sys.argv[4])
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print('ready', flush=True)
s.serve_forever()
";

impl Readyz {
    pub fn new() -> Readyz {
        let dir = tempfile::tempdir().expect("tempdir");
        breakglass::lab::pki::certificates(
            dir.path(),
            &breakglass::lab::pki::Names {
                ca: "/CN=test-kubernetes-ca",
                server: "/CN=kube-apiserver",
                server_sans: "DNS:kubernetes.default.svc",
                server_is_client: false,
                client: "/CN=breakglass",
            },
        )
        .expect("certificates");
        Readyz {
            dir,
            children: Vec::new(),
        }
    }

    pub fn ca(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// Serves `/readyz` at `ip:port`; returns once it listens.
    pub fn serve(&mut self, ip: &str, port: u16) {
        use std::io::BufRead;
        let d = self.dir.path();
        let mut child = std::process::Command::new("python3")
            .args(["-c", READYZ, ip, &port.to_string()])
            .arg(d.join("server.crt"))
            .arg(d.join("server.key"))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("ready line");
        assert_eq!(line.trim(), "ready", "readyz server on {ip}:{port}");
        self.children.push(child);
    }
}

impl Drop for Readyz {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A /24 of loopback per test, so parallel tests do not share addresses (`127.X.Y`), and a
/// free port.
pub fn loopback_net() -> (String, u16) {
    let net = format!("127.{}.{}", 100 + fastrand::u8(..100), fastrand::u8(1..250));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    (net, port)
}

impl Readyz {
    /// Makes the inventory's cluster `prod` trust these servers: their CA and TLS name.
    pub fn trusted_by(&self, inventory: &std::path::Path) {
        let inv = std::fs::read_to_string(inventory).expect("inventory");
        let inv = inv.replacen(
            "[clusters.prod]\n",
            &format!(
                "[clusters.prod]\nca_file = \"{}\"\ntls_server_name = \"kubernetes.default.svc\"\n",
                self.ca().display()
            ),
            1,
        );
        std::fs::write(inventory, inv).expect("inventory");
    }
}
