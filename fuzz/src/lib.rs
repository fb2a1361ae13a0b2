//! The fuzz harnesses. The cargo-fuzz targets in `fuzz_targets/` call them, and so does the
//! stable, seeded mutation test `tests/tests/fuzz_inputs.rs` (which includes this file as a
//! module), so both check the same properties:
//!
//! - nothing panics, hangs or overflows the stack, whatever the bytes;
//! - every error is one line (the CLI prints it as one `error: …` line);
//! - a plan only touches files inside the repository;
//! - documents split losslessly, and what the emitter writes parses back to the same value.

use std::path::{Component, Path};

use helmigrate::yaml;

/// Where the NUL-separated parts of a `plan_tree` input go, in this order. A repo root marker
/// (`.helmigrate.yaml`) is always written, so the temp dir is the repository.
pub const TREE_FILES: [&str; 4] = ["apps/app/kustomization.yaml", "apps/app/a.yaml", "apps/app/b.yaml", "apps/kustomization.yaml"];

/// Write `data` as a tiny repo, plan `apps/app` (and `apps` when the parent kustomization is
/// there), apply the plan when it is not blocked, and plan again.
pub fn plan_tree(data: &[u8]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("apps/app")).expect("mkdir");
    std::fs::write(root.join(".helmigrate.yaml"), "").expect("write marker");
    let parts: Vec<&[u8]> = data.splitn(TREE_FILES.len(), |&b| b == 0).collect();
    for (part, file) in parts.iter().zip(TREE_FILES) {
        std::fs::write(root.join(file), part).expect("write part");
    }
    let root = root.canonicalize().expect("canonical temp dir");
    check_plan(&root, "apps/app");
    if parts.len() == TREE_FILES.len() {
        check_plan(&root, "apps");
    }
}

fn one_line(e: &helmigrate::Error) {
    let msg = e.to_string();
    assert!(!msg.contains('\n') && !msg.contains('\r'), "an error message spans several lines: {msg:?}");
    assert!(msg.starts_with("failed to "), "an error message does not start with `failed to`: {msg:?}");
}

fn check_plan(root: &Path, path: &str) {
    let opts = Default::default();
    let plan = match helmigrate::plan::build(&root.join(path), &opts) {
        Ok(plan) => plan,
        Err(e) => return one_line(&e),
    };
    assert_eq!(plan.root, root, "the plan is rooted elsewhere");
    for c in &plan.files {
        let p = Path::new(&c.path);
        assert!(
            !c.path.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_))),
            "the plan changes a file outside the repository: {:?}",
            c.path
        );
    }
    if plan.blocked() || plan.files.is_empty() {
        return;
    }
    if let Err(e) = helmigrate::apply::write(&plan.root, &plan.files) {
        return one_line(&e);
    }
    // Converting what was just written must not crash either (it usually has nothing to do).
    if let Err(e) = helmigrate::plan::build(&root.join(path), &opts) {
        one_line(&e);
    }
}

/// Split `data` (when it is UTF-8) into documents and parse each; emit each value and parse it
/// back.
pub fn yaml_documents(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let docs = yaml::split_documents(text);
    let mut at = 0;
    for d in &docs {
        let start = d.text.as_ptr() as usize - text.as_ptr() as usize;
        assert!(d.cut.0 == at && d.cut.0 <= start && start + d.text.len() == d.cut.1, "bad cut {d:?} in {text:?}");
        if !d.text.is_empty() {
            assert_eq!(d.line, 1 + text[..start].matches('\n').count(), "bad line for {d:?} in {text:?}");
        }
        at = d.cut.1;
    }
    assert_eq!(at, text.len(), "the documents' cuts do not cover {text:?}");
    for d in &docs {
        if d.is_blank() {
            continue;
        }
        match yaml::parse_document("fuzz.yaml", d) {
            Ok(value) => round_trip(&value),
            Err(e) => one_line(&e),
        }
    }
    if let Err(e) = yaml::parse_str("fuzz.yaml", text) {
        one_line(&e);
    }
}

fn round_trip(value: &serde_json::Value) {
    let emitted = yaml::to_yaml(value, &Default::default());
    match yaml::parse_str("emitted.yaml", &emitted) {
        Ok(back) => assert!(
            same(&back, value),
            "the emitter changed a value:\n{value:?}\nwas written as\n{emitted}\nand read back as\n{back:?}"
        ),
        Err(e) => panic!("the emitter wrote YAML that does not parse: {e}\n{value:?}\n{emitted}"),
    }
}

/// Equal, with numbers compared by value (`1.0` may come back as `1`).
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value::*;
    match (a, b) {
        (Number(x), Number(y)) => x == y || x.as_f64().is_some_and(|x| y.as_f64() == Some(x)),
        (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Object(x), Object(y)) => x.len() == y.len() && x.iter().zip(y).all(|((kx, vx), (ky, vy))| kx == ky && same(vx, vy)),
        _ => a == b,
    }
}
