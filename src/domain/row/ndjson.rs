//! NDJSON row encoder: one JSON object per line, field order as in `schema::FIELDS`.
//!
//! The hot path of the product. Everything shared by a record (ids' prefix, resource ids, blob)
//! or by a flow group (rule, ACL, MAC) is rendered once into byte templates; each tuple then
//! costs a few memcpys, integer and timestamp renderings and IP copies (already validated, so
//! they need no escaping).
use crate::domain::enrich::Enricher;
use crate::domain::enrich::writer::{EnrichWriter, Prepared};
use crate::domain::format::timefmt::TimeFormatter;
use crate::domain::format::{GroupCtx, RecordCtx, RowVisitor, Tuple};
use crate::domain::ids::RowIds;
use crate::domain::json::{write_int, write_opt_int, write_opt_str, write_str};
use std::sync::Arc;

#[derive(Default)]
pub struct NdjsonEncoder {
    /// Encoded rows, whole lines, read through [`Self::out`]: it may hold Community ID
    /// placeholders, filled there (see `EnrichWriter::fill_ids`).
    out: Vec<u8>,
    pub rows: u64,
    id_head: Vec<u8>,
    record_part: Vec<u8>,
    group_part: Vec<u8>,
    suffix: Vec<u8>,
    times: TimeFormatter,
    /// Writes the enrichment fields that follow the flow-log fields.
    enrich: EnrichWriter,
}

impl NdjsonEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// An encoder whose rows carry the enrichments `enricher` has on.
    pub fn with_enricher(enricher: Arc<Enricher>) -> Self {
        Self::with_writer(EnrichWriter::new(enricher))
    }

    /// An encoder that enriches with `enrich` (and its warm address cache).
    pub fn with_writer(enrich: EnrichWriter) -> Self {
        NdjsonEncoder { enrich, ..Self::default() }
    }

    /// The enrichment writer, to be reused by the next encoder.
    pub fn take_writer(&mut self) -> EnrichWriter {
        self.enrich.fill_ids(&mut self.out);
        std::mem::take(&mut self.enrich)
    }

    /// The encoded rows, complete: the caller reads, cuts or drains them.
    pub fn out(&mut self) -> &mut Vec<u8> {
        self.enrich.fill_ids(&mut self.out);
        &mut self.out
    }

    /// The encoded rows, complete, taken whole.
    pub fn into_out(mut self) -> Vec<u8> {
        std::mem::take(self.out())
    }

    /// How many bytes of rows are encoded (placeholders have the length of what fills them).
    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.out.capacity()
    }

    fn render_record(&mut self, rec: &RecordCtx<'_>) {
        let blob: &RowIds = rec.blob;
        self.id_head.clear();
        self.id_head.extend_from_slice(b"{\"id\":\"");
        self.id_head.extend_from_slice(blob.id_prefix.as_bytes());
        self.id_head.push(b'-');
        write_int(&mut self.id_head, rec.offset);
        self.id_head.push(b'-');

        let r = &mut self.record_part;
        r.clear();
        r.extend_from_slice(b",\"record_time\":");
        write_opt_str(r, rec.time);
        r.extend_from_slice(b",\"format\":\"");
        r.extend_from_slice(rec.layout.format().as_str().as_bytes());
        r.extend_from_slice(b"\",\"version\":");
        write_int(r, rec.layout.version());
        r.extend_from_slice(b",\"resource_id\":");
        write_opt_str(r, rec.resource_id);
        r.extend_from_slice(b",\"target_resource_id\":");
        write_opt_str(r, rec.target_resource_id);
        r.extend_from_slice(b",\"subscription_id\":");
        write_opt_str(r, rec.subscription_id);
        r.extend_from_slice(b",\"resource_group\":");
        write_opt_str(r, rec.resource_group);

        let s = &mut self.suffix;
        s.clear();
        s.extend_from_slice(b",\"blob\":");
        write_str(s, &blob.name);
        s.extend_from_slice(b",\"record_offset\":");
        write_int(s, rec.offset);
    }

    fn render_group(&mut self, group: &GroupCtx<'_>) {
        let g = &mut self.group_part;
        g.clear();
        g.extend_from_slice(&self.record_part);
        g.extend_from_slice(b",\"rule\":");
        write_opt_str(g, group.rule);
        g.extend_from_slice(b",\"acl_id\":");
        write_opt_str(g, group.acl_id);
        g.extend_from_slice(b",\"mac\":");
        write_opt_str(g, group.mac);
        g.extend_from_slice(b",\"src_ip\":\"");
    }

    fn render_row(&mut self, t: &Tuple<'_>) {
        let enrichment = self.enrich.prepare(t);
        self.render_prepared(t, &enrichment);
    }

    /// Two rows; returns where the second starts in `out`.
    pub fn render_pair(&mut self, a: &Tuple<'_>, b: &Tuple<'_>) -> usize {
        let (pa, pb) = self.enrich.prepare_pair(a, b);
        self.render_prepared(a, &pa);
        let mid = self.out.len();
        self.render_prepared(b, &pb);
        mid
    }

    fn render_prepared(&mut self, t: &Tuple<'_>, enrichment: &Prepared) {
        let o = &mut self.out;
        o.extend_from_slice(&self.id_head);
        write_int(o, t.ordinal);
        o.extend_from_slice(b"\",\"flow_time\":\"");
        self.times.write(t.time_ms, o);
        o.push(b'"');
        o.extend_from_slice(&self.group_part);
        o.extend_from_slice(t.src_ip.as_bytes());
        o.extend_from_slice(b"\",\"dst_ip\":\"");
        o.extend_from_slice(t.dst_ip.as_bytes());
        o.extend_from_slice(b"\",\"src_port\":");
        write_int(o, t.src_port);
        o.extend_from_slice(b",\"dst_port\":");
        write_int(o, t.dst_port);
        o.extend_from_slice(b",\"protocol\":\"");
        t.protocol.write_name(o);
        o.extend_from_slice(b"\",\"protocol_number\":");
        write_int(o, t.protocol.number);
        o.extend_from_slice(b",\"direction\":\"");
        o.extend_from_slice(t.direction.as_str().as_bytes());
        o.extend_from_slice(b"\",\"decision\":\"");
        o.extend_from_slice(t.decision.as_str().as_bytes());
        o.extend_from_slice(b"\",\"flow_state\":");
        write_opt_str(o, t.flow_state());
        o.extend_from_slice(b",\"encryption\":");
        write_opt_str(o, t.encryption);
        o.extend_from_slice(b",\"packets_src_to_dst\":");
        write_opt_int(o, t.counters[0]);
        o.extend_from_slice(b",\"bytes_src_to_dst\":");
        write_opt_int(o, t.counters[1]);
        o.extend_from_slice(b",\"packets_dst_to_src\":");
        write_opt_int(o, t.counters[2]);
        o.extend_from_slice(b",\"bytes_dst_to_src\":");
        write_opt_int(o, t.counters[3]);
        o.extend_from_slice(&self.suffix);
        self.enrich.write_prepared(enrichment, t, o);
        o.extend_from_slice(b"}\n");
        self.rows += 1;
    }
}

impl RowVisitor for NdjsonEncoder {
    fn record(&mut self, record: &RecordCtx<'_>) {
        self.render_record(record);
    }

    fn group(&mut self, _record: &RecordCtx<'_>, group: &GroupCtx<'_>) {
        self.render_group(group);
    }

    fn row(&mut self, _record: &RecordCtx<'_>, _group: &GroupCtx<'_>, tuple: &Tuple<'_>) {
        self.render_row(tuple);
    }

    fn row_pair(&mut self, _record: &RecordCtx<'_>, _group: &GroupCtx<'_>, a: &Tuple<'_>, b: &Tuple<'_>) {
        self.render_pair(a, b);
    }
}
