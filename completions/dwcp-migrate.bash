#!/bin/bash

__dwcp-migrate_cursor_index_in_current_word() {
    local remaining="${COMP_LINE}"

    local word
    for word in "${COMP_WORDS[@]::COMP_CWORD}"; do
        remaining="${remaining##*([[:space:]])"${word}"*([[:space:]])}"
    done

    local -ir index="$((COMP_POINT - ${#COMP_LINE} + ${#remaining}))"
    if [[ "${index}" -le 0 ]]; then
        printf 0
    else
        printf %s "${index}"
    fi
}

# positional arguments:
#
# - 1: the current (sub)command's count of positional arguments
#
# required variables:
#
# - repeating_flags: the repeating flags that the current (sub)command can accept
# - non_repeating_flags: the non-repeating flags that the current (sub)command can accept
# - repeating_options: the repeating options that the current (sub)command can accept
# - non_repeating_options: the non-repeating options that the current (sub)command can accept
# - positional_number: value ignored
# - unparsed_words: unparsed words from the current command line
#
# modified variables:
#
# - non_repeating_flags: remove flags for this (sub)command that are already on the command line
# - non_repeating_options: remove options for this (sub)command that are already on the command line
# - positional_number: set to the current positional number
# - unparsed_words: remove all flags, options, and option values for this (sub)command
__dwcp-migrate_offer_flags_options() {
    local -ir positional_count="${1}"
    positional_number=0

    local was_flag_option_terminator_seen=false
    local is_parsing_option_value=false

    local -ar unparsed_word_indices=("${!unparsed_words[@]}")
    local -i word_index
    for word_index in "${unparsed_word_indices[@]}"; do
        if "${is_parsing_option_value}"; then
            # This word is an option value:
            # Reset marker for next word iff not currently the last word
            [[ "${word_index}" -ne "${unparsed_word_indices[${#unparsed_word_indices[@]} - 1]}" ]] && is_parsing_option_value=false
            unset "unparsed_words[${word_index}]"
            # Do not process this word as a flag or an option
            continue
        fi

        local word="${unparsed_words["${word_index}"]}"
        if ! "${was_flag_option_terminator_seen}"; then
            case "${word}" in
            --)
                unset "unparsed_words[${word_index}]"
                # by itself -- is a flag/option terminator, but if it is the last word, it is the start of a completion
                if [[ "${word_index}" -ne "${unparsed_word_indices[${#unparsed_word_indices[@]} - 1]}" ]]; then
                    was_flag_option_terminator_seen=true
                fi
                continue
                ;;
            -*)
                # ${word} is a flag or an option
                # If ${word} is an option, mark that the next word to be parsed is an option value
                local option
                for option in "${repeating_options[@]}" "${non_repeating_options[@]}"; do
                    [[ "${word}" = "${option}" ]] && is_parsing_option_value=true && break
                done

                # Remove ${word} from ${non_repeating_flags} or ${non_repeating_options} so it isn't offered again
                local not_found=true
                local -i index
                for index in "${!non_repeating_flags[@]}"; do
                    if [[ "${non_repeating_flags[${index}]}" = "${word}" ]]; then
                        unset "non_repeating_flags[${index}]"
                        non_repeating_flags=("${non_repeating_flags[@]}")
                        not_found=false
                        break
                    fi
                done
                if "${not_found}"; then
                    for index in "${!non_repeating_flags[@]}"; do
                        if [[ "${non_repeating_flags[${index}]}" = "${word}" ]]; then
                            unset "non_repeating_flags[${index}]"
                            non_repeating_flags=("${non_repeating_flags[@]}")
                            break
                        fi
                    done
                fi
                unset "unparsed_words[${word_index}]"
                continue
                ;;
            esac
        fi

        # ${word} is neither a flag, nor an option, nor an option value
        if [[ "${positional_number}" -lt "${positional_count}" || "${positional_count}" -lt 0 ]]; then
            # ${word} is a positional
            ((positional_number++))
            unset "unparsed_words[${word_index}]"
        else
            if [[ -z "${word}" ]]; then
                # Could be completing a flag, option, or subcommand
                positional_number=-1
            else
                # ${word} is a subcommand or invalid, so stop processing this (sub)command
                positional_number=-2
            fi
            break
        fi
    done

    unparsed_words=("${unparsed_words[@]}")

    if\
        ! "${was_flag_option_terminator_seen}"\
        && ! "${is_parsing_option_value}"\
        && [[ ("${cur}" = -* && "${positional_number}" -ge 0) || "${positional_number}" -eq -1 ]]
    then
        COMPREPLY+=($(compgen -W "${repeating_flags[*]} ${non_repeating_flags[*]} ${repeating_options[*]} ${non_repeating_options[*]}" -- "${cur}"))
    fi
}

__dwcp-migrate_add_completions() {
    local completion
    while IFS='' read -r completion; do
        COMPREPLY+=("${completion}")
    done < <(IFS=$'\n' compgen "${@}" -- "${cur}")
}

__dwcp-migrate_custom_complete() {
    if [[ -n "${cur}" || -z ${COMP_WORDS[${COMP_CWORD}]} || "${COMP_LINE:${COMP_POINT}:1}" != ' ' ]]; then
        local -ar words=("${COMP_WORDS[@]}")
    else
        local -ar words=("${COMP_WORDS[@]::${COMP_CWORD}}" '' "${COMP_WORDS[@]:${COMP_CWORD}}")
    fi

    "${COMP_WORDS[0]}" "${@}" "${words[@]}"
}

_dwcp-migrate() {
    local state
    state="$(shopt -p;shopt -po)"
    trap "${state//$'\n'/;}" RETURN
    shopt -s extglob
    set +o history +o posix

    local -xr SAP_SHELL=bash
    local -x SAP_SHELL_VERSION
    SAP_SHELL_VERSION="$(IFS='.';printf %s "${BASH_VERSINFO[*]}")"
    local -r SAP_SHELL_VERSION

    local -r cur="${2}"
    local -r prev="${3}"

    local -i positional_number
    local -a unparsed_words=("${COMP_WORDS[@]:1:${COMP_CWORD}}")

    local -a repeating_flags=()
    local -a non_repeating_flags=(--version -h --help)
    local -a repeating_options=()
    local -a non_repeating_options=()
    __dwcp-migrate_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    qemu|file|receive|recover|help)
        # Offer subcommand argument completions
        "_dwcp-migrate_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'qemu file receive recover help' -- "${cur}"))
        ;;
    esac
}

_dwcp-migrate_qemu() {
    repeating_flags=(--verbose -v)
    non_repeating_flags=(--dry-run --json --tls --auto-converge --keep-source --quiet -q --progress --no-progress --version -h --help)
    repeating_options=(--reference)
    non_repeating_options=(--qmp --to --max-downtime --codec --streams --cc --link-rate --rtt --rate-probe --resume-timeout -T --threads --secret-file --cert --key --ca --tls-name --max-rounds --xbzrle)
    __dwcp-migrate_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--qmp')
        return
        ;;
    '--to')
        return
        ;;
    '--max-downtime')
        return
        ;;
    '--codec')
        return
        ;;
    '--streams')
        return
        ;;
    '--cc')
        return
        ;;
    '--link-rate')
        return
        ;;
    '--rtt')
        return
        ;;
    '--rate-probe')
        __dwcp-migrate_add_completions -W 'auto'$'\n''burst'$'\n''transfer'
        return
        ;;
    '--resume-timeout')
        return
        ;;
    '-T'|'--threads')
        return
        ;;
    '--secret-file')
        return
        ;;
    '--cert')
        return
        ;;
    '--key')
        return
        ;;
    '--ca')
        return
        ;;
    '--tls-name')
        return
        ;;
    '--max-rounds')
        return
        ;;
    '--xbzrle')
        return
        ;;
    '--reference')
        return
        ;;
    esac
}

_dwcp-migrate_file() {
    repeating_flags=(--verbose -v)
    non_repeating_flags=(--dry-run --json --tls --resume --quiet -q --progress --no-progress --version -h --help)
    repeating_options=()
    non_repeating_options=(--to --max-downtime --codec --streams --cc --link-rate --rtt --rate-probe --resume-timeout -T --threads --secret-file --cert --key --ca --tls-name --max-rounds --freeze --thaw --work-dir)
    __dwcp-migrate_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--to')
        return
        ;;
    '--max-downtime')
        return
        ;;
    '--codec')
        return
        ;;
    '--streams')
        return
        ;;
    '--cc')
        return
        ;;
    '--link-rate')
        return
        ;;
    '--rtt')
        return
        ;;
    '--rate-probe')
        __dwcp-migrate_add_completions -W 'auto'$'\n''burst'$'\n''transfer'
        return
        ;;
    '--resume-timeout')
        return
        ;;
    '-T'|'--threads')
        return
        ;;
    '--secret-file')
        return
        ;;
    '--cert')
        return
        ;;
    '--key')
        return
        ;;
    '--ca')
        return
        ;;
    '--tls-name')
        return
        ;;
    '--max-rounds')
        return
        ;;
    '--freeze')
        return
        ;;
    '--thaw')
        return
        ;;
    '--work-dir')
        return
        ;;
    esac
}

_dwcp-migrate_receive() {
    repeating_flags=(--verbose -v)
    non_repeating_flags=(--no-prefault --json --tls --quiet -q --progress --no-progress --version -h --help)
    repeating_options=(--reference)
    non_repeating_options=(--listen --qmp --output -o --journal-dir --idle-timeout -T --threads --secret-file --cert --key --ca)
    __dwcp-migrate_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--listen')
        return
        ;;
    '--qmp')
        return
        ;;
    '--output'|'-o')
        return
        ;;
    '--journal-dir')
        return
        ;;
    '--idle-timeout')
        return
        ;;
    '-T'|'--threads')
        return
        ;;
    '--reference')
        return
        ;;
    '--secret-file')
        return
        ;;
    '--cert')
        return
        ;;
    '--key')
        return
        ;;
    '--ca')
        return
        ;;
    esac
}

_dwcp-migrate_recover() {
    repeating_flags=(--verbose -v)
    non_repeating_flags=(--verify --json --quiet -q --progress --no-progress --version -h --help)
    repeating_options=()
    non_repeating_options=(--journal-dir)
    __dwcp-migrate_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--journal-dir')
        return
        ;;
    esac
}

_dwcp-migrate_help() {
    repeating_flags=()
    non_repeating_flags=(--version)
    repeating_options=()
    non_repeating_options=()
    __dwcp-migrate_offer_flags_options -1
}

complete -o filenames -F _dwcp-migrate dwcp-migrate
