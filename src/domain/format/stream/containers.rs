//! Containers opening and closing: the frame each known key's object or array becomes (and the
//! duplicate checks it implies), and the end of the record at its closing brace.
use super::shape::{Frame, Slot};
use super::{Fail, Lex, MAX_DEPTH, RecordParser, Step, json_err};
use crate::domain::format::error::RecordErrorReason;
use crate::domain::format::record::{RowVisitor, duplicate};
use crate::domain::ids::RowIds;

impl RecordParser {
    pub(super) fn open<V: RowVisitor + ?Sized>(
        &mut self,
        blob: &RowIds,
        b: u8,
        slot: Slot,
        v: &mut V,
    ) -> Result<(), RecordErrorReason> {
        if self.frames.len() >= MAX_DEPTH {
            return Err(json_err("nested too deeply"));
        }
        let object = b == b'{';
        let mark = self.emit.buffered_groups();
        let frame = match (slot, object) {
            (Slot::Skip, true) if self.frames.is_empty() => Frame::Record,
            (Slot::Skip, true) => Frame::SkipObject,
            (Slot::Skip, false) => Frame::SkipArray,
            (Slot::Props, true) => {
                if std::mem::replace(&mut self.header.properties, true) {
                    return Err(duplicate("properties"));
                }
                Frame::Props
            }
            (Slot::VnetRecords, true) => {
                if std::mem::replace(&mut self.header.flow_records, true) {
                    return Err(duplicate("flowRecords"));
                }
                Frame::VnetRecords
            }
            (Slot::NsgRule, true) => {
                self.group.rule = None;
                Frame::NsgRule(mark)
            }
            (Slot::NsgMac, true) => {
                self.group.mac = None;
                self.group_tuples = false;
                Frame::NsgMac(mark)
            }
            (Slot::VnetAcl, true) => {
                self.group.acl = None;
                Frame::VnetAcl(mark)
            }
            (Slot::VnetGroup, true) => {
                self.group.rule = None;
                self.group_tuples = false;
                Frame::VnetGroup(mark)
            }
            (Slot::NsgRules, false) => Frame::NsgRules,
            (Slot::NsgMacs, false) => Frame::NsgMacs,
            (Slot::VnetAcls, false) => Frame::VnetAcls,
            (Slot::VnetGroups, false) => Frame::VnetGroups,
            (Slot::Tuples, false) => {
                if std::mem::replace(&mut self.group_tuples, true) {
                    return Err(duplicate("flowTuples"));
                }
                let vnet = matches!(self.frames.last(), Some(Frame::VnetGroup(_)));
                if self.primed.is_some() {
                    self.primed_group_start(blob, v);
                } else {
                    self.emit.group_start(vnet, &mut self.header, &self.group, blob, self.offset, v);
                }
                Frame::Tuples
            }
            _ => return Err(json_err(format!("`{}` has the wrong type", slot.name()))),
        };
        self.frames.push(frame);
        if object {
            self.lex = Some(Lex::KeyOrEnd);
        } else {
            self.lex = Some(Lex::ValueOrEnd);
            self.slot = Some(frame.element());
        }
        Ok(())
    }

    /// Closes the innermost container with `b`; `Some` when that was the record itself.
    pub(super) fn close<V: RowVisitor + ?Sized>(
        &mut self,
        blob: &RowIds,
        b: u8,
        i: usize,
        v: &mut V,
    ) -> Result<Option<Step>, Fail> {
        let top = *self.frames.last().expect("inside a container");
        if top.is_object() != (b == b'}') {
            return Err((i, json_err("mismatched bracket")));
        }
        self.frames.pop();
        match top {
            Frame::NsgRule(from) | Frame::VnetGroup(from) => self.emit.fill_rule(from, &self.group.rule),
            Frame::NsgMac(from) => self.emit.fill_mac(from, &self.group.mac),
            Frame::VnetAcl(from) => self.emit.fill_acl(from, &self.group.acl),
            Frame::Record => {
                let result = match &mut self.primed {
                    Some(p) if (p.started, p.tuples) != (self.emit.started(), self.emit.tuples()) => {
                        Err(RecordErrorReason::Framing("the record's bytes changed between two reads of it".into()))
                    }
                    Some(p) => self.emit.finish(&mut p.header, blob, self.offset, v),
                    None => self.emit.finish(&mut self.header, blob, self.offset, v),
                };
                self.lex = None;
                return Ok(Some(Step::Done(i + 1, result)));
            }
            _ => {}
        }
        self.lex = Some(Lex::Next);
        Ok(None)
    }
}
