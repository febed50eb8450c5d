"""The etcd v3 backend (:class:`.backend.EtcdBackend`) and its private parts: the gRPC
connection (:mod:`.conn`, :mod:`.auth`, :mod:`.compat`), key operations (:mod:`.ops`), watches
(:mod:`.watch`), contender queues in etcdctl's layout (:mod:`.queue`) and cluster status
(:mod:`.status`). Nothing is imported here, so that importing one part loads only what it needs."""
