//! `rollback PATH`: put back the raw manifests a `convert --write` replaced.
//!
//! The files come from the record `convert --write` leaves at `<repo root>/.helmigrate/last-write.json`
//! (every changed file's content before and after), or, without a record, from git history when
//! HEAD's latest commits are helmigrate's per-app commits. Either way every file must still hold
//! exactly what helmigrate wrote, or nothing is restored. History is never rewritten: `--commit`
//! adds one new commit. The cluster side is printed as a safe order of `flux` commands, or with
//! `--execute` carried out (see `execute`).

mod execute;

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::apply::{self, git};
use crate::cluster::KubeArgs;
use crate::error::{Error, Result};
use crate::output;
use crate::plan::{Action, FileChange, Plan};
use crate::redact::Hidden;
use crate::source::flux::{FluxKustomization, kustomizations as flux_kustomizations};
use crate::source::repo::{find_root, split_objects_lenient};

/// The folder helmigrate keeps its own state in, at the repo root (ignored by git).
pub const RECORD_DIR: &str = ".helmigrate";
/// The record of the last `convert --write`.
pub const RECORD: &str = ".helmigrate/last-write.json";
const RECORD_IGNORE: &str = ".helmigrate/.gitignore";
const RECORD_VERSION: u32 = 1;
const NOTHING_HERE: &str =
    "no helmigrate change to roll back here (no .helmigrate/last-write.json and HEAD is not a helmigrate commit)";

#[derive(Args, Debug)]
pub struct RollbackArgs {
    /// A folder of the GitOps repo: the one given to `convert --write`, or the repo root
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Restore the files (default: dry run, prints the diff and writes nothing)
    #[arg(long)]
    pub write: bool,
    /// With --write: one git commit `revert: restore raw manifests for <apps>` (never pushes,
    /// never rewrites history)
    #[arg(long, requires = "write")]
    pub commit: bool,
    /// With --write: carry out the cluster order too (suspend, re-apply the raw manifests, delete
    /// the suspended HelmRelease and Helm's history, resume when Flux has the restore commit),
    /// with --kubeconfig/--context; needs the role in docs/rbac-rollback.yaml
    #[arg(long, requires = "write")]
    pub execute: bool,
}

/// What `convert --write` changed, enough to undo it. Holds no secret values: helmigrate never
/// changes Secrets (SOPS files are read for names only), and a changed file that shows one (a
/// Secret next to a workload, a secret-looking env literal) is kept as a git blob id.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub version: u32,
    /// UTC, RFC 3339.
    pub written_at: String,
    /// The PATH given to convert, relative to the repo root (`.` for the root).
    pub path: String,
    /// Whether convert also committed (one commit per app).
    pub committed: bool,
    pub apps: Vec<RecordApp>,
    pub files: Vec<RecordFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordApp {
    pub name: String,
    pub namespace: Option<String>,
    /// The HelmRelease's Helm release name.
    pub release_name: String,
    /// Repo-relative path of the HelmRelease file.
    pub helmrelease: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordFile {
    pub path: String,
    /// Content before the write; null when helmigrate created the file (or it is in `beforeBlob`).
    pub before: Option<String>,
    /// Content helmigrate wrote; null when it deleted the file (or it is in `afterBlob`).
    pub after: Option<String>,
    /// A content that holds secret values (Secret data next to a workload, secret-looking env
    /// literals) is kept as a git blob id instead: the record never holds a secret's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_blob: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_blob: Option<String>,
}

impl RecordFile {
    fn new(root: &Path, path: &str, before: Option<&String>, after: Option<&String>, hidden: &Hidden) -> Result<Self> {
        let (before, before_blob) = stash(root, before, hidden)?;
        let (after, after_blob) = stash(root, after, hidden)?;
        Ok(RecordFile { path: path.to_string(), before, after, before_blob, after_blob })
    }

    /// Back from blob ids to contents.
    fn resolve(mut self, root: &Path) -> Result<Self> {
        for (blob, text) in [(&self.before_blob, &mut self.before), (&self.after_blob, &mut self.after)] {
            if let Some(id) = blob {
                let content = git(root, &["cat-file", "blob", id]).map_err(|_| Error::input(RECORD, None, format!(
                    "git object {id} for {} is gone from the repository; delete the record to roll back from git history", self.path)))?;
                *text = Some(content);
            }
        }
        self.before_blob = None;
        self.after_blob = None;
        Ok(self)
    }
}

/// `text` as it goes into the record: inline, or as a blob id when it shows a hidden value and
/// the repo is a git repository (`git hash-object -w`; the blob is what Git already has or gets
/// with the commit). Outside git it stays inline: that is the only copy rollback could use.
fn stash(root: &Path, text: Option<&String>, hidden: &Hidden) -> Result<(Option<String>, Option<String>)> {
    let Some(text) = text else { return Ok((None, None)) };
    if !hidden.any_in(text) || git(root, &["rev-parse", "--git-dir"]).is_err() {
        return Ok((Some(text.clone()), None));
    }
    let id = crate::apply::git_with_input(root, &["hash-object", "-w", "--stdin"], Some(text.as_bytes()))?.trim().to_string();
    if id.is_empty() {
        return Err(Error::Git { what: "store a rollback copy of a file with secret values".into(), msg: "git hash-object printed no id".into() });
    }
    Ok((None, Some(id)))
}

/// Save the record of `plan`'s write under the repo root (atomically, after the files). A plan
/// without file changes saves nothing, so a second `convert --write` leaves the record as it is.
pub fn save_record(plan: &Plan, converted: &Path, committed: bool) -> Result<()> {
    if plan.files.is_empty() {
        return Ok(());
    }
    let record = Record {
        version: RECORD_VERSION,
        written_at: rfc3339_now(),
        path: relative(&plan.root, converted),
        committed,
        apps: plan.apps.iter().map(|a| RecordApp {
            name: a.name.clone(),
            namespace: a.namespace.clone(),
            release_name: a.release_name.clone(),
            helmrelease: a.helmrelease.clone(),
        }).collect(),
        files: plan.files.iter().map(|f| RecordFile::new(&plan.root, &f.path, f.before.as_ref(), f.after.as_ref(), &plan.hidden))
            .collect::<Result<_>>()?,
    };
    let mut text = serde_json::to_string_pretty(&record).map_err(|e| Error::Write { path: RECORD.into(), source: std::io::Error::other(e) })?;
    text.push('\n');
    let mut changes = vec![change(&plan.root, RECORD, Some(text))];
    if !plan.root.join(RECORD_IGNORE).exists() {
        // The record holds file contents: keep it out of `git add -A` and `git status`.
        changes.push(change(&plan.root, RECORD_IGNORE, Some("# written by helmigrate: its rollback record, never committed\n*\n".into())));
    }
    apply::write(&plan.root, &changes)
}

/// The record under `root`, if there is one.
pub fn load_record(root: &Path) -> Result<Option<Record>> {
    let p = root.join(RECORD);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Read { path: RECORD.into(), source: e }),
    };
    let record: Record = serde_json::from_str(&text)
        .map_err(|e| Error::input(RECORD, Some(e.line()), format!("not a helmigrate rollback record ({e}); delete it to roll back from git history")))?;
    if record.version != RECORD_VERSION {
        return Err(Error::input(RECORD, None, format!("record version {} is not supported (expected {RECORD_VERSION})", record.version)));
    }
    let mut record = record;
    record.files = std::mem::take(&mut record.files).into_iter().map(|f| f.resolve(root)).collect::<Result<_>>()?;
    Ok(Some(record))
}

fn change(root: &Path, rel: &str, after: Option<String>) -> FileChange {
    let before = std::fs::read_to_string(root.join(rel)).ok();
    let action = match (&before, &after) {
        (None, _) => Action::Create,
        (Some(_), None) => Action::Delete,
        (Some(_), Some(_)) => Action::Modify,
    };
    FileChange { path: rel.to_string(), action, before, after }
}

/// `p` relative to `root` with `/` separators (`.` for the root itself).
fn relative(root: &Path, p: &Path) -> String {
    let abs = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    match abs.strip_prefix(root) {
        Ok(r) if r.as_os_str().is_empty() => ".".into(),
        Ok(r) => r.to_string_lossy().replace('\\', "/"),
        Err(_) => p.to_string_lossy().replace('\\', "/"),
    }
}

/// Does the folder `a` contain `b`, or `b` contain `a` (`.` contains everything)?
fn overlaps(a: &str, b: &str) -> bool {
    a == "." || b == "." || Path::new(a).starts_with(b) || Path::new(b).starts_with(a)
}

fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// What to undo, from the record or from git.
struct Undo {
    /// Where it came from, for people.
    from: String,
    from_record: bool,
    apps: Vec<RecordApp>,
    files: Vec<RecordFile>,
}


/// `feat(<scope>): migrate <app> to helm chart` → (scope, app).
fn helmigrate_subject(s: &str) -> Option<(String, String)> {
    let rest = s.strip_prefix("feat(")?;
    let (scope, rest) = rest.split_once("): migrate ")?;
    let app = rest.strip_suffix(" to helm chart")?;
    (!scope.is_empty() && !app.is_empty() && !app.contains(' ')).then(|| (scope.to_string(), app.to_string()))
}

/// The file at `rev` (None when absent there), by a path relative to `root`.
fn git_file(root: &Path, rev: &str, rel: &str) -> Result<Option<String>> {
    let spec = format!("{rev}:./{rel}");
    if git(root, &["cat-file", "-e", &spec]).is_err() {
        return Ok(None);
    }
    git(root, &["show", &spec]).map(Some)
}

/// Without a record: HEAD's run of consecutive helmigrate commits, undone against the parent of
/// the oldest one. Nothing in history changes.
fn undo_from_git(root: &Path) -> Result<Undo> {
    let none = || Error::usage("roll back", NOTHING_HERE);
    let log = git(root, &["log", "--format=%H%x09%s", "-n", "200", "HEAD"]).map_err(|_| none())?;
    let mut commits = Vec::new();
    for line in log.lines() {
        let Some((sha, subject)) = line.split_once('\t') else { break };
        let Some((scope, app)) = helmigrate_subject(subject) else { break };
        commits.push((sha.to_string(), scope, app));
    }
    let Some((oldest, _, _)) = commits.last().cloned() else { return Err(none()) };
    let base = git(root, &["rev-parse", "--verify", "--quiet", &format!("{oldest}^")])
        .map_err(|_| Error::usage("roll back", format!("helmigrate commit {} has no parent to restore from", &oldest[..oldest.len().min(12)])))?
        .trim().to_string();
    let names = git(root, &["diff", "--name-only", "--relative", "--no-renames", &base, "HEAD", "--", "."])?;
    let mut files = Vec::new();
    for path in names.lines().filter(|l| !l.is_empty()) {
        files.push(RecordFile { path: path.to_string(), before: git_file(root, &base, path)?, after: git_file(root, "HEAD", path)?, before_blob: None, after_blob: None });
    }
    let mut apps = Vec::new();
    for (sha, scope, name) in commits.iter().rev() {
        let added = git(root, &["diff-tree", "--no-commit-id", "--name-only", "-r", "--relative", "--diff-filter=A", sha])?;
        let helmrelease = added.lines()
            .find(|p| p.rsplit('/').next().is_some_and(|f| f.starts_with("helmrelease")))
            .unwrap_or_default().to_string();
        let release_name = files.iter().find(|f| f.path == helmrelease).and_then(|f| f.after.as_deref())
            .and_then(|t| helmrelease_doc(&helmrelease, t))
            .and_then(|v| v.pointer("/spec/releaseName").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| name.clone());
        apps.push(RecordApp { name: name.clone(), namespace: Some(scope.clone()), release_name, helmrelease });
    }
    let short = |s: &str| s[..s.len().min(12)].to_string();
    let from = if commits.len() == 1 {
        format!("git: helmigrate commit {} (HEAD), against {}", short(&commits[0].0), short(&base))
    } else {
        format!("git: {} helmigrate commits {}..HEAD, against {}", commits.len(), short(&oldest), short(&base))
    };
    Ok(Undo { from, from_record: false, apps, files })
}

fn helmrelease_doc(rel: &str, text: &str) -> Option<Value> {
    split_objects_lenient(rel, text).ok()?.into_iter().find(|v| v.get("kind").and_then(Value::as_str) == Some("HelmRelease"))
}

/// The Flux Kustomization that applies `file` (the deepest, or one reaching it through an overlay).
fn kustomization_for<'k>(root: &Path, ks: &'k [FluxKustomization], file: &str) -> Option<&'k FluxKustomization> {
    crate::source::flux::applying(root, ks, file).into_iter().max_by_key(|k| if k.path == "." { 0 } else { k.path.len() })
}

/// The safe order for the cluster, as commands to run. Printing only: nothing here touches it.
fn cluster_order(root: &Path, apps: &[RecordApp], committed: bool) -> String {
    let ks = flux_kustomizations(root);
    let ns_flag = |a: &RecordApp| a.namespace.as_deref().map(|n| format!(" -n {n}")).unwrap_or_default();
    let mut out = String::from("\nIn the cluster, in this order (helmigrate changes nothing there; run these yourself):\n");
    out.push_str("  1. Suspend the HelmRelease(s), so helm-controller neither upgrades nor uninstalls while Flux swaps the objects back:\n");
    for a in apps {
        out.push_str(&format!("       flux suspend helmrelease {}{}\n", a.name, ns_flag(a)));
    }
    let step2 = if committed { "Push the restore commit" } else { "Commit and push the restored files (or run rollback --write --commit)" };
    out.push_str(&format!("  2. {step2}, then re-apply the raw manifests:\n"));
    let mut seen = Vec::new();
    for a in apps {
        match kustomization_for(root, &ks, &a.helmrelease) {
            Some(k) if !seen.contains(&k.name) => {
                seen.push(k.name.clone());
                out.push_str(&format!("       flux reconcile kustomization {} -n {} --with-source\n", k.name, k.namespace));
            }
            Some(_) => {}
            None if !seen.contains(&String::new()) => {
                seen.push(String::new());
                out.push_str("       flux reconcile kustomization <the Flux Kustomization that applies this folder> --with-source\n");
            }
            None => {}
        }
    }
    out.push_str("  3. Delete the HelmRelease(s) while still suspended (a suspended HelmRelease is deleted without a Helm uninstall):\n");
    for a in apps {
        match kustomization_for(root, &ks, &a.helmrelease) {
            Some(k) if k.prune => out.push_str(&format!("       kubectl get helmrelease {}{}   # NotFound: Kustomization {} (prune: true) deleted it in step 2\n", a.name, ns_flag(a), k.name)),
            _ => out.push_str(&format!("       kubectl delete helmrelease {}{}\n", a.name, ns_flag(a))),
        }
    }
    out.push_str("     Do not `flux resume` them: a resumed HelmRelease puts the workload back on the chart (resume only to abandon the rollback).\n");
    out.push_str("  4. Objects only the chart had stay behind (the release is not uninstalled); list them, delete what the raw manifests do not need:\n");
    for a in apps {
        out.push_str(&format!("       kubectl get all,serviceaccount,configmap,secret{} -l app.kubernetes.io/instance={}\n", ns_flag(a), a.release_name));
        out.push_str(&format!("       kubectl delete secret{} -l owner=helm,name={}   # Helm's own history of the release\n", ns_flag(a), a.release_name));
    }
    out.push_str("     If Flux reports an immutable field (a selector or volumeClaimTemplates that differ from the chart's), delete that\n");
    out.push_str("     one workload object and reconcile again; its pods restart.\n");
    out.push_str("Data: claims are untouched either way. Claims in the kept files were never part of a HelmRelease, nothing above\n");
    out.push_str("deletes a PersistentVolumeClaim, and the raw workloads mount their claims by name again. If the chart used other claim\n");
    out.push_str("names, what was written while on the chart stays in those claims (kubectl get pvc). Back up first all the same.\n");
    out
}

pub fn run(kube: &KubeArgs, args: &RollbackArgs) -> Result<i32> {
    let root = find_root(&args.path)?;
    let rel = relative(&root, &args.path);
    let undo = match load_record(&root)? {
        Some(rec) => {
            if !overlaps(&rec.path, &rel) {
                return Err(Error::usage("roll back", format!(
                    "the last convert --write ({RECORD}) was for {}, not {rel}: pass {} or the repo root", rec.path, rec.path)));
            }
            Undo { from: format!("{RECORD}, convert --write at {}", rec.written_at), from_record: true, apps: rec.apps, files: rec.files }
        }
        None => undo_from_git(&root)?,
    };

    // Every file must still be exactly what helmigrate wrote: else an edit made since would be lost.
    for f in &undo.files {
        let now = match std::fs::read(root.join(&f.path)) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::Read { path: f.path.clone(), source: e }),
        };
        if now.as_deref() != f.after.as_deref().map(str::as_bytes) {
            let how = if f.after.is_none() { "exists again" } else if now.is_none() { "was deleted" } else { "was edited" };
            return Err(Error::usage("roll back", format!(
                "{} {how} since helmigrate wrote it; nothing was restored (undo that change, or restore the files by hand)", f.path)));
        }
    }
    let changes: Vec<FileChange> = undo.files.iter().filter(|f| f.before != f.after).map(|f| {
        let action = match (&f.after, &f.before) {
            (None, _) => Action::Create,
            (Some(_), None) => Action::Delete,
            (Some(_), Some(_)) => Action::Modify,
        };
        FileChange { path: f.path.clone(), action, before: f.after.clone(), after: f.before.clone() }
    }).collect();

    let names: Vec<String> = undo.apps.iter().map(|a| a.name.clone()).collect();
    let titles: Vec<String> = undo.apps.iter().map(|a| format!("{}/{}", a.namespace.as_deref().unwrap_or("-"), a.name)).collect();
    let mut out = std::io::stdout().lock();
    let mut text = format!("rollback of {} (from {})\n\n", titles.join(", "), undo.from);
    // The diff shows whole files: mask what convert's plan masked.
    let mut hidden = Hidden::default();
    for f in &undo.files {
        f.before.iter().chain(&f.after).for_each(|t| hidden.add_text(t));
    }
    for c in &changes {
        text.push_str(&hidden.redact(&output::unified(c, output::color())));
    }
    let count = |a| changes.iter().filter(|c| c.action == a).count();
    text.push_str(&format!("\n{} file(s) to restore: {} re-created, {} modified, {} deleted\n",
        changes.len(), count(Action::Create), count(Action::Modify), count(Action::Delete)));
    let _ = out.write_all(text.as_bytes());

    if !args.write {
        let _ = out.write_all(cluster_order(&root, &undo.apps, false).as_bytes());
        let _ = writeln!(out, "dry run: nothing restored (add --write to apply)");
        return Ok(0);
    }
    if args.commit {
        git(&root, &["rev-parse", "--git-dir"]).map_err(|_| Error::Git { what: "commit".into(), msg: format!("{} is not in a git repository", root.display()) })?;
    }
    apply::write(&root, &changes)?;
    if undo.from_record {
        // The files are back: the record no longer describes them.
        std::fs::remove_file(root.join(RECORD)).map_err(|e| Error::Write { path: RECORD.into(), source: e })?;
        let _ = std::fs::remove_file(root.join(RECORD_IGNORE));
        let _ = std::fs::remove_dir(root.join(RECORD_DIR));
    }
    if args.commit && !changes.is_empty() {
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        let mut add = vec!["add", "-A", "--"];
        add.extend(&paths);
        git(&root, &add)?;
        let msg = format!("revert: restore raw manifests for {}\n\nRolls back helmigrate's move of {} onto Helm charts ({}).\n",
            names.join(", "), titles.join(", "), undo.from);
        let mut commit = vec!["commit", "--quiet", "-m", &msg, "--"];
        commit.extend(&paths);
        git(&root, &commit)?;
    }
    let _ = writeln!(out, "restored {} file(s){}", changes.len(), if args.commit { "; 1 commit" } else { "" });
    if args.execute {
        drop(out);
        return execute::run(kube, &root, &undo.apps, &changes, args.commit).map(|()| 0);
    }
    let _ = out.write_all(cluster_order(&root, &undo.apps, args.commit).as_bytes());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects() {
        assert_eq!(helmigrate_subject("feat(ai): migrate ollama to helm chart"), Some(("ai".into(), "ollama".into())));
        assert_eq!(helmigrate_subject("feat(ai): migrate to helm chart"), None);
        assert_eq!(helmigrate_subject("revert: restore raw manifests for ollama"), None);
    }

    #[test]
    fn overlap() {
        assert!(overlaps(".", "a/b"));
        assert!(overlaps("a/b", "a/b/c"));
        assert!(overlaps("a/b/c", "a/b"));
        assert!(!overlaps("a/b", "a/bc"));
    }

    #[test]
    fn timestamp_shape() {
        let t = rfc3339_now();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
    }
}
