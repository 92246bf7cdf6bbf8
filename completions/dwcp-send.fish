function __dwcp-send_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __dwcp-send_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __dwcp-send_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __dwcp-send_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __dwcp-send_parse_tokens -S
    set -l unparsed_tokens (__dwcp-send_tokens -pc)
    switch $unparsed_tokens[1]
    case 'dwcp-send'
        __dwcp-send_parse_subcommand 2 'streams=' 'transport=' 'cc=' 'max-rate=' 'chunk-size=' 'window=' 'resume-timeout=' 'resume' 'secret-file=' 'tls' 'cert=' 'key=' 'ca=' 'tls-name=' 'json' 'interval=' 'q/quiet' 'v/verbose' 'progress' 'no-progress' 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'help'
            __dwcp-send_parse_subcommand -r 1 'version'
        end
    end
end

function __dwcp-send_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __dwcp-send_parse_subcommand -S -a positional_count
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

function __dwcp-send_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __dwcp-send_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__dwcp-send_tokens -p)
    if test -z "$(__dwcp-send_tokens -t)"
        set -l index (count (__dwcp-send_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'dwcp-send' -f
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send" streams' -l 'streams' -d 'Parallel TCP connections, 1-256, or auto: start at 4 (8 when the RTT exceeds 1 ms) and add connections while throughput grows, up to 64.' -rfka ''
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send" transport' -l 'transport' -d 'Network: tcp, rdma (RDMA reliable connections through rsockets; fails without an RDMA device, exit 1) or auto (rdma when this host has a device and the receiver answers on it, else tcp; always tcp with --tls).' -rfka ''
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send" cc' -l 'cc' -d 'Congestion control per socket: bbr, cubic, reno or auto (bbr on paths with a round trip of 2 ms or more, cubic on shorter ones, when the kernel has them).' -rfka ''
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send" max-rate' -l 'max-rate' -d 'Pace the whole transfer to at most RATE (e.g. 500Mbit, 2Gbit), shared by the connections that have bytes to send.' -rfka ''
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send" chunk-size' -l 'chunk-size' -d 'Chunk size: the unit of striping, checksumming and resending. A chunk cut off with its connection is sent again whole, so a path that drops connections often needs smaller ones.' -rfka ''
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send" window' -l 'window' -d 'Most bytes in flight (sent, not yet written by the receiver), up to 16GiB; bounds memory.' -rfka ''
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send" resume-timeout' -l 'resume-timeout' -d 'Keep reconnecting this long after a connection drops (and asking a receiver busy with another transfer again) before failing (exit 4).' -rfka ''
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send" resume' -l 'resume' -d 'Name the transfer after the input file, so running the same command again continues it where the receiver stands (needs a regular file).'
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send" secret-file' -l 'secret-file' -d 'Shared secret for authenticating connections (HMAC-SHA256), read from FILE; default $DWCP_SECRET_FILE. Both ends need the same.' -rfka ''
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send" tls' -l 'tls' -d 'Encrypt and authenticate every connection with TLS 1.3 (OpenSSL); both ends need it.'
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send" cert' -l 'cert' -d 'Certificate chain (PEM) this side presents. Required when receiving with --tls; when sending, it is the client certificate for mutual TLS.' -rfka ''
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send" key' -l 'key' -d 'Private key (PEM) of --cert.' -rfka ''
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send" ca' -l 'ca' -d 'Trusted CA certificates (PEM). Sending: the receiver\'s certificate must chain to them (default: the system\'s trust store). Receiving: clients must present a certificate that chains to them (mutual TLS).' -rfka ''
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send" tls-name' -l 'tls-name' -d 'With --tls: the name (DNS name or IP address) the receiver\'s certificate must carry; default: the HOST of HOST:PORT.' -rfka ''
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send" json' -l 'json' -d 'Print a JSON summary (bytes, rate, per-connection RTT and retransmits) to standard output; its t and bps make it a dwcp-predict sample.'
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send" interval' -l 'interval' -d 'With --json: also print a sample line every SECONDS while sending (t: seconds since the start; bps: the rate the receiver\'s TCP acknowledged since the previous line; delivered_bytes), for dwcp-predict.' -rfka ''
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send" q quiet' -l 'quiet' -s 'q' -d 'Print errors only.'
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send"' -l 'verbose' -s 'v' -d 'More output: -v adds a summary and progress, -vv debug detail.'
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send" progress' -l 'progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send" no-progress' -l 'no-progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_positional "dwcp-send" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'dwcp-send' -n '__dwcp-send_should_offer_completions_for_flags_or_options "dwcp-send help" version' -l 'version' -d 'Show the version.'
