//! The shape of a flow-log record as the parser sees it: which containers and keys matter, and
//! what each of their values is for. Everything else is skipped.
use crate::domain::format::record::HeadField;

/// An open container and what its members mean. Group frames remember the first buffered group
/// created inside them, to fill in values that arrive after the tuples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Frame {
    Record,
    Props,
    NsgRules,
    NsgRule(usize),
    NsgMacs,
    NsgMac(usize),
    VnetRecords,
    VnetAcls,
    VnetAcl(usize),
    VnetGroups,
    VnetGroup(usize),
    Tuples,
    SkipObject,
    SkipArray,
}

impl Frame {
    pub(super) fn is_object(self) -> bool {
        !matches!(
            self,
            Frame::NsgRules | Frame::NsgMacs | Frame::VnetAcls | Frame::VnetGroups | Frame::Tuples | Frame::SkipArray
        )
    }

    /// What an element of this array is.
    pub(super) fn element(self) -> Slot {
        match self {
            Frame::NsgRules => Slot::NsgRule,
            Frame::NsgMacs => Slot::NsgMac,
            Frame::VnetAcls => Slot::VnetAcl,
            Frame::VnetGroups => Slot::VnetGroup,
            Frame::Tuples => Slot::Tuple,
            _ => Slot::Skip,
        }
    }
}

/// What the value being read is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Slot {
    Skip,
    Key,
    Head(HeadField),
    Version { vnet: bool },
    Rule,
    Mac,
    Acl,
    Tuple,
    Props,
    NsgRules,
    NsgRule,
    NsgMacs,
    NsgMac,
    VnetRecords,
    VnetAcls,
    VnetAcl,
    VnetGroups,
    VnetGroup,
    Tuples,
}

impl Slot {
    pub(super) fn name(self) -> &'static str {
        match self {
            Slot::Head(f) => f.name(),
            Slot::Version { vnet: true } => "flowLogVersion",
            Slot::Version { vnet: false } => "Version",
            Slot::Rule => "rule",
            Slot::Mac => "mac",
            Slot::Acl => "aclID",
            Slot::Tuple => "flow tuple",
            Slot::Props => "properties",
            Slot::NsgRules | Slot::NsgMacs | Slot::VnetAcls => "flows",
            Slot::NsgRule | Slot::NsgMac | Slot::VnetAcl | Slot::VnetGroup => "flow entry",
            Slot::VnetRecords => "flowRecords",
            Slot::VnetGroups => "flowGroups",
            Slot::Tuples => "flowTuples",
            Slot::Skip | Slot::Key => "value",
        }
    }

    /// Whether the string's bytes are needed (skipped strings are scanned, not kept).
    pub(super) fn keeps_text(self) -> bool {
        !matches!(self, Slot::Skip)
    }
}

/// What the value under `key` is, given the innermost open object.
pub(super) fn key_slot(top: Option<&Frame>, key: &[u8]) -> Slot {
    let Some(&top) = top else { return Slot::Skip };
    match (top, key) {
        (Frame::Record, b"time") => Slot::Head(HeadField::Time),
        (Frame::Record, b"resourceId") => Slot::Head(HeadField::ResourceId),
        (Frame::Record, b"macAddress") => Slot::Head(HeadField::MacAddress),
        (Frame::Record, b"flowLogResourceID") => Slot::Head(HeadField::FlowLogResourceId),
        (Frame::Record, b"targetResourceID") => Slot::Head(HeadField::TargetResourceId),
        (Frame::Record, b"properties") => Slot::Props,
        (Frame::Record, b"flowLogVersion") => Slot::Version { vnet: true },
        (Frame::Record, b"flowRecords") => Slot::VnetRecords,
        (Frame::Props, b"Version") => Slot::Version { vnet: false },
        (Frame::Props, b"flows") => Slot::NsgRules,
        (Frame::NsgRule(_), b"rule") => Slot::Rule,
        (Frame::NsgRule(_), b"flows") => Slot::NsgMacs,
        (Frame::NsgMac(_), b"mac") => Slot::Mac,
        (Frame::NsgMac(_), b"flowTuples") => Slot::Tuples,
        (Frame::VnetRecords, b"flows") => Slot::VnetAcls,
        (Frame::VnetAcl(_), b"aclID") => Slot::Acl,
        (Frame::VnetAcl(_), b"flowGroups") => Slot::VnetGroups,
        (Frame::VnetGroup(_), b"rule") => Slot::Rule,
        (Frame::VnetGroup(_), b"flowTuples") => Slot::Tuples,
        _ => Slot::Skip,
    }
}
