//! Record- and group-level values shared by rows, the visitor that receives rows level by level,
//! and the header fields a record's rows depend on, collected while the record streams by.
use super::error::RecordErrorReason;
use super::{Format, Layout};
use crate::domain::format::tuple::Tuple;
use crate::domain::format::{RecordError, TupleError};
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
    pub subscription_id: Option<&'a str>,
    pub resource_group: Option<&'a str>,
}

/// Values shared by the tuples of one rule (NSG) or flow group (VNet).
#[derive(Clone, Debug, Default)]
pub struct GroupCtx<'a> {
    pub rule: Option<&'a str>,
    pub acl_id: Option<&'a str>,
    pub mac: Option<&'a str>,
}

/// Receives what flattening produces, level by level, so encoders can render shared parts once.
///
/// Rows arrive while their record is still being parsed: a record larger than a read chunk
/// yields its first rows long before its last bytes are seen.
pub trait RowVisitor {
    fn record(&mut self, _record: &RecordCtx<'_>) {}
    fn group(&mut self, _record: &RecordCtx<'_>, _group: &GroupCtx<'_>) {}
    fn row(&mut self, record: &RecordCtx<'_>, group: &GroupCtx<'_>, tuple: &Tuple<'_>);
    /// Two consecutive rows of one flow group, `a` first: the same as two `row` calls, which is
    /// what it does unless a visitor gains from seeing both at once.
    fn row_pair(&mut self, record: &RecordCtx<'_>, group: &GroupCtx<'_>, a: &Tuple<'_>, b: &Tuple<'_>) {
        self.row(record, group, a);
        self.row(record, group, b);
    }
    fn tuple_error(&mut self, _error: TupleError) {}
    fn record_error(&mut self, _error: RecordError) {}
    /// Everything visited so far belongs to complete records (or reported stretches): the offset
    /// has moved past it. What arrives after this and before the next call is from a record still
    /// being parsed, and is produced again when that record is read again from its start.
    fn record_end(&mut self) {}
}

/// A header value: `None` until the key is seen, `Some(None)` for JSON `null`.
pub type Seen<T> = Option<Option<T>>;

fn get(s: &Seen<String>) -> Option<&str> {
    s.as_ref().and_then(|v| v.as_deref())
}

/// Top-level string fields that rows carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadField {
    Time,
    ResourceId,
    MacAddress,
    FlowLogResourceId,
    TargetResourceId,
}

impl HeadField {
    pub fn name(self) -> &'static str {
        match self {
            HeadField::Time => "time",
            HeadField::ResourceId => "resourceId",
            HeadField::MacAddress => "macAddress",
            HeadField::FlowLogResourceId => "flowLogResourceID",
            HeadField::TargetResourceId => "targetResourceID",
        }
    }
}

/// What a record's top-level fields say about its rows. Owned, so that only these values (never
/// the record's bytes) outlive the chunk they arrived in.
#[derive(Debug, Default)]
pub struct Header {
    pub time: Seen<String>,
    pub resource_id: Seen<String>,
    pub mac_address: Seen<String>,
    pub flow_log_resource_id: Seen<String>,
    pub target_resource_id: Seen<String>,
    pub nsg_version: Seen<i64>,
    pub vnet_version: Seen<i64>,
    /// `properties` (NSG) was seen.
    pub properties: bool,
    /// `flowRecords` (VNet) was seen.
    pub flow_records: bool,
    /// Fixed when the first row (or the record's end) needs it.
    fixed: Option<Fixed>,
}

#[derive(Debug)]
struct Fixed {
    layout: Layout,
    subscription_id: Option<String>,
    resource_group: Option<String>,
}

impl Header {
    pub fn clear(&mut self) {
        *self = Header::default();
    }

    /// Records a string field; a repeated key is an error, as is a `time` that is not RFC 3339.
    pub fn set_str(&mut self, field: HeadField, value: Option<String>) -> Result<(), RecordErrorReason> {
        if field == HeadField::Time
            && let Some(t) = &value
            && time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).is_err()
        {
            return Err(RecordErrorReason::Time(super::error::cut(t, super::error::QUOTE_LIMIT).to_string()));
        }
        let slot = match field {
            HeadField::Time => &mut self.time,
            HeadField::ResourceId => &mut self.resource_id,
            HeadField::MacAddress => &mut self.mac_address,
            HeadField::FlowLogResourceId => &mut self.flow_log_resource_id,
            HeadField::TargetResourceId => &mut self.target_resource_id,
        };
        if slot.is_some() {
            return Err(duplicate(field.name()));
        }
        *slot = Some(value);
        Ok(())
    }

    /// Records `properties.Version` (NSG) or `flowLogVersion` (VNet); unsupported versions fail
    /// the record at once.
    pub fn set_version(&mut self, vnet: bool, value: Option<i64>) -> Result<(), RecordErrorReason> {
        let (slot, name, format, ok): (_, _, _, &[i64]) = if vnet {
            (&mut self.vnet_version, "flowLogVersion", "vnet", &[4])
        } else {
            (&mut self.nsg_version, "Version", "nsg", &[1, 2])
        };
        if slot.is_some() {
            return Err(duplicate(name));
        }
        if let Some(v) = value
            && !ok.contains(&v)
        {
            return Err(RecordErrorReason::UnknownVersion { format, version: v });
        }
        *slot = Some(value);
        Ok(())
    }

    /// The layout rows may be emitted with now, for tuples under an NSG (`vnet == false`) or VNet
    /// structure: only when every header field such rows carry has been seen, so no later key can
    /// change rows already emitted. `None` means "buffer until the record ends".
    pub fn streamable(&self, vnet: bool) -> Option<Layout> {
        self.time.as_ref()?;
        if vnet {
            let ready = !self.properties
                && self.flow_log_resource_id.is_some()
                && self.target_resource_id.is_some()
                && self.mac_address.is_some();
            (ready && self.vnet_version == Some(Some(4))).then_some(Layout::VnetV4)
        } else {
            if self.flow_records || self.vnet_version.is_some() || self.resource_id.is_none() {
                return None;
            }
            match self.nsg_version {
                Some(Some(1)) => Some(Layout::NsgV1),
                Some(Some(2)) => Some(Layout::NsgV2),
                _ => None,
            }
        }
    }

    /// The layout once the whole record has been seen, decided by content, never by blob path.
    pub fn layout(&self) -> Result<Layout, RecordErrorReason> {
        let vnet = self.flow_records || self.vnet_version.is_some();
        if vnet && self.properties {
            return Err(RecordErrorReason::Json("record has both NSG properties and VNet flowRecords".into()));
        }
        if vnet {
            return match self.vnet_version {
                Some(Some(4)) => Ok(Layout::VnetV4),
                Some(Some(v)) => Err(RecordErrorReason::UnknownVersion { format: "vnet", version: v }),
                _ => Err(RecordErrorReason::Json("VNet record without flowLogVersion".into())),
            };
        }
        match self.nsg_version {
            Some(Some(1)) => Ok(Layout::NsgV1),
            Some(Some(2)) => Ok(Layout::NsgV2),
            Some(Some(v)) => Err(RecordErrorReason::UnknownVersion { format: "nsg", version: v }),
            _ if self.properties => Err(RecordErrorReason::Json("NSG record without properties.Version".into())),
            _ => Err(RecordErrorReason::UnknownFormat),
        }
    }

    /// Fixes the layout and derives the ARM scope; from now on [`Header::ctx`] can be called.
    pub fn fix(&mut self, layout: Layout) {
        if self.fixed.as_ref().is_some_and(|f| f.layout == layout) {
            return;
        }
        let (resource_id, target) = self.ids(layout);
        // A VNet log's own id points at the Network Watcher's group; the target is what users mean.
        let (subscription_id, resource_group) = arm_scope(target.or(resource_id));
        self.fixed = Some(Fixed { layout, subscription_id, resource_group });
    }

    pub fn is_fixed(&self) -> bool {
        self.fixed.is_some()
    }

    fn ids(&self, layout: Layout) -> (Option<&str>, Option<&str>) {
        match layout.format() {
            Format::Nsg => (get(&self.resource_id), None),
            Format::Vnet => (get(&self.flow_log_resource_id), get(&self.target_resource_id)),
        }
    }

    /// The record context rows carry. Call [`Header::fix`] first.
    pub fn ctx<'a>(&'a self, blob: &'a RowIds, offset: u64) -> RecordCtx<'a> {
        let fixed = self.fixed.as_ref().expect("Header::fix before Header::ctx");
        let (resource_id, target_resource_id) = self.ids(fixed.layout);
        RecordCtx {
            blob,
            offset,
            layout: fixed.layout,
            time: get(&self.time),
            resource_id,
            target_resource_id,
            subscription_id: fixed.subscription_id.as_deref(),
            resource_group: fixed.resource_group.as_deref(),
        }
    }

    pub fn mac_address(&self) -> Option<&str> {
        get(&self.mac_address)
    }
}

/// Group-level values of the rule / flow group being parsed.
#[derive(Debug, Default)]
pub struct Group {
    pub rule: Seen<String>,
    pub mac: Seen<String>,
    pub acl: Seen<String>,
}

impl Group {
    /// True when every value rows of this group carry is known.
    pub fn complete(&self, layout: Layout, header: &Header) -> bool {
        match layout.format() {
            Format::Nsg => {
                self.rule.is_some()
                    && (matches!(self.mac, Some(Some(_))) || (self.mac.is_some() && header.mac_address.is_some()))
            }
            Format::Vnet => self.rule.is_some() && self.acl.is_some(),
        }
    }

    pub fn ctx<'a>(&'a self, layout: Layout, header: &'a Header) -> GroupCtx<'a> {
        group_ctx(layout, header, get(&self.rule), get(&self.acl), get(&self.mac))
    }
}

/// A group's row values: NSG tuples take the rule's MAC (or the record's), VNet tuples the record's.
pub fn group_ctx<'a>(
    layout: Layout,
    header: &'a Header,
    rule: Option<&'a str>,
    acl: Option<&'a str>,
    mac: Option<&'a str>,
) -> GroupCtx<'a> {
    match layout.format() {
        Format::Nsg => GroupCtx { rule, acl_id: None, mac: mac.or(header.mac_address()) },
        Format::Vnet => GroupCtx { rule, acl_id: acl, mac: header.mac_address() },
    }
}

pub fn duplicate(name: &str) -> RecordErrorReason {
    RecordErrorReason::Json(format!("duplicate field `{name}`"))
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
