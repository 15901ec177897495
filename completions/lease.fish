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
complete -c lease -n "__fish_lease_needs_command" -f -a "demo" -d 'Demonstrate lease areas on a scratch file in a temporary directory'
complete -c lease -n "__fish_lease_needs_command" -f -a "generate" -d 'Write man pages or shell completions (for packaging)'
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
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from init" -l num-hosts -d 'Ballot blocks a resource uses: the highest host_id that may acquire it [default: all that fit]' -r
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
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire-id" -l host-name -d 'Our host name in the lockspace [default: /etc/machine-id]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire-id" -l io-timeout -d 'io_timeout to hold the host_id with [default: the lockspace\'s]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire-id" -l fast-reacquire -d 'Take the host_id at once if its sector carries our host name (only safe if nothing of our previous use of it can still hold leases)'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire-id" -l json -d 'Print one JSON object'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire-id" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire-id" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from renew-id" -s s -l lockspace -d 'Lockspace and our host_id, as NAME:HOST_ID:PATH:OFFSET' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from renew-id" -l host-name -d 'Our host name in the lockspace [default: /etc/machine-id]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from renew-id" -l io-timeout -d 'io_timeout to hold the host_id with [default: the lockspace\'s]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from renew-id" -l fast-reacquire -d 'Take the host_id at once if its sector carries our host name (only safe if nothing of our previous use of it can still hold leases)'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from renew-id" -l json -d 'Print one JSON object'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from renew-id" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from renew-id" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release-id" -s s -l lockspace -d 'Lockspace and our host_id, as NAME:HOST_ID:PATH:OFFSET' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release-id" -l host-name -d 'Our host name in the lockspace [default: /etc/machine-id]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release-id" -l io-timeout -d 'io_timeout to hold the host_id with [default: the lockspace\'s]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release-id" -l fast-reacquire -d 'Take the host_id at once if its sector carries our host name (only safe if nothing of our previous use of it can still hold leases)'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release-id" -l json -d 'Print one JSON object'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release-id" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release-id" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire" -s s -l lockspace -d 'Lockspace and our host_id, as NAME:HOST_ID:PATH:OFFSET' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire" -s r -l resource -d 'Resource, as LOCKSPACE:NAME:PATH:OFFSET[:LVER|:SH]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire" -l host-name -d 'Our host name in the lockspace [default: /etc/machine-id]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire" -l json -d 'Print one JSON object'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from acquire" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release" -s s -l lockspace -d 'Lockspace and our host_id, as NAME:HOST_ID:PATH:OFFSET' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release" -s r -l resource -d 'Resource, as LOCKSPACE:NAME:PATH:OFFSET[:LVER|:SH]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release" -l host-name -d 'Our host name in the lockspace [default: /etc/machine-id]' -r
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release" -l json -d 'Print one JSON object'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release" -s h -l help -d 'Print help'
complete -c lease -n "__fish_lease_using_subcommand direct; and __fish_seen_subcommand_from release" -s V -l version -d 'Print version'
complete -c lease -n "__fish_lease_using_subcommand demo" -l dir -d 'Directory for the scratch lease file [default: $TMPDIR, or /var/tmp if that is tmpfs]' -r -F
complete -c lease -n "__fish_lease_using_subcommand demo" -l keep -d 'Keep the scratch directory instead of removing it'
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
