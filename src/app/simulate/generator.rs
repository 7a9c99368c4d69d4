//! The pure flow-log generator: a `SimConfig` becomes an iterator of per-minute record appends.
//!
//! No I/O, no clock, no global RNG: the same config always yields the same bytes, so tests can pin
//! output and benchmarks can regenerate identical input anywhere.
use super::addresses::{AddressModel, Addresses};
use super::flows::{
    self, ALLOW_RULES, ALLOW_WEIGHTS, DENY_RULES, DENY_WEIGHTS, Flow, Host, RULES, TupleState, write_tuple,
};
use super::layout::{Layout, SeriesIdentity, guid};
use super::random::SplitMix64;
use super::record::{RecordHead, nsg_record, vnet_record};

/// 2026-01-01T00:00:00Z, the default start, so output does not depend on when it was generated.
pub const DEFAULT_START_UNIX: i64 = 1_767_225_600;

/// Tuple timestamps fall in the first 55 s of a minute and the record `time` in the last 5 s, as Azure
/// stamps a record when it closes the minute's aggregation.
const TUPLE_SPAN_MS: u64 = 55_000;

/// Which formats the series are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SeriesFormats {
    Nsg1,
    Nsg2,
    Vnet,
    /// Series cycle through NSG v2, VNet and NSG v1.
    Mixed,
}

impl SeriesFormats {
    /// The format of series number `index`.
    pub fn series_format(self, index: usize) -> Layout {
        match self {
            SeriesFormats::Nsg1 => Layout::NsgV1,
            SeriesFormats::Nsg2 => Layout::NsgV2,
            SeriesFormats::Vnet => Layout::VnetV4,
            SeriesFormats::Mixed => [Layout::NsgV2, Layout::VnetV4, Layout::NsgV1][index % 3],
        }
    }
}

/// What to simulate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    pub format: SeriesFormats,
    /// Distinct `PT1H.json` series (one NIC each; two NICs share each NSG or VNet).
    pub blobs: usize,
    pub minutes: u32,
    /// Tuples per blob per minute, split across rules (and ACLs for VNet).
    pub tuples_per_minute: usize,
    /// Unix seconds (UTC); floored to the minute.
    pub start_unix: i64,
    pub seed: u64,
    /// Where remote addresses come from (the default keeps every seed's original bytes).
    pub addresses: AddressModel,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            format: SeriesFormats::Vnet,
            blobs: 4,
            minutes: 10,
            tuples_per_minute: 50,
            start_unix: DEFAULT_START_UNIX,
            seed: 1,
            addresses: AddressModel::Repeating,
        }
    }
}

impl SimConfig {
    /// Tuples the generator will yield in total (every blob gets exactly `tuples_per_minute` per minute).
    pub fn total_tuples(&self) -> u64 {
        self.total_records() * self.tuples_per_minute as u64
    }

    /// Records (= appends) the generator will yield in total.
    pub fn total_records(&self) -> u64 {
        self.blobs as u64 * u64::from(self.minutes)
    }

    pub fn generate(&self) -> Generator {
        Generator::new(self.clone())
    }
}

/// One record to append to one blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Append {
    /// Blob path relative to the storage account, container directory first.
    pub path: String,
    /// Simulated minute, counted from the start.
    pub minute: u32,
    /// The record, one JSON object with no surrounding whitespace.
    pub record_json: String,
    pub tuples: usize,
}

struct Series {
    id: SeriesIdentity,
    host: Host,
    /// `resourceId` (NSG) or `flowLogResourceID` (VNet), computed once.
    resource_id: String,
    target_id: String,
    rng: SplitMix64,
    addrs: Addresses,
    /// Open allowed flows awaiting their `C`/`E` tuples.
    pool: Vec<Flow>,
    /// The hour (`unix / 3600`) `path` was computed for.
    path_hour: i64,
    path: String,
}

impl Series {
    fn head(&self) -> RecordHead<'_> {
        RecordHead { id: &self.id, resource_id: &self.resource_id, target_id: &self.target_id }
    }
}

/// Yields appends in time order: minute by minute, every blob each minute, blobs in a fixed order.
pub struct Generator {
    config: SimConfig,
    start_minute_unix: i64,
    series: Vec<Series>,
    minute: u32,
    next_series: usize,
    /// One tuple buffer per rule, reused across records.
    groups: Vec<String>,
}

impl Generator {
    pub fn new(config: SimConfig) -> Self {
        let root = SplitMix64::new(config.seed);
        let subscription = guid(&mut root.fork(u64::MAX));
        let mut ordinals = [0u32; 3];
        let series = (0..config.blobs)
            .map(|i| {
                let format = config.format.series_format(i);
                let ordinal = &mut ordinals[format as usize];
                let mut rng = root.fork(i as u64);
                let id = SeriesIdentity::new(format, *ordinal, &subscription, &mut rng);
                *ordinal += 1;
                let (resource_id, target_id) = match format {
                    Layout::VnetV4 => (id.flow_log_resource_id(), id.target_resource_id()),
                    _ => (id.nsg_resource_id(), String::new()),
                };
                let host = Host::new(id.resource, id.nic, format == Layout::VnetV4);
                Series {
                    id,
                    host,
                    resource_id,
                    target_id,
                    rng,
                    addrs: Addresses::new(config.addresses, &root, i, config.blobs),
                    pool: Vec::new(),
                    path_hour: i64::MIN,
                    path: String::new(),
                }
            })
            .collect();
        Generator {
            start_minute_unix: config.start_unix - config.start_unix.rem_euclid(60),
            config,
            series,
            minute: 0,
            next_series: 0,
            groups: vec![String::new(); RULES.len()],
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// See [`SimConfig::total_tuples`].
    pub fn total_tuples(&self) -> u64 {
        self.config.total_tuples()
    }

    fn append_for(&mut self, index: usize) -> Append {
        let minute = self.minute;
        let minute_unix = self.start_minute_unix + i64::from(minute) * 60;
        let n = self.config.tuples_per_minute;
        let s = &mut self.series[index];
        let format = s.id.format;
        for g in &mut self.groups {
            g.clear();
        }
        let slot = (TUPLE_SPAN_MS / n.max(1) as u64).max(1);
        for e in 0..n as u64 {
            let ts_ms = minute_unix as u64 * 1000 + e * TUPLE_SPAN_MS / n as u64 + s.rng.below(slot);
            let (flow, state) = next_event(s, minute, n);
            let counts = match state {
                TupleState::Continuing | TupleState::End => flows::counters(&flow, &mut s.rng),
                _ => [0; 4],
            };
            write_tuple(&mut self.groups[usize::from(flow.rule)], format, ts_ms, &flow, state, counts);
        }
        let hour = minute_unix.div_euclid(3600);
        if s.path_hour != hour {
            s.path_hour = hour;
            s.path = s.id.blob_path(minute_unix);
        }
        let ticks = s.rng.below(RECORD_SPAN_TICKS) as u32;
        let record_json = match format {
            Layout::VnetV4 => vnet_record(&s.head(), &self.groups, minute_unix, ticks),
            _ => nsg_record(&s.head(), &self.groups, minute_unix, ticks),
        };
        Append { path: s.path.clone(), minute, record_json, tuples: n }
    }
}

/// The record `time` lands somewhere in the minute's last 5 seconds (in 100 ns ticks).
const RECORD_SPAN_TICKS: u64 = 50_000_000;

/// Picks the next tuple for a series: a denied packet, the next step of an open flow, or a new flow.
fn next_event(s: &mut Series, minute: u32, per_minute: usize) -> (Flow, TupleState) {
    let rng = &mut s.rng;
    if rng.percent(25) {
        let rule = DENY_RULES[rng.weighted(&DENY_WEIGHTS)];
        return (flows::new_flow(rule, &s.host, minute, rng, &mut s.addrs), TupleState::Denied);
    }
    let pool = &mut s.pool;
    let cap = (2 * per_minute).max(16);
    let mut chosen = None;
    // Prefer flows last seen in an earlier minute, so B → C → E sequences span minutes.
    if !pool.is_empty() && rng.percent(55) {
        for _ in 0..3 {
            let i = rng.below(pool.len() as u64) as usize;
            if pool[i].last_minute < minute {
                chosen = Some(i);
                break;
            }
        }
    }
    if chosen.is_none() && pool.len() >= cap {
        chosen = Some(rng.below(pool.len() as u64) as usize);
    }
    match chosen {
        Some(i) if pool[i].updates_left > 0 => {
            pool[i].updates_left -= 1;
            pool[i].last_minute = minute;
            (pool[i], TupleState::Continuing)
        }
        Some(i) => (pool.swap_remove(i), TupleState::End),
        None => {
            let rule = ALLOW_RULES[rng.weighted(&ALLOW_WEIGHTS)];
            let flow = flows::new_flow(rule, &s.host, minute, rng, &mut s.addrs);
            pool.push(flow);
            (flow, TupleState::Begin)
        }
    }
}

impl Iterator for Generator {
    type Item = Append;

    fn next(&mut self) -> Option<Append> {
        if self.next_series >= self.series.len() {
            if self.series.is_empty() {
                return None;
            }
            self.next_series = 0;
            self.minute += 1;
        }
        if self.minute >= self.config.minutes {
            return None;
        }
        let append = self.append_for(self.next_series);
        self.next_series += 1;
        Some(append)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let done = self.minute as usize * self.series.len() + self.next_series;
        let left = (self.config.total_records() as usize).saturating_sub(done);
        (left, Some(left))
    }
}
