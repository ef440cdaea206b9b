"""The long versions of the reliability tests (`make reliability` → docs/reliability.md).

`python -m reliability.fuzz` (schemathesis from the OpenAPI document), `.bad_events`
(malformed Lambda events), `.faults`, `.load` and `.hostile` (issue 21's findings under
concurrency and hostile input, sent again) start their own databases and execution
environments (uvicorn, the handler under awslambdaric or in a process of its own) on
127.0.0.1, bounded in count and time, and write a JSON summary: what was tried, how many, what
held. `.report` lays the summaries out. The short versions in `make test` call the same
functions with small numbers.
"""
