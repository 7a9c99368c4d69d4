//! Assembles one minute's record JSON from per-rule tuple buffers, key order as in Microsoft's samples.
use super::flows::RULES;
use super::layout::{Layout, SeriesIdentity};
use super::text::push_time;

/// Seconds into the minute where the record `time` starts: Azure stamps a record when it closes the
/// minute's aggregation, after the tuples it holds.
pub const RECORD_OFFSET_S: i64 = 55;

/// The per-series fields every record repeats.
pub struct RecordHead<'a> {
    pub id: &'a SeriesIdentity,
    /// `resourceId` (NSG) or `flowLogResourceID` (VNet).
    pub resource_id: &'a str,
    /// `targetResourceID` (VNet only).
    pub target_id: &'a str,
}

/// Appends the buffered tuples of one rule as a JSON array body (dropping the trailing comma).
fn push_tuples(out: &mut String, group: &str) {
    out.push_str(&group[..group.len() - 1]);
}

/// An NSG flow-log record (`properties.Version` 1 or 2): one `flows[]` entry per rule with tuples.
/// `groups[i]` holds rule `i`'s quoted tuples, each followed by a comma; `ticks` places `time`.
pub fn nsg_record(s: &RecordHead<'_>, groups: &[String], minute_unix: i64, ticks: u32) -> String {
    let bytes: usize = groups.iter().map(|g| g.len() + 96).sum();
    let mut out = String::with_capacity(bytes + 512);
    out.push_str("{\"time\":\"");
    push_time(&mut out, minute_unix + RECORD_OFFSET_S, ticks);
    out.push_str("\",\"systemId\":\"");
    out.push_str(&s.id.system_id);
    out.push_str("\",\"macAddress\":\"");
    out.push_str(&s.id.mac);
    out.push_str("\",\"category\":\"NetworkSecurityGroupFlowEvent\",\"resourceId\":\"");
    out.push_str(s.resource_id);
    out.push_str("\",\"operationName\":\"NetworkSecurityGroupFlowEvents\",\"properties\":{\"Version\":");
    out.push(if s.id.format == Layout::NsgV1 { '1' } else { '2' });
    out.push_str(",\"flows\":[");
    let mut first = true;
    for (rule, group) in RULES.iter().zip(groups).filter(|(_, g)| !g.is_empty()) {
        if !std::mem::take(&mut first) {
            out.push(',');
        }
        out.push_str("{\"rule\":\"");
        out.push_str(rule.name);
        out.push_str("\",\"flows\":[{\"mac\":\"");
        out.push_str(&s.id.mac);
        out.push_str("\",\"flowTuples\":[");
        push_tuples(&mut out, group);
        out.push_str("]}]}");
    }
    out.push_str("]}}");
    out
}

/// A VNet flow-log record (`flowLogVersion` 4): rules with tuples grouped under their ACL.
pub fn vnet_record(s: &RecordHead<'_>, groups: &[String], minute_unix: i64, ticks: u32) -> String {
    let bytes: usize = groups.iter().map(|g| g.len() + 96).sum();
    let mut out = String::with_capacity(bytes + 768);
    out.push_str("{\"time\":\"");
    push_time(&mut out, minute_unix + RECORD_OFFSET_S, ticks);
    out.push_str("\",\"flowLogGUID\":\"");
    out.push_str(&s.id.system_id);
    out.push_str("\",\"macAddress\":\"");
    out.push_str(&s.id.mac);
    out.push_str("\",\"category\":\"FlowLogFlowEvent\",\"flowLogResourceID\":\"");
    out.push_str(s.resource_id);
    out.push_str("\",\"targetResourceID\":\"");
    out.push_str(s.target_id);
    out.push_str("\",\"operationName\":\"FlowLogFlowEvent\",\"flowLogVersion\":4,\"flowRecords\":{\"flows\":[");
    // RULES is ordered by ACL, so each ACL's groups are contiguous.
    let mut open_acl: Option<usize> = None;
    for (rule, group) in RULES.iter().zip(groups).filter(|(_, g)| !g.is_empty()) {
        if open_acl != Some(rule.acl) {
            if open_acl.is_some() {
                out.push_str("]},");
            }
            out.push_str("{\"aclID\":\"");
            out.push_str(&s.id.acl_ids[rule.acl]);
            out.push_str("\",\"flowGroups\":[");
            open_acl = Some(rule.acl);
        } else {
            out.push(',');
        }
        out.push_str("{\"rule\":\"");
        out.push_str(rule.name);
        out.push_str("\",\"flowTuples\":[");
        push_tuples(&mut out, group);
        out.push_str("]}");
    }
    if open_acl.is_some() {
        out.push_str("]}");
    }
    out.push_str("]}}");
    out
}
