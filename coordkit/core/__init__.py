"""coordkit's core: what every feature stands on and nothing more.

The key/value surface, sessions, watches, fencing, retry policies and URL parsing. The core
imports only the backends, names and errors; recipes, discovery, balancing and configuration
import the core, never the client.
"""
