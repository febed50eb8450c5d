"""Wall time of ``coordkit get KEY`` against a bare python-etcd3 / kazoo script doing the same
read (issue 14's goal: at most 1.3x), as a new process each time, medians of alternated runs.

    .venv/bin/python bench/cli_get.py --bare-python /path/to/venv/bin/python [--runs 7]
        [--etcd HOST:PORT] [--zookeeper HOST:PORT] [--source DIR]

``--bare-python``: an interpreter with python-etcd3 0.12 (protobuf 3.20) and kazoo, e.g. a
virtualenv of its own (python-etcd3 0.12 does not import with current protobuf). ``--source``:
run the CLI from another checkout's ``coordkit`` and ``cli`` directories (e.g. one extracted
with ``git archive``) to measure before/after; default this checkout. Servers not given are
started here (coordkit.testing) and stopped on exit.

The tree's bytecode is compiled first (``compileall``, into its ``__pycache__``): an installed
coordkit has it, as the bare script's kazoo and etcd3 do, whereas with
``PYTHONDONTWRITEBYTECODE`` set (or a fresh ``git archive``) every run would otherwise
compile each module from source again, some 60 ms that no user pays. Both processes start
with ``-S`` and their own interpreter's site-packages on the path, so that neither runs ``.pth``
start-up hooks (this checkout's editable install has one, ~15 ms, that no installed coordkit
has). A last line gives each interpreter's bare start-up (``print('hello')``, alternated
likewise): the part of the gap that is not coordkit's.
"""

from __future__ import annotations

import argparse
import compileall
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import local_servers

KEY = "/bench/cli-get"
VALUE = "hello"

# Both processes start with -S and put their interpreter's site-packages on the path without
# running its .pth files: the bare venv has none that matter, while this one's editable
# install runs a finder at every start-up (~15 ms no installed coordkit pays), and would map
# coordkit to this checkout instead of the tree measured (its coordkit_cli: a link to cli/).
_SITE = "import sys; sys.path += {site!r};"
_CLI = (
    _SITE + "sys.path.insert(0, {source!r}); from coordkit_cli.entry import main;"
    "sys.argv = ['coordkit', '--url', {url!r}, 'get', {key!r}]; main()"
)
_BARE = {
    "etcd": (
        _SITE
        + "import etcd3; host, port = {endpoint!r}.split(':'); c = etcd3.client(host=host, port=int(port));"
        "value, _ = c.get({key!r}); print(value.decode()); c.close()"
    ),
    "zookeeper": (
        _SITE
        + "from kazoo.client import KazooClient; c = KazooClient(hosts={endpoint!r}); c.start(timeout=5);"
        "value, _ = c.get({key!r}); print(value.decode()); c.stop(); c.close()"
    ),
}


def _source_tree(source: Path, into: Path) -> str:
    """``into``, holding ``coordkit`` and ``coordkit_cli`` as links to ``source``'s directories
    (whose bytecode is compiled now, as an installation would)."""
    for package in ("coordkit", "cli"):
        if not compileall.compile_dir(source / package, quiet=1):
            raise SystemExit(f"{source / package} does not compile")
    into.mkdir()
    (into / "coordkit").symlink_to(source / "coordkit")
    (into / "coordkit_cli").symlink_to(source / "cli")
    return str(into)


def _site_packages(python: str) -> list[str]:
    """The site-packages directories of ``python`` (asked of a normal start-up of it)."""
    ask = "import json, sysconfig; p = sysconfig.get_paths(); print(json.dumps([p['purelib'], p['platlib']]))"
    found = json.loads(subprocess.run([python, "-c", ask], capture_output=True, check=True).stdout)
    return list(dict.fromkeys(found))


def _timed(argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or done.stdout.strip() != VALUE:
        raise SystemExit(f"{argv[:3]}... failed ({done.returncode}): {done.stdout!r} {done.stderr!r}")
    return elapsed


def _start_ups(bare_python: str, runs: int) -> tuple[list[float], list[float]]:
    """Seconds of ``runs`` alternated start-ups of this interpreter and the bare one."""
    hello = _SITE + f"print({VALUE!r})"
    mine, bare = (
        hello.format(site=_site_packages(sys.executable)),
        hello.format(site=_site_packages(bare_python)),
    )
    ours, theirs = [], []
    for _ in range(runs):
        ours.append(_timed([sys.executable, "-S", "-c", mine]))
        theirs.append(_timed([bare_python, "-S", "-c", bare]))
    return ours, theirs


def measure(
    kind: str, url: str, bare_python: str, runs: int, source: Path, tree: Path
) -> tuple[list[float], list[float]]:
    """Seconds of ``runs`` alternated ``coordkit get`` and bare-script processes against ``url``
    (``tree``: an empty directory to link ``source`` from)."""
    import coordkit

    endpoint = url.split("://", 1)[1].split("/", 1)[0].split(",")[0]
    with coordkit.connect(url) as client:
        client.put(KEY, VALUE)
    linked = _source_tree(source.resolve(), tree)
    ours_site, bare_site = _site_packages(sys.executable), _site_packages(bare_python)
    cli = [sys.executable, "-S", "-c", _CLI.format(site=ours_site, source=linked, url=url, key=KEY)]
    bare = [bare_python, "-S", "-c", _BARE[kind].format(site=bare_site, endpoint=endpoint, key=KEY)]
    ours, theirs = [], []
    for _ in range(runs):  # alternated: a slow spell of the machine hits both
        ours.append(_timed(cli))
        theirs.append(_timed(bare))
    return ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bare-python", required=True)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--etcd")
    parser.add_argument("--zookeeper")
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--kinds", default="etcd,zookeeper")
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    with (
        tempfile.TemporaryDirectory() as tree,
        local_servers(kinds, given={"etcd": args.etcd, "zookeeper": args.zookeeper}) as urls,
    ):
        for kind in kinds:
            ours, theirs = measure(
                kind, urls[kind], args.bare_python, args.runs, args.source, Path(tree) / kind
            )
            a, b = statistics.median(ours), statistics.median(theirs)
            print(f"{kind:10} coordkit get {a * 1000:7.1f} ms  bare {b * 1000:7.1f} ms  ratio {a / b:.2f}x")
        a, b = (statistics.median(s) for s in _start_ups(args.bare_python, args.runs))
        print(f"{'start-up':10} this python  {a * 1000:7.1f} ms  bare {b * 1000:7.1f} ms  (not coordkit's)")


if __name__ == "__main__":
    main()
