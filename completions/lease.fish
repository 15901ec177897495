# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_lease_global_optspecs
    string join \n h/help V/version
end

function __fish_lease_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_lease_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_lease_using_subcommand
    set -l cmd (__fish_lease_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c lease -n "__fish_lease_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lease -n "__fish_lease_needs_command" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_needs_command" -f -a "direct" -d 'Work on lease areas directly on the disk, with no daemon'
complete -c lease -n "__fish_lease_needs_command" -f -a "add-lockspace" -d 'Join a lockspace (the daemon renews the host_id from then on)'
complete -c lease -n "__fish_lease_needs_command" -f -a "rem-lockspace" -d 'Leave a lockspace, releasing its leases and host_id'
complete -c lease -n "__fish_lease_needs_command" -f -a "acquire" -d 'Acquire resources for a process (all or none)'
complete -c lease -n "__fish_lease_needs_command" -f -a "release" -d 'Release resources'
complete -c lease -n "__fish_lease_needs_command" -f -a "inquire" -d 'List the leases this host holds, or one process\'s'
complete -c lease -n "__fish_lease_needs_command" -f -a "convert" -d 'Switch a held resource between exclusive and shared'
complete -c lease -n "__fish_lease_needs_command" -f -a "request" -d 'Ask a resource\'s owner to give it up'
complete -c lease -n "__fish_lease_needs_command" -f -a "status" -d 'Show lockspaces, renewals and leases'
complete -c lease -n "__fish_lease_needs_command" -f -a "hosts" -d 'Show the hosts of a lockspace and their liveness'
complete -c lease -n "__fish_lease_needs_command" -f -a "index" -d 'Find leases by name: a lockspace\'s name index'
complete -c lease -n "__fish_lease_needs_command" -f -a "group" -d 'Groups of processes, with capabilities and a leader, kept in the name index'
complete -c lease -n "__fish_lease_needs_command" -f -a "run" -d 'Run a command while holding resources, like flock(1) for shared storage'
complete -c lease -n "__fish_lease_needs_command" -f -a "watchdog" -d 'Share the host\'s watchdog: have the host reset unless this keeps renewing'
complete -c lease -n "__fish_lease_needs_command" -f -a "demo" -d 'Demonstrate lease areas on a scratch file in a temporary directory'
complete -c lease -n "__fish_lease_needs_command" -f -a "generate" -d 'Write man pages or shell completions (for packaging)'
complete -c lease -n "__fish_lease_needs_command" -f -a "leased" -d 'Run the daemon, as `leased` does (lets `lease demo` start hosts from one binary)'
complete -c lease -n "__fish_lease_using_subcommand direct; and not __fish_seen_subcommand_from init dump read-leader acquire-id renew-id release-id acquire release" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand direct; and not __fish_seen_subcommand_from init dump read-leader acquire-id renew-id release-id acquire release" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand direct; and not __fish_seen_subcommand_from init dump read-leader acquire-id renew-id release-id acquire release" -f -a "init" -d 'Write a new lockspace area (-s) or resource area (-r)'
complete -c lease -n "__fish_lease_using_subcommand direct; and not __fish_seen_subcommand_from init dump read-leader acquire-id renew-id release-id acquire release" -f -a "dump" -d 'List every lease record found on a disk'
complete -c lease -n "__fish_lease_using_subcommand direct; and not __fish_seen_subcommand_from init dump read-leader acquire-id renew-id release-id acquire release" -f -a "read-leader" -d 'Print one leader record: a host_id\'s delta lease (-s) or a resource\'s leader (-r)'
complete -c lease -n "__fish_lease_using_subcommand direct; and not __fish_seen_subcommand_from init dump read-leader acquire-id renew-id release-id acquire release" -f -a "acquire-id" -d 'Take a host_id in a lockspace (one step, no renewals afterwards)'
complete -c lease -n "__fish_lease_using_subcommand direct; and not __fish_seen_subcommand_from init dump read-leader acquire-id renew-id release-id acquire release" -f -a "renew-id" -d 'Renew a host_id we hold, once'
complete -c lease -n "__fish_lease_using_subcommand direct; and not __fish_seen_subcommand_from init dump read-leader acquire-id renew-id release-id acquire release" -f -a "release-id" -d 'Release a host_id we hold: other hosts see it free at once'
complete -c lease -n "__fish_lease_using_subcommand direct; and not __fish_seen_subcommand_from init dump read-leader acquire-id renew-id release-id acquire release" -f -a "acquire" -d 'Acquire a resource for a host_id we hold (one ballot, no daemon)'
complete -c lease -n "__fish_lease_using_subcommand direct; and not __fish_seen_subcommand_from init dump read-leader acquire-id renew-id release-id acquire release" -f -a "release" -d 'Release a resource held by a host_id we hold'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from init" -s s -l lockspace -d 'Lockspace area, as NAME:HOST_ID:PATH:OFFSET' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from init" -s r -l resource -d 'Resource area, as LOCKSPACE:NAME:PATH:OFFSET' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from init" -l sector-size -d 'Sector size of the area [default: the device\'s logical sector size]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from init" -l align -d 'Area size: 1M, 2M, 4M or 8M; 512-byte sectors allow only 1M [default: 1M for 512-byte sectors, 8M for 4096]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from init" -l io-timeout -d 'I/O timeout in seconds recorded in a lockspace; every delay of its delta leases derives from it' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from init" -l num-hosts -d 'Ballot blocks a resource uses: the highest host_id that may acquire it; each acquire reads them all three times [default: 128, or all that fit if fewer; sanlock\'s is all that fit]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from init" -l force -d 'Overwrite an area that already holds valid lease records'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from init" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from dump" -l all -d 'Also list host_ids never used and empty ballot blocks'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from dump" -l json -d 'Print one JSON object instead of a table'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from dump" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from dump" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from read-leader" -s s -l lockspace -d 'Lockspace area, as NAME:HOST_ID:PATH:OFFSET' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from read-leader" -s r -l resource -d 'Resource area, as LOCKSPACE:NAME:PATH:OFFSET' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from read-leader" -l json -d 'Print one JSON object instead of "field value" lines'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from read-leader" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from read-leader" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire-id" -s s -l lockspace -d 'Lockspace and our host_id, as NAME:HOST_ID:PATH:OFFSET' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire-id" -l host-name -d 'Our host name in the lockspace [default: leased\'s, from its state directory]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire-id" -l io-timeout -d 'io_timeout to hold the host_id with [default: the lockspace\'s]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire-id" -l fast-reacquire -d 'Take the host_id at once if its sector carries our host name (only safe if nothing of our previous use of it can still hold leases)'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire-id" -l json -d 'Print one JSON object'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire-id" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire-id" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from renew-id" -s s -l lockspace -d 'Lockspace and our host_id, as NAME:HOST_ID:PATH:OFFSET' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from renew-id" -l host-name -d 'Our host name in the lockspace [default: leased\'s, from its state directory]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from renew-id" -l io-timeout -d 'io_timeout to hold the host_id with [default: the lockspace\'s]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from renew-id" -l fast-reacquire -d 'Take the host_id at once if its sector carries our host name (only safe if nothing of our previous use of it can still hold leases)'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from renew-id" -l json -d 'Print one JSON object'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from renew-id" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from renew-id" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release-id" -s s -l lockspace -d 'Lockspace and our host_id, as NAME:HOST_ID:PATH:OFFSET' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release-id" -l host-name -d 'Our host name in the lockspace [default: leased\'s, from its state directory]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release-id" -l io-timeout -d 'io_timeout to hold the host_id with [default: the lockspace\'s]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release-id" -l fast-reacquire -d 'Take the host_id at once if its sector carries our host name (only safe if nothing of our previous use of it can still hold leases)'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release-id" -l json -d 'Print one JSON object'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release-id" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release-id" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire" -s s -l lockspace -d 'Lockspace and our host_id, as NAME:HOST_ID:PATH:OFFSET' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire" -s r -l resource -d 'Resource, as LOCKSPACE:NAME:PATH:OFFSET[:LVER|:SH]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire" -l host-name -d 'Our host name in the lockspace [default: leased\'s, from its state directory]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire" -l json -d 'Print one JSON object'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release" -s s -l lockspace -d 'Lockspace and our host_id, as NAME:HOST_ID:PATH:OFFSET' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release" -s r -l resource -d 'Resource, as LOCKSPACE:NAME:PATH:OFFSET[:LVER|:SH]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release" -l host-name -d 'Our host name in the lockspace [default: leased\'s, from its state directory]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release" -l json -d 'Print one JSON object'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand add-lockspace" -s s -l lockspace -d 'Lockspace and our host_id, as NAME:HOST_ID:PATH:OFFSET' -r
complete -c lease -n "__fish_lease_using_subcommand add-lockspace" -l io-timeout -d 'io_timeout to renew with [default: the lockspace\'s]' -r
complete -c lease -n "__fish_lease_using_subcommand add-lockspace" -l wait -d 'Return once joined (2 io_timeouts for a free host_id, longer if another host held it)'
complete -c lease -n "__fish_lease_using_subcommand add-lockspace" -l json -d 'Print JSON'
complete -c lease -n "__fish_lease_using_subcommand add-lockspace" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand add-lockspace" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand rem-lockspace" -l force -d 'Kill (SIGKILL) the processes still holding its leases, then release them'
complete -c lease -n "__fish_lease_using_subcommand rem-lockspace" -l json -d 'Print JSON'
complete -c lease -n "__fish_lease_using_subcommand rem-lockspace" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lease -n "__fish_lease_using_subcommand rem-lockspace" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand acquire" -s r -l resource -d 'Resource, as LOCKSPACE:NAME:PATH:OFFSET[:LVER|:SH] (repeatable; all or none)' -r
complete -c lease -n "__fish_lease_using_subcommand acquire" -s n -l name -d 'Resource found by name in the lockspace\'s name index, as LOCKSPACE:NAME (repeatable); an acquire adds a name not there yet' -r
complete -c lease -n "__fish_lease_using_subcommand acquire" -s p -l pid -d 'The process the leases belong to: they are released when it exits' -r
complete -c lease -n "__fish_lease_using_subcommand acquire" -l wait -d 'Wait for busy resources instead of failing, for ever or SECONDS (behind earlier waiters of this host)' -r
complete -c lease -n "__fish_lease_using_subcommand acquire" -l shared -d 'Take the named resources (-n) in SHARED mode'
complete -c lease -n "__fish_lease_using_subcommand acquire" -l persistent -d 'Keep the leases after their process exits, until released or adopted'
complete -c lease -n "__fish_lease_using_subcommand acquire" -l adopt -d 'Take over persistent leases whose process exited'
complete -c lease -n "__fish_lease_using_subcommand acquire" -l json -d 'Print JSON'
complete -c lease -n "__fish_lease_using_subcommand acquire" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand acquire" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand release" -s r -l resource -d 'Resource, as LOCKSPACE:NAME:PATH:OFFSET (repeatable)' -r
complete -c lease -n "__fish_lease_using_subcommand release" -s n -l name -d 'Resource found by name in the lockspace\'s name index, as LOCKSPACE:NAME (repeatable)' -r
complete -c lease -n "__fish_lease_using_subcommand release" -s p -l pid -d 'The process whose leases to release' -r
complete -c lease -n "__fish_lease_using_subcommand release" -l all -d 'Every lease of the process'
complete -c lease -n "__fish_lease_using_subcommand release" -l orphan -d 'Release orphans (persistent leases whose process exited); all of them without -r'
complete -c lease -n "__fish_lease_using_subcommand release" -l json -d 'Print JSON'
complete -c lease -n "__fish_lease_using_subcommand release" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand release" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand inquire" -s p -l pid -d 'Only this process\'s leases [default: every lease of this host]' -r
complete -c lease -n "__fish_lease_using_subcommand inquire" -l json -d 'Print JSON'
complete -c lease -n "__fish_lease_using_subcommand inquire" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand inquire" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand convert" -s r -l resource -d 'Resource, as LOCKSPACE:NAME:PATH:OFFSET' -r
complete -c lease -n "__fish_lease_using_subcommand convert" -l mode -d 'The mode to switch to' -r -f -a "ex\t''
sh\t''"
complete -c lease -n "__fish_lease_using_subcommand convert" -s p -l pid -d 'The process holding it' -r
complete -c lease -n "__fish_lease_using_subcommand convert" -l json -d 'Print JSON'
complete -c lease -n "__fish_lease_using_subcommand convert" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand convert" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand request" -s r -l resource -d 'Resource, as LOCKSPACE:NAME:PATH:OFFSET' -r
complete -c lease -n "__fish_lease_using_subcommand request" -l lver -d 'The lease version to ask for [default: one above the current]' -r
complete -c lease -n "__fish_lease_using_subcommand request" -l force -d 'Kill the holder (SIGKILL)'
complete -c lease -n "__fish_lease_using_subcommand request" -l graceful -d 'Ask the holder to stop (SIGTERM)'
complete -c lease -n "__fish_lease_using_subcommand request" -l clear -d 'Withdraw a pending request'
complete -c lease -n "__fish_lease_using_subcommand request" -l json -d 'Print JSON'
complete -c lease -n "__fish_lease_using_subcommand request" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand request" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand status" -l json -d 'Print JSON'
complete -c lease -n "__fish_lease_using_subcommand status" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand status" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand hosts" -l json -d 'Print JSON'
complete -c lease -n "__fish_lease_using_subcommand hosts" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand hosts" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand index; and not __fish_seen_subcommand_from format list create delete" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand index; and not __fish_seen_subcommand_from format list create delete" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand index; and not __fish_seen_subcommand_from format list create delete" -f -a "format" -d 'Write a lockspace\'s name index, right after its area (the lockspace is joined here)'
complete -c lease -n "__fish_lease_using_subcommand index; and not __fish_seen_subcommand_from format list create delete" -f -a "list" -d 'List the names in a lockspace\'s name index'
complete -c lease -n "__fish_lease_using_subcommand index; and not __fish_seen_subcommand_from format list create delete" -f -a "create" -d 'Add a name and its lease to the index (an existing name is reported, not added twice)'
complete -c lease -n "__fish_lease_using_subcommand index; and not __fish_seen_subcommand_from format list create delete" -f -a "delete" -d 'Remove a name nobody holds from the index, and clear its lease'
complete -c lease -n "__fish_lease_using_subcommand index; and __fish_seen_subcommand_from format" -l max-names -d 'Names the index holds [default: 4096]' -r
complete -c lease -n "__fish_lease_using_subcommand index; and __fish_seen_subcommand_from format" -l json -d 'Print JSON'
complete -c lease -n "__fish_lease_using_subcommand index; and __fish_seen_subcommand_from format" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand index; and __fish_seen_subcommand_from format" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand index; and __fish_seen_subcommand_from list" -l json -d 'Print JSON'
complete -c lease -n "__fish_lease_using_subcommand index; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand index; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand index; and __fish_seen_subcommand_from create" -l json -d 'Print JSON'
complete -c lease -n "__fish_lease_using_subcommand index; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand index; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand index; and __fish_seen_subcommand_from delete" -l json -d 'Print JSON'
complete -c lease -n "__fish_lease_using_subcommand index; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand index; and __fish_seen_subcommand_from delete" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand group; and not __fish_seen_subcommand_from list members create delete" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand group; and not __fish_seen_subcommand_from list members create delete" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand group; and not __fish_seen_subcommand_from list members create delete" -f -a "list" -d 'List the groups of a lockspace'
complete -c lease -n "__fish_lease_using_subcommand group; and not __fish_seen_subcommand_from list members create delete" -f -a "members" -d 'Show a group\'s members, their capabilities, and its leader'
complete -c lease -n "__fish_lease_using_subcommand group; and not __fish_seen_subcommand_from list members create delete" -f -a "create" -d 'Create a group'
complete -c lease -n "__fish_lease_using_subcommand group; and not __fish_seen_subcommand_from list members create delete" -f -a "delete" -d 'Delete a group without members or leader'
complete -c lease -n "__fish_lease_using_subcommand group; and __fish_seen_subcommand_from list" -l json -d 'Print JSON'
complete -c lease -n "__fish_lease_using_subcommand group; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand group; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand group; and __fish_seen_subcommand_from members" -l json -d 'Print JSON'
complete -c lease -n "__fish_lease_using_subcommand group; and __fish_seen_subcommand_from members" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand group; and __fish_seen_subcommand_from members" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand group; and __fish_seen_subcommand_from create" -l json -d 'Print JSON'
complete -c lease -n "__fish_lease_using_subcommand group; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand group; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand group; and __fish_seen_subcommand_from delete" -l json -d 'Print JSON'
complete -c lease -n "__fish_lease_using_subcommand group; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand group; and __fish_seen_subcommand_from delete" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand run" -s r -l resource -d 'Resource, as LOCKSPACE:NAME:PATH:OFFSET[:LVER|:SH] (repeatable; all or none)' -r
complete -c lease -n "__fish_lease_using_subcommand run" -s n -l name -d 'Resource found by name in the lockspace\'s name index, as LOCKSPACE:NAME (repeatable); an acquire adds a name not there yet' -r
complete -c lease -n "__fish_lease_using_subcommand run" -l wait -d 'Wait for busy resources instead of failing, for ever or SECONDS (behind earlier waiters of this host)' -r
complete -c lease -n "__fish_lease_using_subcommand run" -l shared -d 'Take the named resources (-n) in SHARED mode'
complete -c lease -n "__fish_lease_using_subcommand run" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand run" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand watchdog" -l expiry -d 'Seconds from each renewal to the expiry: if the next renewal has not come by then, leased stops keeping the watchdog alive and the host is reset at most the fire timeout later' -r
complete -c lease -n "__fish_lease_using_subcommand watchdog" -l renew -d 'Seconds between renewals [default: a quarter of the expiry]' -r
complete -c lease -n "__fish_lease_using_subcommand watchdog" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand watchdog" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand demo" -l dir -d 'Directory for the scratch lease file and the hosts\' run directories [default: $TMPDIR, or /var/tmp if that is tmpfs]' -r -F
complete -c lease -n "__fish_lease_using_subcommand demo" -l keep -d 'Keep the scratch directory (lease file, daemon logs) instead of removing it; it is always kept when the demo fails, but not when it is interrupted'
complete -c lease -n "__fish_lease_using_subcommand demo" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand demo" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand generate; and not __fish_seen_subcommand_from man completions" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand generate; and not __fish_seen_subcommand_from man completions" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand generate; and not __fish_seen_subcommand_from man completions" -f -a "man" -d 'Write the man pages into DIR'
complete -c lease -n "__fish_lease_using_subcommand generate; and not __fish_seen_subcommand_from man completions" -f -a "completions" -d 'Write completion scripts for bash, zsh and fish into DIR'
complete -c lease -n "__fish_lease_using_subcommand generate; and __fish_seen_subcommand_from man" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand generate; and __fish_seen_subcommand_from man" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand generate; and __fish_seen_subcommand_from completions" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand generate; and __fish_seen_subcommand_from completions" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand leased" -l config -d 'Configuration file (TOML)' -r -F
complete -c lease -n "__fish_lease_using_subcommand leased" -l run-dir -d 'Run directory: socket, pid lock [default: $LEASED_RUN_DIR or /run/leased]' -r -F
complete -c lease -n "__fish_lease_using_subcommand leased" -l state-dir -d 'State directory, kept across reboots: boot record, host name [default: $LEASED_STATE_DIR, or /var/lib/leased]' -r -F
complete -c lease -n "__fish_lease_using_subcommand leased" -l host-name -d 'This host\'s name in lockspaces [default: generated once, kept in the state directory]' -r
complete -c lease -n "__fish_lease_using_subcommand leased" -l watchdog-fire-timeout -d 'Seconds the watchdog takes to fire (F); the same on every host [default: 60]' -r
complete -c lease -n "__fish_lease_using_subcommand leased" -l watchdog -d 'Watchdog device: auto, none, file:PATH or a device path [default: auto]' -r
complete -c lease -n "__fish_lease_using_subcommand leased" -l fencing -d 'How holders of a failed lockspace\'s leases are stopped [default: terminate]' -r -f -a "terminate\t'Killpath, then SIGTERM, then SIGKILL at the kill grace'
kill\t'SIGKILL at once'
reset\t'Signal nothing: the watchdog resets the host'"
complete -c lease -n "__fish_lease_using_subcommand leased" -l kill-grace -d 'Seconds until holders of a failed lockspace\'s leases get SIGKILL [default: 40]' -r
complete -c lease -n "__fish_lease_using_subcommand leased" -l socket-group -d 'Group allowed to use the socket besides root' -r
complete -c lease -n "__fish_lease_using_subcommand leased" -l max-clients -d 'Most client connections at once [default: 1000]' -r
complete -c lease -n "__fish_lease_using_subcommand leased" -l collect-idle-names -d 'Remove names whose leases stood free this long from name indexes (0: never) [default: 0]' -r
complete -c lease -n "__fish_lease_using_subcommand leased" -l wdmd-socket -d 'wdmd\'s socket, served for sanlock ("" for none) [default: /run/wdmd/wdmd.sock with a watchdog device]' -r
complete -c lease -n "__fish_lease_using_subcommand leased" -l lockspace -d 'Lockspace to join at start, as NAME:HOST_ID:PATH:OFFSET (repeatable)' -r
complete -c lease -n "__fish_lease_using_subcommand leased" -l print-config -d 'Print the effective configuration and exit'
complete -c lease -n "__fish_lease_using_subcommand leased" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lease -n "__fish_lease_using_subcommand leased" -s V -l version -d 'Print version'
