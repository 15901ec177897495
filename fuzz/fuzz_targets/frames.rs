//! What `leased` does with the bytes of a client connection before acting
//! on them, and what a client does with a reply: framing, request decoding,
//! the lockspace and resource strings a request carries. Nothing may
//! panic; a request that decodes must encode back to one that decodes the
//! same.

#![no_main]

use lease::api::{self, Request, ResponseFrame, parse_request};
use lease::spec::{LockspaceSpec, ResourceSpec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = data;
    while let Ok(body) = api::read_frame(&mut reader, api::DEFAULT_MAX_FRAME) {
        request(&body);
    }
    request(data);
    if let Ok(reply) = serde_json::from_slice::<ResponseFrame>(data) {
        let _ = serde_json::to_vec(&reply);
    }
});

fn request(body: &[u8]) {
    let Ok(frame) = parse_request(body) else { return };
    let again = serde_json::to_vec(&frame).expect("a request serializes");
    assert_eq!(parse_request(&again).ok(), Some(frame.clone()), "requests round-trip");
    let strings: Vec<&str> = match &frame.request {
        Request::AddLockspace(args) => vec![args.lockspace.as_str()],
        Request::RemLockspace(args) => vec![args.lockspace.as_str()],
        Request::Hosts(args) => vec![args.lockspace.as_str()],
        Request::Acquire(args) => args.resources.iter().map(String::as_str).collect(),
        Request::Release(args) => args.resources.iter().map(String::as_str).collect(),
        Request::Convert(args) => vec![args.resource.as_str()],
        Request::Request(args) => vec![args.resource.as_str()],
        _ => vec![],
    };
    for text in strings {
        let _ = LockspaceSpec::parse(text).map(|spec| spec.to_string());
        let _ = ResourceSpec::parse(text).map(|spec| spec.to_string());
    }
}
