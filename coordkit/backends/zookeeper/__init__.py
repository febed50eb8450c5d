"""The ZooKeeper backend (:class:`.backend.ZooKeeperBackend`) over kazoo, and its private parts:
the kazoo client (:mod:`.session`, :mod:`.acl`), reads (:mod:`.read`), key calls (:mod:`.keys`)
and commits (:mod:`.commit`), watches (:mod:`.watch`), contender queues in Curator's layout
(:mod:`.queue`) and the translation of kazoo's errors (:mod:`.errors`). Nothing is imported here,
so that importing one part loads only what it needs."""
