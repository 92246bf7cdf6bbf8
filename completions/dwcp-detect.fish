function __dwcp-detect_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __dwcp-detect_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __dwcp-detect_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __dwcp-detect_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __dwcp-detect_parse_tokens -S
    set -l unparsed_tokens (__dwcp-detect_tokens -pc)
    switch $unparsed_tokens[1]
    case 'dwcp-detect'
        __dwcp-detect_parse_subcommand 1 'serve=' 'watch=' 'print=' 'pings=' 'burst=' 'datacenter-rtt=' 'datacenter-jitter=' 'datacenter-loss=' 'internet-rtt=' 'internet-loss=' 'confirm=' 'hysteresis=' 'secret-file=' 'tls' 'cert=' 'key=' 'ca=' 'tls-name=' 'q/quiet' 'v/verbose' 'progress' 'no-progress' 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'help'
            __dwcp-detect_parse_subcommand -r 1 'version'
        end
    end
end

function __dwcp-detect_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __dwcp-detect_parse_subcommand -S -a positional_count
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

function __dwcp-detect_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __dwcp-detect_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__dwcp-detect_tokens -p)
    if test -z "$(__dwcp-detect_tokens -t)"
        set -l index (count (__dwcp-detect_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'dwcp-detect' -f
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" serve' -l 'serve' -d 'Answer probes on [ADDR]:PORT instead of probing (runs until SIGINT/SIGTERM).' -rfka ''
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" watch' -l 'watch' -d 'Measure at this interval and print a line each time. Pinging stops after half the interval less the loss phase (after at least 3 pings), so a measurement takes about the interval (with the default --burst, 0.75 s) even on a long path.' -rfka ''
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" print' -l 'print' -d 'Print only this field: mode.' -rfka ''
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" pings' -l 'pings' -d 'Pings per measurement.' -rfka ''
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" burst' -l 'burst' -d 'Length of the throughput burst; loss is then counted over half as long again, paced at 80% of the rate found. 0 skips both.' -rfka ''
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" datacenter-rtt' -l 'datacenter-rtt' -d 'Datacenter if the median RTT is at most this.' -rfka ''
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" datacenter-jitter' -l 'datacenter-jitter' -d '... and jitter at most this.' -rfka ''
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" datacenter-loss' -l 'datacenter-loss' -d '... and loss at most this.' -rfka ''
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" internet-rtt' -l 'internet-rtt' -d 'Internet if the median RTT is at least this.' -rfka ''
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" internet-loss' -l 'internet-loss' -d '... or loss at least this.' -rfka ''
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" confirm' -l 'confirm' -d 'With --watch: measurements in a row that must agree before the mode changes.' -rfka ''
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" hysteresis' -l 'hysteresis' -d 'With --watch: how far beyond the current mode\'s limits a measurement must be to count against it.' -rfka ''
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" secret-file' -l 'secret-file' -d 'Shared secret for authenticating connections (HMAC-SHA256), read from FILE; default $DWCP_SECRET_FILE. Both ends need the same.' -rfka ''
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" tls' -l 'tls' -d 'Encrypt and authenticate every connection with TLS 1.3 (OpenSSL); both ends need it.'
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" cert' -l 'cert' -d 'Certificate chain (PEM) this side presents. Required when receiving with --tls; when sending, it is the client certificate for mutual TLS.' -rfka ''
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" key' -l 'key' -d 'Private key (PEM) of --cert.' -rfka ''
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" ca' -l 'ca' -d 'Trusted CA certificates (PEM). Sending: the receiver\'s certificate must chain to them (default: the system\'s trust store). Receiving: clients must present a certificate that chains to them (mutual TLS).' -rfka ''
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" tls-name' -l 'tls-name' -d 'With --tls: the name (DNS name or IP address) the receiver\'s certificate must carry; default: the HOST of HOST:PORT.' -rfka ''
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" q quiet' -l 'quiet' -s 'q' -d 'Print errors only.'
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect"' -l 'verbose' -s 'v' -d 'More output: -v adds a summary and progress, -vv debug detail.'
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" progress' -l 'progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" no-progress' -l 'no-progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_positional "dwcp-detect" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'dwcp-detect' -n '__dwcp-detect_should_offer_completions_for_flags_or_options "dwcp-detect help" version' -l 'version' -d 'Show the version.'
