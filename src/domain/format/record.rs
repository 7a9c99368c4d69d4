//! Flattening of one parsed record into rows: record, group and tuple levels, visited in order.
use super::error::{RecordError, RecordErrorReason, TupleError};
use super::raw::RawRecord;
use super::tuple::{Tuple, parse_tuple};
use super::{Format, Layout};
use crate::domain::ids::RowIds;

/// Record-level values shared by every row of a record.
#[derive(Clone, Debug)]
pub struct RecordCtx<'a> {
    pub blob: &'a RowIds,
    /// Byte offset of the record's `{` in the blob.
    pub offset: u64,
    pub layout: Layout,
    pub time: Option<&'a str>,
    /// The NSG (NSG logs) or the flow log (VNet logs).
    pub resource_id: Option<&'a str>,
    /// The VNet, subnet or NIC a VNet flow log covers; `None` for NSG logs.
    pub target_resource_id: Option<&'a str>,
    /// Lower-cased: ARM ids are case-insensitive and NSG logs upper-case them.
    pub subscription_id: Option<String>,
    pub resource_group: Option<String>,
}

/// Values shared by the tuples of one rule (NSG) or flow group (VNet).
#[derive(Clone, Debug, Default)]
pub struct GroupCtx<'a> {
    pub rule: Option<&'a str>,
    pub acl_id: Option<&'a str>,
    pub mac: Option<&'a str>,
}

/// Receives what flattening produces, level by level, so encoders can render shared parts once.
pub trait RowVisitor {
    fn record(&mut self, _record: &RecordCtx<'_>) {}
    fn group(&mut self, _record: &RecordCtx<'_>, _group: &GroupCtx<'_>) {}
    fn row(&mut self, record: &RecordCtx<'_>, group: &GroupCtx<'_>, tuple: &Tuple<'_>);
    fn tuple_error(&mut self, _error: TupleError) {}
    fn record_error(&mut self, _error: RecordError) {}
}

/// Flattens one record that starts at `offset` and spans `len` bytes. Returns the number of rows
/// visited; a record-level problem (unknown format or version, bad time) yields no rows at all.
pub fn flatten_record<V: RowVisitor + ?Sized>(
    blob: &RowIds,
    offset: u64,
    len: u64,
    raw: &RawRecord<'_>,
    visitor: &mut V,
) -> Result<u64, RecordError> {
    let fail = |reason| RecordError { blob: blob.name.clone(), offset, len, reason, raw: Vec::new() };
    let layout = detect_layout(raw).map_err(fail)?;
    let time = raw.time.as_deref();
    if let Some(t) = time
        && time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).is_err()
    {
        return Err(fail(RecordErrorReason::Time(t.to_string())));
    }
    let (resource_id, target_resource_id) = match layout.format() {
        Format::Nsg => (raw.resource_id.as_deref(), None),
        Format::Vnet => (raw.flow_log_resource_id.as_deref(), raw.target_resource_id.as_deref()),
    };
    // A VNet log's own id points at the Network Watcher's group; the target is what users mean.
    let (subscription_id, resource_group) = arm_scope(target_resource_id.or(resource_id));
    let ctx =
        RecordCtx { blob, offset, layout, time, resource_id, target_resource_id, subscription_id, resource_group };
    visitor.record(&ctx);
    let mut ordinal = 0u32;
    let mut rows = 0u64;
    let mut visit = |group: &GroupCtx<'_>, tuples: &[std::borrow::Cow<'_, str>], visitor: &mut V| {
        visitor.group(&ctx, group);
        for text in tuples {
            match parse_tuple(layout, text, ordinal) {
                Ok(t) => {
                    visitor.row(&ctx, group, &t);
                    rows += 1;
                }
                Err(reason) => visitor.tuple_error(TupleError {
                    blob: blob.name.clone(),
                    record_offset: offset,
                    ordinal,
                    tuple: text.to_string(),
                    reason,
                }),
            }
            ordinal += 1;
        }
    };
    match layout.format() {
        Format::Nsg => {
            for rule in raw.properties.iter().flat_map(|p| &p.flows) {
                for mac in &rule.flows {
                    let group = GroupCtx {
                        rule: rule.rule.as_deref(),
                        acl_id: None,
                        mac: mac.mac.as_deref().or(raw.mac_address.as_deref()),
                    };
                    visit(&group, &mac.flow_tuples, visitor);
                }
            }
        }
        Format::Vnet => {
            for acl in raw.flow_records.iter().flat_map(|r| &r.flows) {
                for fg in &acl.flow_groups {
                    let group = GroupCtx {
                        rule: fg.rule.as_deref(),
                        acl_id: acl.acl_id.as_deref(),
                        mac: raw.mac_address.as_deref(),
                    };
                    visit(&group, &fg.flow_tuples, visitor);
                }
            }
        }
    }
    Ok(rows)
}

/// Decides the layout from the record's content, never from the blob path.
pub fn detect_layout(raw: &RawRecord<'_>) -> Result<Layout, RecordErrorReason> {
    if raw.flow_records.is_some() || raw.flow_log_version.is_some() {
        return match raw.flow_log_version {
            Some(4) => Ok(Layout::VnetV4),
            Some(v) => Err(RecordErrorReason::UnknownVersion { format: "vnet", version: v }),
            None => Err(RecordErrorReason::Json("VNet record without flowLogVersion".into())),
        };
    }
    match raw.properties.as_ref().map(|p| p.version) {
        Some(Some(1)) => Ok(Layout::NsgV1),
        Some(Some(2)) => Ok(Layout::NsgV2),
        Some(Some(v)) => Err(RecordErrorReason::UnknownVersion { format: "nsg", version: v }),
        Some(None) => Err(RecordErrorReason::Json("NSG record without properties.Version".into())),
        None => Err(RecordErrorReason::UnknownFormat),
    }
}

/// Subscription id and resource group from an ARM resource id, lower-cased.
pub fn arm_scope(resource_id: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(id) = resource_id else { return (None, None) };
    let mut sub = None;
    let mut rg = None;
    let mut segments = id.split('/');
    while let Some(seg) = segments.next() {
        if seg.eq_ignore_ascii_case("subscriptions") && sub.is_none() {
            sub = segments.next().filter(|s| !s.is_empty()).map(str::to_ascii_lowercase);
        } else if seg.eq_ignore_ascii_case("resourcegroups") && rg.is_none() {
            rg = segments.next().filter(|s| !s.is_empty()).map(str::to_ascii_lowercase);
        }
    }
    (sub, rg)
}
