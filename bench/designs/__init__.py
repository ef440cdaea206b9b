"""The designs refdata is measured against, each a small FastAPI app behind Mangum.

(a) `no_globals`: engine created, connected and disposed per request; query per request.
(b) `engine_at_init`: module-scope engine (pool 1 + 0, pre-ping); query per request.
(d) `floor`: constant bytes from an `async def` route, the least FastAPI on Lambda costs.
(c) is refdata itself, `app.lambda_handler.handler`, unmodified.
"""
