//! The scalar tokens of a record: strings (taken straight from the chunk when whole and
//! unescaped, otherwise kept up to the cap across chunk edges), numbers and literals.
use memchr::memchr2;

use super::{Fail, Lex, MAX_STRING, RecordParser, Slot, json_err};
use crate::domain::format::error::RecordErrorReason;
use crate::domain::format::record::RowVisitor;
use crate::domain::ids::RowIds;

impl RecordParser {
    /// At an opening quote: takes the whole string from the chunk when it is there unescaped.
    pub(super) fn string_start<V: RowVisitor + ?Sized>(
        &mut self,
        blob: &RowIds,
        data: &[u8],
        i: usize,
        v: &mut V,
    ) -> Result<usize, Fail> {
        let rest = &data[i + 1..];
        if let Some(q) = memchr2(b'"', b'\\', rest)
            && rest[q] == b'"'
        {
            self.lex = Some(Lex::Next);
            self.string_done(blob, &rest[..q], q, false, v).map_err(|r| (i + q + 2, r))?;
            return Ok(i + q + 2);
        }
        self.text.clear();
        self.text_len = 0;
        self.lex = Some(Lex::Str { esc: false });
        self.string_rest(blob, data, i + 1, false, v)
    }

    /// Inside a string cut by a chunk edge or holding escapes: keeps its raw bytes (up to the cap)
    /// until the closing quote.
    pub(super) fn string_rest<V: RowVisitor + ?Sized>(
        &mut self,
        blob: &RowIds,
        data: &[u8],
        mut i: usize,
        mut esc: bool,
        v: &mut V,
    ) -> Result<usize, Fail> {
        let keep = self.slot().keeps_text();
        loop {
            if esc {
                let Some(&b) = data.get(i) else { break };
                self.keep(keep, &[b]);
                esc = false;
                i += 1;
            }
            match memchr2(b'"', b'\\', &data[i..]) {
                Some(q) if data[i + q] == b'"' => {
                    self.keep(keep, &data[i..i + q]);
                    let end = i + q + 1;
                    let text = std::mem::take(&mut self.text);
                    self.lex = Some(Lex::Next);
                    let result = self.string_done(blob, &text, self.text_len, true, v);
                    self.text = text;
                    result.map_err(|r| (end, r))?;
                    return Ok(end);
                }
                Some(q) => {
                    self.keep(keep, &data[i..=i + q]);
                    esc = true;
                    i += q + 1;
                }
                None => {
                    self.keep(keep, &data[i..]);
                    i = data.len();
                    break;
                }
            }
        }
        self.lex = Some(Lex::Str { esc });
        Ok(i)
    }

    pub(super) fn keep(&mut self, keep: bool, bytes: &[u8]) {
        self.text_len += bytes.len();
        if keep {
            let room = MAX_STRING.saturating_sub(self.text.len());
            self.text.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }

    pub(super) fn number_rest(&mut self, data: &[u8], mut i: usize) -> Result<usize, Fail> {
        let start = i;
        while i < data.len() && matches!(data[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
            i += 1;
        }
        let slot = self.slot();
        if slot != Slot::Skip {
            let room = 32usize.saturating_sub(self.text.len());
            self.text.extend_from_slice(&data[start..i.min(start + room)]);
        }
        if i == data.len() {
            return Ok(i);
        }
        self.lex = Some(Lex::Next);
        if let Slot::Version { vnet } = slot {
            let text = std::str::from_utf8(&self.text).unwrap_or("");
            let value =
                text.parse::<i64>().map_err(|_| (i, json_err(format!("`{}` is not an integer", slot.name()))))?;
            self.header.set_version(vnet, Some(value)).map_err(|r| (i, r))?;
        }
        Ok(i)
    }

    pub(super) fn literal_rest(
        &mut self,
        data: &[u8],
        mut i: usize,
        word: &'static [u8],
        mut at: usize,
    ) -> Result<usize, Fail> {
        while at < word.len() {
            let Some(&b) = data.get(i) else {
                self.lex = Some(Lex::Lit { word, at: at as u8 });
                return Ok(i);
            };
            if b != word[at] {
                return Err((i, json_err("invalid literal")));
            }
            at += 1;
            i += 1;
        }
        self.lex = Some(Lex::Next);
        if word == b"null" {
            match self.slot() {
                Slot::Version { vnet } => self.header.set_version(vnet, None).map_err(|r| (i, r))?,
                slot => self.set_string(slot, None).map_err(|r| (i, r))?,
            }
        }
        Ok(i)
    }
}

/// Decodes the escapes of a JSON string's raw text.
pub(super) fn unescape(raw: &[u8]) -> Result<Vec<u8>, RecordErrorReason> {
    let bad = || json_err("invalid escape in string");
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let e = *raw.get(i).ok_or_else(bad)?;
        i += 1;
        let simple = match e {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let hex = |at: usize| -> Option<u32> {
                    let h = raw.get(at..at + 4)?;
                    u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
                };
                let mut c = hex(i).ok_or_else(bad)?;
                i += 4;
                if (0xD800..0xDC00).contains(&c) && raw.get(i..i + 2) == Some(b"\\u") {
                    let low = hex(i + 2).ok_or_else(bad)?;
                    if (0xDC00..0xE000).contains(&low) {
                        c = 0x10000 + ((c - 0xD800) << 10) + (low - 0xDC00);
                        i += 6;
                    }
                }
                let ch = char::from_u32(c).ok_or_else(bad)?;
                out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                continue;
            }
            _ => return Err(bad()),
        };
        out.push(simple);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_decode_like_serde() {
        for s in [r#"plain"#, r#"q\"b\\s\/"#, r#"\u00e9\ud83d\ude00\n\t"#] {
            let ours = unescape(s.as_bytes()).unwrap();
            let theirs: String = serde_json::from_str(&format!("\"{s}\"")).unwrap();
            assert_eq!(String::from_utf8(ours).unwrap(), theirs);
        }
        assert!(unescape(br"\x").is_err());
        assert!(unescape(br"\u12").is_err());
    }
}
