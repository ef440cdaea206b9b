#!/bin/sh
# The stand-in's /lambda-entrypoint.sh: as the AWS base image's, the handler is the one
# argument; the runtime interface client serves AWS_LAMBDA_RUNTIME_API. (The real image
# starts its Runtime Interface Emulator when that is unset; the stand-in has none.)
if [ $# -ne 1 ]; then
    echo "entrypoint requires the handler name to be the first argument" >&2
    exit 142
fi
if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
    echo "AWS_LAMBDA_RUNTIME_API is not set (the stand-in has no emulator of its own)" >&2
    exit 1
fi
export _HANDLER="$1"
cd "$LAMBDA_TASK_ROOT"
exec /var/lang/bin/python3 -m awslambdaric "$1"
