//! Helpers for the plugin install tests: the pinned host CLIs (krew, flux from
//! `scripts/build-plugin-tools`, kubectl from the control plane's `scripts/build-tools`), the
//! release archive of this build (`scripts/package --bins`), and commands run in a sealed
//! environment (own HOME, minimal PATH) so nothing of the machine's own setup leaks in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::{Run, testenv, workspace};

/// Message of the panic raised when krew or flux have not been built.
pub const MISSING_PLUGIN_TOOLS: &str = "plugin tools (krew, flux) missing: run scripts/build-plugin-tools";

/// The platform this machine packages for (`linux-amd64`).
pub fn platform() -> String {
    let os = std::env::consts::OS.replace("macos", "darwin");
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("{os}-{arch}")
}

/// The host CLIs the tests drive.
#[derive(Debug)]
pub struct Tools {
    pub kubectl: PathBuf,
    pub krew: PathBuf,
    pub flux: PathBuf,
}

/// krew and flux from `scripts/build-plugin-tools`, kubectl from the control plane's bin dir;
/// panics naming the script to run when they are not built.
pub fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let script = workspace().join("scripts/build-plugin-tools");
        let out = Command::new(&script).arg("--check").stdin(Stdio::null()).output()
            .unwrap_or_else(|e| panic!("{MISSING_PLUGIN_TOOLS} (cannot run {}: {e})", script.display()));
        assert!(out.status.success(), "{MISSING_PLUGIN_TOOLS} ({})", String::from_utf8_lossy(&out.stderr).trim());
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().trim());
        let cp = testenv::locate_bin_dir().unwrap_or_else(|e| panic!("{e}"));
        Tools { kubectl: cp.join("kubectl"), krew: dir.join("krew"), flux: dir.join("flux") }
    })
}

/// The release archive and manifests of this build, made once per test binary by
/// `scripts/package --bins <the tests' build> --no-update` into a temp dir.
#[derive(Debug)]
pub struct Dist {
    pub dir: PathBuf,
    /// `helmigrate-<platform>.tar.gz`
    pub archive: PathBuf,
    /// The krew manifest with this archive's sha256.
    pub krew_manifest: PathBuf,
    /// The Flux plugin manifest (`helmigrate.yaml`) with this archive's checksum.
    pub flux_manifest: PathBuf,
}

pub fn dist() -> &'static Dist {
    static DIST: OnceLock<(tempfile::TempDir, Dist)> = OnceLock::new();
    &DIST.get_or_init(|| {
        let bins = crate::bin("kubectl-helmigrate").parent().expect("bin dir").to_path_buf();
        crate::bin("flux-helmigrate");
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("dist");
        let out = Command::new(workspace().join("scripts/package"))
            .args(["--bins".as_ref(), bins.as_os_str(), "--dist".as_ref(), dir.as_os_str(), "--no-update".as_ref()])
            .env("HELMIGRATE_GZIP_LEVEL", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/package");
        assert!(out.status.success(), "scripts/package failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let archive = dir.join(format!("helmigrate-{}.tar.gz", platform()));
        assert!(archive.is_file(), "{} not made", archive.display());
        let d = Dist { krew_manifest: dir.join("krew-manifest.yaml"), flux_manifest: dir.join("helmigrate.yaml"), archive, dir };
        (tmp, d)
    }).1
}

/// A sealed environment: its own HOME under a temp dir and a PATH of the given dirs plus the
/// system's basic tools (`/usr/bin:/bin`, for `sh`, `readlink`, `dirname`).
#[derive(Debug)]
pub struct Sandbox {
    pub home: tempfile::TempDir,
    pub path: Vec<PathBuf>,
    pub env: BTreeMap<String, String>,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox { home: tempfile::tempdir().expect("temp home"), path: Vec::new(), env: BTreeMap::new() }
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// A folder in the sandbox's PATH holding symlinks `name → target`.
    pub fn link_into_path(&mut self, links: &[(&str, &Path)]) -> PathBuf {
        let dir = self.home().join("path-bin");
        std::fs::create_dir_all(&dir).expect("mkdir");
        for (name, target) in links {
            let link = dir.join(name);
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(target, &link).expect("symlink");
        }
        if !self.path.contains(&dir) {
            self.path.push(dir.clone());
        }
        dir
    }

    /// `program ARGS` with only this sandbox's environment, in `cwd`.
    pub fn run(&self, program: &Path, args: &[&str], cwd: &Path) -> Run {
        self.run_with(program, args, cwd, &[])
    }

    pub fn run_with(&self, program: &Path, args: &[&str], cwd: &Path, extra_env: &[(&str, &str)]) -> Run {
        let mut path: Vec<PathBuf> = self.path.clone();
        path.extend([PathBuf::from("/usr/bin"), PathBuf::from("/bin")]);
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(cwd)
            .env_clear()
            .env("HOME", self.home())
            .env("PATH", std::env::join_paths(path).expect("PATH"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox::new()
    }
}

/// The completion candidates and directive of a cobra `__complete` answer (descriptions cut).
pub fn completions(stdout: &str) -> (Vec<String>, Option<u32>) {
    let mut lines: Vec<&str> = stdout.lines().filter(|l| !l.is_empty()).collect();
    let directive = lines.last().and_then(|l| l.strip_prefix(':')).and_then(|d| d.parse().ok());
    if directive.is_some() {
        lines.pop();
    }
    (lines.iter().map(|l| l.split('\t').next().unwrap_or_default().to_string()).collect(), directive)
}
