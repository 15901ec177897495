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

/// A name in a lockspace's name index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The name as given.
    pub name: String,
    /// The 48-byte name its leader and index entry hold (a hash for long
    /// names).
    pub stored: String,
    /// Where its lease lies on the lockspace's device.
    pub path: String,
    pub offset: u64,
    /// Why its full name could not be read (`index_list` only; `name` is
    /// then empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// `index_create`: the name's entry, and whether this call added it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexCreateReply {
    #[serde(flatten)]
    pub entry: IndexEntry,
    pub created: bool,
}

/// `index_list`, and `index_format` (no names yet).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexReply {
    pub lockspace: String,
    /// Where the index lies: right after the lockspace's area.
    pub offset: u64,
    pub names: Vec<IndexEntry>,
}

/// `group_list`: the groups of a lockspace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupsReply {
    pub lockspace: String,
    pub groups: Vec<String>,
}

/// A member of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMember {
    pub member: String,
    /// As given at join or update (`null` if none).
    pub capabilities: serde_json::Value,
    /// The host holding its lease.
    pub host_id: u64,
}

/// A group as one read of the disk found it: `group_members`,
/// `group_watch`, and the calls that change a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupReply {
    pub lockspace: String,
    pub group: String,
    /// In member id order.
    pub members: Vec<GroupMember>,
    /// The member id the leader's lease records, if anyone leads.
    pub leader: Option<String>,
}

/// A member's call done: `group_join`, `group_leave`, `group_update`,
/// `group_stand_down`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberReply {
    pub lockspace: String,
    pub group: String,
    pub member: String,
}

/// `group_elect`: whether the caller leads now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElectReply {
    pub elected: bool,
    /// Who leads, if anyone.
    pub leader: Option<String>,
}

/// What a watched group's connection carries at each change, as the
/// `result` of a reply to the `group_watch` request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum GroupEvent {
    /// A member joined (its lease was found held).
    Joined { group: String, member: String },
    /// A member left: it left, its process exited or its time to live
    /// passed, or its host is DEAD.
    Left { group: String, member: String },
    /// The leader changed (`null`: nobody leads).
    Leader { group: String, leader: Option<String> },
    /// The group was deleted; nothing follows.
    Deleted { group: String },
}

/// Where a lockspace membership stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockspaceState {
    /// Taking the host_id (in the background).
    Joining,
    /// The host_id is held and renewed.
    Joined,
    /// The join failed; or renewals failed past the expiry, or the host_id
    /// sector was corrupted or taken: its leases are void and their holders
    /// are being stopped (`recovery` says how far).
    Failed,
    /// Recovery is over: every holder of its leases is gone, and the host
    /// will not be reset for it. Remove it, or add it again.
    Stopped,
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
    /// Once the host_id lease is lost: the stopping of its holders.
    pub recovery: Option<RecoveryStatus>,
}

/// The stopping of a failed lockspace's lease holders.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecoveryStatus {
    /// `terminate`, `kill` or `reset`.
    pub fencing: String,
    /// Seconds since the host_id lease was lost.
    pub elapsed_s: f64,
    pub holders: Vec<HolderRecovery>,
    /// Resource operations and writes under the lost host_id not yet over:
    /// the lockspace is not stopped while there are any.
    pub writes_pending: usize,
}

/// One holder being stopped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HolderRecovery {
    pub pid: u32,
    pub alive: bool,
    /// The last step taken: `killpath`, `sigterm` or `sigkill`.
    pub step: Option<String>,
    /// Seconds after the loss when that step was taken.
    pub step_at_s: Option<f64>,
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
    /// Acquires of this host waiting for it (in `status`).
    #[serde(default)]
    pub waiting: usize,
    /// The registered connection of sanlock's protocol it is tied to.
    #[serde(skip)]
    pub client: Option<u64>,
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
    pub watchdog: WatchdogStatus,
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

/// The watchdog, in `status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchdogStatus {
    /// The device: a path, `file:PATH (test device)`, or none.
    pub device: String,
    /// Seconds the device takes to fire after its last keepalive (F).
    pub fire_timeout_s: u64,
    /// Seconds from the last test of the clients to the next: shorter as
    /// an expiry nears.
    pub test_interval_s: f64,
    /// Whether keepalives are being sent.
    pub petting: bool,
    /// Seconds since the last keepalive.
    pub last_pet_s: Option<f64>,
    /// The client whose expiry stopped the keepalives, while they are stopped.
    pub withheld_for: Option<String>,
    /// Seconds until the device resets the host, while keepalives are stopped.
    pub reset_in_s: Option<f64>,
    /// Every client, earliest expiry first.
    pub clients: Vec<WatchdogClientStatus>,
}

/// One client of the watchdog: a lockspace, or a local program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchdogClientStatus {
    pub name: String,
    /// Seconds until its expiry; negative once past.
    pub expires_in_s: f64,
}

/// `watchdog_register`, `watchdog_renew` and `watchdog_unregister`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchdogReply {
    pub name: String,
    /// Seconds until this client's expiry; `None` once unregistered.
    pub expires_in_s: Option<f64>,
    /// Seconds from the last test of the clients to the next: shorter as
    /// an expiry nears.
    pub test_interval_s: f64,
    /// The host is reset at most this long after its expiry passes.
    pub fire_timeout_s: u64,
}
