//! The whole Flux loop for real: a working copy of the example repo is pushed to the loopback Git
//! server, source-controller clones it, kustomize-controller applies it with `prune: true` (the
//! repo's own clusters/home Kustomizations, bootstrapped by one root Kustomization), and
//! helm-controller installs the **real** ollama 1.39.0 and open-webui 10.2.1 charts from the
//! loopback Helm repository; kwok runs the pods.
//!
//! 1. A naive hand migration (delete the claim and the Service from Git, add a HelmRelease) loses
//!    the claim: kustomize-controller prunes it, and Flux is green all the same. This is what
//!    helmigrate exists to prevent; kept as a regression guard for the loop itself.
//! 2. helmigrate's two-step hand-over (`--prepare --write`, push; `--write --chart-repo`, push)
//!    keeps the claims (uid, volume) and the Services (uid, clusterIP), Helm adopts the Services,
//!    the releases become Ready, verify passes (probe skipped under kwok).
//! 3. `rollback --write --commit --execute` then puts the raw workloads back through the same
//!    loop (push, resume the suspended Kustomization), claims intact.
//! 4. Live `convert -n NS` of a migrated namespace proposes nothing new and blocks nothing.
//!
//! Each test has its own namespace, Git repository and Flux objects (named after the namespace,
//! in `flux-system`); the example's `namespace: ai` is rewritten to it, and its SOPS Secret (no
//! key here) is replaced by a plain one. Under kwok there is no volume content to check, so a
//! claim "survives" when its uid and bound volume are unchanged.

use std::path::Path;
use std::time::Duration;

use helmigrate_tests::flux::{self, FLUX_NS};
use helmigrate_tests::testenv::TestEnv;
use helmigrate_tests::{PLANTED_SECRETS, cluster, example_repo, git, helmigrate, snapshot};
use serde_json::Value;

const APPS: &str = "kubernetes/apps/base/ai";
const SOURCES: &str = "kubernetes/infrastructure/controllers/helm-repositories.yaml";
const SYNC: Duration = Duration::from_secs(300);
const RELEASE: Duration = Duration::from_secs(420);

fn get(env: &TestEnv, ns: &str, what: &str) -> Option<Value> {
    env.kubectl_run(&["-n", ns, "get", what, "-o", "json"]).ok().map(|s| serde_json::from_str(&s).unwrap())
}

fn must(env: &TestEnv, ns: &str, what: &str) -> Value {
    get(env, ns, what).unwrap_or_else(|| panic!("{what} does not exist in {ns}"))
}

fn edit(dir: &Path, file: &str, f: impl FnOnce(&str) -> String) {
    let p = dir.join(file);
    let old = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{file}: {e}"));
    let new = f(&old);
    assert_ne!(old, new, "{file}: edit changed nothing");
    std::fs::write(&p, new).unwrap();
}

/// The example repo, committed, with its app namespace `ai` renamed to `ns`, its Flux objects
/// (clusters/home) named after `ns` (`<ns>-infra`, `<ns>-apps`, GitRepository `<ns>`: tests run
/// side by side on one control plane), and the SOPS Secret replaced by a plain one holding
/// [`PLANTED_SECRETS`] (no decryption key here: kustomize-controller refuses an encrypted Secret,
/// so the apps Kustomization loses its `decryption`, and its `wait`).
fn example_in(ns: &str) -> tempfile::TempDir {
    let repo = example_repo("home-infra");
    let dir = repo.path();
    edit(dir, "clusters/home/apps.yaml", |t| {
        let t = t.replace("  name: apps\n", &format!("  name: {ns}-apps\n"))
            .replace("    - name: infra-controllers\n", &format!("    - name: {ns}-infra\n"))
            .replace("    name: flux-system\n", &format!("    name: {ns}\n"))
            // no health checks: under kwok and a busy machine they outlast the tests' waits; the
            // tests wait for the releases and objects they check
            .replace("  wait: true\n", "  wait: false\n");
        t[..t.find("  decryption:\n").expect("decryption in apps.yaml")].to_string()
    });
    edit(dir, "clusters/home/infrastructure.yaml", |t| {
        t.replace("  name: infra-controllers\n", &format!("  name: {ns}-infra\n")).replace("    name: flux-system\n", &format!("    name: {ns}\n"))
    });
    edit(dir, &format!("{APPS}/kustomization.yaml"), |t| t.replace("namespace: ai\n", &format!("namespace: {ns}\n")));
    edit(dir, &format!("{APPS}/namespace.yaml"), |t| t.replace("name: ai\n", &format!("name: {ns}\n")));
    edit(dir, &format!("{APPS}/open-webui/secret.enc.yaml"), |_| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: open-webui-secrets\ntype: Opaque\nstringData:\n  webui-secret-key: {}\n  oauth-client-id: {}\n  oauth-client-secret: {}\n",
            PLANTED_SECRETS[0], PLANTED_SECRETS[1], PLANTED_SECRETS[2]
        )
    });
    git(dir, &["commit", "-q", "-am", &format!("test: apps in namespace {ns}; a plain Secret for the SOPS one")]);
    repo
}

/// The Flux objects of one test, as `flux bootstrap` would leave them: GitRepository
/// `flux-system/<name>` and a Kustomization `flux-system/<name>` applying ./clusters/home, whose
/// Kustomizations `<name>-infra` (./kubernetes/infrastructure/controllers) and `<name>-apps`
/// (./kubernetes/apps/base, `wait` turned off) apply the rest, all with `prune: true`.
struct Loop<'a> {
    env: &'a TestEnv,
    name: String,
}

impl<'a> Loop<'a> {
    /// Push the working copy, create the Flux objects and wait until both Kustomizations applied it.
    fn start(env: &'a TestEnv, name: &str, dir: &Path) -> Loop<'a> {
        let sha = flux::push(env, dir, name, "initial");
        flux::git_repository(env, FLUX_NS, name, &flux::repo_url(env, name));
        let l = Loop { env, name: name.to_string() };
        flux::kustomization(env, FLUX_NS, name, name, "./clusters/home", true);
        l.wait(&sha);
        l
    }

    fn infra(&self) -> String {
        format!("{}-infra", self.name)
    }

    fn apps(&self) -> String {
        format!("{}-apps", self.name)
    }

    fn wait(&self, sha: &str) {
        flux::wait_applied(self.env, FLUX_NS, &self.name, sha, SYNC);
        flux::wait_applied(self.env, FLUX_NS, &self.infra(), sha, SYNC);
        flux::wait_applied(self.env, FLUX_NS, &self.apps(), sha, SYNC);
    }

    /// Commit what changed (if anything), push, and wait until Flux applied it. Returns the sha.
    fn sync(&self, dir: &Path, msg: &str) -> String {
        let sha = flux::push(self.env, dir, &self.name, msg);
        flux::request_reconcile(self.env, "gitrepositories.source.toolkit.fluxcd.io", FLUX_NS, &self.name);
        self.wait(&sha);
        sha
    }
}

/// uid (and spec.volumeName) of a claim that must survive.
fn claim(env: &TestEnv, ns: &str, name: &str) -> (String, String) {
    let c = must(env, ns, &format!("pvc/{name}"));
    assert!(c["metadata"]["deletionTimestamp"].is_null(), "pvc/{name} is being deleted: {c:#}");
    (c["metadata"]["uid"].as_str().unwrap().to_string(), c["spec"]["volumeName"].as_str().unwrap_or("").to_string())
}

/// uid and clusterIP of a Service that must survive.
fn service(env: &TestEnv, ns: &str, name: &str) -> (String, String) {
    let s = must(env, ns, &format!("service/{name}"));
    (s["metadata"]["uid"].as_str().unwrap().to_string(), s["spec"]["clusterIP"].as_str().unwrap().to_string())
}

/// Wait until the claim is bound (kwok's stage gives each pending claim a fake volume).
fn bound(env: &TestEnv, ns: &str, name: &str) {
    env.kubectl_run(&["-n", ns, "wait", "--for=jsonpath={.status.phase}=Bound", &format!("pvc/{name}"), "--timeout=120s"])
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_naive_migration_under_prune_deletes_the_claim() {
    let env = cluster!();
    let ns = env.namespace("naive");
    let repo = example_in(&ns);
    let dir = repo.path();
    let l = Loop::start(env, &ns, dir);
    bound(env, &ns, "open-webui-data");
    let (uid, _) = claim(env, &ns, "open-webui-data");

    // The migration as people do it by hand: the chart "makes its own volume", so the claim and
    // the Service go, the Deployment goes, a HelmRelease (and its HelmRepository) comes in.
    edit(dir, &format!("{APPS}/storage.yaml"), |t| {
        let cut = t.find("---\n# Open WebUI's database").expect("the open-webui-data claim in storage.yaml");
        t[..cut].to_string()
    });
    for f in ["deployment.yaml", "service.yaml"] {
        std::fs::remove_file(dir.join(APPS).join("open-webui").join(f)).unwrap();
    }
    edit(dir, &format!("{APPS}/open-webui/kustomization.yaml"), |t| {
        t.replace("  - deployment.yaml\n", "  - helmrelease.yaml\n").replace("  - service.yaml\n", "")
    });
    std::fs::write(dir.join(APPS).join("open-webui/helmrelease.yaml"), format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: open-webui\nspec:\n  interval: 1h\n  url: {url}\n---\n\
         apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: open-webui\nspec:\n  interval: 30m\n  chart:\n    spec:\n      chart: open-webui\n      version: 10.2.1\n      sourceRef:\n        kind: HelmRepository\n        name: open-webui\n\
         \x20 values:\n    ollama:\n      enabled: false\n    pipelines:\n      enabled: false\n    tika:\n      enabled: false\n    websocket:\n      enabled: false\n    persistence:\n      enabled: true\n",
        url = env.helm_repository()
    )).unwrap();
    l.sync(dir, "move open-webui onto its chart (by hand)");

    // kustomize-controller applied the revision and pruned what left Git: the claim with the data.
    assert!(flux::wait_deleted(env, "pvc", &ns, "open-webui-data", Duration::from_secs(120)), "pvc/open-webui-data was not pruned");
    let ks = must(env, FLUX_NS, &format!("kustomizations.kustomize.toolkit.fluxcd.io/{}", l.apps()));
    let inventory = ks["status"]["inventory"]["entries"].to_string();
    assert!(!inventory.contains("open-webui-data"), "{inventory}");
    // Flux is green all the same: the chart's release installs with a new, empty claim.
    flux::wait_ready(env, "helmreleases.helm.toolkit.fluxcd.io", &ns, "open-webui", RELEASE);
    let claims = env.kubectl_run(&["-n", &ns, "get", "pvc", "-o", "jsonpath={range .items[*]}{.metadata.name}={.metadata.uid}{\"\\n\"}{end}"]).unwrap();
    assert!(!claims.contains(&uid), "the old claim is still there:\n{claims}");
    assert!(!claims.lines().any(|l| l.starts_with("open-webui-data=")), "{claims}");
}

/// A namespace migrated with helmigrate's two-step hand-over through the whole loop (scenario 2),
/// with what must have survived it.
struct Migrated<'a> {
    env: &'a TestEnv,
    ns: String,
    repo: tempfile::TempDir,
    flux: Loop<'a>,
    claims: Vec<(&'static str, (String, String))>,
    services: Vec<(&'static str, (String, String))>,
    kubeconfig: String,
}

impl Migrated<'_> {
    fn dir(&self) -> &Path {
        self.repo.path()
    }

    /// `kubectl-helmigrate --kubeconfig <test cluster> ARGS` in the working copy.
    fn helmigrate(&self, args: &[&str]) -> helmigrate_tests::Run {
        let mut all = vec!["--kubeconfig", self.kubeconfig.as_str()];
        all.extend_from_slice(args);
        helmigrate(&all, self.dir())
    }

    /// The claims (uid, volume) and Services (uid, clusterIP) are the ones from before.
    fn kept(&self, when: &str) {
        for (name, before) in &self.claims {
            assert_eq!(&claim(self.env, &self.ns, name), before, "{when}: pvc/{name} was replaced");
        }
        for (name, before) in &self.services {
            assert_eq!(&service(self.env, &self.ns, name), before, "{when}: service/{name} was replaced (uid, clusterIP)");
        }
    }
}

/// Scenario 2: the raw example runs under Flux; `convert --prepare --write`, push, Flux applies the
/// marks; `convert --write --chart-repo ...`, push, Flux prunes the raw objects and helm-controller
/// installs the real charts, adopting the marked Services; the claims and Services keep their uid
/// (and clusterIP), both HelmReleases are Ready, and verify passes (probe skipped: kwok's pods
/// serve nothing).
fn migrate<'a>(env: &'a TestEnv, prefix: &str) -> Migrated<'a> {
    let ns = env.namespace(prefix);
    let repo = example_in(&ns);
    let dir = repo.path();
    let l = Loop::start(env, &ns, dir);
    for c in ["nfs-ai-models", "open-webui-data"] {
        bound(env, &ns, c);
    }
    let m = Migrated {
        env,
        claims: ["nfs-ai-models", "open-webui-data"].into_iter().map(|c| (c, claim(env, &ns, c))).collect(),
        services: ["ollama", "open-webui"].into_iter().map(|s| (s, service(env, &ns, s))).collect(),
        kubeconfig: env.kubeconfig().to_str().unwrap().to_string(),
        ns,
        repo,
        flux: l,
    };
    let (ns, dir) = (&m.ns, m.dir());

    // Step 1: mark what the charts take over; Flux applies the marks.
    let r = m.helmigrate(&["convert", APPS, "--prepare", "--write", "--commit"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let (ollama_repo, webui_repo) = (format!("ollama={}", env.helm_repository()), format!("open-webui={}", env.helm_repository()));
    let step_two = ["convert", APPS, "--write", "--commit", "--chart-repo", &ollama_repo, "--chart-repo", &webui_repo];

    // Step 2 must not outrun step 1: committed, not pushed, so Flux has not applied the marks.
    let (files, head) = (snapshot(dir), git(dir, &["rev-parse", "HEAD"]));
    let early = m.helmigrate(&step_two);
    assert_eq!(early.code, 1, "{}{}", early.stdout, early.stderr);
    let applied = env.kubectl_run(&["-n", FLUX_NS, "get", "kustomizations.kustomize.toolkit.fluxcd.io", &m.flux.apps(), "-o", "jsonpath={.status.lastAppliedRevision}"]).unwrap();
    let applied = applied.trim();
    for svc in ["ollama", "open-webui"] {
        let why = format!("Service {ns}/{svc} in the cluster lacks step 1's marks");
        assert!(early.stdout.contains(&why), "{why}:\n{}", early.stdout);
    }
    assert!(early.stdout.contains(&format!("step 1 is in Git ({APPS}/ollama/service.yaml) but not live yet; Kustomization {FLUX_NS}/{} has applied {applied}: \
        commit and push it, run `flux reconcile kustomization {} -n {FLUX_NS} --with-source`", m.flux.apps(), m.flux.apps())), "{}", early.stdout);
    assert_eq!((snapshot(dir), git(dir, &["rev-parse", "HEAD"])), (files, head), "a blocked move writes and commits nothing");

    m.flux.sync(dir, "step 1");
    let svc = must(env, ns, "service/ollama");
    assert_eq!(svc["metadata"]["annotations"]["meta.helm.sh/release-name"], "ollama", "{svc:#}");
    m.kept("after step 1");

    // Step 2: the move, the HelmRepositories pointing at the loopback mirror of the real charts
    // (`--chart-repo`, as an air-gapped user would).
    let r = m.helmigrate(&step_two);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let sources = std::fs::read_to_string(dir.join(SOURCES)).unwrap();
    // One HelmRepository per URL: both charts come from the mirror.
    assert!(sources.contains(&format!("url: {}\n", env.helm_repository())), "{sources}");
    assert!(!sources.contains("otwld.github.io") && !sources.contains("helm.openwebui.com"), "{sources}");
    m.flux.sync(dir, "step 2");
    for app in ["ollama", "open-webui"] {
        flux::wait_ready(env, "helmreleases.helm.toolkit.fluxcd.io", ns, app, RELEASE);
    }
    m.kept("after step 2");
    for (name, _) in &m.services {
        let s = must(env, ns, &format!("service/{name}"));
        assert_eq!(s["metadata"]["annotations"]["meta.helm.sh/release-name"], *name, "Helm adopted service/{name}: {s:#}");
    }
    assert!(get(env, ns, "statefulset/ollama").is_none(), "the raw StatefulSet was pruned");

    let v = m.helmigrate(&["verify", "-n", ns, "--skip", "probe", "--wait", "3m", "-o", "json"]);
    let report: Value = serde_json::from_str(&v.stdout).unwrap_or_else(|_| panic!("{}\n{}", v.stdout, v.stderr));
    assert_eq!(v.code, 0, "verify failed:\n{report:#}");
    m
}

/// Scenarios 2 and 3: the two-step hand-over with the real charts, then `rollback --write
/// --execute` puts the raw workloads back through the same loop, claims intact.
#[test]
fn two_step_hand_over_through_flux_keeps_claims_and_services_then_rolls_back() {
    let env = cluster!();
    let m = migrate(env, "loop");
    let (ns, dir) = (&m.ns, m.dir());

    // Files restored and committed, the cluster stepped back, the apps Kustomization suspended
    // until the restore commit is applied.
    let r = m.helmigrate(&["rollback", APPS, "--write", "--commit", "--execute"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let suspended = must(env, FLUX_NS, &format!("kustomizations.kustomize.toolkit.fluxcd.io/{}", m.flux.apps()));
    assert_eq!(suspended["spec"]["suspend"], true, "{}", r.stdout);
    let sha = flux::push(env, dir, ns, "rollback");
    flux::request_reconcile(env, "gitrepositories.source.toolkit.fluxcd.io", FLUX_NS, ns);
    env.kubectl_run(&["-n", FLUX_NS, "patch", "kustomizations.kustomize.toolkit.fluxcd.io", &m.flux.apps(), "--type=merge", "-p", r#"{"spec":{"suspend":false}}"#])
        .unwrap();
    m.flux.wait(&sha);
    assert!(get(env, ns, "helmrelease.helm.toolkit.fluxcd.io/ollama").is_none());
    assert!(get(env, ns, "helmrelease.helm.toolkit.fluxcd.io/open-webui").is_none());
    let sts = must(env, ns, "statefulset/ollama");
    assert_eq!(sts["spec"]["selector"]["matchLabels"]["app"], "ollama");
    let deploy = must(env, ns, "deployment/open-webui");
    assert_eq!(deploy["spec"]["selector"]["matchLabels"]["app"], "open-webui");
    for (name, before) in &m.claims {
        assert_eq!(&claim(env, ns, name), before, "after rollback: pvc/{name} was replaced");
    }
}

/// Scenario 4: live mode on the running result of scenario 2 proposes nothing new and blocks
/// nothing: the Deployments in the namespace are the charts' own (managed by Helm, release of the
/// same name), not raw workloads left beside a HelmRelease.
#[test]
fn live_convert_of_the_migrated_namespace_proposes_nothing() {
    let env = cluster!();
    let m = migrate(env, "live");
    let live = m.helmigrate(&["convert", "-n", &m.ns, "-o", "json"]);
    let plan: Value = serde_json::from_str(&live.stdout).unwrap_or_else(|_| panic!("{}\n{}", live.stdout, live.stderr));
    assert_eq!(plan["apps"].as_array().map(Vec::len), Some(0), "live convert of a migrated namespace proposes:\n{plan:#}");
    assert_eq!(plan["migrated"], serde_json::json!([format!("{}/ollama", m.ns), format!("{}/open-webui", m.ns)]), "{plan:#}");
    assert_eq!(plan["warnings"], serde_json::json!([]), "{plan:#}");
    assert_eq!(live.code, 0, "{plan:#}\n{}", live.stderr);
}

/// The loopback sources: source-controller reads the real chart index over HTTP and
/// app-template 4.1.1 from the OCI registry (`scripts/testenv up` pushed it there).
#[test]
fn the_loopback_helm_and_oci_repositories_serve_the_real_charts() {
    let env = cluster!();
    let ns = env.namespace("sources");
    flux::helm_repository(env, &ns, "mirror", env.helm_repository());
    let repo = flux::wait_ready(env, "helmrepositories.source.toolkit.fluxcd.io", &ns, "mirror", SYNC);
    assert!(repo["status"]["artifact"]["url"].is_string(), "{repo:#}");
    let index = std::fs::read_to_string(helmigrate_tests::workspace().join("../shared/charts/packages/index.yaml")).unwrap();
    for chart in ["ollama", "open-webui", "app-template"] {
        assert!(index.contains(&format!("  {chart}:\n")), "{chart} in index.yaml");
    }
    flux::apply(env, &[serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
        "metadata": {"name": "app-template", "namespace": ns},
        "spec": {"interval": "10m", "url": format!("{}/app-template", env.oci_registry()), "insecure": true,
                 "ref": {"tag": "4.1.1"}, "layerSelector": {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "operation": "copy"}},
    })]);
    let oci = flux::wait_ready(env, "ocirepositories.source.toolkit.fluxcd.io", &ns, "app-template", SYNC);
    assert!(oci["status"]["artifact"]["revision"].as_str().unwrap_or("").starts_with("4.1.1@sha256:"), "{oci:#}");
}
