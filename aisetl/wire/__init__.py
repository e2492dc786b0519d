"""The AIS ETL wire contract as pure functions: no sockets, no event loop, stdlib only (h11's rule).

# Facts (docs/ais-etl-protocol.md; section numbers below refer to it)

* AIS talks to an ETL with `PUT /<path>` (hpush, every pipeline hop), `GET /<path>` (hpull) and `/ws`.
  The object path reaches `transform` percent-decoded, without the leading slash (1.3).
* Query `etl_args` is stripped of surrounding white space; `etl_fqn` is the object's file path, escaped
  once more than the query encoding: after query decoding it is still path-escaped and must be decoded
  exactly once more with plain `unquote` (`+` stays `+`), then normalised to an absolute path (4).
* `Ais-Node-Url` is a comma list of next stages. Absent, empty or white space only: no pipeline; any empty
  entry: 400. The first entry is where the output goes; the rest travels on as `Ais-Node-Url` (3.2).
* A next ETL stage is given without a path: the request's own object path is reused. A destination
  target is given with a path: the path of AIS_TARGET_URL (`/v1/etl/_object/<etl>/<secret>`) is put in
  front of it. Its query (`uuid`, `owt`) is kept; `etl_args` replaces any existing one (3.3).
* The next stage's reply: 204 = delivered (its length header is relayed), 200 + empty body = a target
  stored it (we report our own byte count), 200 + body = content from a last ETL stage (relayed),
  anything else is relayed as is (3.5).
* Transport failures are retried with a backoff of min(2**i, 30) s, but only when the source can be
  replayed; a one-shot PUT body answers 503 + `Ais-Etl-Retry-Reason: direct-put-transient` so that AIS
  replays the whole request; retries exhausted answers 502 without that header (3.6).

# Where we differ from the official server, on purpose (docs/design.md, last section)

* A hop to a next stage uses that stage URL's own scheme when it has one (the official server always
  takes the scheme of AIS_TARGET_URL, which breaks plain-http ETL pods in TLS clusters).
* A next-stage URL that cannot be used (no host, bad port, not http/https) is a `ProtocolError` naming
  it, answered 500 without retries.
* A non-numeric `Ais-Direct-Put-Length` from a next stage leaves the object delivered (length unknown).

# Modules

* `names`: every header, query, route and environment-variable name, once.
* `settings`: the environment a server is made with.
* `request`: the incoming request's query and FQN; the hpull URL; etl_args as the SDK encodes them.
* `objects`: object unames and their on-disk FQNs.
* `direct_put`: pipeline header, next-stage URL, reply mapping.
* `retry`: backoff and retry budget.
* `control`: WebSocket control messages.
"""

from __future__ import annotations

from .control import (
    ControlMessage as ControlMessage,
    encode_control_message as encode_control_message,
    parse_control_message as parse_control_message,
)
from .direct_put import (
    DirectPutOutcome as DirectPutOutcome,
    compose_direct_put_url as compose_direct_put_url,
    interpret_reply as interpret_reply,
    parse_pipeline as parse_pipeline,
)
from .names import *  # noqa: F403 -- the names are the vocabulary of every layer above
from .objects import (
    object_fqn as object_fqn,
    object_uname as object_uname,
    parse_uname as parse_uname,
    path_escape as path_escape,
    websocket_url as websocket_url,
)
from .request import (
    decode_fqn as decode_fqn,
    encode_etl_args as encode_etl_args,
    object_query as object_query,
    parse_query as parse_query,
    upstream_object_url as upstream_object_url,
)
from .retry import (
    BACKOFF_BASE as BACKOFF_BASE,
    BACKOFF_MAX as BACKOFF_MAX,
    backoff_delay as backoff_delay,
    retry_budget as retry_budget,
)
from .settings import Settings as Settings, parse_bool as parse_bool, read_settings as read_settings
