#!/usr/bin/env bash
# The shell part of the GitHub Action (action.yml), kept here so the test
# suite runs exactly what CI runs (tests/action.rs).
#
#   scripts/action.sh install   install boundcheck (BC_INSTALL: pip | cargo | none)
#   scripts/action.sh run       run `boundcheck check` (or `baseline`), keep its
#                               exit status in $GITHUB_OUTPUT (exit-code), and
#                               list the files for the artifact (files)
#
# The action uploads the artifact between `run` and the step that fails on a
# non-zero exit-code, so a regression still leaves its report behind.
#
# Inputs come as environment variables (action.yml maps its inputs onto them):
#   BC_MODE            check (default) or baseline
#   BC_COMMAND         the command to measure, as shell words: quotes are
#                      honoured; no pipes, redirections, variables or $(…)
#                      (it is not run by a shell), e.g.  python3 app.py --workers 4
#   BC_BASELINE        the baseline file (default boundcheck-baseline.json):
#                      read by check, written by baseline
#   BC_RUNS            timed runs (default: boundcheck's, 5 for baseline)
#   BC_MAX_REGRESSION, BC_MAX_EFFICIENCY_DROP, BC_MAX_MEMORY_GROWTH
#                      check's limits (default: boundcheck's, 10% 10% 20%)
#   BC_REPORT_DIR      the profiled run's report directory (default boundcheck-report)
#   BC_JUNIT           JUnit XML written by check (default boundcheck-junit.xml; empty: none)
#   BC_ARGS            more arguments for boundcheck, as shell words
#   BC_INSTALL         pip (default): a virtual environment in $RUNNER_TEMP gets
#                      the package built from BC_SOURCE (maturin, with the
#                      runner's cargo) or the wheel BC_WHEEL; cargo: `cargo
#                      install --locked --path BC_SOURCE`; none: use boundcheck
#                      already on PATH
#   BC_SOURCE          boundcheck's source (the action's own checkout)
#   BC_WHEEL           a boundcheck wheel to install instead of building one
#   BOUNDCHECK         the binary to run (default: boundcheck on PATH)
# GitHub's own: GITHUB_OUTPUT, GITHUB_PATH, GITHUB_STEP_SUMMARY, RUNNER_TEMP.
set -euo pipefail

phase=${1:-}
out_file=${GITHUB_OUTPUT:-/dev/null}

install() {
    local how=${BC_INSTALL:-pip} src=${BC_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
    case "$how" in
        pip)
            local venv=${RUNNER_TEMP:-/tmp}/boundcheck-venv
            python3 -m venv "$venv"
            if [[ -n "${BC_WHEEL:-}" ]]; then
                "$venv/bin/pip" install --quiet --disable-pip-version-check "$BC_WHEEL"
            else
                "$venv/bin/pip" install --quiet --disable-pip-version-check "$src"
            fi
            echo "$venv/bin" >>"${GITHUB_PATH:-/dev/null}"
            echo "bin=$venv/bin/boundcheck" >>"$out_file"
            ;;
        cargo)
            cargo install --locked --path "$src"
            echo "bin=$(command -v boundcheck)" >>"$out_file"
            ;;
        none)
            command -v "${BOUNDCHECK:-boundcheck}" >/dev/null || {
                echo "boundcheck action: install: none, but boundcheck is not on PATH" >&2
                exit 2
            }
            ;;
        *)
            echo "boundcheck action: install must be pip, cargo or none, not '$how'" >&2
            exit 2
            ;;
    esac
}

run() {
    local bc=${BOUNDCHECK:-boundcheck} mode=${BC_MODE:-check}
    local baseline=${BC_BASELINE:-boundcheck-baseline.json}
    local report_dir=${BC_REPORT_DIR:-boundcheck-report}
    local junit=${BC_JUNIT-boundcheck-junit.xml}
    local -a command extra args
    # Shell words without a shell (Python's shlex): quotes and escapes are
    # honoured; `$(…)`, `$VAR`, globs and pipes are not, so an input can
    # never run code of its own.
    words() { python3 -c 'import shlex, sys; sys.stdout.write("".join(w + "\0" for w in shlex.split(sys.argv[1])))' "$1"; }
    mapfile -d '' -t command < <(words "${BC_COMMAND:-}")
    mapfile -d '' -t extra < <(words "${BC_ARGS:-}")
    if [[ ${#command[@]} -eq 0 ]]; then
        echo "boundcheck action: the 'command' input is empty: give the command to measure, e.g. python3 app.py" >&2
        echo "exit-code=2" >>"$out_file"
        return 0
    fi
    case "$mode" in
        baseline)
            args=(baseline --out "$baseline" --report-dir "$report_dir")
            ;;
        check)
            args=(check --baseline "$baseline" --report-dir "$report_dir")
            [[ -n "$junit" ]] && args+=(--junit "$junit")
            [[ -n "${BC_MAX_REGRESSION:-}" ]] && args+=(--max-regression "$BC_MAX_REGRESSION")
            [[ -n "${BC_MAX_EFFICIENCY_DROP:-}" ]] && args+=(--max-efficiency-drop "$BC_MAX_EFFICIENCY_DROP")
            [[ -n "${BC_MAX_MEMORY_GROWTH:-}" ]] && args+=(--max-memory-growth "$BC_MAX_MEMORY_GROWTH")
            ;;
        *)
            echo "boundcheck action: mode must be check or baseline, not '$mode'" >&2
            echo "exit-code=2" >>"$out_file"
            return 0
            ;;
    esac
    [[ -n "${BC_RUNS:-}" ]] && args+=(--runs "$BC_RUNS")
    args+=("${extra[@]}" -- "${command[@]}")

    local summary_before=0
    if [[ -n "${GITHUB_STEP_SUMMARY:-}" && -f "$GITHUB_STEP_SUMMARY" ]]; then
        summary_before=$(wc -c <"$GITHUB_STEP_SUMMARY")
    fi
    echo "boundcheck action: $bc ${args[*]}" >&2
    local code=0
    "$bc" "${args[@]}" || code=$?
    # boundcheck appends its markdown to the step summary itself; when it
    # stopped before it could (exit 2: no baseline, bad arguments), the
    # summary still says what happened.
    if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
        local summary_after=0
        [[ -f "$GITHUB_STEP_SUMMARY" ]] && summary_after=$(wc -c <"$GITHUB_STEP_SUMMARY")
        if [[ "$summary_after" -eq "$summary_before" ]]; then
            printf '### boundcheck %s: could not decide (exit %s)\n\nSee the step log for the reason.\n' "$mode" "$code" >>"$GITHUB_STEP_SUMMARY"
        fi
    fi
    echo "exit-code=$code" >>"$out_file"
    # What the artifact keeps: the page, the flamegraphs, the machine-readable
    # files (missing ones are skipped by upload-artifact). Absolute: the
    # upload step resolves relative paths from the workspace, not from
    # working-directory.
    abs() { [[ "$1" == /* ]] && echo "$1" || echo "$PWD/$1"; }
    {
        echo "files<<BOUNDCHECK_FILES"
        abs "$report_dir/"
        if [[ "$mode" == baseline ]]; then abs "$baseline"; fi
        if [[ "$mode" == check && -n "$junit" ]]; then abs "$junit"; fi
        echo "BOUNDCHECK_FILES"
    } >>"$out_file"
    echo "boundcheck action: $mode exited $code" >&2
}

case "$phase" in
    install) install ;;
    run) run ;;
    *)
        echo "usage: scripts/action.sh install|run (inputs in BC_* variables, see the header)" >&2
        exit 2
        ;;
esac
