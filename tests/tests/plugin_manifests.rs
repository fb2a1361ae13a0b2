//! The krew manifest, the Flux plugin catalog manifest and the release workflow agree with each
//! other and with Cargo: one version, the same four platforms and archive URLs, sums of the
//! right form, the binaries the archives hold. (The real install of both is in
//! `plugin_install.rs`.)

use std::collections::BTreeSet;

use helmigrate_tests::workspace;
use serde_json::Value;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const PLATFORMS: [&str; 4] = ["darwin-amd64", "darwin-arm64", "linux-amd64", "linux-arm64"];

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(workspace().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn url(platform: &str) -> String {
    format!("https://github.com/helmigrate/helmigrate/releases/download/v{VERSION}/helmigrate-{platform}.tar.gz")
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn krew_manifest() {
    let m = yaml("krew-manifest.yaml");
    assert_eq!(m["apiVersion"], "krew.googlecontainertools.github.com/v1alpha2");
    assert_eq!(m["kind"], "Plugin");
    assert_eq!(m["metadata"]["name"], "helmigrate");
    let spec = &m["spec"];
    assert_eq!(spec["version"], format!("v{VERSION}"), "spec.version follows Cargo");
    assert!(spec["homepage"].as_str().is_some_and(|h| h.starts_with("https://")));
    let short = spec["shortDescription"].as_str().expect("shortDescription");
    assert!(!short.contains('\n') && short.len() <= 60, "one short line: {short}");
    assert!(spec["description"].as_str().is_some_and(|d| d.len() > 100));
    let caveats = spec["caveats"].as_str().expect("caveats");
    for role in ["docs/rbac-readonly.yaml", "docs/rbac-reconcile.yaml", "docs/rbac-rollback.yaml"] {
        assert!(caveats.contains(role), "caveats name {role}");
        assert!(workspace().join(role).is_file(), "{role} exists");
    }
    assert!(caveats.contains(&format!("store/helmigrate/v{VERSION}/kubectl_complete-helmigrate")), "completion helper path follows the version");
    let platforms = spec["platforms"].as_array().expect("platforms");
    let mut seen = BTreeSet::new();
    for p in platforms {
        let labels = &p["selector"]["matchLabels"];
        let platform = format!("{}-{}", labels["os"].as_str().expect("os"), labels["arch"].as_str().expect("arch"));
        assert_eq!(p["uri"], url(&platform), "{platform}");
        assert!(is_hex64(p["sha256"].as_str().expect("sha256")), "{platform}: sha256");
        assert_eq!(p["bin"], "kubectl-helmigrate");
        let files: Vec<&str> = p["files"].as_array().expect("files").iter().map(|f| f["from"].as_str().expect("from")).collect();
        assert_eq!(files, ["kubectl-helmigrate", "kubectl_complete-helmigrate", "man", "LICENSE"], "{platform}");
        assert!(seen.insert(platform));
    }
    assert_eq!(seen.iter().map(String::as_str).collect::<Vec<_>>(), PLATFORMS);
}

/// The format of the fluxcd/plugins catalog (`cli.fluxcd.io/v1beta1` Plugin), as flux 2.9
/// reads it: a plain `flux-` bin name, versions newest first without `v`, https URLs,
/// `sha256:<hex>` checksums, os in linux/darwin/windows, arch in amd64/arm64.
#[test]
fn flux_plugin_manifest() {
    let m = yaml("flux-plugin-manifest.yaml");
    assert_eq!(m["apiVersion"], "cli.fluxcd.io/v1beta1");
    assert_eq!(m["kind"], "Plugin");
    assert_eq!(m["name"], "helmigrate");
    assert_eq!(m["bin"], "flux-helmigrate");
    for k in ["homepage", "source"] {
        assert!(m[k].as_str().is_some_and(|u| u.starts_with("https://")), "{k}");
    }
    assert!(m["description"].as_str().is_some_and(|d| !d.is_empty() && !d.contains('\n')));
    let keys: BTreeSet<&str> = m.as_object().expect("map").keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["apiVersion", "kind", "name", "description", "homepage", "source", "bin", "versions"]), "no unknown fields");
    let versions = m["versions"].as_array().expect("versions");
    assert_eq!(versions[0]["version"], VERSION, "newest version first, as Cargo's");
    let mut seen = BTreeSet::new();
    for p in versions[0]["platforms"].as_array().expect("platforms") {
        let platform = format!("{}-{}", p["os"].as_str().expect("os"), p["arch"].as_str().expect("arch"));
        assert_eq!(p["url"], url(&platform));
        let sum = p["checksum"].as_str().expect("checksum");
        assert!(sum.strip_prefix("sha256:").is_some_and(is_hex64), "{platform}: {sum}");
        assert_eq!(p.as_object().expect("map").len(), 4, "{platform}: os, arch, url, checksum");
        assert!(seen.insert(platform));
    }
    assert_eq!(seen.iter().map(String::as_str).collect::<Vec<_>>(), PLATFORMS);
}

/// Both manifests carry the same sum for a platform (they describe the same archive).
#[test]
fn manifests_agree_on_the_sums() {
    let krew = yaml("krew-manifest.yaml");
    let flux = yaml("flux-plugin-manifest.yaml");
    for kp in krew["spec"]["platforms"].as_array().expect("platforms") {
        let uri = kp["uri"].as_str().expect("uri");
        let fp = flux["versions"][0]["platforms"].as_array().expect("platforms").iter().find(|p| p["url"] == uri).expect("same URL in both");
        assert_eq!(fp["checksum"].as_str().expect("checksum"), format!("sha256:{}", kp["sha256"].as_str().expect("sha256")), "{uri}");
    }
}

/// The release workflow builds every platform the manifests list, with scripts/package, and
/// publishes the archives, checksums and both manifests.
#[test]
fn release_workflow_builds_what_the_manifests_list() {
    let wf = yaml(".github/workflows/release.yml");
    let matrix = wf["jobs"]["build"]["strategy"]["matrix"]["include"].as_array().expect("matrix");
    let built: BTreeSet<&str> = matrix.iter().map(|e| e["platform"].as_str().expect("platform")).collect();
    assert_eq!(built, BTreeSet::from(PLATFORMS));
    let text = std::fs::read_to_string(workspace().join(".github/workflows/release.yml")).expect("workflow");
    for needle in ["scripts/package --platform ${{ matrix.platform }}", "scripts/update-manifests dist/helmigrate-*.tar.gz", "checksums.txt", "dist/krew-manifest.yaml", "dist/helmigrate.yaml"] {
        assert!(text.contains(needle), "release.yml lacks `{needle}`");
    }
}
