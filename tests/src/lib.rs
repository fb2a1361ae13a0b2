//! Helpers shared by the integration tests: the built binaries, a fresh copy of the example
//! repo under git, running commands, and reading a tree back for golden comparisons.

pub mod equivalence;
pub mod plugin;
pub mod flux;
pub mod testenv;

/// The shared control plane of a cluster test ([`testenv::shared`]), or — under
/// `scripts/test --quick` (`HELMIGRATE_SKIP_CLUSTER=1`) — return from the test at once, the test
/// binary printing one `skipped: ...` line. Without `--quick`, missing binaries still fail.
#[macro_export]
macro_rules! cluster {
    () => {
        match $crate::testenv::cluster() {
            Some(env) => env,
            None => return,
        }
    };
}

/// The pinned tools' bin dir ([`testenv::tools`]) for a test that runs helm or kubectl without a
/// cluster; under `scripts/test --quick` on a machine without them, return from the test (one
/// `skipped: ...` line per test binary). Without `--quick`, missing tools still fail.
#[macro_export]
macro_rules! require_tools {
    () => {
        match $crate::testenv::tools() {
            Some(dir) => dir,
            None => return,
        }
    };
}

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// Path of a workspace binary (`kubectl-helmigrate`, `flux-helmigrate`), built once per test run
/// with the same cargo and profile that runs the tests.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        // target/<profile>/deps/<test-exe> → target/<profile>
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace()).args(["build", "--quiet", "-p", "kubectl-helmigrate", "-p", "flux-helmigrate"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building the binaries failed");
        profile_dir
    });
    dir.join(name)
}

/// What a command did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The kustomize the tests build with: the pinned test tools' kubectl when it is built (see
/// `scripts/build-tools`), else `kubectl` on PATH.
pub fn kustomize() -> Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND.get_or_init(|| {
        testenv::locate_bin_dir().ok().map(|d| d.join("kubectl")).filter(|k| k.is_file())
            .or_else(|| std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).map(|d| d.join("kubectl")).find(|k| k.is_file()))
    }).clone()
}

/// Run a workspace binary in `cwd` with colours off, a fixed git identity and the tests'
/// kustomize.
pub fn run(name: &str, args: &[&str], cwd: &Path) -> Run {
    let mut cmd = Command::new(bin(name));
    if let Some(k) = kustomize() {
        cmd.env("HELMIGRATE_KUSTOMIZE", k);
    }
    let out = cmd
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("FORCE_COLOR")
        .env("GIT_AUTHOR_NAME", "helmigrate tests")
        .env("GIT_AUTHOR_EMAIL", "tests@helmigrate.invalid")
        .env("GIT_COMMITTER_NAME", "helmigrate tests")
        .env("GIT_COMMITTER_EMAIL", "tests@helmigrate.invalid")
        .output()
        .expect("run binary");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `kubectl-helmigrate ARGS` in `cwd`.
pub fn helmigrate(args: &[&str], cwd: &Path) -> Run {
    run("kubectl-helmigrate", args, cwd)
}

pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("create dir");
    for e in std::fs::read_dir(src).expect("read dir") {
        let e = e.expect("dir entry");
        let to = dst.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).expect("copy file");
        }
    }
}

/// `git -C DIR ARGS` with the tests' author and committer, never prompting.
pub fn git_command(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "helmigrate tests")
        .env("GIT_AUTHOR_EMAIL", "tests@helmigrate.invalid")
        .env("GIT_COMMITTER_NAME", "helmigrate tests")
        .env("GIT_COMMITTER_EMAIL", "tests@helmigrate.invalid")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null());
    c
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_command(dir, args).output().expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh git repository holding a copy of the real-layout fixture `tests/fixtures/layouts/<name>`.
pub fn fixture_repo(name: &str) -> tempfile::TempDir {
    repo_copy(&workspace().join("tests/fixtures/layouts").join(name))
}

/// A fresh git repository holding a copy of `examples/<name>`, with one commit.
pub fn example_repo(name: &str) -> tempfile::TempDir {
    repo_copy(&workspace().join("examples").join(name))
}

/// A fresh git repository holding a copy of the folder `src`, with one commit.
fn repo_copy(src: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(src, dir.path());
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "initial"]);
    dir
}

/// A git repository made from `(path, content)` pairs.
pub fn repo_from(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (path, content) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
    }
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "initial"]);
    dir
}

/// Every file below `dir` (except .git) with its bytes, keyed by relative path.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).expect("read dir") {
            let e = e.expect("entry");
            if e.file_name() == ".git" {
                continue;
            }
            let p = e.path();
            if e.file_type().expect("type").is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).expect("inside").to_string_lossy().replace('\\', "/");
                out.insert(rel, std::fs::read(&p).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Compare `actual` text with the golden file `tests/golden/<name>`; with HELMIGRATE_BLESS=1,
/// write it instead.
pub fn golden(name: &str, actual: &str) {
    let path = workspace().join("tests/golden").join(name);
    if std::env::var_os("HELMIGRATE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden file {}: run with HELMIGRATE_BLESS=1 to create it", path.display()));
    if expected != actual {
        let diff = similar_lines(&expected, actual);
        panic!("{} differs from the output (HELMIGRATE_BLESS=1 to accept):\n{diff}", path.display());
    }
}

fn similar_lines(a: &str, b: &str) -> String {
    let mut out = String::new();
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            out.push_str(&format!("line {}:\n- {x}\n+ {y}\n", i + 1));
            if out.len() > 2000 {
                break;
            }
        }
    }
    if a.lines().count() != b.lines().count() {
        out.push_str(&format!("({} lines expected, {} actual)\n", a.lines().count(), b.lines().count()));
    }
    out
}

/// One-app fixtures for mapping tests: a repo with `manifests` (JSON or YAML documents, each
/// a file) listed in one kustomization under `apps/demo`, planned with the library.
pub mod fixture {
    use helmigrate::plan::{AppPlan, Options, Plan, Status};
    use serde_json::Value;

    pub fn plan_with(manifests: &[&str], opts: &Options) -> Plan {
        let mut files: Vec<(String, String)> = vec![(".helmigrate.yaml".into(), String::new())];
        let mut resources = Vec::new();
        for (i, m) in manifests.iter().enumerate() {
            let name = format!("m{i}.yaml");
            resources.push(format!("  - {name}\n"));
            files.push((format!("apps/demo/{name}"), m.to_string()));
        }
        files.push(("apps/demo/kustomization.yaml".into(), format!("namespace: ai\nresources:\n{}", resources.concat())));
        let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let dir = super::repo_from(&refs);
        let plan = helmigrate::plan::build(&dir.path().join("apps/demo"), opts).expect("plan builds");
        drop(dir);
        plan
    }

    /// Plan a single app and return it.
    pub fn app(manifests: &[&str]) -> AppPlan {
        let plan = plan_with(manifests, &Options::default());
        assert_eq!(plan.apps.len(), 1, "expected one converted app, skipped: {:?}", plan.skipped);
        plan.apps.into_iter().next().expect("one app")
    }

    /// A values path (`a.b.0.c`).
    pub fn at<'a>(app: &'a AppPlan, path: &str) -> Option<&'a Value> {
        let mut v = &app.values;
        for p in path.split('.') {
            v = match p.parse::<usize>() {
                Ok(i) if v.is_array() => v.get(i)?,
                _ => v.get(p)?,
            };
        }
        Some(v)
    }

    /// The ledger entry for `field`, asserting there is exactly one with that status.
    pub fn ledger<'a>(app: &'a AppPlan, field: &str, status: Status) -> &'a helmigrate::plan::Entry {
        let found: Vec<_> = app.ledger.iter().filter(|e| e.field == field && e.status == status).collect();
        assert!(!found.is_empty(), "no {status:?} ledger entry for `{field}` in {:#?}", app.ledger);
        found[0]
    }

    /// A Deployment/StatefulSet manifest with one container, as JSON, edited by `f`.
    pub fn workload(kind: &str, name: &str, image: &str, f: impl FnOnce(&mut Value)) -> String {
        let mut v = serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": { "name": name },
            "spec": {
                "selector": { "matchLabels": { "app": name } },
                "template": {
                    "metadata": { "labels": { "app": name } },
                    "spec": { "containers": [ { "name": name, "image": image } ] }
                }
            }
        });
        f(&mut v);
        serde_json::to_string_pretty(&v).expect("json")
    }

    pub fn service(name: &str, selector: &str, port: i64, target: Value) -> String {
        serde_json::to_string_pretty(&serde_json::json!({
            "apiVersion": "v1", "kind": "Service", "metadata": { "name": name },
            "spec": { "selector": { "app": selector }, "ports": [ { "name": "http", "port": port, "targetPort": target } ] }
        })).expect("json")
    }

    /// The main container of a `workload` manifest.
    pub fn container(v: &mut Value) -> &mut Value {
        &mut v["spec"]["template"]["spec"]["containers"][0]
    }

    pub fn pod(v: &mut Value) -> &mut Value {
        &mut v["spec"]["template"]["spec"]
    }
}

/// Secret values planted by [`apply_example`]: no output of helmigrate may ever contain them.
pub const PLANTED_SECRETS: [&str; 3] = ["pl4nted-webui-key-0001", "pl4nted-client-id-0002", "pl4nted-client-secret-0003"];

/// Apply the example app group (`examples/home-infra/kubernetes/apps/base/ai`) into namespace
/// `ns` of the test cluster, as Flux would have before the migration, with a plain Secret
/// holding [`PLANTED_SECRETS`] in place of the SOPS one.
pub fn apply_example(env: &testenv::TestEnv, ns: &str) {
    let path = workspace().join("examples/home-infra/kubernetes/apps/base/ai");
    let out = env.kubectl().arg("kustomize").arg(&path).output().expect("kubectl kustomize");
    assert!(out.status.success(), "kustomize: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut items = Vec::new();
    for d in helmigrate::yaml::split_documents(&text).iter().filter(|d| !d.is_blank()) {
        let mut v = helmigrate::yaml::parse_document("kustomize output", d).expect("kustomize output parses");
        if v["kind"] == "Namespace" || v["kind"] == "Secret" {
            continue;
        }
        v["metadata"]["namespace"] = ns.into();
        items.push(v);
    }
    items.push(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "open-webui-secrets", "namespace": ns},
        "stringData": {"webui-secret-key": PLANTED_SECRETS[0], "oauth-client-id": PLANTED_SECRETS[1], "oauth-client-secret": PLANTED_SECRETS[2]}
    }));
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    let file = env.dir().join(format!("example-{ns}.json"));
    std::fs::write(&file, serde_json::to_vec(&list).expect("json")).expect("write list");
    env.kubectl_run(&["apply", "-f", file.to_str().expect("utf-8 path")]).expect("apply example");
}

/// Step 1 of the hand-over done in the cluster, as Flux applies `convert --prepare`'s commit:
/// every object the live plan of `ns` takes over gets Helm's ownership marks and
/// `kustomize.toolkit.fluxcd.io/prune: disabled`. Before that, the live plan is blocked.
pub fn mark_step_one(env: &testenv::TestEnv, ns: &str) {
    let r = helmigrate_live(env, &["convert", "-n", ns, "-o", "json", "--fallback", "app-template"]);
    assert_eq!(r.code, 1, "an unmarked hand-over blocks the live plan: {}", r.stderr);
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).expect("plan json");
    let mut marked = 0;
    for app in plan["apps"].as_array().expect("apps") {
        let release = app["releaseName"].as_str().expect("releaseName");
        for t in app["handover"]["takeovers"].as_array().into_iter().flatten() {
            let (kind, name) = (t["kind"].as_str().expect("kind").to_lowercase(), t["name"].as_str().expect("name"));
            env.kubectl_run(&["-n", ns, "annotate", "--overwrite", &kind, name, &format!("meta.helm.sh/release-name={release}"),
                &format!("meta.helm.sh/release-namespace={ns}"), "kustomize.toolkit.fluxcd.io/prune=disabled"]).expect("annotate");
            env.kubectl_run(&["-n", ns, "label", "--overwrite", &kind, name, "app.kubernetes.io/managed-by=Helm"]).expect("label");
            marked += 1;
        }
    }
    assert!(marked > 0, "the plan takes nothing over: {}", r.stdout);
}

/// `kubectl-helmigrate --kubeconfig <test cluster> ARGS` in a temp dir.
pub fn helmigrate_live(env: &testenv::TestEnv, args: &[&str]) -> Run {
    let mut full = vec!["--kubeconfig", env.kubeconfig().to_str().expect("utf-8 path")];
    full.extend_from_slice(args);
    helmigrate(&full, &std::env::temp_dir())
}

/// A kubeconfig for ServiceAccount `sa` in `ns` (a bound token from `kubectl create token`).
pub fn service_account_kubeconfig(env: &testenv::TestEnv, ns: &str, sa: &str, dir: &Path) -> PathBuf {
    env.kubectl_run(&["-n", ns, "create", "serviceaccount", sa]).expect("create sa");
    let token = env.kubectl_run(&["-n", ns, "create", "token", sa, "--duration=1h"]).expect("create token");
    let ca = env
        .kubectl_run(&["config", "view", "--raw", "--minify", "-o", "jsonpath={.clusters[0].cluster.certificate-authority-data}"])
        .expect("ca");
    let file = dir.join(format!("{sa}.kubeconfig"));
    std::fs::write(&file, format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {}\n    certificate-authority-data: {}\n\
         users:\n- name: {sa}\n  user:\n    token: {}\ncontexts:\n- name: {sa}\n  context: {{cluster: test, user: {sa}, namespace: {ns}}}\ncurrent-context: {sa}\n",
        env.apiserver_url(), ca.trim(), token.trim()
    )).expect("write kubeconfig");
    file
}
