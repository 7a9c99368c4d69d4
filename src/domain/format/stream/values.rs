//! Values: what a value's first byte starts, and where a complete string goes (a tuple's row,
//! the next key's slot, or a header or group value).
use super::scalars::unescape;
use super::shape::{Slot, key_slot};
use super::{Fail, Lex, MAX_STRING, RecordParser, json_err};
use crate::domain::format::error::RecordErrorReason;
use crate::domain::format::record::{RowVisitor, duplicate};
use crate::domain::ids::RowIds;

impl RecordParser {
    pub(super) fn value_start<V: RowVisitor + ?Sized>(
        &mut self,
        blob: &RowIds,
        data: &[u8],
        i: usize,
        v: &mut V,
    ) -> Result<usize, Fail> {
        let slot = self.slot();
        let b = data[i];
        let wrong = || (i, json_err(format!("`{}` has the wrong type", slot.name())));
        match b {
            b'"' => match slot {
                Slot::Skip | Slot::Head(_) | Slot::Rule | Slot::Mac | Slot::Acl | Slot::Tuple => {
                    self.string_start(blob, data, i, v)
                }
                _ => Err(wrong()),
            },
            b'{' | b'[' => {
                self.open(blob, b, slot, v).map_err(|r| (i, r))?;
                Ok(i + 1)
            }
            b'-' | b'0'..=b'9' => match slot {
                Slot::Skip | Slot::Version { .. } => {
                    self.text.clear();
                    self.lex = Some(Lex::Num);
                    self.number_rest(data, i)
                }
                _ => Err(wrong()),
            },
            b't' | b'f' | b'n' => {
                let word: &'static [u8] = match b {
                    b't' => b"true",
                    b'f' => b"false",
                    _ => b"null",
                };
                let nullable =
                    matches!(slot, Slot::Head(_) | Slot::Version { .. } | Slot::Rule | Slot::Mac | Slot::Acl);
                if slot != Slot::Skip && !(nullable && b == b'n') {
                    return Err(wrong());
                }
                self.lex = Some(Lex::Lit { word, at: 0 });
                self.literal_rest(data, i, word, 0)
            }
            _ => Err((i, json_err("expected a value"))),
        }
    }

    /// A complete string: `raw` is its text as written (escapes included when `maybe_escaped`),
    /// `len` its full length (`raw` may be cut at the cap).
    pub(super) fn string_done<V: RowVisitor + ?Sized>(
        &mut self,
        blob: &RowIds,
        raw: &[u8],
        len: usize,
        maybe_escaped: bool,
        v: &mut V,
    ) -> Result<(), RecordErrorReason> {
        let slot = self.slot();
        if slot == Slot::Skip {
            return Ok(());
        }
        let unescaped;
        let text = if maybe_escaped && raw.contains(&b'\\') && len <= MAX_STRING {
            unescaped = unescape(raw)?;
            &unescaped[..]
        } else {
            raw
        };
        if slot == Slot::Tuple {
            let mut sink = match &self.primed {
                Some(p) => self.emit.sink(&p.header, &p.current, blob, self.offset),
                None => self.emit.sink(&self.header, &self.group, blob, self.offset),
            };
            if len > MAX_STRING {
                sink.too_long(&text[..text.len().min(MAX_STRING)], len, v);
            } else {
                sink.tuple(text, v);
            }
            return Ok(());
        }
        if slot == Slot::Key {
            self.slot = Some(key_slot(self.frames.last(), text));
            self.lex = Some(Lex::Colon);
            return Ok(());
        }
        if len > MAX_STRING {
            return Err(json_err(format!("`{}` is longer than {MAX_STRING} bytes", slot.name())));
        }
        let value = String::from_utf8(text.to_vec()).map_err(|_| json_err("string is not UTF-8"))?;
        self.set_string(slot, Some(value))
    }

    pub(super) fn set_string(&mut self, slot: Slot, value: Option<String>) -> Result<(), RecordErrorReason> {
        let target = match slot {
            Slot::Head(field) => return self.header.set_str(field, value),
            Slot::Rule => &mut self.group.rule,
            Slot::Mac => &mut self.group.mac,
            Slot::Acl => &mut self.group.acl,
            _ => return Ok(()),
        };
        if target.is_some() {
            return Err(duplicate(slot.name()));
        }
        *target = Some(value);
        Ok(())
    }
}
