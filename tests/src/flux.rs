//! The real Flux loop on the test control plane: a working copy is pushed to the loopback Git
//! server (`GIT_SERVER` of `scripts/testenv`), source-controller clones it, kustomize-controller
//! applies (and prunes) it, helm-controller installs the releases from the loopback chart
//! repository (`HELM_REPOSITORY`, the real packages of `../shared/charts/packages`).
//!
//! ```ignore
//! let env = testenv::shared();
//! let sha = flux::push(env, work.path(), "demo", "step 1");          // commit + push to main
//! flux::git_repository(env, "flux-system", "demo", &flux::repo_url(env, "demo"));
//! flux::kustomization(env, "flux-system", "demo-apps", "demo", "./kubernetes/apps/base", true);
//! flux::wait_applied(env, "flux-system", "demo-apps", &sha, Duration::from_secs(120));
//! ```
//!
//! Waiting uses `kubectl get --watch -o json` (one apiserver watch, no sleep loop) and fails fast
//! when the Kustomization reports an apply failure for the awaited revision.

use std::io::{BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::testenv::TestEnv;

/// Namespace of the Flux objects the tests create (the controllers watch all namespaces).
pub const FLUX_NS: &str = "flux-system";

/// `http://127.0.0.1:PORT/<name>.git` on the loopback Git server.
pub fn repo_url(env: &TestEnv, name: &str) -> String {
    format!("{}/{name}.git", env.git_server().trim_end_matches('/'))
}

/// The revision string Flux reports for commit `sha` on branch main.
pub fn revision(sha: &str) -> String {
    format!("main@sha1:{sha}")
}

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = crate::git_command(dir, args).output().map_err(|e| format!("git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("git {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Commit everything uncommitted in the working copy `dir` (a git repository; message `msg`, no
/// commit when clean) and force-push its HEAD to branch main of `$GIT_SERVER/<name>.git`, which
/// the push creates on first use. Returns the pushed commit's sha.
pub fn push(env: &TestEnv, dir: &Path, name: &str, msg: &str) -> String {
    let step = || -> Result<String, String> {
        git(dir, &["add", "-A"])?;
        if !git(dir, &["status", "--porcelain"])?.trim().is_empty() {
            git(dir, &["commit", "-q", "-m", msg])?;
        }
        git(dir, &["push", "-q", "--force", &repo_url(env, name), "HEAD:refs/heads/main"])?;
        Ok(git(dir, &["rev-parse", "HEAD"])?.trim().to_string())
    };
    step().unwrap_or_else(|e| panic!("push {} to {}: {e}", dir.display(), repo_url(env, name)))
}

/// `kubectl apply` the objects (server-side, field manager `helmigrate-tests`).
pub fn apply(env: &TestEnv, objects: &[Value]) {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    let mut child = env
        .kubectl()
        .args(["apply", "--server-side", "--force-conflicts", "--field-manager=helmigrate-tests", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl apply");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&serde_json::to_vec(&list).expect("json"))
        .expect("write to kubectl");
    let out = child.wait_with_output().expect("kubectl apply");
    assert!(out.status.success(), "kubectl apply: {}\n{list:#}", String::from_utf8_lossy(&out.stderr));
}

/// A `GitRepository` `ns/name` following branch main of `url` (interval 10m: tests ask for a
/// reconcile with [`request_reconcile`] after each push instead of waiting for the interval).
pub fn git_repository(env: &TestEnv, ns: &str, name: &str, url: &str) {
    apply(env, &[json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"interval": "10m", "timeout": "60s", "url": url, "ref": {"branch": "main"}},
    })]);
}

/// A Flux `Kustomization` `ns/name` applying `path` of GitRepository `ns/source`, pruning what
/// leaves Git when `prune` is set (no health checks: tests wait for what they need). Failed
/// applies are retried after 10s.
pub fn kustomization(env: &TestEnv, ns: &str, name: &str, source: &str, path: &str, prune: bool) {
    apply(env, &[json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "interval": "10m", "retryInterval": "10s", "timeout": "2m", "path": path, "prune": prune, "wait": false,
            "sourceRef": {"kind": "GitRepository", "name": source},
        },
    })]);
}

/// A Flux `HelmRepository` `ns/name` at `url` (e.g. [`TestEnv::helm_repository`]).
pub fn helm_repository(env: &TestEnv, ns: &str, name: &str, url: &str) {
    apply(env, &[json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"interval": "10m", "url": url},
    })]);
}

/// Ask a Flux controller to reconcile `kind/name` now (the `reconcile.fluxcd.io/requestedAt`
/// annotation, as `flux reconcile` sets it).
pub fn request_reconcile(env: &TestEnv, kind: &str, ns: &str, name: &str) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    env.kubectl_run(&["-n", ns, "annotate", "--overwrite", kind, name, &format!("reconcile.fluxcd.io/requestedAt={now}")])
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The condition `type` of a Flux object's status.
pub fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_)
}

/// Ready=True for the object's current generation.
pub fn is_ready(obj: &Value) -> bool {
    condition(obj, "Ready").is_some_and(|c| c["status"] == "True")
        && obj["status"]["observedGeneration"].as_i64() >= obj["metadata"]["generation"].as_i64()
}

fn conditions_text(obj: &Value) -> String {
    obj["status"]["conditions"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| format!("{}={} {}: {}", c["type"].as_str().unwrap_or("?"), c["status"].as_str().unwrap_or("?"),
                    c["reason"].as_str().unwrap_or(""), c["message"].as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join("\n  ")
        })
        .unwrap_or_else(|| "(no conditions yet)".into())
}

struct Watch {
    child: Child,
    rx: mpsc::Receiver<Result<Value, String>>,
}

impl Watch {
    fn start(env: &TestEnv, kind: &str, ns: &str, name: &str) -> Watch {
        let mut child = env
            .kubectl()
            .args(["-n", ns, "get", kind, name, "--watch", "-o", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl get --watch");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for v in serde_json::Deserializer::from_reader(BufReader::new(stdout)).into_iter::<Value>() {
                if tx.send(v.map_err(|e| format!("kubectl --watch output: {e}"))).is_err() {
                    break;
                }
            }
        });
        Watch { child, rx }
    }

    fn stderr(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s.trim().to_string()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Watch `kind ns/name` until `done` returns a result or `timeout` passes (then `Err` with the
/// last state seen). A watch the server closes is re-opened; every 5s without an event the object
/// is also read once, so a missed event cannot stall the wait.
pub fn watch_until<T>(
    env: &TestEnv,
    kind: &str,
    ns: &str,
    name: &str,
    timeout: Duration,
    mut done: impl FnMut(&Value) -> Option<Result<T, String>>,
) -> Result<T, String> {
    let deadline = Instant::now() + timeout;
    let mut last = Value::Null;
    let mut why = String::new();
    while Instant::now() < deadline {
        let mut w = Watch::start(env, kind, ns, name);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match w.rx.recv_timeout(left.min(Duration::from_secs(5))) {
                Ok(Ok(v)) => {
                    if let Some(r) = done(&v) {
                        return r;
                    }
                    last = v;
                }
                Ok(Err(e)) => return Err(e),
                Err(RecvTimeoutError::Timeout) => {
                    let read = env.kubectl_run(&["-n", ns, "get", kind, name, "-o", "json"]).ok();
                    if let Some(v) = read.and_then(|t| serde_json::from_str::<Value>(&t).ok()) {
                        if let Some(r) = done(&v) {
                            return r;
                        }
                        last = v;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    why = w.stderr();
                    // not found yet, or the server closed the watch: look again shortly
                    std::thread::sleep(Duration::from_millis(300));
                    break;
                }
            }
        }
    }
    Err(format!(
        "timed out after {timeout:?} watching {kind} {ns}/{name}{}; last seen:\n  {}",
        if why.is_empty() { String::new() } else { format!(" ({why})") },
        conditions_text(&last)
    ))
}

/// Wait until Kustomization `ns/name` has applied commit `sha` and is Ready. Panics with its
/// conditions when the apply of that revision fails or on timeout. Returns the Kustomization.
pub fn wait_applied(env: &TestEnv, ns: &str, name: &str, sha: &str, timeout: Duration) -> Value {
    let rev = revision(sha);
    watch_until(env, "kustomizations.kustomize.toolkit.fluxcd.io", ns, name, timeout, |k| {
        let st = &k["status"];
        if st["lastAppliedRevision"] == rev.as_str() && is_ready(k) {
            return Some(Ok(k.clone()));
        }
        let ready = condition(k, "Ready");
        let failed = ready.is_some_and(|c| {
            c["status"] == "False" && !matches!(c["reason"].as_str(), Some("Progressing" | "ProgressingWithRetry" | "DependencyNotReady"))
        });
        if st["lastAttemptedRevision"] == rev.as_str() && failed && st["observedGeneration"] == k["metadata"]["generation"] {
            return Some(Err(format!("Kustomization {ns}/{name} failed to apply {rev}:\n  {}", conditions_text(k))));
        }
        None
    })
    .unwrap_or_else(|e| panic!("waiting for {rev}: {e}"))
}

/// Wait until `kind ns/name` (a HelmRelease, HelmRepository, ...) is Ready for its current
/// generation; panics with its conditions on timeout. Returns the object.
pub fn wait_ready(env: &TestEnv, kind: &str, ns: &str, name: &str, timeout: Duration) -> Value {
    watch_until(env, kind, ns, name, timeout, |o| is_ready(o).then(|| Ok(o.clone()))).unwrap_or_else(|e| panic!("{e}"))
}

/// Wait until `kind ns/name` no longer exists (true) or `timeout` passes (false).
pub fn wait_deleted(env: &TestEnv, kind: &str, ns: &str, name: &str, timeout: Duration) -> bool {
    let secs = format!("--timeout={}s", timeout.as_secs().max(1));
    env.kubectl_run(&["-n", ns, "wait", "--for=delete", &format!("{kind}/{name}"), &secs]).is_ok()
}

/// Push the working copy and have the Flux Kustomizations `kustomizations` (in [`FLUX_NS`],
/// reading GitRepository `FLUX_NS/name`) apply it: push, ask source-controller to fetch, wait
/// until each has applied the commit. Returns the sha.
pub fn sync(env: &TestEnv, dir: &Path, name: &str, msg: &str, kustomizations: &[&str], timeout: Duration) -> String {
    let sha = push(env, dir, name, msg);
    request_reconcile(env, "gitrepositories.source.toolkit.fluxcd.io", FLUX_NS, name);
    for k in kustomizations {
        wait_applied(env, FLUX_NS, k, &sha, timeout);
    }
    sha
}
