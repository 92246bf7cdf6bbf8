function __dwcp-migrate_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __dwcp-migrate_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __dwcp-migrate_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __dwcp-migrate_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __dwcp-migrate_parse_tokens -S
    set -l unparsed_tokens (__dwcp-migrate_tokens -pc)
    switch $unparsed_tokens[1]
    case 'dwcp-migrate'
        __dwcp-migrate_parse_subcommand 0 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'qemu'
            __dwcp-migrate_parse_subcommand 0 'qmp=' 'to=' 'max-downtime=' 'codec=' 'streams=' 'cc=' 'link-rate=' 'rtt=' 'rate-probe=' 'resume-timeout=' 'T/threads=' 'dry-run' 'json' 'secret-file=' 'tls' 'cert=' 'key=' 'ca=' 'tls-name=' 'max-rounds=' 'auto-converge' 'xbzrle=' 'keep-source' 'reference=+' 'q/quiet' 'v/verbose' 'progress' 'no-progress' 'version' 'h/help'
        case 'file'
            __dwcp-migrate_parse_subcommand 1 'to=' 'max-downtime=' 'codec=' 'streams=' 'cc=' 'link-rate=' 'rtt=' 'rate-probe=' 'resume-timeout=' 'T/threads=' 'dry-run' 'json' 'secret-file=' 'tls' 'cert=' 'key=' 'ca=' 'tls-name=' 'resume' 'max-rounds=' 'freeze=' 'thaw=' 'work-dir=' 'q/quiet' 'v/verbose' 'progress' 'no-progress' 'version' 'h/help'
        case 'receive'
            __dwcp-migrate_parse_subcommand 0 'listen=' 'qmp=' 'o/output=' 'journal-dir=' 'idle-timeout=' 'T/threads=' 'no-prefault' 'reference=+' 'json' 'secret-file=' 'tls' 'cert=' 'key=' 'ca=' 'q/quiet' 'v/verbose' 'progress' 'no-progress' 'version' 'h/help'
        case 'recover'
            __dwcp-migrate_parse_subcommand 1 'journal-dir=' 'verify' 'json' 'q/quiet' 'v/verbose' 'progress' 'no-progress' 'version' 'h/help'
        case 'help'
            __dwcp-migrate_parse_subcommand -r 1 'version'
        end
    end
end

function __dwcp-migrate_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __dwcp-migrate_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __dwcp-migrate_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __dwcp-migrate_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__dwcp-migrate_tokens -p)
    if test -z "$(__dwcp-migrate_tokens -t)"
        set -l index (count (__dwcp-migrate_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'dwcp-migrate' -f
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_positional "dwcp-migrate" -eq 1' -fa 'qemu' -d 'Live-migrate the QEMU VM behind a QMP socket to a \'dwcp-migrate receive --qmp\' destination.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_positional "dwcp-migrate" -eq 1' -fa 'file' -d 'Migrate a file or block device that may change while it is copied, in pre-copy rounds.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_positional "dwcp-migrate" -eq 1' -fa 'receive' -d 'Receive a migration: into a QEMU started with -incoming defer (--qmp), or into an image file (-o).'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_positional "dwcp-migrate" -eq 1' -fa 'recover' -d 'Bring an image that \'dwcp-migrate receive -o\' was building to a complete round after a crash.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_positional "dwcp-migrate" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" qmp' -l 'qmp' -d 'The source QEMU\'s QMP unix socket.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" to' -l 'to' -d 'Destination: the HOST:PORT a \'dwcp-migrate receive\' listens on.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" max-downtime' -l 'max-downtime' -d 'Downtime budget: how long the workload may be stopped at the switchover (300ms, 1s; a bare number is ms).' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" codec' -l 'codec' -d 'Codec for the state: auto (chosen per frame for the measured link; on links faster than compression a VM stream goes raw), raw (VM streams only: no encoder, the transport\'s checksums only), or CODEC[:LEVEL] such as zstd:1, lz4, none (zstd without a level chooses its search per section, as dwcp-encode does).' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" streams' -l 'streams' -d 'Parallel TCP connections (default: planned from the path: on short paths 1 for a raw stream, else 2-4; one per MiB of bandwidth-delay product on long ones).' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" cc' -l 'cc' -d 'Congestion control per socket: bbr, cubic, reno or auto (cubic when a raw stream crosses a path with a round trip under 2 ms, else bbr, which keeps queues that the switchover must drain short; when the kernel has them). dwcp-migrate qemu with auto also moves a path of 8 ms round trip or more to cubic once its connections have run 2 s without a retransmission (bbr pauses every connection for 0.2 s every 10 s there), and back to bbr if packets are lost.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" link-rate' -l 'link-rate' -d 'Assume this link rate instead of measuring it (e.g. 100Mbit). The round trip, which sizes the window and the streams, is still timed with a few pings unless --rtt gives it too.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" rtt' -l 'rtt' -d 'With --link-rate: assume this round-trip time (50ms, 0.2ms; a bare number is ms) instead of timing it, so nothing is probed.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" rate-probe' -l 'rate-probe' -d 'How the link\'s rate is measured with --codec auto: burst (the probe sends filler for 0.1-1 s before the migration starts), transfer (the migration starts at once and measures the rate on its own first round trips, then applies the plan: a VM stream starts at zstd level 1, an image\'s codec is chosen as for a 1.6 Gbit/s link until then), or auto (transfer on paths with a round trip of 8 ms or more, where the burst would run longer than 0.1 s). --dry-run always runs the burst.' -rfka 'auto burst transfer'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" resume-timeout' -l 'resume-timeout' -d 'Keep reconnecting this long after a connection drops (and probing again, and asking a receiver busy with another transfer again) before failing (exit 4).' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" T threads' -s 'T' -l 'threads' -d 'Compression threads (default: all cores).' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" dry-run' -l 'dry-run' -d 'Probe the link, print the plan as a JSON line and exit without migrating.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" json' -l 'json' -d 'Print per-round lines and a final summary as JSON lines on standard output.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" secret-file' -l 'secret-file' -d 'Shared secret for authenticating connections (HMAC-SHA256), read from FILE; default $DWCP_SECRET_FILE. Both ends need the same.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" tls' -l 'tls' -d 'Encrypt and authenticate every connection with TLS 1.3 (OpenSSL); both ends need it.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" cert' -l 'cert' -d 'Certificate chain (PEM) this side presents. Required when receiving with --tls; when sending, it is the client certificate for mutual TLS.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" key' -l 'key' -d 'Private key (PEM) of --cert.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" ca' -l 'ca' -d 'Trusted CA certificates (PEM). Sending: the receiver\'s certificate must chain to them (default: the system\'s trust store). Receiving: clients must present a certificate that chains to them (mutual TLS).' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" tls-name' -l 'tls-name' -d 'With --tls: the name (DNS name or IP address) the receiver\'s certificate must carry; default: the HOST of HOST:PORT.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" max-rounds' -l 'max-rounds' -d 'Cancel the migration (the VM keeps running) after this many dirty-memory passes without a switchover.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" auto-converge' -l 'auto-converge' -d 'Let QEMU throttle the guest\'s CPUs until the copy converges, instead of giving up.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" xbzrle' -l 'xbzrle' -d 'Enable QEMU\'s XBZRLE delta encoding of re-sent pages with a cache of SIZE (e.g. 64MiB).' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" keep-source' -l 'keep-source' -d 'Leave the source QEMU paused after a successful migration instead of quitting it.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu"' -l 'reference' -d 'A file the destination holds too, such as the guest\'s kernel, initrd or disk image (repeatable; at most 1 GiB together): a compressed VM stream is compressed against them, as \'zstd --patch-from\' does, so guest RAM that holds copies of them costs little on the wire. Give \'receive\' the same files in the same order; it refuses other ones before it decodes a byte. Used only by a zstd stream of --codec auto that begins with the long window (links below 50 MB/s; the JSON\'s reference_bytes says), not by a raw stream, a faster link\'s level-1 stream or DWCP frames.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" q quiet' -l 'quiet' -s 'q' -d 'Print errors only.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu"' -l 'verbose' -s 'v' -d 'More output: -v adds a summary and progress, -vv debug detail.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" progress' -l 'progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" no-progress' -l 'no-progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate qemu" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" to' -l 'to' -d 'Destination: the HOST:PORT a \'dwcp-migrate receive\' listens on.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" max-downtime' -l 'max-downtime' -d 'Downtime budget: how long the workload may be stopped at the switchover (300ms, 1s; a bare number is ms).' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" codec' -l 'codec' -d 'Codec for the state: auto (chosen per frame for the measured link; on links faster than compression a VM stream goes raw), raw (VM streams only: no encoder, the transport\'s checksums only), or CODEC[:LEVEL] such as zstd:1, lz4, none (zstd without a level chooses its search per section, as dwcp-encode does).' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" streams' -l 'streams' -d 'Parallel TCP connections (default: planned from the path: on short paths 1 for a raw stream, else 2-4; one per MiB of bandwidth-delay product on long ones).' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" cc' -l 'cc' -d 'Congestion control per socket: bbr, cubic, reno or auto (cubic when a raw stream crosses a path with a round trip under 2 ms, else bbr, which keeps queues that the switchover must drain short; when the kernel has them). dwcp-migrate qemu with auto also moves a path of 8 ms round trip or more to cubic once its connections have run 2 s without a retransmission (bbr pauses every connection for 0.2 s every 10 s there), and back to bbr if packets are lost.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" link-rate' -l 'link-rate' -d 'Assume this link rate instead of measuring it (e.g. 100Mbit). The round trip, which sizes the window and the streams, is still timed with a few pings unless --rtt gives it too.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" rtt' -l 'rtt' -d 'With --link-rate: assume this round-trip time (50ms, 0.2ms; a bare number is ms) instead of timing it, so nothing is probed.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" rate-probe' -l 'rate-probe' -d 'How the link\'s rate is measured with --codec auto: burst (the probe sends filler for 0.1-1 s before the migration starts), transfer (the migration starts at once and measures the rate on its own first round trips, then applies the plan: a VM stream starts at zstd level 1, an image\'s codec is chosen as for a 1.6 Gbit/s link until then), or auto (transfer on paths with a round trip of 8 ms or more, where the burst would run longer than 0.1 s). --dry-run always runs the burst.' -rfka 'auto burst transfer'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" resume-timeout' -l 'resume-timeout' -d 'Keep reconnecting this long after a connection drops (and probing again, and asking a receiver busy with another transfer again) before failing (exit 4).' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" T threads' -s 'T' -l 'threads' -d 'Compression threads (default: all cores).' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" dry-run' -l 'dry-run' -d 'Probe the link, print the plan as a JSON line and exit without migrating.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" json' -l 'json' -d 'Print per-round lines and a final summary as JSON lines on standard output.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" secret-file' -l 'secret-file' -d 'Shared secret for authenticating connections (HMAC-SHA256), read from FILE; default $DWCP_SECRET_FILE. Both ends need the same.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" tls' -l 'tls' -d 'Encrypt and authenticate every connection with TLS 1.3 (OpenSSL); both ends need it.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" cert' -l 'cert' -d 'Certificate chain (PEM) this side presents. Required when receiving with --tls; when sending, it is the client certificate for mutual TLS.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" key' -l 'key' -d 'Private key (PEM) of --cert.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" ca' -l 'ca' -d 'Trusted CA certificates (PEM). Sending: the receiver\'s certificate must chain to them (default: the system\'s trust store). Receiving: clients must present a certificate that chains to them (mutual TLS).' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" tls-name' -l 'tls-name' -d 'With --tls: the name (DNS name or IP address) the receiver\'s certificate must carry; default: the HOST of HOST:PORT.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" resume' -l 'resume' -d 'If the migration fails after the destination confirmed a round, keep the snapshot in --work-dir; run the same command again with --resume to continue after that round instead of sending the whole image again (the destination\'s receive, started again on the same FILE, takes it).'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" max-rounds' -l 'max-rounds' -d 'Give up after this many pre-copy rounds without a switchover.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" freeze' -l 'freeze' -d 'Shell command that stops the image\'s writers, run before the final round.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" thaw' -l 'thaw' -d 'Shell command that lets the writers continue, run only if --freeze or the final round fails.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" work-dir' -l 'work-dir' -d 'Directory for the snapshot of what was sent (default $TMPDIR or /tmp).' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" q quiet' -l 'quiet' -s 'q' -d 'Print errors only.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file"' -l 'verbose' -s 'v' -d 'More output: -v adds a summary and progress, -vv debug detail.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" progress' -l 'progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" no-progress' -l 'no-progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate file" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate receive" listen' -l 'listen' -d 'Address to listen on: [ADDR]:PORT (ADDR empty = all, IPv6 and IPv4).' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate receive" qmp' -l 'qmp' -d 'QMP unix socket of a destination QEMU started with -incoming defer.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate receive" o output' -l 'output' -s 'o' -d 'Image file or block device to build from \'dwcp-migrate file\' rounds.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate receive" journal-dir' -l 'journal-dir' -d 'Keep the round journal, round record and undo (and a device\'s marker) in DIR instead of beside FILE; needed when FILE is a block device. Give the same DIR to \'dwcp-migrate recover\'.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate receive" idle-timeout' -l 'idle-timeout' -d 'Fail (exit 4) after this long without data from the source, or, after the final round or the VM\'s confirmation, without the source saying it heard it (a source whose connections were cut then comes back and is told again; with --qmp this only warns, the VM running here). With --secret-file, a source that proves the secret while the current one has had no connection for a second takes over at once (the round in progress is given up).' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate receive" T threads' -s 'T' -l 'threads' -d 'Decompression threads, and the threads QEMU pre-faults the guest\'s RAM on (default: all cores).' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate receive" no-prefault' -l 'no-prefault' -d 'With --qmp, leave the destination VM\'s RAM alone before the migration. By default receive pre-faults it first (QEMU\'s prealloc, on -T threads) and only then says it is listening: QEMU otherwise takes a fault, and the kernel zeroes a page, on the stream\'s first write to each guest page, in the one thread that loads the stream, which on a fast link paces the migration (loopback, 512 MiB guest: QEMU tcp: 1.26-1.85 s into a fresh QEMU, 0.48-0.60 s into a pre-faulted one). The cost: the guest\'s whole RAM is resident here from then on, pages it never touched included, and receive is ready only once that is done (about 0.9 s per 512 MiB on two cores).'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate receive"' -l 'reference' -d 'With --qmp: a file the source may have compressed the VM\'s stream against (\'dwcp-migrate qemu --reference\'; repeatable, the same files in the same order). A stream compressed against other files, or against files when none are given here, is refused before a byte of it is decoded.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate receive" json' -l 'json' -d 'Print a JSON line per round (bytes on the wire, image bytes, bytes written into the image) and a summary on standard output.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate receive" secret-file' -l 'secret-file' -d 'Shared secret for authenticating connections (HMAC-SHA256), read from FILE; default $DWCP_SECRET_FILE. Both ends need the same.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate receive" tls' -l 'tls' -d 'Encrypt and authenticate every connection with TLS 1.3 (OpenSSL); both ends need it.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate receive" cert' -l 'cert' -d 'Certificate chain (PEM) this side presents. Required when receiving with --tls; when sending, it is the client certificate for mutual TLS.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate receive" key' -l 'key' -d 'Private key (PEM) of --cert.' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate receive" ca' -l 'ca' -d 'Trusted CA certificates (PEM). Sending: the receiver\'s certificate must chain to them (default: the system\'s trust store). Receiving: clients must present a certificate that chains to them (mutual TLS).' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate receive" q quiet' -l 'quiet' -s 'q' -d 'Print errors only.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate receive"' -l 'verbose' -s 'v' -d 'More output: -v adds a summary and progress, -vv debug detail.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate receive" progress' -l 'progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate receive" no-progress' -l 'no-progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate receive" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate receive" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate recover" journal-dir' -l 'journal-dir' -d 'The directory given to \'dwcp-migrate receive --journal-dir\' (needed for a block device).' -rfka ''
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate recover" verify' -l 'verify' -d 'Then read the image whole and check it is exactly the round its record names (exit status 3 if not).'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate recover" json' -l 'json' -d 'Print the result as a JSON line on standard output.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate recover" q quiet' -l 'quiet' -s 'q' -d 'Print errors only.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate recover"' -l 'verbose' -s 'v' -d 'More output: -v adds a summary and progress, -vv debug detail.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate recover" progress' -l 'progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate recover" no-progress' -l 'no-progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate recover" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate recover" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-migrate' -n '__dwcp-migrate_should_offer_completions_for_flags_or_options "dwcp-migrate help" version' -l 'version' -d 'Show the version.'
