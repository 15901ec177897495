//! This host's identity in lockspaces.

use crate::ondisk::name::{NAME_BYTES, Name};

/// A name that stays the same across restarts of this host: its
/// `/etc/machine-id`, or its hostname where there is none. A host that
/// rejoins under the same name after a clean stop is recognised as itself.
pub fn default_host_name() -> Result<Name, String> {
    let from_machine_id = std::fs::read_to_string("/etc/machine-id")
        .ok()
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty());
    let name = match from_machine_id {
        Some(id) => id,
        None => nix::unistd::gethostname()
            .map_err(|err| format!("no /etc/machine-id and no hostname: {err}"))?
            .to_string_lossy()
            .into_owned(),
    };
    let name: String = name.chars().take(NAME_BYTES).collect();
    Name::new(&name).map_err(|err| format!("cannot use '{name}' as host name: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_name_is_stable_and_fits() {
        let first = default_host_name().unwrap();
        assert_eq!(default_host_name().unwrap(), first);
        assert!(!first.is_empty());
    }
}
