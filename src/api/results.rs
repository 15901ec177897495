//! What each operation returns, as the `result` of a reply.

use serde::{Deserialize, Serialize};

use crate::delta::HostState;
use crate::paxos::Mode;

/// `version`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionReply {
    pub version: String,
    pub protocol: u32,
    pub host_name: String,
}

/// Where a lockspace membership stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockspaceState {
    /// Taking the host_id (in the background).
    Joining,
    /// The host_id is held and renewed.
    Joined,
    /// Renewals failed past the expiry, or the host_id was lost: its
    /// leases are void and their holders are being stopped.
    Failed,
    /// Leaving: resources are being released.
    Leaving,
}

/// One lockspace this host is in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LockspaceStatus {
    pub name: String,
    pub host_id: u64,
    pub path: String,
    pub offset: u64,
    pub io_timeout: u8,
    pub state: LockspaceState,
    /// What the state means now, in words.
    pub detail: String,
    pub generation: Option<u64>,
    /// Seconds since the last successful renewal was issued.
    pub last_renewal_s: Option<f64>,
    /// Renewals that failed since the last success.
    pub renewal_failures: u64,
    /// Seconds until the host_id lease expires unless renewed.
    pub expires_in_s: Option<f64>,
    /// Resource leases held in this lockspace.
    pub leases: usize,
}

/// One resource lease this host holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeaseStatus {
    pub lockspace: String,
    pub resource: String,
    pub path: String,
    pub offset: u64,
    pub mode: Mode,
    pub lver: u64,
    /// The process it belongs to; `None` for an orphan.
    pub pid: Option<u32>,
    pub persistent: bool,
    /// How it was taken from another host, if it was: `released` (its
    /// owner's release was not finished), `owner_left`, `owner_restarted`,
    /// `owner_dead` or `our_old_incarnation`.
    pub takeover: Option<String>,
    /// sanlock's inquire form: `LOCKSPACE:NAME:PATH:OFFSET:LVER` (`:SH` for
    /// shared).
    pub spec: String,
}

/// `status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusReply {
    pub host_name: String,
    pub clients: usize,
    pub lockspaces: Vec<LockspaceStatus>,
    pub leases: Vec<LeaseStatus>,
    /// Resources with an acquire or release under way on disk (a process
    /// that exited has its leases released in the background).
    pub busy: usize,
}

/// Another host of a lockspace, as this host sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostStatus {
    pub host_id: u64,
    pub generation: u64,
    pub state: HostState,
    pub name: String,
    pub timestamp: u64,
    pub io_timeout: u8,
    /// Seconds since its timestamp was last seen to change (or first seen).
    pub last_renewal_s: f64,
    /// Seconds until it may be declared dead, while it is silent.
    pub dead_in_s: Option<f64>,
    /// This host itself.
    pub local: bool,
}

/// `hosts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostsReply {
    pub lockspace: String,
    pub hosts: Vec<HostStatus>,
}

/// `acquire`, `release`, `inquire` and `convert`: the leases concerned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeasesReply {
    pub leases: Vec<LeaseStatus>,
}

/// `request`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestReply {
    /// The owner asked to give the resource up, if it is owned.
    pub owner_id: Option<u64>,
}
