"""coordkit's core: what every feature stands on and nothing more.

The key/value surface, sessions, watches, fencing, retry policies and URL parsing. The core
imports only the backends, names and errors; recipes, discovery, balancing and configuration
import the core, never the client (``tests/unit/test_import_graph.py`` holds it to that)::

    store.py      Store: keys, watches, fenced writes and local guards over one backend and session
    session.py    Session: its states, listeners and ownership deadline
    sessionless.py  the session of a read-only client (connect(..., session=False)): none
    watch.py      WatchHandle: a watch as a callback or an iterator of events
    commits.py    a commit's ops checked at the edge, before anything is sent
    url.py        coordkit URLs and options parsed into a Target; the URL used when none is given
    schemes.py    the scheme registry: which backend a scheme opens (the only module naming a kind)
    security.py   credentials: TLS files, user and password, ZooKeeper ACLs
    tls_probe.py  why a connection failed, when TLS is the reason (asked by the backends)
    retry.py      every retry policy, named once
    durations.py  the one check of a number of seconds
"""
