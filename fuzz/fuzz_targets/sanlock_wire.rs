//! What `leased`'s sanlock front end does with the bytes of a client
//! connection, and what a client does with a reply: a header, then every
//! payload struct of sanlock 3.8's protocol from the bytes after it. Nothing
//! may panic; whatever decodes must encode back to bytes that decode the
//! same.

#![no_main]

use lease::sanlock::strings::res_to_bytes;
use lease::sanlock::wire::{
    self, Disk, EventCb, HEADER_BYTES, Header, Host, HostEvent, Lockspace, Options, Rentry,
    Resource, Rindex, State,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = Header::decode(data) else { return };
    assert_eq!(Header::decode(&header.encode()).ok(), Some(header));
    let _ = (header.command(), header.result(), wire::set_lvb_len(header.length));
    let rest = data.get(HEADER_BYTES..).unwrap_or_default();
    payloads(rest);
    payloads(data);
});

fn payloads(bytes: &[u8]) {
    if let Ok(disk) = Disk::decode(bytes) {
        assert_eq!(Disk::decode(&disk.encode()).ok(), Some(disk));
    }
    let _ = Resource::decode(bytes).map(|head| head.encode_head());
    if let Ok((resource, consumed)) = Resource::decode_with_disks(bytes) {
        assert!(consumed <= bytes.len());
        let again = resource.encode();
        assert_eq!(again.len(), consumed);
        assert_eq!(Resource::decode_with_disks(&again).ok(), Some((resource.clone(), consumed)));
        let _ = res_to_bytes(&resource);
        // ACQUIRE: options after the resource.
        let _ = Options::decode(bytes.get(consumed..).unwrap_or_default());
    }
    if let Ok(lockspace) = Lockspace::decode(bytes) {
        assert_eq!(Lockspace::decode(&lockspace.encode()).ok(), Some(lockspace));
        // REG_EVENT / SET_EVENT: a host event after the lockspace.
        let _ = HostEvent::decode(bytes.get(wire::LOCKSPACE_BYTES..).unwrap_or_default());
    }
    if let Ok(options) = Options::decode(bytes) {
        assert_eq!(Options::decode(&options.encode()).ok(), Some(options));
    }
    if let Ok(host) = Host::decode(bytes) {
        assert_eq!(Host::decode(&host.encode()).ok(), Some(host));
    }
    if let Ok(rindex) = Rindex::decode(bytes) {
        assert_eq!(Rindex::decode(&rindex.encode()).ok(), Some(rindex));
        // UPDATE/LOOKUP/CREATE/DELETE: an rentry after the rindex.
        let _ = Rentry::decode(bytes.get(wire::RINDEX_BYTES..).unwrap_or_default());
    }
    if let Ok(rentry) = Rentry::decode(bytes) {
        assert_eq!(Rentry::decode(&rentry.encode()).ok(), Some(rentry));
    }
    if let Ok((state, consumed)) = State::decode_with_text(bytes) {
        assert!(consumed <= bytes.len());
        let again = state.encode();
        assert_eq!(State::decode(&again).ok(), Some(state));
    }
    if let Ok(callback) = EventCb::decode(bytes) {
        assert_eq!(EventCb::decode(&callback.encode()).ok(), Some(callback));
    }
    if let Ok((path, args)) = wire::decode_killpath(bytes) {
        let again = wire::encode_killpath(&path, &args);
        assert_eq!(wire::decode_killpath(&again).ok(), Some((path, args)));
    }
}
