//! Remove what the apiserver adds to an object (status, bookkeeping metadata, defaulted fields),
//! so a workload read from a cluster maps to the same values as its manifest in Git.

use serde_json::{Map, Value, json};

/// Annotations written by tools or controllers, never by the app's author.
const TOOL_ANNOTATIONS: [&str; 4] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "kubectl.kubernetes.io/restartedAt",
    "pv.kubernetes.io/bind-completed",
];

fn remove_if(m: &mut Map<String, Value>, key: &str, default: Value) {
    if m.get(key) == Some(&default) {
        m.remove(key);
    }
}

fn obj<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    v.get_mut(key).and_then(Value::as_object_mut)
}

fn clean_metadata(meta: &mut Value) {
    let Some(m) = meta.as_object_mut() else { return };
    m.retain(|k, _| matches!(k.as_str(), "name" | "namespace" | "labels" | "annotations"));
    if let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut) {
        a.retain(|k, _| !TOOL_ANNOTATIONS.contains(&k.as_str()) && !k.starts_with("meta.helm.sh/"));
        if a.is_empty() {
            m.remove("annotations");
        }
    }
}

fn clean_probe(p: &mut Value) {
    let Some(m) = p.as_object_mut() else { return };
    for (k, d) in [("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3)] {
        remove_if(m, k, json!(d));
    }
    if let Some(h) = m.get_mut("httpGet").and_then(Value::as_object_mut) {
        remove_if(h, "scheme", json!("HTTP"));
    }
}

fn clean_container(c: &mut Value) {
    let image = c.get("image").and_then(Value::as_str).unwrap_or_default().to_string();
    let Some(m) = c.as_object_mut() else { return };
    remove_if(m, "terminationMessagePath", json!("/dev/termination-log"));
    remove_if(m, "terminationMessagePolicy", json!("File"));
    // The apiserver picks Always for `latest`/untagged images and IfNotPresent otherwise.
    let tag = image.rsplit('/').next().and_then(|last| last.split_once(':')).map(|(_, t)| t.to_string());
    let default_policy = if image.contains('@') || tag.as_deref().is_some_and(|t| t != "latest") { "IfNotPresent" } else { "Always" };
    remove_if(m, "imagePullPolicy", json!(default_policy));
    remove_if(m, "resources", json!({}));
    for port in m.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten() {
        if let Some(p) = port.as_object_mut() {
            remove_if(p, "protocol", json!("TCP"));
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = m.get_mut(probe) {
            clean_probe(p);
        }
    }
    for e in m.get_mut("env").and_then(Value::as_array_mut).into_iter().flatten() {
        if let Some(f) = e.pointer_mut("/valueFrom/fieldRef").and_then(Value::as_object_mut) {
            remove_if(f, "apiVersion", json!("v1"));
        }
    }
}

fn clean_pod_spec(spec: &mut Value) {
    let Some(m) = spec.as_object_mut() else { return };
    remove_if(m, "restartPolicy", json!("Always"));
    remove_if(m, "dnsPolicy", json!("ClusterFirst"));
    remove_if(m, "schedulerName", json!("default-scheduler"));
    remove_if(m, "securityContext", json!({}));
    remove_if(m, "terminationGracePeriodSeconds", json!(30));
    remove_if(m, "enableServiceLinks", json!(true));
    if m.get("serviceAccount") == m.get("serviceAccountName") {
        m.remove("serviceAccount");
    }
    for key in ["containers", "initContainers"] {
        for c in m.get_mut(key).and_then(Value::as_array_mut).into_iter().flatten() {
            clean_container(c);
        }
    }
    for v in m.get_mut("volumes").and_then(Value::as_array_mut).into_iter().flatten() {
        for src in ["configMap", "secret", "projected", "downwardAPI"] {
            if let Some(s) = v.get_mut(src).and_then(Value::as_object_mut) {
                remove_if(s, "defaultMode", json!(420));
            }
        }
        if let Some(h) = v.get_mut("hostPath").and_then(Value::as_object_mut) {
            remove_if(h, "type", json!(""));
        }
    }
}

/// Strip `value` (an object of `kind` as the apiserver returns it) back to what its author wrote.
pub fn strip(kind: &str, mut value: Value) -> Value {
    if let Some(m) = value.as_object_mut() {
        m.remove("status");
    }
    if let Some(meta) = value.get_mut("metadata") {
        clean_metadata(meta);
    }
    match kind {
        "Deployment" | "StatefulSet" => {
            if let Some(spec) = obj(&mut value, "spec") {
                remove_if(spec, "revisionHistoryLimit", json!(10));
                remove_if(spec, "progressDeadlineSeconds", json!(600));
                remove_if(spec, "strategy", json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}));
                remove_if(spec, "podManagementPolicy", json!("OrderedReady"));
                remove_if(spec, "updateStrategy", json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}));
                remove_if(spec, "persistentVolumeClaimRetentionPolicy", json!({"whenDeleted": "Retain", "whenScaled": "Retain"}));
                for t in spec.get_mut("volumeClaimTemplates").and_then(Value::as_array_mut).into_iter().flatten() {
                    if let Some(tm) = t.as_object_mut() {
                        tm.remove("status");
                        tm.remove("apiVersion");
                        tm.remove("kind");
                        if let Some(meta) = tm.get_mut("metadata") {
                            clean_metadata(meta);
                        }
                        if let Some(s) = tm.get_mut("spec").and_then(Value::as_object_mut) {
                            remove_if(s, "volumeMode", json!("Filesystem"));
                        }
                    }
                }
                if let Some(t) = spec.get_mut("template") {
                    if let Some(meta) = t.get_mut("metadata") {
                        clean_metadata(meta);
                    }
                    if let Some(ps) = t.get_mut("spec") {
                        clean_pod_spec(ps);
                    }
                }
            }
        }
        "Service" => {
            if let Some(spec) = obj(&mut value, "spec") {
                // Allocated by the apiserver, except a headless Service's `None`, which its
                // author chose (and which can never change afterwards).
                let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
                for k in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
                    spec.remove(k);
                }
                if headless {
                    spec.insert("clusterIP".into(), json!("None"));
                }
                remove_if(spec, "externalTrafficPolicy", json!("Cluster"));
                remove_if(spec, "allocateLoadBalancerNodePorts", json!(true));
                remove_if(spec, "internalTrafficPolicy", json!("Cluster"));
                remove_if(spec, "sessionAffinity", json!("None"));
                remove_if(spec, "type", json!("ClusterIP"));
                for p in spec.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten() {
                    if let Some(pm) = p.as_object_mut() {
                        remove_if(pm, "protocol", json!("TCP"));
                    }
                }
            }
        }
        _ => {}
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_additions_go_and_author_fields_stay() {
        let served = json!({
            "metadata": {"name": "a", "namespace": "ai", "uid": "x", "resourceVersion": "1", "generation": 2, "managedFields": [],
                         "creationTimestamp": "t", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "ml"}},
            "spec": {
                "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600, "replicas": 1,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "template": {"metadata": {"creationTimestamp": null, "labels": {"app": "a"}}, "spec": {
                    "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler", "securityContext": {},
                    "terminationGracePeriodSeconds": 30,
                    "containers": [{"name": "a", "image": "a:1", "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File", "resources": {}, "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "readinessProbe": {"httpGet": {"path": "/", "port": 80, "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 3}}]}}},
            "status": {"replicas": 1}
        });
        let v = strip("Deployment", served);
        assert_eq!(v, json!({
            "metadata": {"name": "a", "namespace": "ai", "annotations": {"team": "ml"}},
            "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": "a"}}, "spec": {
                "containers": [{"name": "a", "image": "a:1", "ports": [{"containerPort": 80}],
                    "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 5}}]}}}
        }));
    }
}
