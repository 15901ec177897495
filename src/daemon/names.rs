//! Leases found by name: a lockspace's name index, a resource index in
//! sanlock's layout (see [`crate::rindex`]) placed right after the
//! lockspace's area, with names of any length mapped as [`crate::names`]
//! says. Clients name a lease `LOCKSPACE:NAME` and leased finds its
//! offset, adding the name (and its lease) when asked: the addition runs
//! under the index's own lease, so two hosts adding one name at once get
//! one lease, never two.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::Daemon;
use super::areas::{IndexOp, index_error};
use super::lockspace::{Lockspace, direct_error};
use crate::api::results::{IndexCreateReply, IndexEntry, IndexReply};
use crate::api::{ApiError, Cause, ErrorCode, IndexFormat, IndexName, NamedResource};
use crate::clock::{Clock, OsClock};
use crate::direct::DirectError;
use crate::disk::{Access, DirectFile};
use crate::groups::RESERVED_PREFIXES;
use crate::names::FullName;
use crate::ondisk::name::Name;
use crate::rindex::{Entry, FREED_NAME, RINDEX_LEASE_NAME, Rindex, UpdateOp};
use crate::spec::{DiskLocation, ResourceSpec};

/// Where a joined lockspace's name index lies.
pub(super) struct Place {
    pub(super) lockspace: Arc<Lockspace>,
    pub(super) path: PathBuf,
    pub(super) offset: u64,
}

pub(super) fn lockspace_name(name: &str) -> Result<Name, ApiError> {
    Name::new(name).map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))
}

/// A name a client gives: neither the index's own lease nor one of a
/// group's.
fn full_name(name: &str) -> Result<FullName, ApiError> {
    let name =
        FullName::new(name).map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
    if name.stored().same_as(&Name::new(RINDEX_LEASE_NAME).expect("a valid name")) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("'{RINDEX_LEASE_NAME}' is the name of the index's own lease"),
        ));
    }
    if let Some(prefix) = RESERVED_PREFIXES.iter().find(|p| name.as_str().starts_with(*p)) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("names starting with '{prefix}' belong to groups; use the group calls"),
        ));
    }
    Ok(name)
}

/// The full name of `named`: a group's lease (its stored name set by the
/// group calls), or a name a client gives.
fn resolved(named: &NamedResource) -> Result<FullName, ApiError> {
    match named.stored {
        Some(stored) => FullName::grouped(named.name.clone(), stored)
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string())),
        None => full_name(&named.name),
    }
}

/// Whether an addition that failed so is worth another try: the index's
/// lease or the name was busy, here or on another host, for a while.
pub(super) fn retried(err: &ApiError) -> bool {
    match err.code {
        ErrorCode::Retry => true,
        ErrorCode::Exists => err.cause == Some(Cause::BusyHere),
        ErrorCode::Refused => {
            matches!(err.cause, Some(Cause::OwnerAlive | Cause::OtherOwner | Cause::SharedHeld))
        }
        _ => false,
    }
}

impl Daemon {
    /// The name index of `lockspace`, joined here: one area after the
    /// lockspace's own.
    pub(super) fn name_index(&self, lockspace: &Name) -> Result<Place, ApiError> {
        let joined = self.lockspace(lockspace)?;
        let offset = joined.spec.disk.offset + joined.area.geometry.area_bytes();
        let path = joined.spec.disk.path.clone();
        Ok(Place { lockspace: joined, path, offset })
    }

    /// Reads the index (no lock needed) with `read`, through one handle
    /// on the device.
    pub(super) fn read_index<T>(
        &self,
        place: &Place,
        read: impl FnOnce(&Rindex<'_>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let disk = DirectFile::open(&place.path, Access::ReadOnly)
            .map_err(|err| direct_error(&DirectError::Disk(err)))?;
        let index = Rindex {
            disk: &disk,
            clock: &OsClock,
            lockspace: place.lockspace.spec.name,
            offset: place.offset,
            io_timeout: place.lockspace.timeouts.io_timeout(),
        };
        read(&index)
    }

    /// The index entry of `name`, its full name checked against the record
    /// a hashed one keeps.
    pub(super) fn find_name(
        &self,
        place: &Place,
        name: &FullName,
    ) -> Result<Option<IndexEntry>, ApiError> {
        let stored = name.stored();
        let found = self.read_index(place, |index| {
            let found = index.lookup(Some(&stored), None).map_err(|err| index_error(&err))?;
            found.map(|entry| described(place, index, entry)).transpose()
        })?;
        let Some(entry) = found else { return Ok(None) };
        if entry.name != name.as_str() {
            return Err(ApiError::new(
                ErrorCode::Data,
                format!(
                    "{}: offset {}: the lease stored as '{stored}' records the name {:?}, not \
                     {:?}",
                    place.path.display(),
                    entry.offset,
                    entry.name,
                    name.as_str()
                ),
            ));
        }
        Ok(Some(entry))
    }

    /// The index entry of `name`; NotFound if the index has none.
    fn found_name(&self, place: &Place, name: &FullName) -> Result<IndexEntry, ApiError> {
        self.find_name(place, name)?.ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                format!(
                    "'{name}' is not in the name index of lockspace '{}'",
                    place.lockspace.spec.name
                ),
            )
        })
    }

    /// `index_format`: a new, empty name index after the lockspace's area,
    /// in its geometry.
    pub(super) fn index_format(
        self: &Arc<Self>,
        args: IndexFormat,
    ) -> Result<IndexReply, ApiError> {
        let lockspace = lockspace_name(&args.lockspace)?;
        let place = self.name_index(&lockspace)?;
        let geometry = place.lockspace.area.geometry;
        let op = IndexOp::Format {
            sector: Some(geometry.sector_size()),
            align: Some(geometry.align()),
            max_resources: args.max_names,
        };
        self.resource_index(&lockspace, &place.path, place.offset, op, false)?;
        Ok(IndexReply { lockspace: args.lockspace, offset: place.offset, names: Vec::new() })
    }

    /// `index_list`: every name, in slot order.
    pub(super) fn index_list(&self, lockspace: &str) -> Result<IndexReply, ApiError> {
        let name = lockspace_name(lockspace)?;
        let place = self.name_index(&name)?;
        // A name whose record cannot be read is listed with the problem,
        // not left out, and does not hide the others.
        let names = self.read_index(&place, |index| {
            let entries = index.list().map_err(|err| index_error(&err))?;
            Ok(entries
                .into_iter()
                .map(|entry| {
                    described(&place, index, entry).unwrap_or_else(|err| IndexEntry {
                        name: String::new(),
                        stored: entry.name.to_string(),
                        path: place.path.display().to_string(),
                        offset: entry.offset,
                        problem: Some(err.message),
                    })
                })
                .collect())
        })?;
        Ok(IndexReply { lockspace: lockspace.to_owned(), offset: place.offset, names })
    }

    /// `index_create`: the name's entry, added with its lease if absent.
    pub(super) fn index_create(
        self: &Arc<Self>,
        args: &IndexName,
    ) -> Result<IndexCreateReply, ApiError> {
        let lockspace = lockspace_name(&args.lockspace)?;
        self.create_name(&lockspace, &full_name(&args.name)?)
    }

    /// `name`'s entry in `lockspace`'s index, added with its lease if
    /// absent.
    pub(super) fn create_name(
        self: &Arc<Self>,
        lockspace: &Name,
        name: &FullName,
    ) -> Result<IndexCreateReply, ApiError> {
        let lockspace = *lockspace;
        let place = self.name_index(&lockspace)?;
        // Long enough for another host's hold of the index's lease to end,
        // even by its death.
        let deadline = OsClock.now() + place.lockspace.timeouts.host_dead();
        loop {
            if let Some(entry) = self.find_name(&place, name)? {
                return Ok(IndexCreateReply { entry, created: false });
            }
            // A lease held here under the name (taken by offset) is not
            // waited for: it may be held for ever.
            if self.held_resource(&lockspace, &name.stored()).is_some() {
                return Err(ApiError::new(
                    ErrorCode::Exists,
                    format!(
                        "a lease named '{}' is held on this host outside the name index",
                        name.stored()
                    ),
                )
                .because(Cause::HeldHere));
            }
            // A full index is refused before its lease is taken: a
            // refusal writes nothing.
            let free = |index: &Rindex<'_>| index.lookup(None, None).map_err(|e| index_error(&e));
            if self.read_index(&place, free)?.is_none() {
                return Err(ApiError::new(
                    ErrorCode::Limit,
                    format!(
                        "the name index of lockspace '{lockspace}' is full; delete names that \
                         are no longer used, or format a larger one"
                    ),
                ));
            }
            let op = IndexOp::Create {
                name: name.stored(),
                full_name: name.is_hashed().then(|| name.as_str().as_bytes().to_vec()),
            };
            match self.resource_index(&lockspace, &place.path, place.offset, op, false) {
                Ok(Some(entry)) => {
                    let entry = self.read_index(&place, |index| described(&place, index, entry))?;
                    return Ok(IndexCreateReply { entry, created: true });
                }
                Ok(None) => unreachable!("an addition returns its entry"),
                // Another host added it since the lookup (no cause): found
                // next time. Busy here (another create of ours, of this
                // name or on the index's lease): waited for. A lease held
                // here by a process under this name is not.
                Err(err) if err.code == ErrorCode::Exists && err.cause.is_none() => {}
                Err(err) if retried(&err) => {
                    if OsClock.now() >= deadline {
                        return Err(err);
                    }
                    let pause = Duration::from_millis(5 + OsClock.now().as_nanos() % 20);
                    OsClock.sleep_until(OsClock.now() + pause);
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// `index_delete`: removes a name nobody holds. The lease is held by
    /// this host meanwhile, so that no acquire through an offset looked up
    /// earlier can take it: the entry is removed, then the lease released
    /// under the name [`FREED_NAME`], which no lookup gives. An acquire
    /// that still comes with the old name is refused (the leader names
    /// another), and its client looks the name up again.
    pub(super) fn index_delete(self: &Arc<Self>, args: &IndexName) -> Result<IndexEntry, ApiError> {
        let lockspace = lockspace_name(&args.lockspace)?;
        self.delete_name(&lockspace, &full_name(&args.name)?, None, || Ok(()))
    }

    /// Removes `name` from `lockspace`'s index as `index_delete` does, if
    /// `check` (run while its lease is held) allows, and, if `lver` is
    /// given, only if its lease is still at that lease version.
    pub(super) fn delete_name(
        self: &Arc<Self>,
        lockspace: &Name,
        name: &FullName,
        lver: Option<u64>,
        check: impl FnOnce() -> Result<(), ApiError>,
    ) -> Result<IndexEntry, ApiError> {
        let lockspace = *lockspace;
        let place = self.name_index(&lockspace)?;
        let entry = self.found_name(&place, name)?;
        let spec = ResourceSpec {
            lockspace,
            name: name.stored(),
            disk: DiskLocation { path: place.path.clone(), offset: entry.offset },
            lver,
            shared: false,
        };
        let removal = Entry { name: name.stored(), offset: entry.offset };
        let removed = self.under_lease(spec, |rename| {
            check()?;
            let op = IndexOp::Update { entry: removal, op: UpdateOp::Remove };
            let removed = self.resource_index(&lockspace, &place.path, place.offset, op, false);
            if removed.is_ok() {
                *rename = Some(Name::new(FREED_NAME).expect("a valid name"));
            }
            removed
        })?;
        removed.map(|_| entry)
    }

    /// The resource held here under a name, for its release.
    pub(super) fn held_named(&self, named: &NamedResource) -> Result<ResourceSpec, ApiError> {
        let lockspace = lockspace_name(&named.lockspace)?;
        let name = resolved(named)?;
        self.held_resource(&lockspace, &name.stored()).ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                format!("'{}' of lockspace '{lockspace}' is not held on this host", named.name),
            )
        })
    }

    /// The resource a named lease is, found in its lockspace's index (and
    /// added if `create` and absent).
    pub(super) fn named_resource(
        self: &Arc<Self>,
        named: &NamedResource,
        create: bool,
    ) -> Result<ResourceSpec, ApiError> {
        let lockspace = lockspace_name(&named.lockspace)?;
        let name = resolved(named)?;
        let entry = if create && named.create {
            self.create_name(&lockspace, &name)?.entry
        } else {
            self.found_name(&self.name_index(&lockspace)?, &name)?
        };
        Ok(ResourceSpec {
            lockspace,
            name: name.stored(),
            disk: DiskLocation { path: PathBuf::from(entry.path), offset: entry.offset },
            lver: None,
            shared: named.shared,
        })
    }
}

/// `entry` with its full name: the record's for a hashed name (an
/// error if it has none), else the stored name.
pub(super) fn described(
    place: &Place,
    index: &Rindex<'_>,
    entry: Entry,
) -> Result<IndexEntry, ApiError> {
    let stored = entry.name.to_string();
    let name = if stored.starts_with('#') {
        let record = index.full_name(entry.offset).map_err(|err| index_error(&err))?;
        let record = record.ok_or_else(|| {
            ApiError::new(
                ErrorCode::Data,
                format!(
                    "{}: offset {}: the lease stored as '{stored}' has no record of its full \
                     name",
                    place.path.display(),
                    entry.offset
                ),
            )
        })?;
        String::from_utf8_lossy(&record).into_owned()
    } else {
        stored.clone()
    };
    Ok(IndexEntry {
        name,
        stored,
        path: place.path.display().to_string(),
        offset: entry.offset,
        problem: None,
    })
}
