function __dwcp-place_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __dwcp-place_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __dwcp-place_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __dwcp-place_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __dwcp-place_parse_tokens -S
    set -l unparsed_tokens (__dwcp-place_tokens -pc)
    switch $unparsed_tokens[1]
    case 'dwcp-place'
        __dwcp-place_parse_subcommand 0 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'decide'
            __dwcp-place_parse_subcommand -r 1 'n/nodes=' 'objective=' 'algorithm=' 'follow' 'policy=' 'exclude=' 'phase=' 'budget=' 'seed=' 'search-steps=' 'search-attempts=' 'o/output=' 'q/quiet' 'v/verbose' 'progress' 'no-progress' 'version' 'h/help'
        case 'eval'
            __dwcp-place_parse_subcommand -r 1 'n/nodes=' 'phase=' 'bounds=' 'algorithms=' 'seed=' 'search-steps=' 'search-attempts=' 'json' 'q/quiet' 'v/verbose' 'progress' 'no-progress' 'version' 'h/help'
        case 'bench'
            __dwcp-place_parse_subcommand 0 'nodes=' 'policies=' 'fill=' 'decisions=' 'seed=' 'json' 'q/quiet' 'v/verbose' 'progress' 'no-progress' 'version' 'h/help'
        case 'help'
            __dwcp-place_parse_subcommand -r 1 'version'
        end
    end
end

function __dwcp-place_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __dwcp-place_parse_subcommand -S -a positional_count
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

function __dwcp-place_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __dwcp-place_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__dwcp-place_tokens -p)
    if test -z "$(__dwcp-place_tokens -t)"
        set -l index (count (__dwcp-place_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'dwcp-place' -f
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_positional "dwcp-place" -eq 1' -fa 'decide' -d 'Read VM requests and print one JSON decision per VM (the default subcommand).'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_positional "dwcp-place" -eq 1' -fa 'eval' -d 'Run every algorithm on vector bin packing instances and report nodes used and latency.'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_positional "dwcp-place" -eq 1' -fa 'bench' -d 'Measure online decision latency on synthetic heterogeneous clusters of any size.'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_positional "dwcp-place" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place decide" n nodes' -l 'nodes' -s 'n' -d 'Node list: JSON lines or CSV (see docs/PLACE.md).' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place decide" objective' -l 'objective' -d 'pack (datacenter: fewest nodes) or spread (internet: replicas apart, reliable nodes).' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place decide" algorithm' -l 'algorithm' -d 'Batch algorithm for --objective pack: ffd-l2, bc-dot-product, bc-l2, tetris, first-fit, best-fit-l2, k8s-most-allocated, k8s-least-allocated, k8s-balanced, dwcp-ls.' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place decide" follow' -l 'follow' -d 'Decide each request as it arrives (online), including {"release": id} lines. Files are followed as they grow (tail -f) until SIGINT; standard input ends at end of file.'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place decide" policy' -l 'policy' -d 'Node policy with --follow: first-fit, dot-product, l2, most-allocated, least-allocated, balanced, spread (default: l2 to pack, spread to spread).' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place decide" exclude' -l 'exclude' -d 'Quarantine list (one node id per line, as dwcp-rep --quarantine-out writes): never place on these.' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place decide" phase' -l 'phase' -d 'Only requests in these phases (comma-separated, e.g. Running); others are skipped.' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place decide" budget' -l 'budget' -d 'Time limit for the batch local search (e.g. 200ms, 2s).' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place decide" seed' -l 'seed' -d 'Seed for the item shuffle and the local search (same seed, same result).' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place decide" search-steps' -l 'search-steps' -d 'Local search steps per attempt to empty a node (0: no local search).' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place decide" search-attempts' -l 'search-attempts' -d 'Nodes the local search tries to empty per level before it stops.' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place decide" o output' -l 'output' -s 'o' -d 'Write decisions to FILE instead of standard output.' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place decide" q quiet' -l 'quiet' -s 'q' -d 'Print errors only.'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place decide"' -l 'verbose' -s 'v' -d 'More output: -v adds a summary and progress, -vv debug detail.'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place decide" progress' -l 'progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place decide" no-progress' -l 'no-progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place decide" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place decide" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place eval" n nodes' -l 'nodes' -s 'n' -d 'Node list for request-file instances (JSON lines or CSV).' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place eval" phase' -l 'phase' -d 'With --nodes: only requests in these phases (comma-separated).' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place eval" bounds' -l 'bounds' -d 'Published bounds: a TSV with instance_name, LB and best_overall (or OPT) columns.' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place eval" algorithms' -l 'algorithms' -d 'Comma-separated algorithms (default: all): ffd-l2, bc-dot-product, bc-l2, tetris, first-fit, best-fit-l2, k8s-most-allocated, k8s-least-allocated, k8s-balanced, dwcp-ls.' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place eval" seed' -l 'seed' -d 'Seed for the item shuffle and the local search (same seed, same result).' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place eval" search-steps' -l 'search-steps' -d 'Local search steps per attempt to empty a node (0: no local search).' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place eval" search-attempts' -l 'search-attempts' -d 'Nodes the local search tries to empty per level before it stops.' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place eval" json' -l 'json' -d 'One JSON object per instance and algorithm.'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place eval" q quiet' -l 'quiet' -s 'q' -d 'Print errors only.'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place eval"' -l 'verbose' -s 'v' -d 'More output: -v adds a summary and progress, -vv debug detail.'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place eval" progress' -l 'progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place eval" no-progress' -l 'no-progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place eval" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place eval" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place bench" nodes' -l 'nodes' -d 'Comma-separated cluster sizes.' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place bench" policies' -l 'policies' -d 'Comma-separated policies (default: all).' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place bench" fill' -l 'fill' -d 'Fraction of CPU in use before timing (0 to 0.95).' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place bench" decisions' -l 'decisions' -d 'Timed decisions per size and policy.' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place bench" seed' -l 'seed' -d 'Seed for the synthetic cluster and requests.' -rfka ''
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place bench" json' -l 'json' -d 'One JSON object per size and policy.'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place bench" q quiet' -l 'quiet' -s 'q' -d 'Print errors only.'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place bench"' -l 'verbose' -s 'v' -d 'More output: -v adds a summary and progress, -vv debug detail.'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place bench" progress' -l 'progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place bench" no-progress' -l 'no-progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place bench" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place bench" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-place' -n '__dwcp-place_should_offer_completions_for_flags_or_options "dwcp-place help" version' -l 'version' -d 'Show the version.'
