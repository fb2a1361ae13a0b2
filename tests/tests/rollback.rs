//! `rollback PATH`: convert → rollback restores the raw manifests byte for byte, from the
//! `.helmigrate/` record or, without one, from git history (never rewritten).

use std::collections::BTreeMap;
use std::path::Path;

use helmigrate_tests::{example_repo, git, helmigrate, snapshot};

const APPS: &str = "kubernetes/apps/base/ai";
const RECORD: &str = ".helmigrate/last-write.json";

/// The tree without helmigrate's own `.helmigrate/` folder.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    snapshot(dir).into_iter().filter(|(p, _)| !p.starts_with(".helmigrate/")).collect()
}

#[test]
fn round_trip_from_the_record_is_byte_identical() {
    let repo = example_repo("home-infra");
    let original = snapshot(repo.path());
    let r = helmigrate(&["convert", APPS, "--write"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(repo.path().join(RECORD).is_file(), "convert --write saves the record");
    assert!(git(repo.path(), &["status", "--porcelain", "--", ".helmigrate"]).is_empty(), "the record is ignored by git");
    assert_ne!(files(repo.path()), original);

    let r = helmigrate(&["rollback", APPS, "--write"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("restored 9 file(s)"), "{}", r.stdout);
    assert!(r.stdout.contains("flux suspend helmrelease ollama -n ai"), "{}", r.stdout);
    assert!(r.stdout.contains("flux suspend helmrelease open-webui -n ai"), "{}", r.stdout);
    assert!(r.stdout.contains("flux reconcile kustomization apps -n flux-system"), "{}", r.stdout);
    assert!(r.stdout.contains("claims are untouched"), "{}", r.stdout);
    assert!(!repo.path().join(".helmigrate").exists(), ".helmigrate/ is gone after the rollback");
    assert_eq!(snapshot(repo.path()), original, "byte-identical to the original");
    assert!(git(repo.path(), &["status", "--porcelain"]).is_empty());

    // Nothing left to roll back.
    let again = helmigrate(&["rollback", APPS, "--write"], repo.path());
    assert_eq!(again.code, 2, "{}", again.stdout);
}

#[test]
fn round_trip_from_git_history_after_commit() {
    let repo = example_repo("home-infra");
    let initial = git(repo.path(), &["rev-parse", "HEAD"]).trim().to_string();
    let original = snapshot(repo.path());
    let r = helmigrate(&["convert", APPS, "--write", "--commit"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(git(repo.path(), &["status", "--porcelain"]).is_empty(), "the record does not dirty the tree");
    std::fs::remove_file(repo.path().join(RECORD)).unwrap();
    let heads = git(repo.path(), &["log", "--format=%H", "-2"]);

    let r = helmigrate(&["rollback", APPS, "--write", "--commit"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("from git: 2 helmigrate commits"), "{}", r.stdout);
    assert!(r.stdout.contains("restored 9 file(s); 1 commit"), "{}", r.stdout);
    assert_eq!(files(repo.path()), original, "working tree byte-identical to the original commit");
    assert!(git(repo.path(), &["diff", "--stat", &initial, "HEAD"]).is_empty(), "HEAD's tree is the original tree");
    assert!(git(repo.path(), &["status", "--porcelain"]).is_empty());

    let log = git(repo.path(), &["log", "--format=%s"]);
    assert_eq!(log, "revert: restore raw manifests for ollama, open-webui\nfeat(ai): migrate open-webui to helm chart\n\
                     feat(ai): migrate ollama to helm chart\ninitial\n", "history is kept, one commit added");
    let all = git(repo.path(), &["log", "--format=%H"]);
    for sha in heads.lines() {
        assert!(all.lines().any(|l| l == sha), "helmigrate commit {sha} is still in history:\n{all}");
    }
    assert!(git(repo.path(), &["remote"]).is_empty(), "nothing pushed");

    // HEAD is now the revert, not a helmigrate commit: nothing to roll back.
    let again = helmigrate(&["rollback", APPS], repo.path());
    assert_eq!(again.code, 2);
}

#[test]
fn dry_run_shows_the_diff_and_writes_nothing() {
    let repo = example_repo("home-infra");
    assert_eq!(helmigrate(&["convert", APPS, "--write"], repo.path()).code, 0);
    let converted = snapshot(repo.path());
    let r = helmigrate(&["rollback", APPS], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(snapshot(repo.path()), converted, "a dry run writes nothing (the record stays too)");
    assert!(r.stdout.contains("--- a/kubernetes/apps/base/ai/ollama/helmrelease.yaml\n+++ /dev/null\n"), "{}", r.stdout);
    assert!(r.stdout.contains("--- /dev/null\n+++ b/kubernetes/apps/base/ai/ollama/statefulset.yaml\n"), "{}", r.stdout);
    assert!(r.stdout.contains("9 file(s) to restore: 4 re-created, 3 modified, 2 deleted"), "{}", r.stdout);
    assert!(r.stdout.contains("dry run: nothing restored (add --write to apply)"), "{}", r.stdout);
    assert!(r.stdout.contains("1. Suspend"), "{}", r.stdout);
}

#[test]
fn refuses_when_a_converted_file_was_edited_since() {
    let repo = example_repo("home-infra");
    assert_eq!(helmigrate(&["convert", APPS, "--write"], repo.path()).code, 0);
    let hr = repo.path().join("kubernetes/apps/base/ai/open-webui/helmrelease.yaml");
    let mut text = std::fs::read_to_string(&hr).unwrap();
    text.push_str("# tuned by hand\n");
    std::fs::write(&hr, text).unwrap();
    let before = snapshot(repo.path());
    for args in [vec!["rollback", APPS, "--write"], vec!["rollback", APPS]] {
        let r = helmigrate(&args, repo.path());
        assert_eq!(r.code, 2, "{args:?}: {}", r.stdout);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.starts_with("error: failed to roll back: kubernetes/apps/base/ai/open-webui/helmrelease.yaml was edited since"), "{}", r.stderr);
        assert_eq!(snapshot(repo.path()), before, "nothing written");
    }
}

#[test]
fn a_second_convert_write_leaves_the_record_untouched() {
    let repo = example_repo("home-infra");
    assert_eq!(helmigrate(&["convert", APPS, "--write"], repo.path()).code, 0);
    let record = std::fs::read(repo.path().join(RECORD)).unwrap();
    let modified = std::fs::metadata(repo.path().join(RECORD)).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = helmigrate(&["convert", APPS, "--write"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("nothing to change"), "{}", r.stdout);
    assert_eq!(std::fs::read(repo.path().join(RECORD)).unwrap(), record, "byte-identical");
    assert_eq!(std::fs::metadata(repo.path().join(RECORD)).unwrap().modified().unwrap(), modified, "not rewritten");
}

#[test]
fn no_record_and_no_helmigrate_commit_is_a_clear_error() {
    let repo = example_repo("home-infra");
    let before = snapshot(repo.path());
    for args in [vec!["rollback", APPS], vec!["rollback", APPS, "--write", "--commit"]] {
        let r = helmigrate(&args, repo.path());
        assert_eq!(r.code, 2, "{args:?}: {}", r.stdout);
        assert_eq!(r.stderr.trim(), "error: failed to roll back: no helmigrate change to roll back here \
            (no .helmigrate/last-write.json and HEAD is not a helmigrate commit)");
        assert!(r.stdout.is_empty(), "{}", r.stdout);
    }
    assert_eq!(snapshot(repo.path()), before);
}

#[test]
fn a_record_for_another_folder_is_not_rolled_back_from_here() {
    let repo = example_repo("home-infra");
    assert_eq!(helmigrate(&["convert", "kubernetes/apps/base/ai/ollama", "--write"], repo.path()).code, 0);
    let r = helmigrate(&["rollback", "kubernetes/apps/base/ai/comfyui"], repo.path());
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("was for kubernetes/apps/base/ai/ollama"), "{}", r.stderr);
    // The repo root covers it.
    let r = helmigrate(&["rollback", ".", "--write"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
}
