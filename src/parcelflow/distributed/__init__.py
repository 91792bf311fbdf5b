"""Scale-out on Celery: the same pipelines across many workers, PostgreSQL as the ledger.

Celery is only the transport (at-least-once delivery of shard messages); the
ledger keeps every guarantee: a worker claims each job through it, so a job is
never run by two workers at once and a redelivered shard finds its jobs done.
"""
