//! helmigrate as people install it: the release archive of this build installed with the real
//! krew (v0.4.3) and run through the real kubectl (v1.36.3), installed from a Flux plugin catalog
//! with the real flux CLI (v2.9.5) and run through it, and completed by both hosts in cobra's
//! protocol, names coming from the test control plane.
//!
//! Needs `scripts/build-tools` (kubectl, the control plane) and `scripts/build-plugin-tools`
//! (krew, flux); `scripts/test` builds both. Without them these tests fail, naming the script.


use helmigrate_tests::plugin::{Sandbox, completions, dist, platform, tools};
use helmigrate_tests::testenv::TestEnv;
use helmigrate_tests::{Run, example_repo, git, workspace};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn ok(what: &str, r: &Run) {
    assert_eq!(r.code, 0, "{what}: exit {}\nstdout:\n{}\nstderr:\n{}", r.code, r.stdout, r.stderr);
}

fn apply(env: &TestEnv, yaml: &str) {
    env.apply(yaml);
}

/// A HelmRepository `tiny` serving the test chart and a HelmRelease `web` of it, Ready, in `ns`.
fn release(env: &TestEnv, ns: &str) {
    let repo = env.chart_repo(&[workspace().join("tests/charts/tiny")]);
    apply(env, &format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata: {{ name: tiny, namespace: {ns} }}\nspec: {{ url: \"{}\", interval: 1h }}\n---\n\
         apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {{ name: web, namespace: {ns} }}\n\
         spec:\n  interval: 1h\n  chart:\n    spec:\n      chart: tiny\n      version: \"0.1.0\"\n      sourceRef: {{ kind: HelmRepository, name: tiny }}\n",
        repo.url
    ));
    env.kubectl_run(&["-n", ns, "wait", "--for=condition=Ready", "helmrelease/web", "--timeout=120s"]).expect("HelmRelease web Ready");
}

fn head_commit() -> String {
    git(&workspace(), &["rev-parse", "--short=12", "HEAD"]).trim().to_string()
}

/// `kubectl krew install --manifest --archive` of this build's archive into a fresh KREW_ROOT;
/// kubectl lists the plugin without warnings and runs it (help, version, convert on the example,
/// completion through kubectl_complete-helmigrate); `kubectl krew uninstall` removes it.
#[test]
fn krew_installs_the_archive_and_kubectl_runs_it() {
    // Both need the control plane: under `scripts/test --quick` they skip with the cluster tests.
    let env = helmigrate_tests::cluster!();
    let t = tools();
    let d = dist();
    let mut sb = Sandbox::new();
    let krew_root = sb.home().join(".krew");
    sb.env.insert("KREW_ROOT".into(), krew_root.to_string_lossy().into_owned());
    sb.env.insert("KREW_NO_UPGRADE_CHECK".into(), "1".into());
    sb.env.insert("KUBECONFIG".into(), env.kubeconfig().to_string_lossy().into_owned());
    sb.path.push(krew_root.join("bin"));
    sb.link_into_path(&[("kubectl", &t.kubectl), ("kubectl-krew", &t.krew)]);
    let home = sb.home().to_path_buf();
    let kubectl = |args: &[&str]| sb.run(&t.kubectl, args, &home);

    let archive = d.archive.to_string_lossy().into_owned();
    let manifest = d.krew_manifest.to_string_lossy().into_owned();
    let r = kubectl(&["krew", "install", &format!("--manifest={manifest}"), &format!("--archive={archive}")]);
    ok("krew install", &r);
    assert!(r.stderr.contains("Installed plugin: helmigrate"), "{}", r.stderr);
    assert!(r.stderr.contains("docs/rbac-reconcile.yaml"), "the caveats are shown: {}", r.stderr);
    let store = krew_root.join(format!("store/helmigrate/v{VERSION}"));
    for f in ["kubectl-helmigrate", "kubectl_complete-helmigrate", "LICENSE", "man/man1/kubectl-helmigrate.1", "man/man1/kubectl-helmigrate-convert.1"] {
        assert!(store.join(f).is_file(), "{f} not installed in {}", store.display());
    }
    assert!(krew_root.join("bin/kubectl-helmigrate").exists(), "krew links the bin");
    let receipt = std::fs::read_to_string(krew_root.join("receipts/helmigrate.yaml")).expect("krew receipt");
    assert!(receipt.contains(&format!("version: v{VERSION}")), "{receipt}");
    // `krew list` wants a local index (a git clone of krew-index, out of reach here): an empty one
    let index = krew_root.join("index/default");
    std::fs::create_dir_all(index.join("plugins")).expect("mkdir index");
    git(&index, &["init", "-q"]);
    let r = kubectl(&["krew", "list"]);
    ok("krew list", &r);
    // installed from a manifest, not an index: krew lists it as detached
    assert!(r.stdout.lines().any(|l| l.trim() == "detached/helmigrate"), "{}", r.stdout);

    // kubectl finds it, nothing is shadowed or overshadowed
    let r = kubectl(&["plugin", "list"]);
    ok("kubectl plugin list", &r);
    assert!(r.stdout.contains(&format!("{}/bin/kubectl-helmigrate", krew_root.display())), "{}", r.stdout);
    assert_eq!(r.stderr.trim(), "", "kubectl plugin list warns:\n{}", r.stderr);
    // kubectl's help lists it once, under the plugins: no builtin of that name
    let r = kubectl(&["help"]);
    let named: Vec<&str> = r.stdout.lines().filter(|l| l.trim_start().starts_with("helmigrate ")).collect();
    assert_eq!(named.len(), 1, "{}", r.stdout);
    assert!(named[0].contains("is a plugin installed by the user"), "{}", r.stdout);
    assert!(r.stdout.find("Subcommands provided by plugins:") < r.stdout.find(named[0]), "{}", r.stdout);

    let r = kubectl(&["helmigrate", "--help"]);
    ok("kubectl helmigrate --help", &r);
    assert!(r.stdout.contains("Usage: kubectl helmigrate [OPTIONS] <COMMAND>"), "{}", r.stdout);
    for sub in ["convert", "reconcile", "verify", "rollback", "completion"] {
        assert!(r.stdout.contains(&format!("\n  {sub} ")), "{sub} missing from help:\n{}", r.stdout);
    }
    let r = kubectl(&["helmigrate", "convert", "--help"]);
    assert!(r.stdout.contains("Usage: kubectl helmigrate convert [OPTIONS] [PATH]"), "{}", r.stdout);
    let r = kubectl(&["helmigrate", "--version"]);
    ok("kubectl helmigrate --version", &r);
    assert_eq!(r.stdout.trim(), format!("kubectl-helmigrate {VERSION} (commit {})", head_commit()));
    let r = kubectl(&["helmigrate", "convert", "--bogus"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("Usage: kubectl helmigrate convert"), "{}", r.stderr);

    // convert on the example through kubectl: the same plan as the binary run directly
    let repo = example_repo("home-infra");
    let apps = "kubernetes/apps/base/ai";
    let kustomize = [("HELMIGRATE_KUSTOMIZE", t.kubectl.to_str().expect("utf-8"))];
    let via_kubectl = sb.run_with(&t.kubectl, &["helmigrate", "convert", apps], repo.path(), &kustomize);
    let direct = sb.run_with(&store.join("kubectl-helmigrate"), &["convert", apps], repo.path(), &kustomize);
    ok("kubectl helmigrate convert", &via_kubectl);
    assert_eq!(via_kubectl.stdout, direct.stdout);
    assert!(via_kubectl.stdout.contains("ollama") && via_kubectl.stdout.contains("open-webui"), "{}", via_kubectl.stdout);
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), "", "a dry run writes nothing");

    // completion through kubectl: the helper linked next to the plugin, as the caveats say
    std::os::unix::fs::symlink(store.join("kubectl_complete-helmigrate"), krew_root.join("bin/kubectl_complete-helmigrate")).expect("link helper");
    let ns = env.namespace("krew-complete");
    release(env, &ns);
    let complete = |args: &[&str]| {
        let mut all = vec!["__complete", "helmigrate"];
        all.extend_from_slice(args);
        let r = sb.run(&t.kubectl, &all, repo.path());
        ok(&format!("kubectl __complete helmigrate {}", args.join(" ")), &r);
        completions(&r.stdout)
    };
    let (c, dir) = complete(&[""]);
    assert_eq!(c, ["convert", "reconcile", "verify", "rollback", "completion", "help"]);
    assert_eq!(dir, Some(4), "no file names");
    let (c, dir) = complete(&["convert", "kubernetes/apps/b"]);
    assert_eq!(c, ["kubernetes/apps/base/"]);
    assert_eq!(dir, Some(6), "no space after a folder, no file names");
    assert_eq!(complete(&["convert", "--wr"]).0, ["--write"]);
    assert_eq!(complete(&["--context", ""]).0, ["helmigrate-testenv"]);
    let (c, _) = complete(&["-n", ""]);
    assert!(c.contains(&ns) && c.contains(&"default".to_string()), "{c:?}");
    assert_eq!(complete(&["-n", &ns, "reconcile", "hr", ""]).0, ["web"]);
    assert_eq!(complete(&["reconcile", "-n", &ns, "source", "helm", "t"]).0, ["tiny"]);
    assert_eq!(complete(&["--namespace", &ns, "verify", "--app", ""]).0, ["web"]);
    let nodesc = sb.run(&t.kubectl, &["__completeNoDesc", "helmigrate", ""], &home);
    assert!(nodesc.stdout.starts_with("convert\nreconcile\n"), "{}", nodesc.stdout);

    let r = kubectl(&["krew", "uninstall", "helmigrate"]);
    ok("krew uninstall", &r);
    assert!(!krew_root.join("bin/kubectl-helmigrate").exists() && !store.exists(), "krew left files behind");
    let r = kubectl(&["helmigrate", "--help"]);
    assert_ne!(r.code, 0, "still runs after uninstall: {r:?}");
}

/// A Flux plugin catalog served over HTTP: `flux plugin install helmigrate` downloads and
/// verifies this build's archive, `flux helmigrate` runs it with flux's global flags
/// (namespace defaulting like flux), reconciles a HelmRelease of the test cluster, completes
/// through `flux __complete`; `flux plugin uninstall` removes it.
#[test]
fn flux_installs_from_a_plugin_catalog_and_runs_it() {
    // Both need the control plane: under `scripts/test --quick` they skip with the cluster tests.
    let env = helmigrate_tests::cluster!();
    let t = tools();
    let d = dist();
    let mut sb = Sandbox::new();
    sb.link_into_path(&[("flux", &t.flux), ("kubectl", &t.kubectl)]);
    let home = sb.home().to_path_buf();

    // the catalog: our manifest with the archive's URL on the local server, and a catalog.yaml
    let catalog = home.join("catalog");
    std::fs::create_dir_all(&catalog).expect("mkdir");
    let url = helmigrate_tests::testenv::serve_dir(&catalog);
    let archive_name = format!("helmigrate-{}.tar.gz", platform());
    std::fs::copy(&d.archive, catalog.join(&archive_name)).expect("copy archive");
    let manifest = std::fs::read_to_string(&d.flux_manifest).expect("flux manifest");
    let releases = format!("https://github.com/helmigrate/helmigrate/releases/download/v{VERSION}/");
    assert!(manifest.contains(&format!("{releases}{archive_name}")), "{manifest}");
    std::fs::write(catalog.join("helmigrate.yaml"), manifest.replace(&releases, &format!("{url}/"))).expect("write manifest");
    std::fs::write(catalog.join("catalog.yaml"), "apiVersion: cli.fluxcd.io/v1beta1\nkind: PluginCatalog\nplugins:\n  - name: helmigrate\n    description: Move raw workloads in a Flux GitOps repo onto upstream Helm charts\n    homepage: https://github.com/helmigrate/helmigrate\n    source: https://github.com/helmigrate/helmigrate\n    license: Apache-2.0\n").expect("write catalog");
    sb.env.insert("FLUXCD_PLUGIN_CATALOG".into(), format!("{url}/"));
    let flux = |args: &[&str]| sb.run(&t.flux, args, &home);

    let r = flux(&["plugin", "search"]);
    ok("flux plugin search", &r);
    assert!(r.stdout.contains("helmigrate"), "{}", r.stdout);
    let r = flux(&["plugin", "install", "helmigrate"]);
    ok("flux plugin install", &r);
    assert!(r.stderr.contains(&format!("installed helmigrate v{VERSION}")), "{}", r.stderr);
    let installed = home.join(".fluxcd/plugins/flux-helmigrate");
    assert!(installed.is_file(), "not in ~/.fluxcd/plugins");
    let r = flux(&["plugin", "list"]);
    ok("flux plugin list", &r);
    assert!(r.stdout.lines().any(|l| l.contains("helmigrate") && l.contains(VERSION)), "{}", r.stdout);
    let r = flux(&["--help"]);
    assert!(r.stdout.contains("Plugin Commands:") && r.stdout.contains("helmigrate"), "{}", r.stdout);

    let r = flux(&["helmigrate", "--help"]);
    ok("flux helmigrate --help", &r);
    assert!(r.stdout.contains("Usage: flux helmigrate [OPTIONS] <COMMAND>"), "{}", r.stdout);
    assert!(r.stdout.contains("--ns-follows-kube-context") && r.stdout.contains("--timeout"), "{}", r.stdout);
    let r = flux(&["helmigrate", "reconcile", "--help"]);
    assert!(r.stdout.contains("Usage: flux helmigrate reconcile [OPTIONS]"), "{}", r.stdout);
    let r = flux(&["helmigrate", "--version"]);
    assert_eq!(r.stdout.trim(), format!("flux-helmigrate {VERSION} (commit {})", head_commit()));

    // reconcile against the test control plane, with the flags flux users type
    let ns = env.namespace("flux-plugin");
    release(env, &ns);
    let kc = env.kubeconfig().to_str().expect("utf-8").to_string();
    let r = flux(&["helmigrate", "reconcile", "hr", "web", "-n", &ns, "--kubeconfig", &kc, "--context", "helmigrate-testenv", "--timeout", "2m"]);
    ok("flux helmigrate reconcile", &r);
    assert!(r.stdout.contains(&format!("► annotating HelmRelease {ns}/web")) && r.stdout.contains("✔"), "{}", r.stdout);
    // -n defaults like flux: $FLUX_SYSTEM_NAMESPACE, else flux-system
    let r = sb.run_with(&t.flux, &["helmigrate", "--kubeconfig", &kc, "reconcile", "web"], &home, &[("FLUX_SYSTEM_NAMESPACE", &ns)]);
    ok("flux helmigrate reconcile with FLUX_SYSTEM_NAMESPACE", &r);
    assert!(r.stdout.contains(&format!("► annotating HelmRelease {ns}/web")), "{}", r.stdout);
    let r = flux(&["helmigrate", "--kubeconfig", &kc, "reconcile", "web"]);
    assert_eq!(r.code, 7, "{r:?}");
    assert!(r.stderr.contains("flux-system"), "looked in flux-system: {}", r.stderr);
    // the global --timeout before the subcommand bounds the wait
    let r = flux(&["helmigrate", "--kubeconfig", &kc, "-n", &ns, "--timeout", "1ms", "reconcile", "web"]);
    assert_eq!(r.code, 8, "{r:?}");

    // completion through flux: flux runs `flux-helmigrate __complete …`
    let complete = |args: &[&str], extra: &[(&str, &str)]| {
        let mut all = vec!["__complete", "helmigrate"];
        all.extend_from_slice(args);
        let r = sb.run_with(&t.flux, &all, &home, extra);
        ok(&format!("flux __complete helmigrate {}", args.join(" ")), &r);
        completions(&r.stdout)
    };
    let (c, dir) = complete(&[""], &[]);
    assert_eq!(c, ["convert", "reconcile", "verify", "completion", "help"]);
    assert_eq!(dir, Some(4));
    assert_eq!(complete(&["--kubeconfig", &kc, "-n", &ns, "reconcile", "hr", ""], &[]).0, ["web"]);
    assert_eq!(complete(&["--kubeconfig", &kc, "reconcile", "w"], &[("FLUX_SYSTEM_NAMESPACE", &ns)]).0, ["web"]);
    assert!(complete(&["--kubeconfig", &kc, "-n", ""], &[]).0.contains(&ns));
    assert!(complete(&["reconcile", "--"], &[]).0.contains(&"--with-source".to_string()));

    let r = flux(&["plugin", "uninstall", "helmigrate"]);
    ok("flux plugin uninstall", &r);
    assert!(!installed.exists(), "flux left the binary");
    let r = flux(&["helmigrate", "--help"]);
    assert!(!r.stdout.contains("Usage: flux helmigrate"), "{r:?}");

    // the other way in: the binary placed in $FLUXCD_PLUGINS by hand
    let plugins = home.join("plugins");
    std::fs::create_dir_all(&plugins).expect("mkdir");
    let out = std::process::Command::new("tar").arg("-xzf").arg(&d.archive).arg("-C").arg(&plugins).arg("flux-helmigrate").output().expect("tar");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = sb.run_with(&t.flux, &["helmigrate", "--version"], &home, &[("FLUXCD_PLUGINS", plugins.to_str().expect("utf-8"))]);
    ok("flux helmigrate from $FLUXCD_PLUGINS", &r);
    assert!(r.stdout.starts_with(&format!("flux-helmigrate {VERSION}")), "{}", r.stdout);
}

/// The archive holds what the manifests and the docs promise, with sane modes.
#[test]
fn archive_holds_binaries_helper_license_man_pages_and_completions() {
    let d = dist();
    let out = std::process::Command::new("tar").arg("-tvzf").arg(&d.archive).output().expect("tar");
    assert!(out.status.success());
    let listing = String::from_utf8_lossy(&out.stdout);
    let entries: Vec<(&str, &str)> = listing.lines().map(|l| (l.split_whitespace().next().unwrap_or(""), l.split_whitespace().last().unwrap_or(""))).collect();
    let mode = |name: &str| entries.iter().find(|(_, n)| *n == name).map(|(m, _)| *m).unwrap_or_else(|| panic!("{name} not in the archive:\n{listing}"));
    for exe in ["kubectl-helmigrate", "flux-helmigrate", "kubectl_complete-helmigrate"] {
        assert_eq!(mode(exe), "-rwxr-xr-x", "{exe}");
    }
    for f in ["LICENSE", "man/man1/kubectl-helmigrate.1", "man/man1/flux-helmigrate-reconcile.1", "completions/kubectl-helmigrate.bash", "completions/_kubectl-helmigrate", "completions/flux-helmigrate.fish"] {
        assert_eq!(mode(f), "-rw-r--r--", "{f}");
    }
    assert!(listing.lines().all(|l| l.contains(" 0/0 ")), "owner 0/0 everywhere:\n{listing}");
    let sum = std::fs::read_to_string(d.archive.with_extension("gz.sha256")).expect("sha256 file");
    let krew = std::fs::read_to_string(&d.krew_manifest).expect("krew manifest");
    let flux = std::fs::read_to_string(&d.flux_manifest).expect("flux manifest");
    let hex = sum.split_whitespace().next().expect("sum");
    assert!(krew.contains(&format!("sha256: \"{hex}\"")), "krew manifest has the archive's sum");
    assert!(flux.contains(&format!("checksum: sha256:{hex}")), "flux manifest has the archive's sum");
}

/// `kubectl-helmigrate completion bash` completes in a real bash: subcommands, a subcommand's
/// flags, enumerated values.
#[test]
fn bash_completion_script_completes_in_bash() {
    let dir = tempfile::tempdir().expect("tmp");
    let script = dir.path().join("kubectl-helmigrate.bash");
    let r = helmigrate_tests::helmigrate(&["completion", "bash"], dir.path());
    assert_eq!(r.code, 0, "{r:?}");
    std::fs::write(&script, &r.stdout).expect("write script");
    let probe = format!(
        r#"source {script}
complete_line() {{ COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${{#COMP_LINE}}; COMPREPLY=()
  _kubectl__helmigrate kubectl-helmigrate "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"; echo "${{COMPREPLY[*]}}"; }}
complete -p kubectl-helmigrate
complete_line kubectl-helmigrate re
complete_line kubectl-helmigrate convert --wr
complete_line kubectl-helmigrate convert -o ""
complete_line kubectl-helmigrate completion ""
"#,
        script = script.display()
    );
    let out = std::process::Command::new("bash").arg("--norc").arg("-c").arg(&probe).output().expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("complete ") && lines[0].ends_with(" -F _kubectl__helmigrate kubectl-helmigrate"), "{stdout}");
    assert_eq!(lines[1..4], ["reconcile", "--write", "text json yaml"], "{stdout}");
    assert!(lines[4].ends_with(" bash zsh fish"), "{stdout}");
    for (shell, marker) in [("zsh", "#compdef flux-helmigrate"), ("fish", "complete -c flux-helmigrate")] {
        let r = helmigrate_tests::run("flux-helmigrate", &["completion", shell], dir.path());
        assert_eq!(r.code, 0);
        assert!(r.stdout.contains(marker), "{shell}: {}", &r.stdout[..r.stdout.len().min(300)]);
    }
}
