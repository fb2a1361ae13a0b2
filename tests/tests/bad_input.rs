//! Bad input: every case gets one line on stderr ("error: failed to …") naming the file (and line
//! where known), exit code 2, no panic, no hang, and nothing written even with `--write`.
//! The edge cases that are valid YAML (empty documents, `...`, CRLF, a BOM) must convert.

use std::path::Path;

use helmigrate_tests::{Run, helmigrate, repo_from, snapshot};

const KUSTOMIZATION: &str = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n";

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ollama
spec:
  replicas: 1
  selector:
    matchLabels:
      app: ollama
  template:
    metadata:
      labels:
        app: ollama
    spec:
      containers:
        - name: ollama
          image: ollama/ollama:0.15.2
          ports:
            - name: http
              containerPort: 11434
";

const SERVICE: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: ollama
spec:
  selector:
    app: ollama
  ports:
    - name: http
      port: 11434
      targetPort: http
";

const APP_KUSTOMIZATION: &str = "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: ai
resources:
  - deployment.yaml
  - service.yaml
";

/// A repo with one convertible app under `app/`, plus `extra` files.
fn app_repo(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let mut files = vec![
        ("app/kustomization.yaml", APP_KUSTOMIZATION),
        ("app/deployment.yaml", DEPLOYMENT),
        ("app/service.yaml", SERVICE),
    ];
    for (p, c) in extra {
        files.retain(|(q, _)| q != p);
        files.push((p, c));
    }
    repo_from(&files)
}

/// `kustomization.yaml` listing `resources`.
fn kustomization(resources: &[&str]) -> String {
    let mut k = format!("{KUSTOMIZATION}resources:\n");
    for r in resources {
        k.push_str(&format!("  - {r}\n"));
    }
    k
}

/// The one-line error contract, for any run that failed.
fn assert_one_line_error(r: &Run) {
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected exactly one line on stderr, got:\n{}", r.stderr);
    assert!(lines[0].starts_with("error: failed to"), "stderr: {}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "stderr: {}", r.stderr);
    assert!(!r.stderr.contains("RUST_BACKTRACE"), "stderr: {}", r.stderr);
}

/// Run `convert PATH --write` in `dir` and check the bad-input contract: exit 2, one line on
/// stderr, the tree byte-identical afterwards. Returns the error line.
fn refused(dir: &Path, path: &str) -> String {
    refused_with(dir, path, |d| format!("{:?}", snapshot(d)))
}

/// `refused` for trees that `snapshot` can't read (symlinked folders, FIFOs).
fn refused_with(dir: &Path, path: &str, snap: impl Fn(&Path) -> String) -> String {
    let before = snap(dir);
    let r = helmigrate(&["convert", path, "--write"], dir);
    let after = snap(dir);
    assert_one_line_error(&r);
    assert_eq!(r.code, 2, "exit code (stderr: {})", r.stderr);
    assert!(before == after, "files changed although the input was refused: {}", r.stderr);
    r.stderr.trim().to_string()
}

fn assert_has(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "expected `{p}` in: {msg}");
    }
}

/// Run `convert PATH --write` expecting success; returns the run.
fn converts(dir: &Path, path: &str) -> Run {
    let r = helmigrate(&["convert", path, "--write"], dir);
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("panicked"), "stderr: {}", r.stderr);
    r
}

fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Malformed YAML, encodings, duplicate keys, alias bombs, size.

#[test]
fn malformed_yaml_in_a_workload_names_file_and_line() {
    let bad = DEPLOYMENT.replace("  replicas: 1\n", "  replicas: [1, 2\n");
    let repo = app_repo(&[("app/deployment.yaml", &bad)]);
    let msg = refused(repo.path(), "app");
    // The parser notices the unclosed `[` at the next line.
    assert!(msg.contains("failed to load app/deployment.yaml:6:") || msg.contains("failed to load app/deployment.yaml:7:"), "{msg}");
}

#[test]
fn malformed_yaml_in_a_workload_after_other_documents_counts_lines_from_the_file_start() {
    let bad = format!("{SERVICE}---\n{}", DEPLOYMENT.replace("      app: ollama\n  template", "      app: ollama\n   template"));
    let repo = app_repo(&[("app/deployment.yaml", &bad), ("app/kustomization.yaml", &kustomization(&["deployment.yaml"]))]);
    let msg = refused(repo.path(), "app");
    let line: usize = msg.split("app/deployment.yaml:").nth(1).and_then(|r| r.split(':').next()).and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no line in: {msg}"));
    assert!(line > SERVICE.lines().count() + 1, "line {line} should be in the second document: {msg}");
}

#[test]
fn malformed_yaml_in_a_kustomization_names_file_and_line() {
    let k = APP_KUSTOMIZATION.replace("namespace: ai", "namespace: ai: x");
    let repo = app_repo(&[("app/kustomization.yaml", &k)]);
    let msg = refused(repo.path(), "app");
    assert_has(&msg, &["failed to load app/kustomization.yaml:3:"]);
}

#[test]
fn malformed_yaml_in_a_parent_kustomization_names_it() {
    // Converting `apps/app` reads `apps/kustomization.yaml` for the namespace it sets.
    let repo = repo_from(&[
        ("apps/kustomization.yaml", "resources:\n  - app\nnamespace: [ai\n"),
        ("apps/app/kustomization.yaml", APP_KUSTOMIZATION),
        ("apps/app/deployment.yaml", DEPLOYMENT),
        ("apps/app/service.yaml", SERVICE),
    ]);
    let msg = refused(repo.path(), "apps/app");
    assert_has(&msg, &["failed to load apps/kustomization.yaml:"]);
}

#[test]
fn invalid_utf8_names_file_and_line() {
    let repo = app_repo(&[]);
    let mut bytes = DEPLOYMENT.as_bytes().to_vec();
    let at = DEPLOYMENT.find("name: ollama").expect("name") + "name: ".len();
    bytes.splice(at..at, [0xff, 0xfe, 0x80]);
    std::fs::write(repo.path().join("app/deployment.yaml"), bytes).expect("write");
    let msg = refused(repo.path(), "app");
    assert_has(&msg, &["failed to load app/deployment.yaml:4:", "UTF-8"]);
}

#[test]
fn invalid_utf8_in_a_kustomization_names_it() {
    let repo = app_repo(&[]);
    let mut bytes = APP_KUSTOMIZATION.as_bytes().to_vec();
    bytes.extend_from_slice(b"  - \xc3\x28.yaml\n");
    std::fs::write(repo.path().join("app/kustomization.yaml"), bytes).expect("write");
    let msg = refused(repo.path(), "app");
    assert_has(&msg, &["failed to load app/kustomization.yaml:7:", "UTF-8"]);
}

#[test]
fn duplicate_mapping_keys_name_file_and_line() {
    let bad = DEPLOYMENT.replace("  replicas: 1\n", "  replicas: 1\n  replicas: 2\n");
    let repo = app_repo(&[("app/deployment.yaml", &bad)]);
    let msg = refused(repo.path(), "app");
    assert_has(&msg, &["failed to load app/deployment.yaml:7:", "duplicate", "replicas"]);
}

#[test]
fn duplicate_keys_in_a_kustomization_name_file_and_line() {
    let k = format!("{APP_KUSTOMIZATION}namespace: other\n");
    let repo = app_repo(&[("app/kustomization.yaml", &k)]);
    let msg = refused(repo.path(), "app");
    assert_has(&msg, &["failed to load app/kustomization.yaml:7:", "duplicate", "namespace"]);
}

#[test]
fn alias_bomb_is_refused_naming_aliases() {
    // Nine levels of nine: 9^9 (387 million) nodes if expanded.
    let mut bomb = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\ndata:\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for w in names.windows(2) {
        bomb.push_str(&format!("  {}: &{} [{}]\n", w[1], w[1], vec![format!("*{}", w[0]); 9].join(",")));
    }
    let repo = app_repo(&[("app/bomb.yaml", &bomb), ("app/kustomization.yaml", &kustomization(&["bomb.yaml"]))]);
    let msg = refused(repo.path(), "app");
    assert_has(&msg, &["failed to load app/bomb.yaml", "alias"]);
}

#[test]
fn alias_bomb_in_a_kustomization_is_refused() {
    let mut bomb = format!("{KUSTOMIZATION}x0: &x0 [a,a,a,a,a,a,a,a,a,a]\n");
    for i in 1..9 {
        bomb.push_str(&format!("x{i}: &x{i} [{}]\n", vec![format!("*x{}", i - 1); 10].join(",")));
    }
    let repo = app_repo(&[("app/kustomization.yaml", &bomb)]);
    let msg = refused(repo.path(), "app");
    assert_has(&msg, &["failed to load app/kustomization.yaml", "alias"]);
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let deep = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let repo = app_repo(&[("app/deep.yaml", &deep), ("app/kustomization.yaml", &kustomization(&["deep.yaml"]))]);
    let msg = refused(repo.path(), "app");
    assert_has(&msg, &["failed to load app/deep.yaml:5"]);
}

#[test]
fn enormous_file_is_refused_with_its_size() {
    let repo = app_repo(&[("app/kustomization.yaml", &kustomization(&["deployment.yaml", "big.yaml"]))]);
    let mut big = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n");
    let mut i = 0;
    while big.len() < 5 * 1024 * 1024 {
        big.push_str(&format!("  key{i}: \"{}\"\n", "x".repeat(100)));
        i += 1;
    }
    std::fs::write(repo.path().join("app/big.yaml"), &big).expect("write");
    let msg = refused(repo.path(), "app");
    assert_has(&msg, &["failed to load app/big.yaml", "bytes", "4 MiB"]);
}

// ---------------------------------------------------------------------------------------------
// Paths: symlinks, `../`, cycles, missing and remote entries.

#[cfg(unix)]
#[test]
fn symlinked_file_outside_the_repo_is_refused() {
    let outside = tempfile::tempdir().expect("temp dir");
    std::fs::write(outside.path().join("secret.yaml"), SERVICE).expect("write");
    let repo = app_repo(&[("app/kustomization.yaml", &kustomization(&["deployment.yaml", "linked.yaml"]))]);
    std::os::unix::fs::symlink(outside.path().join("secret.yaml"), repo.path().join("app/linked.yaml")).expect("symlink");
    let msg = refused_with(repo.path(), "app", entries);
    assert_has(&msg, &["failed to load app/kustomization.yaml", "linked.yaml", "outside the repository", "through a symlink"]);
}

#[cfg(unix)]
#[test]
fn symlinked_directory_outside_the_repo_is_refused() {
    let outside = tempfile::tempdir().expect("temp dir");
    std::fs::write(outside.path().join("kustomization.yaml"), kustomization(&["service.yaml"])).expect("write");
    std::fs::write(outside.path().join("service.yaml"), SERVICE).expect("write");
    let repo = repo_from(&[("apps/kustomization.yaml", &kustomization(&["linked"]))]);
    std::os::unix::fs::symlink(outside.path(), repo.path().join("apps/linked")).expect("symlink");
    let outside_before = snapshot(outside.path());
    let msg = refused_with(repo.path(), "apps", entries);
    assert!(outside_before == snapshot(outside.path()), "the folder outside the repo changed");
    assert_has(&msg, &["failed to load apps/kustomization.yaml", "linked", "outside the repository", "through a symlink"]);
}

#[cfg(unix)]
#[test]
fn symlinked_kustomization_file_outside_the_repo_is_refused() {
    let outside = tempfile::tempdir().expect("temp dir");
    std::fs::write(outside.path().join("kustomization.yaml"), kustomization(&["deployment.yaml"])).expect("write");
    let repo = repo_from(&[("app/deployment.yaml", DEPLOYMENT)]);
    std::os::unix::fs::symlink(outside.path().join("kustomization.yaml"), repo.path().join("app/kustomization.yaml")).expect("symlink");
    let msg = refused_with(repo.path(), "app", entries);
    assert_has(&msg, &["failed to load app/kustomization.yaml", "outside the repository", "through a symlink"]);
}

#[cfg(unix)]
#[test]
fn symlinks_inside_the_repo_are_followed() {
    let repo = app_repo(&[("app/kustomization.yaml", &kustomization(&["deployment.yaml", "svc.yaml"])), ("shared/service.yaml", SERVICE)]);
    std::fs::remove_file(repo.path().join("app/service.yaml")).expect("rm");
    std::os::unix::fs::symlink("../shared/service.yaml", repo.path().join("app/svc.yaml")).expect("symlink");
    let r = helmigrate(&["convert", "app"], repo.path());
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn parent_path_escaping_the_repo_is_refused() {
    let repo = app_repo(&[("app/kustomization.yaml", &kustomization(&["deployment.yaml", "../../outside.yaml"]))]);
    // The target exists next to the repo, so only the path check stops it.
    let outside = repo.path().parent().expect("parent").join("outside.yaml");
    let existed = outside.exists();
    if !existed {
        let _ = std::fs::write(&outside, SERVICE);
    }
    let msg = refused(repo.path(), "app");
    if !existed {
        let _ = std::fs::remove_file(&outside);
    }
    assert_has(&msg, &["failed to load app/kustomization.yaml", "../../outside.yaml", "outside the repository"]);
    assert!(!msg.contains("symlink"), "{msg}");
}

#[test]
fn parent_path_escaping_the_repo_to_nothing_is_still_outside() {
    let repo = app_repo(&[("app/kustomization.yaml", &kustomization(&["deployment.yaml", "../../../no/such/dir"]))]);
    let msg = refused(repo.path(), "app");
    assert_has(&msg, &["failed to load app/kustomization.yaml:5:", "../../../no/such/dir", "outside the repository"]);
}

#[test]
fn parent_path_inside_the_repo_is_fine() {
    let repo = app_repo(&[("app/kustomization.yaml", &kustomization(&["deployment.yaml", "../shared/service.yaml"])), ("shared/service.yaml", SERVICE)]);
    let r = helmigrate(&["convert", "app"], repo.path());
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn kustomization_cycle_is_named() {
    let repo = repo_from(&[
        ("a/kustomization.yaml", &kustomization(&["../b"])),
        ("b/kustomization.yaml", &kustomization(&["../a"])),
    ]);
    let msg = refused(repo.path(), "a");
    assert_has(&msg, &["failed to load b/kustomization.yaml:4", "kustomization cycle: a -> b -> a"]);
}

#[test]
fn kustomization_listing_itself_is_a_cycle() {
    let repo = repo_from(&[("a/kustomization.yaml", &kustomization(&["."]))]);
    let msg = refused(repo.path(), "a");
    assert_has(&msg, &["failed to load a/kustomization.yaml:4", "kustomization cycle: a -> a"]);
}

#[test]
fn missing_resource_names_the_kustomization_and_entry() {
    let repo = app_repo(&[("app/kustomization.yaml", &kustomization(&["deployment.yaml", "gone.yaml"]))]);
    let msg = refused(repo.path(), "app");
    assert_has(&msg, &["failed to load app/kustomization.yaml:5:", "`gone.yaml`", "does not exist"]);
}

#[test]
fn missing_directory_resource_names_the_kustomization_and_entry() {
    let repo = app_repo(&[("app/kustomization.yaml", &kustomization(&["deployment.yaml", "../other-app"]))]);
    let msg = refused(repo.path(), "app");
    assert_has(&msg, &["failed to load app/kustomization.yaml:5:", "`../other-app`", "does not exist"]);
}

#[test]
fn directory_resource_without_kustomization_is_named() {
    let repo = app_repo(&[("app/kustomization.yaml", &kustomization(&["deployment.yaml", "sub"])), ("app/sub/x.yaml", SERVICE)]);
    let msg = refused(repo.path(), "app");
    assert_has(&msg, &["failed to load app/kustomization.yaml:5:", "`sub`", "no kustomization.yaml"]);
}

#[test]
fn remote_resources_are_not_supported() {
    for remote in [
        "https://github.com/example/repo//deploy?ref=v1.0.0",
        "github.com/example/repo/deploy?ref=main",
        "git@github.com:example/repo.git",
        "ssh://git@example.com/repo.git",
    ] {
        let repo = app_repo(&[("app/kustomization.yaml", &kustomization(&["deployment.yaml", remote]))]);
        let msg = refused(repo.path(), "app");
        assert_has(&msg, &["failed to load app/kustomization.yaml:5", remote, "remote resource", "not supported"]);
    }
}

// ---------------------------------------------------------------------------------------------
// Documents that are not (known) Kubernetes objects.

#[test]
fn document_without_kind_names_file_and_line() {
    let doc = format!("{SERVICE}---\napiVersion: v1\nmetadata:\n  name: nokind\n");
    let repo = app_repo(&[("app/service.yaml", &doc)]);
    let msg = refused(repo.path(), "app");
    let line = SERVICE.lines().count() + 2;
    assert_has(&msg, &[&format!("failed to load app/service.yaml:{line}:"), "apiVersion/kind"]);
}

#[test]
fn document_without_api_version_names_file_and_line() {
    let doc = DEPLOYMENT.replace("apiVersion: apps/v1\n", "");
    let repo = app_repo(&[("app/deployment.yaml", &doc)]);
    let msg = refused(repo.path(), "app");
    assert_has(&msg, &["failed to load app/deployment.yaml:1:", "apiVersion/kind"]);
}

#[test]
fn scalar_and_list_documents_are_refused() {
    for doc in ["just a string\n", "- a\n- b\n", "42\n"] {
        let repo = app_repo(&[("app/service.yaml", doc)]);
        let msg = refused(repo.path(), "app");
        assert_has(&msg, &["failed to load app/service.yaml:1:", "mapping"]);
    }
}

#[test]
fn object_name_that_is_a_path_is_refused() {
    // Names become file names (helmrelease-NAME.yaml when helmrelease.yaml is taken): a name
    // with `../` must not make --write create files outside the repository.
    let d = DEPLOYMENT.replacen("metadata:\n  name: ollama\n", "metadata:\n  name: x/../../../pwned\n", 1);
    let taken = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: taken\n";
    let k = kustomization(&["deployment.yaml", "service.yaml", "helmrelease.yaml"]);
    let repo = app_repo(&[("app/deployment.yaml", &d), ("app/helmrelease.yaml", taken), ("app/kustomization.yaml", &k)]);
    // Where app/helmrelease-x/../../../pwned.yaml lands.
    let target = repo.path().parent().expect("parent").join("pwned.yaml");
    let existed = target.exists();
    let msg = refused(repo.path(), "app");
    assert_has(&msg, &["failed to load app/deployment.yaml:1:", "metadata.name", "not a valid Kubernetes name"]);
    assert!(existed || !target.exists(), "{} was written", target.display());
}

#[test]
fn unknown_api_version_of_a_known_kind_is_not_a_workload() {
    let doc = DEPLOYMENT.replace("apiVersion: apps/v1\n", "apiVersion: apps/v2\n");
    let repo = app_repo(&[("app/deployment.yaml", &doc)]);
    let before = snapshot(repo.path());
    let r = helmigrate(&["convert", "app", "--write", "-o", "json"], repo.path());
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).expect("json plan");
    assert_eq!(plan["apps"].as_array().map(Vec::len), Some(0), "{plan}");
    assert!(before == snapshot(repo.path()), "nothing to convert, yet files changed");
}

#[test]
fn unknown_kind_is_kept() {
    let doc = "apiVersion: example.com/v1\nkind: Gizmo\nmetadata:\n  name: g\nspec: {}\n";
    let repo = app_repo(&[("app/gizmo.yaml", doc), ("app/kustomization.yaml", &kustomization(&["deployment.yaml", "service.yaml", "gizmo.yaml"]))]);
    converts(repo.path(), "app");
    assert_eq!(read(repo.path(), "app/gizmo.yaml"), doc);
}

// ---------------------------------------------------------------------------------------------
// Multi-document edge cases: all valid, all convert.

/// Convert a repo whose `app/all.yaml` holds `text` (deployment and service among its documents)
/// and return what is left of all.yaml (None when it was deleted).
fn convert_all_yaml(text: &str) -> Option<String> {
    let repo = app_repo(&[("app/all.yaml", text), ("app/kustomization.yaml", &kustomization(&["all.yaml"]))]);
    let r = converts(repo.path(), "app");
    assert!(r.stdout.contains("chart ollama"), "{}", r.stdout);
    std::fs::read_to_string(repo.path().join("app/all.yaml")).ok()
}

#[test]
fn empty_documents_are_skipped() {
    let left = convert_all_yaml(&format!("---\n---\n{DEPLOYMENT}---\n---\n{SERVICE}---\n"));
    assert!(left.as_deref().is_none_or(|l| l.lines().all(|x| x.trim().is_empty() || x == "---")), "{left:?}");
}

#[test]
fn comment_only_documents_are_skipped_and_kept() {
    let left = convert_all_yaml(&format!("# header\n---\n{DEPLOYMENT}---\n# only a comment\n\n---\n{SERVICE}"));
    assert!(left.as_deref().is_none_or(|l| !l.contains("kind:")), "{left:?}");
}

#[test]
fn dashes_inside_a_block_scalar_do_not_split() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: script\ndata:\n  run.sh: |\n    echo start\n    ---\n    --- {a: 1}\n    ...\n    echo done\n";
    let left = convert_all_yaml(&format!("{cm}---\n{DEPLOYMENT}---\n{SERVICE}"));
    assert_eq!(left.as_deref(), Some(cm));
}

#[test]
fn separator_with_content_on_the_same_line() {
    let cm = "--- !!map\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n";
    let flow = "--- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n";
    let left = convert_all_yaml(&format!("{DEPLOYMENT}{cm}{flow}--- # the service\n{SERVICE}")).expect("configmaps stay");
    assert!(left.contains("name: a") && left.contains("name: b"), "{left}");
    assert!(!left.contains("Deployment") && !left.contains("Service"), "{left}");
}

#[test]
fn separator_with_content_names_the_right_line_on_error() {
    let text = format!("{DEPLOYMENT}--- {{apiVersion: v1, kind: ConfigMap\n");
    let repo = app_repo(&[("app/deployment.yaml", &text)]);
    let msg = refused(repo.path(), "app");
    let line = DEPLOYMENT.lines().count() + 1;
    assert_has(&msg, &[&format!("failed to load app/deployment.yaml:{line}")]);
}

#[test]
fn document_end_markers() {
    let left = convert_all_yaml(&format!("{DEPLOYMENT}...\n---\n{SERVICE}...\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: after-end\n..."));
    let left = left.expect("the ConfigMap stays");
    assert!(left.contains("name: after-end") && !left.contains("kind: Deployment"), "{left}");
}

#[test]
fn directives_before_a_document() {
    let left = convert_all_yaml(&format!("%YAML 1.2\n---\n{DEPLOYMENT}---\n{SERVICE}"));
    assert!(left.as_deref().is_none_or(|l| !l.contains("kind:")), "{left:?}");
}

// ---------------------------------------------------------------------------------------------
// Line endings and BOMs.

#[test]
fn crlf_repo_converts_and_keeps_crlf_in_the_kustomization() {
    let crlf = |s: &str| s.replace('\n', "\r\n");
    let (k, d, s) = (crlf(APP_KUSTOMIZATION), crlf(DEPLOYMENT), crlf(SERVICE));
    let repo = app_repo(&[("app/kustomization.yaml", &k), ("app/deployment.yaml", &d), ("app/service.yaml", &s)]);
    let r = converts(repo.path(), "app");
    assert!(r.stdout.contains("chart ollama"), "{}", r.stdout);
    let edited = read(repo.path(), "app/kustomization.yaml");
    assert_ne!(edited, k, "the kustomization was not edited");
    assert!(edited.contains("helmrelease.yaml"), "{edited:?}");
    assert_eq!(edited.matches('\n').count(), edited.matches("\r\n").count(), "bare LF in {edited:?}");
}

#[test]
fn crlf_errors_still_name_the_line() {
    let bad = DEPLOYMENT.replace("  replicas: 1\n", "  replicas: 1\n  replicas: 2\n").replace('\n', "\r\n");
    let repo = app_repo(&[("app/deployment.yaml", &bad)]);
    let msg = refused(repo.path(), "app");
    assert_has(&msg, &["failed to load app/deployment.yaml:7:", "duplicate"]);
}

#[test]
fn bom_at_the_start_of_files_works() {
    let bom = |s: &str| format!("\u{feff}{s}");
    let (k, d) = (bom(APP_KUSTOMIZATION), bom(DEPLOYMENT));
    let repo = app_repo(&[("app/kustomization.yaml", &k), ("app/deployment.yaml", &d)]);
    let dry = helmigrate(&["convert", "app"], repo.path());
    assert_eq!(dry.code, 0, "{}{}", dry.stdout, dry.stderr);
    assert!(dry.stdout.contains("chart ollama"), "{}", dry.stdout);
    converts(repo.path(), "app");
    assert!(read(repo.path(), "app/kustomization.yaml").contains("helmrelease.yaml"));
}

#[test]
fn bom_errors_count_lines_from_the_file_start() {
    let bad = format!("\u{feff}{}", DEPLOYMENT.replace("  replicas: 1\n", "  replicas: 1\n  replicas: 2\n"));
    let repo = app_repo(&[("app/deployment.yaml", &bad)]);
    let msg = refused(repo.path(), "app");
    assert_has(&msg, &["failed to load app/deployment.yaml:7:"]);
}

// ---------------------------------------------------------------------------------------------
// Kustomizations of the wrong shape.

#[test]
fn kustomization_that_is_not_a_mapping() {
    for (text, line) in [("- deployment.yaml\n", 1), ("# list\n---\njust text\n", 3)] {
        let repo = app_repo(&[("app/kustomization.yaml", text)]);
        let msg = refused(repo.path(), "app");
        assert_has(&msg, &[&format!("failed to load app/kustomization.yaml:{line}:"), "mapping"]);
    }
}

#[test]
fn resources_that_is_not_a_list() {
    for value in ["deployment.yaml", "{a: b}", "3"] {
        let repo = app_repo(&[("app/kustomization.yaml", &format!("{KUSTOMIZATION}resources: {value}\n"))]);
        let msg = refused(repo.path(), "app");
        assert_has(&msg, &["failed to load app/kustomization.yaml:3:", "`resources` must be a list"]);
    }
}

#[test]
fn resources_entries_that_are_not_strings() {
    for value in ["42", "{path: a.yaml}", "[a.yaml]", "null", "true"] {
        let k = format!("{KUSTOMIZATION}resources:\n  - deployment.yaml\n  - {value}\n");
        let repo = app_repo(&[("app/kustomization.yaml", &k)]);
        let msg = refused(repo.path(), "app");
        assert_has(&msg, &["failed to load app/kustomization.yaml:5:", "entries must be strings"]);
    }
}

#[test]
fn namespace_that_is_not_a_string() {
    let k = APP_KUSTOMIZATION.replace("namespace: ai", "namespace: [ai]");
    let repo = app_repo(&[("app/kustomization.yaml", &k)]);
    let msg = refused(repo.path(), "app");
    assert_has(&msg, &["failed to load app/kustomization.yaml:3:", "`namespace` must be a string"]);
}

#[test]
fn empty_kustomization_is_nothing_to_do() {
    let repo = repo_from(&[("app/kustomization.yaml", ""), ("app/other.yaml", SERVICE)]);
    let r = helmigrate(&["convert", "app", "--write"], repo.path());
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

// ---------------------------------------------------------------------------------------------
// PATH problems.

#[test]
fn path_that_does_not_exist() {
    let repo = app_repo(&[]);
    let msg = refused(repo.path(), "no/such/app");
    assert_has(&msg, &["failed to load no/such/app", "no such file or directory"]);
}

#[test]
fn path_that_is_a_file() {
    let repo = app_repo(&[]);
    let msg = refused(repo.path(), "app/deployment.yaml");
    assert_has(&msg, &["failed to load app/deployment.yaml", "is a file"]);
}

#[test]
fn path_without_kustomization() {
    // Flux builds a path without a kustomization.yaml from its YAML files (see tests/tests/
    // layouts.rs); a folder with neither has nothing Flux could apply.
    let repo = app_repo(&[("other/README.md", "notes\n")]);
    let msg = refused(repo.path(), "other");
    assert_has(&msg, &["failed to load other", "no kustomization.yaml and no YAML manifests"]);
}

#[test]
fn path_outside_any_git_repository() {
    let dir = tempfile::tempdir().expect("temp dir");
    if dir.path().ancestors().any(|a| a.join(".git").exists() || a.join(".helmigrate.yaml").is_file()) {
        eprintln!("skipped: the temp dir is inside a repository");
        return;
    }
    for (p, c) in [("app/kustomization.yaml", APP_KUSTOMIZATION), ("app/deployment.yaml", DEPLOYMENT), ("app/service.yaml", SERVICE)] {
        std::fs::create_dir_all(dir.path().join(p).parent().expect("parent")).expect("mkdir");
        std::fs::write(dir.path().join(p), c).expect("write");
    }
    let msg = refused(dir.path(), "app");
    assert_has(&msg, &["failed to load", "not inside a git repository"]);
}

#[cfg(unix)]
#[test]
fn fifo_is_refused_not_waited_on() {
    let repo = app_repo(&[("app/kustomization.yaml", &kustomization(&["deployment.yaml", "pipe.yaml"]))]);
    let status = std::process::Command::new("mkfifo").arg(repo.path().join("app/pipe.yaml")).status();
    if !status.is_ok_and(|s| s.success()) {
        eprintln!("skipped: mkfifo is not available");
        return;
    }
    let msg = refused_with(repo.path(), "app", entries);
    assert_has(&msg, &["failed to load app/pipe.yaml", "not a regular file"]);
}

#[cfg(unix)]
/// Every entry below `dir` (except .git): files with their bytes, symlinks with their target
/// (not followed, unlike `snapshot`), FIFOs and other special files by name only.
fn entries(dir: &Path) -> String {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let ft = e.file_type().expect("type");
            let rel = e.path().strip_prefix(dir).expect("inside").display().to_string();
            if e.file_name() == ".git" {
                continue;
            } else if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(format!("{rel}: {:?}", std::fs::read(e.path()).expect("read")));
            } else if ft.is_symlink() {
                out.push(format!("{rel} -> {}", std::fs::read_link(e.path()).expect("link").display()));
            } else {
                out.push(format!("{rel} (special)"));
            }
        }
    }
    out.sort();
    out.join("\n")
}
