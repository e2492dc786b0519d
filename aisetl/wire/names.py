"""Names on the wire: AIS header and query names, routes, environment variables, fixed values.

Each name is written here once; the rest of aisetl refers to these constants (the sources are the AIS Go
files named beside each one).
"""

from __future__ import annotations

# Header names as ASGI hands them over (lower case) and as we send them.
HEADER_NODE_URL = "ais-node-url"  # api/apc/headers.go HdrNodeURL
HEADER_DIRECT_PUT_LENGTH = "ais-direct-put-length"  # HdrDirectPutLength
HEADER_RETRY_REASON = "ais-etl-retry-reason"  # HdrETLRetryReason
RETRY_REASON_DIRECT_PUT_TRANSIENT = "direct-put-transient"  # ETLRetryReasonDirectPutTransient
HEADER_AUTHORIZATION = "authorization"

QPARAM_ETL_ARGS = "etl_args"  # QparamETLTransformArgs
QPARAM_ETL_FQN = "etl_fqn"  # QparamETLFQN (not "fqn")

# WebSocket control-message keys (ext/etl/api.go WebsocketCtrlMsg; all omitempty).
WS_PIPELINE, WS_ETL_ARGS, WS_FQN, WS_PATH = "pipeline", "etl_args", "fqn", "path"
WS_PATH_ROUTE = "/ws"

HEALTH_PATH = "/health"
HEALTH_BODY = b"Running"
DEFAULT_MIME_TYPE = "application/octet-stream"

# What uvicorn must be told so that AIS can use the server (6.4): 16 GiB frames (the Go side's read
# limit), and no keepalive pings (AIS sends none and has no per-object timeout on this transport).
WS_MAX_SIZE = 17179869184
WS_PING_TIMEOUT = 86400.0
WS_MAX_QUEUE = 2  # aisetl's: content frames uvicorn may read ahead of the app, per connection

# The target's route for its ETLs (apc.URLPathETLObject): hpull source and direct-put destination.
ETL_OBJECT_ROUTE = "/v1/etl/_object"
GLOBAL_NAMESPACE = "@#"  # the ns-uname of the global namespace

# Environment variables a server reads at construction (protocol section 7.1), and aisetl's own.
ENV_TARGET_URL = "AIS_TARGET_URL"
ENV_DIRECT_FQN = "ETL_DIRECT_FQN"
ENV_DIRECT_PUT = "DIRECT_PUT"
ENV_DIRECT_PUT_LEGACY = "direct_put"
ENV_DIRECT_PUT_RETRIES = "AIS_DIRECT_PUT_RETRIES"
ENV_DIRECT_PUT_CHUNK_SIZE = "AIS_DIRECT_PUT_CHUNK_SIZE"
ENV_MAX_CONN = "MAX_CONN"
ENV_MAX_KEEPALIVE_CONN = "MAX_KEEPALIVE_CONN"
ENV_KEEPALIVE_EXPIRY = "KEEPALIVE_EXPIRY"
ENV_SKIP_VERIFY = "AIS_SKIP_VERIFY_CRT"
ENV_SKIP_VERIFY_LEGACY = "AIS_SKIP_VERIFY"
ENV_CLIENT_CA = "AIS_CLIENT_CA"
ENV_CRT = "AIS_CRT"
ENV_CRT_KEY = "AIS_CRT_KEY"
ENV_AUTHN_TOKEN = "AIS_AUTHN_TOKEN"
ENV_LARGE_OBJECT_BUDGET = "AISETL_LARGE_OBJECT_BUDGET"  # aisetl's: bytes of large buffered objects in flight
ENV_MAX_OBJECT_SIZE = "AISETL_MAX_OBJECT_SIZE"  # aisetl's: the largest object held whole in memory
ENV_CONNECT_TIMEOUT = "AISETL_CONNECT_TIMEOUT"  # aisetl's: seconds to connect to a next stage or target
ENV_RESPONSE_TIMEOUT = "AISETL_RESPONSE_TIMEOUT"  # aisetl's: seconds a peer may owe a response head, silent
ENV_IDLE_TIMEOUT = "AISETL_IDLE_TIMEOUT"  # aisetl's: seconds a response or request body may stall
ENV_FQN_ROOT = "AISETL_FQN_ROOT"  # aisetl's: etl_fqn must resolve under this folder (off when unset)
ENV_TOKEN_HOSTS = "AISETL_TOKEN_HOSTS"  # aisetl's: hosts a direct put may send the AuthN token to
