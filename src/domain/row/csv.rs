//! CSV row encoder (RFC 4180): a header of the fields the enrichment settings produce (see
//! `schema::fields_for`), one line per row, empty for null.
//!
//! As in the NDJSON encoder, what a record or a flow group shares is rendered once (escaped
//! when needed); a row then costs a few copies and number renderings. Values the tuple parser
//! validated (addresses, enumerations, numbers, timestamps) never hold a character CSV escapes.
use std::sync::Arc;

use super::schema::fields_for;
use crate::domain::enrich::Enricher;
use crate::domain::enrich::writer::EnrichWriter;
use crate::domain::format::timefmt::TimeFormatter;
use crate::domain::format::{GroupCtx, RecordCtx, RowVisitor, Tuple};
use crate::domain::json::write_int;

#[derive(Default)]
pub struct CsvEncoder {
    pub out: Vec<u8>,
    pub rows: u64,
    times: TimeFormatter,
    /// The row id up to its ordinal (`<prefix>-<offset>-`), and whether it must be quoted.
    id_head: Vec<u8>,
    id_quoted: bool,
    /// `record_time` through `resource_group`, each with its separator.
    record_part: Vec<u8>,
    /// `record_part`, then `rule`, `acl_id`, `mac`.
    group_part: Vec<u8>,
    /// `blob` and `record_offset`.
    suffix: Vec<u8>,
    enrich: EnrichWriter,
}

/// Appends one value and its separator, quoted when it holds `,`, `"` or a line break.
fn field(out: &mut Vec<u8>, v: Option<&str>) {
    let v = v.unwrap_or("");
    if needs_quotes(v.as_bytes()) {
        out.push(b'"');
        out.extend_from_slice(v.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(v.as_bytes());
    }
    out.push(b',');
}

fn needs_quotes(v: &[u8]) -> bool {
    v.iter().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
}

fn num(out: &mut Vec<u8>, v: Option<u64>) {
    if let Some(v) = v {
        write_int(out, v);
    }
    out.push(b',');
}

impl CsvEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// An encoder whose rows (and header) carry the enrichments `enricher` has on.
    pub fn with_enricher(enricher: Arc<Enricher>) -> Self {
        CsvEncoder { enrich: EnrichWriter::new(enricher), ..Self::default() }
    }

    /// Appends the header line: the fields the enabled settings produce.
    pub fn write_header(&mut self) {
        let settings = self.enrich.settings();
        let header: Vec<&str> = fields_for(|s| settings.enabled(s)).map(|f| f.name).collect();
        self.out.extend_from_slice(header.join(",").as_bytes());
        self.out.push(b'\n');
    }
}

impl RowVisitor for CsvEncoder {
    fn record(&mut self, rec: &RecordCtx<'_>) {
        let blob = rec.blob;
        self.id_head.clear();
        self.id_head.extend_from_slice(blob.id_prefix.as_bytes());
        self.id_head.push(b'-');
        write_int(&mut self.id_head, rec.offset);
        self.id_head.push(b'-');
        // The ordinal's digits never need quotes: the whole id does exactly when its head does.
        self.id_quoted = needs_quotes(&self.id_head);
        let r = &mut self.record_part;
        r.clear();
        field(r, rec.time);
        field(r, Some(rec.layout.format().as_str()));
        num(r, Some(rec.layout.version().into()));
        for v in [rec.resource_id, rec.target_resource_id, rec.subscription_id, rec.resource_group] {
            field(r, v);
        }
        let s = &mut self.suffix;
        s.clear();
        field(s, Some(&blob.name));
        num(s, Some(rec.offset));
    }

    fn group(&mut self, _record: &RecordCtx<'_>, group: &GroupCtx<'_>) {
        let g = &mut self.group_part;
        g.clear();
        g.extend_from_slice(&self.record_part);
        for v in [group.rule, group.acl_id, group.mac] {
            field(g, v);
        }
    }

    fn row(&mut self, rec: &RecordCtx<'_>, _group: &GroupCtx<'_>, t: &Tuple<'_>) {
        let o = &mut self.out;
        if self.id_quoted {
            field(o, Some(&rec.blob.row_id(rec.offset, t.ordinal)));
        } else {
            o.extend_from_slice(&self.id_head);
            write_int(o, t.ordinal);
            o.push(b',');
        }
        self.times.write(t.time_ms, o);
        o.push(b',');
        o.extend_from_slice(&self.group_part);
        for ip in [t.src_ip, t.dst_ip] {
            o.extend_from_slice(ip.as_bytes());
            o.push(b',');
        }
        num(o, Some(t.src_port.into()));
        num(o, Some(t.dst_port.into()));
        t.protocol.write_name(o);
        o.push(b',');
        num(o, Some(t.protocol.number.into()));
        for v in [t.direction.as_str(), t.decision.as_str()] {
            o.extend_from_slice(v.as_bytes());
            o.push(b',');
        }
        field(o, t.flow_state());
        field(o, t.encryption);
        for c in t.counters {
            num(o, c);
        }
        o.extend_from_slice(&self.suffix);
        self.enrich.write_csv(t, o, field);
        // Replace the trailing separator with the line end.
        o.pop();
        o.push(b'\n');
        self.rows += 1;
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::enrich::services::service_name;
    use crate::domain::format::protocol::Protocol;

    /// Protocol and service names are written unquoted: none holds a character CSV escapes.
    #[test]
    fn names_written_as_they_are_need_no_quotes() {
        for n in 0..=255u8 {
            let mut name = Vec::new();
            Protocol { number: n }.write_name(&mut name);
            assert!(!super::needs_quotes(&name), "protocol {n}");
        }
        for n in [1, 6, 17, 58, 132] {
            for port in 0..=u16::MAX {
                let name = service_name(n, port).unwrap_or("");
                assert!(!super::needs_quotes(name.as_bytes()), "service {n}/{port}");
            }
        }
    }
}
