//! Pod addresses from the node's range (`spec.podCIDR`, assigned by the control plane): the
//! first address is the node's own gateway, as on a Kubernetes bridge, and pods take the rest.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;

/// Why a range cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    /// Not `a.b.c.d/n` with an IPv4 network.
    #[error("pod CIDR {0:?} is not an IPv4 network a.b.c.d/n")]
    Invalid(String),
    /// Every address is taken.
    #[error("no pod addresses left in {0}")]
    Exhausted(String),
}

/// `a.b.c.d/n` as its network address (host bits cleared) and prefix length, for ranges
/// that can hold pods (`/8` to `/30`).
///
/// # Errors
/// Not such a range.
pub(crate) fn parse_cidr(cidr: &str) -> Result<(u32, u8), IpamError> {
    let invalid = || IpamError::Invalid(cidr.to_owned());
    let (address, prefix) = cidr.split_once('/').ok_or_else(invalid)?;
    let address: Ipv4Addr = address.parse().map_err(|_| invalid())?;
    let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
    if !(8..=30).contains(&prefix) {
        return Err(invalid());
    }
    let size = 1u32 << (32 - u32::from(prefix));
    Ok((u32::from(address) & !(size - 1), prefix))
}

/// The addresses of the node's pods, by pod uid.
#[derive(Debug)]
pub struct Ipam {
    cidr: String,
    network: u32,
    size: u32,
    taken: Mutex<HashMap<String, Ipv4Addr>>,
}

impl Ipam {
    /// A pool over `cidr` (`10.244.1.0/24`).
    ///
    /// # Errors
    /// The range does not parse or holds no pod address.
    pub fn new(cidr: &str) -> Result<Self, IpamError> {
        let (network, prefix) = parse_cidr(cidr)?;
        let size = 1u32 << (32 - u32::from(prefix));
        Ok(Self {
            cidr: cidr.to_owned(),
            network,
            size,
            taken: Mutex::new(HashMap::new()),
        })
    }

    /// The address of pod `uid`: the one it has, or the lowest free one.
    ///
    /// # Errors
    /// The range is full.
    pub fn allocate(&self, uid: &str) -> Result<Ipv4Addr, IpamError> {
        let mut taken = self.taken();
        if let Some(ip) = taken.get(uid) {
            return Ok(*ip);
        }
        let used: std::collections::HashSet<Ipv4Addr> = taken.values().copied().collect();
        // Skip the network address, the gateway (.1) and the broadcast address.
        let free = (2..self.size - 1)
            .map(|offset| Ipv4Addr::from(self.network + offset))
            .find(|ip| !used.contains(ip))
            .ok_or_else(|| IpamError::Exhausted(self.cidr.clone()))?;
        taken.insert(uid.to_owned(), free);
        Ok(free)
    }

    /// Returns pod `uid`'s address to the pool.
    pub fn release(&self, uid: &str) {
        self.taken().remove(uid);
    }

    fn taken(&self) -> std::sync::MutexGuard<'_, HashMap<String, Ipv4Addr>> {
        self.taken
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_the_lowest_free_address_and_reuses_released_ones() {
        let ipam = Ipam::new("10.244.3.0/24").expect("valid");
        assert_eq!(ipam.allocate("a"), Ok(Ipv4Addr::new(10, 244, 3, 2)));
        assert_eq!(ipam.allocate("b"), Ok(Ipv4Addr::new(10, 244, 3, 3)));
        assert_eq!(
            ipam.allocate("a"),
            Ok(Ipv4Addr::new(10, 244, 3, 2)),
            "stable per pod"
        );
        ipam.release("a");
        assert_eq!(ipam.allocate("c"), Ok(Ipv4Addr::new(10, 244, 3, 2)));
    }

    #[test]
    fn a_full_range_and_bad_ranges_are_errors() {
        let ipam = Ipam::new("10.0.0.0/30").expect("valid");
        assert!(ipam.allocate("a").is_ok());
        assert_eq!(
            ipam.allocate("b"),
            Err(IpamError::Exhausted("10.0.0.0/30".into()))
        );
        for bad in ["10.0.0.0", "10.0.0.0/33", "x/24", "10.0.0.0/31"] {
            assert!(Ipam::new(bad).is_err(), "{bad}");
        }
    }
}
