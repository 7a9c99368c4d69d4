//! Who each simulated blob series belongs to (subscription, NSG or VNet flow log, MAC) and where its
//! hourly `PT1H.json` lives, in exactly the path shapes Azure writes.
use super::random::SplitMix64;
use super::text::{Utc, push_padded};

/// Container of NSG flow logs (versions 1 and 2).
pub const NSG_CONTAINER: &str = "insights-logs-networksecuritygroupflowevent";
/// Container of virtual network flow logs (`flowLogVersion` 4).
pub const VNET_CONTAINER: &str = "insights-logs-flowlogflowevent";

/// A series is written in one record layout (format and version) of the domain.
pub use crate::domain::format::Layout;

const REGIONS: [&str; 4] = ["eastus", "westeurope", "eastus2", "northeurope"];

/// The fixed identity of one blob series: one NIC (MAC) of one NSG or one VNet flow log.
#[derive(Clone, Debug)]
pub struct SeriesIdentity {
    pub format: Layout,
    /// Lowercase GUID, as in `targetResourceID`; upper-cased where Azure upper-cases it.
    pub subscription: String,
    /// The NSG's resource group, or the VNet's (the flow log itself lives in `NetworkWatcherRG`).
    pub resource_group: String,
    /// NSG name or virtual network name.
    pub resource_name: String,
    /// Twelve uppercase hex digits, no separators, as in records and paths.
    pub mac: String,
    /// NSG `systemId`, or VNet `flowLogGUID`.
    pub system_id: String,
    /// Network Watcher region (VNet only, but always set so identities are uniform).
    pub region: &'static str,
    /// VNet flow log resource name.
    pub flow_log_name: String,
    /// VNet `aclID`s: the NSGs (or Virtual Network Manager configs) that evaluate this NIC's traffic.
    pub acl_ids: [String; 3],
    /// Resource ordinal within its format (two NICs share each resource) and NIC ordinal within it.
    pub resource: u32,
    pub nic: u32,
}

impl SeriesIdentity {
    /// The identity of the `ordinal`-th series of `format`; `rng` is the series' own stream.
    pub fn new(format: Layout, ordinal: u32, subscription: &str, rng: &mut SplitMix64) -> Self {
        let resource = ordinal / 2;
        let nic = ordinal % 2;
        // 00-0D-3A is the OUI Azure assigns to VM NICs; the low three bytes are unique per series.
        let mac = format!("000D3A{:02X}{:04X}", (rng.next_u64() & 0xFF) as u8, ordinal & 0xFFFF);
        let (resource_group, resource_name) = match format {
            Layout::NsgV1 => (format!("sim-rg{}", resource % 3), format!("sim-vm{resource}-v1-nsg")),
            Layout::NsgV2 => (format!("sim-rg{}", resource % 3), format!("sim-vm{resource}-nsg")),
            Layout::VnetV4 => (format!("sim-rg{}", resource % 3), format!("sim-vnet{resource}")),
        };
        SeriesIdentity {
            format,
            subscription: subscription.to_string(),
            flow_log_name: format!("{resource_name}-flowlog"),
            resource_group,
            resource_name,
            mac,
            system_id: guid(rng),
            region: REGIONS[resource as usize % REGIONS.len()],
            acl_ids: [guid(rng), guid(rng), guid(rng)],
            resource,
            nic,
        }
    }

    /// NSG `resourceId` (upper case, as Azure writes it in records and blob paths).
    pub fn nsg_resource_id(&self) -> String {
        format!(
            "/SUBSCRIPTIONS/{}/RESOURCEGROUPS/{}/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/{}",
            self.subscription, self.resource_group, self.resource_name
        )
        .to_uppercase()
    }

    /// VNet `flowLogResourceID` (upper case; flow logs live in the regional Network Watcher).
    pub fn flow_log_resource_id(&self) -> String {
        format!(
            "/SUBSCRIPTIONS/{}/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_{}/FLOWLOGS/{}",
            self.subscription, self.region, self.flow_log_name
        )
        .to_uppercase()
    }

    /// VNet `targetResourceID` (original casing, as in Microsoft's sample).
    pub fn target_resource_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/virtualNetworks/{}",
            self.subscription, self.resource_group, self.resource_name
        )
    }

    /// The blob path, container directory included, of the hour containing `unix_secs`.
    ///
    /// NSG: `resourceId=/SUBSCRIPTIONS/.../NETWORKSECURITYGROUPS/<NSG>/y=/m=/d=/h=/m=00/macAddress=/PT1H.json`
    /// (<https://learn.microsoft.com/azure/network-watcher/nsg-flow-logs-overview#log-format>).
    ///
    /// VNet: Microsoft's pages disagree (the CLI section shows a full resource-id form); we write the form
    /// of Microsoft's own block-reading script and of real storage accounts,
    /// `flowLogResourceID=/<SUB>_NETWORKWATCHERRG/NETWORKWATCHER_<REGION>_<FLOWLOG>/y=...`, all upper case
    /// (<https://learn.microsoft.com/azure/network-watcher/flow-logs-read>,
    /// <https://learn.microsoft.com/azure/network-watcher/vnet-flow-logs-manage#download-a-flow-log>).
    /// Consumers take identity from record fields, never from this prefix (docs/ARCHITECTURE.md, formats).
    pub fn blob_path(&self, unix_secs: i64) -> String {
        let mut path = String::with_capacity(256);
        match self.format {
            Layout::NsgV1 | Layout::NsgV2 => {
                path.push_str(NSG_CONTAINER);
                path.push_str("/resourceId=");
                path.push_str(&self.nsg_resource_id());
            }
            Layout::VnetV4 => {
                path.push_str(VNET_CONTAINER);
                path.push_str("/flowLogResourceID=/");
                let prefix = format!(
                    "{}_NETWORKWATCHERRG/NETWORKWATCHER_{}_{}",
                    self.subscription, self.region, self.flow_log_name
                );
                path.push_str(&prefix.to_uppercase());
            }
        }
        let t = Utc::from_unix(unix_secs);
        path.push_str("/y=");
        push_padded(&mut path, t.year as u64, 4);
        path.push_str("/m=");
        push_padded(&mut path, u64::from(t.month), 2);
        path.push_str("/d=");
        push_padded(&mut path, u64::from(t.day), 2);
        path.push_str("/h=");
        push_padded(&mut path, u64::from(t.hour), 2);
        path.push_str("/m=00/macAddress=");
        path.push_str(&self.mac);
        path.push_str("/PT1H.json");
        path
    }
}

/// A random version-4-shaped GUID in lowercase, as Azure writes `systemId`, `flowLogGUID` and `aclID`.
pub fn guid(rng: &mut SplitMix64) -> String {
    let hi = rng.next_u64();
    let lo = rng.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0x0FFF,
        0x8000 | ((lo >> 48) & 0x3FFF),
        lo & 0xFFFF_FFFF_FFFF
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(format: Layout) -> SeriesIdentity {
        SeriesIdentity::new(format, 3, "0a1b2c3d-0000-4000-8000-00000000abcd", &mut SplitMix64::new(5))
    }

    #[test]
    fn nsg_path_has_the_documented_shape() {
        let id = identity(Layout::NsgV2);
        let path = id.blob_path(1_767_229_200 + 59); // 2026-01-01T01:00:59Z
        let want = format!(
            "insights-logs-networksecuritygroupflowevent/resourceId=/SUBSCRIPTIONS/0A1B2C3D-0000-4000-8000-00000000ABCD/RESOURCEGROUPS/SIM-RG1/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/SIM-VM1-NSG/y=2026/m=01/d=01/h=01/m=00/macAddress={}/PT1H.json",
            id.mac
        );
        assert_eq!(path, want);
        assert_eq!(id.mac.len(), 12);
        assert!(id.mac.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
    }

    #[test]
    fn vnet_path_has_the_documented_shape() {
        let id = identity(Layout::VnetV4);
        let path = id.blob_path(1_767_225_600);
        let want = format!(
            "insights-logs-flowlogflowevent/flowLogResourceID=/0A1B2C3D-0000-4000-8000-00000000ABCD_NETWORKWATCHERRG/NETWORKWATCHER_WESTEUROPE_SIM-VNET1-FLOWLOG/y=2026/m=01/d=01/h=00/m=00/macAddress={}/PT1H.json",
            id.mac
        );
        assert_eq!(path, want);
        assert!(id.flow_log_resource_id().ends_with("/NETWORKWATCHER_WESTEUROPE/FLOWLOGS/SIM-VNET1-FLOWLOG"));
    }

    #[test]
    fn guids_are_well_formed() {
        let g = guid(&mut SplitMix64::new(1));
        let lens: Vec<usize> = g.split('-').map(str::len).collect();
        assert_eq!(lens, [8, 4, 4, 4, 12]);
        assert!(g.chars().all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)));
    }
}
