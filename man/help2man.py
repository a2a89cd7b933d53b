#!/usr/bin/env python3
"""Writes a program's man page (troff) from its --help, so both say the same.

    help2man.py OUTPUT PROGRAM NAME VERSION "ONE-LINE DESCRIPTION" [SUBCOMMAND...]

The page has NAME, SYNOPSIS (the Usage line), DESCRIPTION and OPTIONS (the
rest of --help, verbatim), one section per SUBCOMMAND (PROGRAM SUBCOMMAND
--help: the `eoc` command), EXIT STATUS (the line --help gives) and SEE
ALSO. Run at build time by man/meson.build on the freshly built programs.
"""
import subprocess
import sys

SEE_ALSO = ["eoc-ledger", "eoc-forward", "eoc", "eoc-kafka-dev"]


def esc(line):
    """A line of text as troff: backslashes doubled, leading dot or quote guarded."""
    line = line.replace("\\", "\\e")
    if line.startswith((".", "'")):
        line = "\\&" + line
    return line


def verbatim(lines):
    out = [".nf"]
    out += [esc(l) for l in lines]
    out.append(".fi")
    return out


def help_text(argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        sys.exit(f"help2man: {' '.join(argv)} exited with {r.returncode}: {r.stderr}")
    return r.stdout.rstrip("\n").split("\n")


def split_help(lines):
    """(usage lines, the rest, exit-status lines). The usage is the first line
    and the indented lines under it (eoc-kafka-dev's has several)."""
    n = 1
    while n < len(lines) and lines[n][:1] in (" ", "\t"):
        n += 1
    usage = [l[len("Usage: "):] if l.startswith("Usage: ") else l for l in lines[:n]]
    indent = len(lines[0]) - len(lines[0].lstrip()) + len("Usage: ")
    usage = usage[:1] + [l[indent:] if l[:indent].isspace() else l.strip() for l in usage[1:]]
    rest = lines[n:]
    exit_at = next((i for i, l in enumerate(rest) if l.startswith("Exit status:")), len(rest))
    return usage, rest[:exit_at], rest[exit_at:]


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    output, program, name, version, description = sys.argv[1:6]
    subcommands = sys.argv[6:]
    usage, body, exit_lines = split_help(help_text([program, "--help"]))
    page = [
        f'.TH {name.upper()} 1 "" "eoc {version}" "eoc manual"',
        ".SH NAME",
        f"{esc(name)} \\- {esc(description)}",
        ".SH SYNOPSIS",
    ]
    page += verbatim(usage)
    page.append(".SH DESCRIPTION")
    page += verbatim(body)
    for sub in subcommands:
        sub_usage, sub_body, _ = split_help(help_text([program, sub, "--help"]))
        page.append(f".SH {name.upper()} {sub.upper()}")
        page += verbatim(sub_usage + sub_body)
    if exit_lines:
        page.append(".SH EXIT STATUS")
        page += verbatim(exit_lines)
    page.append(".SH SEE ALSO")
    page.append(", ".join(f"\\fB{p}\\fR(1)" for p in SEE_ALSO if p != name) +
                "; README.md of the eoc sources.")
    with open(output, "w", encoding="utf-8") as f:
        f.write("\n".join(page) + "\n")


if __name__ == "__main__":
    main()
