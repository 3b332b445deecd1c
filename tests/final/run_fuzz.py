#!/usr/bin/env python3
"""Runs the libFuzzer targets (final/'s, chapter 10's) and keeps what they find: `make fuzz`.

    python3 tests/final/run_fuzz.py --bin build-clang/bin                 # every target, 60 s each
    python3 tests/final/run_fuzz.py --bin build-clang/bin --seconds 600 --targets fuzz_http_server

Each target (TARGETS below: the binary and its corpus folder, under
tests/) runs for --seconds on a scratch copy of its
corpus. Then libFuzzer's -merge=1 picks, from the old corpus and the new
inputs together, a smallest set that reaches all the code they reach, and
that set replaces the corpus's generated files (named by their SHA-1).
Files with other names (hand-written seeds, past crashes kept as
regression tests) always stay. So the corpus grows only with what fuzzing
learnt, and CTest's replay (final.fuzz.CORPUS_corpus) runs all of it on
every `make test`.

A crash, a broken promise (the targets abort on one) or a hang is written
to build-clang/fuzz-findings/TARGET/ and the run fails, naming the file.
Fix the bug, then copy the file into the corpus folder: it stays a
regression test. Standard library only.
"""
import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)

# binary -> its corpus folder under tests/
TARGETS = {
    "fuzz_http_head": "final/fuzz_corpus/http_head",
    "fuzz_http_server": "final/fuzz_corpus/http_server",
    "fuzz_websocket_frames": "final/fuzz_corpus/websocket_frames",
    "fuzz_http_client": "final/fuzz_corpus/http_client",
    "fuzz_codecs": "final/fuzz_corpus/codecs",
    "fuzz_template": "final/fuzz_corpus/template",
    "fuzz_http2_server": "final/fuzz_corpus/http2_server",
    "fuzz_hpack": "final/fuzz_corpus/hpack",
    "fuzz_http2_frames": "final/fuzz_corpus/http2_frames",
    "fuzz_http3_server": "final/fuzz_corpus/http3_server",
    "fuzz_http3_frames": "final/fuzz_corpus/http3_frames",
    "fuzz_h2_connection": "10-http2/fuzz_corpus",
}

# The names libFuzzer gives the inputs it keeps: their SHA-1.
GENERATED = re.compile(r"^[0-9a-f]{40}$")

# libFuzzer's last status line: "#123456 DONE cov: 1234 ft: 5678 corp: 90/12Kb ... exec/s: 4321"
STATS = re.compile(r"#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/\S+.*?exec/s: (\d+)")


def fuzz(binary, corpus, seconds, findings, max_len):
    """Runs one target on a scratch copy of its corpus; returns
    (status, stats, the scratch folder)."""
    scratch = tempfile.mkdtemp(prefix="fuzz-")
    for name in os.listdir(corpus):
        shutil.copy(os.path.join(corpus, name), scratch)
    os.makedirs(findings, exist_ok=True)
    command = [binary, "-max_total_time=%d" % seconds, "-timeout=10", "-rss_limit_mb=4096",
               "-max_len=%d" % max_len, "-artifact_prefix=%s/" % findings, "-print_final_stats=1",
               scratch]
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=seconds + 120)
    output = done.stdout.decode(errors="replace")
    match = STATS.search(output)
    stats = None
    if match:
        runs, cov, ft, corp, per_second = (int(x) for x in match.groups())
        stats = {"runs": runs, "cov": cov, "ft": ft, "corp": corp, "exec/s": per_second}
    return done.returncode, stats, scratch, output


def sha1_of(path):
    with open(path, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()


def merge(binary, corpus, scratch):
    """Replaces the generated files of `corpus` by a smallest set of old and
    new inputs with the same coverage; returns (files added, files dropped)."""
    minimal = tempfile.mkdtemp(prefix="fuzz-minimal-")
    try:
        subprocess.run([binary, "-merge=1", minimal, corpus, scratch], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=600, check=True)
        names = os.listdir(corpus)
        kept_by_name = {sha1_of(os.path.join(corpus, n)) for n in names if not GENERATED.match(n)}
        old = {n for n in names if GENERATED.match(n)}
        new = {n for n in os.listdir(minimal) if GENERATED.match(n)} - kept_by_name
        for name in old - new:
            os.remove(os.path.join(corpus, name))
        for name in new - old:
            shutil.copy(os.path.join(minimal, name), corpus)
        return len(new - old), len(old - new)
    finally:
        shutil.rmtree(minimal, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True, help="the folder of the clang build's fuzz targets")
    parser.add_argument("--seconds", type=int, default=60, help="fuzzing time per target (60)")
    parser.add_argument("--targets", default=",".join(TARGETS),
                        help="comma-separated targets (all: %s)" % ",".join(TARGETS))
    parser.add_argument("--max-len", type=int, default=16384, help="largest input tried (bytes)")
    parser.add_argument("--findings", default=None,
                        help="where crashes go (default: BIN/../fuzz-findings)")
    args = parser.parse_args()
    findings_root = args.findings or os.path.join(os.path.dirname(os.path.abspath(args.bin)),
                                                  "fuzz-findings")
    failed = []
    print("| target | runs | exec/s | coverage (edges) | features | corpus | files added / dropped | result |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for target in args.targets.split(","):
        binary = os.path.join(args.bin, target)
        if target not in TARGETS or not os.access(binary, os.X_OK):
            print("| %s | | | | | | | not built (a clang build makes it) |" % target)
            failed.append(target)
            continue
        corpus = os.path.join(TESTS, TARGETS[target])
        findings = os.path.join(findings_root, target)
        status, stats, scratch, output = fuzz(binary, corpus, args.seconds, findings, args.max_len)
        added, dropped = merge(binary, corpus, scratch) if status == 0 else (0, 0)
        shutil.rmtree(scratch, ignore_errors=True)
        if status != 0 or stats is None:
            failed.append(target)
            found = sorted(os.listdir(findings)) if os.path.isdir(findings) else []
            result = "FINDING: " + ", ".join(os.path.join(findings, f) for f in found[-3:])
            sys.stderr.write(output[-3000:])
        else:
            result = "ok"
        stats = stats or {}
        print("| %s | %s | %s | %s | %s | %d | %d / %d | %s |" % (
            target, stats.get("runs", ""), stats.get("exec/s", ""), stats.get("cov", ""),
            stats.get("ft", ""), len(os.listdir(corpus)), added, dropped, result), flush=True)
    if failed:
        print("failed: %s" % ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
