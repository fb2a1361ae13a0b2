//! The emitted Flux documents validated against the real CRDs' OpenAPI schemas
//! (tests/crds/flux, taken from the controllers' modules). The schemas are made strict first:
//! every object without `x-kubernetes-preserve-unknown-fields` rejects unknown fields, so a
//! misspelt key fails here instead of being pruned silently by the apiserver.

use serde_json::Value;

use helmigrate_tests::{example_repo, helmigrate, snapshot, workspace};

fn crd_schema(file: &str, version: &str) -> Value {
    let text = std::fs::read_to_string(workspace().join("tests/crds/flux").join(file)).expect("CRD file");
    let crd: Value = serde_saphyr::from_str(&text).expect("CRD parses");
    let v = crd["spec"]["versions"].as_array().unwrap().iter().find(|v| v["name"] == version).expect("version served");
    let mut schema = v["schema"]["openAPIV3Schema"].clone();
    strict(&mut schema);
    schema
}

fn strict(s: &mut Value) {
    if let Value::Object(m) = s {
        let preserve = m.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
        if m.contains_key("properties") && !m.contains_key("additionalProperties") && !preserve {
            m.insert("additionalProperties".into(), Value::Bool(false));
        }
        for (_, v) in m.iter_mut() {
            strict(v);
        }
    } else if let Value::Array(a) = s {
        a.iter_mut().for_each(strict);
    }
}

fn errors(schema: &Value, doc: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).expect("schema compiles");
    validator.iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

fn docs(text: &str) -> Vec<Value> {
    helmigrate::yaml::split_documents(text).iter().filter(|d| !d.is_blank())
        .map(|d| helmigrate::yaml::parse_document("t", d).expect("parses")).collect()
}

fn written() -> std::collections::BTreeMap<String, Vec<u8>> {
    let repo = example_repo("home-infra");
    let r = helmigrate(&["convert", "kubernetes/apps/base/ai", "--write"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    snapshot(repo.path())
}

#[test]
fn helmreleases_match_the_helm_controller_v2_schema() {
    let schema = crd_schema("helm.toolkit.fluxcd.io_helmreleases.yaml", "v2");
    let files = written();
    let mut checked = 0;
    for (path, bytes) in &files {
        if !path.ends_with("helmrelease.yaml") {
            continue;
        }
        for doc in docs(std::str::from_utf8(bytes).unwrap()) {
            assert_eq!(doc["apiVersion"], "helm.toolkit.fluxcd.io/v2");
            let errs = errors(&schema, &doc);
            assert!(errs.is_empty(), "{path}: {errs:#?}");
            checked += 1;
        }
    }
    assert_eq!(checked, 2);
}

#[test]
fn helmrepositories_match_the_source_controller_v1_schema() {
    let schema = crd_schema("source.toolkit.fluxcd.io_helmrepositories.yaml", "v1");
    let files = written();
    let sources = std::str::from_utf8(&files["kubernetes/infrastructure/controllers/helm-repositories.yaml"]).unwrap();
    let all = docs(sources);
    assert_eq!(all.len(), 4);
    for doc in all {
        let errs = errors(&schema, &doc);
        assert!(errs.is_empty(), "{}: {errs:#?}", doc["metadata"]["name"]);
    }
}

#[test]
fn the_strict_schema_catches_misspelt_and_mistyped_fields() {
    let schema = crd_schema("helm.toolkit.fluxcd.io_helmreleases.yaml", "v2");
    let files = written();
    let doc = docs(std::str::from_utf8(&files["kubernetes/apps/base/ai/ollama/helmrelease.yaml"]).unwrap()).remove(0);
    let mut typo = doc.clone();
    typo["spec"]["chart"]["spec"]["verison"] = "1.39.0".into();
    assert!(!errors(&schema, &typo).is_empty(), "unknown field must fail");
    let mut wrong = doc;
    wrong["spec"]["install"]["remediation"]["retries"] = "three".into();
    assert!(!errors(&schema, &wrong).is_empty(), "wrong type must fail");
}

#[test]
fn app_template_documents_match_the_flux_schemas() {
    // The OCIRepository (ref.tag, the helm layer selector) and the HelmRelease with chartRef,
    // against the CRDs here and through the product's own embedded validator.
    let repo = example_repo("home-infra");
    let r = helmigrate(&["convert", "kubernetes/apps/base/ai", "--fallback", "app-template", "--no-render", "-o", "yaml"], repo.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let oci = crd_schema("source.toolkit.fluxcd.io_ocirepositories.yaml", "v1");
    let hr = crd_schema("helm.toolkit.fluxcd.io_helmreleases.yaml", "v2");
    let mut kinds = Vec::new();
    for doc in docs(&r.stdout) {
        let kind = doc["kind"].as_str().unwrap().to_string();
        let schema = match kind.as_str() {
            "OCIRepository" => &oci,
            "HelmRelease" => &hr,
            _ => continue,
        };
        let errs = errors(schema, &doc);
        assert!(errs.is_empty(), "{kind} {}: {errs:#?}", doc["metadata"]["name"]);
        assert_eq!(helmigrate::schema::validate_flux(&doc), Vec::new(), "{kind}");
        kinds.push(kind);
    }
    assert_eq!(kinds, ["HelmRelease", "HelmRelease", "OCIRepository", "HelmRelease"]);
}
