function __dwcp-predict_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __dwcp-predict_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __dwcp-predict_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __dwcp-predict_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __dwcp-predict_parse_tokens -S
    set -l unparsed_tokens (__dwcp-predict_tokens -pc)
    switch $unparsed_tokens[1]
    case 'dwcp-predict'
        __dwcp-predict_parse_subcommand 0 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'forecast'
            __dwcp-predict_parse_subcommand -r 1 'm/model=' 'horizons=' 'model-file=+' 'follow' 'strict' 'max-gap=' 'q/quiet' 'v/verbose' 'progress' 'no-progress' 'version' 'h/help'
        case 'train'
            __dwcp-predict_parse_subcommand -r 1 'o/output=' 'hidden=' 'epochs=' 'seed=' 'ensemble=' 'horizons=' 'train-percent=' 'loss=' 'score-alphas=' 'blends=' 'force' 'q/quiet' 'v/verbose' 'progress' 'no-progress' 'version' 'h/help'
        case 'eval'
            __dwcp-predict_parse_subcommand -r 1 'horizons=' 'model-file=+' 'train-percent=' 'json' 'q/quiet' 'v/verbose' 'progress' 'no-progress' 'version' 'h/help'
        case 'help'
            __dwcp-predict_parse_subcommand -r 1 'version'
        end
    end
end

function __dwcp-predict_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __dwcp-predict_parse_subcommand -S -a positional_count
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

function __dwcp-predict_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __dwcp-predict_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__dwcp-predict_tokens -p)
    if test -z "$(__dwcp-predict_tokens -t)"
        set -l index (count (__dwcp-predict_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'dwcp-predict' -f
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_positional "dwcp-predict" -eq 1' -fa 'forecast' -d 'Read samples and write one JSON line of forecasts per sample (the default subcommand).'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_positional "dwcp-predict" -eq 1' -fa 'train' -d 'Fit the GRU forecaster on trace directories and write the model file.'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_positional "dwcp-predict" -eq 1' -fa 'eval' -d 'Replay traces in 1 s bins and score every model per dataset and horizon.'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_positional "dwcp-predict" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict forecast" m model' -l 'model' -s 'm' -d 'Model: auto, last, ma5, ewma, harmonic, holt, ar3 or gru.' -rfka ''
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict forecast" horizons' -l 'horizons' -d 'Forecast horizons in seconds, comma-separated.' -rfka ''
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict forecast"' -l 'model-file' -d 'Trained GRU model (from \'dwcp-predict train\'); without it the GRU is not used. Repeat it with one model per link class (each trained on that class\'s traces): auto and gru then follow the class whose training profile the series resembles.' -rfka ''
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict forecast" follow' -l 'follow' -d 'Keep reading after the end of a file, as it grows (tail -f); stop with SIGINT.'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict forecast" strict' -l 'strict' -d 'Stop with exit status 3 at the first bad line instead of skipping it with a warning.'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict forecast" max-gap' -l 'max-gap' -d 'Missing seconds after which the series restarts (models reset); 1 to 3600.' -rfka ''
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict forecast" q quiet' -l 'quiet' -s 'q' -d 'Print errors only.'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict forecast"' -l 'verbose' -s 'v' -d 'More output: -v adds a summary and progress, -vv debug detail.'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict forecast" progress' -l 'progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict forecast" no-progress' -l 'no-progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict forecast" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict forecast" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict train" o output' -l 'output' -s 'o' -d 'Write the model here (default: standard output).' -rfka ''
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict train" hidden' -l 'hidden' -d 'Hidden units.' -rfka ''
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict train" epochs' -l 'epochs' -d 'At most this many passes over the training traces; training stops once the validation loss has not improved by 0.1% for 2 passes, and the best pass is kept.' -rfka ''
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict train" seed' -l 'seed' -d 'Seed for initial weights and shuffling (network i of the ensemble uses seed + i).' -rfka ''
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict train" ensemble' -l 'ensemble' -d 'Networks trained from different seeds that answer together (the mean of their outputs), trained in parallel.' -rfka ''
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict train" horizons' -l 'horizons' -d 'Forecast horizons in seconds, comma-separated.' -rfka ''
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict train" train-percent' -l 'train-percent' -d 'Percent of sessions used for training.' -rfka ''
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict train" loss' -l 'loss' -d 'What training minimises: \'hit\' (a smooth ±20% window around the forecast, what w20 scores: the most likely outcome) or \'squared\' (the squared log error: the mean outcome). See docs/PREDICT.md.' -rfka 'squared hit'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict train" score-alphas' -l 'score-alphas' -d 'Candidate paces for auto\'s scores (weight of each new outcome), comma-separated. One value fixes it.' -rfka ''
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict train" blends' -l 'blends' -d 'Candidate sizes of auto\'s blend contender (the geometric mean of the N best-scoring models, scored like a model; 1: none), comma-separated. With --score-alphas, the pair with the best w20 on the held-out runs is stored. One value fixes it.' -rfka ''
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict train" force' -l 'force' -d 'Overwrite an existing output file.'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict train" q quiet' -l 'quiet' -s 'q' -d 'Print errors only.'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict train"' -l 'verbose' -s 'v' -d 'More output: -v adds a summary and progress, -vv debug detail.'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict train" progress' -l 'progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict train" no-progress' -l 'no-progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict train" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict train" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict eval" horizons' -l 'horizons' -d 'Forecast horizons in seconds, comma-separated.' -rfka ''
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict eval"' -l 'model-file' -d 'Trained GRU model (from \'dwcp-predict train\'); without it the GRU is not used. Repeat it with one model per link class (each trained on that class\'s traces): auto and gru then follow the class whose training profile the series resembles.' -rfka ''
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict eval" train-percent' -l 'train-percent' -d 'Percent of sessions held out for training (not scored).' -rfka ''
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict eval" json' -l 'json' -d 'One JSON object per dataset, model and horizon.'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict eval" q quiet' -l 'quiet' -s 'q' -d 'Print errors only.'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict eval"' -l 'verbose' -s 'v' -d 'More output: -v adds a summary and progress, -vv debug detail.'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict eval" progress' -l 'progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict eval" no-progress' -l 'no-progress' -d 'Force the progress line on or off (default: on when stderr is a terminal).'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict eval" version' -l 'version' -d 'Show the version.'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict eval" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'dwcp-predict' -n '__dwcp-predict_should_offer_completions_for_flags_or_options "dwcp-predict help" version' -l 'version' -d 'Show the version.'
