#!/usr/bin/env python3
"""What a user waits for: the whole `tokenconf` binary against a standalone `tokenconf mock`
process, beside wrk's request rate on the same mock.

    python3 bench/compare.py [--cases 10000] [--files 20] [--runs 5] [--scale]

Workloads (one client_credentials POST with Basic per case):
  lean  status 200, Cache-Control contains no-store, token_type Bearer in any case,
        expires_in an integer >= 1, access_token present (the checks measured against Hurl)
  full  the checks of suites/talkdesk/token.yaml's first case (+ content-type regex, schema,
        rule set)
Prints min and median wall time of --runs interleaved runs, cases/s, peak RSS, the time of
`list` and `validate`, and wrk -t2 -c8 on the same mock (5 s after the runs, and 1 s in each
round of them); each warm (suites read back from the parse cache, as every run after the first)
and cold (TOKENCONF_CACHE=off, as a first run). --scale adds the cost per case from
1,000 to 100,000 cases in one file. Builds the binary it measures (`cargo build --profile release`;
`--profile dist` measures the release archives' build, optimized across crates: ~15 minutes on 2 cores);
needs wrk (`apt-get install wrk`); with `hurl` on PATH, Hurl runs the lean checks on the same
mock (best of --jobs 2, 4, 8, 16), interleaved with the rest, and the ratio is printed beside wrk's.
CPU s is the tokenconf process's user + sys time (median), the steady figure on a busy machine.
`--files 1` is the harder layout (one file, loading not spread over files);
`TOKENCONF_HTTP=reqwest python3 bench/compare.py` measures the old request path.
"""

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "tokenconf")
SECRET = "test-only-talkdesk-secret"

REQUEST = """    request:
      path: /oauth/token
      auth: { basic: { user: "{{ client_id }}", password: "{{ client_secret }}" } }
      form: { grant_type: client_credentials }
"""

LEAN = """    expect:
      status: 200
      headers:
        cache-control: { contains: no-store }
      json:
        $.token_type: { equals_ignore_case: Bearer }
        $.expires_in: { type: integer, min: 1 }
        $.access_token: exists
"""

FULL = """    expect:
      status: 200
      headers:
        cache-control: { contains: no-store }
        content-type: { matches: "^application/json" }
      schema: talkdesk/token-response.schema.json
      rules: [talkdesk.token-response]
      json:
        $.token_type: { equals_ignore_case: Bearer }
        $.expires_in: { type: integer, min: 1, max: 600 }
        $.access_token: { type: string }
"""


def write_suites(folder, cases, files, expect):
    os.makedirs(folder, exist_ok=True)
    per_file = cases // files
    for f in range(files):
        lines = [
            "api: talkdesk\n",
            "vars:\n  client_id: conformance-client\n",
            "secrets: [client_secret]\n",
            "cases:\n",
        ]
        for c in range(per_file):
            lines.append(f"  - name: case {f} {c}\n")
            lines.append(REQUEST)
            lines.append(expect)
        with open(os.path.join(folder, f"bench-{f:03}.yaml"), "w") as out:
            out.writelines(lines)


HURL_CHECKS = """HTTP 200
[Asserts]
header "Cache-Control" contains "no-store"
jsonpath "$.token_type" matches /^(?i)bearer$/
jsonpath "$.expires_in" isInteger
jsonpath "$.expires_in" >= 1
jsonpath "$.access_token" exists
"""


def write_hurl(folder, cases, files, port):
    """The lean workload as Hurl files: the same request and checks, one entry per case."""
    os.makedirs(folder, exist_ok=True)
    per_file = cases // files
    entry = (
        f"POST http://127.0.0.1:{port}/oauth/token\n"
        f"[BasicAuth]\nconformance-client: {SECRET}\n"
        "[FormParams]\ngrant_type: client_credentials\n"
        + HURL_CHECKS
        + "\n"
    )
    paths = []
    for f in range(files):
        path = os.path.join(folder, f"bench-{f:03}.hurl")
        with open(path, "w") as out:
            out.write(entry * per_file)
        paths.append(path)
    return paths


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(args, env=None):
    """Wall seconds, peak RSS (MB) and CPU seconds (user + sys) of one run of the binary."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = usage.ru_maxrss
    cpu_before = usage.ru_utime + usage.ru_stime
    start = time.perf_counter()
    proc = subprocess.run(
        args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args)} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    # ru_maxrss of children is the largest child so far; a smaller one reads as the old peak.
    return wall, max(usage.ru_maxrss, before) / 1024, cpu


def peak_rss(args, env=None):
    """Peak RSS (MB) of one run, measured alone with GNU time's -f %M when available."""
    gnu_time = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    if not gnu_time:
        return None
    proc = subprocess.run(
        [gnu_time, "-f", "%M"] + args,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        return int(proc.stderr.decode().strip().splitlines()[-1]) / 1024
    except (ValueError, IndexError):
        return None


def wrk(port, seconds):
    if not shutil.which("wrk"):
        return None
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    import base64

    basic = base64.b64encode(f"conformance-client:{SECRET}".encode()).decode()
    script.write(
        'wrk.method = "POST"\n'
        'wrk.body = "grant_type=client_credentials"\n'
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
        f'wrk.headers["Authorization"] = "Basic {basic}"\n'
    )
    script.close()
    out = subprocess.run(
        ["wrk", "-t2", "-c8", f"-d{seconds}s", "-s", script.name, f"http://127.0.0.1:{port}/oauth/token"],
        capture_output=True,
        text=True,
    ).stdout
    os.unlink(script.name)
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=None, help="default: tokenconf's own default")
    parser.add_argument(
        "--profile", default="release",
        help="cargo profile to build and measure; `dist` is the release archives' build (slow to build)",
    )
    parser.add_argument("--scale", action="store_true", help="also 1,000 to 100,000 cases in one file")
    args = parser.parse_args()

    global BIN
    BIN = os.path.join(ROOT, "target", args.profile, "tokenconf")
    subprocess.run(["cargo", "build", "--profile", args.profile, "--quiet"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="tokenconf-bench-")
    port = free_port()
    mock = subprocess.Popen(
        [BIN, "mock", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        targets = os.path.join(work, "targets.yaml")
        with open(targets, "w") as t:
            t.write(
                "targets:\n  bench:\n    talkdesk:\n"
                f"      base_url: http://127.0.0.1:{port}\n"
                '      secrets: { client_secret: "${BENCH_SECRET}" }\n'
            )
        # The parse cache in a folder of the benchmark's own; "cold" runs go without it, as a
        # first run (or an edited suite) does.
        env = dict(os.environ, BENCH_SECRET=SECRET, NO_COLOR="1", TOKENCONF_CACHE=os.path.join(work, "cache"))
        cold_env = dict(env, TOKENCONF_CACHE="off")
        workloads = {"lean": LEAN, "full": FULL}
        for name, expect in workloads.items():
            write_suites(os.path.join(work, name), args.cases, args.files, expect)

        def run_args(name, folder=None):
            return [
                BIN, "run", folder or os.path.join(work, name), "--targets", targets, "--target", "bench",
                "--report-dir", os.path.join(work, "reports-" + name),
            ] + (["--jobs", str(args.jobs)] if args.jobs else [])

        hurl = shutil.which("hurl")
        hurl_files = write_hurl(os.path.join(work, "hurl"), args.cases, args.files, port) if hurl else []
        hurl_jobs = (2, 4, 8, 16)
        hurl_times = {jobs: [] for jobs in hurl_jobs}
        for name in workloads:  # fills the cache
            timed([BIN, "list", os.path.join(work, name)], env)
        kinds = [(name, cache) for cache in ("warm", "cold") for name in workloads]
        times = {kind: [] for kind in kinds}
        # CPU seconds of the tokenconf process: on a busy machine, the steadier figure.
        cpus = {kind: [] for kind in kinds}
        # The run phase alone (summary.json's duration_ms: first request to last outcome),
        # beside the whole process, to show what loading and reports add.
        phase = {name: [] for name in workloads}
        # wrk too, a second per round: the host's speed drifts by 20% within minutes, and a share
        # of wrk means something only when both were measured under the same drift.
        wrk_rounds = []
        for _ in range(args.runs):  # interleaved, so drift in the machine hits all alike
            wrk_rounds.append(wrk(port, 1))
            for name, cache in kinds:
                wall, _, cpu = timed(run_args(name), env if cache == "warm" else cold_env)
                times[(name, cache)].append(wall)
                cpus[(name, cache)].append(cpu)
                if cache == "warm":
                    with open(os.path.join(work, "reports-" + name, "summary.json")) as f:
                        phase[name].append(json.load(f)["duration_ms"] / 1000)
            for jobs in hurl_times if hurl else ():
                hurl_args = [hurl, "--test", "--jobs", str(jobs), "--no-output"] + hurl_files
                hurl_times[jobs].append(timed(hurl_args)[0])
        print(f"{args.cases} cases in {args.files} files, --jobs {args.jobs or 'default'}, profile {args.profile}, {args.runs} runs each")
        print("warm: suites read from the parse cache; cold: TOKENCONF_CACHE=off (a first run)")
        print(f"{'workload':<12}{'min s':>8}{'median s':>10}{'cases/s':>10}{'peak MB':>9}{'CPU s':>8}{'CPU µs/case':>13}")
        rates = {}
        for (name, cache), walls in times.items():
            median = statistics.median(walls)
            rates[(name, cache)] = args.cases / median
            rss = peak_rss(run_args(name), env if cache == "warm" else cold_env)
            rss_text = f"{rss:>9.0f}" if rss else f"{'-':>9}"
            label = f"{name} {cache}"
            cpu = statistics.median(cpus[(name, cache)])
            print(
                f"{label:<12}{min(walls):>8.3f}{median:>10.3f}{rates[(name, cache)]:>10.0f}{rss_text}"
                f"{cpu:>8.3f}{cpu / args.cases * 1e6:>13.0f}"
            )
        for command in ("list", "validate"):
            for cache, e in (("warm", env), ("cold", cold_env)):
                walls = [timed([BIN, command, os.path.join(work, "full")], e)[0] for _ in range(args.runs)]
                print(f"{command} of {args.cases} full cases, {cache}: min {min(walls)*1000:.0f} ms, median {statistics.median(walls)*1000:.0f} ms")
        rps = wrk(port, 5)
        for name, spans in phase.items():
            median = statistics.median(spans)
            print(f"{name} run phase alone: median {median:.3f} s, {args.cases / median:.0f} cases/s")
        # Each round's lean run against the wrk second just before it, then the median.
        rounds = [(wall, r) for wall, r in zip(times[("lean", "warm")], wrk_rounds) if r]
        if rounds:
            shares = [args.cases / wall / r for wall, r in rounds]
            rps_rounds = [r for _, r in rounds]
            print(
                f"wrk -t2 -c8, 1 s in each round before its runs: median {statistics.median(rps_rounds):.0f} req/s "
                f"(min {min(rps_rounds):.0f}, max {max(rps_rounds):.0f}); tokenconf lean's share of it, "
                f"round by round: median {statistics.median(shares):.0%} (min {min(shares):.0%}, max {max(shares):.0%})"
            )
        if rps:
            print(
                f"wrk -t2 -c8 on the same mock, 5 s after the runs: {rps:.0f} req/s; tokenconf lean is "
                f"{rates[('lean', 'warm')]/rps:.0%} of it (cold {rates[('lean', 'cold')]/rps:.0%}), full "
                f"{rates[('full', 'warm')]/rps:.0%} (cold {rates[('full', 'cold')]/rps:.0%})"
            )
            lean_phase = args.cases / statistics.median(phase["lean"])
            print(f"  run phase alone: lean {lean_phase / rps:.0%} of wrk")
        else:
            print("wrk not found: apt-get install wrk")
        if hurl:
            best = min(hurl_jobs, key=lambda j: statistics.median(hurl_times[j]))
            hurl_rate = args.cases / statistics.median(hurl_times[best])
            print(
                f"hurl --test, best --jobs {best}: min {min(hurl_times[best]):.3f} s, median "
                f"{statistics.median(hurl_times[best]):.3f} s, {hurl_rate:.0f} cases/s; tokenconf lean is "
                f"{rates[('lean', 'warm')]/hurl_rate:.2f}x it, full {rates[('full', 'warm')]/hurl_rate:.2f}x"
            )
        else:
            print("hurl not found: cargo install --locked hurl (needs libcurl's development package)")
        if args.scale:
            print("\ncost per case, one file, lean checks:")
            for n in (1000, 10000, 100000):
                folder = os.path.join(work, f"scale-{n}")
                write_suites(folder, n, 1, LEAN)
                wall, _, _ = timed(run_args("scale", folder), env)
                rss = peak_rss(run_args("scale", folder), env)
                print(f"  {n:>7} cases: {wall:.2f} s, {wall/n*1e6:.0f} µs per case, peak {rss or 0:.0f} MB")
    finally:
        mock.terminate()
        mock.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
