//! The Log Analytics (Microsoft Sentinel) deployment, `deploy/azure/modules/sentinel.bicep` and
//! its wiring in `main.bicep`, against the row schema and the facts the Logs Ingestion API
//! depends on: the rule's stream declares exactly flowlog's row fields with their types, the
//! custom table FlowLogs_CL holds every field under a name Log Analytics accepts, the
//! pass-through transformation produces exactly the table's columns (Kusto.Language), the data
//! flow sends the stream to the table the destination names with the matching transformation,
//! the role on the rule is Monitoring Metrics Publisher for flowlog's identity, and the container
//! app gets the sink's settings only when the output is log_analytics.
//!
//! The Bicep is read through `tests/bicep/check.py --dump` (tree-sitter-bicep from
//! `bash tests/tools/setup.sh`).

#[path = "bicep/eval.rs"]
mod bicep_eval;
#[path = "support/sentinel.rs"]
mod sentinel;

use bicep_eval::Bicep;
use flowlog::domain::row::schema::FIELDS;
use serde_json::{Map, Value, json};
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const MODULE: &str = "deploy/azure/modules/sentinel.bicep";
/// The stream flowlog's Logs Ingestion sink posts to by default.
const STREAM: &str = "Custom-FlowlogRows";
/// Built-in role "Monitoring Metrics Publisher", the role the Logs Ingestion API requires on the
/// data collection rule (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/monitor,
/// https://learn.microsoft.com/azure/azure-monitor/logs/logs-ingestion-api-overview).
const MONITORING_METRICS_PUBLISHER: &str = "3913510d-42f4-4e42-8a64-420c390055eb";
/// Column names Log Analytics tables reserve
/// (https://learn.microsoft.com/azure/azure-monitor/logs/create-custom-table, looked up 2026-12-07).
const RESERVED: &[&str] = &[
    "id",
    "BilledSize",
    "IsBillable",
    "InvalidTimeGenerated",
    "TenantId",
    "Title",
    "Type",
    "UniqueId",
    "_ItemId",
    "_ResourceGroup",
    "_ResourceId",
    "_SubscriptionId",
    "_TimeReceived",
];

fn module(params: Map<String, Value>) -> Bicep {
    Bicep::new(repo().join(MODULE), params)
}

fn columns(list: &Value) -> Vec<(String, String)> {
    let list = list.as_array().expect("a column list");
    list.iter().map(|c| (c["name"].as_str().unwrap().to_string(), c["type"].as_str().unwrap().to_lowercase())).collect()
}

fn row_fields() -> Vec<(String, String)> {
    FIELDS.iter().map(|f| (f.name.to_string(), f.ty.kusto().to_string())).collect()
}

fn rule(m: &Bicep) -> Value {
    m.eval(&m.decl["resources"]["dcr"]["body"]["properties"])
}

#[test]
fn stream_declaration_is_the_row_schema() {
    let m = module(Map::new());
    let props = rule(&m);
    let streams = props["streamDeclarations"].as_object().unwrap();
    assert_eq!(streams.keys().collect::<Vec<_>>(), [STREAM], "one stream, the sink's");
    assert_eq!(columns(&streams[STREAM]["columns"]), row_fields(), "{MODULE} rowColumns vs FIELDS, in order");
    assert_eq!(m.eval(&m.decl["outputs"]["stream"]), json!(STREAM));
    let flows = props["dataFlows"].as_array().unwrap();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0]["streams"], json!([STREAM]));
}

#[test]
fn custom_table_holds_every_row_field_under_an_accepted_name() {
    let m = module(Map::new());
    let table = columns(&m.eval(&m.decl["vars"]["tableColumns"]));
    let mut expected = vec![("TimeGenerated".to_string(), "datetime".to_string())];
    expected.extend(row_fields().into_iter().map(|(n, t)| (if n == "id" { "row_id".into() } else { n }, t)));
    assert_eq!(table, expected, "FlowLogs_CL: TimeGenerated, then every row field (id as row_id)");
    for (name, _) in &table {
        assert!(!RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)), "{name} is a reserved column name");
        assert!((2..=45).contains(&name.len()), "{name}: column names are 2-45 characters");
    }
    let body = m.eval(&m.decl["resources"]["table"]["body"]);
    assert_eq!(body["name"], "FlowLogs_CL");
    assert_eq!(body["properties"]["schema"]["name"], "FlowLogs_CL");
}

#[test]
fn data_flow_follows_the_destination() {
    for (destination, output, file) in [
        ("asim", "Microsoft-ASimNetworkSessionLogs", "asim-network-session.kql"),
        ("custom", "Custom-FlowLogs_CL", "flowlogs-cl.kql"),
    ] {
        let m = module(Map::from_iter([("destination".to_string(), json!(destination))]));
        let flow = &rule(&m)["dataFlows"][0];
        assert_eq!(flow["outputStream"], output, "{destination}");
        let kql = flow["transformKql"].as_str().unwrap();
        assert_eq!(kql, format!("⟨loadTextContent('../../sentinel/{file}')⟩"), "{destination}");
        assert!(repo().join("deploy/sentinel").join(file).is_file());
        let destinations = rule(&m)["destinations"]["logAnalytics"].clone();
        assert_eq!(flow["destinations"], json!([destinations[0]["name"]]), "the flow names the workspace destination");
    }
}

#[test]
fn pass_through_transformation_produces_exactly_the_table() {
    let m = module(Map::new());
    let mut table = columns(&m.eval(&m.decl["vars"]["tableColumns"]));
    let (errors, mut produced) = sentinel::analyze("deploy/sentinel/flowlogs-cl.kql", &row_fields());
    assert_eq!(errors, Vec::<String>::new(), "flowlogs-cl.kql");
    produced.sort();
    table.sort();
    assert_eq!(produced, table, "the transformation's output vs the FlowLogs_CL columns");
}

#[test]
fn the_identity_may_post_to_the_rule_and_nothing_more() {
    let m = module(Map::new());
    assert_eq!(m.decl["vars"]["monitoringMetricsPublisher"], MONITORING_METRICS_PUBLISHER);
    let assignments: Vec<&Value> = m.decl["resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["target"].as_str().unwrap().starts_with("Microsoft.Authorization/roleAssignments@"))
        .collect();
    assert_eq!(assignments.len(), 2, "flowlog's identity and the optional operator");
    for a in assignments {
        let body = &a["body"];
        assert_eq!(body["scope"], json!({"$id": "dcr"}), "scoped to the rule, not the workspace");
        let role = body["properties"]["roleDefinitionId"]["$expr"].as_str().unwrap();
        assert!(role.ends_with(", monitoringMetricsPublisher)"), "{role}");
    }
    // main.bicep hands the module flowlog's identity.
    let main = Bicep::new(repo().join("deploy/azure/main.bicep"), Map::new());
    let call = &main.decl["modules"]["sentinel"];
    assert_eq!(call["target"], "modules/sentinel.bicep");
    assert_eq!(
        call["body"]["params"]["principalId"],
        json!({"$member": [{"$member": [{"$id": "identity"}, "outputs"]}, "principalId"]})
    );
    assert_eq!(main.eval(&json!({"$id": "toLogAnalytics"})), json!(false), "off by default");
}

fn example_parameters() -> Map<String, Value> {
    let text = std::fs::read_to_string(repo().join("deploy/azure/main.parameters.example.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    json["parameters"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v["value"].clone())).collect()
}

/// The container app's environment variables with `params` for main.bicep.
fn container_env(params: Map<String, Value>) -> Vec<(String, Value)> {
    let main = Bicep::new(repo().join("deploy/azure/main.bicep"), params);
    let app = main.module(&main.decl["modules"]["containerApp"]);
    let resource = &app.decl["resources"]["app"]["body"]["properties"]["template"]["containers"][0]["env"];
    let env = app.eval(resource);
    let env = env.as_array().unwrap_or_else(|| panic!("env does not evaluate to a list: {env}"));
    env.iter().map(|e| (e["name"].as_str().unwrap().to_string(), e["value"].clone())).collect()
}

#[test]
fn container_app_gets_the_sink_settings_only_with_log_analytics() {
    let eventhubs = container_env(example_parameters());
    assert!(
        eventhubs.iter().all(|(n, _)| !n.starts_with("FLOWLOG_LOG_ANALYTICS_") && n != "FLOWLOG_OUTPUT_KIND"),
        "{eventhubs:?}"
    );

    let mut params = example_parameters();
    params.insert("outputKind".into(), json!("log_analytics"));
    let env = container_env(params);
    let get = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or(Value::Null);
    assert_eq!(get("FLOWLOG_OUTPUT_KIND"), "log_analytics");
    assert_eq!(get("FLOWLOG_LOG_ANALYTICS_STREAM"), STREAM);
    let endpoint = get("FLOWLOG_LOG_ANALYTICS_ENDPOINT");
    assert!(endpoint.as_str().is_some_and(|e| e.contains("logsIngestion.endpoint")), "{endpoint}");
    let id = get("FLOWLOG_LOG_ANALYTICS_DCR_IMMUTABLE_ID");
    assert!(id.as_str().is_some_and(|e| e.contains("immutableId")), "{id}");
    // Everything the Event Hubs deployment sets stays.
    for (name, _) in &eventhubs {
        assert!(env.iter().any(|(n, _)| n == name), "{name} is lost with log_analytics");
    }
}
