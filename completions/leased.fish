complete -c leased -l config -d 'Configuration file (TOML)' -r -F
complete -c leased -l run-dir -d 'Run directory: socket, pid lock [default: $LEASED_RUN_DIR or /run/leased]' -r -F
complete -c leased -l state-dir -d 'State directory, kept across reboots: boot record, host name [default: $LEASED_STATE_DIR, or /var/lib/leased]' -r -F
complete -c leased -l host-name -d 'This host\'s name in lockspaces [default: generated once, kept in the state directory]' -r
complete -c leased -l watchdog-fire-timeout -d 'Seconds the watchdog takes to fire (F); the same on every host [default: 60]' -r
complete -c leased -l watchdog -d 'Watchdog device: auto, none, file:PATH or a device path [default: auto]' -r
complete -c leased -l fencing -d 'How holders of a failed lockspace\'s leases are stopped [default: terminate]' -r -f -a "terminate\t'Killpath, then SIGTERM, then SIGKILL at the kill grace'
kill\t'SIGKILL at once'
reset\t'Signal nothing: the watchdog resets the host'"
complete -c leased -l kill-grace -d 'Seconds until holders of a failed lockspace\'s leases get SIGKILL [default: 40]' -r
complete -c leased -l socket-group -d 'Group allowed to use the socket besides root' -r
complete -c leased -l max-clients -d 'Most client connections at once [default: 1000]' -r
complete -c leased -l collect-idle-names -d 'Remove names whose leases stood free this long from name indexes (0: never) [default: 0]' -r
complete -c leased -l wdmd-socket -d 'wdmd\'s socket, served for sanlock ("" for none) [default: /run/wdmd/wdmd.sock with a watchdog device]' -r
complete -c leased -l lockspace -d 'Lockspace to join at start, as NAME:HOST_ID:PATH:OFFSET (repeatable)' -r
complete -c leased -l print-config -d 'Print the effective configuration and exit'
complete -c leased -s h -l help -d 'Print help (see more with \'--help\')'
complete -c leased -s V -l version -d 'Print version'
