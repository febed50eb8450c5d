"""The values discovery's signatures default to, in a module that imports nothing: the
client's factory methods name them without loading discovery (a ``get`` never needs it)."""

from __future__ import annotations

__all__ = ["DEFAULT_BASE", "DOWN", "DRAINING", "STATUSES", "UP"]

DEFAULT_BASE = "/services"  # Spring Cloud Zookeeper's and Curator's examples' root

# An instance's status. UP takes traffic. DRAINING (Eureka's OUT_OF_SERVICE, consul's
# maintenance): alive, finishing what it has, taking nothing new; set by its owner or an
# operator. DOWN: its own health checks fail. Balancers and service caches skip all but UP.
UP = "up"
DRAINING = "draining"
DOWN = "down"
STATUSES = (UP, DRAINING, DOWN)
