//! Flow type, Traffic-Analytics-like, from what the tuple and the loaded data can tell.
use super::class::AddrClass;
use crate::domain::format::tuple::Direction;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowType {
    /// Neither end is a public address (VNet-internal, peered, on-premises over a gateway…).
    Private,
    /// The public end is in an Azure service-tag range.
    AzurePublic,
    /// The public end is on the internet outside Azure's published ranges.
    ExternalPublic,
    /// One end is Azure's platform address (DNS, DHCP, health probes, metadata).
    Platform,
    /// A public end, but no service tags are loaded to say whether it is Azure.
    Unknown,
}

impl FlowType {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowType::Private => "private",
            FlowType::AzurePublic => "azure_public",
            FlowType::ExternalPublic => "external_public",
            FlowType::Platform => "platform",
            FlowType::Unknown => "unknown",
        }
    }
}

/// One end of a flow as far as the flow type cares.
#[derive(Clone, Copy, Debug)]
pub struct End {
    pub class: AddrClass,
    /// In an Azure service-tag range (false when no tags are loaded).
    pub azure: bool,
}

/// The public end is the remote one given the direction (the source of an inbound flow); when
/// only the local end is public (a VM with a public IP seen from a private peer) that one counts.
pub fn flow_type(src: End, dst: End, direction: Direction, tags_loaded: bool) -> FlowType {
    if src.class == AddrClass::AzurePlatform || dst.class == AddrClass::AzurePlatform {
        return FlowType::Platform;
    }
    let (remote, local) = match direction {
        Direction::Inbound => (src, dst),
        Direction::Outbound => (dst, src),
    };
    let public = [remote, local].into_iter().find(|e| e.class.is_public());
    match public {
        None => FlowType::Private,
        Some(_) if !tags_loaded => FlowType::Unknown,
        Some(e) if e.azure => FlowType::AzurePublic,
        Some(_) => FlowType::ExternalPublic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AddrClass::*;

    fn end(class: AddrClass, azure: bool) -> End {
        End { class, azure }
    }

    #[test]
    fn decided_by_the_public_end() {
        let vm = end(Private, false);
        let azure = end(Public, true);
        let web = end(Public, false);
        assert_eq!(flow_type(vm, end(Private, false), Direction::Outbound, true), FlowType::Private);
        assert_eq!(flow_type(vm, end(Cgnat, false), Direction::Outbound, true), FlowType::Private);
        assert_eq!(flow_type(vm, azure, Direction::Outbound, true), FlowType::AzurePublic);
        assert_eq!(flow_type(web, vm, Direction::Inbound, true), FlowType::ExternalPublic);
        assert_eq!(flow_type(web, vm, Direction::Inbound, false), FlowType::Unknown);
        assert_eq!(flow_type(vm, end(AzurePlatform, false), Direction::Outbound, true), FlowType::Platform);
        // Remote end first: an Azure client reaching a VM's public IP is azure_public.
        assert_eq!(flow_type(azure, web, Direction::Inbound, true), FlowType::AzurePublic);
        assert_eq!(flow_type(azure, web, Direction::Outbound, true), FlowType::ExternalPublic);
        // Only the local end public: that one decides.
        assert_eq!(flow_type(vm, azure, Direction::Inbound, true), FlowType::AzurePublic);
    }
}
