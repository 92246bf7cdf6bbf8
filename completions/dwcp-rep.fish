function __dwcp-rep_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __dwcp-rep_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __dwcp-rep_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __dwcp-rep_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __dwcp-rep_parse_tokens -S
    set -l unparsed_tokens (__dwcp-rep_tokens -pc)
    switch $unparsed_tokens[1]
    case 'dwcp-rep'
        __dwcp-rep_parse_subcommand 0 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'detect'
            __dwcp-rep_parse_subcommand -r 1 'keys=' 'admission-ca=' 'certificates=' 'state=' 'quarantine-out=' 'alpha=' 'suspect-below=' 'quarantine-below=' 'timeout-ms=' 'clock-tolerance-ms=' 'max-bad-rate=' 'confidence=' 'window=' 'slow-factor=' 'replay-grace-ms=' 'slot-window=' 'o/output=' 'q/quiet' 'v/verbose' 'progress' 'no-progress' 'version' 'h/help'
        case 'keygen'
            __dwcp-rep_parse_subcommand 0 'id=' 'o/output=' 'version' 'h/help'
        case 'admit'
            __dwcp-rep_parse_subcommand 2 'ca=' 'version' 'h/help'
        case 'verify-proof'
            __dwcp-rep_parse_subcommand 1 'version' 'h/help'
        case 'simulate'
            __dwcp-rep_parse_subcommand 0 'nodes=' 'byzantine=' 'rounds=' 'fanout=' 'seed=' 'keys-out=' 'labels-out=' 'version' 'h/help'
        case 'eval'
            __dwcp-rep_parse_subcommand 0 'nodes=' 'byzantine=' 'rounds=' 'fanout=' 'seed=' 'alpha=' 'suspect-below=' 'quarantine-below=' 'timeout-ms=' 'clock-tolerance-ms=' 'max-bad-rate=' 'confidence=' 'window=' 'slow-factor=' 'replay-grace-ms=' 'slot-window=' 'json' 'q/quiet' 'v/verbose' 'progress' 'no-progress' 'version' 'h/help'
        case 'help'
            __dwcp-rep_parse_subcommand -r 1 'version'
        end
    end
end

function __dwcp-rep_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __dwcp-rep_parse_subcommand -S -a positional_count
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

function __dwcp-rep_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __dwcp-rep_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__dwcp-rep_tokens -p)
    if test -z "$(__dwcp-rep_tokens -t)"
        set -l index (count (__dwcp-rep_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'dwcp-rep' -f
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_positional "dwcp-rep" -eq 1' -fa 'detect' -d 'Read evidence, print findings and score changes (the default subcommand).'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_positional "dwcp-rep" -eq 1' -fa 'keygen' -d 'Make an Ed25519 key pair: the private key to a file (mode 600), \'id public-key\' to stdout.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_positional "dwcp-rep" -eq 1' -fa 'admit' -d 'Sign an admission certificate: prints \'id public-key certificate\' for --certificates.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_positional "dwcp-rep" -eq 1' -fa 'verify-proof' -d 'Check an equivocation proof (a finding line or the proof object) without trusting its source.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_positional "dwcp-rep" -eq 1' -fa 'simulate' -d 'Write a seeded evidence trace with labelled behaviours (the benchmark\'s ground truth).'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_positional "dwcp-rep" -eq 1' -fa 'eval' -d 'Simulate labelled traces, run the detectors, and score them per class.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_positional "dwcp-rep" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect" keys' -l 'keys' -d 'Allow-list: lines \'node-id hex-public-key\' (dwcp-rep keygen prints them).' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect" admission-ca' -l 'admission-ca' -d 'Public key (hex) of the admission authority whose certificates admit nodes.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect" certificates' -l 'certificates' -d 'Admission certificates: lines \'node-id hex-public-key hex-certificate\' (dwcp-rep admit).' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect" state' -l 'state' -d 'State carried between runs; read if it exists, replaced atomically at the end.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect" quarantine-out' -l 'quarantine-out' -d 'Write the quarantine list here (one node id per line), atomically.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect" alpha' -l 'alpha' -d 'Weight of the newest timing observation in a node\'s score.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect" suspect-below' -l 'suspect-below' -d 'Score below which a node is suspect.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect" quarantine-below' -l 'quarantine-below' -d 'Score below which a node is quarantined.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect" timeout-ms' -l 'timeout-ms' -d 'Latency after which a message is late (the protocol timeout).' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect" clock-tolerance-ms' -l 'clock-tolerance-ms' -d 'How far in the future a send stamp may be (clock tolerance).' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect" max-bad-rate' -l 'max-bad-rate' -d 'Bad-rate test: the late fraction a node may have.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect" confidence' -l 'confidence' -d 'Bad-rate test and slow detection: required confidence.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect" window' -l 'window' -d 'Bad-rate test: recent observations per node.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect" slow-factor' -l 'slow-factor' -d 'Slow: median latency at least this many times the population\'s.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect" replay-grace-ms' -l 'replay-grace-ms' -d 'A duplicate within this of the first copy is a retransmission, not a replay.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect" slot-window' -l 'slot-window' -d 'Slots per sender remembered for replay and equivocation checks.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect" o output' -l 'output' -s 'o' -d 'Write findings to FILE instead of standard output.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect" q quiet' -l 'quiet' -s 'q' -d 'Print errors only.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect"' -l 'verbose' -s 'v' -d 'More output: -v adds a summary and progress, -vv debug detail.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect" progress' -l 'progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect" no-progress' -l 'no-progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep detect" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep keygen" id' -l 'id' -d 'Node id for the allow-list line.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep keygen" o output' -l 'output' -s 'o' -d 'Private key file to create (refuses to overwrite).' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep keygen" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep keygen" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep admit" ca' -l 'ca' -d 'The admission authority\'s private key file.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep admit" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep admit" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep verify-proof" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep verify-proof" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep simulate" nodes' -l 'nodes' -d 'Nodes.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep simulate" byzantine' -l 'byzantine' -d 'Byzantine fraction (0 to 0.5).' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep simulate" rounds' -l 'rounds' -d 'Messages each node sends (one per second).' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep simulate" fanout' -l 'fanout' -d 'Observers each message reaches.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep simulate" seed' -l 'seed' -d 'Seed (same seed, same trace).' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep simulate" keys-out' -l 'keys-out' -d 'Write the allow-list here.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep simulate" labels-out' -l 'labels-out' -d 'Write the labels here.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep simulate" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep simulate" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval" nodes' -l 'nodes' -d 'Comma-separated node counts.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval" byzantine' -l 'byzantine' -d 'Comma-separated Byzantine fractions.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval" rounds' -l 'rounds' -d 'Messages each node sends (one per second).' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval" fanout' -l 'fanout' -d 'Observers each message reaches.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval" seed' -l 'seed' -d 'Seed (same seed, same trace).' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval" alpha' -l 'alpha' -d 'Weight of the newest timing observation in a node\'s score.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval" suspect-below' -l 'suspect-below' -d 'Score below which a node is suspect.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval" quarantine-below' -l 'quarantine-below' -d 'Score below which a node is quarantined.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval" timeout-ms' -l 'timeout-ms' -d 'Latency after which a message is late (the protocol timeout).' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval" clock-tolerance-ms' -l 'clock-tolerance-ms' -d 'How far in the future a send stamp may be (clock tolerance).' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval" max-bad-rate' -l 'max-bad-rate' -d 'Bad-rate test: the late fraction a node may have.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval" confidence' -l 'confidence' -d 'Bad-rate test and slow detection: required confidence.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval" window' -l 'window' -d 'Bad-rate test: recent observations per node.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval" slow-factor' -l 'slow-factor' -d 'Slow: median latency at least this many times the population\'s.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval" replay-grace-ms' -l 'replay-grace-ms' -d 'A duplicate within this of the first copy is a retransmission, not a replay.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval" slot-window' -l 'slot-window' -d 'Slots per sender remembered for replay and equivocation checks.' -rfka ''
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval" json' -l 'json' -d 'One JSON object per configuration and class.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval" q quiet' -l 'quiet' -s 'q' -d 'Print errors only.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval"' -l 'verbose' -s 'v' -d 'More output: -v adds a summary and progress, -vv debug detail.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval" progress' -l 'progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval" no-progress' -l 'no-progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep eval" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-rep' -n '__dwcp-rep_should_offer_completions_for_flags_or_options "dwcp-rep help" version' -l 'version' -d 'Show the version.'
