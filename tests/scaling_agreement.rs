//! The two autoscalers and the daemon they scale agree on where the checkpoints are: the
//! Container Apps scale rule (`deploy/azure/modules/containerapp.bicep`, its parameters
//! evaluated through `main.bicep` with `main.parameters.example.json`), the daemon's
//! configuration in that container app (the example config plus the app's `FLOWLOG_*`
//! variables, loaded by flowlog's own configuration loader), the KEDA ScaledObject
//! (`deploy/kubernetes/keda.yaml` with the `settings.env` replacements) and the daemon's
//! configuration on Kubernetes (the example config plus the Deployment's variables). They must
//! name the same namespace, hub, consumer group, storage account and checkpoint container, and
//! the two scale rules the same thresholds: otherwise the scaler reads checkpoints nobody writes
//! and scales on a lag that never shrinks.
//!
//! The Bicep is read through `tests/bicep/check.py --dump` (tree-sitter-bicep from
//! `bash tests/tools/setup.sh`).

#[path = "bicep/eval.rs"]
mod bicep_eval;

use bicep_eval::Bicep;
use flowlog::app::config::{Config, Mode, Overrides, load};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Where one autoscaler reads the checkpoints, and how it scales.
#[derive(Clone, Debug, PartialEq)]
struct ScaleRule {
    namespace: String,
    hub: String,
    consumer_group: String,
    storage_account: String,
    container: String,
    strategy: String,
    threshold: String,
    activation: String,
    polling_secs: i64,
    cooldown_secs: i64,
    min_replicas: i64,
    max_replicas: i64,
}

/// One autoscaler and the daemon it scales.
type Side = (ScaleRule, Daemon);

/// Where one daemon writes its checkpoints, as its configuration loader sees it.
#[derive(Clone, Debug, PartialEq)]
struct Daemon {
    namespace_fqdn: String,
    hub: String,
    consumer_group: String,
    storage_account: String,
    container: String,
}

fn string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The configuration the daemon builds from the example file and `env`.
fn config(env: Vec<(String, String)>) -> Config {
    let raw = load(Some(&repo().join("deploy/config/azure.example.toml")), env).expect("the example config loads");
    Config::from_raw(raw, &Overrides::default()).expect("the config validates")
}

fn daemon(env: Vec<(String, String)>) -> Daemon {
    let Mode::Azure(az) = config(env).mode else { panic!("the example config is not in Azure mode") };
    let account = az.checkpoints.account_url.trim_start_matches("https://").split('.').next().unwrap().to_string();
    Daemon {
        namespace_fqdn: az.input.namespace.clone(),
        hub: az.input.hub.clone(),
        consumer_group: az.consumer_group.clone(),
        storage_account: account,
        container: az.checkpoints.container.clone(),
    }
}

fn example_parameters() -> Map<String, Value> {
    let json: Value = serde_json::from_str(&read("deploy/azure/main.parameters.example.json")).unwrap();
    json["parameters"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v["value"].clone())).collect()
}

/// The Container Apps side: the scale rule and the daemon's configuration in the app.
/// The container app's template, evaluated with the example parameters, and its module.
fn container_app_template() -> (Bicep, Value) {
    let main = Bicep::new(repo().join("deploy/azure/main.bicep"), example_parameters());
    let modules = main.decl["modules"].as_object().unwrap();
    let call = modules.values().find(|m| m["target"] == "modules/containerapp.bicep").expect("main.bicep calls it");
    let app_module = main.module(call);
    let resources = app_module.decl["resources"].as_object().unwrap();
    let app = resources.values().find(|r| string(&r["target"]).starts_with("Microsoft.App/containerApps@")).unwrap();
    let template = app_module.eval(&app["body"]["properties"]["template"]);
    (app_module, template)
}

fn env_of(template: &Value) -> Vec<(String, String)> {
    let env = template["containers"][0]["env"].as_array().unwrap();
    env.iter().map(|e| (string(&e["name"]), string(&e["value"]))).collect()
}

fn container_apps() -> Side {
    let (app_module, template) = container_app_template();
    let scale = &template["scale"];
    let rules = scale["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "one scale rule: {rules:?}");
    let custom = &rules[0]["custom"];
    assert_eq!(custom["type"], "azure-eventhub");
    assert_eq!(
        custom["identity"],
        app_module.eval(&json!({"$id": "identityId"})),
        "the scale rule authenticates as the app's identity"
    );
    let m = &custom["metadata"];
    let rule = ScaleRule {
        namespace: string(&m["eventHubNamespace"]),
        hub: string(&m["eventHubName"]),
        consumer_group: string(&m["consumerGroup"]),
        storage_account: string(&m["storageAccountName"]),
        container: string(&m["blobContainer"]),
        strategy: string(&m["checkpointStrategy"]),
        threshold: string(&m["unprocessedEventThreshold"]),
        activation: string(&m["activationUnprocessedEventThreshold"]),
        polling_secs: scale["pollingInterval"].as_i64().unwrap(),
        cooldown_secs: scale["cooldownPeriod"].as_i64().unwrap(),
        min_replicas: scale["minReplicas"].as_i64().unwrap(),
        max_replicas: scale["maxReplicas"].as_i64().expect("maxReplicas evaluates to a number"),
    };
    (rule, daemon(env_of(&template)))
}

/// The Kubernetes side: the ScaledObject after kustomize's replacements, and the daemon.
fn kubernetes() -> Side {
    let settings: BTreeMap<String, String> = read("deploy/kubernetes/settings.env")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let keda = read("deploy/kubernetes/keda.yaml");
    let object = serde_norway::Deserializer::from_str(&keda)
        .map(|doc| <serde_norway::Value as serde::Deserialize>::deserialize(doc).unwrap())
        .find(|doc| doc["kind"].as_str() == Some("ScaledObject"))
        .expect("a ScaledObject");
    let spec = &object["spec"];
    let triggers = spec["triggers"].as_sequence().unwrap();
    assert_eq!(triggers.len(), 1);
    assert_eq!(triggers[0]["type"].as_str(), Some("azure-eventhub"));
    let m = &triggers[0]["metadata"];
    let s = |k: &str| m[k].as_str().unwrap_or_else(|| panic!("keda.yaml lacks {k}")).to_string();
    // kustomization.yaml replaces these two from settings.env.
    let rule = ScaleRule {
        namespace: settings["EVENTHUBS_NAMESPACE"].clone(),
        hub: s("eventHubName"),
        consumer_group: s("consumerGroup"),
        storage_account: settings["STATE_STORAGE_ACCOUNT"].clone(),
        container: s("blobContainer"),
        strategy: s("checkpointStrategy"),
        threshold: s("unprocessedEventThreshold"),
        activation: s("activationUnprocessedEventThreshold"),
        polling_secs: spec["pollingInterval"].as_i64().unwrap(),
        cooldown_secs: spec["cooldownPeriod"].as_i64().unwrap(),
        min_replicas: spec["minReplicaCount"].as_i64().unwrap(),
        max_replicas: spec["maxReplicaCount"].as_i64().unwrap(),
    };
    let deployment: serde_norway::Value = serde_norway::from_str(&read("deploy/kubernetes/deployment.yaml")).unwrap();
    let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"].as_sequence().cloned().unwrap_or_default();
    let env = env.iter().map(|e| (e["name"].as_str().unwrap().into(), e["value"].as_str().unwrap_or("").into()));
    (rule, daemon(env.collect()))
}

fn differ(what: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug) -> Option<String> {
    let (a, b) = (format!("{a:?}"), format!("{b:?}"));
    (a != b).then(|| format!("{what}: {a} vs {b}"))
}

/// Every way the four sides disagree (empty when they agree).
fn disagreements(aca: &Side, k8s: &Side, partitions: i64) -> Vec<String> {
    let mut problems = Vec::new();
    for (side, (rule, daemon)) in [("Container Apps", aca), ("Kubernetes", k8s)] {
        let fqdn = format!("{}.servicebus.windows.net", rule.namespace);
        problems.extend(differ(
            &format!("{side}: scale rule namespace vs daemon [input] namespace"),
            &fqdn,
            &daemon.namespace_fqdn,
        ));
        problems.extend(differ(&format!("{side}: scale rule hub vs daemon [input] hub"), &rule.hub, &daemon.hub));
        problems.extend(differ(
            &format!("{side}: scale rule consumer group vs daemon"),
            &rule.consumer_group,
            &daemon.consumer_group,
        ));
        problems.extend(differ(
            &format!("{side}: scale rule storage account vs daemon [checkpoints]"),
            &rule.storage_account,
            &daemon.storage_account,
        ));
        problems.extend(differ(
            &format!("{side}: scale rule blobContainer vs daemon [checkpoints] container"),
            &rule.container,
            &daemon.container,
        ));
        // The Rust checkpoint store writes metadata blobs under the names as given; KEDA reads
        // them with blobMetadata and a lower-cased consumer group.
        problems.extend(differ(&format!("{side}: checkpointStrategy"), &rule.strategy.as_str(), &"blobMetadata"));
        problems.extend(differ(
            &format!("{side}: consumer group is lower case"),
            &daemon.consumer_group,
            &daemon.consumer_group.to_lowercase(),
        ));
        problems.extend(differ(
            &format!("{side}: namespace is lower case"),
            &daemon.namespace_fqdn,
            &daemon.namespace_fqdn.to_lowercase(),
        ));
        if rule.max_replicas > partitions || rule.min_replicas < 1 || rule.min_replicas > rule.max_replicas {
            problems.push(format!(
                "{side}: replicas {}..{} must lie in 1..={partitions} (input hub partitions)",
                rule.min_replicas, rule.max_replicas
            ));
        }
    }
    let (a, k) = (&aca.0, &k8s.0);
    problems.extend(differ("Container Apps vs KEDA: hub", &a.hub, &k.hub));
    problems.extend(differ("Container Apps vs KEDA: consumer group", &a.consumer_group, &k.consumer_group));
    problems.extend(differ("Container Apps vs KEDA: checkpoint container", &a.container, &k.container));
    problems.extend(differ("Container Apps vs KEDA: namespace", &a.namespace, &k.namespace));
    problems.extend(differ("Container Apps vs KEDA: storage account", &a.storage_account, &k.storage_account));
    problems.extend(differ("Container Apps vs KEDA: unprocessedEventThreshold", &a.threshold, &k.threshold));
    problems.extend(differ(
        "Container Apps vs KEDA: activationUnprocessedEventThreshold",
        &a.activation,
        &k.activation,
    ));
    problems.extend(differ("Container Apps vs KEDA: pollingInterval", &a.polling_secs, &k.polling_secs));
    problems.extend(differ("Container Apps vs KEDA: cooldownPeriod", &a.cooldown_secs, &k.cooldown_secs));
    problems.extend(differ("Container Apps vs KEDA: minimum replicas", &a.min_replicas, &k.min_replicas));
    problems
}

fn partitions() -> i64 {
    example_parameters()["inputHubPartitions"].as_i64().unwrap()
}

#[test]
fn container_apps_keda_and_both_daemons_agree_on_checkpoints_and_thresholds() {
    let (aca, k8s) = (container_apps(), kubernetes());
    let problems = disagreements(&aca, &k8s, partitions());
    assert!(problems.is_empty(), "{}\nContainer Apps: {aca:#?}\nKubernetes: {k8s:#?}", problems.join("\n"));
    // Concrete values, not placeholders: the evaluation reached the Bicep literals.
    assert_eq!(aca.0.hub, "flowlog-input");
    assert_eq!(aca.0.consumer_group, "flowlog");
    assert_eq!(aca.0.container, "flowlog-checkpoints");
    assert_eq!(aca.0.max_replicas, partitions(), "Container Apps scales up to one replica per partition");
}

#[test]
fn drift_in_any_one_place_is_reported() {
    let (aca, k8s) = (container_apps(), kubernetes());
    type Drift = Box<dyn Fn(&mut Side, &mut Side)>;
    let cases: Vec<(&str, Drift)> = vec![
        ("scale rule hub", Box::new(|a, _| a.0.hub = "other-hub".into())),
        ("daemon [input] hub", Box::new(|_, k| k.1.hub = "other-hub".into())),
        ("consumer group vs daemon", Box::new(|_, k| k.1.consumer_group = "keda".into())),
        ("KEDA: consumer group", Box::new(|_, k| k.0.consumer_group = "other".into())),
        ("blobContainer", Box::new(|a, _| a.0.container = "checkpoints".into())),
        ("checkpoint container", Box::new(|_, k| k.0.container = "checkpoints".into())),
        ("storage account", Box::new(|_, k| k.1.storage_account = "elsewhere".into())),
        ("namespace", Box::new(|a, _| a.0.namespace = "other-ns".into())),
        ("unprocessedEventThreshold", Box::new(|_, k| k.0.threshold = "128".into())),
        ("activationUnprocessedEventThreshold", Box::new(|a, _| a.0.activation = "0".into())),
        ("pollingInterval", Box::new(|a, _| a.0.polling_secs = 15)),
        ("cooldownPeriod", Box::new(|_, k| k.0.cooldown_secs = 60)),
        ("checkpointStrategy", Box::new(|a, _| a.0.strategy = "azureFunction".into())),
        ("lower case", Box::new(|a, _| a.1.consumer_group = "FlowLog".into())),
        ("input hub partitions", Box::new(|_, k| k.0.max_replicas = 99)),
    ];
    for (expected, drift) in cases {
        let (mut a, mut k) = (aca.clone(), k8s.clone());
        drift(&mut a, &mut k);
        let problems = disagreements(&a, &k, partitions());
        assert!(problems.iter().any(|p| p.contains(expected)), "drift of {expected} went unnoticed: {problems:?}");
    }
}

#[test]
fn the_evaluator_follows_module_outputs_to_the_literal_names() {
    // The values above come from Bicep, not from a copy: state.bicep's container literal is
    // what main.bicep hands the container app.
    let main = Bicep::new(repo().join("deploy/azure/main.bicep"), example_parameters());
    let checkpoint = json!({"$member": [{"$member": [{"$id": "state"}, "outputs"]}, "checkpointContainer"]});
    assert_eq!(main.eval(&checkpoint), "flowlog-checkpoints");
    let group = json!({"$member": [{"$member": [{"$id": "eventHubs"}, "outputs"]}, "flowlogConsumerGroup"]});
    assert_eq!(main.eval(&group), "flowlog");
    assert_eq!(main.eval(&json!({"$id": "inputHubPartitions"})), 4);
    assert_eq!(main.eval(&json!({"$expr": "uniqueString(x)"})), "⟨uniqueString(x)⟩");
}

#[test]
fn the_container_app_probes_the_ops_server_and_outlasts_the_shutdown_deadline() {
    let (_, template) = container_app_template();
    let cfg = config(env_of(&template));
    let port = cfg.server.listen.expect("the example config serves /healthz and /readyz").port();
    let grace = template["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace > cfg.server.shutdown_deadline.as_secs(),
        "grace {grace}s <= shutdown deadline {:?}",
        cfg.server.shutdown_deadline
    );
    let probes = template["containers"][0]["probes"].as_array().unwrap();
    let mut kinds: Vec<&str> = probes.iter().map(|p| p["type"].as_str().unwrap()).collect();
    kinds.sort();
    assert_eq!(kinds, ["Liveness", "Readiness", "Startup"]);
    for probe in probes {
        let path = if probe["type"] == "Readiness" { "/readyz" } else { "/healthz" };
        assert_eq!(probe["httpGet"]["path"], path, "{probe}");
        assert_eq!(probe["httpGet"]["port"].as_u64(), Some(u64::from(port)), "{probe}");
        // Container Apps' limits: 1-10 failures, a period of 1-240 s, a timeout of 1-240 s.
        let within = |k: &str, max: u64| probe.get(k).is_none_or(|v| (1..=max).contains(&v.as_u64().unwrap_or(0)));
        assert!(
            within("failureThreshold", 10) && within("periodSeconds", 240) && within("timeoutSeconds", 240),
            "{probe}"
        );
    }
}
