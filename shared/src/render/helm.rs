//! Running helm: finding the binary, locating a chart (a `--chart-dir` folder, the cache, or a
//! pull from the HelmRepository), and `helm template` with a hard timeout.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one helm call may take before it is killed (a hung pull or a looping template).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The helm binary: `HELMIGRATE_HELM` when set (tests, pinned installs), else `helm` on PATH.
pub fn find() -> Result<PathBuf, String> {
    match std::env::var_os("HELMIGRATE_HELM").filter(|v| !v.is_empty()) {
        Some(p) => {
            let p = PathBuf::from(p);
            if p.is_file() { Ok(p) } else { Err(format!("HELMIGRATE_HELM points at {}, which is not a file", p.display())) }
        }
        None => which::which("helm").map_err(|_| "helm was not found on PATH".to_string()),
    }
}

/// The timeout for one helm call: `HELMIGRATE_HELM_TIMEOUT` seconds, else 60 s.
pub fn timeout() -> Duration {
    std::env::var("HELMIGRATE_HELM_TIMEOUT").ok().and_then(|s| s.trim().parse::<u64>().ok()).filter(|s| *s > 0)
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs)
}

/// What a finished helm call printed.
pub use crate::process::Output;

/// Run helm with `args`, killing it (and what it started) after `limit`. Err: it could not
/// start or timed out.
pub fn run(helm: &Path, args: &[OsString], limit: Duration) -> Result<Output, String> {
    crate::process::run("helm", helm, args, limit)
}

/// helm's error output as one line: `Error: ` dropped, lines joined, long text cut.
pub fn one_line(stderr: &str) -> String {
    let joined = stderr.lines().map(str::trim).filter(|l| !l.is_empty())
        .map(|l| l.strip_prefix("Error: ").unwrap_or(l))
        .collect::<Vec<_>>().join(" ");
    let joined = if joined.is_empty() { "helm failed without a message".to_string() } else { joined };
    if joined.chars().count() > 600 { format!("{}…", joined.chars().take(599).collect::<String>()) } else { joined }
}

/// Where pulled charts are kept: `$XDG_CACHE_HOME/helmigrate/charts`, else `~/.cache/…`.
pub fn cache_root() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()).map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("helmigrate").join("charts"))
}

/// The cache folder of one chart version: readable repo name plus a hash of the full URL, so
/// two repositories with the same host and path shape never share an entry.
pub fn cache_dir(root: &Path, repository: &str, chart: &str, version: &str) -> PathBuf {
    let clean = |s: &str| s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect::<String>();
    let repo = repository.trim_start_matches("https://").trim_start_matches("http://").trim_matches('/');
    // FNV-1a: stable across Rust releases, unlike std's hasher.
    let hash = repository.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3));
    root.join(format!("{}-{:08x}", clean(repo), hash as u32)).join(format!("{}-{}", clean(chart), clean(version)))
}

/// A chart version from the cache, pulling it first when missing: the unpacked chart folder.
pub fn pull_cached(helm: &Path, repository: &str, chart: &str, version: &str, limit: Duration) -> Result<(PathBuf, bool), String> {
    let root = cache_root().ok_or("no cache folder: neither XDG_CACHE_HOME nor HOME is set")?;
    let dir = cache_dir(&root, repository, chart, version);
    let unpacked = dir.join(chart);
    if unpacked.join("Chart.yaml").is_file() {
        return Ok((unpacked, true));
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // Pull into a fresh folder beside the entry and move it in whole: a cut-off pull never
    // leaves a half chart that later runs would take for a cached one.
    let tmp = tempfile::Builder::new().prefix(".pull-").tempdir_in(&dir).map_err(|e| format!("cannot create a folder in {}: {e}", dir.display()))?;
    // An OCI artifact is pulled by its reference; a Helm repository by chart name from its index.
    let mut args: Vec<OsString> = if repository.starts_with("oci://") {
        vec!["pull".into(), repository.into()]
    } else {
        vec!["pull".into(), chart.into(), "--repo".into(), repository.into()]
    };
    args.extend(["--version".into(), version.into(), "--untar".into(), "--untardir".into(), tmp.path().into()]);
    match run(helm, &args, limit) {
        Ok(o) if o.success => {}
        failed => {
            // Leave no empty entry behind for a chart that never arrived.
            drop(tmp);
            let _ = std::fs::remove_dir(&dir);
            return Err(failed.map(|o| one_line(&o.stderr)).unwrap_or_else(|e| e));
        }
    }
    let got = tmp.path().join(chart);
    if !got.join("Chart.yaml").is_file() {
        return Err(format!("helm pull gave no {chart}/Chart.yaml"));
    }
    match std::fs::rename(&got, &unpacked) {
        Ok(()) => Ok((unpacked, false)),
        // Another run filled the entry meanwhile: use that one.
        Err(_) if unpacked.join("Chart.yaml").is_file() => Ok((unpacked, true)),
        Err(e) => Err(format!("cannot move the pulled chart into {}: {e}", unpacked.display())),
    }
}

/// The Kubernetes version charts are rendered for (`.Capabilities.KubeVersion`, which charts
/// check and branch on): `HELMIGRATE_KUBE_VERSION`, else a current release. Stated explicitly
/// so the result does not depend on how the helm binary was built (a helm built without its
/// release flags claims Kubernetes 1.20, which app-template refuses).
pub fn kube_version() -> String {
    std::env::var("HELMIGRATE_KUBE_VERSION").ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| DEFAULT_KUBE_VERSION.to_string())
}

pub const DEFAULT_KUBE_VERSION: &str = "v1.34.0";

/// `helm template RELEASE CHART --namespace NS -f VALUES --kube-version V [EXTRA…]`.
pub fn template(helm: &Path, release: &str, chart: &Path, namespace: &str, values: &Path, extra: &[&str], limit: Duration) -> Result<Output, String> {
    let mut args: Vec<OsString> = vec!["template".into(), release.into(), chart.into(), "--namespace".into(), namespace.into(), "-f".into(), values.into(),
        "--kube-version".into(), kube_version().into()];
    args.extend(extra.iter().map(OsString::from));
    run(helm, &args, limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_drops_the_prefix_and_joins() {
        assert_eq!(one_line("Error: a\n  b\n"), "a b");
        assert_eq!(one_line(""), "helm failed without a message");
    }

    #[test]
    fn cache_dirs_differ_per_repository() {
        let a = cache_dir(Path::new("/c"), "https://x.io/a/", "ollama", "1.0");
        let b = cache_dir(Path::new("/c"), "https://x.io/a_", "ollama", "1.0");
        assert_ne!(a, b);
        assert!(a.ends_with("ollama-1.0"));
    }

    #[test]
    fn a_hung_helm_is_stopped() {
        let start = std::time::Instant::now();
        // A wrapper whose own child keeps the pipes open: the whole group goes.
        let r = run(Path::new("/bin/sh"), &["-c".into(), "sleep 20; true".into()], Duration::from_millis(300));
        assert!(r.is_err_and(|e| e.contains("did not finish")));
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}
