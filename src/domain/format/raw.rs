//! The JSON shape of flow-log records, deserialized by borrowing from the blob bytes.
//!
//! Only the fields flowlog uses are declared; serde skips the rest without building a DOM.
//! Strings are `Cow` so that the rare escaped string still parses (it is then owned).
use std::borrow::Cow;

use serde::Deserialize;

#[derive(Deserialize, Debug, Default)]
pub struct RawRecord<'a> {
    #[serde(borrow)]
    pub time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub category: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "resourceId")]
    pub resource_id: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "macAddress")]
    pub mac_address: Option<Cow<'a, str>>,
    /// NSG flow logs.
    #[serde(borrow)]
    pub properties: Option<NsgProperties<'a>>,
    /// VNet flow logs.
    #[serde(rename = "flowLogVersion")]
    pub flow_log_version: Option<i64>,
    #[serde(borrow, rename = "flowLogResourceID")]
    pub flow_log_resource_id: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "targetResourceID")]
    pub target_resource_id: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "flowRecords")]
    pub flow_records: Option<VnetFlowRecords<'a>>,
}

#[derive(Deserialize, Debug)]
pub struct NsgProperties<'a> {
    #[serde(rename = "Version")]
    pub version: Option<i64>,
    #[serde(borrow, default)]
    pub flows: Vec<NsgRuleFlows<'a>>,
}

#[derive(Deserialize, Debug)]
pub struct NsgRuleFlows<'a> {
    #[serde(borrow)]
    pub rule: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub flows: Vec<NsgMacFlows<'a>>,
}

#[derive(Deserialize, Debug)]
pub struct NsgMacFlows<'a> {
    #[serde(borrow)]
    pub mac: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "flowTuples", default)]
    pub flow_tuples: Vec<Cow<'a, str>>,
}

#[derive(Deserialize, Debug)]
pub struct VnetFlowRecords<'a> {
    #[serde(borrow, default)]
    pub flows: Vec<VnetAclFlows<'a>>,
}

#[derive(Deserialize, Debug)]
pub struct VnetAclFlows<'a> {
    #[serde(borrow, rename = "aclID")]
    pub acl_id: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "flowGroups", default)]
    pub flow_groups: Vec<VnetFlowGroup<'a>>,
}

#[derive(Deserialize, Debug)]
pub struct VnetFlowGroup<'a> {
    #[serde(borrow)]
    pub rule: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "flowTuples", default)]
    pub flow_tuples: Vec<Cow<'a, str>>,
}
