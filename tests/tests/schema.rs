//! The schemas the product embeds (`shared/schemas/`) are byte-identical to the chart and CRD
//! files the tests use, so the product cannot validate against something that drifted.

use helmigrate::schema::{flux_crd_files, APP_TEMPLATE_4_1_1};
use helmigrate_tests::workspace;

#[test]
fn embedded_chart_schemas_equal_the_shared_chart_files() {
    let charts = workspace().join("../shared/charts");
    let files = APP_TEMPLATE_4_1_1.files();
    assert_eq!(files.len(), 19, "app-template's root, common's root and its 17 schemas/*.json");
    for (rel, embedded) in &files {
        let on_disk = std::fs::read(charts.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert!(on_disk == embedded.as_bytes(), "{rel} differs from the embedded copy in shared/schemas");
    }
    // And nothing under common/4.1.1/schemas is left out.
    let mut listed: Vec<String> = std::fs::read_dir(charts.join("common/4.1.1/schemas")).unwrap()
        .map(|e| format!("common/4.1.1/schemas/{}", e.unwrap().file_name().to_string_lossy())).collect();
    listed.sort();
    let mut embedded: Vec<String> = files.iter().map(|(r, _)| r.clone()).filter(|r| r.starts_with("common/4.1.1/schemas/")).collect();
    embedded.sort();
    assert_eq!(embedded, listed);
}

#[test]
fn embedded_flux_crds_equal_the_test_crds() {
    for (name, embedded) in flux_crd_files() {
        let on_disk = std::fs::read(workspace().join("tests/crds/flux").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(on_disk == embedded.as_bytes(), "{name} differs from the embedded copy in shared/schemas/flux");
    }
}
