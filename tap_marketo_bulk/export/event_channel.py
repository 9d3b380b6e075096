"""EventChannel: how the scheduler's worker thread hands its events to the consumer.

Events arrive in the order the worker put them. The worker's end travels the same way (all done,
told to stop, or an exception, which is raised on the consumer's side), and a worker that died
without a last word is noticed within `check_every` seconds.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass
class _WorkerFailed:
    error: BaseException


_FINISHED, _STOPPED = object(), object()  # the worker's last word: all done / told to stop


class EventChannel:
    """A queue from the worker thread to the consumer, closed by the worker's last word."""

    def __init__(self) -> None:
        self._queue: queue.Queue[object] = queue.Queue()

    def produce(self, producer: Callable[[EventChannel], bool]) -> None:
        """The worker thread's body: run `producer` (it puts events; True when all is done, False
        when told to stop), then put its last word."""
        try:
            finished = producer(self)
        except BaseException as exc:  # handed to the consumer, raised there
            self._queue.put(_WorkerFailed(exc))
        else:
            self._queue.put(_FINISHED if finished else _STOPPED)

    def put(self, event: object) -> None:
        self._queue.put(event)

    def receive(self, worker: threading.Thread, check_every: float) -> Iterator[object]:
        """The worker's events until its last word; a stop or the worker's error is raised."""
        while True:
            try:
                event = self._queue.get(timeout=check_every)
            except queue.Empty:
                if worker.is_alive():
                    continue
                raise RuntimeError("export scheduler worker died") from None
            if event is _FINISHED:
                return
            if event is _STOPPED:
                raise RuntimeError("the export scheduler was closed during run()")
            if isinstance(event, _WorkerFailed):
                raise event.error
            yield event
