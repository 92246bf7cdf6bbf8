#!/usr/bin/env python3
"""Add each option's default and allowed values to a generated man page.

swift-argument-parser's generate-manual plugin leaves them out, though `--help`
shows them ("(values: zstd, lz4; default: zstd)"). This reads the mdoc page the
plugin wrote and the tool's own `--experimental-dump-help` JSON, and appends the
same parenthesis to each option's description, so the man page tells what
`--help` tells.

It also turns the blank lines the plugin copies from a discussion into `.Pp`, mdoc's
paragraph break: groff and mandoc warn about an empty input line, and render a
blank line either way.

usage: man-defaults.py PAGE.1 DUMP-HELP.json > OUT.1
"""
import json
import sys


def argument_key(names):
    """The key an argument is found by: its long name, else its short name."""
    longs = [n["name"] for n in names if n["kind"] in ("long", "longWithSingleDash")]
    shorts = [n["name"] for n in names if n["kind"] == "short"]
    if longs:
        return "-" + longs[0]           # mdoc writes --codec as `Fl -codec`
    return shorts[0] if shorts else None


def note_for(argument):
    """The parenthesis `--help` prints after the abstract, or None."""
    if argument.get("kind") == "flag":
        return None
    parts = []
    values = argument.get("allValues")
    if values:
        parts.append("values: " + ", ".join(values))
    default = argument.get("defaultValue")
    if default is not None and default != "":
        parts.append("default: " + default)
    return "(" + "; ".join(parts) + ")" if parts else None


def index_commands(command, path, table):
    """Maps each command path (tuple of names) to {key: note} for its arguments."""
    notes = {}
    for argument in command.get("arguments", []):
        note = note_for(argument)
        if note is None:
            continue
        if argument.get("kind") == "positional":
            notes["Ar " + argument.get("valueName", "")] = note
        else:
            key = argument_key(argument.get("names", []))
            if key:
                notes["Fl " + key] = note
    table[path] = notes
    for sub in command.get("subcommands", []):
        index_commands(sub, path + (sub["commandName"],), table)


def item_key(line):
    """`.It Fl o , -output Ar FILE` -> `Fl -output`; `.It Ar FILE...` -> `Ar FILE`."""
    words = line.split()[1:]
    if not words:
        return None
    if words[0] == "Ar":
        return "Ar " + words[1].rstrip(".") if len(words) > 1 else None
    if words[0] != "Fl":
        return None
    names = []
    for w in words[1:]:
        if w == "Ar":
            break
        if w not in ("Fl", ","):
            names.append(w)
    longs = [n for n in names if n.startswith("-")]
    if longs:
        return "Fl " + longs[0]
    return "Fl " + names[0] if names else None


def escape(text):
    text = text.replace("\\", "\\e")
    return "\\&" + text if text[:1] in (".", "'") else text


def main():
    page_path, dump_path = sys.argv[1], sys.argv[2]
    with open(dump_path) as f:
        root = json.load(f)["command"]
    table = {}
    index_commands(root, (), table)

    lines = open(page_path).read().split("\n")
    out = []
    stack = []          # command path of each open .Bl list
    named = ()          # path named by the last `.It Em NAME` at this level
    pending = None      # note to write before the next item of the current list
    for index, line in enumerate(lines):
        if line == "" and index < len(lines) - 1:
            out.append(".Pp")
            continue
        starts_item = line.startswith(".It ") or line == ".It"
        if pending and (starts_item or line.startswith(".El") or line.startswith(".Bl")):
            out.append(escape(pending))
            pending = None
        if line.startswith(".Bl"):
            stack.append(named if stack else ())
        elif line.startswith(".El"):
            if stack:
                stack.pop()
        elif starts_item and stack:
            words = line.split()
            if len(words) >= 3 and words[1] == "Em":
                named = stack[-1] + (words[2],)
            else:
                key = item_key(line)
                pending = table.get(stack[-1], {}).get(key) if key else None
        out.append(line)
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
