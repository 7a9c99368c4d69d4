//! Shared server state: the hubs with their partitions, round-robin cursor and the owner-level
//! (epoch) registry that decides which receiver holds a partition.

use crate::config::{EmulatorConfig, HubConfig};
use crate::control::{Control, Counters, HubCounters};
use crate::store::Partition;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Everything the connection, session and link tasks share.
#[derive(Debug)]
pub(crate) struct State {
    pub config: EmulatorConfig,
    hubs: HashMap<String, Arc<Hub>>,
    pub control: Control,
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
}

impl State {
    pub fn new(config: EmulatorConfig) -> std::io::Result<Self> {
        let mut hubs = HashMap::new();
        let mut counters = Counters::default();
        for hub in &config.hubs {
            let dir = config.data_dir.as_ref().map(|d| d.join(&hub.name));
            let opened = Hub::open(hub.clone(), dir.as_deref())?;
            let entry = counters.hubs.entry(hub.name.clone()).or_insert_with(HubCounters::default);
            for p in &opened.partitions {
                entry.partitions.entry(p.id.clone()).or_default();
            }
            hubs.insert(hub.name.to_ascii_lowercase(), Arc::new(opened));
        }
        Ok(Self {
            config,
            hubs,
            control: Control::new(counters),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        })
    }

    /// Finds a hub case-insensitively.
    pub fn hub(&self, name: &str) -> Option<Arc<Hub>> {
        self.hubs.get(&name.to_ascii_lowercase()).cloned()
    }
}

/// A hub's runtime state.
#[derive(Debug)]
pub(crate) struct Hub {
    pub config: HubConfig,
    /// Creation time reported by `$management` (start of this process, or of the data dir).
    pub created_at_ms: i64,
    pub partitions: Vec<Arc<Partition>>,
    round_robin: AtomicUsize,
    owners: OwnerMap,
    next_owner_id: AtomicU64,
}

/// Receivers per (lower-cased consumer group, partition id).
type OwnerMap = Arc<Mutex<HashMap<(String, String), Vec<Owner>>>>;

#[derive(Debug)]
struct Owner {
    id: u64,
    epoch: Option<i64>,
    kick: oneshot::Sender<()>,
}

/// A receiver's claim on a (consumer group, partition); dropping it releases the claim.
#[derive(Debug)]
pub(crate) struct OwnerClaim {
    owners: OwnerMap,
    key: (String, String),
    id: u64,
    /// Fires when a receiver with a higher or equal owner level takes the partition.
    pub stolen: oneshot::Receiver<()>,
}

impl Drop for OwnerClaim {
    fn drop(&mut self) {
        if let Some(list) = self.owners.lock().unwrap().get_mut(&self.key) {
            list.retain(|o| o.id != self.id);
        }
    }
}

/// Outcome of [`Hub::claim`].
pub(crate) struct Claimed {
    pub claim: OwnerClaim,
    /// How many receivers were displaced by this claim.
    pub displaced: u64,
}

impl Hub {
    fn open(config: HubConfig, dir: Option<&std::path::Path>) -> std::io::Result<Self> {
        let partitions = (0..config.partitions)
            .map(|i| Partition::open(i.to_string(), dir).map(Arc::new))
            .collect::<std::io::Result<Vec<_>>>()?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        Ok(Self {
            config,
            created_at_ms: now,
            partitions,
            round_robin: AtomicUsize::new(0),
            owners: Arc::default(),
            next_owner_id: AtomicU64::new(0),
        })
    }

    pub fn partition(&self, id: &str) -> Option<Arc<Partition>> {
        self.partitions.iter().find(|p| p.id == id).cloned()
    }

    /// Next partition for a send without key or partition.
    pub fn next_round_robin(&self) -> Arc<Partition> {
        let i = self.round_robin.fetch_add(1, Ordering::Relaxed) % self.partitions.len();
        self.partitions[i].clone()
    }

    /// Claims a partition for a receiver, following the service's owner-level rules: an owner
    /// level (epoch) higher than or equal to every current one displaces all current receivers;
    /// a lower one, or none while an epoch receiver holds the partition, is refused. Receivers
    /// without an owner level coexist with each other, at most `max_receivers` of them.
    pub fn claim(
        &self,
        consumer_group: &str,
        partition: &str,
        epoch: Option<i64>,
        max_receivers: Option<usize>,
    ) -> Result<Claimed, Refused> {
        let key = (consumer_group.to_ascii_lowercase(), partition.to_string());
        let mut owners = self.owners.lock().unwrap();
        let list = owners.entry(key.clone()).or_default();
        let highest = list.iter().filter_map(|o| o.epoch).max();
        let mut displaced = 0;
        match (epoch, highest) {
            (Some(e), Some(h)) if e < h => return Err(Refused::LowerOwnerLevel),
            (None, Some(_)) => return Err(Refused::LowerOwnerLevel),
            (Some(_), _) => {
                for owner in list.drain(..) {
                    displaced += u64::from(owner.kick.send(()).is_ok());
                }
            }
            (None, None) => {
                if let Some(max) = max_receivers.filter(|max| list.len() >= *max) {
                    return Err(Refused::TooManyReceivers(max));
                }
            }
        }
        let id = self.next_owner_id.fetch_add(1, Ordering::Relaxed);
        let (kick, stolen) = oneshot::channel();
        list.push(Owner { id, epoch, kick });
        Ok(Claimed { claim: OwnerClaim { owners: self.owners.clone(), key, id, stolen }, displaced })
    }
}

/// Why [`Hub::claim`] refused a receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// A receiver with a higher owner level (or any owner level, for a receiver without one)
    /// holds the partition.
    LowerOwnerLevel,
    /// The partition already has this many receivers in the consumer group.
    TooManyReceivers(usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_levels_steal_and_refuse() {
        let hub = Hub::open(HubConfig::new("h", 1), None).unwrap();
        let mut first = hub.claim("$Default", "0", Some(0), Some(5)).unwrap();
        assert_eq!(hub.claim("$default", "0", None, Some(5)).err(), Some(Refused::LowerOwnerLevel));
        let second = hub.claim("$Default", "0", Some(0), Some(5)).unwrap();
        assert_eq!(second.displaced, 1);
        assert!(first.claim.stolen.try_recv().is_ok());
        assert!(hub.claim("$Default", "0", Some(-1), Some(5)).is_err());
        drop(second);
        assert!(hub.claim("$Default", "0", None, Some(5)).is_ok());
    }

    #[test]
    fn receivers_without_owner_level_are_limited_per_partition_and_group() {
        let hub = Hub::open(HubConfig::new("h", 2), None).unwrap();
        let held: Vec<_> = (0..5).map(|_| hub.claim("$Default", "0", None, Some(5)).unwrap()).collect();
        assert_eq!(hub.claim("$Default", "0", None, Some(5)).err(), Some(Refused::TooManyReceivers(5)));
        assert!(hub.claim("other", "0", None, Some(5)).is_ok(), "another consumer group has its own five");
        assert!(hub.claim("$Default", "1", None, Some(5)).is_ok(), "another partition has its own five");
        assert!(hub.claim("$Default", "0", None, None).is_ok(), "no limit when the rule is off");
        drop(held);
        assert!(hub.claim("$Default", "0", None, Some(5)).is_ok());
    }
}
