"""Generic mechanics, knowing no domain: settings, the database, logging, back-off, lanes,
secrets, keys, metrics, per-request stats. Nothing here builds at import (app/init.py does)."""
