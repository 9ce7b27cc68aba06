"""GenAI message content as searchable text: the renderers for every convention's message
shapes (:mod:`.render`) and the content carried by OTLP log records (:mod:`.records`).

Pure functions over plain values. Used by ingest (mapping a span's input/output text) and by
the API (joining log records to their spans when a trace is read).

May import: :mod:`flightlog.semconv` only.
"""
