"""The snapshot machinery: the immutable, pre-encoded snapshot of every dataset, and the cache
that keeps one current."""
