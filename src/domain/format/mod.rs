//! Pure flow-log format code: framing of blob bytes into records, and streaming of records into
//! rows as their bytes arrive. No I/O, no clocks, no async.
pub mod emit;
pub mod error;
pub mod framing;
pub mod protocol;
pub mod record;
pub mod stream;
pub mod timefmt;
pub mod tuple;

pub use error::{RecordError, RecordErrorReason, TupleError, TupleErrorReason};
pub use framing::is_gzip;
pub use record::{GroupCtx, RecordCtx, RowVisitor};
pub use tuple::Tuple;

/// Which family of flow log a record belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// NSG flow logs, `properties.Version` 1 or 2.
    Nsg,
    /// VNet flow logs, `flowLogVersion` 4.
    Vnet,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Nsg => "nsg",
            Format::Vnet => "vnet",
        }
    }
}

/// A parsed record's format and version together: the tuple layout depends on both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    NsgV1,
    NsgV2,
    VnetV4,
}

impl Layout {
    pub fn format(self) -> Format {
        match self {
            Layout::NsgV1 | Layout::NsgV2 => Format::Nsg,
            Layout::VnetV4 => Format::Vnet,
        }
    }

    pub fn version(self) -> u32 {
        match self {
            Layout::NsgV1 => 1,
            Layout::NsgV2 => 2,
            Layout::VnetV4 => 4,
        }
    }

    /// Number of comma-separated fields in one flow tuple.
    pub fn tuple_fields(self) -> usize {
        match self {
            Layout::NsgV1 => 8,
            Layout::NsgV2 | Layout::VnetV4 => 13,
        }
    }
}
