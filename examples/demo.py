"""The demo: the whole example system on a local store, under load, through two crashes.

    python examples/demo.py [--zookeeper] [--quick] [--url URL] [--threaded] [--keep-logs] [--docker]

It starts a local etcd (ZooKeeper with ``--zookeeper``; or uses ``--url``, in a namespace of its
own), launches 3 payment-service instances, 1 order-service (its asyncio twin,
``examples/order_service_async.py``, unless ``--threaded``) and 2 settlement-workers as
subprocesses (their logs go to files in a temporary folder), waits until they are ready, and
places a stream of orders, some of them twice. Mid-stream it changes live configuration, SIGKILLs
one payment instance and then the settlement leader. It then prints what happened and checks the
invariants: no order lost, none paid twice, every paid order settled, failover and leader handoff
done, the config change seen. With ``--docker`` the store is a 3-member cluster of containers
and every service runs in a container (``examples/demo_docker.py``; the image runs the threaded
order-service); the kills are then ``docker
kill`` of a payment container and of the settlement leader's container. Exit status 0 when all
held, 1 otherwise (130 when interrupted).
Everything it started is stopped on the way out, whatever happened.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

import coordkit
from coordkit.testing import eventually, free_ports

if __package__ in (None, ""):  # run as a script: the repository root makes `examples` a package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.demo_metrics import scrape_all
from examples.demo_observe import Observer
from examples.demo_report import Check, Findings, checks, story
from examples.demo_script import KILLED_PAYMENT, Narrator, Script
from examples.demo_system import DemoFailure, Interrupted, Interrupts, LocalSystem, Process, wait_until
from examples.demo_traffic import OrderStream, plan_orders

__all__ = ["main"]

PAYMENTS = ("payment-1", "payment-2", "payment-3")
WORKERS = ("settlement-1", "settlement-2")
# When, as a share of the stream, each scripted event happens.
AT_CONFIG, AT_PAYMENT_KILL, AT_LEADER_KILL = 0.25, 0.40, 0.55
_WIDTH = 100


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--zookeeper", action="store_true", help="run on a local ZooKeeper instead of etcd")
    parser.add_argument("--url", help="use this store (e.g. etcd://127.0.0.1:2379) instead of starting one")
    parser.add_argument(
        "--docker", action="store_true", help="store and services in containers (scripts/docker-images.sh)"
    )
    parser.add_argument("--quick", action="store_true", help="a shorter stream (60 orders over 5 s)")
    parser.add_argument("--orders", type=int, help="how many orders (default 200, or 60 with --quick)")
    parser.add_argument("--duration", type=float, help="seconds to spread them over (default 12, or 5)")
    parser.add_argument("--ttl", type=float, default=3.0, help="the services' session TTL (default 3 s)")
    parser.add_argument(
        "--threaded",
        action="store_true",
        help="run the threaded order-service (examples/order_service.py) instead of its asyncio twin",
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the log folder even when all went well"
    )
    parser.add_argument(
        "--ui",
        action="store_true",
        help="after the report, keep the system running with coordkit ui open on it",
    )
    args = parser.parse_args(argv)
    args.orders = args.orders or (60 if args.quick else 200)
    args.duration = args.duration or (5.0 if args.quick else 12.0)
    if args.orders < 10 or args.duration <= 0 or args.ttl <= 0:
        parser.error("give at least 10 orders, a positive duration and a positive TTL")
    scheme = (args.url or "").partition("://")[0]
    if args.docker and args.url:
        parser.error("--docker starts its own store in containers: leave out --url")
    if args.url and scheme not in ("etcd", "etcds", "zk", "zookeeper"):
        parser.error("--url must name an etcd or ZooKeeper store: the services run in processes of their own")
    args.kind = "zookeeper" if scheme in ("zk", "zookeeper") or (args.zookeeper and not args.url) else "etcd"
    return args


# --- starting -------------------------------------------------------------------------------------------


def _launch(system: LocalSystem, workdir: Path, *, threaded: bool = False) -> Process:
    local = {"ADVERTISE_HOST": "127.0.0.1", "LISTEN_HOST": "127.0.0.1"}
    for name in PAYMENTS:
        system.launch("examples.payment_service", name, "payment-service", {**local, "PORT": "0"})
    order = system.launch(  # the asyncio twin (coordkit.aio, httpx) unless --threaded
        "examples.order_service" if threaded else "examples.order_service_async",
        "order-service",
        "order-service",
        {**local, "ORDER_DB_PATH": str(workdir / "orders.sqlite3")},
        port=True,
    )
    for name in WORKERS:  # no HTTP server of their own: their metrics on a port for the report
        metrics_port = free_ports(1)[0]
        env = {"ORDER_SERVICE_URL": order.url, "METRICS_PORT": str(metrics_port)}
        system.launch("examples.settlement_worker", name, "settlement-worker", env).port = metrics_port
    return order


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _await_ready(system: LocalSystem, observer: Observer, order: Process, say: Narrator) -> str:
    wait_until(
        lambda: observer.registered() >= set(PAYMENTS), 60, "3 payment-service instances to register", system
    )
    wait_until(lambda: _healthy(order.url), 60, "order-service to be healthy", system)
    wait_until(lambda: observer.leader() is not None, 60, "a settlement leader", system)
    leader = observer.leader()
    assert leader is not None
    say(
        f"ready: {', '.join(sorted(observer.registered()))} registered; order-service healthy; "
        f"settlement leader {leader.proposal}"
    )
    return leader.proposal


# --- the run --------------------------------------------------------------------------------------------


def _settled(order: Process, count: int) -> bool:
    try:
        stats = requests.get(f"{order.url}/stats", timeout=2).json()
    except (requests.RequestException, ValueError):
        return False
    return bool(stats["settled"] == count and stats["orders"] == count)


def _soft_wait(condition: Callable[[], bool], timeout: float, system: LocalSystem) -> bool:
    """Wait for what the invariants will check; a timeout is theirs to report, a death is not."""

    def met() -> bool:
        if condition():
            return True
        system.check_alive("after the stream of orders")  # raises DemoFailure at once
        return False

    try:
        eventually(met, timeout=timeout, interval=0.05)
    except AssertionError:
        return False
    return True


def _findings(
    client: coordkit.Client,
    order: Process,
    script: Script,
    observer: Observer,
    stream: OrderStream,
    first_leader: str,
    t0: float,
    ttl: float,
) -> Findings:
    orders = {o["order_id"]: o for o in requests.get(f"{order.url}/orders", timeout=10).json()["orders"]}
    stats = requests.get(f"{order.url}/stats", timeout=10).json()
    charges = {e.key.rsplit("/", 1)[-1]: _json(e.value) for e in client.tree("/payments")}
    # Before the services stop: their counters go with them. Payment instances chose their ports.
    found = {i.id: f"http://{i.address}:{i.port}" for i in observer.cache.instances}
    metrics = scrape_all(script.system.processes, found)
    return Findings(
        t0=t0,
        ttl=ttl,
        plan=stream.plan,
        outcomes=list(stream.outcomes),
        orders=orders,
        charges=charges,
        stats=stats,
        observer=observer,
        payment_instances=list(PAYMENTS),
        killed_payment=script.killed["payment"],
        killed_leader=script.killed["leader"],
        first_leader=first_leader,
        config_at=script.config_at,
        config_change=script.config_change,
        config_seen=dict(script.config_seen),
        config_expected=list(script.config_expected),
        metrics=metrics,
    )


def _json(raw: bytes) -> dict[str, Any]:
    return dict(json.loads(raw))


def _play(args: argparse.Namespace, system: LocalSystem, workdir: Path, say: Narrator) -> Findings:
    """Start everything, run the stream with its events, wait for the aftermath, gather findings."""
    url = system.start_store(f"demo-{uuid.uuid4().hex[:8]}")
    namespace = url.split("/")[-1].split("?")[0]
    say(f"store: {system.store_label}; namespace {namespace}, session TTL {args.ttl:g}s")
    order = _launch(system, workdir, threaded=args.threaded)
    say(f"launched {', '.join(p.name for p in system.processes)}; logs in {workdir}")
    with coordkit.connect(url) as client:
        observer = Observer(client)
        try:
            first_leader = _await_ready(system, observer, order, say)
            script = Script(client, system, observer, order, say)
            stream = OrderStream(order.url, plan_orders(args.orders, args.duration))
            say(f"placing {args.orders} orders over {args.duration:g}s ({len(stream.plan)} requests)")
            stream.run(
                time.monotonic(),
                [
                    (args.duration * AT_CONFIG, script.change_config),
                    (args.duration * AT_PAYMENT_KILL, script.kill_payment),
                    (args.duration * AT_LEADER_KILL, script.kill_leader),
                ],
                check=lambda: system.check_alive("during the stream of orders"),
            )
            script.finish()
            say(f"all {len(stream.plan)} requests answered; waiting for settlement and the failovers")
            patience = 3 * args.ttl + 15
            _soft_wait(lambda: _settled(order, args.orders), patience, system)
            _soft_wait(lambda: observer.left_at(KILLED_PAYMENT) is not None, patience, system)
            return _findings(client, order, script, observer, stream, first_leader, say.t0, args.ttl)
        finally:
            observer.close()


def _report(found: Findings) -> list[Check]:
    """Print what happened and the invariants; return the checks."""
    print("\nWhat happened")
    for topic, text in story(found):
        print(textwrap.fill(text, width=_WIDTH, initial_indent=f"  {topic:<11} ", subsequent_indent=" " * 14))
    results = checks(found)
    print("\nInvariants")
    for check in results:
        print(
            textwrap.fill(
                check.text,
                width=_WIDTH,
                initial_indent=f"  {'ok  ' if check.ok else 'FAIL'} ",
                subsequent_indent=" " * 7,
            )
        )
    return results


def _show_logs(system: LocalSystem, names: set[str]) -> None:
    for process in system.processes:
        if process.name in names:
            print(f"\n--- last lines of {process.log_path} ---\n{process.tail()}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    interrupts = Interrupts()
    interrupts.install()  # first: from here on a Ctrl-C ends in 130, never in a traceback or "PASSED"
    say = Narrator()
    workdir = Path(tempfile.mkdtemp(prefix="coordkit-demo-"))
    _log_to(workdir / "demo.log")
    system_type = LocalSystem
    if args.docker:
        from examples.demo_docker import DockerSystem

        system_type = DockerSystem
    system = system_type(workdir, args.kind, args.url, ttl=args.ttl, interrupts=interrupts)
    try:
        code = _guarded(args, system, workdir, say)
    except Interrupted:  # raised while a failure was being reported; everything is stopped already
        code = 130
    interrupts.settle()  # from here on the status printed is the status returned
    if interrupts.received is not None:
        # Whenever it came (even while the invariants were printed, or swallowed by a library on
        # the way), the run did not go as asked: it was interrupted.
        if code != 130:
            print(f"\ninterrupted ({interrupts.received})", file=sys.stderr, flush=True)
        code = 130
    verdict = {0: "PASSED", 130: "INTERRUPTED"}.get(code, "FAILED")
    print(f"\n{verdict} in {time.time() - say.t0:.1f}s", flush=True)
    if code == 0 and not args.keep_logs:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"logs kept in {workdir}", flush=True)
    return code


def _log_to(path: Path) -> None:
    """The demo's own log (coordkit's events, failures with their traceback) goes to a file: the
    terminal shows the narration only, including for a failure on a helper thread."""
    logging.basicConfig(
        filename=path, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    threading.excepthook = lambda hook: logging.getLogger("demo").error(
        "thread %s failed",
        hook.thread.name if hook.thread else "?",
        exc_info=(hook.exc_type, hook.exc_value, hook.exc_traceback),
    )  # type: ignore[arg-type]


def _guarded(args: argparse.Namespace, system: LocalSystem, workdir: Path, say: Narrator) -> int:
    """Run the demo, then stop everything whatever happened: 0 passed, 1 failed, 130 interrupted.
    A failure prints one line and the tail of the logs concerned, never a traceback.

    The signals raise only inside the inner ``try`` (armed on entry, quiet on leaving it), and
    at most once, so the outer ``finally`` always stops everything to the end."""
    code, show = 1, set()
    try:
        try:
            system.interrupts.arm()
            print(
                f"coordkit demo: the order/payment example on "
                f"{'ZooKeeper' if args.kind == 'zookeeper' else 'etcd'} ({len(PAYMENTS)} payment-service, "
                f"1 order-service ({'threads' if args.threaded or args.docker else 'asyncio'}), "
                f"{len(WORKERS)} settlement-worker)",
                flush=True,
            )
            results = _report(_play(args, system, workdir, say))
            code = 0 if all(check.ok for check in results) else 1
            show = {name for check in results if not check.ok for name in check.logs}
            if args.ui:
                from examples.demo_ui import keep_open

                keep_open(system.url, say)
        except (Interrupted, KeyboardInterrupt) as exc:
            print(f"\ninterrupted ({exc or 'SIGINT'}): stopping everything", file=sys.stderr, flush=True)
            code = 130
        except DemoFailure as exc:
            print(f"\ndemo failed: {exc}", file=sys.stderr)
            show = {p.name for p in system.processes if p.log_path in exc.logs}
        except Exception as exc:
            logging.getLogger("demo").exception("the demo failed")
            print(
                f"\ndemo failed: {type(exc).__name__}: {exc} (traceback in {workdir / 'demo.log'})",
                file=sys.stderr,
            )
        finally:
            system.interrupts.quiet()
    finally:
        _show_logs(system, show)
        if not _stop(system, say) and code == 0:
            code = 1
    return code


def _stop(system: LocalSystem, say: Narrator) -> bool:
    """Stop every service and the store; True when each service exited 0 on SIGTERM."""
    codes = system.stop()
    unclean = {name: code for name, code in codes.items() if code != 0}
    store = (
        f" and {getattr(system, 'store_noun', f'the local {system.kind}')}"
        if system.given_url is None
        else ""
    )
    if unclean:
        say(f"stopped {len(codes)} services{store}; NOT cleanly: {unclean} (see their logs)")
        _show_logs(system, set(unclean))
    else:
        say(f"stopped {len(codes)} services (each exited 0 after SIGTERM){store}")
    return not unclean


if __name__ == "__main__":
    raise SystemExit(main())
