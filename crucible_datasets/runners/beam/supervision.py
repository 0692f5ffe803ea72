"""A worker process lost while the job runs fails the job at once, naming the worker.

Beam's FnApiRunner runs ``multi_processing`` workers with its ``SubprocessSdkWorkerHandler``:
when a worker process ends before the job does (killed, out of memory, crashed), Beam raises
"Worker subprocess exited with return code N" in that worker's thread and goes on waiting for
the answers the worker will never send: the job hangs. :func:`fn_api_runner` runs the workers
in :class:`SupervisedEnvironment` instead (Beam's subprocess environment under a URN of its own,
so Beam's own registrations are untouched), whose handler answers every instruction still
waiting on a lost worker, and every one sent to it later, with a :class:`WorkerLostError`
(``ControlFuture.abort``, then an error response, so that Beam stops reading the bundle's
output too). The job then fails within a second with that error, and ``job.run`` handles the
run's temp files as after any failed job.

That no worker outlives a killed driver is the workers' own side: ``lifetime.py``.
"""

from __future__ import annotations

import logging
import threading

from apache_beam.options.pipeline_options import DirectOptions
from apache_beam.portability.api import beam_fn_api_pb2
from apache_beam.runners.portability import local_job_service
from apache_beam.runners.portability.fn_api_runner import FnApiRunner, worker_handlers
from apache_beam.transforms import environments

from crucible_datasets.errors import CrucibleError

URN = "crucible:env:supervised_subprocess:v1"


class WorkerLostError(CrucibleError, RuntimeError):
    """A Beam worker process ended while the job was running: the job failed. A reader sees the
    output as it was before, or, if the worker was publishing past the switch of its card, the
    new split whole (docs/PUBLISHING.md); running the job again writes the whole output."""


@environments.Environment.register_urn(URN, bytes)
class SupervisedEnvironment(environments.SubprocessSDKEnvironment):
    """Workers that run ``command_string`` as Beam's subprocess workers do, under supervision.

    >>> SupervisedEnvironment.from_command_string("python -m worker").to_runner_api(None).urn
    'crucible:env:supervised_subprocess:v1'
    """

    def to_runner_api_parameter(self, context) -> tuple[str, bytes]:
        return URN, self.command_string.encode("utf-8")

    @staticmethod
    def from_runner_api_parameter(payload, capabilities, artifacts, resource_hints, context):
        return SupervisedEnvironment(payload.decode("utf-8"), capabilities, artifacts, resource_hints)


class _AnsweredWhenLost:
    """A worker's control connection that answers, once the worker is lost, what it cannot."""

    def __init__(self, connection) -> None:
        self._connection = connection
        self._lock = threading.Lock()
        self._waiting: list = []
        self._lost: WorkerLostError | None = None

    def push(self, request):
        future = self._connection.push(request)
        if future is None:  # the end-of-stream marker
            return None
        with self._lock:
            self._waiting = [f for f in self._waiting if not f.is_done()]
            self._waiting.append(future)
            lost = self._lost
        if lost is not None:
            _fail(future, lost)
        return future

    def lose(self, error: WorkerLostError) -> None:
        with self._lock:
            self._lost = error
            waiting, self._waiting = self._waiting, []
        for future in waiting:
            _fail(future, error)

    def __getattr__(self, name: str):
        return getattr(self._connection, name)


def _fail(future, error: WorkerLostError) -> None:
    # abort: a waiting ``get()`` raises the error; the response: Beam's output reader, which asks
    # ``is_done()`` and then ``get()``, stops (raising the error too).
    future.abort(error)
    future.set(beam_fn_api_pb2.InstructionResponse(instruction_id=future.instruction_id, error=str(error)))


@worker_handlers.WorkerHandler.register_environment(URN, bytes)
class SupervisedWorkerHandler(worker_handlers.SubprocessSdkWorkerHandler):
    """Beam's subprocess worker handler, which fails the job when its worker ends before it."""

    def __init__(self, worker_command_line, state, provision_info, grpc_server) -> None:
        super().__init__(worker_command_line, state, provision_info, grpc_server)
        self.control_conn = _AnsweredWhenLost(self.control_conn)
        self._closing = False

    def start_worker(self) -> None:
        self.worker = local_job_service.SubprocessSdkWorker(
            self._worker_command_line, self.control_address, self.provision_info, self.worker_id
        )
        self.worker_thread = threading.Thread(name="run_worker", target=self._run_worker)
        self.worker_thread.start()

    def _run_worker(self) -> None:
        try:
            self.worker.run()
            ended = "exited with return code 0"
        except Exception as exc:  # noqa: BLE001 - Beam's "Worker subprocess exited with ..."
            ended = str(exc)
        if not self._closing:
            self.control_conn.lose(
                WorkerLostError(
                    f"Beam worker {self.worker_id} ended while the job was running ({ended}: killed, out "
                    "of memory or crashed; its log is above), so the job failed. Run the job again to "
                    "write the whole output"
                )
            )

    def close(self) -> None:
        self._closing = True  # the worker ends now because it is told to
        super().close()


class _QuietModeWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "direct_running_mode" not in record.getMessage()


def fn_api_runner(worker_command: str) -> FnApiRunner:
    """A FnApiRunner whose ``multi_processing`` workers run ``worker_command``, supervised.

    >>> fn_api_runner("python -m worker")  # doctest: +ELLIPSIS
    <...FnApiRunner object at ...>
    """

    class SupervisedFnApiRunner(FnApiRunner):
        def run_pipeline(self, pipeline, options):
            direct = options.view_as(DirectOptions)
            if direct.direct_running_mode != "multi_processing":
                return super().run_pipeline(pipeline, options)
            # The FnApiRunner keeps the environment given to it unless the mode is
            # multi_processing (then it starts Beam's own worker): run "in_memory" with ours.
            self._default_environment = SupervisedEnvironment.from_command_string(worker_command)
            direct.direct_running_mode = "in_memory"
            quiet = _QuietModeWarning()
            log = logging.getLogger("apache_beam.runners.portability.fn_api_runner.fn_runner")
            log.addFilter(quiet)
            try:
                return super().run_pipeline(pipeline, options)
            finally:
                log.removeFilter(quiet)
                direct.direct_running_mode = "multi_processing"

    return SupervisedFnApiRunner()
