"""The one turn engine: contracts, signals, the routing policy, the route handlers, memory, locks
and the pipeline that answers every channel's messages."""
