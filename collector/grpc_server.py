"""OTLP/gRPC ingest (TraceService/Export, LogsService/Export) on the collector's event loop.

Placeholder: implemented by the gRPC work; ``start_grpc_server`` returns None until then.
"""

from __future__ import annotations

from typing import Any


async def start_grpc_server(collector: Any, host: str, port: int) -> Any:
    """Start the gRPC server and return it (an object with ``async stop(grace)``), or None."""
    return None
