//! Static checks of deploy/ that need no Azure and no Bicep CLI (Bicep cannot be compiled
//! here): parameters are documented and used, module parameters and outputs referenced exist,
//! example resource names follow Azure's naming rules, and the example config, Bicep
//! parameters and Kubernetes manifests agree on names.
#[path = "bicep/azure_names.rs"]
mod azure_names;
#[path = "bicep/lint.rs"]
mod lint;

use azure_names::name_problem;
use lint::{module_problems, param_problems, params, read};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bicep_files() -> Vec<(String, PathBuf)> {
    let azure = root().join("deploy/azure");
    let mut files = vec![("main.bicep".to_string(), azure.join("main.bicep"))];
    for entry in std::fs::read_dir(azure.join("modules")).expect("deploy/azure/modules") {
        let path = entry.expect("entry").path();
        files.push((format!("modules/{}", path.file_name().unwrap().to_string_lossy()), path));
    }
    files.sort();
    files
}

#[test]
fn bicep_params_are_documented_used_and_passed_correctly() {
    let mut problems = Vec::new();
    for (name, path) in bicep_files() {
        let text = read(&path);
        problems.extend(param_problems(&name, &text));
        problems.extend(module_problems(path.parent().unwrap(), &name, &text));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn example_parameters() -> BTreeMap<String, Value> {
    let json: Value = serde_json::from_str(&read(&root().join("deploy/azure/main.parameters.example.json"))).unwrap();
    json["parameters"]
        .as_object()
        .expect("parameters object")
        .iter()
        .map(|(k, v)| (k.clone(), v["value"].clone()))
        .collect()
}

#[test]
fn parameter_file_matches_main_bicep() {
    let declared = params(&read(&root().join("deploy/azure/main.bicep")));
    let given = example_parameters();
    for name in given.keys() {
        assert!(declared.contains_key(name), "main.parameters.example.json sets {name}, not a param of main.bicep");
    }
    for (name, has_default) in &declared {
        assert!(*has_default || given.contains_key(name), "required param {name} is missing from the example");
    }
}

#[test]
fn example_resource_names_follow_azure_rules() {
    let problems: Vec<String> =
        example_parameters().iter().filter_map(|(k, v)| v.as_str().and_then(|s| name_problem(k, s))).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn naming_rules_reject_bad_names() {
    for (param, bad) in [
        ("stateStorageAccountName", "Contoso-State"),
        ("stateStorageAccountName", "ab"),
        ("flowLogStorageAccountName", "averyveryverylongstorageaccount"),
        ("eventHubsNamespaceName", "ns"),
        ("eventHubsNamespaceName", "1contoso"),
        ("eventHubsNamespaceName", "contoso-sb"),
        ("inputHubName", "-input"),
        ("adxClusterName", "Contoso_ADX"),
        ("kubernetesNamespace", "Flowlog"),
        ("aksOidcIssuerUrl", "http://issuer"),
    ] {
        assert!(name_problem(param, bad).is_some(), "{param} = {bad} should be rejected");
    }
}

#[test]
fn checks_catch_unused_undocumented_and_unknown_params() {
    let module = "@description('x')\nparam used string\nparam undocumented string\n@description('y')\nparam unused string = 'a'\noutput o string = '${used}${undocumented}'\n";
    let problems = param_problems("m.bicep", module);
    assert_eq!(problems, ["m.bicep: param undocumented has no @description", "m.bicep: param unused is never used"]);

    let dir = std::env::temp_dir().join(format!("flowlog-deploy-checks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("m.bicep"), module).unwrap();
    let main = "x\nmodule m 'm.bicep' = {\n  name: 'm'\n  params: {\n    used: 'a'\n    typo: 'b'\n    nested: {\n      inner: 1\n    }\n  }\n}\noutput a string = m.outputs.o\noutput b string = m.outputs.missing\n";
    let problems = module_problems(&dir, "main.bicep", main);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(
        problems,
        [
            "main.bicep: module m passes nested, which m.bicep does not declare",
            "main.bicep: module m passes typo, which m.bicep does not declare",
            "main.bicep: module m does not pass required undocumented of m.bicep",
            "main.bicep: m.outputs.missing is not an output of m.bicep",
        ]
    );
}

/// `key = "value"` and `key = number` pairs of a simple TOML file, keyed "section.key"; string
/// arrays become their elements joined with '\n'.
fn toml_values(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut section = String::new();
    let mut lines = text.lines().map(|l| l.split(" #").next().unwrap_or("").trim());
    while let Some(line) = lines.next() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_string();
        } else if let Some((k, v)) = line.split_once('=') {
            let mut v = v.trim().to_string();
            if v.starts_with('[') && !v.ends_with(']') {
                for more in lines.by_ref() {
                    v.push_str(more);
                    if more.ends_with(']') {
                        break;
                    }
                }
            }
            let items: Vec<&str> = v.split('"').skip(1).step_by(2).collect();
            let value = if v.starts_with('[') || v.starts_with('"') { items.join("\n") } else { v.clone() };
            out.insert(format!("{section}.{}", k.trim()), value);
        }
    }
    out
}

/// `key: value` of the first line in `yaml` with that key (enough for our flat manifests).
fn yaml_value(yaml: &str, key: &str) -> String {
    yaml.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in manifest"))
        .trim()
        .trim_matches('"')
        .to_string()
}

#[test]
fn config_bicep_and_kubernetes_agree() {
    let p = example_parameters();
    let s = |k: &str| p[k].as_str().unwrap_or_else(|| panic!("{k} is not a string")).to_string();
    let toml = toml_values(&read(&root().join("deploy/config/azure.example.toml")));
    let t = |k: &str| toml.get(k).unwrap_or_else(|| panic!("azure.example.toml lacks {k}")).clone();
    let namespace = format!("{}.servicebus.windows.net", s("eventHubsNamespaceName"));
    let state_blob = format!("https://{}.blob.core.windows.net", s("stateStorageAccountName"));
    let source = format!("https://{}.blob.core.windows.net/", s("flowLogStorageAccountName"));
    assert_eq!(t("input.namespace"), namespace);
    assert_eq!(t("output.namespace"), namespace);
    assert_eq!(t("input.hub"), s("inputHubName"));
    assert_eq!(t("output.hub"), s("outputHubName"));
    assert_eq!(t("checkpoints.account_url"), state_blob);
    assert_eq!(t("dead_letter.account_url"), state_blob);
    assert_eq!(t("offsets.account_url"), format!("https://{}.table.core.windows.net", s("stateStorageAccountName")));
    assert_eq!(t("output.adx_table"), s("adxTableName"));
    assert_eq!(t("output.adx_mapping"), s("adxMappingName"));
    for allowed in t("sources.allowed").lines() {
        assert!(allowed.starts_with(&source), "{allowed} is not in the flow-log account {source}");
    }
    // Container, table and consumer group names are fixed in the Bicep modules.
    let state = read(&root().join("deploy/azure/modules/state.bicep"));
    for k in ["checkpoints.container", "dead_letter.container", "offsets.table"] {
        assert!(state.contains(&format!("name: '{}'", t(k))), "state.bicep does not create {k} = {}", t(k));
    }
    let hubs = read(&root().join("deploy/azure/modules/eventhubs.bicep"));
    assert!(hubs.contains(&format!("name: '{}'", t("input.consumer_group"))), "consumer group not created");
    let subscription = read(&root().join("deploy/azure/modules/eventgrid-subscription.bicep"));
    for allowed in t("sources.allowed").lines() {
        let container = allowed.rsplit('/').next().unwrap();
        assert!(subscription.contains(&format!("/containers/{container}/")), "Event Grid filter lacks {container}");
    }

    // KEDA reads the checkpoints flowlog writes: same hub, group, account and container.
    let keda = read(&root().join("deploy/kubernetes/keda.yaml"));
    let settings =
        toml_values(&read(&root().join("deploy/kubernetes/settings.env")).replace('=', " = \"").replace('\n', "\"\n"));
    assert_eq!(settings[".EVENTHUBS_NAMESPACE"], s("eventHubsNamespaceName"));
    assert_eq!(settings[".STATE_STORAGE_ACCOUNT"], s("stateStorageAccountName"));
    assert_eq!(yaml_value(&keda, "eventHubName"), t("input.hub"));
    assert_eq!(yaml_value(&keda, "consumerGroup"), t("input.consumer_group"));
    assert_eq!(yaml_value(&keda, "blobContainer"), t("checkpoints.container"));
    assert_eq!(yaml_value(&keda, "checkpointStrategy"), "blobMetadata");
    // KEDA lower-cases the consumer group; the Rust checkpoint store does not.
    assert_eq!(t("input.consumer_group"), t("input.consumer_group").to_lowercase());
    assert_eq!(t("input.namespace"), t("input.namespace").to_lowercase());
    let max: i64 = yaml_value(&keda, "maxReplicaCount").parse().unwrap();
    assert!(max <= p["inputHubPartitions"].as_i64().unwrap(), "more replicas than input partitions");

    // SIGTERM budget: Kubernetes must wait longer than the daemon's shutdown deadline.
    let deployment = read(&root().join("deploy/kubernetes/deployment.yaml"));
    let grace: u64 = yaml_value(&deployment, "terminationGracePeriodSeconds").parse().unwrap();
    let deadline: u64 = t("server.shutdown_deadline_secs").parse().unwrap();
    assert!(grace > deadline, "terminationGracePeriodSeconds {grace} <= shutdown deadline {deadline}");
    for probe in ["livenessProbe", "readinessProbe"] {
        assert!(deployment.contains(&format!("{probe}:")), "no {probe}");
    }
    assert!(deployment.contains("httpGet: { path: /healthz, port: ops }"));
    assert!(deployment.contains("httpGet: { path: /readyz, port: ops }"));

    // Data connection defaults in Bicep match the ADX scripts and flowlog.toml.
    let main = read(&root().join("deploy/azure/main.bicep"));
    assert!(main.contains(&format!("param adxTableName string = '{}'", t("output.adx_table"))));
    assert!(main.contains(&format!("param adxMappingName string = '{}'", t("output.adx_mapping"))));
}

#[test]
fn image_runs_the_daemon_as_non_root() {
    let docker = read(&root().join("deploy/Dockerfile"));
    assert!(docker.contains("cargo build --release --locked"));
    assert!(docker.contains("ENTRYPOINT [\"flowlog\"]"));
    assert!(docker.contains("CMD [\"run\", \"--config\", \"/etc/flowlog/flowlog.toml\"]"));
    // Large freed buffers go back to the system (bench/README.md, memory in a drain).
    assert!(docker.contains("ENV MALLOC_MMAP_THRESHOLD_=1048576"));
    let user = docker.lines().find_map(|l| l.strip_prefix("USER ")).expect("USER line");
    let deployment = read(&root().join("deploy/kubernetes/deployment.yaml"));
    let uid = yaml_value(&deployment, "runAsUser");
    assert_eq!(user.split(':').next().unwrap(), uid, "image user and runAsUser differ");
    assert_ne!(uid, "0");
}

/// The enrichment component mounts its share where the example config's `[enrich]` paths point,
/// and its patch addresses parts of the Deployment that exist.
#[test]
fn the_enrichment_component_mounts_the_databases_where_the_config_expects_them() {
    let component: serde_norway::Value =
        serde_norway::from_str(&read(&root().join("deploy/kubernetes/enrichment/kustomization.yaml"))).unwrap();
    assert_eq!(component["kind"].as_str(), Some("Component"));
    let patch = component["patches"][0]["patch"].as_str().expect("a JSON patch");
    let ops: serde_norway::Value = serde_norway::from_str(patch).unwrap();
    let mount =
        ops.as_sequence().unwrap().iter().find_map(|op| op["value"]["mountPath"].as_str()).expect("a volume mount");
    let config = read(&root().join("deploy/config/azure.example.toml"));
    for key in ["asn_db", "geo_db", "service_tags"] {
        let line = config.lines().find(|l| l.trim_start_matches("# ").starts_with(key)).expect(key);
        assert!(line.contains(&format!("\"{mount}/")), "{key} does not point into {mount}: {line}");
    }
    let deployment: serde_norway::Value =
        serde_norway::from_str(&read(&root().join("deploy/kubernetes/deployment.yaml"))).unwrap();
    let pod = &deployment["spec"]["template"]["spec"];
    assert!(pod["volumes"].is_sequence(), "the patch appends to the pod's volumes");
    assert!(pod["containers"][0]["volumeMounts"].is_sequence());
    assert!(pod["containers"][0]["resources"]["limits"]["memory"].is_string());
    let claim =
        ops.as_sequence().unwrap().iter().find_map(|op| op["value"]["persistentVolumeClaim"]["claimName"].as_str());
    let pvc: serde_norway::Value =
        serde_norway::from_str(&read(&root().join("deploy/kubernetes/enrichment/pvc.yaml"))).unwrap();
    assert_eq!(claim, pvc["metadata"]["name"].as_str());
    assert!(read(&root().join("deploy/kubernetes/kustomization.yaml")).contains("#   - enrichment"));
}
