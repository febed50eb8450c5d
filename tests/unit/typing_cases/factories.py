"""Checked by mypy in tests/unit/test_typing.py, never run. A line ending in ``# error`` must
be a type error on exactly that line; every other line must type-check."""

# The error lines are bare expressions and unused names on purpose (mypy must flag them; a

# ruff: noqa: B018, F841

from __future__ import annotations

from dataclasses import dataclass

import coordkit
from coordkit.balancing import Balancer, StrategyName


@dataclass
class Settings:
    timeout: float = 5.0
    name: str = "payments"


def factories(client: coordkit.Client) -> None:
    # The right calls pass.
    good: Balancer = client.balancer("payment-service", "peak_ewma", ejection=False)
    chosen: StrategyName = "consistent_hash"
    client.balancer("payment-service", chosen, base="/services")
    client.register("payment-service", "127.0.0.1", 8080, weight=3, metadata={"zone": "eu-1"})
    client.discover("payment-service", base="/registry")
    client.instances("payment-service")
    cfg = client.config("payments", schema=Settings, writable=True)
    seconds: float = cfg.typed.timeout
    label: str = cfg.typed.name
    print(good, seconds, label)

    # A typo in a strategy name, a wrong attribute on .typed, a misspelt option: type errors.
    client.balancer("payment-service", "round_robbin")  # error
    cfg.typed.timout  # error
    wrong: str = cfg.typed.timeout  # error
    client.register("payment-service", "127.0.0.1", 8080, wieght=3)  # error
    client.discover("payment-service", bsae="/registry")  # error
    plain = client.config("payments")
    plain.typed.timeout  # error
