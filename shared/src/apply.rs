//! Applying a plan: every file written atomically (temp file + rename in the same folder), all
//! writes staged before any rename, files checked unchanged since they were read.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};
use crate::plan::{Action, AppPlan, FileChange, Plan};

/// Write `changes` under `root`.
pub fn write(root: &Path, changes: &[FileChange]) -> Result<()> {
    // Defence in depth: every path must stay below `root` (the loader already refuses names
    // that could make one escape).
    for c in changes {
        let p = Path::new(&c.path);
        if c.path.is_empty() || p.is_absolute() || p.components().any(|x| !matches!(x, std::path::Component::Normal(_))) {
            return Err(Error::input(&c.path, None, "is not a plain path inside the repository: nothing was written"));
        }
    }
    for c in changes {
        let p = root.join(&c.path);
        let now = match std::fs::read(&p) {
            Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
            Err(_) => None,
        };
        let expected = c.before.as_deref().map(|b| b.trim_start_matches('\u{feff}'));
        if now.as_deref().map(|n| n.trim_start_matches('\u{feff}')) != expected {
            return Err(Error::input(&c.path, None, "changed on disk since helmigrate read it: run the command again"));
        }
    }
    let mut staged = Vec::new();
    for c in changes.iter().filter(|c| c.action != Action::Delete) {
        let p = root.join(&c.path);
        let dir = p.parent().unwrap_or(root);
        let werr = |e| Error::Write { path: c.path.clone(), source: e };
        std::fs::create_dir_all(dir).map_err(werr)?;
        let mut tmp = tempfile::Builder::new().prefix(".helmigrate-").tempfile_in(dir).map_err(werr)?;
        tmp.write_all(c.after.as_deref().unwrap_or_default().as_bytes()).map_err(werr)?;
        tmp.as_file().sync_all().map_err(werr)?;
        // Keep an existing file's mode; a new one gets the usual 0644 (temp files start at 0600).
        let mode = std::fs::metadata(&p).ok().map(|m| m.permissions()).or_else(new_file_permissions);
        if let Some(mode) = mode {
            std::fs::set_permissions(tmp.path(), mode).map_err(werr)?;
        }
        staged.push((tmp, p, c.path.clone()));
    }
    for (tmp, p, rel) in staged {
        tmp.persist(&p).map_err(|e| Error::Write { path: rel, source: e.error })?;
    }
    for c in changes.iter().filter(|c| c.action == Action::Delete) {
        std::fs::remove_file(root.join(&c.path)).map_err(|e| Error::Write { path: c.path.clone(), source: e })?;
    }
    Ok(())
}

#[cfg(unix)]
fn new_file_permissions() -> Option<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn new_file_permissions() -> Option<std::fs::Permissions> {
    None
}

/// Run `git -C root ARGS`; stdout, or the first line git printed on failure.
pub(crate) fn git(root: &Path, args: &[&str]) -> Result<String> {
    git_with_input(root, args, None)
}

/// `git` with `input` on its stdin (e.g. `hash-object --stdin`).
pub(crate) fn git_with_input(root: &Path, args: &[&str], input: Option<&[u8]>) -> Result<String> {
    use std::io::Write;
    use std::process::Stdio;
    let what = format!("run git {}", args.first().copied().unwrap_or_default());
    let spawn_error = |e: std::io::Error| Error::Git { what: what.clone(), msg: format!("{e} (is git installed?)") };
    let mut child = Command::new("git").arg("-C").arg(root).args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped())
        .spawn().map_err(spawn_error)?;
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(bytes).map_err(|e| Error::Git { what: what.clone(), msg: e.to_string() })?;
    }
    let out = child.wait_with_output().map_err(spawn_error)?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr).lines().find(|l| !l.trim().is_empty()).unwrap_or("failed").trim().to_string();
        return Err(Error::Git { what, msg });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The conventional commit message for one app.
pub fn commit_message(app: &AppPlan) -> String {
    let scope = app.namespace.clone().unwrap_or_else(|| "apps".into());
    if app.step == "prepare" {
        let marked: Vec<String> = app.changes.iter().map(|c| c.path.clone()).collect();
        return format!("chore({scope}): prepare {} for the hand-over to its helm chart\n\nMarks the objects chart {} {} takes over (Helm ownership; Flux prune disabled), so the move keeps them.\nFiles: {}.\n",
            app.name, app.chart.name, app.chart.version, marked.join(", "));
    }
    let mut msg = format!("feat({scope}): migrate {} to helm chart\n\n", app.name);
    msg.push_str(&format!("Chart: {} {} from {} (HelmRepository {}).\n", app.chart.name, app.chart.version, app.chart.repository, app.source));
    msg.push_str(&format!("Replaces the raw {} at {} with HelmRelease {}.\n", app.workload, app.origin.file, app.helmrelease));
    if !app.kept.is_empty() {
        msg.push_str(&format!("Kept: {}.\n", app.kept.join(", ")));
    }
    if !app.deleted.is_empty() {
        msg.push_str(&format!("Deleted: {}.\n", app.deleted.join(", ")));
    }
    let count = |s| app.ledger.iter().filter(|e| e.status == s).count();
    use crate::plan::Status::*;
    msg.push_str(&format!("Ledger: {} mapped, {} defaulted, {} dropped, {} overridden.\n", count(Mapped), count(Defaulted), count(Dropped), count(Overridden)));
    msg
}

/// Write each app's changes and commit them, one commit per app.
pub fn commit_per_app(plan: &Plan, allow_dirty: bool) -> Result<()> {
    let root = &plan.root;
    git(root, &["rev-parse", "--git-dir"]).map_err(|_| Error::Git { what: "commit".into(), msg: format!("{} is not in a git repository", root.display()) })?;
    if !allow_dirty && !git(root, &["status", "--porcelain", "--", "."])?.trim().is_empty() {
        return Err(Error::Git { what: "commit".into(), msg: "the working tree has uncommitted changes: commit or stash them, or pass --allow-dirty".into() });
    }
    for app in &plan.apps {
        if app.changes.is_empty() {
            continue;
        }
        write(root, &app.changes)?;
        let mut args = vec!["add", "-A", "--"];
        args.extend(app.changes.iter().map(|c| c.path.as_str()));
        git(root, &args)?;
        let mut commit = vec!["commit", "--quiet", "-m"];
        let msg = commit_message(app);
        commit.push(&msg);
        commit.push("--");
        commit.extend(app.changes.iter().map(|c| c.path.as_str()));
        git(root, &commit)?;
    }
    Ok(())
}
