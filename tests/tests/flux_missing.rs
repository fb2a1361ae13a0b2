//! A cluster without Flux: this test binary has a control plane of its own, so removing the
//! Flux CRDs here disturbs no other test.

use helmigrate_tests::{cluster, run};

#[test]
fn commands_that_need_flux_say_it_is_not_installed() {
    let env = cluster!();
    for crd in ["helmreleases.helm.toolkit.fluxcd.io", "helmrepositories.source.toolkit.fluxcd.io"] {
        env.kubectl_run(&["delete", "crd", crd, "--wait=true"]).unwrap();
    }
    let kc = env.kubeconfig().to_str().unwrap().to_string();
    // Discovery may lag a moment behind the CRD deletion.
    let mut last = None;
    for _ in 0..50 {
        let r = run("kubectl-helmigrate", &["--kubeconfig", &kc, "verify", "-n", "default"], &std::env::temp_dir());
        if r.code == 6 {
            last = Some(r);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let r = last.expect("verify never reported Flux missing");
    assert_eq!(r.stderr.trim(), "error: failed to find helmreleases.helm.toolkit.fluxcd.io: Flux is not installed in this cluster (no helmreleases.helm.toolkit.fluxcd.io): install it with `flux install`, or point --context at the cluster that runs Flux");
    let r = run("flux-helmigrate", &["--kubeconfig", &kc, "reconcile", "helmrelease", "ollama", "-n", "default"], &std::env::temp_dir());
    assert_eq!(r.code, 6, "{}", r.stderr);
    assert!(r.stderr.contains("Flux is not installed in this cluster (no helmreleases.helm.toolkit.fluxcd.io)"), "{}", r.stderr);
    // Live convert does not need Flux: it plans without reading HelmReleases.
    let r = run("kubectl-helmigrate", &["--kubeconfig", &kc, "convert", "-n", "default"], &std::env::temp_dir());
    assert_eq!(r.code, 0, "{}", r.stderr);
}
