//! The second read of a record whose rows had to wait for header fields after its tuples: what
//! the first read found, and how the second hands each group the values the first saw.
use super::{Group, RecordParser};
use crate::domain::format::emit::BufGroup;
use crate::domain::format::record::{Header, RowVisitor};
use crate::domain::ids::RowIds;

/// What a first read of a record whose rows had to wait found: the header fields (its layout
/// fixed), the flow groups whose rows were visited, and the values of the others, in order.
/// Only these values, never tuples, are kept between the two reads.
#[derive(Debug)]
pub struct Primed {
    pub(super) header: Header,
    recorded: bool,
    streamed: usize,
    pub(super) groups: Vec<BufGroup>,
    /// The values of the group being read again.
    pub(super) current: Group,
    /// Rows the first read visited.
    rows: u64,
    /// Flow groups and tuples the first read found: the second must find as many.
    pub(super) started: usize,
    pub(super) tuples: u32,
}

impl Primed {
    /// Rows of the record the first read visited (before its rows had to wait).
    pub fn rows(&self) -> u64 {
        self.rows
    }
}

impl RecordParser {
    /// After a record's successful end: the state to read it again with, when its rows wait for that.
    pub fn take_primed(&mut self) -> Option<Primed> {
        if self.primed.is_some() || !self.emit.deferred() {
            return None;
        }
        let (recorded, streamed, groups) = self.emit.take_deferred();
        let header = std::mem::take(&mut self.header);
        let (started, tuples) = (self.emit.started(), self.emit.tuples());
        let current = Group::default();
        Some(Primed { header, recorded, streamed, groups, current, rows: self.emit.rows, started, tuples })
    }

    /// Starts the second read of a record at `offset` with what its first read found: every row
    /// the first did not visit is visited, with the same values and ordinals.
    pub fn start_primed(&mut self, offset: u64, primed: Primed) {
        self.start(offset);
        self.primed = Some(primed);
    }

    /// A `flowTuples` array starts in a second read: the group's rows come with the values
    /// its first read found, unless that read visited them already.
    pub(super) fn primed_group_start<V: RowVisitor + ?Sized>(&mut self, blob: &RowIds, v: &mut V) {
        let p = self.primed.as_mut().expect("a second read");
        let at = self.emit.started();
        // `Group` values, unlike the first read's, may come after the tuples: the group's row
        // values are the first read's, and this read's own are left for its duplicate checks.
        let Some(values) = at.checked_sub(p.streamed).and_then(|i| p.groups.get(i)) else {
            self.emit.primed_group_start(None, p.recorded, v);
            return;
        };
        p.current =
            Group { rule: Some(values.rule.clone()), mac: Some(values.mac.clone()), acl: Some(values.acl.clone()) };
        let record = p.header.ctx(blob, self.offset);
        let group = p.current.ctx(record.layout, &p.header);
        self.emit.primed_group_start(Some((&record, &group)), p.recorded, v);
    }
}
