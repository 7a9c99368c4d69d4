//! CSV row encoder (RFC 4180): a header of the fields the enrichment settings produce (see
//! `schema::fields_for`), one line per row, empty for null.
use std::sync::Arc;

use super::schema::fields_for;
use crate::domain::enrich::Enricher;
use crate::domain::enrich::writer::EnrichWriter;
use crate::domain::format::timefmt::TimeFormatter;
use crate::domain::format::{GroupCtx, RecordCtx, RowVisitor, Tuple};

#[derive(Default)]
pub struct CsvEncoder {
    pub out: Vec<u8>,
    pub rows: u64,
    times: TimeFormatter,
    time_buf: Vec<u8>,
    enrich: EnrichWriter,
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

    fn field(&mut self, v: &str) {
        if v.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
            self.out.push(b'"');
            self.out.extend_from_slice(v.replace('"', "\"\"").as_bytes());
            self.out.push(b'"');
        } else {
            self.out.extend_from_slice(v.as_bytes());
        }
        self.out.push(b',');
    }

    fn opt(&mut self, v: Option<&str>) {
        self.field(v.unwrap_or(""));
    }

    fn num(&mut self, v: Option<u64>) {
        match v {
            Some(v) => self.field(itoa::Buffer::new().format(v)),
            None => self.field(""),
        }
    }
}

impl RowVisitor for CsvEncoder {
    fn row(&mut self, rec: &RecordCtx<'_>, group: &GroupCtx<'_>, t: &Tuple<'_>) {
        self.field(&rec.blob.row_id(rec.offset, t.ordinal));
        self.time_buf.clear();
        self.times.write(t.time_ms, &mut self.time_buf);
        let time = String::from_utf8_lossy(&self.time_buf).into_owned();
        self.field(&time);
        self.opt(rec.time);
        self.field(rec.layout.format().as_str());
        self.num(Some(rec.layout.version().into()));
        self.opt(rec.resource_id);
        self.opt(rec.target_resource_id);
        self.opt(rec.subscription_id);
        self.opt(rec.resource_group);
        self.opt(group.rule);
        self.opt(group.acl_id);
        self.opt(group.mac);
        self.field(t.src_ip);
        self.field(t.dst_ip);
        self.num(Some(t.src_port.into()));
        self.num(Some(t.dst_port.into()));
        self.field(&t.protocol.name());
        self.num(Some(t.protocol.number.into()));
        self.field(t.direction.as_str());
        self.field(t.decision.as_str());
        self.opt(t.flow_state());
        self.opt(t.encryption);
        for c in t.counters {
            self.num(c);
        }
        self.field(&rec.blob.name);
        self.num(Some(rec.offset));
        for v in self.enrich.values(t) {
            self.opt(v.as_deref());
        }
        // Replace the trailing separator with the line end.
        self.out.pop();
        self.out.push(b'\n');
        self.rows += 1;
    }
}
