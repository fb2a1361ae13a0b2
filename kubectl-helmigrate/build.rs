//! Stamp the binary with the git commit it is built from (`--version`), shared by both plugin
//! binaries (flux-helmigrate's Cargo.toml points here). `HELMIGRATE_GIT_COMMIT` overrides it
//! (builds from a source archive without .git); without git it is `unknown`.
use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=HELMIGRATE_GIT_COMMIT");
    let given = std::env::var("HELMIGRATE_GIT_COMMIT").ok().filter(|c| !c.is_empty());
    // a full hash (CI's github.sha) is shown as short as git's --short=12
    let given = given.map(|c| if c.len() > 12 && c.bytes().all(|b| b.is_ascii_hexdigit()) { c[..12].to_string() } else { c });
    let commit = given.or_else(|| {
        // rebuild when HEAD moves: HEAD itself, the branch it points at, packed refs
        for (flag, rel) in [("--git-dir", "HEAD"), ("--git-common-dir", "packed-refs")] {
            if let Some(dir) = git(&["rev-parse", flag]) {
                println!("cargo:rerun-if-changed={}", Path::new(&dir).join(rel).display());
            }
        }
        if let (Some(common), Some(branch)) = (git(&["rev-parse", "--git-common-dir"]), git(&["symbolic-ref", "-q", "HEAD"])) {
            println!("cargo:rerun-if-changed={}", Path::new(&common).join(branch).display());
        }
        git(&["rev-parse", "--short=12", "HEAD"])
    });
    println!("cargo:rustc-env=HELMIGRATE_GIT_COMMIT={}", commit.as_deref().unwrap_or("unknown"));
}
