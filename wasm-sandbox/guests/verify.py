"""Smoke-checks the built guests with wasmtime-py (a Python embedding of the
wasmtime C API; pip package `wasmtime`). Not used by the Rust test suite: it
exists so a rebuild can be checked without building Shoal
(`bash build.sh --verify`). Prints one line per check and a closing
"N passed, N failed" line; exits 1 if any check failed.

wasmtime-py cannot create incoming HTTP requests, so the HTTP guests
(http-hello, http-caller) are served with `jco serve` (npm package
@bytecodealliance/jco: transpiles the component to JS and serves it with
Node.js) when env JCO points at a jco binary; otherwise they are skipped.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import wasmtime
from wasmtime import component as wc

HERE = os.path.dirname(os.path.abspath(__file__))
RUN = "wasi:cli/run@0.2.12"

cfg = wasmtime.Config()
cfg.wasm_component_model = True
cfg.consume_fuel = True
ENGINE = wasmtime.Engine(cfg)
_cache = {}
results = {"passed": 0, "failed": 0}


class Outcome:
    def __init__(self, stdout, stderr, status, error, elapsed):
        self.stdout, self.stderr = stdout, stderr
        # status: "ok" | "err" (component run failed) | int exit code (core) |
        # "trap" | "exit:<n>" (component exit trap)
        self.status, self.error, self.elapsed = status, error, elapsed

    def __repr__(self):
        return f"status={self.status!r} error={self.error!r} stdout={self.stdout[:300]!r} stderr={self.stderr[:300]!r}"


def run(name, args=(), env=(), preopens=(), fuel=None, memory=None, core=False):
    path = os.path.join(HERE, name + (".core.wasm" if core else ".wasm"))
    with tempfile.TemporaryDirectory() as tmp:
        out, err = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
        w = wasmtime.WasiConfig()
        w.argv = [name, *args]
        w.env = list(env)
        w.stdout_file = out
        w.stderr_file = err
        for host, guest in preopens:
            w.preopen_dir(host, guest)
        store = wasmtime.Store(ENGINE)
        store.set_wasi(w)
        store.set_fuel(fuel if fuel is not None else 2**62)
        if memory is not None:
            store.set_limits(memory_size=memory)
        status, error = None, None
        start = time.monotonic()
        try:
            if core:
                if path not in _cache:
                    _cache[path] = wasmtime.Module.from_file(ENGINE, path)
                linker = wasmtime.Linker(ENGINE)
                linker.define_wasi()
                inst = linker.instantiate(store, _cache[path])
                inst.exports(store)["_start"](store)
                status = 0
            else:
                if path not in _cache:
                    _cache[path] = wc.Component.from_file(ENGINE, path)
                linker = wc.Linker(ENGINE)
                linker.add_wasip2()
                inst = linker.instantiate(store, _cache[path])
                iface = inst.get_export_index(store, RUN)
                res = inst.get_func(store, inst.get_export_index(store, "run", iface))(store)
                status = res.tag
        except wasmtime.ExitTrap as e:
            status = e.code if core else f"exit:{e.code}"
            error = str(e)
        except wasmtime.Trap as e:
            status, error = "trap", str(e)
        except wasmtime.WasmtimeError as e:
            # component calls report traps as errors whose cause is the trap
            error = str(e)
            status = "trap" if "wasm trap:" in error else "error"
        elapsed = time.monotonic() - start
        with open(out, errors="replace") as f:
            so = f.read()
        with open(err, errors="replace") as f:
            se = f.read()
        return Outcome(so, se, status, error, elapsed)


def check(label, cond, outcome=None):
    if cond:
        results["passed"] += 1
        print(f"ok   {label}")
    else:
        results["failed"] += 1
        print(f"FAIL {label}: {outcome!r}")


def ok_status(o, code, core):
    """Exit status as a host sees it: exact code for a preview-1 module;
    success/failure for a component."""
    if core:
        return o.status == code
    if code == 0:
        return o.status == "ok"
    return o.status in ("err",) or (isinstance(o.status, str) and o.status.startswith("exit:"))


def lcg(n):
    s = 1
    for _ in range(n):
        s = (s * 6364136223846793005 + 1442695040888963407) & (2**64 - 1)
    return s


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Served:
    """`jco serve <guest>` in its own process group, stopped on exit."""

    def __init__(self, jco, name, env):
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix=f"jco-{name}-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [jco, "serve", os.path.join(HERE, name + ".wasm"), "--host", "127.0.0.1", "--port", str(self.port)],
            env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def __enter__(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"jco serve did not listen on {self.port}")

    def __exit__(self, *exc):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def logs(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()


def get(url, timeout=10):
    """(status, content-type, body) or (None, None, exception text)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers.get("content-type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type"), e.read().decode()
    except Exception as e:  # timeouts, resets
        return None, None, repr(e)


def http_checks(jco):
    hello_env = {"POD_NAME": "web-1", "CONTAINER_NAME": "main"}
    with Served(jco, "http-hello", hello_env) as hello:
        r = get(hello.url("/some/path?x=1"))
        check("http-hello: 200 text/plain with pod/container/path",
              r == (200, "text/plain", "hello from web-1/main path=/some/path?x=1\n"), r)
        dead = free_port()
        with Served(jco, "http-caller", {"TARGET_URL": hello.url("/from-caller?a=b")}) as caller:
            r = get(caller.url("/"))
            check("http-caller: calls TARGET_URL",
                  r == (200, "text/plain", "caller got 200: hello from web-1/main path=/from-caller?a=b\n"), r)
        with Served(jco, "http-caller", {"TARGET_URL": f"http://127.0.0.1:{dead}/"}) as caller:
            r = get(caller.url("/"))
            check("http-caller: refused connection -> 502", r == (502, "text/plain", "caller failed: connection-refused"), r)
        with Served(jco, "http-caller", {}) as caller:
            r = get(caller.url("/"))
            check("http-caller: no TARGET_URL -> 502", r == (502, "text/plain", "caller failed: TARGET_URL not set"), r)
        r = get(hello.url("/spin"), timeout=2)
        check("http-hello: /spin never answers", r[0] is None and "timed out" in r[2], r)
    # jco serve runs every request in one Node process, so a trap takes the
    # whole server down; Shoal's host isolates requests. Check the trap only.
    with Served(jco, "http-hello", hello_env) as hello:
        r = get(hello.url("/crash"))
        time.sleep(0.5)
        check("http-hello: /crash traps", r[0] is None and "wasm `unreachable` instruction executed" in hello.logs(),
              (r, hello.logs()[-400:]))


def main():
    for core in (False, True):
        k = "hello.core" if core else "hello"
        o = run("hello", ["a", "b c"], [("ZED", "1"), ("ALPHA", "2")], core=core)
        check(f"{k}: args, sorted env, stderr, exit 0",
              o.stdout == "args: a b c\nALPHA=2\nZED=1\n" and o.stderr == "hello stderr\n" and ok_status(o, 0, core), o)
        o = run("hello", core=core)
        check(f"{k}: no args", o.stdout == "args: \n" and ok_status(o, 0, core), o)
        o = run("hello", env=[("EXIT_CODE", "7")], core=core)
        check(f"{k}: EXIT_CODE=7", ok_status(o, 7, core), o)
        with tempfile.TemporaryDirectory() as vol:
            o = run("hello", env=[("OUT_FILE", "/data/out.txt"), ("HOSTNAME", "pod-1")],
                    preopens=[(vol, "/data")], core=core)
            with open(os.path.join(vol, "out.txt")) as f:
                content = f.read()
            check(f"{k}: OUT_FILE in a preopen", "wrote /data/out.txt\n" in o.stdout
                  and content == "hello from pod-1\n" and ok_status(o, 0, core), o)
        o = run("hello", env=[("OUT_FILE", "/nowhere/out.txt")], core=core)
        check(f"{k}: OUT_FILE outside preopens fails",
              re.search(r"^write failed: .+$", o.stderr, re.M) is not None and ok_status(o, 1, core), o)

    o = run("noop")
    check("noop: no output, exit 0", o.stdout == "" and o.stderr == "" and o.status == "ok", o)
    o = run("ticker", env=[("TICK_MS", "20"), ("TICKS", "3")])
    check("ticker: TICKS=3", o.stdout == "tick 1\ntick 2\ntick 3\n" and o.status == "ok" and o.elapsed >= 0.06, o)
    o = run("ticker", env=[("TICK_MS", "1")], fuel=1_000_000)
    check("ticker: runs forever without TICKS (stopped by fuel)", o.status == "trap" and o.stdout.startswith("tick 1\n"), o)

    o = run("slow-start", env=[("START_DELAY_MS", "300"), ("TICK_MS", "10"), ("TICKS", "2")])
    check("slow-start: delay then ticks", o.stdout == "started\ntick 1\ntick 2\n" and o.status == "ok"
          and o.elapsed >= 0.32, o)

    for core in (False, True):
        k = "spinner.core" if core else "spinner"
        o = run("spinner", env=[("ITERATIONS", "100000")], core=core)
        check(f"{k}: ITERATIONS", o.stdout == f"done {lcg(100000)}\n" and ok_status(o, 0, core), o)
        o = run("spinner", fuel=50_000_000, core=core)
        check(f"{k}: spins forever (stopped by fuel)", o.stdout == "spinning\n" and o.status == "trap"
              and "fuel" in (o.error or ""), o)

    for core in (False, True):
        k = "memory-bomb.core" if core else "memory-bomb"
        o = run("memory-bomb", memory=16 << 20, core=core)
        last = o.stdout.strip().splitlines()[-1] if o.stdout.strip() else ""
        check(f"{k}: 16 MiB store limit -> malloc failed, exit 3",
              re.fullmatch(r"malloc failed at 1[0-5] MiB", last) is not None
              and "allocated 1 MiB\n" in o.stdout and ok_status(o, 3, core), o)
        o = run("memory-bomb", env=[("CHUNK_KB", "256")], memory=8 << 20, core=core)
        check(f"{k}: CHUNK_KB=256", re.search(r"^malloc failed at [4-7] MiB$", o.stdout, re.M) is not None
              and ok_status(o, 3, core), o)

    o = run("escaper")
    check("escaper: no preopens, everything blocked",
          o.status == "ok" and "ESCAPED" not in o.stdout and o.stdout.count("blocked (") == 5, o)
    print("     " + o.stdout.strip().replace("\n", "\n     "))
    with tempfile.TemporaryDirectory() as root:
        o = run("escaper", preopens=[(root, "/")])
        check("escaper: writable preopen at /, everything blocked",
              o.status == "ok" and "ESCAPED" not in o.stdout and o.stdout.count("blocked (") == 5
              and os.listdir(root) == [], o)
        print("     " + o.stdout.strip().replace("\n", "\n     "))

    o = run("flooder", env=[("LINES", "5000")])
    lines = o.stdout.splitlines()
    check("flooder: LINES=5000", o.status == "ok" and len(lines) == 5000
          and lines[-1] == "flood 5000 " + "x" * 120, o)
    o = run("flooder", fuel=20_000_000)
    check("flooder: forever (stopped by fuel)", o.status == "trap" and o.stdout.startswith("flood 1 "), o)

    for how, want in (("trap", "trap"), (None, "trap"), ("abort", "trap"), ("divide", "trap"), ("exit", "exit")):
        o = run("crasher", [how] if how else [])
        good = o.stdout.startswith("about to crash\n")
        if want == "trap":
            good = good and o.status == "trap"
            if how == "divide":
                good = good and "divide by zero" in o.error
            elif how in ("trap", None):
                good = good and "unreachable" in o.error
        else:
            good = good and o.status != "ok" and o.status != "trap"
        check(f"crasher {how or '(default)'}", good, o)

    o = run("missing-import")
    check("missing-import: instantiation fails naming the import",
          o.status == "error" and "shoal:test/missing@0.1.0" in (o.error or ""), o)
    print("     " + (o.error or "").strip().replace("\n", "\n     "))

    jco = os.environ.get("JCO")
    if jco and os.path.exists(jco):
        http_checks(jco)
    else:
        print("skip http-hello, http-caller: set JCO to a jco binary to serve them")

    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
