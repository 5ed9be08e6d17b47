"""Opt-in metrics and traces for the worker.

    TETHER_PROMETHEUS_ADDRESS=127.0.0.1:9464   # the SDK's metrics at http://.../metrics
    TETHER_TRACING=otlp                        # OpenTelemetry spans to OTEL_EXPORTER_OTLP_*
    TETHER_TRACING=console                     # the same spans printed to stdout

Metrics come from the SDK's Rust core (`temporal_` series: task latencies, slots,
polls, activity and workflow outcomes). Traces come from the SDK's OpenTelemetry
`TracingInterceptor`; they need Tether's `otel` extra.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Interceptor

from tether._settings import ConfigurationError
from tether._version import extra

if TYPE_CHECKING:  # an optional dependency: imported only once tracing is asked for
    from opentelemetry.sdk.trace.export import SpanExporter

TracingMode = Literal["otlp", "console"]
TRACING_MODES: tuple[TracingMode, ...] = ("otlp", "console")


@dataclass(frozen=True)
class Telemetry:
    """What the worker exports; the default exports nothing."""

    prometheus_address: str | None = None
    tracing: TracingMode | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Telemetry:
        """TETHER_PROMETHEUS_ADDRESS and TETHER_TRACING, checked before anything starts."""
        address = env.get("TETHER_PROMETHEUS_ADDRESS") or None
        if address is not None:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit():
                raise ConfigurationError(
                    f"TETHER_PROMETHEUS_ADDRESS must be HOST:PORT such as 127.0.0.1:9464, "
                    f"not {address!r}"
                )
        tracing = env.get("TETHER_TRACING") or None
        if tracing is not None and tracing not in TRACING_MODES:
            raise ConfigurationError(
                f"TETHER_TRACING must be one of {', '.join(TRACING_MODES)}, not {tracing!r}"
            )
        if tracing is not None:
            _require_otel()
        return cls(prometheus_address=address, tracing=tracing)

    def runtime(self) -> Runtime | None:
        """A runtime serving Prometheus metrics, or None for the SDK's default one.

        One per process: each runtime starts its own threads and binds its own port.
        """
        if self.prometheus_address is None:
            return None
        return Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(bind_address=self.prometheus_address)
            )
        )

    def interceptors(self) -> list[Interceptor]:
        if self.tracing is None:
            return []
        from temporalio.contrib.opentelemetry import TracingInterceptor

        # Runs are started by starter.py, the CLI or the web UI, mostly without a client
        # span to hang workflow spans under; without this flag a run would only get
        # disconnected activity spans.
        return [TracingInterceptor(always_create_workflow_spans=True)]

    @contextmanager
    def exporting(self) -> Iterator[None]:
        """Install the span exporter for the process; flush it when the worker stops
        (the entry points leave with os._exit, which would drop buffered spans)."""
        if self.tracing is None:
            yield
            return
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        exporter = _otlp() if self.tracing == "otlp" else _console()
        provider = TracerProvider(resource=Resource.create({"service.name": "tether-worker"}))
        provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        try:
            yield
        finally:
            provider.shutdown()


NO_TELEMETRY = Telemetry()


def _otlp() -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint and headers from the standard OTEL_* variables


def _console() -> SpanExporter:
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    return ConsoleSpanExporter()


def _require_otel() -> None:
    try:
        import opentelemetry.exporter.otlp.proto.http.trace_exporter
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "TETHER_TRACING is set but OpenTelemetry is not installed: "
            f"{extra('otel')} (or unset TETHER_TRACING)"
        ) from None
