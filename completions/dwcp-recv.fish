function __dwcp-recv_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __dwcp-recv_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __dwcp-recv_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __dwcp-recv_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __dwcp-recv_parse_tokens -S
    set -l unparsed_tokens (__dwcp-recv_tokens -pc)
    switch $unparsed_tokens[1]
    case 'dwcp-recv'
        __dwcp-recv_parse_subcommand 0 'listen=' 'o/output=' 'f/force' 'keep' 'resume' 'sparse' 'no-sparse' 'window=' 'idle-timeout=' 'transport=' 'secret-file=' 'tls' 'cert=' 'key=' 'ca=' 'json' 'q/quiet' 'v/verbose' 'progress' 'no-progress' 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'help'
            __dwcp-recv_parse_subcommand -r 1 'version'
        end
    end
end

function __dwcp-recv_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __dwcp-recv_parse_subcommand -S -a positional_count
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

function __dwcp-recv_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __dwcp-recv_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__dwcp-recv_tokens -p)
    if test -z "$(__dwcp-recv_tokens -t)"
        set -l index (count (__dwcp-recv_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'dwcp-recv' -f
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv" listen' -l 'listen' -d 'Address to listen on: [ADDR]:PORT (ADDR empty = all, IPv6 and IPv4).' -rfka ''
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv" o output' -l 'output' -s 'o' -d 'Write to FILE instead of standard output.' -rfka ''
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv" f force' -l 'force' -s 'f' -d 'Overwrite an existing output file (replaced only once the output is complete); write binary data to a terminal.'
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv" keep' -l 'keep' -d 'Serve transfers one after another (needs -o with %n) instead of exiting after one.'
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv" resume' -l 'resume' -d 'Make the transfer survive a restart of this receiver: checkpoint FILE (-o) in FILE.dwcp-recv before acknowledging, and continue a transfer a killed receiver left there.'
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv" sparse' -l 'sparse' -d 'Into a regular file, leave every whole zero page as a hole: it reads back as zeros and takes no disk space (a raw disk image stays sparse). --no-sparse writes every byte.'
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv" no-sparse' -l 'no-sparse' -d 'Into a regular file, leave every whole zero page as a hole: it reads back as zeros and takes no disk space (a raw disk image stays sparse). --no-sparse writes every byte.'
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv" window' -l 'window' -d 'Most bytes held out of order (for a file output: written ahead of the bytes written in order), 1MiB to 16GiB; connections wait beyond it.' -rfka ''
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv" idle-timeout' -l 'idle-timeout' -d 'Fail (exit 4) after this long without data. With --secret-file, a sender that proves the secret while the current transfer has had no connection for a second ends that transfer at once (exit 4; with --keep, its output is removed and the new sender served).' -rfka ''
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv" transport' -l 'transport' -d 'Network: tcp, rdma (rsockets; fails without an RDMA device, exit 1) or auto (tcp, plus rdma on the same port when this host has an RDMA device; tcp only with --tls).' -rfka ''
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv" secret-file' -l 'secret-file' -d 'Shared secret for authenticating connections (HMAC-SHA256), read from FILE; default $DWCP_SECRET_FILE. Both ends need the same.' -rfka ''
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv" tls' -l 'tls' -d 'Encrypt and authenticate every connection with TLS 1.3 (OpenSSL); both ends need it.'
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv" cert' -l 'cert' -d 'Certificate chain (PEM) this side presents. Required when receiving with --tls; when sending, it is the client certificate for mutual TLS.' -rfka ''
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv" key' -l 'key' -d 'Private key (PEM) of --cert.' -rfka ''
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv" ca' -l 'ca' -d 'Trusted CA certificates (PEM). Sending: the receiver\'s certificate must chain to them (default: the system\'s trust store). Receiving: clients must present a certificate that chains to them (mutual TLS).' -rfka ''
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv" json' -l 'json' -d 'Print a JSON summary per transfer (to standard output with -o, else stderr); its seconds run from the transfer\'s first connection to its verdict.'
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv" q quiet' -l 'quiet' -s 'q' -d 'Print errors only.'
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv"' -l 'verbose' -s 'v' -d 'More output: -v adds a summary and progress, -vv debug detail.'
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv" progress' -l 'progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv" no-progress' -l 'no-progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_positional "dwcp-recv" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'dwcp-recv' -n '__dwcp-recv_should_offer_completions_for_flags_or_options "dwcp-recv help" version' -l 'version' -d 'Show the version.'
