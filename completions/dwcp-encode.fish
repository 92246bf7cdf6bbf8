function __dwcp-encode_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __dwcp-encode_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __dwcp-encode_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __dwcp-encode_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __dwcp-encode_parse_tokens -S
    set -l unparsed_tokens (__dwcp-encode_tokens -pc)
    switch $unparsed_tokens[1]
    case 'dwcp-encode'
        __dwcp-encode_parse_subcommand -r 1 'd/decode' 't/test' 'sparse' 'no-sparse' 'c/codec=' 'l/level=' 'T/threads=' 'page-size=' 'block-size=' 'window=' 'history=' 'baseline=' 'link-rate=' 'page-checksums' 'format=' 'stats' 'json' 'o/output=' 'f/force' 'q/quiet' 'v/verbose' 'progress' 'no-progress' 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'help'
            __dwcp-encode_parse_subcommand -r 1 'version'
        end
    end
end

function __dwcp-encode_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __dwcp-encode_parse_subcommand -S -a positional_count
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

function __dwcp-encode_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __dwcp-encode_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__dwcp-encode_tokens -p)
    if test -z "$(__dwcp-encode_tokens -t)"
        set -l index (count (__dwcp-encode_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'dwcp-encode' -f
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" d decode' -l 'decode' -s 'd' -d 'Decode a DWCP (or plain zstd) stream instead of encoding.'
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" t test' -l 'test' -s 't' -d 'Test: decode and verify every stream, write nothing (as gzip -t and zstd -t); the exit status says whether they are intact.'
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" sparse' -l 'sparse' -d 'With -d into a regular file, leave every whole zero page as a hole, as zstd -d does: it reads back as zeros and takes no disk space. --no-sparse writes every byte.'
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" no-sparse' -l 'no-sparse' -d 'With -d into a regular file, leave every whole zero page as a hole, as zstd -d does: it reads back as zeros and takes no disk space. --no-sparse writes every byte.'
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" c codec' -s 'c' -l 'codec' -d 'Literal codec: zstd, lz4, brotli, none or auto.' -rfka 'zstd lz4 brotli none auto'
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" l level' -l 'level' -s 'l' -d 'Codec level: zstd -131072...22 (negative = fast), lz4 <3 fast (negative = acceleration) or 3...12 HC, brotli 0...11. Default: lz4 1, brotli 5; zstd chooses per section, level 1\'s search where the bytes look random and a wider double-fast one elsewhere (see docs/AUTO-CODEC.md); --format zstd uses 3.' -rfka ''
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" T threads' -s 'T' -l 'threads' -d 'Worker threads, at most 256; 0 means one per core (the default). Memory grows with them (docs/FORMAT.md, "Memory a decoder needs").' -rfka ''
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" page-size' -l 'page-size' -d 'Page size for zero, duplicate and baseline matching: a power of two, 512 to 1MiB.' -rfka ''
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" block-size' -l 'block-size' -d 'Original bytes per frame, a multiple of the page size up to 64MiB (default: 6MiB; with --baseline, 1/128 of the baseline\'s size as a power of two from 1MiB to 8MiB). Larger frames let the compressor reach further back and cost fewer headers; delta rounds keep them small on small images to bound memory.' -rfka ''
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" window' -l 'window' -d 'How far back a duplicate page may be referenced; the decoder keeps this much output. 0 disables duplicate elimination.' -rfka ''
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" history' -l 'history' -d 'Literal history: zstd compresses each frame with the last BYTES of earlier frames\' literals as prefix. Better ratio on sparse images (node heap: 0.72x the size with 4MiB), but slower to encode and decode (frames\' literals decode in sequence). 0 = independent frames.' -rfka ''
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" baseline' -l 'baseline' -d 'Delta against FILE, the image the receiver already has (e.g. the previous pre-copy round). Needed again to decode.' -rfka ''
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" link-rate' -l 'link-rate' -d 'Link rate that --codec auto optimises for, e.g. 100Mbit, 10Gbit, 50MB/s.' -rfka ''
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" page-checksums' -l 'page-checksums' -d 'Checksum each frame and digest the stream over every page\'s XXH3-64 instead of over the bytes (format 1.2, docs/FORMAT.md "Page-list checksums"): the stream\'s digest is no longer a serial pass over all the data, and a delta names its baseline by its pages\' digests. dwcp-migrate file sends its rounds so. Decoders before 1.2 refuse such a stream.'
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" format' -l 'format' -d 'Output format: dwcp (framed, checksummed, page-aware) or zstd (plain zstd stream).' -rfka 'dwcp zstd'
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" stats' -l 'stats' -d 'Print a summary (bytes, ratio, page classes, codec mix, speed) to stderr.'
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" json' -l 'json' -d 'Print the summary as one JSON object (to stdout with -o, else stderr).'
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" o output' -l 'output' -s 'o' -d 'Write to FILE instead of standard output.' -rfka ''
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" f force' -l 'force' -s 'f' -d 'Overwrite an existing output file (replaced only once the output is complete); write binary data to a terminal.'
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" q quiet' -l 'quiet' -s 'q' -d 'Print errors only.'
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode"' -l 'verbose' -s 'v' -d 'More output: -v adds a summary and progress, -vv debug detail.'
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" progress' -l 'progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" no-progress' -l 'no-progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_positional "dwcp-encode" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'dwcp-encode' -n '__dwcp-encode_should_offer_completions_for_flags_or_options "dwcp-encode help" version' -l 'version' -d 'Show the version.'
