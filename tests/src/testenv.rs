//! A real local Kubernetes control plane for integration tests.
//!
//! [`shared()`] starts one control plane per test binary (lazily, on first use) with
//! `scripts/testenv up --dir <unique dir> --parent-pid <this process>`: etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler, kwok (a fake node `gpu-node` with `nvidia.com/gpu: 16`
//! and a `nvidia` RuntimeClass), the CRDs under `tests/crds/`, and the Flux source-controller and
//! helm-controller. A watchdog started by the script tears it down once the test binary exits
//! (also when it crashes), so nothing has to be dropped.
//!
//! The binaries come from `scripts/build-tools` (pinned Go modules under `tools/`, built once per
//! machine into `~/.cache/helmigrate/testenv/<hash>/bin`). If they are missing, [`shared()`] panics
//! with "test control plane binaries missing: run scripts/build-tools" instead of building them
//! inside a test (a cold build takes a long time).
//!
//! Environment knobs:
//! - `HELMIGRATE_TESTENV_DIR=DIR`: reuse a control plane already started with
//!   `scripts/testenv up --dir DIR` (handy while iterating; nothing is started or stopped).
//! - `HELMIGRATE_TESTENV_KEEP=1`: keep the run directory (logs, certificates) after the test
//!   binary exits; it is under `target/testenv-runs/`. The processes are stopped either way.
//! - `HELMIGRATE_TESTENV_NO_FLUX=1`: do not start the Flux controllers (faster start-up).
//!
//! Only `std` is used, so this file compiles as a module of any crate.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Message of the panic raised when the control-plane binaries have not been built.
pub const MISSING_BINARIES: &str = "test control plane binaries missing: run scripts/build-tools";

/// Name of the kubeconfig context written by `scripts/testenv`.
pub const CONTEXT: &str = "helmigrate-testenv";

/// A running control plane.
#[derive(Debug)]
pub struct TestEnv {
    dir: PathBuf,
    kubeconfig: PathBuf,
    bin_dir: PathBuf,
    apiserver_url: String,
    vars: HashMap<String, String>,
}

/// Root of the repository (the parent of the `tests` crate).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().unwrap_or(manifest);
    root.canonicalize().unwrap_or_else(|_| root.to_path_buf())
}

/// Set (to anything but `0`) by `scripts/test --quick`: tests that need the control plane or the
/// pinned tools skip instead of running (see [`cluster`], [`tools`]).
pub const SKIP_ENV: &str = "HELMIGRATE_SKIP_CLUSTER";

fn skipping() -> bool {
    std::env::var_os(SKIP_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Say once per test binary, on the real stderr (not captured by the test harness), why tests
/// are skipped.
fn say_skipped(what: &str) {
    static SAID: AtomicUsize = AtomicUsize::new(0);
    if SAID.fetch_add(1, Ordering::Relaxed) == 0 {
        let exe = std::env::current_exe().ok();
        let name = exe.as_deref().and_then(Path::file_stem).map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let name = name.rsplit_once('-').map(|(n, _)| n.to_string()).unwrap_or(name);
        // one write, so the line does not interleave with the test harness's output
        let line = format!("{name}: skipped: {what} ({SKIP_ENV} is set)\n");
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// The shared control plane, or `None` (and one `skipped: ...` line per test binary) when
/// `HELMIGRATE_SKIP_CLUSTER` is set, as `scripts/test --quick` does. Without it, this is
/// [`shared()`]: missing binaries fail the test. Use it through [`crate::cluster!`].
pub fn cluster() -> Option<&'static TestEnv> {
    if skipping() {
        say_skipped("needs the test control plane (scripts/build-tools)");
        return None;
    }
    Some(shared())
}

/// The pinned tools' bin dir (helm, kubectl, ...), or `None` (and one `skipped: ...` line per test
/// binary) when they are not built and `HELMIGRATE_SKIP_CLUSTER` is set. Without it, missing
/// tools panic with [`MISSING_BINARIES`].
pub fn tools() -> Option<PathBuf> {
    match locate_bin_dir() {
        Ok(dir) => Some(dir),
        Err(_) if skipping() => {
            say_skipped("needs the pinned test tools (scripts/build-tools)");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// The control plane shared by every test of this test binary, started on first use.
pub fn shared() -> &'static TestEnv {
    static ENV: OnceLock<TestEnv> = OnceLock::new();
    ENV.get_or_init(|| match std::env::var_os("HELMIGRATE_TESTENV_DIR") {
        Some(dir) if !dir.is_empty() => TestEnv::attach(Path::new(&dir))
            .unwrap_or_else(|e| panic!("HELMIGRATE_TESTENV_DIR: {e}")),
        _ => TestEnv::start().unwrap_or_else(|e| panic!("{e}")),
    })
}

/// Directory holding the control-plane binaries, or an error naming `scripts/build-tools`.
pub fn locate_bin_dir() -> Result<PathBuf, String> {
    let script = repo_root().join("scripts/build-tools");
    let out = Command::new(&script)
        .arg("--check")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{MISSING_BINARIES} (cannot run {}: {e})", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{MISSING_BINARIES} ({})",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let dir = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    Ok(PathBuf::from(dir))
}

impl TestEnv {
    /// Start a new control plane in a fresh directory under `target/testenv-runs/`, torn down
    /// automatically when this process exits.
    pub fn start() -> Result<TestEnv, String> {
        locate_bin_dir()?;
        let root = repo_root();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = root
            .join("target/testenv-runs")
            .join(format!("{}-{nanos:09}", std::process::id()));
        fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let mut cmd = Command::new(root.join("scripts/testenv"));
        cmd.arg("up")
            .arg("--dir")
            .arg(&dir)
            .arg("--parent-pid")
            .arg(std::process::id().to_string())
            .env("TESTENV_NO_BUILD", "1")
            .stdin(Stdio::null());
        if std::env::var_os("HELMIGRATE_TESTENV_KEEP").is_none() {
            cmd.arg("--purge-on-exit");
        }
        if std::env::var_os("HELMIGRATE_TESTENV_NO_FLUX").is_some() {
            cmd.arg("--no-flux");
        }
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run scripts/testenv: {e}"))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if stderr.contains(MISSING_BINARIES) {
                return Err(MISSING_BINARIES.to_string());
            }
            return Err(format!(
                "scripts/testenv up --dir {} failed ({}):\n{}",
                dir.display(),
                out.status,
                stderr.trim()
            ));
        }
        TestEnv::attach(&dir)
    }

    /// Use a control plane already running in `dir` (started by `scripts/testenv up --dir dir`).
    pub fn attach(dir: &Path) -> Result<TestEnv, String> {
        let env_file = dir.join("env");
        let text = fs::read_to_string(&env_file).map_err(|e| {
            format!(
                "{}: {e} (is a control plane running there? scripts/testenv up --dir {})",
                env_file.display(),
                dir.display()
            )
        })?;
        let vars: HashMap<String, String> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let get = |k: &str| {
            vars.get(k)
                .cloned()
                .ok_or_else(|| format!("{}: no {k}", env_file.display()))
        };
        Ok(TestEnv {
            dir: dir.to_path_buf(),
            kubeconfig: PathBuf::from(get("KUBECONFIG")?),
            bin_dir: PathBuf::from(get("BIN_DIR")?),
            apiserver_url: get("APISERVER_URL")?,
            vars,
        })
    }

    /// Admin kubeconfig (context `helmigrate-testenv`, default namespace `default`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Directory with `kubectl`, `helm`, `kube-apiserver`, `etcd`, `kwok`, ... binaries.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// Path of one of the binaries in [`bin_dir`](Self::bin_dir), e.g. `"helm"`.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    /// Run directory (logs in `logs/`, certificates in `pki/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `https://127.0.0.1:PORT`
    pub fn apiserver_url(&self) -> &str {
        &self.apiserver_url
    }

    /// A value from the run's `env` file (e.g. `SC_STORAGE_PORT`).
    pub fn var(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    /// `http://127.0.0.1:PORT`: the loopback Git server (smart HTTP). `git push` to
    /// `<this>/<name>.git` creates or updates repository `<name>`; source-controller clones from
    /// the same URL. See [`crate::flux`].
    pub fn git_server(&self) -> &str {
        self.var("GIT_SERVER").unwrap_or_else(|| panic!("{}: no GIT_SERVER (started by an older scripts/testenv?)", self.dir.display()))
    }

    /// `http://127.0.0.1:PORT/`: the loopback Helm repository serving the real chart packages of
    /// `../shared/charts/packages` (ollama 1.39.0, open-webui 10.2.1, app-template 4.1.1).
    pub fn helm_repository(&self) -> &str {
        self.var("HELM_REPOSITORY").unwrap_or_else(|| {
            panic!("{}: no HELM_REPOSITORY: scripts/testenv found no chart packages (../shared/charts/packages or TESTENV_CHARTS_DIR)", self.dir.display())
        })
    }

    /// `oci://127.0.0.1:PORT/charts`: the loopback OCI registry holding the same chart packages
    /// (`<this>/app-template:4.1.1`; plain HTTP, so Flux sources need `insecure: true`).
    pub fn oci_registry(&self) -> &str {
        self.var("OCI_REGISTRY").unwrap_or_else(|| panic!("{}: no OCI_REGISTRY", self.dir.display()))
    }

    /// `kubectl --kubeconfig <admin kubeconfig>` (v1.36, built by scripts/build-tools).
    pub fn kubectl(&self) -> Command {
        let mut c = Command::new(self.bin("kubectl"));
        c.arg("--kubeconfig").arg(&self.kubeconfig).stdin(Stdio::null());
        c
    }

    /// `helm` with `KUBECONFIG` set and its cache/config/data dirs inside the run directory.
    pub fn helm(&self) -> Command {
        let mut c = Command::new(self.bin("helm"));
        let h = self.dir.join("helm");
        c.env("KUBECONFIG", &self.kubeconfig)
            .env("HELM_CACHE_HOME", h.join("cache"))
            .env("HELM_CONFIG_HOME", h.join("config"))
            .env("HELM_DATA_HOME", h.join("data"))
            .stdin(Stdio::null());
        c
    }

    /// `kubectl apply -f -` of `yaml`; panics with kubectl's message (and the YAML) on failure.
    pub fn apply(&self, yaml: &str) {
        use std::io::Write;
        let mut child = self.kubectl().args(["apply", "-f", "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped())
            .spawn().expect("kubectl apply");
        child.stdin.take().expect("stdin").write_all(yaml.as_bytes()).expect("write yaml");
        let out = child.wait_with_output().expect("kubectl apply");
        assert!(out.status.success(), "kubectl apply: {}\n{yaml}", String::from_utf8_lossy(&out.stderr));
    }

    /// Run `kubectl ARGS...`, returning stdout, or an error with stderr.
    pub fn kubectl_run(&self, args: &[&str]) -> Result<String, String> {
        let out = self
            .kubectl()
            .args(args)
            .output()
            .map_err(|e| format!("kubectl: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "kubectl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Create a fresh namespace named `<prefix>-<n>-<random>` and wait until its `default`
    /// ServiceAccount exists (so pods can be created in it at once). Returns its name.
    pub fn namespace(&self, prefix: &str) -> String {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let salt = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos() ^ std::process::id())
            .unwrap_or(0)
            % 0x10_0000;
        let mut base: String = prefix
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        base.truncate(40);
        let base = base.trim_matches('-');
        let base = if base.is_empty() { "test" } else { base };
        let name = format!("{base}-{n}-{salt:05x}");
        self.kubectl_run(&["create", "namespace", &name])
            .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(60);
        while self
            .kubectl_run(&["-n", &name, "get", "serviceaccount", "default", "-o", "name"])
            .is_err()
        {
            if Instant::now() > deadline {
                panic!("namespace {name}: default ServiceAccount not created within 60s");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        name
    }

    /// Package each chart directory with `helm package`, write an `index.yaml` and serve them
    /// over plain HTTP on 127.0.0.1 (a Helm repository for `helm repo add` or a Flux
    /// `HelmRepository`). The server runs until this process exits.
    pub fn chart_repo<P: AsRef<Path>>(&self, charts: &[P]) -> ChartRepo {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = self
            .dir
            .join(format!("chart-repo-{}", COUNTER.fetch_add(1, Ordering::Relaxed)));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        for chart in charts {
            let out = self
                .helm()
                .arg("package")
                .arg(chart.as_ref())
                .arg("--destination")
                .arg(&dir)
                .output()
                .unwrap_or_else(|e| panic!("helm package: {e}"));
            assert!(
                out.status.success(),
                "helm package {}: {}",
                chart.as_ref().display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = self
            .helm()
            .arg("repo")
            .arg("index")
            .arg(&dir)
            .output()
            .unwrap_or_else(|e| panic!("helm repo index: {e}"));
        assert!(
            out.status.success(),
            "helm repo index: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = serve_dir(&dir);
        ChartRepo { url, dir }
    }
}

/// A Helm chart repository served by [`TestEnv::chart_repo`].
#[derive(Debug, Clone)]
pub struct ChartRepo {
    /// `http://127.0.0.1:PORT` (no trailing slash); `index.yaml` is at its root.
    pub url: String,
    /// Directory holding `index.yaml` and the `.tgz` archives.
    pub dir: PathBuf,
}

/// Serve the files of `dir` (GET/HEAD only, no listing) over HTTP on a free 127.0.0.1 port
/// until the process exits. Returns `http://127.0.0.1:PORT`.
pub fn serve_dir(dir: &Path) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local_addr");
    let root = dir.to_path_buf();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || {
                let _ = serve_one(&root, stream);
            });
        }
    });
    format!("http://{addr}")
}

fn serve_one(root: &Path, mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut parts = request.split_whitespace();
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let rel = path.trim_start_matches('/');
    let file = if rel.is_empty() || rel.split('/').any(|c| c == ".." || c.is_empty()) {
        None
    } else {
        fs::read(root.join(rel)).ok()
    };
    match (method, file) {
        ("GET" | "HEAD", Some(body)) => {
            let ctype = if rel.ends_with(".yaml") {
                "text/yaml"
            } else if rel.ends_with(".tgz") {
                "application/gzip"
            } else {
                "application/octet-stream"
            };
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            if method == "GET" {
                stream.write_all(&body)?;
            }
        }
        _ => {
            stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
        }
    }
    stream.flush()
}
