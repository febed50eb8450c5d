"""The example system: payment-service, order-service and settlement-worker over coordkit.

A regular package so that ``python -m examples.payment_service`` (and the others) run from the
repository root; see examples/README.md. ``examples/demo.py`` runs the whole system locally.
"""
