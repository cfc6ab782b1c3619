"""The Python client services use to send commands.

``send`` validates a command against the same JSON Schemas the processor uses
(so a malformed command fails in the caller, with the field and the rule,
before anything is published), produces it with an idempotent producer
(acks=all, keyed by SKU with Kafka's murmur2 partitioner, so every client in
every language lands one SKU in one partition), and waits for the processor's
answer on the results topic.

A timed-out ``send`` is safe to repeat with the same command: the processor
answers a known command_id with its original result and publishes nothing new.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from typing import Any

import orjson
from confluent_kafka import (
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from opentelemetry.trace import SpanKind
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from producers.results import CommandResult
from schemas import codec, tracing
from schemas.config import preflight
from schemas.config.connections import kafka_config
from schemas.config.settings import Settings, get_settings
from schemas.errors import ContractError
from schemas.topics import Topics

#: Seconds a topic the brokers call unknown is waited for before a send fails.
UNKNOWN_TOPIC_GRACE_S = 5.0


class CommandTimeoutError(TimeoutError):
    """No answer in time. The command may still be processed; resending it is safe."""

    def __init__(self, command_id: str, timeout_s: float) -> None:
        super().__init__(
            f"no result for command {command_id} within {timeout_s:.1f} s; it may still be "
            "processed (is `eventcart worker` running?). Resending the same command is safe."
        )
        self.command_id = command_id


class DeliveryError(RuntimeError):
    """Kafka did not take the command (after the producer's own retries)."""


def producer_config(settings: Settings) -> dict[str, Any]:
    return {
        **kafka_config(settings),
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": "lz4",
        "linger.ms": 5,
        "batch.size": 512 * 1024,
        "queue.buffering.max.messages": 500_000,
        "partitioner": "murmur2_random",
        "message.max.bytes": codec.MAX_MESSAGE_BYTES + 4096,
    }


class ResultListener:
    """Reads the results topic from "now" on and completes the futures waiting for them.

    It is positioned at the end of every partition *before* the first command is
    sent, so no answer can slip past it.
    """

    def __init__(self, settings: Settings, topic: str) -> None:
        self._consumer = Consumer(
            {
                **kafka_config(settings),
                "group.id": "eventcart-client-unused",  # manual assignment, no commits
                "enable.auto.commit": False,
                "enable.partition.eof": False,
            }
        )
        # A broker of a cluster learns of a new topic a moment after the others: a
        # topic still unknown is asked for again for a few seconds before it is
        # called missing.
        deadline = time.monotonic() + 10
        while True:
            metadata = self._consumer.list_topics(topic, timeout=30)
            if metadata.topics[topic].error is None:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"results topic {topic} is missing: run `eventcart topics create` "
                    f"({metadata.topics[topic].error})"
                )
            time.sleep(0.5)
        partitions = [
            TopicPartition(topic, partition, self._end_of(topic, partition))
            for partition in metadata.topics[topic].partitions
        ]
        self._consumer.assign(partitions)
        self._waiting: dict[str, Future[CommandResult]] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="eventcart-results", daemon=True)
        self._thread.start()

    @retry(
        retry=retry_if_exception_type(KafkaException),
        wait=wait_exponential(multiplier=0.1, max=2),
        stop=stop_after_delay(30),
        reraise=True,
    )
    def _end_of(self, topic: str, partition: int) -> int:
        """Where the partition ends now (retried while a leader is being elected)."""
        _, high = self._consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        return int(high) if high >= 0 else OFFSET_END

    def expect(self, command_id: str) -> Future[CommandResult]:
        future: Future[CommandResult] = Future()
        with self._lock:
            self._waiting[command_id] = future
        return future

    def forget(self, command_id: str) -> None:
        with self._lock:
            self._waiting.pop(command_id, None)

    def _run(self) -> None:
        # poll() returns at the first message; consume() would wait for a full
        # batch or its timeout, adding that timeout to every answer's latency.
        while not self._stopped.is_set():
            first = self._consumer.poll(0.2)
            if first is None:
                continue
            self._deliver(first)
            for message in self._consumer.consume(num_messages=1000, timeout=0):
                self._deliver(message)

    def _deliver(self, message: Message) -> None:
        value = message.value()
        if message.error() is not None or value is None:
            return
        try:
            result = CommandResult.from_message(orjson.loads(value))
        except (orjson.JSONDecodeError, ValueError):
            return
        if result.command_id is None:
            return
        with self._lock:
            future = self._waiting.pop(result.command_id, None)
        if future is not None and not future.done():
            future.set_result(result)

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._consumer.close()


class CommandClient:
    """Send commands and get their results. Thread-safe; use one per process.

    >>> with CommandClient() as client:                      # doctest: +SKIP
    ...     result = client.send(change_price("SKU-1", "19.99", "EUR"))
    ...     result.accepted, result.positions
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        tracing.setup(self.settings, "eventcart-client")  # once per process; off unless configured
        # Credentials the brokers refuse raise here, naming the setting, instead of
        # every send timing out as if Kafka were away.
        preflight.check_kafka(self.settings)
        self.topic = Topics.from_settings(self.settings).commands
        self._producer = Producer(producer_config(self.settings))
        self._listener: ResultListener | None = None
        self._listener_lock = threading.Lock()
        self._poller_stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="eventcart-delivery", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._poller_stop.is_set():
            self._producer.poll(0.1)

    @property
    def listener(self) -> ResultListener:
        with self._listener_lock:
            if self._listener is None:
                topic = Topics.from_settings(self.settings).results
                self._listener = ResultListener(self.settings, topic)
            return self._listener

    # --- sending --------------------------------------------------------------
    def _produce(
        self,
        command: Mapping[str, Any],
        on_delivery: Callable[[KafkaError | None, Message], None] | None = None,
    ) -> None:
        codec.validate_command(command)
        value = codec.encode(command)
        if len(value) > codec.MAX_MESSAGE_BYTES:
            raise ContractError("$", "size", f"command is {len(value)} bytes, over the limit")
        key = str(command["sku"]).encode()
        if not tracing.enabled():
            self._send(key, value, on_delivery, None)
            return
        # The client's own span: the root of the command's trace, or a child of the
        # caller's (the HTTP request's), carried in the record's headers.
        with tracing.span(
            f"send {command.get('type')}",
            kind=SpanKind.PRODUCER,
            attributes={
                "eventcart.sku": str(command["sku"]),
                "eventcart.command_id": str(command.get("command_id", "")),
            },
        ):
            self._send(key, value, on_delivery, tracing.outgoing())

    def _send(
        self,
        key: bytes,
        value: bytes,
        on_delivery: Callable[[KafkaError | None, Message], None] | None,
        headers: tracing.Headers | None,
    ) -> None:
        unknown_since: float | None = None
        while True:
            try:
                self._producer.produce(
                    self.topic, value=value, key=key, on_delivery=on_delivery, headers=headers
                )
                return
            except BufferError:  # local queue full: let it drain, then go on
                self._producer.poll(0.05)
            except KafkaException as exc:
                # A broker that has just restarted can say for a moment that a topic
                # does not exist (its metadata is not loaded yet): wait for the next
                # metadata a few seconds before believing it.
                if exc.args[0].code() != KafkaError._UNKNOWN_TOPIC:
                    raise
                unknown_since = unknown_since or time.monotonic()
                if time.monotonic() - unknown_since > UNKNOWN_TOPIC_GRACE_S:
                    raise
                self._producer.poll(0.1)

    def submit(
        self, command: Mapping[str, Any], acked: Future[None] | None = None
    ) -> Future[CommandResult]:
        """Validate and send; the future completes with the processor's result.

        Raises ``ContractError`` at once for an invalid command; the future fails
        with ``DeliveryError`` if Kafka does not take it. ``acked``, if given,
        completes when Kafka has acknowledged the command (all in-sync replicas
        have it, so it can no longer be lost), before any result exists.
        """
        command_id = str(command["command_id"]) if "command_id" in command else ""
        future = self.listener.expect(command_id)

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if acked is not None and not acked.done():
                if err is None:
                    acked.set_result(None)
                else:
                    acked.set_exception(DeliveryError(f"Kafka did not take the command: {err}"))
            if err is not None and not future.done():
                self.listener.forget(command_id)
                future.set_exception(DeliveryError(f"Kafka did not take the command: {err}"))

        try:
            self._produce(command, delivered)
        except Exception:
            self.listener.forget(command_id)
            raise
        return future

    def send(self, command: Mapping[str, Any], timeout_s: float = 30.0) -> CommandResult:
        """Send one command and wait for its result."""
        future = self.submit(command)
        try:
            return future.result(timeout=timeout_s)
        except TimeoutError:
            self.listener.forget(str(command["command_id"]))
            raise CommandTimeoutError(str(command["command_id"]), timeout_s) from None

    def send_nowait(self, command: Mapping[str, Any]) -> str:
        """Validate and send without waiting for the result; returns the command_id.

        Delivery is still guaranteed by ``flush()`` / ``close()``.
        """
        self._produce(command)
        return str(command["command_id"])

    def publish(self, command: Mapping[str, Any]) -> Future[None]:
        """Validate and send without waiting for the result; the future completes
        when Kafka has acknowledged the command (or fails with ``DeliveryError``)."""
        acked: Future[None] = Future()

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if err is None:
                acked.set_result(None)
            else:
                acked.set_exception(DeliveryError(f"Kafka did not take the command: {err}"))

        self._produce(command, delivered)
        return acked

    def send_batch(
        self,
        commands: Iterable[Mapping[str, Any]],
        *,
        timeout_s: float = 120.0,
        on_result: Callable[[CommandResult], None] | None = None,
    ) -> list[CommandResult]:
        """Send many commands as fast as the producer batches them, then collect the results.

        Results come back in the order of ``commands``. ``on_result`` is called
        as each arrives (for progress bars).
        """
        futures = []
        for command in commands:
            future = self.submit(command)
            if on_result is not None:
                future.add_done_callback(lambda f: f.exception() or on_result(f.result()))
            futures.append((str(command["command_id"]), future))
        self.flush()
        deadline = time.monotonic() + timeout_s
        results = []
        for command_id, future in futures:
            try:
                results.append(future.result(timeout=max(0.0, deadline - time.monotonic())))
            except TimeoutError:
                self.listener.forget(command_id)
                raise CommandTimeoutError(command_id, timeout_s) from None
        return results

    def flush(self, timeout_s: float = 60.0) -> None:
        remaining = self._producer.flush(timeout_s)
        if remaining:
            raise DeliveryError(f"{remaining} commands not delivered within {timeout_s} s")

    def close(self, timeout_s: float = 60.0) -> None:
        """Deliver what is queued (``DeliveryError`` if not within ``timeout_s``), stop."""
        try:
            self.flush(timeout_s)
        finally:
            self._stop()

    def _stop(self) -> None:
        self._poller_stop.set()
        self._poller.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> CommandClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
